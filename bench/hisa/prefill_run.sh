#!/usr/bin/env bash
# Device calls for the HISA prefill work of issue #10 (build on the GPU machine; logs and JSON
# to $OUT; short tables last). Parts, any of them, in order:
#   check    build, the HISA GPU tests, compute-sanitizer on the small runs
#   shared   `hisa bench prefill` HISA m=64,128 with shared_candidates Q=1,16 (random 32K,
#            128K; structured 32K with fidelity vs flat)
#   configs  B=128 m=64 (the paper's) beside B=64 m=128 (same candidates), 32K and 128K
#   long     256K and 1M tokens, HISA m=64 (flat stages sampled on 8 chunks, scaled), peak memory
#   order    Config::order score vs index (same run): flat, block, HISA B=64 m=64/128/256 and
#            B=128 m=64 at 32K and 128K (random data; structured 32K through the fidelity run)
#   twopass  two-pass stage 2 (HISA_TWO_PASS=0 vs 1, same run): HISA B=64 m=64/128/256 at 32K
#            and 128K in score and index order (random data)
#   tma      two-pass stage 2a on the TMA producer/consumer kernel vs the one-warpgroup kernel
#            (HISA_TMA_TOKENS=0 vs 1, same run): B=64 m=64/128/256 and B=128 m=64 at 32K and
#            128K in score and index order (random data), then hisa_timing's stage split
#   blocks   stage 1 on the TMA block scorer + radix top-k vs the one-warpgroup kernel
#            (HISA_TMA_BLOCKS=0 vs 1, same run): B=64 m=64/128/256 and B=128 m=64 at 32K and
#            128K (random data), then 256K and 1M with the TMA stage 1
#   topk     flat's top-k (issue #13): CudaTopk under memcheck and racecheck, flat at 8K-128K
#            in score and index order, then the engines' top-k kernels and torch.topk
#            (bench/prefill/topk_anchors.py; carry .deps/topk_anchors)
#   arms     same-run A/B of environment switch sets: ARMS='name:VAR=v,VAR=v[:gtest filter];...';
#            for each arm the GPU tests of its filter (if given; ARM_TEST_TIMEOUT, default 200 s;
#            an arm whose tests fail is not timed) under its switches, then
#            `hisa bench prefill` with ARM_ARGS (default HISA B=64 m=64,256 at 32K and 128K, score
#            order) and, if ARM_FLAT_ARGS is set, once more with those (e.g. flat's top-k);
#            (ARM_NO_HISA / ARM_NO_FLAT: comma lists of arms that skip one of the two), and
#            for the arms listed in ARM_TIMING, hisa_timing's stage split with ARM_TIMING_ARGS;
#            last, bench/hisa/arms_table.py's table of every arm against the first
#            An arm whose name starts with "base" runs the binaries of the base tree when
#            BASE_OVERLAY names a folder (untracked, so it travels to the device) holding older
#            versions of some files at their repository paths: the tree is copied, the folder
#            laid over it, and built beside the main build (while the tests run), so a code
#            change without a switch is timed against its parent in the same run
#   topkncu  Nsight Compute of flat's top-k at TOPK_NCU_L (default 128K): the duration of every
#            radix_topk_kernel launch, then the full profile of the longest one with its per-line
#            source page (bench/hisa/ncu_source_top.py prints the lines with most samples)
#   stalls   Nsight Compute full profile of one launch of STALL_KERNEL (default the TMA stage-2a
#            kernel) in hisa_timing at STALL_L (32K), m=64, after STALL_SKIP (2) launches of it
#            (with 2, fa645eb's run of the short-row top-k at 32K profiled nothing: it is
#            launched fewer times; try 0): the details and the per-SASS-line
#            source page (stall samples per instruction) as CSV
#
# RACECHECK_FILTER: the check part also runs compute-sanitizer racecheck on these tests.
# STALLS_BEFORE / TOPKNCU_BEFORE: skip that part once the script has run this many seconds.
# CHECK_FILTER (default 'CudaHisa*:CudaRowOrder*') picks the GPU tests of `check` (CHECK_TIMEOUT,
# default 360 s; BENCH_TIMEOUT, default 280 s, bounds each benchmark run); SKIP_SANITIZE=1
# skips its memcheck of the small runs, SKIP_BUCKET_SANITIZE=1 the bucket ranking's memcheck and
# racecheck.
#   bench/hisa/prefill_run.sh <commit> check,shared
# All logs and JSON come back packed in $OUT/logs.tgz.
# Needs the carried googletest sources in .deps/googletest (the device has no libgtest); carry
# .prebuilt too (bench/device/prebuild.sh) to skip the build on the device.
set -uo pipefail
COMMIT="${1:-unknown}"
PARTS="${2:-check,shared}"
OUT="${OUT:-/tmp/prefill_out}"
mkdir -p "$OUT"
BUILD=build/device_prefill
export PATH=/usr/local/cuda/bin:$PATH
has() { [[ ",$PARTS," == *",$1,"* ]]; }
# The device returns at most 8 files from $OUT: on exit, everything is packed into logs.tgz.
pack_out() {
  (cd "$OUT" && tar czf /tmp/prefill_logs.tgz --exclude=logs.tgz . && find . -mindepth 1 -delete &&
    mv /tmp/prefill_logs.tgz logs.tgz)
}
trap pack_out EXIT

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv
if [ ! -x "$BUILD/hisa" ] || has check; then
  # Binaries built here beforehand (bench/device/prebuild.sh, carried .prebuilt/) when they are
  # of this tree; else the build (~2 minutes).
  bash bench/device/unpack_prebuilt.sh "$BUILD" ||
    bash bench/device/build.sh "$BUILD" "$OUT/build.log" hisa_gpu_tests hisa_timing hisa_cli || exit 1
