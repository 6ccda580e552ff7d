#!/usr/bin/env bash
# Builds the `hisa` command-line tool (CPU backend, plus CUDA when nvcc is found) and runs
# `hisa demo`. Works on a fresh Debian machine: missing build tools are installed first.
#
#   bash scripts/demo.sh                 # arguments are passed on to `hisa demo`
#   bash scripts/demo.sh --help
set -euo pipefail
# shellcheck source=scripts/setup_deps.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup_deps.sh"
cd "$HISA_ROOT"

BUILD_DIR="${HISA_BUILD_DIR:-build/demo}"
JOBS="$(hisa_jobs)"

hisa_ensure_build_tools cli

hisa_log "configure $BUILD_DIR (HISA_CUDA=${HISA_CUDA:-AUTO})"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DHISA_CUDA="${HISA_CUDA:-AUTO}" \
  -DHISA_TESTS=OFF -DHISA_CLI=ON >/dev/null
hisa_log "build the hisa CLI (-j$JOBS)"
cmake --build "$BUILD_DIR" -j"$JOBS" --target hisa_cli
hisa_log "run: $BUILD_DIR/hisa demo $*"
exec "$BUILD_DIR/hisa" demo "$@"
