#!/usr/bin/env bash
# Short device check after a change to the flat scorer: build, the flat/top-k/backend GPU tests,
# racecheck on the wgmma scorer test, and a flat-only timing at 32K and 128K.
#   bench/device/check_flat.sh <commit>      (carry .deps)
set -uo pipefail
COMMIT="${1:-unknown}"
OUT="${OUT:-/tmp/check_flat_out}"
mkdir -p "$OUT"
BUILD=build/device_all
export PATH=/usr/local/cuda/bin:$PATH
t0=$(date +%s)
cmake -S . -B "$BUILD" -DHISA_CUDA=ON -DCMAKE_BUILD_TYPE=Release > "$OUT/build.log" 2>&1 &&
  cmake --build "$BUILD" -j16 --target hisa_gpu_tests hisa_cli >> "$OUT/build.log" 2>&1 ||
  { grep -n -A6 "error" "$OUT/build.log" | head -40; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
T="$BUILD/tests/hisa_gpu_tests"
timeout 60 "$T" --gtest_filter='CudaFlat*:CudaTopk*:CudaBackend*' > "$OUT/gpu_tests.log" 2>&1
echo "flat gpu tests: rc=$?; $(grep -E '^\[  (PASSED|FAILED) +\]' "$OUT/gpu_tests.log" | tr '\n' ' ')"
grep -E "^\[  FAILED" "$OUT/gpu_tests.log" | head
timeout 60 compute-sanitizer --tool racecheck --error-exitcode 99 "$T" \
  --gtest_filter='CudaFlat.EveryScorerOnRandomFp8' > "$OUT/racecheck.log" 2>&1
echo "racecheck: rc=$?; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/racecheck.log" | tail -1)"
timeout 40 "$BUILD/hisa" bench prefill --L 32768,131072 --methods flat --no-fidelity --repeats 5 \
  --json "$OUT/prefill_flat.json" --commit "$COMMIT" > "$OUT/bench.log" 2>&1
echo "bench: rc=$?"; tail -n 4 "$OUT/bench.log"
