#!/usr/bin/env bash
# Builds hisa and runs every test: the C++ suites through ctest (GPU-labelled tests skip
# themselves without a GPU) and, when tests/python has tests, the Python suite through pytest.
# Works on a fresh Debian machine: missing build tools are installed first.
#
#   bash scripts/test.sh            # build dir: build/ci (CUDA backend when nvcc is found)
#   HISA_CUDA=OFF bash scripts/test.sh
set -euo pipefail
# shellcheck source=scripts/setup_deps.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup_deps.sh"
cd "$HISA_ROOT"

BUILD_DIR="${HISA_BUILD_DIR:-build/ci}"
JOBS="$(hisa_jobs)"

hisa_ensure_build_tools tests

hisa_log "configure $BUILD_DIR (HISA_CUDA=${HISA_CUDA:-AUTO})"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DHISA_CUDA="${HISA_CUDA:-AUTO}" -DHISA_TESTS=ON
hisa_log "build (-j$JOBS)"
cmake --build "$BUILD_DIR" -j"$JOBS"
hisa_log "ctest"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS"

# ---- Python ---------------------------------------------------------------------------------
shopt -s nullglob
python_tests=(tests/python/test_*.py tests/python/*_test.py)
shopt -u nullglob
if [ "${#python_tests[@]}" -eq 0 ]; then
  hisa_log "no Python tests in tests/python: skipping pytest"
  exit 0
fi

# >>> PYTHON TEST SET-UP
# Must leave "$PYTHON" able to `import hisa` (the package built from this checkout) and run
# pytest. Default: a private virtual environment under the build dir (Debian's system Python
# refuses pip installs, PEP 668), with the package and its test extras installed into it.
python_test_setup() {
  local missing=()
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
  hisa_apt_install "${missing[@]}"
  local venv="$BUILD_DIR/pyenv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  PYTHON="$venv/bin/python"
  "$PYTHON" -m pip install -q --upgrade pip
  # The extension is built CPU-only here: the C++ build above already compiled and linked the
  # CUDA backend, and no GPU is present to run it (on a GPU machine: HISA_PY_CUDA=AUTO).
  CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" HISA_CUDA="${HISA_PY_CUDA:-OFF}" \
    "$PYTHON" -m pip install -q ".[test]"
}
# <<< PYTHON TEST SET-UP
PYTHON=python3
python_test_setup
# The CLI parity tests run the binary built above (they skip when HISA_CLI is unset).
if [ -x "$BUILD_DIR/hisa" ]; then
  HISA_CLI="$(cd "$BUILD_DIR" && pwd)/hisa"
  export HISA_CLI
fi
hisa_log "pytest (${#python_tests[@]} files)"
"$PYTHON" -m pytest -q tests/python
