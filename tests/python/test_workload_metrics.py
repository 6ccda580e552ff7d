"""Workload generators, the FP8/bf16 codecs and the fidelity metrics."""

import numpy as np
import pytest

import hisa
from conftest import SMALL
from reference import exact_problem, token_scores, decode


def test_generators_are_seeded():
    a = hisa.make_gaussian(T=16, S=48, H=4, D=8, seed=5)
    b = hisa.make_gaussian(T=16, S=48, H=4, D=8, seed=5)
    c = hisa.make_gaussian(T=16, S=48, H=4, D=8, seed=6)
    np.testing.assert_array_equal(a.q, b.q)
    np.testing.assert_array_equal(a.k, b.k)
    assert not np.array_equal(a.q, c.q)
    assert (a.T, a.S, a.H, a.D, a.dtype) == (16, 48, 4, 8, "f32")
    assert a.q.shape == (16, 4, 8) and a.k.shape == (48, 8) and a.w.shape == (16, 4)
    assert a.q.dtype == np.float32 and a.ks is None and a.k_scale is None
    assert np.isfinite(a.q).all() and a.q.std() > 0.5


def test_structured_needles_are_selected_by_flat():
    wl = hisa.make_structured(T=256, S=1024, H=8, D=32, topics=8, segment=64, needles=6, seed=2)
    assert wl.needles.shape == (6, 2) and wl.needles.dtype == np.int64
    idx = hisa.flat_topk(*wl.args(), topk=64)
    for t, s in wl.needles:  # (query row, key row)
        assert s in idx[t], (t, s)


def test_quantize_and_bf16_keep_the_shapes():
    wl = hisa.make_structured(T=64, S=256, H=4, D=16, topics=4, segment=32, needles=2, seed=3)
    f8 = hisa.quantize_fp8(wl)
    assert f8.dtype == "fp8_e4m3" and f8.q.dtype == np.uint8 and f8.k.dtype == np.uint8
    assert f8.k_scale.shape == (256,) and f8.k_scale.dtype == np.float32
    assert isinstance(f8.kv, tuple)
    bf = hisa.to_bf16(wl)
    assert bf.dtype == "bf16" and bf.q.dtype == np.uint16
    np.testing.assert_allclose(hisa.decode_bf16(bf.q), wl.q, rtol=2**-8)
    flat32 = hisa.flat_topk(*wl.args(), topk=32)
    for low in (f8, bf):
        idx = hisa.flat_topk(*low.args(), topk=32)
        assert hisa.recall(idx, flat32).mean() > 0.8  # same problem, lower precision


def test_pack_sequences():
    parts = [hisa.make_gaussian(T=8, S=40, H=2, D=8, seed=s) for s in (1, 2)]
    packed = hisa.pack_sequences(parts)
    assert packed.T == 16 and packed.S == 80
    assert packed.ks[0] == 0 and packed.ks[8] == 40 and packed.ke[15] == 80
    idx = hisa.flat_topk(*packed.args(), topk=64)
    assert (idx[8:][idx[8:] >= 0] >= 40).all()  # second sequence sees only its own keys


def test_from_arrays_round_trip(rng):
    p = exact_problem(rng, **SMALL, dtype="fp8_e4m3", packed=True)
    wl = hisa.Workload.from_arrays(p["q"], (p["k"], p["k_scale"]), p["w"], p["ks"], p["ke"])
    assert wl.dtype == "fp8_e4m3"
    for name in ("q", "k", "w", "k_scale", "ks", "ke"):
        np.testing.assert_array_equal(getattr(wl, name), p[name])
    del p  # the workload owns copies
    assert hisa.flat_topk(*wl.args(), topk=8).shape == (SMALL["T"], 8)


def test_fp8_codec_round_trips_every_code():
    codes = np.arange(256, dtype=np.uint8)
    values = hisa.decode_fp8(codes)
    nan = (codes & 0x7F) == 0x7F
    assert np.isnan(values[nan]).all() and np.isfinite(values[~nan]).all()
    np.testing.assert_array_equal(hisa.encode_fp8(values[~nan]), codes[~nan])
    assert values[~nan].max() == 448 and hisa.encode_fp8(np.float32([1e6]))[0] == 0x7E
    np.testing.assert_array_equal(hisa.decode_fp8(codes.reshape(16, 16)).reshape(-1), values)


def test_bf16_codec():
    x = np.float32([1.0, -2.5, 2.0**127, 1.0 + 2**-9])
    bits = hisa.encode_bf16(x)
    assert bits.dtype == np.uint16
    np.testing.assert_array_equal(hisa.decode_bf16(bits)[:3], x[:3])
    assert hisa.decode_bf16(bits)[3] == 1.0  # ties to even


def test_iou_and_recall_by_hand():
    flat = np.array([[1, 2, 3, 4], [5, 6, -1, -1], [-1, -1, -1, -1]], np.int32)
    approx = np.array([[4, 3, 9, 8], [6, 5, -1, -1], [-1, -1, -1, -1]], np.int32)
    np.testing.assert_allclose(hisa.iou(approx, flat), [2 / 6, 1.0, 1.0])
    np.testing.assert_allclose(hisa.recall(approx, flat), [0.5, 1.0, 1.0])
    s = hisa.summarize([0.5, 1.0, 0.25, 1.0])
    assert s["rows"] == 4 and s["min"] == 0.25 and s["mean"] == pytest.approx(0.6875)
    assert s["p1"] == 0.25


def test_mass_recall_matches_a_brute_force(rng):
    p = exact_problem(rng, **SMALL, packed=True)
    kv = (p["k"], p["k_scale"])
    flat = hisa.flat_topk(p["q"], kv, p["w"], p["ks"], p["ke"], topk=32)
    approx = hisa.hisa_topk(p["q"], kv, p["w"], p["ks"], p["ke"], topk=32, block_size=8, num_blocks=4)
    got = hisa.mass_recall(p["q"], kv, p["w"], p["ks"], p["ke"], approx, flat)
    np.testing.assert_allclose(hisa.mass_recall(p["q"], kv, p["w"], p["ks"], p["ke"], flat, flat), 1.0)
    q, k = decode(p["q"], "f32"), decode(p["k"], "f32")
    for t in range(SMALL["T"]):
        I = np.maximum(token_scores(q[t], k, p["k_scale"].astype(np.float64), p["w"][t].astype(np.float64)), 0)
        a, f = approx[t][approx[t] >= 0], flat[t][flat[t] >= 0]
        want = 1.0 if I[f].sum() == 0 else I[a].sum() / I[f].sum()
        assert got[t] == pytest.approx(want, rel=1e-6)
