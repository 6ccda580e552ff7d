#!/usr/bin/env bash
# One device call for the Python package on CUDA tensors: builds the extension with the CUDA
# backend on the GPU machine (16 cores; nanobind and torch as installed there) and runs the
# torch/CUDA test files (tests/python/test_gpu.py, test_decode.py, test_torch_cpu.py,
# test_variants.py). Log in $OUT; pass/fail counts printed last.
#
#   bash bench/device/python_gpu.sh <commit>
set -uo pipefail
COMMIT="${1:-unknown}"
OUT="${OUT:-/tmp/pygpu_out}"
mkdir -p "$OUT"
BUILD=build/device_py
export PATH=/usr/local/cuda/bin:$PATH PYTHONUNBUFFERED=1
t0=$(date +%s)
cmake -S . -B "$BUILD" -DHISA_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DHISA_PYTHON=ON -DHISA_TESTS=OFF \
  -DHISA_CLI=OFF -DPython_EXECUTABLE="$(command -v python3)" > "$OUT/py_build.log" 2>&1 &&
  cmake --build "$BUILD" -j16 --target _C >> "$OUT/py_build.log" 2>&1 ||
  { grep -n -A6 "error" "$OUT/py_build.log" | head -40; exit 1; }
echo "extension build ($COMMIT): $(( $(date +%s) - t0 )) s"
rm -rf /tmp/py && mkdir -p /tmp/py && cp -r python/hisa /tmp/py/ &&
  cp "$(find "$BUILD" -name '_C*.so' | head -1)" /tmp/py/hisa/
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
t0=$(date +%s)
PYTHONPATH=/tmp/py timeout 300 python3 -m pytest -q -p no:cacheprovider -rxXs \
  tests/python/test_gpu.py tests/python/test_decode.py tests/python/test_torch_cpu.py \
  tests/python/test_variants.py > "$OUT/pytest_gpu.log" 2>&1
echo "pytest: rc=$? in $(( $(date +%s) - t0 )) s"
grep -E "^(FAILED|ERROR)|passed|failed" "$OUT/pytest_gpu.log" | tail -15
