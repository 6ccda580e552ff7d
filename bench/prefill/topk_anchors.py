#!/usr/bin/env python3
r"""The engines' own top-k kernels vs torch.topk on the prefill rows `hisa bench prefill` times.

Anchors for flat's top-k stage: one causal sequence of L tokens, queries in chunks of --chunk
rows, logits [rows, L] f32 random normal, row t sees columns [0, t+1). torch.topk gets the
invisible columns set to -inf (as bench/prefill/torch_topk.py does); the engines' kernels get
the per-row lengths t+1 (row starts 0) and read only the visible part. Selectors:
  torch.topk                          torch.topk(logits, k, dim=-1)
  sgl fast_topk_v2                    sglang-kernel 0.4.2: torch.ops.sgl_kernel.fast_topk(score f32
                                      [B,L], out i32 [B,2048], lengths i32 [B], row_starts i32 [B]|None)
                                      (what sgl_kernel.fast_topk_v2 wraps; k must be 2048), loaded
                                      from sgl_kernel/sm90/common_ops.abi3.so on sys.path
  flashinfer top_k_ragged_transform   flashinfer 0.7.2.post1: top_k_ragged_transform(input f32 [B,L],
                                      offsets i32 [B], lengths i32 [B], k) -> i32 [B,k] (-1 padded),
                                      its own backend dispatch; kernel module prebuilt for sm_90a
                                      (flashinfer/data/aot/topk/topk.so, FLASHINFER_DISABLE_JIT=1)
Each is timed with CUDA events per chunk, summed over chunks, median of --repeats after one
warm-up pass; the warm-up also checks, on a few rows per chunk, that each result's index SET
equals torch.topk's on the visible part. A selector that cannot load or fails is reported as
such. Third-party code lives only in the git-ignored .deps/topk_anchors/ (see its README).

    PYTHONPATH=.deps/topk_anchors/sgl:.deps/topk_anchors/fi \
        python3 bench/prefill/topk_anchors.py --json $OUT/topk_anchors.json
"""
import argparse
import ctypes
import glob
import json
import os
import statistics
import sys
import time

import torch


def load_sgl():
    """sgl fast_topk_v2 without importing the sgl_kernel package (its __init__ loads everything)."""
    pat = os.path.join("sgl_kernel", "sm90", "common_ops*.so")
    libs = [p for d in sys.path for p in glob.glob(os.path.join(d or ".", pat))]
    if not libs:
        raise RuntimeError("sgl_kernel/sm90/common_ops*.so not on sys.path")
    try:
        ctypes.CDLL("libnuma.so.1", mode=ctypes.RTLD_GLOBAL)
    except OSError:  # not on the machine: use the copy carried in lib/ beside sgl_kernel/
        root = os.path.dirname(os.path.dirname(os.path.dirname(libs[0])))
        ctypes.CDLL(os.path.join(root, "lib", "libnuma.so.1"), mode=ctypes.RTLD_GLOBAL)
    torch.ops.load_library(libs[0])

    def fast_topk_v2(score, lengths, k):  # = sgl_kernel.top_k.fast_topk_v2(score, lengths, k)
        assert k == 2048, "fast_topk_v2 only supports k=2048"
        out = score.new_empty((score.size(0), k), dtype=torch.int32)
        torch.ops.sgl_kernel.fast_topk(score, out, lengths, None)
        return out
    return fast_topk_v2, {"library": libs[0]}


def load_flashinfer():
    os.environ.setdefault("FLASHINFER_DISABLE_JIT", "1")  # never start a ~20 min nvcc build here
    import flashinfer
    from flashinfer.jit.topk import gen_topk_module
    spec = gen_topk_module()
    info = {"version": flashinfer.__version__, "library": str(spec.get_library_path()), "aot": spec.is_aot}
    offsets = {}

    def ragged(score, lengths, k):
        rows = score.size(0)
        if rows not in offsets:
            offsets[rows] = torch.zeros(rows, dtype=torch.int32, device=score.device)
        return flashinfer.top_k_ragged_transform(score, offsets[rows], lengths, k)
    x = torch.randn(256, 16384, device="cuda")  # load the module now, outside the timed region
    ragged(x, torch.full((256,), 16384, dtype=torch.int32, device="cuda"), 2048)
    return ragged, info


def load_torch():
    return (lambda score, lengths, k: torch.topk(score, min(k, score.size(1)), dim=-1).indices), {}


LOADERS = [("torch.topk", load_torch), ("sgl fast_topk_v2", load_sgl),
           ("flashinfer top_k_ragged_transform", load_flashinfer)]


def check_rows(x, t0, out, k, picks):
    """Rows whose selected set differs from torch.topk's on the visible columns [0, t0+r+1)."""
    bad = []
    for r in picks:
        n = t0 + r + 1
        ref = set(torch.topk(x[r, :n], min(k, n)).indices.tolist())
        got = [i for i in out[r].tolist() if 0 <= i < n]
        if len(got) != len(ref) or set(got) != ref:
            bad.append(t0 + r)
    return bad


