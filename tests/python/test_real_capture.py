"""hisa.real: FP8 quantisation (the package's e4m3fn codec against an independent numpy reference,
and against hisa.quantize_fp8) and the case directories written by capture (the layout that
`hisa eval --inputs DIR` reads)."""

import json
import math

import numpy as np
import pytest

import hisa
from hisa.real import capture, fp8


def e4m3fn_values():
    """The float value of each of the 256 e4m3fn codes (NaN for 0x7f/0xff), from the format's
    definition: 1 sign, 4 exponent (bias 7), 3 mantissa bits, no infinities."""
    out = np.empty(256)
    for c in range(256):
        s, e, m = c >> 7, (c >> 3) & 15, c & 7
        if e == 15 and m == 7:
            out[c] = np.nan
        elif e == 0:
            out[c] = (-1) ** s * m / 8 * 2.0 ** -6
        else:
            out[c] = (-1) ** s * (1 + m / 8) * 2.0 ** (e - 7)
    return out


def reference_encode(x):
    """Round to nearest, ties to the even code, saturating at +-448 (finite inputs)."""
    vals = e4m3fn_values()
    codes = np.arange(256)
    finite = ~np.isnan(vals)
    out = np.empty(x.shape, dtype=np.uint8)
    for i, v in enumerate(x.ravel()):
        v = float(np.clip(v, -448.0, 448.0))
        d = np.where(finite, np.abs(vals - v), np.inf)
        best = np.flatnonzero(d == d.min())
        if len(best) > 1:  # a tie: the even mantissa; +-0 -> the code of v's sign
            best = [b for b in best if b % 2 == 0] or best
            if v == 0 or np.all(vals[best] == 0):
                best = [0x80 if math.copysign(1, v) < 0 else 0]
        out.flat[i] = codes[best[0]]
    return out


def test_decoder_matches_the_format():
    vals = e4m3fn_values()
    dec = hisa.decode_fp8(np.arange(256, dtype=np.uint8))
    assert np.array_equal(np.isnan(dec), np.isnan(vals))
    np.testing.assert_array_equal(dec[~np.isnan(vals)], vals[~np.isnan(vals)].astype(np.float32))


def test_encoder_round_to_nearest_even():
    rng = np.random.default_rng(0)
    vals = e4m3fn_values()
    finite = vals[~np.isnan(vals)]
    mids = np.unique((np.sort(finite)[1:] + np.sort(finite)[:-1]) / 2)  # exact ties
    x = np.concatenate([rng.standard_normal(400) * 50, rng.standard_normal(200) * 0.01,
                        finite, mids, [500.0, -1e6, 448.0, 464.0, 0.0, -0.0]]).astype(np.float32)
    np.testing.assert_array_equal(hisa.encode_fp8(x), reference_encode(x))


def test_quantize_matches_hisa_quantize_fp8():
    rng = np.random.default_rng(1)
    q = rng.standard_normal((40, 3, 16)).astype(np.float32)
    k = rng.standard_normal((40, 16)).astype(np.float32)
    q[3, 1] = 0  # an all-zero row: scale 1
    w = np.ones((40, 3), dtype=np.float32)
    q8, k8, k_scale, w8, q_scale = fp8.quantize_indexer(q, k, w)
    lib = hisa.quantize_fp8(hisa.Workload.from_arrays(q, k, w))
    np.testing.assert_array_equal(q8, lib.q)
    np.testing.assert_array_equal(k8, lib.k)
    np.testing.assert_array_equal(k_scale, lib.k_scale)
    np.testing.assert_array_equal(w8, lib.w)
    np.testing.assert_array_equal(w8, q_scale)  # w = 1.0 * q_scale
    assert q_scale[3, 1] == 1.0
    np.testing.assert_array_equal(k_scale, np.abs(k).max(1) / np.float32(448))
    # dequantisation recovers the inputs up to e4m3 precision (3 mantissa bits)
    np.testing.assert_allclose(fp8.dequantize_rows(k8, k_scale), k, rtol=0.07, atol=1e-6)
    np.testing.assert_allclose(fp8.dequantize_rows(q8, q_scale), q, rtol=0.07, atol=1e-6)


