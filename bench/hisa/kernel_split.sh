#!/usr/bin/env bash
# One device call: where a HISA prefill call's time goes, kernel by kernel, for a switch set to
# 0 and 1 (default HISA_TMA_BLOCKS; e.g. SWITCH=HISA_TMA_TOKENS). Nsight Compute times every
# kernel of hisa_timing's first (warm-up) call at the GPU's own clocks (--clock-control none;
# the machine has no Nsight Systems); then one full profile of KERNEL's launch number SKIP.
# Builds first (prefill_run.sh). CSV and profiles in $OUT, a short table printed.
#   bench/hisa/kernel_split.sh <commit> [L list] [m list]
set -uo pipefail
COMMIT="${1:-unknown}"
LS="${2:-131072}"
MS="${3:-64}"
SWITCH="${SWITCH:-HISA_TMA_BLOCKS}"
KERNEL="${KERNEL:-hisa_blocks_tma}"
SKIP="${SKIP:-3}"
OUT="${OUT:-/tmp/split_out}"
BUILD=build/device_prefill
export PATH=/usr/local/cuda/bin:$PATH
[ "${SKIP_BUILD:-0}" = 1 ] || OUT="$OUT" bash bench/hisa/prefill_run.sh "$COMMIT" none | grep -E "build|NVIDIA"
for L in ${LS//,/ }; do
  for m in ${MS//,/ }; do
    for v in 0 1; do
      name="L${L}_m${m}_${SWITCH}$v"
      env "$SWITCH=$v" timeout 200 ncu --clock-control none --metrics gpu__time_duration.sum --csv \
        --print-units base "$BUILD/hisa_timing" --L "$L" --m "$m" --reps 1 > "$OUT/split_$name.csv" 2>/dev/null
      echo "== $name: kernels of the first hisa_select call (ms, launches)"
      python3 - "$OUT/split_$name.csv" <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
hdr = next(r for r in rows if 'Kernel Name' in r); rows = rows[rows.index(hdr) + 1:]
ki, vi = hdr.index('Kernel Name'), hdr.index('Metric Value')
seq = [(r[ki].split('(')[0].split('<')[0].split('::')[-1], float(r[vi].replace(',', '')) / 1e6) for r in rows]
# the first call: from the first mark_residues launch to the launch before the second one
starts = [i for i, (n, _) in enumerate(seq) if 'mark_residues' in n]
a = starts[0] if starts else 0
b = starts[1] if len(starts) > 1 else len(seq)
tot = collections.OrderedDict()
for n, t in seq[a:b]:
    c = tot.setdefault(n, [0.0, 0]); c[0] += t; c[1] += 1
for n, (t, c) in tot.items():
    print(f"  {t:9.3f} {c:4d}  {n[:60]}")
print(f"  {sum(t for t, _ in tot.values()):9.3f}       total")
PY
    done
  done
done
t0=$(date +%s)
timeout 200 ncu --kernel-name "regex:$KERNEL" --launch-skip "$SKIP" --launch-count 1 \
  --set full -f -o "$OUT/prof" "$BUILD/hisa_timing" --L "${LS##*,}" --m "${MS%%,*}" --reps 1 > /tmp/ncu_full.log 2>&1
echo "ncu $KERNEL: rc=$? in $(( $(date +%s) - t0 )) s"
ncu --import "$OUT/prof.ncu-rep" --print-details all > "$OUT/prof.txt" 2>&1
rm -f "$OUT/prof.ncu-rep"
grep -E "Duration|SM Frequency|Compute \(SM\) Throughput|Memory Throughput|L2 Cache Throughput|Achieved Occupancy|Theoretical Occupancy|Registers Per|Issued Warp|No Eligible|Warp Cycles Per Issued|Executed Ipc A|Block Limit|Tensor|Stall" \
  "$OUT/prof.txt" | head -40
