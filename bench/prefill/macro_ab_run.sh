#!/usr/bin/env bash
# One device call: same-run A/B of a compile-time switch MACRO (a kernel variant kept behind
# `#ifndef MACRO / #define MACRO 1` while it is measured): two builds (-DMACRO=0 and =1),
# `hisa bench prefill` (flat and HISA m=64,128 at 32K and 128K) alternated 0/1/0/1, then the
# GPU tests of the MACRO=1 build. Logs and JSON to $OUT; the tables as they are printed.
#   bench/prefill/macro_ab_run.sh <commit> <MACRO> [gtest filter]
# AB_M (default 64,128) and AB_ORDER (default score) pick HISA's m list and the row orders.
set -uo pipefail
COMMIT="${1:-unknown}"
MACRO="${2:?name the compile-time switch}"
FILTER="${3:-CudaFlat*:CudaHisaFast*:CudaHisaStream*:CudaHisaShared*:CudaMisa*:CudaDecode*:CudaTopk*}"
OUT="${OUT:-/tmp/macro_ab_out}"
mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
nvidia-smi --query-gpu=name,clocks.sm,temperature.gpu --format=csv,noheader
t0=$(date +%s)
bash bench/device/build.sh build/ab1 /tmp/build_ab1.log hisa_gpu_tests hisa_cli -- -DCMAKE_CUDA_FLAGS=-D$MACRO=1 &
bash bench/device/build.sh build/ab0 /tmp/build_ab0.log hisa_gpu_tests hisa_cli -- -DCMAKE_CUDA_FLAGS=-D$MACRO=0 &
wait
echo "builds: $(( $(date +%s) - t0 )) s"
for d in ab0 ab1; do [ -x build/$d/hisa ] || { echo "build $d failed"; grep -B2 -A5 -i error "/tmp/build_$d.log" | head -30; exit 1; }; done
for round in 1 2; do
  for V in 0 1; do
    build/ab$V/hisa bench prefill --L 32768,131072 --methods flat,hisa --m "${AB_M:-64,128}" \
      --order "${AB_ORDER:-score}" --no-fidelity \
      --repeats 5 --commit "$COMMIT+$MACRO=$V" --json "$OUT/prefill_${V}_r$round.json" \
      > "$OUT/bench_${V}_r$round.log" 2>&1
    echo "== $MACRO=$V round $round rc=$?"
    [ "$round" = 1 ] || rm -f "$OUT/prefill_${V}_r$round.json"  # 8 files come back at most
    grep -E "^ +[0-9]+ +(score|index) +wgmma" "$OUT/bench_${V}_r$round.log"
  done
done
t0=$(date +%s)
timeout 300 build/ab1/tests/hisa_gpu_tests --gtest_filter="$FILTER" > "$OUT/tests.log" 2>&1
echo "tests: rc=$? in $(( $(date +%s) - t0 )) s"
grep -E "^\[ +FAILED +\]|Failure" "$OUT/tests.log" | head
grep -E "^\[  (PASSED|FAILED) +\]" "$OUT/tests.log"
