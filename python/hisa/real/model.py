"""A float32 numpy forward pass of a Llama model (GGUF weights, gguf_model.py) over one causal
window of L tokens, with the two hooks the selector experiments need:

  * ``on_qk(layer, qs, ks)``: the post-RoPE queries and keys of every layer, per KV group g:
    ``qs[g]`` [T, G, D] (the G query heads that read KV head g) and ``ks[g]`` [S, D] (T = S = L).
    That is exactly an MQA indexer's input (q [T, H, D], k [S, D]).
  * ``select(layer, qs, ks)``: an attention restriction. It returns None (dense attention in that
    layer) or one int32 [T, topk] index list per group (absolute key rows, -1 padded: SPEC.md's
    output). Every query head of group g then attends only to the keys of its row (softmax over
    those keys alone), which is how DSA uses its indexer: one selection per query, shared by the
    heads that read it.

RoPE is llama.cpp's "NORM" mode, rotating adjacent pairs (2i, 2i+1) with theta_i =
pos * base^(-2i/D): llama.cpp's converter permutes the GGUF's Q/K rows for that convention.

Memory stays modest: attention runs over query chunks (the [chunk * G, L] logits of one group at
a time) and the LM head over row chunks. BLAS (numpy's matmul) does the matmuls; the KV groups of
a chunk can run on a thread pool (`threads`).
"""

import concurrent.futures
import contextlib
import math
import os
import time

import numpy as np

from .errors import RealDataError


def rms_norm(x, weight, eps):
    var = np.mean(np.square(x, dtype=np.float32), axis=-1, keepdims=True, dtype=np.float32)
    return (x / np.sqrt(var + np.float32(eps))) * weight


def rope_tables(n, dim, base, offset=0):
    """cos, sin [n, dim/2] float32 for positions offset..offset+n-1 (computed in float64)."""
    inv = base ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)
    ang = np.arange(offset, offset + n, dtype=np.float64)[:, None] * inv[None, :]
    return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)


