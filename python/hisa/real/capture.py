"""Capture a model's post-RoPE indexer inputs as case directories for `hisa eval --inputs DIR`.

One case per (layer, KV group): ``OUT/f32/L05_g1/`` and ``OUT/fp8/L05_g1/`` holding

  q.npy [T, G, D]  float32 | uint8 (FP8 e4m3fn bytes)   post-RoPE queries of the group's G heads
  k.npy [S, D]     float32 | uint8                       post-RoPE keys of the group's KV head
  w.npy [T, G]     float32   uniform head weights: 1.0 (f32); fp8: 1.0 * q_scale (DSA folds the
                             FP8 query scale into w)
  k_scale.npy [S]  float32   fp8 only: per-token key scale amax/448
  q_scale.npy [T, G] float32 fp8 only: per-(token, head) query scale amax/448 (recovers the true
                             attention logits: q_scale * q . k_scale * k)
  meta.json                  model, layer, group, heads, window, text source, dtype, attn_scale...

One causal sequence, T = S = L (no ks/ke files), plus ``OUT/window.json`` (token range, text
source, model) and ``OUT/tokens.npy`` (the window's token ids).
"""

import json
import math
import os
import time

import numpy as np

from . import fp8
from .errors import RealDataError

W_CONVENTION = ("uniform: w[t, h] = 1.0 for every query head (the model has no indexer weights); "
                "fp8 cases fold the per-(token, head) FP8 query scale in: w = 1.0 * q_scale")


def case_name(layer, group):
    return f"L{layer:02d}_g{group}"


def _save(path, array):
    tmp = path + ".part.npy"
    np.save(tmp, array)
    os.replace(tmp, path)


def write_case(directory, q, k, w, meta, k_scale=None, q_scale=None):
    """One case directory in the layout of the module docstring."""
    os.makedirs(directory, exist_ok=True)
    _save(os.path.join(directory, "q.npy"), np.ascontiguousarray(q))
    _save(os.path.join(directory, "k.npy"), np.ascontiguousarray(k))
    _save(os.path.join(directory, "w.npy"), np.ascontiguousarray(w, dtype=np.float32))
    if k_scale is not None:
        _save(os.path.join(directory, "k_scale.npy"), np.ascontiguousarray(k_scale, dtype=np.float32))
    if q_scale is not None:
        _save(os.path.join(directory, "q_scale.npy"), np.ascontiguousarray(q_scale, dtype=np.float32))
    with open(os.path.join(directory, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


def write_group(out, layer, group, q, k, base_meta, dtypes=("f32", "fp8")):
    """Both trees' case directories of one (layer, group): q [T, G, D], k [S, D] float32."""
    T, G, D = q.shape
    w = np.ones((T, G), dtype=np.float32)
    meta = dict(base_meta)
    meta.update(layer=layer, group=group, heads=list(range(group * G, (group + 1) * G)),
                T=T, S=int(k.shape[0]), H=G, D=D, attn_scale=1.0 / math.sqrt(D),
                w=W_CONVENTION, causal="one sequence: query t sees keys [0, t] (no ks/ke files)",
                rope="post-RoPE (llama.cpp NORM: adjacent pairs)")
    name = case_name(layer, group)
    if "f32" in dtypes:
        write_case(os.path.join(out, "f32", name), q.astype(np.float32), k.astype(np.float32), w,
                   dict(meta, dtype="f32"))
    if "fp8" in dtypes:
        q8, k8, k_scale, w8, q_scale = fp8.quantize_indexer(q, k, w)
        write_case(os.path.join(out, "fp8", name), q8, k8, w8,
                   dict(meta, dtype="fp8_e4m3",
                        fp8="e4m3fn bytes; k per-token scale amax/448 (k_scale.npy); q per-(token, "
                            "head) scale amax/448 folded into w and written to q_scale.npy"),
                   k_scale=k_scale, q_scale=q_scale)


def capture(llama, ids, out, base_meta, layers=None, dtypes=("f32", "fp8"), log=print):
    """Run the dense forward over `ids` and write every (layer, group) case of `layers` (None:
    all). Returns the number of cases written and the seconds spent."""
    cfg = llama.cfg
    wanted = set(range(cfg.n_layer)) if layers is None else set(layers)
    bad = sorted(l for l in wanted if not 0 <= l < cfg.n_layer)
    if bad:
        raise RealDataError("--layers", f"{bad}: the model has layers 0..{cfg.n_layer - 1}")
    written = []

    def on_qk(layer, qs, ks):
        if layer in wanted:
            for g, (q, k) in enumerate(zip(qs, ks)):
                write_group(out, layer, g, q, k, base_meta, dtypes)
                written.append(case_name(layer, g))

    t0 = time.perf_counter()
    llama.forward(ids, on_qk=on_qk, stop_after=max(wanted),
                  progress=lambda li, s: log(f"  layer {li:2d}: {s:.2f} s"))
    return written, time.perf_counter() - t0
