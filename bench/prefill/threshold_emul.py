#!/usr/bin/env python3
"""How many candidates a threshold known before selection leaves (CPU emulation, no GPU).

Issue #13 asks for "a running threshold from the first tiles so most logits are discarded as
they are produced"; issue #10 for a HISA selection that stops growing with m. Both rest on one
exact rule: if some subset A of a row's scores holds at least k scores >= tau, the row's k-th
largest score is >= tau, so every score < tau can be dropped as it is produced and the top k of
the survivors is exactly the top k of the row. tau is any lower bound of A's k-th largest: the
exact k-th (a selection over A), or the lower edge of the bin of the score key's top `bits`
bits that holds it (a histogram, cheap in a kernel), or A's minimum when |A| = k (a running
min). This script rebuilds rows of the structured or Gaussian workload on the CPU and counts the
survivors for several choices of A:

  flat (one causal row of n = t + 1 keys; the scorer's items are 4096 keys of a query pair):
    diag W      A = the last W keys (the work items holding the diagonal, scored first)
                    and the first 64 (attention sinks)
    hisa m      A = HISA's candidates (B = 64, m blocks, SPEC.md: first + own + top m - 2 by
                    the pooled-key score J): its k-th score is a bound for flat's row
  hisa (the candidates of the m kept blocks; stage 2a would score blocks in that order):
    J first j       A = the first j kept blocks in J order (first and own block first)
    recent first j  A = the first and own block and the j - 2 most recent other kept blocks

Prints, per choice, the survivors (scores >= tau) as a median / 90th percentile / max over the
sampled rows, as a multiple of k, and as a fraction of the row; and the rows where A gives no
bound (|A| < k). Scores are float32 sums, not the GPU's FP8 MMA order (ties may differ).

    python3 bench/prefill/threshold_emul.py --method flat --L 32768 --rows 64
    python3 bench/prefill/threshold_emul.py --method hisa --L 32768 --m 64,128,256,512
    python3 bench/prefill/threshold_emul.py --method hisa --inputs cases/fp8 --cases 10 --m 80,96

--inputs: real captured cases (`python -m hisa.real capture`, docs/real_data.md: FP8 q/k, w,
k_scale of one causal sequence per case directory) instead of a synthetic workload; rows are
sampled in each of --cases cases spread over the tree, and the survivors pooled.

Needs the hisa Python package (scripts/test.sh builds one into build/ci/pyenv).
"""

import argparse
import json
import sys
import types
from pathlib import Path

import numpy as np

import hisa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hisa"))
from bucket_refusals import e4m3_table, score_keys  # noqa: E402  (the same FP8 table and keys)

SINKS = 64


class Rows:
    """Decoded workload and pooled keys; exact scores of one query against chosen keys."""

    def __init__(self, wl, L, B):
        table = e4m3_table()
        fp8 = wl.dtype == "fp8_e4m3"
        self.table, self.fp8, self.wl, self.L, self.B = table, fp8, wl, L, B
        self.kf = table[wl.k] if fp8 else wl.k.astype(np.float32)
        self.ksc = wl.k_scale if wl.k_scale is not None else np.ones(L, np.float32)
        scaled = self.kf * self.ksc[:, None]
        self.scaled = scaled
        nb_all = (L + B - 1) // B
        pad = np.zeros((nb_all * B - L, scaled.shape[1]), np.float32)
        self.pooled_sum = np.concatenate([scaled, pad]).reshape(nb_all, B, -1).sum(1)

    def query(self, t):
        q = self.table[self.wl.q[t]] if self.fp8 else self.wl.q[t].astype(np.float32)
        return q, self.wl.w[t]

    def scores(self, t, cols):
        q, w = self.query(t)
        return (self.ksc[cols] * (np.maximum(q @ self.kf[cols].T, 0) * w[:, None]).sum(0)).astype(
            np.float32)

    def kept_by_j(self, t, m):
        """Kept blocks of row t (n = t + 1): first, own, then the top m - 2 middle blocks by J
        descending (SPEC.md ties: the larger block); all blocks when nb <= m."""
        B, n = self.B, t + 1
        nb = (n + B - 1) // B
        if nb <= m:
            return np.arange(nb)
        q, w = self.query(t)
        pooled = self.pooled_sum[:nb].copy()
        pooled[nb - 1] = self.scaled[(nb - 1) * B:n].sum(0)
        counts = np.full(nb, B, np.float32)
        counts[nb - 1] = n - (nb - 1) * B
        pooled /= counts[:, None]
        js = (np.maximum(q @ pooled[1:nb - 1].T, 0) * w[:, None]).sum(0)
        middle = np.arange(1, nb - 1)
        order = np.lexsort((-middle, -js))  # J descending, then the larger block
        return np.concatenate([[0, nb - 1], middle[order[: m - 2]]])

    def block_cols(self, t, blocks):
        n = t + 1
        return [np.arange(j * self.B, min((j + 1) * self.B, n)) for j in blocks]


