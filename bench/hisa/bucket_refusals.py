#!/usr/bin/env python3
"""How often the one-sort bucket selection refuses HISA rows (CPU emulation, no GPU).

The short-row top-k (src/cuda/topk_short.cu, 2048 buckets) and the radix kernel's one-sort path
(topk_radix.cu, 4096 buckets) select a row of n candidate scores in one counting sort
(src/cuda/topk_bucket_select.cuh) and refuse it, handing it to the radix passes, when a bucket
at or above the one holding rank k - 1 (b*) holds more than 32 keys (b* itself may be crowded if
all its keys share one score). This script rebuilds HISA's candidate rows of the structured (or
Gaussian) workload on the CPU (stage 1 from pooled keys, the kept blocks' exact scores, float32
sums rather than the GPU's FP8 MMA order) and applies the same rules, so refusal rates and
alternative bucket counts and per-bucket limits can be compared before a GPU run.

    python3 bench/hisa/bucket_refusals.py --L 32768 --B 128 --m 64 --rows 256

Needs the hisa Python package (scripts/test.sh builds one into build/ci/pyenv).
"""

import argparse
import json
import sys

import numpy as np

import hisa

K_BUCKET_MAX = 32


def e4m3_table():
    """float32 value of every FP8 e4m3fn byte (0x7F / 0xFF: NaN)."""
    t = np.zeros(256, np.float32)
    for b in range(256):
        s = -1.0 if b & 0x80 else 1.0
        e, m = (b >> 3) & 0xF, b & 7
        if e == 0xF and m == 7:
            t[b] = np.nan
        elif e == 0:
            t[b] = s * (m / 8.0) * 2.0 ** -6
        else:
            t[b] = s * (1 + m / 8.0) * 2.0 ** (e - 7)
    return t


def score_keys(x):
    """The kernels' monotone 32-bit keys of float32 scores (NaN -> 0)."""
    bits = x.astype(np.float32).view(np.uint32)
    keys = np.where(bits & 0x80000000, ~bits, bits | 0x80000000).astype(np.uint32)
    return np.where(np.isnan(x), np.uint32(0), keys)


def key_scores(keys):
    k = keys.astype(np.uint32)
    bits = np.where(k & 0x80000000, k & 0x7FFFFFFF, ~k).astype(np.uint32)
    return bits.view(np.float32)


def bucket_map(keys, bins):
    """BucketMap of topk_bucket_select.cuh: by value if the finite range holds 0, else by key."""
    hi, lo = int(keys.max()), int(keys.min())
    s_max, s_min = key_scores(np.array([hi, lo], np.uint32))
    if np.isfinite(s_max) and np.isfinite(s_min) and s_min <= 0 <= s_max and s_max > s_min:
        scale = np.float32(bins - 1) / np.float32(s_max - s_min)
        x = (np.float32(s_max) - key_scores(keys)) * scale
        return np.minimum(np.floor(np.nan_to_num(x, nan=0.0)), bins - 1).astype(np.int64), "value"
    digit = bins.bit_length() - 1
    rng = hi - lo
    shift = max(rng.bit_length() - digit, 0)
    return ((hi - keys.astype(np.int64)) >> shift).astype(np.int64), "key"


def verdict(keys, k, bins, limit=K_BUCKET_MAX):
    """(score-order refused, index-order refused, map kind, b*, b* size, widest bucket above b*,
    start of b*) with `limit` keys allowed per bucket at or above b*."""
    b, kind = bucket_map(keys, bins)
    hist = np.bincount(b, minlength=bins)
    starts = np.cumsum(hist) - hist
    b_star = int(np.searchsorted(np.cumsum(hist), k - 1, side="right"))
    star = int(hist[b_star])
    widest = int(hist[:b_star].max()) if b_star > 0 else 0
    star_keys = keys[b == b_star]
    star_ok = star <= limit or star_keys.min() == star_keys.max()
    refused = widest > limit or not star_ok
    return refused, not star_ok, kind, b_star, star, widest, int(starts[b_star])


