#!/usr/bin/env bash
# Speed of Fathom against llama.cpp on the same synthetic model files, in the same run, with
# random weights in one of two shapes (-s):
#   qwen1.5b  R1-Distill-Qwen-1.5B's exact shape (hidden 1536, 28 layers, 12 heads, 2 KV heads,
#             FFN 8960, vocabulary 151936), quantized as Q8_0 and as Q4_K_M (the default);
#   v2-lite   DeepSeek-V2-Lite's widths (hidden 2048, 16 MLA heads, kv_lora_rank 512, 64 routed
#             experts of 1408 + 2 shared, 6 per token, vocabulary 102400) with 26 layers (llama.cpp
#             only loads this shape, without a query bottleneck, at 26 or 27 layers), as Q8_0
#             (15 GiB) and Q4_K (8.5 GiB, with llama.cpp's Q5_0 fallback for rows of 128 and 1408).
# -m picks other quantizations of the shape: for qwen1.5b also q4_0 (llama.cpp's Q4_0, the output
# head in Q6_K). A benchmark, not a test.
#
#   bench/run.sh [-s qwen1.5b|v2-lite] [-m "q8_0 q4_k_m"] [-p 512] [-n 128] [-r 3] [-t 2]
#
# The first run builds llama-bench from the llama.cpp sources that node-llama-cpp ships (about 15
# minutes here) and writes the shape's two models; later runs reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
shape=qwen1.5b pp=512 tg=128 reps=3 threads=2 only=""
while getopts "s:m:p:n:r:t:" opt; do
  case "$opt" in
    s) shape="$OPTARG" ;; m) only="$OPTARG" ;; p) pp="$OPTARG" ;; n) tg="$OPTARG" ;; r) reps="$OPTARG" ;;
    t) threads="$OPTARG" ;;
    *) echo "usage: bench/run.sh [-s qwen1.5b|v2-lite] [-m MIXES] [-p N] [-n N] [-r N] [-t N]" >&2; exit 2 ;;
  esac
done
case "$shape" in
  qwen1.5b) known="q8_0 q4_k_m q4_0" mixes="q8_0 q4_k_m" prefix="" name="r1-distill-qwen-1.5b-shape"
    title="R1-Distill-Qwen-1.5B shape" extra="" ;;
  v2-lite) known="q8_0 q4_k" mixes="q8_0 q4_k" prefix="v2-lite-" name="deepseek2"
    title="DeepSeek-V2-Lite widths, 26 layers" extra=26 ;;
  *) echo "bench/run.sh: -s takes qwen1.5b or v2-lite, not '$shape'" >&2; exit 2 ;;
esac
for mix in $only; do
  [[ " $known " == *" $mix "* ]] || { echo "bench/run.sh: -m takes some of '$known' for $shape, not '$mix'" >&2; exit 2; }
done
mixes="$(for mix in ${only:-$mixes}; do printf '%s ' "$prefix$mix"; done)"
for n in "$pp" "$tg" "$reps" "$threads"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run.sh: -p, -n, -r and -t take positive whole numbers, not '$n'" >&2; exit 2; }
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
for mix in $mixes; do
  if [ ! -f "$work/$name-$mix.gguf" ]; then
    mvn -q -B -pl fathom-model -am test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
      -Dmdep.includeScope=test >&2
    "$jdk/bin/java" --add-modules=jdk.incubator.vector -Xmx8g \
      -cp "fathom-model/target/test-classes:fathom-model/target/classes:fathom-tensor/target/classes:$(cat fathom-model/target/bench.classpath)" \
      dev.fathom.model.testing.BenchModel "$work/$name-$mix.gguf" "$mix" $extra
  fi
done

# memory bandwidth, measured now: the machine is shared and its figures move
gcc -O3 -march=native -fopenmp bench/bandwidth.c -o "$work/bandwidth"
bandwidth="$("$work/bandwidth" "$threads")"

# The two engines take turns, one run each, so that both see the same drift of a shared machine.
results="$work/results.txt"
: > "$results"
for mix in $mixes; do
  model="$work/$name-$mix.gguf"
  for ((i = 0; i < reps; i++)); do
    if ! fathom="$(./fathom bench -m "$model" -p "$pp" -n "$tg" -r 1 -t "$threads" --json 2>"$work/stderr")" ||
       ! llama="$("$llama_bench" -m "$model" -p "$pp" -n "$tg" -r 1 -t "$threads" -o json 2>"$work/stderr")"; then
      echo "bench/run.sh: a benchmark failed on $model:" >&2
      cat "$work/stderr" >&2
      exit 1
    fi
    echo "$mix|$fathom|$(echo "$llama" | tr -d '\n')" >> "$results"
  done
done

python3 - "$results" "$bandwidth" "$pp" "$tg" "$threads" "$reps" "$title" <<'PY'
import json, statistics, sys
path, bandwidth, pp, tg, threads, reps, title = sys.argv[1], float(sys.argv[2]), *sys.argv[3:]
runs = {}
for line in open(path):
    mix, fathom, llama = line.rstrip("\n").split("|", 2)
    f = json.loads(fathom)
    l = {("pp" if r["n_prompt"] > 0 else "tg"): r["avg_ts"] for r in json.loads(llama)}
    r = runs.setdefault(mix, {"f_pp": [], "f_tg": [], "l_pp": [], "l_tg": [], "bytes": f["bytes_per_token"],
                              "kv": f["kv_bytes_per_token"], "mha_kv": f.get("mha_kv_bytes_per_token")})
    r["f_pp"].append(f["pp_tps"]); r["f_tg"].append(f["tg_tps"]); r["l_pp"].append(l["pp"]); r["l_tg"].append(l["tg"])
print(f"{title}, {threads} threads, pp{pp} / tg{tg}, median of {reps} alternating runs;"
      f" memory read bandwidth {bandwidth:.1f} GB/s")
print(f"{'file':12} {'test':6} {'fathom t/s':>11} {'llama.cpp t/s':>14} {'ratio':>6} {'GB/s read':>10} {'of ceiling':>10}")
m = statistics.median
for mix, r in runs.items():
    print(f"{mix:12} {'pp'+pp:6} {m(r['f_pp']):11.2f} {m(r['l_pp']):14.2f} {m(r['f_pp']) / m(r['l_pp']):6.2f}")
    gbs = r["bytes"] * m(r["f_tg"]) / 1e9
    print(f"{mix:12} {'tg'+tg:6} {m(r['f_tg']):11.2f} {m(r['l_tg']):14.2f} {m(r['f_tg']) / m(r['l_tg']):6.2f}"
          f" {gbs:10.1f} {gbs / bandwidth:10.0%}")
    if r["mha_kv"]:
        print(f"{mix:12} KV cache {r['kv']:,} bytes per token; plain multi-head attention would cache {r['mha_kv']:,}"
              f" ({r['mha_kv'] / r['kv']:.1f}x)")
PY
