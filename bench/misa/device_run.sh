#!/usr/bin/env bash
# One device call for CUDA MISA (docs/cuda_misa.md): build on the GPU machine (GPU tests, CLI,
# misa_timing and, when nanobind is there, the Python extension in the same build), a smoke test
# of the sm_90a MISA path, the MISA GPU tests and a regression subset of the flat / top-k / HISA /
# backend tests, the Python GPU tests, misa_timing (where the time goes), `hisa bench prefill`
# (flat, HISA m=64 and MISA a=8 c=1/4 side by side, fidelity at 32K and 128K), and optionally
# compute-sanitizer. Logs and JSON in $OUT (at most 7 files); the tables are printed last.
#
#   bench/misa/device_run.sh <commit> [all|tests|bench|sanitize|full] [L list]
# all = tests + bench + pytest; final = all + sanitizer; full = tests + bench + sanitizer.
# Needs googletest sources in .deps/googletest (the device has no libgtest).
set -uo pipefail
COMMIT="${1:-unknown}"
WHAT="${2:-all}"
LS="${3:-8192,32768,65536,131072}"
OUT="${OUT:-/tmp/misa_out}"
mkdir -p "$OUT"
BUILD=build/device_misa
export PATH=/usr/local/cuda/bin:$PATH PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,memory.total --format=csv,noheader | tee "$OUT/build.log"
t0=$(date +%s)
PY=ON
cmake -S . -B "$BUILD" -DHISA_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DHISA_PYTHON=ON -DPython_EXECUTABLE="$(command -v python3)" >> "$OUT/build.log" 2>&1 ||
  { PY=OFF; cmake -S . -B "$BUILD" -DHISA_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DHISA_PYTHON=OFF >> "$OUT/build.log" 2>&1; } ||
  { tail -30 "$OUT/build.log"; exit 1; }
cmake --build "$BUILD" -j16 --target hisa_gpu_tests hisa_cli misa_timing >> "$OUT/build.log" 2>&1 ||
  { grep -n -A6 "error" "$OUT/build.log" | head -60; exit 1; }
[ "$PY" = ON ] && { cmake --build "$BUILD" -j16 --target _C >> "$OUT/build.log" 2>&1 || PY=OFF; }
echo "build: $(( $(date +%s) - t0 )) s (python extension: $PY)"
T="$BUILD/tests/hisa_gpu_tests"
HISA="$BUILD/hisa"

FAST_OK=1
has() { case " $* " in *" $WHAT "*) return 0;; esac; return 1; }
if has all tests full final; then
  t0=$(date +%s)
  timeout 60 "$T" --gtest_filter='CudaMisaFast.SanitizerSized' > "$OUT/gpu_tests.log" 2>&1
  rc=$?; echo "smoke (sm_90a MISA, sanitizer-sized): rc=$rc"
  [ $rc -ne 0 ] && { FAST_OK=0; grep -E "Failure|violations|Expected|error" "$OUT/gpu_tests.log" | head -20; }
  timeout 200 "$T" --gtest_filter='CudaMisa*:CudaTopk*:CudaFlat.EveryScorerOnRandomFp8:CudaFlat.F32IsBitwiseExact:CudaHisaFast.DsaConfigWithinTolerance:CudaHisaPortable.MatchesCpuExactlyAllDtypes' >> "$OUT/gpu_tests.log" 2>&1
  echo "MISA + top-k + flat/HISA smoke tests: rc=$? in $(( $(date +%s) - t0 )) s"
  grep -E "^\[ +(OK|FAILED) +\]|\[misa" "$OUT/gpu_tests.log" | sed 's/^\[       OK \]/ok/' | cut -c1-260 | head -60
  grep -E "Failure|violations \(first|Expected|Which is" "$OUT/gpu_tests.log" | cut -c1-300 | head -20
fi

if has all bench full final && [ $FAST_OK -eq 1 ]; then
  t0=$(date +%s)
  timeout 100 "$BUILD/misa_timing" --L 65536,131072 --reps 3 --json "$OUT/misa_timing.json" \
    --commit "$COMMIT" > "$OUT/bench.log" 2>&1
  echo "misa_timing: rc=$? in $(( $(date +%s) - t0 )) s"
  t0=$(date +%s)
  timeout 200 "$HISA" bench prefill --L "$LS" --m 64 --methods flat,hisa,misa --a 8 --c 1,4 \
    --misa-B 1024 --fidelity-L 32768,131072 --repeats 3 --json "$OUT/prefill.json" \
    --commit "$COMMIT" >> "$OUT/bench.log" 2>&1
  echo "bench prefill: rc=$? in $(( $(date +%s) - t0 )) s"
fi

if has all tests full final; then
  t0=$(date +%s)
  timeout 100 "$T" --gtest_filter='CudaBackend.*:CudaFlat.PackedBatches:CudaFlat.TopkLargerThanEveryRange:CudaHisaPortable.*:CudaHisa.*:CudaHisaFast.PackedBatch:CudaHisaFast.RepeatedRunsAreIdentical:CudaHisaFast.SmallDsaRunForSanitizer' >> "$OUT/gpu_tests.log" 2>&1
  echo "regression tests (backend, flat, HISA): rc=$? in $(( $(date +%s) - t0 )) s"
  grep -E "^\[  (PASSED|FAILED) +\]" "$OUT/gpu_tests.log"
  if [ "$PY" = ON ] && has all tests final; then
    so=$(find "$BUILD" -name '_C*.so' | head -1)
    mkdir -p /tmp/py/hisa && cp python/hisa/*.py /tmp/py/hisa/ && cp "$so" /tmp/py/hisa/
    t0=$(date +%s)
    PYTHONPATH=/tmp/py timeout 120 python3 -m pytest -q -p no:cacheprovider tests/python/test_gpu.py \
      -rxXs > "$OUT/pytest.log" 2>&1
    echo "pytest (tests/python/test_gpu.py): rc=$? in $(( $(date +%s) - t0 )) s"
    grep -E "passed|failed|XFAIL|FAILED|Error" "$OUT/pytest.log" | tail -12
  fi
fi

if has sanitize full final; then
  for tool in memcheck racecheck synccheck; do
    t0=$(date +%s)
    echo "==== $tool" >> "$OUT/sanitize.log"
    timeout 120 compute-sanitizer --tool $tool --error-exitcode 99 "$T" \
      --gtest_filter='CudaMisaFast.SanitizerSized:CudaMisaPortable.PackedBatchUnalignedStarts' \
      >> "$OUT/sanitize.log" 2>&1
    echo "$tool: rc=$? in $(( $(date +%s) - t0 )) s; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|Hazard' "$OUT/sanitize.log" | tail -1)"
  done
fi

[ -s "$OUT/bench.log" ] && { grep -A24 "^misa_timing on" "$OUT/bench.log";
                             grep -A30 "^hisa bench prefill on" "$OUT/bench.log"; }
