#!/usr/bin/env bash
# One device call: same-run A/B of the wgmma descriptor hoisting (HISA_DESC_HOIST=1, the
# default, vs 0) in the flat scorer and HISA's sm_90a loop: two builds, `hisa bench prefill`
# alternated A/B/A/B, then the GPU tests of the default build. Logs and JSON to $OUT.
#   bench/prefill/desc_ab_run.sh <commit>
set -uo pipefail
COMMIT="${1:-unknown}"
OUT="${OUT:-/tmp/desc_ab_out}"
mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
nvidia-smi --query-gpu=name,clocks.sm,temperature.gpu --format=csv,noheader
build() {  # dir, extra cmake args
  local dir=$1; shift
  { cmake -S . -B "$dir" -DHISA_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DHISA_PYTHON=OFF "$@" &&
    cmake --build "$dir" -j8 --target hisa_gpu_tests hisa_cli; } > "$OUT/build_$(basename "$dir").log" 2>&1
}
t0=$(date +%s)
build build/desc1 & build build/desc0 -DCMAKE_CUDA_FLAGS=-DHISA_DESC_HOIST=0 & wait
echo "builds: $(( $(date +%s) - t0 )) s"
for d in desc0 desc1; do [ -x build/$d/hisa ] || { echo "build $d failed"; grep -B2 -A5 error "$OUT/build_$d.log" | head -30; exit 1; }; done
for round in 1 2; do
  for V in 0 1; do
    build/desc$V/hisa bench prefill --L 32768,131072 --methods flat,hisa --m 64,128 --no-fidelity \
      --repeats 5 --commit "$COMMIT+hoist$V" --json "$OUT/prefill_hoist${V}_r$round.json" \
      > "$OUT/bench_hoist${V}_r$round.log" 2>&1
    echo "== HISA_DESC_HOIST=$V round $round rc=$?"
    grep -E "^ +[0-9]+ +wgmma" "$OUT/bench_hoist${V}_r$round.log"
  done
done
t0=$(date +%s)
timeout 300 build/desc1/tests/hisa_gpu_tests --gtest_filter='CudaFlat*:CudaHisaFast*:CudaHisaStream*:CudaHisaShared*:CudaMisa*:CudaDecode*:CudaTopk*' > "$OUT/tests.log" 2>&1
echo "tests: rc=$? in $(( $(date +%s) - t0 )) s"
grep -E "^\[ +FAILED +\]|Failure" "$OUT/tests.log" | head
grep -E "^\[  (PASSED|FAILED) +\]" "$OUT/tests.log"
