# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/demo.sh: installs the build tools a fresh Debian
# (bookworm) machine lacks, and nothing that is already there. Machines without network (or
# without apt) work as long as the tools are present; otherwise we stop with the list of what
# is missing instead of failing later in cmake.

HISA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

hisa_log() { printf '[hisa] %s\n' "$*" >&2; }

# Runs a command as root (directly, or through sudo when we are not root).
hisa_as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    hisa_log "need root to run: $* (no sudo available)"
    return 1
  fi
}

# hisa_apt_install PKG...: one apt-get update + install for all missing packages.
hisa_apt_install() {
  [ "$#" -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    hisa_log "missing: $* -- and apt-get is not available; install them and re-run"
    return 1
  fi
  hisa_log "installing: $*"
  if ! { hisa_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
         hisa_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
           --no-install-recommends "$@"; }; then
    hisa_log "could not install: $* (no network?); install them and re-run"
    return 1
  fi
}

# hisa_ensure_build_tools tests|cli: the C++ toolchain (cmake >= 3.25, a C++20 compiler, make);
# with "tests" GoogleTest too
# (Debian's libgtest-dev, unless a googletest source tree sits in .deps/googletest).
hisa_ensure_build_tools() {
  local want_tests="${1:-}" missing=()
  command -v cmake >/dev/null 2>&1 || missing+=(cmake)
  command -v g++ >/dev/null 2>&1 || missing+=(g++)
  command -v make >/dev/null 2>&1 || missing+=(make)
  if [ "$want_tests" = "tests" ] && [ ! -f /usr/include/gtest/gtest.h ] &&
     [ ! -f "$HISA_ROOT/.deps/googletest/CMakeLists.txt" ]; then
    missing+=(libgtest-dev)
  fi
  hisa_apt_install "${missing[@]}" || return 1
  local v
  v="$(cmake --version | head -n1 | sed 's/[^0-9.]//g')"
  if [ "$(printf '%s\n3.25\n' "$v" | sort -V | head -n1)" != "3.25" ]; then
    hisa_log "cmake $v is too old: hisa needs cmake >= 3.25 (Debian 12 ships 3.25.1)"
    return 1
  fi
}

# Number of parallel build jobs: 2 (shared build machines), fewer if the machine has 1 core.
hisa_jobs() {
  local n
  n="$(nproc 2>/dev/null || echo 1)"
  [ "$n" -lt 2 ] && echo 1 || echo 2
}
