#!/usr/bin/env python3
"""torch.topk on prefill logits, the selector engines pair with DeepGEMM's fp8_mqa_logits.

One causal sequence of L tokens: queries in chunks of --chunk rows, each chunk's logits
[chunk, L] f32 random normal with the invisible keys set to -inf (as DeepGEMM's clean_logits
leaves them), torch.topk(k, dim=-1) per chunk. Reports the sum over chunks (median of
--repeats, CUDA events, one warm-up), i.e. the selection time of one prefill, for comparison
with `hisa bench prefill`'s flat top-k (which reads only the visible part of each row).

    python3 bench/prefill/torch_topk.py --L 8192,32768 --json out.json
"""
import argparse
import json
import statistics
import sys
import time

import torch


def time_topk(L, k, chunk, repeats):
    runs = []
    for rep in range(repeats + 1):
        total = 0.0
        for t0 in range(0, L, chunk):
            rows = min(chunk, L - t0)
            logits = torch.randn(rows, L, device="cuda", dtype=torch.float32)
            q = torch.arange(t0, t0 + rows, device="cuda").unsqueeze(1)
            s = torch.arange(L, device="cuda").unsqueeze(0)
            logits.masked_fill_(s > q, float("-inf"))
            start = torch.cuda.Event(enable_timing=True)
            stop = torch.cuda.Event(enable_timing=True)
            start.record()
            torch.topk(logits, min(k, L), dim=-1)
            stop.record()
            stop.synchronize()
            total += start.elapsed_time(stop)
            del logits
        if rep > 0:
            runs.append(total)
    return statistics.median(runs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--L", default="8192,32768,65536,131072")
    ap.add_argument("--topk", type=int, default=2048)
    ap.add_argument("--chunk", type=int, default=8192)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    rows = []
    for L in [int(x) for x in a.L.split(",") if x]:
        ms = time_topk(L, a.topk, a.chunk, a.repeats)
        rows.append({"L": L, "topk_ms": ms, "chunk": a.chunk})
        print(f"torch.topk L={L}: {ms:.3f} ms", flush=True)
    out = {
        "benchmark": "torch.topk on causal prefill logits",
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "topk": a.topk,
        "repeats": a.repeats,
        "rows": rows,
    }
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
