#!/usr/bin/env bash
# Speed of Fathom against llama.cpp on the same synthetic model files, in the same run:
# R1-Distill-Qwen-1.5B's exact shape (hidden 1536, 28 layers, 12 heads, 2 KV heads, FFN 8960,
# vocabulary 151936) with random weights, quantized as Q8_0 and as Q4_K_M. A benchmark, not a test.
#
#   bench/run.sh [-p 512] [-n 128] [-r 3] [-t 2]
#
# The first run builds llama-bench from the llama.cpp sources that node-llama-cpp ships (about 15
# minutes here) and writes the two models (about 3 GB); later runs reuse both.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
pp=512 tg=128 reps=3 threads=2
while getopts "p:n:r:t:" opt; do
  case "$opt" in
    p) pp="$OPTARG" ;; n) tg="$OPTARG" ;; r) reps="$OPTARG" ;; t) threads="$OPTARG" ;;
    *) echo "usage: bench/run.sh [-p N] [-n N] [-r N] [-t N]" >&2; exit 2 ;;
  esac
done
work="$root/bench/.work"
mkdir -p "$work"

# llama.cpp, from the sources node-llama-cpp ships
bash reference/setup.sh
llama_bench="$work/llama.cpp/build/bin/llama-bench"
if [ ! -x "$llama_bench" ]; then
  echo "building llama-bench (once, about 15 minutes)..." >&2
  rm -rf "$work/llama.cpp"
  git clone -q "$root/reference/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$work/llama.cpp"
  cmake -S "$work/llama.cpp" -B "$work/llama.cpp/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF >/dev/null
  cmake --build "$work/llama.cpp/build" -j "$(nproc)" --target llama-bench >/dev/null
fi

# the models, written by Fathom's GGUF writer
jdk="$(./fathom jdk)"
export JAVA_HOME="$jdk" MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
./fathom build
for mix in q8_0 q4_k_m; do
  if [ ! -f "$work/r1-distill-qwen-1.5b-shape-$mix.gguf" ]; then
    mvn -q -B -pl fathom-model test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
      -Dmdep.includeScope=test >&2
    "$jdk/bin/java" --add-modules=jdk.incubator.vector -Xmx8g \
      -cp "fathom-model/target/test-classes:fathom-model/target/classes:fathom-tensor/target/classes:$(cat fathom-model/target/bench.classpath)" \
      dev.fathom.model.testing.BenchModel "$work/r1-distill-qwen-1.5b-shape-$mix.gguf" "$mix"
  fi
done

# memory bandwidth, measured now: the machine is shared and its figures move
gcc -O3 -march=native -fopenmp bench/bandwidth.c -o "$work/bandwidth"
bandwidth="$("$work/bandwidth" "$threads")"

results="$work/results.txt"
: > "$results"
for mix in q8_0 q4_k_m; do
  model="$work/r1-distill-qwen-1.5b-shape-$mix.gguf"
  fathom="$(./fathom bench -m "$model" -p "$pp" -n "$tg" -r "$reps" -t "$threads" --json 2>/dev/null)"
  llama="$("$llama_bench" -m "$model" -p "$pp" -n "$tg" -r "$reps" -t "$threads" -o json 2>/dev/null)"
  echo "$mix|$fathom|$(echo "$llama" | tr -d '\n')" >> "$results"
done

python3 - "$results" "$bandwidth" "$pp" "$tg" "$threads" <<'PY'
import json, sys
path, bandwidth, pp, tg, threads = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
print(f"R1-Distill-Qwen-1.5B shape, {threads} threads, pp{pp} / tg{tg}; memory read bandwidth {bandwidth:.1f} GB/s")
print(f"{'file':8} {'test':6} {'fathom t/s':>11} {'llama.cpp t/s':>14} {'ratio':>6} {'GB/s read':>10} {'of ceiling':>10}")
for line in open(path):
    mix, fathom, llama = line.rstrip("\n").split("|", 2)
    f = json.loads(fathom)
    l = {("pp" if r["n_prompt"] > 0 else "tg"): r["avg_ts"] for r in json.loads(llama)}
    gbs = f["bytes_per_token"] * f["tg_tps"] / 1e9
    print(f"{mix:8} {'pp'+pp:6} {f['pp_tps']:11.2f} {l['pp']:14.2f} {f['pp_tps'] / l['pp']:6.2f}")
    print(f"{mix:8} {'tg'+tg:6} {f['tg_tps']:11.2f} {l['tg']:14.2f} {f['tg_tps'] / l['tg']:6.2f} {gbs:10.1f} {gbs / bandwidth:10.0%}")
PY