fi

base_pid=
if [ -n "${BASE_OVERLAY:-}" ] && has arms; then
  ( rm -rf /tmp/base_tree && mkdir -p /tmp/base_tree &&
    tar --exclude=./build --exclude=./.git -cf - . | tar -xf - -C /tmp/base_tree &&
    cp -r "$BASE_OVERLAY"/. /tmp/base_tree/ && cd /tmp/base_tree &&
    bash bench/device/build.sh build/base "$OUT/build_base.log" hisa_cli hisa_timing ) \
    > "$OUT/base_build.txt" 2>&1 &
  base_pid=$!
fi

if has check; then
  t0=$(date +%s)
  timeout "${CHECK_TIMEOUT:-360}" "$BUILD/tests/hisa_gpu_tests" --gtest_filter="${CHECK_FILTER:-CudaHisa*:CudaRowOrder*}" \
    > "$OUT/tests.log" 2>&1
  rc=$?
  echo "tests: rc=$rc in $(( $(date +%s) - t0 )) s"
  grep -E "^\[ +(FAILED|SKIPPED) +\]|\[hisa (shared|stream)\]|Failure|first|Which is|Expected|exception" "$OUT/tests.log" | head -40
  grep -E "^\[  (PASSED|FAILED) +\]|tests? ran" "$OUT/tests.log"
  t0=$(date +%s)
  [ "${SKIP_SANITIZE:-0}" = 1 ] || timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 "$BUILD/tests/hisa_gpu_tests" \
    --gtest_filter='CudaHisaPair.SmallRunForSanitizer:CudaHisaShared.SmallRunForSanitizer:CudaHisaStream.SmallRunForSanitizer:CudaHisaTwoPass.SmallRunForSanitizer:CudaHisaTmaBlocks.SmallRunForSanitizer:CudaHisaFilter.SmallRunForSanitizer:CudaRowOrder.Decode*' \
    > "$OUT/sanitize.log" 2>&1
  echo "sanitizer: rc=$? in $(( $(date +%s) - t0 )) s"
  grep -E "ERROR SUMMARY|PASSED|FAILED" "$OUT/sanitize.log" | head -5
  if [ -n "${RACECHECK_FILTER:-}" ]; then  # e.g. CudaHisaFilter.SmallRunForSanitizer
    timeout 150 compute-sanitizer --tool racecheck --error-exitcode 9 "$BUILD/tests/hisa_gpu_tests" \
      --gtest_filter="$RACECHECK_FILTER" > "$OUT/racecheck.log" 2>&1
    echo "racecheck $RACECHECK_FILTER: rc=$?"
    grep -E "RACECHECK SUMMARY|PASSED|FAILED" "$OUT/racecheck.log" | head -3
  fi
  for tool in memcheck racecheck; do
    [ "${SKIP_BUCKET_SANITIZE:-0}" = 1 ] && break
    timeout 120 compute-sanitizer --tool $tool --error-exitcode 9 "$BUILD/tests/hisa_gpu_tests" \
      --gtest_filter='CudaTopk.BucketRanking*' > "$OUT/sanitize_bucket_$tool.log" 2>&1
    echo "$tool CudaTopk.BucketRanking*: rc=$?"
    grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$OUT/sanitize_bucket_$tool.log" | head -2
  done
  # STOP_ON_FAIL=1: no benchmarks after failed (or hung) tests.
  [ "${STOP_ON_FAIL:-0}" = 1 ] && [ "$rc" != 0 ] && { tail -30 "$OUT/tests.log"; exit 1; }
