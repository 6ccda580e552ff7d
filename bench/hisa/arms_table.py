#!/usr/bin/env python3
"""Side-by-side table of the `arms` part of bench/hisa/prefill_run.sh.

Reads prefill_arm_<name>.json and prefill_armflat_<name>.json (`hisa bench prefill --json`)
from one run's output folder and prints, per length and method, each arm's time in ms and its
ratio to the first arm named (the baseline), plus flat's top-k time where the flat arms ran.

    python3 bench/hisa/arms_table.py OUT_DIR [base_arm]
"""
import glob
import json
import os
import sys


def load(folder, prefix):
    arms = {}
    for path in sorted(glob.glob(os.path.join(folder, prefix + "*.json"))):
        name = os.path.basename(path)[len(prefix):-len(".json")]
        with open(path) as f:
            arms[name] = json.load(f)
    return arms


def times(doc):
    """{(L, method): ms} for every method of every length, plus flat's top-k stage."""
    out = {}
    for row in doc.get("prefill", []):
        for method, m in row.get("methods", {}).items():
            out[(row["L"], method)] = m["ms"]
        if "flat_topk_ms" in row:
            out[(row["L"], "flat_topk")] = row["flat_topk_ms"]
    return out


def table(arms, base):
    if not arms:
        return
    names = [base] + [n for n in arms if n != base] if base in arms else list(arms)
    cols = {n: times(arms[n]) for n in names}
    keys = sorted({k for c in cols.values() for k in c})
    device = next(iter(arms.values())).get("device", "?")
    commit = next(iter(arms.values())).get("commit", "?")
    print(f"{device}, {commit}: ms (ratio to {names[0]})")
    print(f"{'L':>8} {'method':<16}" + "".join(f"{n:>18}" for n in names))
    for key in keys:
        ref = cols[names[0]].get(key)
        cells = []
        for n in names:
            v = cols[n].get(key)
            if v is None:
                cells.append(f"{'-':>18}")
            elif ref:
                cells.append(f"{v:>10.3f} ({v / ref:4.2f})")
            else:
                cells.append(f"{v:>18.3f}")
        print(f"{key[0]:>8} {key[1]:<16}" + "".join(cells))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    folder = sys.argv[1]
    base = sys.argv[2] if len(sys.argv) > 2 else "base"
    table(load(folder, "prefill_arm_"), base)
    table(load(folder, "prefill_armflat_"), base)


if __name__ == "__main__":
    main()
