#!/usr/bin/env python3
"""How often the radix top-k's sampled window works on flat's rows (CPU emulation, no GPU).

The radix top-k (src/cuda/topk_radix.cu) reads a long row (more than `cap` = 8192 columns at
k = 2048) two or three times: 12-bit histogram passes over the whole row until the k-th key's bin
holds at most `cap` keys, then one pass that copies that bin to shared memory. The sampled window
(src/cuda/topk_sample_window.cuh, HISA_TOPK_SAMPLE=1) samples 2048 keys, brackets the k-th key
between two sample ranks and reads the row once; it falls back to the exact passes (one read
lost) when the sample misleads it. This script rebuilds flat's causal score rows of the
structured or Gaussian workload on the CPU and applies both rules, so the expected number of
reads per row can be compared before a GPU run.

    python3 bench/prefill/sample_window_emul.py --L 32768 --rows 64

Needs the hisa Python package (scripts/test.sh builds one into build/ci/pyenv).
"""

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

import hisa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hisa"))
from bucket_refusals import e4m3_table, score_keys  # noqa: E402  (the same FP8 table and keys)

SAMPLES, GROUP, SIGMAS_HI, SIGMAS_LO = 2048, 8, 4.0, 8.0  # topk_sample_window.cuh
BITS = 12


def threshold_passes(rank, r, hb=0, prefix=0, cap=None):
    """The kernel's 12-bit histogram passes over 64-bit rank keys whose top `hb` bits are
    resolved to `prefix`, for the r-th largest: (passes, how they end) — "exact" when the k-th
    key's bin is exactly the rest of the top k (or 64 bits are resolved), "fits" when that bin
    holds at most `cap` keys (the long-row path then copies it to shared memory)."""
    passes = 0
    while True:
        w = min(BITS, 64 - hb)
        shift = 64 - hb - w
        match = rank if hb == 0 else rank[(rank >> np.uint64(64 - hb)) == np.uint64(prefix)]
        digit = ((match >> np.uint64(shift)) & np.uint64((1 << w) - 1)).astype(np.int64)
        hist = np.bincount(digit, minlength=1 << w)
        passes += 1
        above = 0
        for b in range((1 << w) - 1, -1, -1):
            if above + hist[b] >= r:
                break
            above += hist[b]
        cnt = int(hist[b])
        prefix, hb = (prefix << w) | b, hb + w
        if above + cnt == r or hb == 64:
            return passes, "exact"
        r -= above
        if cap is not None and cnt <= cap:
            return passes, "fits"


def radix_reads(keys, k, cap):
    """Global reads of the exact passes (64-bit rank keys: score key, then the column): the
    histogram passes, then the collecting or copying pass."""
    n = len(keys)
    rank = (keys.astype(np.uint64) << np.uint64(32)) | np.arange(n, dtype=np.uint64)
    return threshold_passes(rank, k, cap=cap)[0] + 1


def smem_passes(keys, k, above, hi, lo):
    """Histogram passes the kernel then runs over the window's candidates in shared memory
    (topk_radix.cu after window_pass), from the bits both bounds share."""
    idx = np.nonzero((keys >= lo) & (keys <= hi))[0]
    rank = (keys[idx].astype(np.uint64) << np.uint64(32)) | idx.astype(np.uint64)
    common = 32 - ((lo ^ hi) & 0xFFFFFFFF).bit_length()
    prefix = lo >> (32 - common) if common > 0 else 0
    return threshold_passes(rank, k - above, common, prefix)[0]


