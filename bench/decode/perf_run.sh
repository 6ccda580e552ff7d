#!/usr/bin/env bash
# One device call for the decode-perf branch: build on the GPU machine (16 cores), check the
# decode kernels against the CPU reference (GoogleTest CudaDecode* when .deps/googletest or a
# system gtest is there, and the gtest-free bench/decode_verify in any case), then time
# `hisa bench decode` with the v2 pipeline (default: bucket-ranking selection kernels chained
# with programmatic dependent launch) next to the v1 pipeline (HISA_DECODE_PIPELINE=v1: the
# kernels measured at f4b21aa) and v2 without PDL (HISA_DECODE_PDL=0), same binary, same run.
# A side-by-side table is printed last; logs and JSON land in $OUT. Target: < 6 minutes.
#
#   bash bench/decode/perf_run.sh [commit]          (OUT=/path to choose the output folder)
set -uo pipefail
COMMIT="${1:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
OUT="${OUT:-/tmp/decode_perf_out}"
mkdir -p "$OUT"
BUILD=build/device_dperf
LOG="$OUT/build.log"
export PATH=/usr/local/cuda/bin:$PATH PYTHONUNBUFFERED=1
unset HISA_DECODE_PIPELINE HISA_DECODE_PDL HISA_DECODE_KERNELS
T0=$(date +%s)
say() { echo "[dperf $(( $(date +%s) - T0 ))s] $*"; }

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,memory.total --format=csv | tee "$LOG"
say "commit $COMMIT"

TESTS=OFF
GTEST_ARGS=()
if [ -f /usr/include/gtest/gtest.h ] || [ -f .deps/googletest/CMakeLists.txt ]; then
  TESTS=ON
elif [ -f /usr/src/googletest/CMakeLists.txt ]; then
  TESTS=ON
  GTEST_ARGS=(-DHISA_GTEST_SOURCE=/usr/src/googletest)
fi
configure() {
  cmake -S . -B "$BUILD" -DHISA_CUDA=ON -DCMAKE_BUILD_TYPE=Release -DHISA_PYTHON=OFF \
    -DHISA_TESTS="$TESTS" "${GTEST_ARGS[@]}" "-DCMAKE_CUDA_FLAGS=-Xptxas=-v" "$@" >> "$LOG" 2>&1
}
configure || { say "configure failed, retrying with CMAKE_CUDA_STANDARD=17";
               configure -DCMAKE_CUDA_STANDARD=17 || { tail -30 "$LOG"; exit 1; }; }
t0=$(date +%s)
cmake --build "$BUILD" -j16 --target hisa_cli decode_verify >> "$LOG" 2>&1 \
  || { say "build failed"; grep -n -B2 -A8 " error" "$LOG" | head -80; exit 1; }
say "build (hisa_cli, decode_verify): $(( $(date +%s) - t0 )) s"
if [ "$TESTS" = ON ]; then
  cmake --build "$BUILD" -j16 --target hisa_gpu_tests >> "$LOG" 2>&1 \
    || { say "hisa_gpu_tests did not build (decode_verify still runs)";
         grep -n -A6 " error" "$LOG" | tail -30; TESTS=OFF; }
  say "build (hisa_gpu_tests): $(( $(date +%s) - t0 )) s"
fi
# Registers / spills of the decode kernels (sm_90a and sm_80), from ptxas -v.
python3 - "$LOG" > "$OUT/ptxas.txt" <<'EOF' || true
import re, sys
lines = open(sys.argv[1], errors="replace").read().splitlines()
name = None
for i, l in enumerate(lines):
    m = re.search(r"Compiling entry function '(\S+)' for '(sm_\w+)'", l)
    if m:
        name, arch = m.group(1), m.group(2)
        continue
    if name and "Used" in l and "registers" in l and re.search(r"decode|rank|sm90_(keys|blocks)", name):
        short = re.sub(r"_GLOBAL__N__\w+?_\d+_", "", name)[:80]
        spill = lines[i - 1].strip() if i else ""
        print(f"  ptxas {arch} {short}: {l.split(':',1)[1].strip()} | {spill}")
        name = None
EOF
grep -E "rank|sm90_(keys|blocks)" "$OUT/ptxas.txt" | grep sm_90a | head -12

# ---- correctness -------------------------------------------------------------------------
GT_RC=-
if [ "$TESTS" = ON ]; then
  t0=$(date +%s)
  timeout 240 "$BUILD/tests/hisa_gpu_tests" --gtest_filter='CudaDecode*' > "$OUT/gpu_tests.log" 2>&1
  GT_RC=$?
  say "GPU decode tests: rc=$GT_RC in $(( $(date +%s) - t0 )) s"
  grep -E "^\[ +(OK|FAILED) +\]|Failure" "$OUT/gpu_tests.log" | head -40