def run_L(L, k, chunk, repeats, sel, res):
    names = [n for n in sel if "fn" in sel[n]]
    ms = {n: [] for n in names}
    for rep in range(repeats + 1):
        tot = {n: 0.0 for n in names}
        for c, t0 in enumerate(range(0, L, chunk)):
            rows = min(chunk, L - t0)
            g = torch.Generator(device="cuda").manual_seed(1000003 * L + c)
            x = torch.randn(rows, L, device="cuda", dtype=torch.float32, generator=g)
            q = torch.arange(t0, t0 + rows, device="cuda").unsqueeze(1)
            x.masked_fill_(torch.arange(L, device="cuda").unsqueeze(0) > q, float("-inf"))
            lengths = torch.arange(t0 + 1, t0 + rows + 1, device="cuda", dtype=torch.int32)
            picks = sorted({0, min(rows - 1, 2047), rows // 2, rows - 1})
            for i in range(len(names)):  # rotate the order so no selector always runs first
                n = names[(i + rep) % len(names)]
                if n in res and res[n].get("error"):
                    continue
                start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                try:
                    start.record()
                    out = sel[n]["fn"](x, lengths, k)
                    stop.record()
                    stop.synchronize()
                except Exception as e:  # noqa: BLE001 - report, keep the other selectors going
                    res[n] = {"L": L, "error": f"{type(e).__name__}: {e}"[:400]}
                    continue
                tot[n] += start.elapsed_time(stop)
                if rep == 0:
                    res.setdefault(n, {"L": L, "checked_rows": 0, "mismatch_rows": []})
                    res[n]["checked_rows"] += len(picks)
                    res[n]["mismatch_rows"] += check_rows(x, t0, out, k, picks)
                del out
            del x
        if rep > 0:
            for n in names:
                ms[n].append(tot[n])
    for n in names:
        if n in res and not res[n].get("error"):
            res[n]["ms"] = statistics.median(ms[n])
            res[n]["runs_ms"] = ms[n]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("--L", default="8192,32768,131072")
    ap.add_argument("--topk", type=int, default=2048)
    ap.add_argument("--chunk", type=int, default=4096,
                    help="query rows per chunk; 0: flat's own rule, min(L, 32768, 2 GiB / (4 * L64))")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", default="", help="comma list of name substrings to run (default all)")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    torch.cuda.init()
    sel = {}
    for name, loader in LOADERS:
        if a.only and not any(s and s in name for s in a.only.split(",")):
            continue
        try:
            fn, info = loader()
            sel[name] = {"fn": fn, "info": info}
        except Exception as e:  # noqa: BLE001
            sel[name] = {"error": f"{type(e).__name__}: {e}"[:400]}
        print(f"{name}: {sel[name].get('info', sel[name].get('error'))}", flush=True)
    rows = []
    for L in [int(x) for x in a.L.split(",") if x]:
        res, chunk = {}, a.chunk or max(2, min(L, 32768, (2 << 30) // (4 * -(-L // 64) * 64)))
        run_L(L, a.topk, chunk, a.repeats, sel, res)
        for name in sel:
            r = res.get(name, {"L": L, "error": sel[name].get("error", "not run")})
            r["selector"], r["L"], r["chunk"] = name, L, chunk
            rows.append(r)
            if "ms" in r:
                msg = f"{r['ms']:.3f} ms, set check {r['checked_rows'] - len(r['mismatch_rows'])}/"
                print(f"L={L} {name}: {msg}{r['checked_rows']} rows ok", flush=True)
            else:
                print(f"L={L} {name}: UNAVAILABLE/FAILED {r.get('error')}", flush=True)
        torch.cuda.empty_cache()
    out = {"benchmark": "engines' top-k kernels vs torch.topk on causal prefill logits",
           "device": torch.cuda.get_device_name(), "torch": torch.__version__,
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "topk": a.topk,
           "chunk": a.chunk, "repeats": a.repeats, "rows": rows,
           "selectors": {n: {k: v for k, v in s.items() if k != "fn"} for n, s in sel.items()}}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    Ls = sorted({r["L"] for r in rows})
    print(f"\n{'selector (ms, sum over chunks)':36s}" + "".join(f"{'L=' + str(L):>12s}" for L in Ls)
          + "  set check / error")
    for name in sel:
        cells, notes = "", []
        for L in Ls:
            r = next(r for r in rows if r["selector"] == name and r["L"] == L)
            cells += f"{r['ms']:12.3f}" if "ms" in r else f"{'n/a':>12s}"
            notes.append(("ok" if not r["mismatch_rows"] else f"MISMATCH@{L}") if "ms" in r
                         else str(r.get("error"))[:60])
        print(f"{name:36s}{cells}  " + ", ".join(dict.fromkeys(notes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
