"""hisa.*_topk on numpy inputs against the brute-force reading of SPEC.md (reference.py)."""

import numpy as np
import pytest

import hisa
from conftest import DTYPES, KNOBS, METHODS, SMALL, call, knobs_for
from reference import exact_problem, select


def kv_of(p):
    return p["k"] if p["k_scale"] is None else (p["k"], p["k_scale"])


@pytest.mark.parametrize("packed", [False, True], ids=["causal", "packed"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", METHODS)
def test_matches_reference(rng, method, dtype, packed):
    p = exact_problem(rng, **SMALL, dtype=dtype, packed=packed)
    kw = knobs_for(method)
    got = call(method, p["q"], kv_of(p), p["w"], p["ks"], p["ke"], **kw)
    want = select(method, p["q"], p["k"], p["w"], p["k_scale"], p["ks"], p["ke"], dtype=dtype, **kw)
    assert got.dtype == np.int32 and got.shape == (SMALL["T"], KNOBS["topk"])
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("method", METHODS)
def test_methods_differ_from_flat_on_these_shapes(rng, method):
    # Guards the parity test above: with these knobs the approximate methods are not flat.
    p = exact_problem(rng, **SMALL)
    got = call(method, p["q"], kv_of(p), p["w"], **knobs_for(method))
    flat = hisa.flat_topk(p["q"], kv_of(p), p["w"], topk=KNOBS["topk"])
    if method == "flat":
        np.testing.assert_array_equal(got, flat)
    else:
        assert hisa.iou(got, flat).mean() < 1.0


@pytest.mark.parametrize("method", METHODS)
def test_short_rows_return_every_visible_token(rng, method):
    p = exact_problem(rng, **SMALL)
    kw = dict(knobs_for(method), topk=200)  # > S: every row holds all of [ks, ke), -1 after
    got = call(method, p["q"], kv_of(p), p["w"], **kw)
    T, S = SMALL["T"], SMALL["S"]
    for t in range(T):
        n = S - T + t + 1
        assert sorted(got[t, :n].tolist()) == list(range(n))
        assert (got[t, n:] == -1).all()
    np.testing.assert_array_equal(got, select("flat", p["q"], p["k"], p["w"], p["k_scale"], topk=200))


@pytest.mark.parametrize("dtype", DTYPES)
def test_plain_misa_matches_reference(rng, dtype):
    p = exact_problem(rng, **SMALL, dtype=dtype, packed=True)
    kw = dict(topk=32, block_size=8, heads=1, candidates=1)
    got = hisa.misa_topk(p["q"], kv_of(p), p["w"], p["ks"], p["ke"], **kw)
    want = select("misa", p["q"], p["k"], p["w"], p["k_scale"], p["ks"], p["ke"], dtype=dtype, **kw)
    np.testing.assert_array_equal(got, want)


def test_hisa_keeping_every_block_is_flat(rng):
    p = exact_problem(rng, **SMALL)
    flat = hisa.flat_topk(p["q"], kv_of(p), p["w"], topk=32)
    got = hisa.hisa_topk(p["q"], kv_of(p), p["w"], topk=32, block_size=8, num_blocks=20)
    np.testing.assert_array_equal(got, flat)


def test_misa_with_every_head_is_flat(rng):
    p = exact_problem(rng, **SMALL)
    flat = hisa.flat_topk(p["q"], kv_of(p), p["w"], topk=32)
    got = hisa.misa_topk(p["q"], kv_of(p), p["w"], topk=32, block_size=8, heads=SMALL["H"])
    np.testing.assert_array_equal(got, flat)


def test_threads_and_out_do_not_change_the_result(rng):
    p = exact_problem(rng, **SMALL, packed=True)
    base = hisa.hisa_topk(p["q"], kv_of(p), p["w"], p["ks"], p["ke"], topk=32, block_size=8,
                          num_blocks=4, threads=1)
    out = np.full((SMALL["T"], 32), 7, dtype=np.int32)
    got = hisa.hisa_topk(p["q"], kv_of(p), p["w"], p["ks"], p["ke"], topk=32, block_size=8,
                         num_blocks=4, threads=2, out=out)
    assert got is out
    np.testing.assert_array_equal(out, base)


def test_layout_conveniences(rng):
    """Non-contiguous inputs (copied), k_scale [S, 1], int64 ks/ke (converted), ml_dtypes-free
    bf16/FP8 as uint16/uint8: all give the same answer as the plain layout."""
    p = exact_problem(rng, **SMALL, packed=True)
    want = hisa.flat_topk(p["q"], kv_of(p), p["w"], p["ks"], p["ke"], topk=32)
    q_strided = np.ascontiguousarray(p["q"].transpose(0, 2, 1)).transpose(0, 2, 1)
    assert not q_strided.flags.c_contiguous
    k_fortran = np.asfortranarray(p["k"])
    got = hisa.flat_topk(q_strided, (k_fortran, p["k_scale"][:, None]), p["w"],
                         p["ks"].astype(np.int64), p["ke"].astype(np.int64), topk=32)
    np.testing.assert_array_equal(got, want)


def test_list_kv_and_plain_k(rng):
    p = exact_problem(rng, **SMALL, scales=False)
    a = hisa.flat_topk(p["q"], p["k"], p["w"], topk=32)
    b = hisa.flat_topk(p["q"], [p["k"], np.ones(SMALL["S"], np.float32)], p["w"], topk=32)
    np.testing.assert_array_equal(a, b)


def test_no_queries(rng):
    p = exact_problem(rng, **SMALL)
    got = hisa.hisa_topk(p["q"][:0], kv_of(p), p["w"][:0], topk=32, block_size=8, num_blocks=4)
    assert got.shape == (0, 32) and got.dtype == np.int32


def test_nan_scores_rank_last_when_allowed(rng):
    p = exact_problem(rng, **SMALL, scales=False)
    k = p["k"].copy()
    k[5, 0] = np.nan  # key 5 scores NaN for every query that sees it
    got = hisa.flat_topk(p["q"], k, p["w"], topk=200, allow_nonfinite=True)
    T, S = SMALL["T"], SMALL["S"]
    for t in range(T):
        n = S - T + t + 1
        assert got[t, n - 1] == 5  # last of the n visible tokens
    with pytest.raises(ValueError, match="NaN"):
        hisa.flat_topk(p["q"], k, p["w"], topk=200)


def test_workspace_bytes_is_zero_on_the_cpu(rng):
    p = exact_problem(rng, **SMALL)
    assert hisa.workspace_bytes(p["q"], kv_of(p), p["w"], method="hisa", device="cpu") == 0


def test_other_dlpack_producers_on_the_host(rng):
    # Any object with __dlpack__ in host memory takes the numpy path (zero copy).
    p = exact_problem(rng, **SMALL, scales=False)

    class Foreign:
        def __init__(self, a):
            self.a = a

        def __dlpack__(self, **kw):
            return self.a.__dlpack__(**kw)

        def __dlpack_device__(self):
            return self.a.__dlpack_device__()

    want = hisa.flat_topk(p["q"], p["k"], p["w"], topk=32)
    got = hisa.flat_topk(Foreign(p["q"]), Foreign(p["k"]), Foreign(p["w"]), topk=32)
    assert isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got, want)