fi
t0=$(date +%s)
timeout 200 "$BUILD/decode_verify" > "$OUT/verify.log" 2>&1
VF_RC=$?
say "decode_verify: rc=$VF_RC in $(( $(date +%s) - t0 )) s"
grep -E "^FAIL" "$OUT/verify.log" | head -30
tail -1 "$OUT/verify.log"

# ---- benchmark: v2 (default), v1, v2 without PDL ----------------------------------------
HISA="$BUILD/hisa"
late() { [ $(( $(date +%s) - T0 )) -gt "$1" ]; }
REP=10
late 240 && { REP=5; say "running late: repeats 5"; }
t0=$(date +%s)
timeout 170 "$HISA" bench decode --repeats $REP --json "$OUT/v2.json" --commit "$COMMIT-v2" > "$OUT/bench_v2.log" 2>&1
say "bench decode v2 (all methods): rc=$? in $(( $(date +%s) - t0 )) s"
t0=$(date +%s)
V1_ARGS=()
late 290 && { V1_ARGS=(--batch 1,64); say "running late: v1 benchmark reduced to batch 1, 64"; }
HISA_DECODE_PIPELINE=v1 timeout 120 "$HISA" bench decode --methods hisa,block --repeats $REP "${V1_ARGS[@]}" \
  --json "$OUT/v1.json" --commit "$COMMIT-v1" > "$OUT/bench_v1.log" 2>&1
say "bench decode v1 (hisa, block): rc=$? in $(( $(date +%s) - t0 )) s"
if ! late 330; then
  t0=$(date +%s)
  HISA_DECODE_PDL=0 timeout 60 "$HISA" bench decode --methods hisa --batch 1,64 --next-n 1 --repeats $REP \
    --json "$OUT/v2_nopdl.json" --commit "$COMMIT-v2-nopdl" > "$OUT/bench_v2_nopdl.log" 2>&1
  say "bench decode v2 without PDL (hisa, batch 1/64): rc=$? in $(( $(date +%s) - t0 )) s"
fi

# ---- summary (last) ----------------------------------------------------------------------
echo
echo "==== decode-perf summary ($COMMIT, $(( $(date +%s) - T0 )) s; files in $OUT) ===="
[ -f "$OUT/gpu_tests.log" ] && echo "GPU decode tests (rc=$GT_RC): $(grep -E '^\[  (PASSED|FAILED) +\]' "$OUT/gpu_tests.log" | tr '\n' ' ')"
echo "decode_verify (rc=$VF_RC): $(tail -1 "$OUT/verify.log")"
grep -h "ERROR\|OUTPUTS BAD\|error:" "$OUT"/bench_*.log | head -5
python3 - "$OUT" <<'EOF'
import json, os, sys
out = sys.argv[1]
def load(name):
    p = os.path.join(out, name)
    try:
        j = json.load(open(p))
    except Exception:
        return {}, {}
    d = {(r["L"], r["batch"], r["next_n"], r["method"]): r for r in j.get("decode", [])}
    a = {(r["L"], r["batch"], r["next_n"]): r["ms"] for r in j.get("append", [])}
    return d, a
v2, app = load("v2.json")
v1, _ = load("v1.json")
np_, _ = load("v2_nopdl.json")
def f(r):
    if r is None or r.get("ms") is None:
        return "     -"
    return ("%6.4f" % r["ms"]) + ("" if r.get("outputs_ok", True) else "!")
print("ms per step (median, CUDA graph, cold inputs); v1 = f4b21aa kernels, v2 = this branch; ! = outputs bad")
print("%7s %5s %2s | %-5s | %8s %8s %8s | %6s | %s" % ("L", "batch", "nn", "meth", "v1", "v2", "v2 noPDL", "v1/v2", "append ms (% of v2 hisa)"))
for k in sorted(v2):
    L, b, nn, m = k
    r2 = v2[k]
    r1 = v1.get(k)
    rn = np_.get(k)
    sp = (r1["ms"] / r2["ms"]) if (r1 and r2.get("ms") and r1.get("ms")) else None
    ap = app.get((L, b, nn))
    aps = ""
    if m == "hisa" and ap is not None and r2.get("ms"):
        aps = "%.4f (%.1f%%)" % (ap, 100.0 * ap / r2["ms"])
    print("%7d %5d %2d | %-5s | %8s %8s %8s | %6s | %s" % (L, b, nn, m, f(r1), f(r2), f(rn),
          ("%5.2fx" % sp) if sp else "     -", aps))
print("targets: HISA m=64 batch 64 next_n 1 <= 0.055 ms @32K, <= 0.065 ms @128K; append < 5% of a HISA step")
EOF
