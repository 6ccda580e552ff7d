#!/usr/bin/env bash
# One device call: where a HISA prefill call's time goes, kernel by kernel (Nsight Systems'
# CUDA kernel summary of hisa_timing's calls), for the two stage-2a kernels
# (HISA_TMA_TOKENS=0 / 1), then Nsight Compute on one launch of the TMA stage-2a kernel.
# Builds first (prefill_run.sh). Summaries as CSV in $OUT, a short table printed.
#   bench/hisa/kernel_split.sh <commit> [L] [m list]
set -uo pipefail
COMMIT="${1:-unknown}"
L="${2:-131072}"
MS="${3:-64,256}"
OUT="${OUT:-/tmp/split_out}"
BUILD=build/device_prefill
export PATH=/usr/local/cuda/bin:$PATH
[ "${SKIP_BUILD:-0}" = 1 ] || OUT="$OUT" bash bench/hisa/prefill_run.sh "$COMMIT" none | grep -E "build|NVIDIA"
NSYS=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys 2>/dev/null | head -1)
echo "nsys: ${NSYS:-none}"
for m in ${MS//,/ }; do
  for v in 0 1; do
    name="m${m}_tma$v"
    if [ -n "$NSYS" ]; then
      HISA_TMA_TOKENS=$v timeout 200 "$NSYS" profile -t cuda -o "/tmp/$name" --force-overwrite true \
        "$BUILD/hisa_timing" --L "$L" --m "$m" --reps 3 --commit "$COMMIT" > "$OUT/timing_$name.log" 2>&1
      "$NSYS" stats -r cuda_gpu_kern_sum --format csv -o "$OUT/kern_$name" "/tmp/$name.nsys-rep" > /dev/null 2>&1
      f=$(ls "$OUT"/kern_${name}*.csv 2>/dev/null | head -1)
      echo "== $name (L=$L): kernel, total ms, calls (hisa_timing: 1 warm-up + 3 timed + 4 score-only calls)"
      [ -n "$f" ] && python3 - "$f" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
for r in rows:
    name = r.get('Name', '')[:60]
    tot = float(r.get('Total Time (ns)', 0)) / 1e6
    print(f"  {tot:10.2f} ms  {r.get('Instances','?'):>6}  {name}")
PY
    fi
    grep -E "^ +[0-9]+ " "$OUT/timing_$name.log" | head -4
  done
done
t0=$(date +%s)
HISA_TMA_TOKENS=1 timeout 200 ncu --kernel-name "regex:hisa_tokens_tma" --launch-skip 1 --launch-count 1 \
  --set full -f -o "$OUT/prof_tma" "$BUILD/hisa_timing" --L 32768 --m 256 --reps 1 > /tmp/ncu_tma.log 2>&1
echo "ncu tma: rc=$? in $(( $(date +%s) - t0 )) s"
ncu --import "$OUT/prof_tma.ncu-rep" --print-details all > "$OUT/prof_tma.txt" 2>&1
rm -f "$OUT/prof_tma.ncu-rep"
grep -E "Duration|Compute \(SM\) Throughput|Memory Throughput|L2 Cache Throughput|Achieved Occupancy|Theoretical Occupancy|Registers Per|Issued Warp|No Eligible|Warp Cycles Per Issued|Executed Ipc A|Block Limit|Tensor" \
  "$OUT/prof_tma.txt" | head -30
