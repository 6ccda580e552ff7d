#!/usr/bin/env bash
# Configure (Release, CUDA on) and build targets on the GPU machine; used by the device scripts.
#   bench/device/build.sh <build dir> <log> <target>... [-- <extra cmake args>]
# Older CMake cannot name the CUDA20 dialect: the configure is retried with CUDA17 (the
# explicit -std=c++20 of CMakeLists.txt then loses to CMake's -std=c++17; the CUDA sources
# compile as either). Prints the build time and any stack frames / ptxas C75xx warnings;
# on failure prints the errors and exits 1.
set -uo pipefail
dir=$1 log=$2
shift 2
targets=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do targets+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
export PATH=/usr/local/cuda/bin:$PATH
configure() {
  cmake -S . -B "$dir" -DHISA_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DHISA_PYTHON=OFF "$@" > "$log" 2>&1
}
configure "$@" || { echo "configure failed, retrying with CMAKE_CUDA_STANDARD=17";
                    configure "$@" -DCMAKE_CUDA_STANDARD=17 || { tail -30 "$log"; exit 1; }; }
t0=$(date +%s)
if ! cmake --build "$dir" -j"$(nproc)" --target "${targets[@]}" >> "$log" 2>&1; then
  grep -n -B2 -A6 -i "error" "$log" | head -80 || true
  tail -5 "$log"
  exit 1
fi
echo "build: $(( $(date +%s) - t0 )) s"
grep -h "C75\|stack frame" "$log" | grep -v " 0 bytes stack" | sort | uniq -c | head -8
exit 0
