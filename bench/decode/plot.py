#!/usr/bin/env python3
"""Decode time per step vs batch from `hisa bench decode --json` output (PNG), one panel per
context length, next_n = 1, with the DeepGEMM paged anchor (H200, batch 64) and the targets.

    python3 bench/decode/plot.py decode.json out.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    d = json.load(open(sys.argv[1]))
    rows = [r for r in d["decode"] if r["next_n"] == 1 and not r.get("error")]
    Ls = sorted({r["L"] for r in rows})
    fig, axes = plt.subplots(1, len(Ls), figsize=(5.5 * len(Ls), 4.5), squeeze=False)
    for ax, L in zip(axes[0], Ls):
        for method in ("flat", "hisa", "block"):
            pts = sorted((r["batch"], r["ms"]) for r in rows if r["L"] == L and r["method"] == method)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=method)
        app = sorted((r["batch"], r["ms"]) for r in d["append"] if r["L"] == L and r["next_n"] == 1)
        ax.plot([p[0] for p in app], [p[1] for p in app], "s:", label="pooled append")
        anchor = d.get("anchor_h200_deepgemm_flat_batch64_ms", {}).get(str(L))
        if anchor:
            ax.plot([64], [anchor], "kx", ms=9, label="DeepGEMM paged + torch.topk (b=64)")
        target = d.get("targets_batch64_next_n1_ms", {}).get(f"hisa_m64_{L}")
        if target:
            ax.plot([64], [target], "r*", ms=10, label="HISA target (b=64)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch (sequences, one query each)")
        ax.set_ylabel("ms per decode step")
        ax.set_title(f"L = {L // 1024}K")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"hisa decode, {d['device']} @ {d['commit']} (FP8, H={d['H']}, D={d['D']}, "
                 f"P={d['P']}, B={d['B']}, m=64, topk={d['topk']}; CUDA graph, cold inputs)", fontsize=9)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
