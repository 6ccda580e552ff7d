#!/usr/bin/env bash
# Content hash of every file the device binaries are built from (sources, headers, CMake files,
# the carried googletest excluded), the same here and on the GPU machine: prebuild.sh stamps
# its binaries with it, and the device scripts use them only when the tree still hashes so.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
find CMakeLists.txt src include tests tools bench -type f \
  \( -name '*.cu' -o -name '*.cuh' -o -name '*.cpp' -o -name '*.hpp' -o -name '*.h' \
     -o -name 'CMakeLists.txt' -o -name '*.cmake' \) -print0 |
  LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16
