#!/usr/bin/env bash
# compute-sanitizer over the GPU tests (memcheck on the short and mid-size tests, racecheck and
# synccheck on a few that launch every kernel family). Logs in $OUT; summary printed last.
#   bench/device/sanitize.sh            (carry .deps: the device has no libgtest)
set -uo pipefail
OUT="${OUT:-/tmp/sanitize_out}"
mkdir -p "$OUT"
BUILD=build/device_all
export PATH=/usr/local/cuda/bin:$PATH
cmake -S . -B "$BUILD" -DHISA_CUDA=ON -DCMAKE_BUILD_TYPE=Release > "$OUT/build.log" 2>&1 &&
  cmake --build "$BUILD" -j16 --target hisa_gpu_tests >> "$OUT/build.log" 2>&1 ||
  { grep -n -A6 "error" "$OUT/build.log" | head -40; exit 1; }
T="$BUILD/tests/hisa_gpu_tests"
MEM='CudaBackend.*:CudaTopk.*:CudaHisaPortable.*:CudaHisa.*:CudaFlat.F32IsBitwiseExact:CudaFlat.OddShapesPadHeadsAndDims:CudaFlat.EveryScorerOnRandomFp8:CudaFlat.TopkLargerThanEveryRange:CudaHisaFast.RepeatedRunsAreIdentical'
RACE='CudaTopk.ShortRowsEmptyRowsAndPadding:CudaTopk.LargestK:CudaHisaPortable.NanScoresRankLast:CudaFlat.OddShapesPadHeadsAndDims:CudaFlat.EveryScorerOnRandomFp8:CudaHisaFast.RepeatedRunsAreIdentical'
run() {  # tool filter seconds
  local t0=$(date +%s)
  timeout "$3" compute-sanitizer --tool "$1" --error-exitcode 99 "$T" --gtest_filter="$2" \
    > "$OUT/$1.log" 2>&1
  local rc=$?
  echo "$1: rc=$rc in $(( $(date +%s) - t0 )) s; $(grep -E 'ERROR SUMMARY' "$OUT/$1.log" | tail -1);" \
       "$(grep -E '^\[  (PASSED|FAILED) +\]' "$OUT/$1.log" | tr '\n' ' ')"
}
run memcheck "$MEM" 150
run racecheck "$RACE" 100
run synccheck "$RACE" 60