def bounds(a_scores, k, bits):
    """(exact k-th largest key of A, its bin's lower edge at `bits` bits), or None if |A| < k."""
    if len(a_scores) < k:
        return None
    kth = int(np.sort(score_keys(a_scores))[::-1][k - 1])
    drop = 32 - bits
    return kth, (kth >> drop) << drop


def survivors(row_keys, tau):
    return int((row_keys >= np.uint32(tau)).sum())


def summary(name, counts, sizes, k, missing):
    if not counts:
        return {"choice": name, "rows": 0, "no_bound": missing}
    c = np.array(counts, np.float64)
    f = c / np.array(sizes, np.float64)
    out = {"choice": name, "rows": len(counts), "no_bound": missing,
           "median": float(np.median(c)), "p90": float(np.percentile(c, 90)), "max": float(c.max()),
           "median_fraction": float(np.median(f)), "max_fraction": float(f.max())}
    print(f"  {name:24s} survivors median {out['median']:7.0f} ({out['median'] / k:5.2f} k, "
          f"{out['median_fraction']:6.1%} of the row)  p90 {out['p90']:7.0f}  max {out['max']:7.0f}"
          f" ({out['max_fraction']:6.1%})" + (f"  no bound on {missing} rows" if missing else ""))
    return out


def sample_rows(L, lo, nrows, seed):
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(np.arange(lo, L), size=min(nrows, L - lo), replace=False))


def run_flat(R, a, k):
    windows = [int(x) for x in a.windows.split(",")]
    ms = [int(x) for x in a.m.split(",")]
    names = [f"diag {w} exact" for w in windows] + [f"diag {w} {a.bits}-bit" for w in windows]
    names += [f"hisa m={m} exact" for m in ms]
    acc = {nm: ([], [], 0) for nm in names}

    def add(nm, row_keys, b, exact):
        c, s, miss = acc[nm]
        if b is None:
            acc[nm] = (c, s, miss + 1)
            return
        c.append(survivors(row_keys, b[0] if exact else b[1]))
        s.append(len(row_keys))

    for t in sample_rows(a.L, a.min_n - 1, a.rows, a.seed):
        n = t + 1
        row = R.scores(t, np.arange(n))
        keys = score_keys(row)
        for w in windows:
            cols = np.unique(np.concatenate([np.arange(min(SINKS, n)), np.arange(max(0, n - w), n)]))
            b = bounds(row[cols], k, a.bits)
            add(f"diag {w} exact", keys, b, True)
            add(f"diag {w} {a.bits}-bit", keys, b, False)
        for m in ms:
            cols = np.concatenate(R.block_cols(t, R.kept_by_j(t, m)))
            add(f"hisa m={m} exact", keys, bounds(row[cols], k, a.bits), True)
    print(f"{a.label} flat rows L={a.L} k={k}: {a.rows} sampled rows of >= {a.min_n} keys "
          f"(A's bound -> scores >= tau in the whole row)")
    return [summary(nm, *acc[nm][:2], k, acc[nm][2]) for nm in names]


def run_hisa(R, a, k):
    ms = [int(x) for x in a.m.split(",")]
    firsts = [int(x) for x in a.first.split(",")]
    out = []
    for m in ms:
        acc = {}
        lo = (m + 1) * R.B
        if lo >= a.L:
            print(f"m={m}: no row of L={a.L} keeps m of more than m blocks; skipped")
            continue
        for t in sample_rows(a.L, lo, a.rows, a.seed):
            kept = R.kept_by_j(t, m)
            sc_j = R.scores(t, np.concatenate(R.block_cols(t, kept)))
            keys = score_keys(sc_j)
            acc.setdefault("all candidates", ([], [], [0]))
            acc["all candidates"][0].append(len(sc_j))
            acc["all candidates"][1].append(len(sc_j))
            # Block orders: J (first, own, then J descending) and recent (first, own, then
            # the middle blocks by descending index: no J ranks needed by stage 2a).
            recent = np.concatenate([kept[:2], np.sort(kept[2:])[::-1]])
            for order, blocks in (("J", kept), ("recent", recent)):
                per_block = R.block_cols(t, blocks)
                sc = sc_j if order == "J" else R.scores(t, np.concatenate(per_block))
                ends = np.cumsum([len(c) for c in per_block])
                for j in firsts:
                    if j > m:
                        continue
                    b = bounds(sc[: ends[j - 1]], k, a.bits)  # None: fewer than k scores in A
                    for nm, pick in ((f"{order} first {j} exact", 0),
                                     (f"{order} first {j} {a.bits}-bit", 1)):
                        c, s, miss = acc.setdefault(nm, ([], [], [0]))
                        c.append(len(sc) if b is None else survivors(keys, b[pick]))
                        s.append(len(sc))
                        miss[0] += b is None
        print(f"{a.label} HISA rows L={a.L} B={R.B} m={m} k={k}: {a.rows} sampled rows "
              f"(A = the first kept blocks in J or recency order; scores >= tau among the candidates)")
        for nm, (c, s, miss) in acc.items():
            r = summary(nm, c, s, k, miss[0])  # a row without a bound keeps every candidate
            r["m"] = m
            out.append(r)
    return out


