#!/usr/bin/env python3
"""Time vs context length per method from `hisa bench prefill --json` output (PNG).

    python3 bench/prefill/plot.py prefill.json out.png [more.json ...]

Later files add methods missing from earlier ones (e.g. a flat-only run plus a full run).
The DeepGEMM fp8_mqa_logits + torch.topk anchor of the GPU the run was on (H100 2026-11-22 or
H200 2026-12-01, /work/shared/anchors/) is drawn for reference.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ANCHORS = {  # GPU: {L: total ms (logits + torch.topk)}, DeepGEMM (shared/anchors/)
    "H100": {8192: 2.35, 32768: 21.4, 65536: 75.6, 131072: 281.0},
    "H200": {8192: 2.14, 32768: 20.07, 65536: 71.92, 131072: 273.52}}


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    out_png = sys.argv[2]
    series = {}
    device = commit = ""
    for path in [sys.argv[1]] + sys.argv[3:]:
        with open(path) as f:
            d = json.load(f)
        device, commit = d.get("device", device), d.get("commit", commit)
        for r in d.get("prefill", []):
            L = r["L"]
            series.setdefault("flat scoring", {})[L] = r["flat_score_ms"]
            series.setdefault("flat top-k", {})[L] = r["flat_topk_ms"]
            if "torch_topk_ms" in r:
                series.setdefault("torch.topk (same shapes)", {})[L] = r["torch_topk_ms"]
            for name, m in r.get("methods", {}).items():
                if m.get("ms", -1) > 0 and "error" not in m:
                    series.setdefault(name if name != "flat" else "flat (select)", {})[L] = m["ms"]
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for name, pts in sorted(series.items()):
        Ls = sorted(pts)
        style = "--" if name.startswith("flat ") or name.startswith("torch") else "-"
        ax.plot(Ls, [pts[L] for L in Ls], style, marker="o", label=name)
    gpu = "H200" if "H200" in device else "H100"
    anchor = ANCHORS[gpu]
    Ls = sorted(anchor)
    ax.plot(Ls, [anchor[L] for L in Ls], ":", color="black", marker="x",
            label=f"DeepGEMM logits + torch.topk ({gpu} anchor)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("context length L (one causal sequence)")
    ax.set_ylabel("time per prefill (ms)")
    ax.set_title(f"hisa prefill indexer, H=64 D=128 topk=2048 FP8\n{device} @ {commit}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
