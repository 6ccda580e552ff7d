#!/usr/bin/env bash
# Builds the device scripts' binaries here (no GPU needed: nvcc for sm_90a), so that a device
# call need not spend ~2 minutes of its time compiling: hisa_gpu_tests, hisa_timing and the
# hisa CLI, xz-compressed (~20 MB for the three) into .prebuilt/ (ignored) with the tree's
# hash (tree_hash.sh). Carry it: run(carry=[".deps", ".prebuilt"]). prefill_run.sh unpacks
# them when the hash still matches and builds on the device otherwise.
#   bash bench/device/prebuild.sh            (266 s of build on 2 cores, then ~1 min of xz)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
dir=build/prebuilt
stamp=$(bash bench/device/tree_hash.sh)
bash bench/device/build.sh "$dir" /tmp/prebuild.log hisa_gpu_tests hisa_timing hisa_cli
if [ "$(bash bench/device/tree_hash.sh)" != "$stamp" ]; then
  echo "the sources changed during the build: run it again" >&2
  exit 1
fi
rm -rf .prebuilt && mkdir -p .prebuilt
for bin in tests/hisa_gpu_tests hisa_timing hisa; do
  xz -T2 -6 -c "$dir/$bin" > ".prebuilt/$(basename "$bin").xz"
done
echo "$stamp" > .prebuilt/tree_hash
du -sh .prebuilt
echo "stamp: $(cat .prebuilt/tree_hash)"
