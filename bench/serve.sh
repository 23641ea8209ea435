#!/usr/bin/env bash
# Serving throughput of `fathom serve` against llama.cpp's llama-server on the same model file,
# with the same slots, on loopback: N concurrent streaming clients for N = 1, 4, 8 (bench/load.mjs),
# aggregate tokens/s, time to first token (p50, p99) and tokens/s per stream. A benchmark, not a
# test. The model is R1-Distill-Qwen-1.5B's shape in Q8_0 (bench/run.sh writes the same file).
#
#   bench/serve.sh [-n MAX_TOKENS] [-r ROUNDS] [-t THREADS]
#
# The first run builds llama-server from the llama.cpp sources that node-llama-cpp ships (about 15
# minutes here).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
tokens=64 rounds=2 threads=2
while getopts "n:r:t:" opt; do
  case "$opt" in
    n) tokens="$OPTARG" ;; r) rounds="$OPTARG" ;; t) threads="$OPTARG" ;;
    *) echo "usage: bench/serve.sh [-n MAX_TOKENS] [-r ROUNDS] [-t THREADS]" >&2; exit 2 ;;
  esac
done
work="$root/bench/.work"
mkdir -p "$work"
jdk="$(./fathom jdk)"
export JAVA_HOME="$jdk" MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
bash reference/setup.sh
./fathom build

server="$work/llama.cpp/build/bin/llama-server"
if [ ! -x "$server" ]; then
  echo "building llama-server (once, about 15 minutes)..." >&2
  if [ ! -d "$work/llama.cpp" ]; then
    git clone -q "$root/reference/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$work/llama.cpp"
  fi
  cmake -S "$work/llama.cpp" -B "$work/llama.cpp/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF >/dev/null
  cmake --build "$work/llama.cpp/build" -j "$(nproc)" --target llama-server >/dev/null
fi

model="$work/r1-distill-qwen-1.5b-shape-q8_0.gguf"
if [ ! -f "$model" ]; then
  mvn -q -B -pl fathom-model -am test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
    -Dmdep.includeScope=test >&2
  "$jdk/bin/java" --add-modules=jdk.incubator.vector -Xmx8g \
    -cp "fathom-model/target/test-classes:fathom-model/target/classes:fathom-tensor/target/classes:$(cat fathom-model/target/bench.classpath)" \
    dev.fathom.model.testing.BenchModel "$model" q8_0
fi

pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; true' EXIT
wait_healthy() {
  for _ in $(seq 1 600); do
    if curl -sf "http://127.0.0.1:$1/health" >/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "bench/serve.sh: the server on port $1 did not come up" >&2
  exit 1
}
context=$(( 256 + tokens ))
results="$work/serve-results.txt"
: > "$results"
for n in 1 4 8; do
  ./fathom serve -m "$model" --port 18180 --parallel "$n" --ctx "$context" -t "$threads" 2>"$work/fathom-serve.log" &
  pid=$!
  wait_healthy 18180
  node bench/load.mjs http://127.0.0.1:18180 "$n" 1 8 >/dev/null # warm-up: the JIT compiles the kernels
  echo "fathom|$n|$(node bench/load.mjs http://127.0.0.1:18180 "$n" "$rounds" "$tokens")" >> "$results"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""

  "$server" -m "$model" --port 18181 -np "$n" -c $(( n * context )) -t "$threads" --no-webui 2>"$work/llama-server.log" &
  pid=$!
  wait_healthy 18181
  node bench/load.mjs http://127.0.0.1:18181 "$n" 1 8 >/dev/null
  echo "llama.cpp|$n|$(node bench/load.mjs http://127.0.0.1:18181 "$n" "$rounds" "$tokens")" >> "$results"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
done

python3 - "$results" "$tokens" "$threads" <<'PY'
import json, sys
path, tokens, threads = sys.argv[1:]
rows = {}
for line in open(path):
    engine, n, data = line.rstrip("\n").split("|", 2)
    rows[(engine, int(n))] = json.loads(data)
print(f"R1-Distill-Qwen-1.5B shape, Q8_0, {threads} threads, {tokens} tokens per reply, greedy, streaming")
print(f"{'N':>2} {'engine':10} {'aggregate t/s':>14} {'TTFT p50 s':>11} {'TTFT p99 s':>11} {'per stream t/s':>15}")
for n in (1, 4, 8):
    for engine in ("fathom", "llama.cpp"):
        r = rows[(engine, n)]
        print(f"{n:>2} {engine:10} {r['aggregate_tps']:14.1f} {r['ttft_p50']:11.2f} {r['ttft_p99']:11.2f} {r['stream_tps']:15.1f}")
    f, l = rows[("fathom", n)], rows[("llama.cpp", n)]
    print(f"   ratio: aggregate {f['aggregate_tps'] / l['aggregate_tps']:.2f}x llama.cpp's;"
          f" {f['aggregate_tps'] / rows[('fathom', 1)]['aggregate_tps']:.2f}x Fathom's own N = 1")
PY