def rows_of(wl, L, B, m, k, nrows, seed):
    """HISA candidate score rows of sampled queries t (causal, one sequence)."""
    table = e4m3_table()
    fp8 = wl.dtype == "fp8_e4m3"
    kf = table[wl.k] if fp8 else wl.k.astype(np.float32)
    ksc = wl.k_scale if wl.k_scale is not None else np.ones(L, np.float32)
    scaled = kf * ksc[:, None]
    nb_all = (L + B - 1) // B
    pad = np.zeros((nb_all * B - L, scaled.shape[1]), np.float32)
    pooled_full = np.concatenate([scaled, pad]).reshape(nb_all, B, -1).sum(1)
    rng = np.random.default_rng(seed)
    lo = (m + 1) * B  # rows that keep m of more than m blocks
    ts = np.sort(rng.choice(np.arange(lo, L), size=min(nrows, L - lo), replace=False))
    for t in ts:
        n = t + 1
        nb = (n + B - 1) // B
        q = table[wl.q[t]] if fp8 else wl.q[t].astype(np.float32)  # [H, D]
        w = wl.w[t]
        pooled = pooled_full[:nb].copy()
        pooled[nb - 1] = scaled[(nb - 1) * B:n].sum(0)
        counts = np.full(nb, B, np.float32)
        counts[nb - 1] = n - (nb - 1) * B
        pooled /= counts[:, None]
        bs = (np.maximum(q @ pooled.T, 0) * w[:, None]).sum(0)
        middle = np.arange(1, nb - 1)
        top = middle[np.argsort(-bs[1:nb - 1], kind="stable")[: m - 2]]
        kept = np.sort(np.concatenate([[0], top, [nb - 1]]))
        pos = np.concatenate([np.arange(j * B, min((j + 1) * B, n)) for j in kept])
        s = ksc[pos] * (np.maximum(q @ kf[pos].T, 0) * w[:, None]).sum(0)
        yield int(t), s.astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--L", type=int, default=32768)
    ap.add_argument("--B", type=int, default=128)
    ap.add_argument("--m", type=int, default=64)
    ap.add_argument("--topk", type=int, default=2048)
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--workload", choices=["structured", "gaussian"], default="structured")
    ap.add_argument("--bins", default="2048,4096")
    ap.add_argument("--limits", default="32,64", help="keys allowed per bucket at or above b*")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.workload == "structured":
        wl = hisa.quantize_fp8(hisa.make_structured(T=a.L, S=a.L, seed=1))
    else:
        wl = hisa.quantize_fp8(hisa.make_gaussian(T=a.L, S=a.L, seed=1))
    bins = [int(x) for x in a.bins.split(",")]
    limits = [int(x) for x in a.limits.split(",")]
    stats = {(b, lim): {"score_refused": 0, "index_refused": 0, "value_map": 0}
             for b in bins for lim in limits}
    detail = []
    nrows = 0
    for t, s in rows_of(wl, a.L, a.B, a.m, a.topk, a.rows, a.seed):
        if len(s) <= a.topk:
            continue
        nrows += 1
        keys = score_keys(s)
        row = {"t": t, "n": len(s), "zeros": int((s == 0).sum()), "neg": int((s < 0).sum()),
               "max": float(s.max()), "min": float(s.min()),
               "kth": float(np.sort(s)[::-1][a.topk - 1])}
        for b in bins:
            for lim in limits:
                sr, ir, kind, b_star, star, widest, start = verdict(keys, a.topk, b, lim)
                st = stats[(b, lim)]
                st["score_refused"] += sr
                st["index_refused"] += ir
                st["value_map"] += kind == "value"
            row[f"bins{b}"] = {"map": kind, "b_star": b_star, "star": star,
                               "widest_above": widest, "start_star": start}
        detail.append(row)
    print(f"{a.workload} L={a.L} B={a.B} m={a.m} topk={a.topk}: {nrows} sampled rows of more than "
          f"topk candidates")
    for (b, lim), st in stats.items():
        print(f"  {b} buckets, <= {lim} keys per bucket: score order refused "
              f"{st['score_refused']}/{nrows}, index order {st['index_refused']}/{nrows} "
              f"(buckets by value in {st['value_map']})")
    z = np.array([r["zeros"] for r in detail])
    neg = np.array([r["neg"] for r in detail])
    print(f"  exact zeros per row: median {np.median(z):.0f}, negative scores: median "
          f"{np.median(neg):.0f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "rows": detail,
                       "stats": {f"{b}x{lim}": st for (b, lim), st in stats.items()}}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