def apply_rope(x, cos, sin):
    """x [T, heads, D]: rotate adjacent pairs (x[2i], x[2i+1]) by theta_i (llama.cpp NORM)."""
    T, H, D = x.shape
    pairs = x.reshape(T, H, D // 2, 2)
    x0, x1 = pairs[..., 0], pairs[..., 1]
    c, s = cos[:, None, :], sin[:, None, :]
    out = np.empty_like(pairs)
    out[..., 0] = x0 * c - x1 * s
    out[..., 1] = x0 * s + x1 * c
    return out.reshape(T, H, D)


def silu(x):
    with np.errstate(over="ignore"):  # exp(-x) = inf for x << 0 gives x / inf = -0, as it should
        e = np.exp(-x)
    e += 1.0
    return np.divide(x, e, out=e)


_MASKS = {}


def _causal_mask(n):
    """[n, n] float32: 0 on and below the diagonal, -inf above (key j > query i)."""
    m = _MASKS.get(n)
    if m is None:
        m = _MASKS[n] = np.triu(np.full((n, n), -np.inf, dtype=np.float32), k=1)
    return m


try:  # BLAS threads: one per worker inside our own pool (oversubscription is very slow)
    from threadpoolctl import threadpool_limits as _threadpool_limits
except ImportError:  # pragma: no cover
    _threadpool_limits = None


def _blas_threads(n):
    if _threadpool_limits is None:
        return contextlib.nullcontext()
    return _threadpool_limits(limits=n, user_api="blas")


def _check_selection(idx, g, layer, T, S):
    if not isinstance(idx, np.ndarray) or idx.ndim != 2 or idx.shape[0] != T:
        raise ValueError(f"layer {layer} group {g}: selection must be an int array [T={T}, topk], "
                         f"got {getattr(idx, 'shape', type(idx).__name__)}")
    if idx.size and (idx.min() < -1 or idx.max() >= S):
        raise ValueError(f"layer {layer} group {g}: selection holds an index outside [-1, {S})")
    return idx


class Llama:
    """Forward pass of LlamaWeights. `threads`: workers for the per-group attention (0: all
    cores); `q_chunk`: queries per attention chunk (memory: chunk * group * L * 4 bytes per
    worker)."""

    def __init__(self, weights, threads=0, q_chunk=256, lm_chunk=512, row_chunk=512, sel_chunk=64):
        self.w = weights
        self.cfg = weights.config
        self.threads = int(threads) if threads else (os.cpu_count() or 1)
        self.q_chunk = int(q_chunk)
        self.lm_chunk = int(lm_chunk)
        self.row_chunk = int(row_chunk)
        self.sel_chunk = int(sel_chunk)
        self.timings = {}

    # ---- the transformer ---------------------------------------------------------------------

    def forward(self, ids, select=None, on_qk=None, progress=None, stop_after=None):
        """Final hidden states [T, E] (after the output norm) of the token window `ids`.
        `select`, `on_qk`: the hooks of the module docstring. `progress(layer, seconds)` is called
        after each layer. `stop_after`: stop after that layer (returns None), e.g. when only the
        hooks matter."""
        cfg = self.cfg
        ids = np.asarray(ids, dtype=np.int64)
        T = ids.shape[0]
        if T < 1:
            raise RealDataError("ids", "empty token window")
        if T > cfg.n_ctx:
            raise RealDataError("--L", f"{T} tokens exceed the model's context length {cfg.n_ctx}")
        if ids.min() < 0 or ids.max() >= cfg.vocab_size:
            raise RealDataError("ids", f"token id outside [0, {cfg.vocab_size})")
        timings = {"attention": 0.0, "select": 0.0, "linear": 0.0, "hook": 0.0}
        cos, sin = rope_tables(T, cfg.head_dim, cfg.rope_base)
        x = self.w.embed[ids].astype(np.float32)
        G, D, HK = cfg.group_size, cfg.head_dim, cfg.n_head_kv
        q = np.empty((T, cfg.n_head, D), dtype=np.float32)
        k = np.empty((T, HK, D), dtype=np.float32)
        v = np.empty((T, HK, D), dtype=np.float32)
        attn = np.empty((T, cfg.n_head, D), dtype=np.float32)
        row_chunks = [(r0, min(T, r0 + self.row_chunk)) for r0 in range(0, T, self.row_chunk)]
        pool = concurrent.futures.ThreadPoolExecutor(max(1, self.threads))

        def parallel(fn, tasks):
            with _blas_threads(1):  # our threads, one BLAS thread each
                for f in [pool.submit(fn, t) for t in tasks]:
                    f.result()

        try:
            for li, L in enumerate(self.w.layers):
                t_layer = t0 = time.perf_counter()

                def qkv(rows):
                    r0, r1 = rows
                    h = rms_norm(x[r0:r1], L["attn_norm"], cfg.eps)
                    c, s = cos[r0:r1], sin[r0:r1]
                    q[r0:r1] = apply_rope((h @ L["wq"].T).reshape(r1 - r0, cfg.n_head, D), c, s)
                    k[r0:r1] = apply_rope((h @ L["wk"].T).reshape(r1 - r0, HK, D), c, s)
                    v[r0:r1] = (h @ L["wv"].T).reshape(r1 - r0, HK, D)

                parallel(qkv, row_chunks)
                qs = [np.ascontiguousarray(q[:, g * G:(g + 1) * G, :]) for g in range(HK)]
                ks = [np.ascontiguousarray(k[:, g, :]) for g in range(HK)]
                vs = [np.ascontiguousarray(v[:, g, :]) for g in range(HK)]
                timings["linear"] += time.perf_counter() - t0
                if on_qk is not None:
                    t0 = time.perf_counter()
                    on_qk(li, qs, ks)
                    timings["hook"] += time.perf_counter() - t0
                sel = None
                if select is not None:
                    t0 = time.perf_counter()
                    sel = select(li, qs, ks)
                    timings["select"] += time.perf_counter() - t0
                    if sel is not None:
                        if len(sel) != HK:
                            raise ValueError(f"layer {li}: select returned {len(sel)} selections "
                                             f"for {HK} KV groups")
                        sel = [_check_selection(np.asarray(sg), g, li, T, T)
                               for g, sg in enumerate(sel)]

                t0 = time.perf_counter()

                chunk = self.q_chunk if sel is None else self.sel_chunk

                def attend(task):
                    g, c0 = task
                    c1 = min(T, c0 + chunk)
                    out = attn[c0:c1, g * G:(g + 1) * G, :]
                    if sel is None:
                        out[...] = self.attend_dense(qs[g], ks[g], vs[g], c0, c1)
                    else:
                        out[...] = self.attend_selected(qs[g], ks[g], vs[g], sel[g], c0, c1)

                tasks = [(g, c0) for c0 in range(0, T, chunk) for g in range(HK)]
                parallel(attend, tasks[::-1])  # the longest (last) chunks first: better balance
                timings["attention"] += time.perf_counter() - t0

                t0 = time.perf_counter()

                def mlp(rows):
                    r0, r1 = rows
                    xr = x[r0:r1] + attn[r0:r1].reshape(r1 - r0, cfg.n_head * D) @ L["wo"].T
                    h = rms_norm(xr, L["ffn_norm"], cfg.eps)
                    gate = h @ L["w_gate"].T
                    up = h @ L["w_up"].T
                    x[r0:r1] = xr + (silu(gate) * up) @ L["w_down"].T

                parallel(mlp, row_chunks)
                timings["linear"] += time.perf_counter() - t0
                if progress is not None:
                    progress(li, time.perf_counter() - t_layer)
                if stop_after is not None and li >= stop_after:
                    self.timings = timings
                    return None
        finally:
            pool.shutdown()
        self.timings = timings
        return rms_norm(x, self.w.output_norm, cfg.eps)

    def attend_dense(self, q, k, v, t0=0, t1=None):
        """Causal softmax attention of one KV group for queries [t0, t1): q [T, G, D], k, v
        [T, D] -> [t1 - t0, G, D]."""
        t1 = q.shape[0] if t1 is None else t1
        _, G, D = q.shape
        n = t1 - t0
        qc = (q[t0:t1] * np.float32(1.0 / math.sqrt(D))).reshape(n * G, D)
        lg = qc @ k[:t1].T                                  # [n*G, t1]
        lg3 = lg.reshape(n, G, t1)
        lg3[:, :, t0:t1] += _causal_mask(n)[:, None, :]
        lg -= lg.max(axis=1, keepdims=True)
        np.exp(lg, out=lg)
        s = lg.sum(axis=1, keepdims=True)
        return ((lg @ v[:t1]) / s).reshape(n, G, D)

    def attend_selected(self, q, k, v, idx, t0=0, t1=None):
        """Attention of one KV group for queries [t0, t1), restricted to idx [T, topk] (-1
        padded): query t's heads attend to the keys of idx[t] only (a set: a repeated index
        counts once).

        The chunk's queries share most of their keys (sinks, local tokens, hot spots), so the
        logits are computed against the union U of the chunk's selections, [n * G, |U|], with
        -inf where a query did not select a key; |U| <= t1, so this costs at most the dense
        chunk, and gathers each key once instead of once per query."""
        t1 = q.shape[0] if t1 is None else t1
        _, G, D = q.shape
        n = t1 - t0
        rows = idx[t0:t1]
        valid = rows >= 0
        present = np.zeros(q.shape[0], dtype=bool)
        present[rows[valid]] = True
        union = np.flatnonzero(present)
        where = np.zeros(q.shape[0], dtype=np.intp)
        where[union] = np.arange(union.size)
        mask = np.full(n * union.size, -np.inf, dtype=np.float32)
        flat = np.arange(n, dtype=np.intp)[:, None] * union.size + where[rows]
        mask[flat[valid] if not valid.all() else flat.ravel()] = 0.0
        mask = mask.reshape(n, union.size)
        qc = (q[t0:t1] * np.float32(1.0 / math.sqrt(D))).reshape(n * G, D)
        lg = qc @ k[union].T                                # [n*G, |U|]
        lg3 = lg.reshape(n, G, union.size)
        lg3 += mask[:, None, :]
        lg -= lg.max(axis=1, keepdims=True)
        np.exp(lg, out=lg)
        s = lg.sum(axis=1, keepdims=True)
        return ((lg @ v[union]) / s).reshape(n, G, D)

    # ---- the LM head -------------------------------------------------------------------------

    def _logit_chunks(self, hidden, rows):
        for r0 in range(0, len(rows), self.lm_chunk):
            r = rows[r0:r0 + self.lm_chunk]
            yield r0, hidden[r] @ self.w.output.T

    def nll(self, hidden, ids):
        """Negative log-likelihood [T-1] (float64) of ids[t+1] given positions <= t."""
        ids = np.asarray(ids, dtype=np.int64)
        rows = np.arange(len(ids) - 1)
        out = np.empty(len(rows), dtype=np.float64)
        for r0, lg in self._logit_chunks(hidden, rows):
            n = lg.shape[0]
            m = lg.max(axis=1, keepdims=True)
            lse = np.log(np.exp(lg - m).sum(axis=1, dtype=np.float64)) + m[:, 0]
            out[r0:r0 + n] = lse - lg[np.arange(n), ids[r0 + 1:r0 + 1 + n]]
        return out

    def logits(self, hidden, positions):
        """Logits [len(positions), V] float32 at the given positions."""
        rows = np.asarray(positions, dtype=np.int64)
        return np.concatenate([lg for _, lg in self._logit_chunks(hidden, rows)], axis=0)