def real_cases(tree, count):
    """(name, workload-like) for `count` FP8 case directories spread over `tree` (or `tree`
    itself when it is one case)."""
    root = Path(tree)
    dirs = [root] if (root / "q.npy").exists() else sorted(d for d in root.iterdir()
                                                           if (d / "q.npy").exists())
    if not dirs:
        raise SystemExit(f"threshold_emul: {tree}: no case directory (q.npy) found")
    pick = [dirs[i * len(dirs) // count] for i in range(min(count, len(dirs)))]
    for d in pick:
        q = np.load(d / "q.npy")
        if q.dtype != np.uint8:
            raise SystemExit(f"threshold_emul: {d}: expected FP8 cases (uint8 q), got {q.dtype}")
        yield d.name, types.SimpleNamespace(dtype="fp8_e4m3", q=q, k=np.load(d / "k.npy"),
                                            w=np.load(d / "w.npy"),
                                            k_scale=np.load(d / "k_scale.npy"))


def merge(results):
    """Pool per-case summaries by choice (and m): medians of the per-case medians, max of max."""
    out = {}
    for r in results:
        key = (r["choice"], r.get("m"))
        out.setdefault(key, []).append(r)
    pooled = []
    for (choice, m), rs in out.items():
        rs = [r for r in rs if r.get("rows")]
        if not rs:
            continue
        pooled.append({"choice": choice, "m": m, "cases": len(rs),
                       "median_of_medians": float(np.median([r["median"] for r in rs])),
                       "median_fraction": float(np.median([r["median_fraction"] for r in rs])),
                       "max": float(max(r["max"] for r in rs)),
                       "no_bound": int(sum(r["no_bound"] for r in rs))})
    return pooled


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--method", choices=["flat", "hisa"], default="flat")
    ap.add_argument("--L", type=int, default=32768)
    ap.add_argument("--B", type=int, default=64)
    ap.add_argument("--m", default="64", help="flat: HISA's m for its bound; hisa: m values")
    ap.add_argument("--windows", default="4096,8192", help="flat: diagonal window sizes")
    ap.add_argument("--first", default="33,48,64",
                    help="hisa: kept blocks scored first (the own block is partial: 33 x 64 >= k)")
    ap.add_argument("--bits", type=int, default=12, help="histogram bound: score-key bits")
    ap.add_argument("--topk", type=int, default=2048)
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--min-n", type=int, default=8193, help="flat: shortest row sampled")
    ap.add_argument("--workload", choices=["structured", "gaussian"], default="structured")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--inputs", help="real FP8 cases (a capture tree or one case directory)")
    ap.add_argument("--cases", type=int, default=10, help="with --inputs: cases sampled")
    ap.add_argument("--json")
    a = ap.parse_args()
    run = run_flat if a.method == "flat" else run_hisa
    a.label = a.workload
    if a.inputs:
        res = []
        for name, wl in real_cases(a.inputs, a.cases):
            a.L = wl.q.shape[0]
            a.label = f"real {name}"
            res += [dict(r, case=name) for r in run(Rows(wl, a.L, a.B), a, a.topk)]
        print(f"pooled over cases (median of the per-case medians; max of the maxima):")
        for r in merge(res):
            print(f"  {r['choice']:24s} m={r['m']}: {r['median_of_medians']:7.0f} "
                  f"({r['median_fraction']:6.1%} of the row), max {r['max']:.0f} over "
                  f"{r['cases']} cases" + (f", no bound on {r['no_bound']} rows" if r['no_bound'] else ""))
    else:
        make = hisa.make_structured if a.workload == "structured" else hisa.make_gaussian
        wl = hisa.quantize_fp8(make(T=a.L, S=a.L, seed=1))
        res = run(Rows(wl, a.L, a.B), a, a.topk)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "results": res}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
