#!/usr/bin/env bash
# One device call that times two HISA prefill kernel variants side by side: build on the GPU
# machine, the HISA GPU tests, then the variant switch SWITCH=0 and SWITCH=1 (HISA_STREAM:
# streaming selection, HISA_PAIR: query pairs; src/cuda/hisa_select.cu) in the same run:
# hisa_timing's stage split, and `hisa bench prefill` on random data and on the structured
# workload. Logs and JSON go to $OUT; tables last.
#
#   SWITCH=HISA_STREAM bench/hisa/ab_run.sh <commit> [L list] [m list] [structured L list]
#                                            [gtest filter] [B list]
# Needs the carried googletest sources in .deps/googletest (the device has no libgtest).
set -uo pipefail
COMMIT="${1:-unknown}"
LS="${2:-32768,131072}"
MS="${3:-64,128,256}"
SLS="${4:-32768}"
FILTER="${5:-CudaHisa*}"
BS="${6:-64}"
OUT="${OUT:-/tmp/ab_out}"
SWITCH="${SWITCH:-HISA_STREAM}"
mkdir -p "$OUT"
BUILD=build/device_ab
export PATH=/usr/local/cuda/bin:$PATH

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv
bash bench/device/build.sh "$BUILD" "$OUT/build.log" hisa_gpu_tests hisa_timing hisa_cli || exit 1

if [ "$FILTER" != "none" ]; then
  t0=$(date +%s)
  timeout 300 "$BUILD/tests/hisa_gpu_tests" --gtest_filter="$FILTER" > "$OUT/tests.log" 2>&1
  echo "tests: rc=$? in $(( $(date +%s) - t0 )) s"
  grep -E "^\[ +(FAILED|SKIPPED) +\]|\[hisa (pair|stream)\]|Failure|first|Which is|Expected" "$OUT/tests.log" | head -40
  grep -E "^\[  (PASSED|FAILED) +\]|tests? ran" "$OUT/tests.log"
fi

IFS=, read -ra BLIST <<< "$BS"
for B in "${BLIST[@]}"; do
  for V in 0 1; do
    for M in ${MS//,/ }; do
      env "$SWITCH=$V" timeout 120 "$BUILD/hisa_timing" --L "$LS" --B "$B" --m "$M" --reps 5 \
        --commit "$COMMIT" > /tmp/ab_timing.log 2>&1
      rc=$?
      { echo "== hisa_timing B=$B m=$M $SWITCH=$V rc=$rc"; tail -n 5 /tmp/ab_timing.log; } | tee -a "$OUT/timing.log"
    done
  done
done

for V in 0 1; do
  t0=$(date +%s)
  env "$SWITCH=$V" timeout 240 "$BUILD/hisa" bench prefill --L "$LS" --m "$MS" --B "${BLIST[0]}" --methods hisa \
    --fidelity-L "$SLS" --fidelity-rows 1024 --repeats 5 --commit "$COMMIT" \
    --json "$OUT/prefill_${SWITCH}${V}.json" > "$OUT/bench_${SWITCH}${V}.log" 2>&1
  echo "== hisa bench prefill $SWITCH=$V: rc=$? in $(( $(date +%s) - t0 )) s"
  grep -A30 "^hisa bench prefill" "$OUT/bench_${SWITCH}${V}.log"
done
