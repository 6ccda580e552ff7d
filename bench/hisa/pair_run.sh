#!/usr/bin/env bash
# One device call for the HISA prefill kernels with query pairs (hisa_sm90_pair.cu): build on
# the GPU machine, the HISA GPU tests, then one-query (HISA_PAIR=0) and pair (HISA_PAIR=1)
# kernels side by side in the same run: hisa_timing's stage split, and `hisa bench prefill`
# on random data and on the structured workload. Logs and JSON go to $OUT; tables last.
#
#   bench/hisa/pair_run.sh <commit> [L list] [m list] [structured L list] [gtest filter] [B list]
# Needs the carried googletest sources in .deps/googletest (the device has no libgtest).
set -uo pipefail
COMMIT="${1:-unknown}"
LS="${2:-32768,131072}"
MS="${3:-64,128,256}"
SLS="${4:-32768}"
FILTER="${5:-CudaHisa*}"
BS="${6:-64}"
OUT="${OUT:-/tmp/pair_out}"
mkdir -p "$OUT"
BUILD=build/device_pair
export PATH=/usr/local/cuda/bin:$PATH

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv
configure() {
  cmake -S . -B "$BUILD" -DHISA_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DHISA_PYTHON=OFF "$@" \
    > "$OUT/cmake.log" 2>&1
}
configure || configure -DCMAKE_CUDA_STANDARD=17 || { tail -30 "$OUT/cmake.log"; exit 1; }
t0=$(date +%s)
if ! cmake --build "$BUILD" -j16 --target hisa_gpu_tests hisa_timing hisa_cli > "$OUT/build.log" 2>&1; then
  grep -n -B2 -A6 "error" "$OUT/build.log" | head -80
  exit 1
fi
echo "build: $(( $(date +%s) - t0 )) s"
grep -h "C75\|stack frame" "$OUT/build.log" | grep -v " 0 bytes stack" | sort | uniq -c | head -8

if [ "$FILTER" != "none" ]; then
  t0=$(date +%s)
  timeout 300 "$BUILD/tests/hisa_gpu_tests" --gtest_filter="$FILTER" > "$OUT/tests.log" 2>&1
  echo "tests: rc=$? in $(( $(date +%s) - t0 )) s"
  grep -E "^\[ +(FAILED|SKIPPED) +\]|\[hisa pair\]|Failure|first|Which is|Expected" "$OUT/tests.log" | head -40
  grep -E "^\[  (PASSED|FAILED) +\]|tests? ran" "$OUT/tests.log"
fi

IFS=, read -ra BLIST <<< "$BS"
for B in "${BLIST[@]}"; do
  for PAIR in 0 1; do
    for M in ${MS//,/ }; do
      HISA_PAIR=$PAIR timeout 120 "$BUILD/hisa_timing" --L "$LS" --B "$B" --m "$M" --reps 5 --commit "$COMMIT" \
        --json "$OUT/timing_B${B}_m${M}_pair${PAIR}.json" > "$OUT/timing_B${B}_m${M}_pair${PAIR}.log" 2>&1
      echo "== hisa_timing B=$B m=$M HISA_PAIR=$PAIR rc=$?"; tail -n 5 "$OUT/timing_B${B}_m${M}_pair${PAIR}.log"
    done
  done
done

for PAIR in 0 1; do
  t0=$(date +%s)
  HISA_PAIR=$PAIR timeout 240 "$BUILD/hisa" bench prefill --L "$LS" --m "$MS" --B "${BLIST[0]}" --methods hisa \
    --fidelity-L "$SLS" --fidelity-rows 1024 --repeats 5 --commit "$COMMIT" \
    --json "$OUT/prefill_pair${PAIR}.json" > "$OUT/bench_pair${PAIR}.log" 2>&1
  echo "== hisa bench prefill HISA_PAIR=$PAIR: rc=$? in $(( $(date +%s) - t0 )) s"
  grep -A30 "^hisa bench prefill" "$OUT/bench_pair${PAIR}.log"
done
