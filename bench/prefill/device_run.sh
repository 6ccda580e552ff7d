#!/usr/bin/env bash
# One device call for the CUDA flat indexer and the prefill benchmark: configure + build on the
# GPU machine, SASS check of the wgmma scorer, the flat/top-k/backend GPU tests, torch.topk on
# the same shapes, `hisa bench prefill` (flat alone first, then every method with fidelity),
# the plot. Everything lands in $OUT (7 files); the benchmark's table is printed last.
#
#   bench/prefill/device_run.sh <commit> [L list] [gtest filter] [fidelity L list]
# Needs the carried googletest sources in .deps/googletest (the device has no libgtest).
set -uo pipefail
COMMIT="${1:-unknown}"
LS="${2:-8192,32768,65536,131072}"
FILTER="${3:-CudaFlat*:CudaTopk*:CudaBackend*}"
FIDL="${4:-$LS}"
OUT="${OUT:-/tmp/prefill_out}"
mkdir -p "$OUT"
BUILD=build/device_prefill
LOG="$OUT/build.log"
export PATH=/usr/local/cuda/bin:$PATH PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu,memory.total \
  --format=csv | tee "$LOG"
cmake --version | head -1 | tee -a "$LOG"
configure() {
  cmake -S . -B "$BUILD" -DHISA_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DHISA_PYTHON=OFF "$@" >> "$LOG" 2>&1
}
# Older CMake cannot name the CUDA20 dialect: retry with CUDA17 (sources compile as either).
configure || { echo "configure failed, retrying with CMAKE_CUDA_STANDARD=17";
               configure -DCMAKE_CUDA_STANDARD=17 || { tail -30 "$LOG"; exit 1; }; }
t0=$(date +%s)
cmake --build "$BUILD" -j16 --target hisa_gpu_tests >> "$LOG" 2>&1 \
  || { grep -n -A6 "error" "$LOG" | head -60; exit 1; }
CLI=1
cmake --build "$BUILD" -j16 --target hisa_cli >> "$LOG" 2>&1 \
  || { CLI=0; echo "hisa_cli did not build:"; grep -n -A4 "error" "$LOG" | tail -20; }
echo "build: $(( $(date +%s) - t0 )) s"
grep -h "ptxas.*flat_score\|spill" "$LOG" | sort | uniq -c | head -5

obj=$(find "$BUILD" -name 'flat_score_wgmma.cu.o' | head -1)
[ -n "$obj" ] && { echo "SASS of flat_score_wgmma (sm_90a):";
  cuobjdump -sass -arch sm_90a "$obj" 2>/dev/null | grep -oE "QGMMA[.A-Z0-9]*|UTMALDG[.A-Z0-9]*|UBLKCP[.A-Z0-9]*|LDL|STL" \
    | sort | uniq -c; }

# The wgmma scorer first, alone: if it fails or hangs, the benchmark runs the portable one.
TESTS="$BUILD/tests/hisa_gpu_tests"
timeout 120 "$TESTS" --gtest_filter='CudaFlat.EveryScorerOnRandomFp8' > "$OUT/gpu_tests.log" 2>&1
rc=$?
echo "wgmma smoke test: rc=$rc"
SCORER=""
[ $rc -ne 0 ] && { SCORER=mma; grep -E "Failure|Failed|GPU|row" "$OUT/gpu_tests.log" | head -20;
                   echo "benchmark falls back to HISA_FLAT_SCORER=mma"; }
t0=$(date +%s)
timeout 260 "$TESTS" --gtest_filter="$FILTER" >> "$OUT/gpu_tests.log" 2>&1
echo "gpu tests: rc=$? in $(( $(date +%s) - t0 )) s"
grep -E "^\[ +(OK|FAILED) +\]|Failure|GPU |skipped scorer" "$OUT/gpu_tests.log" | head -60
grep -E "^\[  (PASSED|FAILED) +\]" "$OUT/gpu_tests.log"

t0=$(date +%s)
timeout 100 python3 bench/prefill/torch_topk.py --L "$LS" --json "$OUT/torch_topk.json" 2>&1 | tail -6
echo "torch.topk: $(( $(date +%s) - t0 )) s"

[ $CLI -eq 1 ] || exit 1
HISA="$BUILD/hisa"
t0=$(date +%s)
HISA_FLAT_SCORER=$SCORER timeout 90 "$HISA" bench prefill --L "$LS" --methods flat --no-fidelity --repeats 5 \
  --torch-json "$OUT/torch_topk.json" --json "$OUT/prefill_flat.json" --commit "$COMMIT" \
  > "$OUT/bench.log" 2>&1
echo "bench (flat): rc=$? in $(( $(date +%s) - t0 )) s"
t0=$(date +%s)
HISA_FLAT_SCORER=$SCORER timeout 200 "$HISA" bench prefill --L "$LS" --fidelity-L "$FIDL" --repeats 5 \
  --torch-json "$OUT/torch_topk.json" --json "$OUT/prefill.json" --commit "$COMMIT" \
  >> "$OUT/bench.log" 2>&1
echo "bench (all): rc=$? in $(( $(date +%s) - t0 )) s"
plots=("$OUT/prefill_flat.json"); [ -s "$OUT/prefill.json" ] && plots=("$OUT/prefill.json" "$OUT/prefill_flat.json")
python3 bench/prefill/plot.py "${plots[0]}" "$OUT/prefill.png" "${plots[@]:1}" 2>&1 | tail -3
tail -n 40 "$OUT/bench.log"
