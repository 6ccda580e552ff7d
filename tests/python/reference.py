"""A small brute-force reading of SPEC.md in numpy (float64), for parity tests only.

It is written for clarity, row by row; use it on small problems. On "exact" inputs (small
integers, power-of-two scales and block sizes, see `exact_problem`) every f32 sum the library
does is exact, so its answers must equal these bit for bit, ties included.
"""

import numpy as np


def decode(x, dtype):
    """Raw q/k elements -> float64 values (f32, bf16 bits, FP8 e4m3fn bytes)."""
    import hisa

    if dtype == "bf16":
        return hisa.decode_bf16(x).astype(np.float64)
    if dtype == "fp8_e4m3":
        return hisa.decode_fp8(x).astype(np.float64)
    return x.astype(np.float64)


def ranges(T, S, ks, ke):
    if ks is None:
        return [(0, S - T + t + 1) for t in range(T)]
    return [(int(a), int(b)) for a, b in zip(ks, ke)]


def rank(tokens, scores, limit):
    """tokens by score descending, NaN last, ties to the larger index; at most `limit`."""
    tokens = np.asarray(tokens, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    nan = np.isnan(scores)
    order = np.lexsort((-tokens, -np.where(nan, 0.0, scores), nan))
    return tokens[order][:limit]


def token_scores(q_t, k, k_scale, w_t, heads=None):
    """I(t, s) for every s (or I_A with `heads`): k_scale * sum_h w * relu(q_h . k_s)."""
    hs = range(q_t.shape[0]) if heads is None else heads
    total = np.zeros(k.shape[0])
    for h in hs:
        total += w_t[h] * np.maximum(k @ q_t[h], 0.0)
    return total * k_scale


def pooled(k, k_scale, ks, B, j):
    rows = slice(ks + j * B, ks + (j + 1) * B)
    return (k[rows] * k_scale[rows, None]).mean(axis=0)


def block_score(q_t, w_t, k, k_scale, ks, B, j, summary):
    """J(t, j): mean pooled key, or Quest's bound sum_d max(q_d lo_d, q_d hi_d) per head."""
    if summary == "mean":
        return float(np.sum(w_t * np.maximum(q_t @ pooled(k, k_scale, ks, B, j), 0.0)))
    assert summary == "bound", summary
    rows = k[ks + j * B: ks + (j + 1) * B] * k_scale[ks + j * B: ks + (j + 1) * B, None]
    lo, hi = rows.min(axis=0), rows.max(axis=0)
    bound = np.maximum(q_t * lo, q_t * hi).sum(axis=1)
    return float(np.sum(w_t * np.maximum(bound, 0.0)))


def kept_blocks(q_t, w_t, k, k_scale, ks, n, B, m, summary="mean"):
    nb = -(-n // B)
    if nb <= m:
        return list(range(nb))
    middle = np.arange(1, nb - 1)
    J = [block_score(q_t, w_t, k, k_scale, ks, B, j, summary) for j in middle]
    best = rank(middle, J, m - 2)
    return [0, *best.tolist(), nb - 1]


def routed_heads(q_t, w_t, k, k_scale, ks, n, B, heads):
    nb = -(-n // B)
    H = q_t.shape[0]
    if nb - 1 == 0:
        return list(range(H))
    kbar = np.stack([pooled(k, k_scale, ks, B, j) for j in range(nb - 1)])
    r = [abs(w_t[h]) * np.maximum(kbar @ q_t[h], 0.0).sum() for h in range(H)]
    return rank(np.arange(H), r, heads).tolist()


def select(method, q, k, w, k_scale=None, ks=None, ke=None, *, dtype="f32", topk=2048,
           block_size=64, num_blocks=64, heads=8, candidates=1, block_summary="mean"):
    """idx [T, topk] int32 per SPEC.md."""
    q, k = decode(q, dtype), decode(k, dtype)
    w = w.astype(np.float64)
    T, H, _ = q.shape
    S = k.shape[0]
    scale = np.ones(S) if k_scale is None else k_scale.astype(np.float64)
    out = np.full((T, topk), -1, dtype=np.int32)
    B = block_size
    for t, (a, b) in enumerate(ranges(T, S, ks, ke)):
        n = b - a
        I = token_scores(q[t], k, scale, w[t])
        visible = np.arange(a, b)
        if n <= topk:
            picked = rank(visible, I[visible], topk)
        elif method == "flat":
            picked = rank(visible, I[visible], topk)
        elif method in ("hisa", "block"):
            m = num_blocks if method == "hisa" else topk // B
            blocks = kept_blocks(q[t], w[t], k, scale, a, n, B, m, block_summary)
            cand = np.concatenate([np.arange(a + j * B, min(b, a + (j + 1) * B)) for j in blocks])
            picked = rank(cand, I[cand], topk)
        elif method == "hisa_misa":
            blocks = sorted(kept_blocks(q[t], w[t], k, scale, a, n, B, num_blocks, block_summary))
            cand = np.concatenate([np.arange(a + j * B, min(b, a + (j + 1) * B)) for j in blocks])
            if candidates * topk < len(cand):
                active = routed_heads(q[t], w[t], k, scale, a, n, B, heads)
                IA = token_scores(q[t], k, scale, w[t], heads=active)
                cand = rank(cand, IA[cand], candidates * topk)
            picked = rank(cand, I[cand], topk)
        elif method == "misa":
            active = routed_heads(q[t], w[t], k, scale, a, n, B, heads)
            IA = token_scores(q[t], k, scale, w[t], heads=active)
            cand = rank(visible, IA[visible], candidates * topk)
            picked = rank(cand, I[cand], topk)
        else:
            raise ValueError(method)
        out[t, : len(picked)] = picked
    return out


def exact_problem(rng, T, S, H, D, *, dtype="f32", scales=True, packed=False):
    """Inputs on which f32 arithmetic is exact: integer q, k in [-3, 3], w in quarters,
    k_scale powers of two. Many exact ties, so tie-breaking is exercised too.
    Returns dict(q, k, w, k_scale, ks, ke) with q/k raw elements of `dtype`."""
    import hisa

    q = rng.integers(-3, 4, size=(T, H, D)).astype(np.float32)
    k = rng.integers(-3, 4, size=(S, D)).astype(np.float32)
    w = (rng.integers(-4, 5, size=(T, H)) * 0.25).astype(np.float32)
    k_scale = (2.0 ** rng.integers(-2, 3, size=S)).astype(np.float32) if scales else None
    ks = ke = None
    if packed:  # two sequences side by side, causal inside each, sharing the T queries
        half = S // 2
        t1 = T // 2
        ks = np.array([0] * t1 + [half] * (T - t1), dtype=np.int32)
        ke = np.array([half - t1 + t + 1 for t in range(t1)]
                      + [S - (T - t1) + i + 1 for i in range(T - t1)], dtype=np.int32)
    if dtype == "bf16":
        q, k = hisa.encode_bf16(q), hisa.encode_bf16(k)
    elif dtype == "fp8_e4m3":
        q, k = hisa.encode_fp8(q), hisa.encode_fp8(k)
    return dict(q=q, k=k, w=w, k_scale=k_scale, ks=ks, ke=ke)