fi

bench() {  # name, then bench prefill arguments
  local name=$1; shift
  t0=$(date +%s)
  timeout "${BENCH_TIMEOUT:-280}" "${BIN_DIR:-$BUILD}/hisa" bench prefill --methods hisa --repeats 5 --commit "$COMMIT" \
    --json "$OUT/prefill_${name}.json" "$@" > "$OUT/bench_${name}.log" 2>&1
  echo "== bench $name: rc=$? in $(( $(date +%s) - t0 )) s"
  grep -A40 "^hisa bench prefill" "$OUT/bench_${name}.log"
}
has shared && bench shared --L 32768,131072 --m 64,128 --B 64 --Q 1,16 --fidelity-L 32768 --fidelity-rows 1024
has configs && bench b128 --L 32768,131072 --m 64 --B 128 --fidelity-L 32768 --fidelity-rows 1024
has configs && bench b64 --L 32768,131072 --m 128 --B 64 --fidelity-L 32768 --fidelity-rows 1024
has order && bench order --L 32768,131072 --m 64,128,256 --B 64 --order score,index \
  --methods flat,block,hisa --fidelity-L 32768 --fidelity-rows 1024
has order && bench order_b128 --L 32768,131072 --m 64 --B 128 --order score,index --no-fidelity
if has twopass; then
  for v in 0 1; do
    HISA_TWO_PASS=$v bench twopass$v --L 32768,131072 --m 64,128,256 --B 64 --order score,index \
      --no-fidelity --repeats 3
  done
fi
if has tma; then
  for v in 0 1; do
    HISA_TMA_TOKENS=$v bench tma$v --L 32768,131072 --m 64,128,256 --B 64 --order score,index \
      --no-fidelity --repeats 3
    HISA_TMA_TOKENS=$v bench tma${v}_b128 --L 32768,131072 --m 64 --B 128 --order score,index \
      --no-fidelity --repeats 3
  done
fi
if has blocks; then
  for v in 0 1; do
    HISA_TMA_BLOCKS=$v bench blocks$v --L 32768,131072 --m 64,128,256 --B 64 --no-fidelity --repeats 3
  done
  for v in 0 1; do
    HISA_TMA_BLOCKS=$v bench blocks${v}_b128 --L 32768,131072 --m 64 --B 128 --no-fidelity --repeats 3
  done
  HISA_TMA_BLOCKS=1 bench blocks1_long --L 262144,1048576 --m 64 --B 64 --flat-chunks 8 \
    --no-fidelity --repeats 3
