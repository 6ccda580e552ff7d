#!/usr/bin/env python3
"""Markdown tables and plots of the real-data study (docs/fidelity.md "Real data") from one
`hisa eval --inputs` results file and the `python -m hisa.real ppl` / `passkey` JSON files.

    python3 bench/fidelity/real_report.py --eval R.json [--ppl P1.json P2.json]
        [--passkey K1.json ...] [--plot-dir DIR] [--layer-methods 'hisa B=64 m=16' ...]

Prints: the pooled table per method (IoU mean/p1, attention mass against flat, cost), a
per-layer table for a few methods, the block diagnostics per layer, the perplexity table and the
passkey table; writes ppl_vs_m.png and iou_vs_m.png (IoU and perplexity delta vs m, per method).
"""

import argparse
import collections
import json
import re


def layer_of(case):
    m = re.match(r"L(\d+)", case)
    return int(m.group(1)) if m else None


def key(r):
    return f"{r['method']} {r['label']}".strip()


def load_eval(paths):
    from pareto import merged

    data = merged(paths)
    recs = [r for r in data["records"] if "error" not in r]
    flat = {r["case"]: r for r in recs if r["method"] == "flat"}
    return data, recs, flat


def pooled_table(recs):
    pooled = [r for r in recs if r["case"] == "all"]
    if not pooled:
        print("(no pooled records: the sweep has not finished)")
        return
    flat = next(r for r in pooled if r["method"] == "flat")
    print("| method | config | cost / flat | IoU mean | IoU p1 | recall | attn mass | attn / flat | attn p1 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in sorted(pooled, key=lambda r: r["cost"]["vs_flat"]):
        a = r["attn_mass"]
        print(f"| {r['method']} | {r['label']} | {r['cost']['vs_flat']:.3f} | {r['iou']['mean']:.4f} | "
              f"{r['iou']['p1']:.4f} | {r['recall']['mean']:.4f} | {a['mean']:.4f} | "
              f"{a['mean'] / flat['attn_mass']['mean']:.4f} | {a['p1']:.4f} |")


def per_layer(recs, flat, wanted):
    """Per layer (groups pooled as the mean of their case means): IoU and attn / flat."""
    layers = sorted({layer_of(c) for c in flat if c != "all"})
    cell = collections.defaultdict(list)
    for r in recs:
        if r["case"] == "all" or key(r) not in wanted:
            continue
        f = flat[r["case"]]["attn_mass"]["mean"]
        cell[(key(r), layer_of(r["case"]))].append((r["iou"]["mean"], r["attn_mass"]["mean"] / f))
    print("| layer | " + " | ".join(wanted) + " |")
    print("|---|" + "---|" * len(wanted))
    for L in layers:
        row = []
        for w in wanted:
            v = cell.get((w, L))
            row.append("-" if not v else
                       f"{sum(x[0] for x in v) / len(v):.3f} / {sum(x[1] for x in v) / len(v):.4f}")
        print(f"| {L} | " + " | ".join(row) + " |")
    print("(cells: mean IoU / attention mass kept relative to flat)")


def diagnostics(data, recs, B=64):
    """Per layer at block size B: blocks touched / visible, oracle coverage per m, and HISA's
    recall at the same (B, m) when it was run (= what its kept blocks hold)."""
    diag = [d for d in data.get("block_diagnostics", []) if d["B"] == B and d["case"] != "all"]
    if not diag:
        return
    ms = [o["m"] for o in diag[0]["oracle_coverage"]]
    hisa = collections.defaultdict(list)
    for r in recs:
        c = r.get("config", {})
        if (r["method"] == "hisa" and c.get("B") == B and c.get("summary") == "mean"
                and c.get("Q", 1) == 1 and r["case"] != "all"):
            hisa[(layer_of(r["case"]), c["m"])].append(r["recall"]["mean"])
    by_layer = collections.defaultdict(list)
    for d in diag:
        by_layer[layer_of(d["case"])].append(d)
    print(f"| layer | blocks touched / visible (B={B}) | " +
          " | ".join(f"oracle m={m} (HISA)" for m in ms) + " |")
    print("|---|---|" + "---|" * len(ms))
    for L in sorted(by_layer):
        ds = by_layer[L]
        t = sum(d["blocks_touched"]["mean"] for d in ds) / len(ds)
        v = sum(d["blocks_visible"]["mean"] for d in ds) / len(ds)
        cells = []
        for i, m in enumerate(ms):
            o = sum(d["oracle_coverage"][i]["coverage"]["mean"] for d in ds) / len(ds)
            h = hisa.get((L, m))
            cells.append(f"{o:.3f}" + (f" ({sum(h) / len(h):.3f})" if h else ""))
        print(f"| {L} | {t:.1f} / {v:.1f} | " + " | ".join(cells) + " |")


def ppl_table(paths):
    """One row per (method, topk) over the files (single-window runs or their "all" rows);
    deltas recomputed against dense and flat wherever they came from."""
    rows, seen = [], set()
    for p in paths:
        d = json.load(open(p))
        for r in d["rows"]:
            k = (r["method"], r["topk"])
            if (r["window"] == "all" or len(d["windows"]) == 1) and k not in seen:
                seen.add(k)
                rows.append(r)
    dense = {r["topk"]: r["ppl_from_topk"] for r in rows if r["method"] == "dense"}
    flat = {r["topk"]: r["ppl_from_topk"] for r in rows if r["method"] == "flat"}
    print("| method | topk | PPL (t >= topk) | vs dense | vs flat | PPL (all) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        f = flat.get(r["topk"])
        vs_flat = "-" if f is None or r["method"] == "dense" else f"{r['ppl_from_topk'] - f:+.3f}"
        print(f"| {r['method']} | {r['topk']} | "
              f"{r['ppl_from_topk']:.3f} | {r['ppl_from_topk'] - dense[r['topk']]:+.3f} | "
              f"{vs_flat} | {r['ppl_all']:.3f} |")
        r["delta_vs_flat_from_topk"] = None if f is None else r["ppl_from_topk"] - f
    return rows


def passkey_table(paths):
    print("| method | topk | accuracy | by depth | mean answer log-prob |")
    print("|---|---|---|---|---|")
    for p in paths:
        for s in json.load(open(p))["summary"]:
            depth = ", ".join(f"{k}: {v:.0%}" for k, v in s["by_depth"].items())
            print(f"| {s['method']} | {s['topk'] or '-'} | {s['accuracy']:.0%} | {depth} | "
                  f"{s['mean_answer_logprob']:.2f} |")


def plots(recs, ppl_rows, out_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pooled = [r for r in recs if r["case"] == "all" and r["method"] == "hisa"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    series = collections.defaultdict(list)
    for r in pooled:
        c = r["config"]
        name = f"hisa B={c['B']}" + ("" if c["summary"] == "mean" else f" {c['summary']}") + \
            ("" if c.get("Q", 1) == 1 else f" Q={c['Q']}")
        series[name].append((c["m"] * c["B"], r["iou"]["mean"]))
    for name, pts in sorted(series.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=name)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("candidate tokens m * B")
    ax.set_ylabel("mean IoU with flat (pooled over layers)")
    ax.grid(True, lw=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(f"{out_dir}/iou_vs_m.png", dpi=110)

    if ppl_rows:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        by = collections.defaultdict(list)
        for r in ppl_rows:
            mt = re.match(r"hisa:B=(\d+),m=(\d+),summary=(\w+),Q=(\d+)", r["method"])
            if mt and r["delta_vs_flat_from_topk"] is not None:
                B, m, summ, Q = mt.groups()
                name = f"hisa B={B} {summ}" + ("" if Q == "1" else f" Q={Q}") + f" topk={r['topk']}"
                by[name].append((int(m) * int(B), r["delta_vs_flat_from_topk"]))
        for name, pts in sorted(by.items()):
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=name)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("candidate tokens m * B")
        ax.set_ylabel("perplexity - flat's (positions t >= topk)")
        ax.grid(True, lw=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(f"{out_dir}/ppl_vs_m.png", dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--eval", required=True, nargs="+", help="hisa eval --inputs results "
                    "(later files replace the same case/method/config of earlier ones)")
    ap.add_argument("--ppl", nargs="*", default=[])
    ap.add_argument("--passkey", nargs="*", default=[])
    ap.add_argument("--plot-dir")
    ap.add_argument("--layer-methods", nargs="*",
                    default=["hisa B=64 m=16", "hisa B=64 m=16 emax", "hisa B=64 m=32",
                             "proj d=8 c=4", "misa a=1 c=4 B=1024"])
    args = ap.parse_args()
    data, recs, flat = load_eval(args.eval)
    print("### Pooled over every (layer, group) case\n")
    pooled_table(recs)
    print("\n### Per layer\n")
    per_layer(recs, flat, args.layer_methods)
    print("\n### Block diagnostics per layer\n")
    diagnostics(data, recs)
    ppl_rows = []
    if args.ppl:
        print("\n### Perplexity\n")
        ppl_rows = ppl_table(args.ppl)
    if args.passkey:
        print("\n### Passkey\n")
        passkey_table(args.passkey)
    if args.plot_dir:
        plots(recs, ppl_rows, args.plot_dir)


if __name__ == "__main__":
    main()