def window(keys, k, cap, hist_bounds=False):
    """The sampled window's verdict: (ok, keys above hi, keys in [lo, hi]). hist_bounds: the
    bounds of bounds_by_histogram (HISA_TOPK_SAMPLE_HIST=1): the same ranks' keys with their low
    12 bits set (hi) or cleared (lo), what its 12 + 8-bit histograms resolve."""
    n = len(keys)
    ks = k * SAMPLES / n
    r_hi = math.floor(ks - (SIGMAS_HI * math.sqrt(ks) + 2.0))
    r_lo = math.ceil(ks + SIGMAS_LO * math.sqrt(ks) + 4.0)
    if r_lo >= SAMPLES:
        return False, 0, 0, "no bound", 0
    j = np.arange(SAMPLES)
    cols = (j // GROUP) * (n - GROUP) // (SAMPLES // GROUP - 1) + j % GROUP
    sample = np.sort(keys[cols])[::-1]
    hi = int(sample[r_hi]) if r_hi >= 0 else 0xFFFFFFFF
    lo = int(sample[r_lo])
    if hist_bounds:
        hi = hi | 0xFFF
        lo = lo & ~0xFFF
    above = int((keys > hi).sum())
    inside = int(((keys >= lo) & (keys <= hi)).sum())
    ok = above < k and above + inside >= k and inside <= cap
    why = "" if ok else ("too many above" if above >= k else
                         "too few at or above lo" if above + inside < k else "window over cap")
    return ok, above, inside, why, (smem_passes(keys, k, above, hi, lo) if ok else 0)


def flat_rows(wl, L, nrows, seed, min_n):
    table = e4m3_table()
    fp8 = wl.dtype == "fp8_e4m3"
    kf = table[wl.k] if fp8 else wl.k.astype(np.float32)
    ksc = wl.k_scale if wl.k_scale is not None else np.ones(L, np.float32)
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.choice(np.arange(min_n, L), size=min(nrows, L - min_n), replace=False))
    for t in ts:
        q = table[wl.q[t]] if fp8 else wl.q[t].astype(np.float32)
        n = t + 1
        s = ksc[:n] * (np.maximum(q @ kf[:n].T, 0) * wl.w[t][:, None]).sum(0)
        yield int(t), s.astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--L", type=int, default=32768)
    ap.add_argument("--topk", type=int, default=2048)
    ap.add_argument("--cap", type=int, default=8192, help="the candidate buffer (k = 2048: 8192)")
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--workload", choices=["structured", "gaussian"], default="structured")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--bounds", choices=["sort", "hist"], default="sort",
                    help="the window's bounds: the sorted samples', or bounds_by_histogram's")
    ap.add_argument("--json")
    a = ap.parse_args()
    make = hisa.make_structured if a.workload == "structured" else hisa.make_gaussian
    wl = hisa.quantize_fp8(make(T=a.L, S=a.L, seed=1))
    rows, old, new, fails = [], 0, 0, {}
    for t, s in flat_rows(wl, a.L, a.rows, a.seed, a.cap + 1):
        keys = score_keys(s)
        reads_old = radix_reads(keys, a.topk, a.cap)
        ok, above, inside, why, passes = window(keys, a.topk, a.cap, a.bounds == "hist")
        reads_new = 1 if ok else 1 + reads_old
        old += reads_old
        new += reads_new
        if not ok:
            fails[why] = fails.get(why, 0) + 1
        rows.append({"t": t, "n": len(s), "reads_exact": reads_old, "window_ok": ok,
                     "above": above, "inside": inside, "why": why, "smem_passes": passes})
    nr = len(rows)
    print(f"{a.workload} flat rows L={a.L} topk={a.topk} cap={a.cap} bounds={a.bounds}: {nr} "
          f"sampled rows of more than cap columns")
    print(f"  exact passes: {old / nr:.2f} reads per row; sampled window: {new / nr:.2f} "
          f"(window fails on {sum(fails.values())} rows: {fails or 'none'})")
    ins = [r["inside"] for r in rows if r["window_ok"]]
    if ins:
        print(f"  window candidates when it works: median {int(np.median(ins))}, max {max(ins)}")
        ps = [r["smem_passes"] for r in rows if r["window_ok"]]
        print(f"  then shared-memory histogram passes: mean {np.mean(ps):.2f}, max {max(ps)}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
