"""The methods and knobs beyond plain HISA/MISA (docs/semantics.md): block summaries, proj and
hisa-misa through the Python API; exact parity with reference.py where its float64 arithmetic
is exact (mean and bound summaries, hisa-misa), pass-through checks for the rest."""

import numpy as np
import pytest

import hisa
from conftest import SMALL, has_torch, needs_torch
from reference import exact_problem, select

KNOBS = dict(topk=32, block_size=8, num_blocks=4)


def kv_of(p):
    return p["k"] if p["k_scale"] is None else (p["k"], p["k_scale"])


@pytest.mark.parametrize("packed", [False, True], ids=["causal", "packed"])
@pytest.mark.parametrize("dtype", ["f32", "fp8_e4m3"])
def test_bound_summary_matches_reference(rng, dtype, packed):
    p = exact_problem(rng, **SMALL, dtype=dtype, packed=packed)
    args = (p["q"], kv_of(p), p["w"], p["ks"], p["ke"])
    want = select("hisa", p["q"], p["k"], p["w"], p["k_scale"], p["ks"], p["ke"], dtype=dtype,
                  block_summary="bound", **KNOBS)
    np.testing.assert_array_equal(hisa.hisa_topk(*args, block_summary="bound", **KNOBS), want)
    want = select("block", p["q"], p["k"], p["w"], p["k_scale"], p["ks"], p["ke"], dtype=dtype,
                  topk=32, block_size=8, block_summary="bound")
    np.testing.assert_array_equal(
        hisa.block_topk(*args, topk=32, block_size=8, block_summary="bound"), want)


@pytest.mark.parametrize("summary", ["mean", "bound"])
@pytest.mark.parametrize("heads,candidates", [(1, 1), (2, 2)])
def test_hisa_misa_matches_reference(rng, summary, heads, candidates):
    p = exact_problem(rng, **SMALL, dtype="bf16", packed=True)
    knobs = dict(KNOBS, num_blocks=6, heads=heads, candidates=candidates, block_summary=summary)
    got = hisa.hisa_misa_topk(p["q"], kv_of(p), p["w"], p["ks"], p["ke"], **knobs)
    want = select("hisa_misa", p["q"], p["k"], p["w"], p["k_scale"], p["ks"], p["ke"],
                  dtype="bf16", **knobs)
    np.testing.assert_array_equal(got, want)


def test_spec_topk_is_the_named_call(rng):
    wl = hisa.quantize_fp8(hisa.make_structured(T=64, S=400, H=4, D=32, topics=5, segment=40,
                                                needles=2, seed=3))
    cases = {
        "hisa:B=16,m=6,summary=emax": hisa.hisa_topk(*wl.args(), topk=48, block_size=16,
                                                     num_blocks=6, block_summary="emax"),
        "proj:d=8,c=3": hisa.proj_topk(*wl.args(), topk=48, proj_dim=8, candidates=3),
        "hisa-misa:B=16,m=12,a=2,c=2": hisa.hisa_misa_topk(*wl.args(), topk=48, block_size=16,
                                                           num_blocks=12, heads=2, candidates=2),
        "misa:B=32,a=1,c=4": hisa.misa_topk(*wl.args(), topk=48, block_size=32, heads=1,
                                            candidates=4),
        "flat": hisa.flat_topk(*wl.args(), topk=48),
    }
    for spec, want in cases.items():
        np.testing.assert_array_equal(hisa.spec_topk(spec, *wl.args(), topk=48), want, err_msg=spec)
    flat = cases["flat"]
    # The approximate ones differ from flat here, and proj with many candidates is close to it.
    assert hisa.iou(cases["proj:d=8,c=3"], flat).mean() > 0.5
    assert hisa.spec_knobs("proj:d=8") == ("proj", dict(proj_dim=8, candidates=1, block_size=64))


def test_shared_candidates_only_add_candidates(rng):
    wl = hisa.make_structured(T=96, S=600, H=4, D=32, topics=5, segment=40, needles=2, seed=8)
    flat = hisa.flat_topk(*wl.args(), topk=48)
    own = hisa.hisa_topk(*wl.args(), topk=48, block_size=16, num_blocks=5)
    shared = hisa.hisa_topk(*wl.args(), topk=48, block_size=16, num_blocks=5, shared_candidates=16)
    assert (hisa.recall(shared, flat) >= hisa.recall(own, flat)).all()
    assert hisa.recall(shared, flat).mean() > hisa.recall(own, flat).mean()
    np.testing.assert_array_equal(hisa.spec_topk("hisa:B=16,m=5,Q=16", *wl.args(), topk=48), shared)
    with pytest.raises(ValueError, match="shared_candidates"):
        hisa.hisa_topk(*wl.args(), topk=48, shared_candidates=0)


def test_bad_knobs_name_the_argument(rng):
    p = exact_problem(rng, **SMALL)
    args = (p["q"], kv_of(p), p["w"])
    with pytest.raises(ValueError, match="block_summary"):
        hisa.hisa_topk(*args, topk=32, block_summary="max")
    with pytest.raises(ValueError, match="proj_dim"):
        hisa.proj_topk(*args, topk=32, proj_dim=0)
    with pytest.raises(ValueError, match="proj_dim"):
        hisa.proj_topk(*args, topk=32, proj_dim=SMALL["D"] + 1)
    with pytest.raises(ValueError, match="heads"):
        hisa.hisa_misa_topk(*args, topk=32, heads=SMALL["H"] + 1)
    with pytest.raises(ValueError, match="num_blocks"):
        hisa.hisa_misa_topk(*args, topk=32, num_blocks=1)
    with pytest.raises(ValueError, match="spec"):
        hisa.spec_topk("hisa:a=3", *args, topk=32)
    with pytest.raises(RuntimeError, match="CPU backend|CUDA"):
        hisa.proj_topk(*args, topk=32, backend="cuda")


@needs_torch
def test_torch_ops_take_the_new_knobs(rng):
    import torch

    p = exact_problem(rng, **SMALL)
    q, k, w = (torch.from_numpy(np.ascontiguousarray(x)) for x in (p["q"], p["k"], p["w"]))
    scale = torch.from_numpy(p["k_scale"])
    got = torch.ops.hisa.proj_topk(q, k, scale, w, None, None, topk=32, proj_dim=4, candidates=2)
    want = hisa.proj_topk(p["q"], kv_of(p), p["w"], topk=32, proj_dim=4, candidates=2)
    np.testing.assert_array_equal(got.numpy(), want)
    got = torch.ops.hisa.hisa_topk(q, k, scale, w, None, None, topk=32, block_size=8, num_blocks=4,
                                   block_summary="bound")
    want = hisa.hisa_topk(p["q"], kv_of(p), p["w"], block_summary="bound", **KNOBS)
    np.testing.assert_array_equal(got.numpy(), want)