def test_write_group_layout(tmp_path):
    rng = np.random.default_rng(2)
    T, G, D = 32, 3, 16
    q = rng.standard_normal((T, G, D)).astype(np.float32)
    k = rng.standard_normal((T, D)).astype(np.float32)
    capture.write_group(str(tmp_path), 5, 1, q, k, {"model": "m", "window": {"start": 0, "end": T}})
    f32 = tmp_path / "f32" / "L05_g1"
    f8 = tmp_path / "fp8" / "L05_g1"
    assert sorted(p.name for p in f32.iterdir()) == ["k.npy", "meta.json", "q.npy", "w.npy"]
    assert sorted(p.name for p in f8.iterdir()) == ["k.npy", "k_scale.npy", "meta.json", "q.npy",
                                                    "q_scale.npy", "w.npy"]
    np.testing.assert_array_equal(np.load(f32 / "q.npy"), q)
    np.testing.assert_array_equal(np.load(f32 / "k.npy"), k)
    w = np.load(f32 / "w.npy")
    assert w.dtype == np.float32 and w.shape == (T, G) and (w == 1).all()
    q8, k8 = np.load(f8 / "q.npy"), np.load(f8 / "k.npy")
    assert q8.dtype == np.uint8 and q8.shape == (T, G, D) and k8.dtype == np.uint8 and k8.shape == (T, D)
    k_scale, q_scale, w8 = (np.load(f8 / n) for n in ("k_scale.npy", "q_scale.npy", "w.npy"))
    assert k_scale.shape == (T,) and q_scale.shape == (T, G) and w8.dtype == np.float32
    np.testing.assert_array_equal(w8, q_scale)
    # the true attention logits are recovered from the FP8 case
    logits = np.einsum("thd,sd->ths", q, k) / math.sqrt(D)
    deq = np.einsum("thd,sd->ths", fp8.dequantize_rows(q8, q_scale), fp8.dequantize_rows(k8, k_scale))
    assert np.abs(deq / math.sqrt(D) - logits).max() < 0.1 * np.abs(logits).max()
    meta = json.loads((f8 / "meta.json").read_text())
    assert meta["layer"] == 5 and meta["group"] == 1 and meta["heads"] == [3, 4, 5]
    assert meta["attn_scale"] == 0.25 and meta["dtype"] == "fp8_e4m3" and "uniform" in meta["w"]
    assert json.loads((f32 / "meta.json").read_text())["dtype"] == "f32"
    # the case runs through the selectors as written (one causal sequence)
    idx = hisa.hisa_topk(q8, (k8, k_scale), w8, topk=8, block_size=4, num_blocks=3)
    assert idx.shape == (T, 8)


def test_capture_tiny_model(tmp_path):
    pytest.importorskip("gguf")
    pytest.importorskip("tokenizers")
    import real_tiny
    from hisa.real import gguf_model, model

    path = tmp_path / "tiny.gguf"
    real_tiny.write_gguf(path)
    llama = model.Llama(gguf_model.load_gguf(path))
    ids = np.arange(3, 3 + 40) % 270
    seen = {}
    llama.forward(ids, on_qk=lambda l, qs, ks: seen.setdefault(l, (qs, ks)))
    out = tmp_path / "cap"
    written, _ = capture.capture(llama, ids, str(out), {"model": "tiny"}, layers=[1],
                                 log=lambda m: None)
    assert written == ["L01_g0", "L01_g1"]
    assert sorted(p.name for p in (out / "f32").iterdir()) == ["L01_g0", "L01_g1"]
    np.testing.assert_array_equal(np.load(out / "f32/L01_g1/q.npy"), seen[1][0][1])
    np.testing.assert_array_equal(np.load(out / "f32/L01_g1/k.npy"), seen[1][1][1])
    all_layers, _ = capture.capture(llama, ids, str(tmp_path / "all"), {}, log=lambda m: None)
    assert all_layers == ["L00_g0", "L00_g1", "L01_g0", "L01_g1"]