fi
if has topk; then
  t0=$(date +%s)
  timeout 200 compute-sanitizer --tool memcheck --error-exitcode 9 "$BUILD/tests/hisa_gpu_tests" \
    --gtest_filter='CudaTopk.*' > "$OUT/sanitize_topk.log" 2>&1
  echo "memcheck CudaTopk: rc=$? in $(( $(date +%s) - t0 )) s"
  timeout 200 compute-sanitizer --tool racecheck --error-exitcode 9 "$BUILD/tests/hisa_gpu_tests" \
    --gtest_filter='CudaTopk.UnalignedPointerAndRanges:CudaTopk.HeavyTies*:CudaTopk.ShortRowsFromScoreKeys' >> "$OUT/sanitize_topk.log" 2>&1
  echo "racecheck CudaTopk: rc=$? in $(( $(date +%s) - t0 )) s"
  grep -E "ERROR SUMMARY|RACECHECK SUMMARY|PASSED|FAILED" "$OUT/sanitize_topk.log" | head -8
  bench topk --L 8192,32768,131072 --methods flat --order score,index --no-fidelity
  t0=$(date +%s)
  PYTHONPATH=.deps/topk_anchors/sgl:.deps/topk_anchors/fi timeout 200 python3 \
    bench/prefill/topk_anchors.py --json "$OUT/topk_anchors.json" > "$OUT/topk_anchors.log" 2>&1
  echo "anchors: rc=$? in $(( $(date +%s) - t0 )) s"; tail -5 "$OUT/topk_anchors.log"
