#!/usr/bin/env bash
# One device call for the CUDA HISA kernels: configure + build on the GPU machine, SASS check,
# the HISA GPU tests, then the quick timing (8K/32K/128K). Logs and JSON go to $OUT; a short
# table is printed last.
#
#   bench/hisa/device_check.sh <commit> [timing L list] [gtest filter] [profile: 0|1]
# With profile=1, Nsight Compute profiles stage 1 and stage 2 once at L=32768 (stall reasons
# and per-SASS-line samples as text in $OUT/prof_*.{txt,csv}).
# Needs the carried googletest sources in .deps/googletest (the device has no libgtest).
set -uo pipefail
COMMIT="${1:-unknown}"
LS="${2:-8192,32768,131072}"
FILTER="${3:-CudaHisa*}"
PROFILE="${4:-0}"
OUT="${OUT:-/tmp/hisa_out}"
mkdir -p "$OUT"
BUILD=build/device
export PATH=/usr/local/cuda/bin:$PATH

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv
cmake --version | head -1
bash bench/device/build.sh "$BUILD" "$OUT/build.log" hisa_gpu_tests hisa_timing || exit 1

obj=$(find "$BUILD" -name 'hisa_sm90.cu.o' | head -1)
if [ -n "$obj" ]; then
  echo "SASS of hisa_sm90 (sm_90a):"
  cuobjdump -sass -arch sm_90a "$obj" 2>/dev/null | grep -oE "QGMMA[.A-Z0-9]*|HGMMA[.A-Z0-9]*|LDL|STL" \
    | sort | uniq -c
fi

t0=$(date +%s)
"$BUILD/tests/hisa_gpu_tests" --gtest_filter="$FILTER" > "$OUT/tests.log" 2>&1
echo "tests: rc=$? in $(( $(date +%s) - t0 )) s"
grep -E "^\[ +(OK|FAILED|SKIPPED) +\]|\[hisa fast\]|Failure|first|Which is|Expected" "$OUT/tests.log" \
  | head -60
grep -E "^\[  (PASSED|FAILED) +\]" "$OUT/tests.log"

t0=$(date +%s)
"$BUILD/hisa_timing" --L "$LS" --reps 5 --commit "$COMMIT" --json "$OUT/hisa_timing.json" \
  > "$OUT/timing.log" 2>&1
echo "timing: rc=$? in $(( $(date +%s) - t0 )) s"
cat "$OUT/timing.log"

if [ "$PROFILE" = "1" ]; then
  t0=$(date +%s)
  ncu --kernel-name regex:'sm90_(blocks|tokens)' --launch-count 2 --section SpeedOfLight \
      --section WarpStateStats --section SchedulerStats --section Occupancy \
      --section SourceCounters --section MemoryWorkloadAnalysis -f -o "$OUT/prof" \
      "$BUILD/hisa_timing" --L 32768 --reps 0 > /tmp/hisa_ncu.log 2>&1
  echo "ncu: rc=$? in $(( $(date +%s) - t0 )) s"; tail -3 /tmp/hisa_ncu.log
  ncu --import "$OUT/prof.ncu-rep" --print-details all > "$OUT/prof_details.txt" 2>&1
  ncu --import "$OUT/prof.ncu-rep" --page source --csv --print-source sass \
      > "$OUT/prof_source.csv" 2>&1
  grep -E "^  [a-z_0-9]+.*\(|Duration|Occupancy|Stall|Warp Cycles Per|Issued Warp|No Eligible|Throughput" \
    "$OUT/prof_details.txt" | head -70
fi
