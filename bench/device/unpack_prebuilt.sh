#!/usr/bin/env bash
# On the GPU machine: unpacks .prebuilt/ (prebuild.sh) into build dir $1 when its stamp equals
# this tree's hash (exit 0), else exit 1 and the caller builds. Decompresses with Python's lzma
# (no xz binary needed there).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
dir=$1
[ -f .prebuilt/tree_hash ] || exit 1
want=$(cat .prebuilt/tree_hash) have=$(bash bench/device/tree_hash.sh)
if [ "$want" != "$have" ]; then
  echo "prebuilt binaries are of another tree ($want, this tree $have): building"
  exit 1
fi
mkdir -p "$dir/tests"
python3 - "$dir" <<'PY' || exit 1
import lzma, os, shutil, sys
d = sys.argv[1]
for name, dst in (("hisa_gpu_tests", "tests/hisa_gpu_tests"), ("hisa_timing", "hisa_timing"),
                  ("hisa", "hisa")):
    path = os.path.join(d, dst)
    with lzma.open(f".prebuilt/{name}.xz") as src, open(path, "wb") as out:
        shutil.copyfileobj(src, out)
    os.chmod(path, 0o755)
PY
echo "build: prebuilt binaries of tree $want"
