"""Perplexity of the model when every layer's attention is restricted to a method's selection.

For each window and each (method, topk): one forward pass in which each layer's KV groups
attend only to the keys their selection returns (Selector in methods.py), then the
negative log-likelihood of every next token. Reported, per window and pooled over windows
(token-weighted):

  ppl_all        over every prediction (positions 0..L-2, position t predicts token t+1)
  ppl_from_topk  over the positions t >= topk, the only ones where selection bites (position t
                 sees t + 1 keys; with t + 1 <= topk every method returns all of them)
  delta_*        ppl minus the dense model's ppl on the same positions, and minus flat's (same
                 topk), when flat is among the methods

`dense` is run once per window; its rows repeat per topk with that topk's position subset.
"""

import math
import time

import numpy as np

from . import methods as methods_mod


def _ppl(nll_sum, n):
    return math.exp(nll_sum / n) if n else None


def _stats(nll, topk):
    tail = nll[topk:] if topk is not None else nll
    return {"nll_sum_all": float(nll.sum()), "n_all": int(nll.size),
            "nll_sum_from_topk": float(tail.sum()), "n_from_topk": int(tail.size)}


def _finish(row):
    row["ppl_all"] = _ppl(row["nll_sum_all"], row["n_all"])
    row["ppl_from_topk"] = _ppl(row["nll_sum_from_topk"], row["n_from_topk"])
    return row


def run(llama, ids, windows, method_list, topks, select_dtype="f32", threads=0, log=print):
    """Rows (dicts) of the module docstring, one per (window, method, topk), plus the pooled
    rows (window = 'all'). `ids`: the text's token ids; `windows`: [(start, end), ...]."""
    if not any(m.dense for m in method_list):
        method_list = [methods_mod.parse("dense")] + list(method_list)
    rows = []
    for wi, (start, end) in enumerate(windows):
        win = ids[start:end]
        for m in method_list:
            runs = [None] if m.dense else list(topks)
            for topk in runs:
                selector = None if m.dense else methods_mod.Selector(m, topk, select_dtype, threads)
                t0 = time.perf_counter()
                hidden = llama.forward(win, select=selector)
                nll = llama.nll(hidden, win)
                seconds = time.perf_counter() - t0
                select_s = selector.seconds if selector else 0.0
                parts = {k: round(v, 3) for k, v in llama.timings.items()}
                log(f"window {wi} [{start}, {end}) {m.spec:24s} topk={topk}: "
                    f"ppl {math.exp(nll.mean()):.4f}  ({seconds:.1f} s: selection {select_s:.1f} s, "
                    f"attention {parts['attention']:.1f} s, linear {parts['linear']:.1f} s)")
                for k in (topks if m.dense else [topk]):
                    rows.append(_finish(dict(window=wi, start=int(start), end=int(end),
                                             method=m.spec, topk=int(k), seconds=seconds,
                                             select_seconds=select_s, forward_parts=parts,
                                             **_stats(nll, k))))
    # pooled over windows
    pooled = {}
    for r in rows:
        key = (r["method"], r["topk"])
        p = pooled.setdefault(key, dict(window="all", method=r["method"], topk=r["topk"],
                                        nll_sum_all=0.0, n_all=0, nll_sum_from_topk=0.0,
                                        n_from_topk=0, seconds=0.0, select_seconds=0.0))
        for f in ("nll_sum_all", "n_all", "nll_sum_from_topk", "n_from_topk", "seconds",
                  "select_seconds"):
            p[f] += r[f]
    rows += [_finish(p) for p in pooled.values()]
    # deltas vs dense and vs flat (same window, same topk)
    index = {(r["window"], r["method"], r["topk"]): r for r in rows}
    for r in rows:
        for ref in ("dense", "flat"):
            base = index.get((r["window"], ref, r["topk"]))
            for part in ("all", "from_topk"):
                key = f"delta_vs_{ref}_{part}"
                if base is None or r[f"ppl_{part}"] is None or base[f"ppl_{part}"] is None:
                    r[key] = None
                else:
                    r[key] = r[f"ppl_{part}"] - base[f"ppl_{part}"]
    return rows


def table(rows):
    """The pooled rows as a text table."""
    def f(x, fmt="{:.4f}"):
        return "-" if x is None else fmt.format(x)
    head = (f"{'method':24s} {'topk':>5s} {'ppl all':>9s} {'ppl t>=k':>9s} {'d dense':>8s} "
            f"{'d flat':>8s} {'fwd s':>7s} {'sel s':>7s}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if r["window"] != "all":
            continue
        lines.append(f"{r['method']:24s} {r['topk']:5d} {f(r['ppl_all']):>9s} "
                     f"{f(r['ppl_from_topk']):>9s} {f(r['delta_vs_dense_from_topk'], '{:+.4f}'):>8s} "
                     f"{f(r['delta_vs_flat_from_topk'], '{:+.4f}'):>8s} {r['seconds']:7.1f} "
                     f"{r['select_seconds']:7.1f}")
    return "\n".join(lines)