fi
if has arms; then
  if [ -n "$base_pid" ]; then
    wait "$base_pid"; echo "base build (overlay $BASE_OVERLAY): rc=$?"; cat "$OUT/base_build.txt"
  fi
  IFS=';' read -ra ARMLIST <<< "${ARMS:-}"
  for arm in "${ARMLIST[@]}"; do
    IFS=':' read -r name switches filter <<< "$arm"
    BIN_DIR=$BUILD
    [[ -n "${BASE_OVERLAY:-}" && $name == base* ]] && BIN_DIR=/tmp/base_tree/build/base
    IFS=',' read -ra vars <<< "$switches"
    if [ -n "${filter:-}" ]; then
      t0=$(date +%s)
      env "${vars[@]}" timeout "${ARM_TEST_TIMEOUT:-200}" "$BUILD/tests/hisa_gpu_tests" \
        --gtest_filter="$filter" > "$OUT/tests_$name.log" 2>&1
      trc=$?
      echo "== tests $name (${vars[*]}): rc=$trc in $(( $(date +%s) - t0 )) s"
      grep -E "^\[ +FAILED +\]|Failure|Expected|exception" "$OUT/tests_$name.log" | head -12
      grep -E "^\[  (PASSED|FAILED) +\]" "$OUT/tests_$name.log"
      # A failed or hung arm is not timed.
      [ "$trc" = 0 ] || { echo "== arm $name skipped (tests rc=$trc)"; continue; }
    fi
    # shellcheck disable=SC2086
    (
      [ ${#vars[@]} -eq 0 ] || export "${vars[@]}"  # a bare `export` would print the environment
      [[ ",${ARM_NO_HISA:-}," == *",$name,"* ]] ||
        bench "arm_$name" ${ARM_ARGS:---L 32768,131072 --m 64,256 --B 64 --order score --no-fidelity --repeats 3}
      [ -z "${ARM_FLAT_ARGS:-}" ] || [[ ",${ARM_NO_FLAT:-}," == *",$name,"* ]] ||
        bench "armflat_$name" $ARM_FLAT_ARGS
      if [ -n "${ARM_TIMING_ARGS:-}" ] && [[ ",${ARM_TIMING:-}," == *",$name,"* ]]; then
        timeout 150 "$BIN_DIR/hisa_timing" $ARM_TIMING_ARGS --commit "$COMMIT" \
          --json "$OUT/timing_$name.json" > "$OUT/timing_$name.log" 2>&1
        echo "== timing $name: rc=$?"; tail -10 "$OUT/timing_$name.log"
      fi
    )
  done
  python3 bench/hisa/arms_table.py "$OUT" "${ARMS%%:*}"  # ratios to the first arm
fi
if has stalls && [ "$SECONDS" -ge "${STALLS_BEFORE:-100000}" ]; then
  echo "stalls skipped: $SECONDS s elapsed"
elif has stalls; then
  t0=$(date +%s)
  timeout 240 ncu --kernel-name "regex:${STALL_KERNEL:-hisa_tokens_tma_kernel}" --launch-skip "${STALL_SKIP:-2}" \
    --launch-count 1 --set full --import-source yes -f -o "$OUT/stalls" \
    "$BUILD/hisa_timing" --L "${STALL_L:-32768}" --m "${STALL_M:-64}" --reps 1 > "$OUT/stalls_ncu.log" 2>&1
  echo "ncu stalls: rc=$? in $(( $(date +%s) - t0 )) s"
  ncu --import "$OUT/stalls.ncu-rep" --page source --csv --print-source sass > "$OUT/stalls_sass.csv" 2>&1
  echo "source page: rc=$? $(wc -l < "$OUT/stalls_sass.csv") lines"
  ncu --import "$OUT/stalls.ncu-rep" --page source --csv --print-source cuda > "$OUT/stalls_source.csv" 2>&1
  python3 bench/hisa/ncu_source_top.py "$OUT/stalls_source.csv" 25 || true
  ncu --import "$OUT/stalls.ncu-rep" --print-details all > "$OUT/stalls_details.txt" 2>&1
  grep -E "Duration|SM Frequency|Issued Warp|No Eligible|Warp Cycles Per Issued|Registers Per|Tensor" \
    "$OUT/stalls_details.txt" | head -20
  rm -f "$OUT/stalls.ncu-rep"
fi
# TOPKNCU_BEFORE: skip topkncu when the script has already run this many seconds (a device
# call's limit would cut it off and lose the packed logs).
if has topkncu && [ "$SECONDS" -ge "${TOPKNCU_BEFORE:-100000}" ]; then
  echo "topkncu skipped: $SECONDS s elapsed"
elif has topkncu; then
  # Every radix_topk_kernel launch of one warm-up + one timed run at TOPK_NCU_L (128K) timed
  # alone (one metric, one replay pass), then the full profile (with the per-line source page)
  # of the longest one: the chunk order of a run is not the launch order ncu counts (an earlier
  # fixed skip of 31 caught a chunk of ~12K-column rows).
  t0=$(date +%s)
  timeout 100 ncu --kernel-name regex:radix_topk_kernel --metrics gpu__time_duration.sum --csv \
    "$BUILD/hisa" bench prefill --methods flat --L "${TOPK_NCU_L:-131072}" --no-fidelity --repeats 1 \
    > "$OUT/ncu_topk_durations.csv" 2>&1
  echo "ncu durations: rc=$? in $(( $(date +%s) - t0 )) s"
  skip=$(python3 bench/hisa/ncu_longest_launch.py "$OUT/ncu_topk_durations.csv")
  echo "longest radix_topk_kernel launch: ${skip:-none}"
  if [ -n "$skip" ]; then
    t0=$(date +%s)
    timeout 120 ncu --kernel-name regex:radix_topk_kernel --launch-skip "${skip%% *}" --launch-count 1 \
      --set full --import-source yes -f -o "$OUT/topk" \
      "$BUILD/hisa" bench prefill --methods flat --L "${TOPK_NCU_L:-131072}" --no-fidelity --repeats 1 \
      > "$OUT/ncu_topk_full.log" 2>&1
    echo "ncu full: rc=$? in $(( $(date +%s) - t0 )) s"
    ncu --import "$OUT/topk.ncu-rep" --print-details all > "$OUT/ncu_flat_topk.txt" 2>&1
    ncu --import "$OUT/topk.ncu-rep" --page source --csv --print-source cuda > "$OUT/ncu_topk_source.csv" 2>&1
    echo "source page: rc=$? $(wc -l < "$OUT/ncu_topk_source.csv") lines"
    ncu --import "$OUT/topk.ncu-rep" --page source --csv --print-source sass > "$OUT/ncu_topk_sass.csv" 2>&1
    grep -E "Grid Size|Duration|Throughput|Issued Warp|No Eligible|Warp Cycles Per Issued|Achieved Occ|Registers Per" \
      "$OUT/ncu_flat_topk.txt" | head -24
    python3 bench/hisa/ncu_source_top.py "$OUT/ncu_topk_source.csv" 30 || true
    rm -f "$OUT/topk.ncu-rep"
  fi
fi
has long && bench long --L 262144,1048576 --m 64 --B 64 --flat-chunks 8 --no-fidelity --repeats 3
exit 0
