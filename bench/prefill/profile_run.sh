#!/usr/bin/env bash
# One device call: Nsight Compute (--set full) on one launch of the flat wgmma scorer and one
# of HISA's stage-2 kernel at L = 32768 (FP8, DSA shape), details as text in $OUT. Builds
# first (bench/hisa/prefill_run.sh). For issue #13 (flat scorer) and #10 (stage 2).
#   bench/prefill/profile_run.sh <commit> [L] [hisa m]
set -uo pipefail
COMMIT="${1:-unknown}"
L="${2:-32768}"
M="${3:-128}"
OUT="${OUT:-/tmp/profile_out}"
BUILD=build/device_prefill
export PATH=/usr/local/cuda/bin:$PATH
PROFILE="${PROFILE:-flat,hisa}"
has() { [[ ",$PROFILE," == *",$1,"* ]]; }
[ "${SKIP_BUILD:-0}" = 1 ] || OUT="$OUT" bash bench/hisa/prefill_run.sh "$COMMIT" none | grep -E "build|NVIDIA"
prof() {  # name, kernel regex, command...
  local name=$1 kernel=$2; shift 2
  t0=$(date +%s)
  timeout 200 ncu --kernel-name "regex:$kernel" --launch-skip 2 --launch-count 1 --set full \
    -f -o "$OUT/prof_$name" "$@" > "/tmp/ncu_$name.log" 2>&1
  echo "ncu $name: rc=$? in $(( $(date +%s) - t0 )) s"; tail -2 "/tmp/ncu_$name.log"
  ncu --import "$OUT/prof_$name.ncu-rep" --print-details all > "$OUT/prof_$name.txt" 2>&1
  # Per-SASS-instruction counters (executed instructions, stall samples) as CSV.
  ncu --import "$OUT/prof_$name.ncu-rep" --page source --csv --print-source sass \
    > "$OUT/prof_${name}_sass.csv" 2>&1
  gzip -f "$OUT/prof_${name}_sass.csv"
  rm -f "$OUT/prof_$name.ncu-rep"
  grep -E "^  [a-z_0-9]+.*\(|Duration|Compute \(SM\) Throughput|Memory Throughput|L2 Cache Throughput|DRAM Throughput|Achieved Occupancy|Theoretical Occupancy|Registers Per|Issued Warp|No Eligible|Warp Cycles Per Issued|Executed Ipc A|Block Limit" \
    "$OUT/prof_$name.txt" | head -30
}
FLAT=("$BUILD/hisa" bench prefill --L "$L" --methods flat --no-fidelity --repeats 1 --commit "$COMMIT")
has flat && prof flat flat_score_wgmma "${FLAT[@]}"
has topk && prof topk radix_topk "${FLAT[@]}"
has hisa && prof hisa_m$M sm90_tokens "$BUILD/hisa_timing" --L "$L" --m "$M" --reps 1 --commit "$COMMIT"
has stage1 && prof stage1_m$M sm90_blocks "$BUILD/hisa_timing" --L "$L" --m "$M" --reps 1 --commit "$COMMIT"
