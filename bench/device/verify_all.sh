#!/usr/bin/env bash
# One device call that verifies and times the whole CUDA backend at one commit: build on the
# GPU machine, every GPU test (flat, top-k, backend, HISA, block-sparse), `hisa bench prefill`
# with fidelity on the structured workload, `hisa demo --device cuda`, the plot. Logs and JSON
# land in $OUT; the benchmark table is printed last.
#
#   bench/device/verify_all.sh <commit>      (carry .deps: the device has no libgtest)
set -uo pipefail
COMMIT="${1:-unknown}"
OUT="${OUT:-/tmp/verify_out}"
mkdir -p "$OUT"
BUILD=build/device_all
export PATH=/usr/local/cuda/bin:$PATH PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,memory.total --format=csv,noheader
t0=$(date +%s)
cmake -S . -B "$BUILD" -DHISA_CUDA=ON -DCMAKE_BUILD_TYPE=Release > "$OUT/build.log" 2>&1 &&
  cmake --build "$BUILD" -j16 --target hisa_gpu_tests hisa_cli >> "$OUT/build.log" 2>&1 ||
  { grep -n -A6 "error" "$OUT/build.log" | head -60; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"

t0=$(date +%s)
timeout 240 "$BUILD/tests/hisa_gpu_tests" > "$OUT/gpu_tests.log" 2>&1
echo "gpu tests: rc=$? in $(( $(date +%s) - t0 )) s"
grep -E "^\[  FAILED  \]|Failure" "$OUT/gpu_tests.log" | head -20
grep -E "^\[==========\]|^\[  (PASSED|FAILED|SKIPPED) +\]" "$OUT/gpu_tests.log"

t0=$(date +%s)
timeout 120 "$BUILD/hisa" demo --device cuda --json "$OUT/demo_cuda.json" > "$OUT/demo_cuda.txt" 2>"$OUT/demo_cuda.err"
echo "demo cuda: rc=$? in $(( $(date +%s) - t0 )) s"; tail -3 "$OUT/demo_cuda.err"

t0=$(date +%s)
timeout 200 "$BUILD/hisa" bench prefill --L 8192,32768,65536,131072 --m 32,64,128 \
  --fidelity-L 32768,131072 --repeats 5 --json "$OUT/prefill.json" --commit "$COMMIT" \
  > "$OUT/bench.log" 2>&1
echo "bench: rc=$? in $(( $(date +%s) - t0 )) s"
python3 bench/prefill/plot.py "$OUT/prefill.json" "$OUT/prefill.png" 2>&1 | tail -2
cat "$OUT/demo_cuda.txt"
tail -n 45 "$OUT/bench.log"
