"""FP8 e4m3 quantisation as DSA does it, with the hisa package's own codec (hisa.encode_fp8:
round to nearest even, saturating at +-448; the encoder of the C++ library and of
hisa.quantize_fp8):

  * keys: one scale per token, k_scale[s] = amax(|k[s, :]|) / 448 (1 for an all-zero row);
  * queries: one scale per (token, head), q_scale[t, h] = amax(|q[t, h, :]|) / 448, folded into
    the head weight (w[t, h] * q_scale[t, h]) as DSA folds it.

Bitwise the same as hisa.quantize_fp8 on the same float32 inputs (tested).
"""

import numpy as np

import hisa

FP8_MAX = np.float32(448.0)


def quantize_rows(x):
    """(codes uint8 [..., D], scale float32 [...]) for float32 x [..., D]: per-row
    scale = amax / 448 (1 where the row is all zero), codes = e4m3fn(x / scale)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    amax = np.max(np.abs(x), axis=-1)
    scale = np.where(amax > 0, amax / FP8_MAX, np.float32(1.0)).astype(np.float32)
    codes = hisa.encode_fp8(x / scale[..., None])
    return codes, scale


def dequantize_rows(codes, scale):
    """float32 codes * scale (the inverse of quantize_rows up to rounding)."""
    return hisa.decode_fp8(codes) * np.asarray(scale, dtype=np.float32)[..., None]


def quantize_indexer(q, k, w):
    """DSA's FP8 indexer inputs from float32 q [T, H, D], k [S, D], w [T, H]:
    (q codes, k codes, k_scale [S], w * q_scale [T, H], q_scale [T, H])."""
    q8, q_scale = quantize_rows(q)
    k8, k_scale = quantize_rows(k)
    w8 = (np.asarray(w, dtype=np.float32) * q_scale).astype(np.float32)
    return q8, k8, k_scale, w8, q_scale
