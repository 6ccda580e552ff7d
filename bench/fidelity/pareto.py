#!/usr/bin/env python3
"""Fidelity against cost for every method of one `hisa eval` results file (docs/fidelity.md).

Cost is the scored (query, head, token) triples per query relative to flat (the JSON's
cost.vs_flat; src/eval/cost.hpp). Fidelity is the mean IoU against flat or, for real inputs
(`hisa eval --inputs`), the share of flat's softmax attention mass a method keeps
(attn_mass / flat's attn_mass, pooled over rows). Prints a markdown table with the Pareto front
marked and, for real inputs, the cheapest configuration that keeps >= --target of flat's
attention mass per layer and overall; writes a plot.

    python3 bench/fidelity/pareto.py RESULTS.json [MORE.json ...] --plot OUT.png [--L 32768]
        [--target 0.99]

Several files are merged (same inputs, e.g. a later run of some methods): a record of a later
file replaces the one with the same case, method and configuration.
"""

import argparse
import collections
import json
import re
import sys

FAMILIES = ["hisa", "hisa-emax", "hisa-bound", "block", "misa", "proj", "hisa-misa"]
MARKERS = {"hisa": "o", "hisa-emax": "^", "hisa-bound": "v", "block": "s", "misa": "D",
           "proj": "P", "hisa-misa": "X", "flat": "*"}


def family(rec):
    m = rec["method"]
    summary = rec.get("config", {}).get("summary", "mean")
    if m == "hisa" and summary != "mean":
        return f"hisa-{summary}"
    return m


def label(rec):
    return f"{rec['method']} {rec['label']}".replace(" -", "")


def merged(paths):
    """The first file's header with the records of every file, later ones replacing earlier
    records of the same (case, L, method, label)."""
    data = json.load(open(paths[0]))
    index = {}
    for path in paths:
        for r in json.load(open(path))["records"]:
            index[(r.get("case"), r["L"], r["method"], r["label"])] = r
    data["records"] = list(index.values())
    return data


def pareto(points):
    """Indices of points not dominated (lower cost and higher fidelity)."""
    front = []
    for i, (c, f) in enumerate(points):
        if not any((c2 <= c and f2 >= f) and (c2 < c or f2 > f) for c2, f2 in points):
            front.append(i)
    return front


def layer_of(case):
    m = re.match(r"L(\d+)", case)
    return int(m.group(1)) if m else case


def real_rows(records, target):
    """Per layer and overall: fidelity = attn mass relative to flat, pooled by mean of cases."""
    by_case = collections.defaultdict(dict)
    for r in records:
        if "error" in r or r.get("attn_mass") is None:
            continue
        by_case[r["case"]][label(r)] = r
    layers = collections.defaultdict(list)
    for case in by_case:
        if case != "all":
            layers[layer_of(case)].append(case)
    out = {}
    for name, cases in [("all", ["all"])] + sorted(layers.items()):
        keep = collections.defaultdict(list)
        for case in cases:
            flat = by_case[case]["flat"]["attn_mass"]["mean"]
            for lab, r in by_case[case].items():
                keep[lab].append((r["attn_mass"]["mean"] / flat, r["cost"]["vs_flat"], r))
        rows = {lab: (sum(v[0] for v in vals) / len(vals), sum(v[1] for v in vals) / len(vals),
                      vals[0][2]) for lab, vals in keep.items()}
        ok = [(cost, lab, fid) for lab, (fid, cost, _) in rows.items() if fid >= target]
        out[name] = (rows, min(ok) if ok else None)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="+")
    ap.add_argument("--plot")
    ap.add_argument("--L", type=int, help="synthetic results: the length to show")
    ap.add_argument("--target", type=float, default=0.99)
    ap.add_argument("--title", default="")
    args = ap.parse_args()
    data = merged(args.results)
    recs = [r for r in data["records"] if "error" not in r]
    real = "inputs" in data
    if real:
        pooled = [r for r in recs if r.get("case") == "all"]
        flat_attn = next(r for r in pooled if r["method"] == "flat")["attn_mass"]["mean"]
        fid = lambda r: r["attn_mass"]["mean"] / flat_attn
        ylabel = "attention mass kept, relative to flat"
        recs = pooled
    else:
        L = args.L or recs[0]["L"]
        recs = [r for r in recs if r["L"] == L]
        fid = lambda r: r["iou"]["mean"]
        ylabel = "mean IoU with flat"
    points = [(r["cost"]["vs_flat"], fid(r)) for r in recs]
    front = set(pareto(points))

    print(f"| method | config | cost / flat | IoU | IoU p1 | mass recall |"
          + (" attn mass / flat |" if real else " needles |") + " front |")
    print("|---|---|---|---|---|---|---|---|")
    for i in sorted(range(len(recs)), key=lambda i: points[i][0]):
        r = recs[i]
        extra = f"{fid(r):.4f}" if real else (
            "-" if r.get("needle_recall") is None else f"{r['needle_recall']:.3f}")
        mass = r.get("mass_recall") or {}
        print(f"| {r['method']} | {r['label']} | {points[i][0]:.4f} | {r['iou']['mean']:.4f} | "
              f"{r['iou']['p1']:.4f} | {mass.get('mean', float('nan')):.4f} | {extra} | "
              f"{'*' if i in front else ''} |")

    if real:
        print(f"\ncheapest configuration keeping >= {args.target:.0%} of flat's attention mass:")
        print("| layer | method | cost / flat | attn mass / flat |")
        print("|---|---|---|---|")
        for name, (rows, best) in real_rows(data["records"], args.target).items():
            if best is None:
                print(f"| {name} | none | - | - |")
            else:
                cost, lab, f = best
                print(f"| {name} | {lab} | {cost:.4f} | {f:.4f} |")

    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 5.5))
        for fam in ["flat"] + FAMILIES:
            idx = [i for i, r in enumerate(recs) if family(r) == fam]
            if idx:
                ax.scatter([points[i][0] for i in idx], [points[i][1] for i in idx],
                           marker=MARKERS.get(fam, "o"), label=fam, s=40)
        fr = sorted(front, key=lambda i: points[i][0])
        ax.plot([points[i][0] for i in fr], [points[i][1] for i in fr], "k--", lw=0.8,
                label="Pareto front")
        ax.set_xscale("log")
        ax.set_xlabel("scored (query, head, token) triples per query, relative to flat")
        ax.set_ylabel(ylabel)
        ax.axhline(args.target if real else 0.99, color="grey", lw=0.5)
        ax.set_title(args.title or ", ".join(args.results))
        ax.grid(True, which="both", lw=0.3)
        ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"\nplot: {args.plot}", file=sys.stderr)


if __name__ == "__main__":
    main()
