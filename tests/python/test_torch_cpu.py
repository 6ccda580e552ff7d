"""torch CPU tensors, the torch.library ops and torch.compile (skipped without torch)."""

import numpy as np
import pytest

import hisa
from conftest import DTYPES, KNOBS, METHODS, SMALL, call, has_torch, knobs_for, needs_torch
from reference import exact_problem

pytestmark = needs_torch
if has_torch:
    import torch

TORCH_DTYPE = {"f32": "float32", "bf16": "bfloat16", "fp8_e4m3": "float8_e4m3fn"}


def torch_args(p, dtype, device="cpu"):
    """numpy exact problem -> torch tensors with real bf16 / FP8 dtypes."""
    element = getattr(torch, TORCH_DTYPE[dtype])

    def typed(a):
        t = torch.from_numpy(a.view(np.int16) if a.dtype == np.uint16 else a)
        return t.view(element).to(device)

    def plain(a):
        return None if a is None else torch.from_numpy(a).to(device)

    kv = (typed(p["k"]), plain(p["k_scale"]))
    return typed(p["q"]), kv, plain(p["w"]), plain(p["ks"]), plain(p["ke"])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", METHODS)
def test_torch_cpu_equals_numpy(rng, method, dtype):
    p = exact_problem(rng, **SMALL, dtype=dtype, packed=True)
    kw = knobs_for(method)
    want = call(method, p["q"], (p["k"], p["k_scale"]), p["w"], p["ks"], p["ke"], **kw)
    got = call(method, *torch_args(p, dtype), **kw)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.int32 and got.device.type == "cpu"
    np.testing.assert_array_equal(got.numpy(), want)


def test_eager_only_options_take_the_direct_path(rng):
    p = exact_problem(rng, **SMALL)
    q, kv, w, _, _ = torch_args(p, "f32")
    want = hisa.hisa_topk(q, kv, w, topk=32, block_size=8, num_blocks=4)
    out = torch.full((SMALL["T"], 32), 5, dtype=torch.int32)
    got = hisa.hisa_topk(q, kv, w, topk=32, block_size=8, num_blocks=4, out=out, threads=1)
    assert got is out
    assert torch.equal(out, want)


def test_non_contiguous_tensors_are_copied(rng):
    p = exact_problem(rng, **SMALL)
    q, kv, w, _, _ = torch_args(p, "bf16")
    want = hisa.flat_topk(q, kv, w, topk=32)
    q_t = q.transpose(1, 2).contiguous().transpose(1, 2)
    w_t = w.t().contiguous().t()
    assert not q_t.is_contiguous() and not w_t.is_contiguous()
    assert torch.equal(hisa.flat_topk(q_t, (kv[0], kv[1][:, None]), w_t, topk=32), want)


def test_errors_name_the_argument(rng):
    p = exact_problem(rng, **SMALL, packed=True)
    q, kv, w, ks, ke = torch_args(p, "f32")
    with pytest.raises(TypeError) as e:
        hisa.flat_topk(q, kv, p["w"], ks, ke)  # numpy among torch tensors
    assert e.value.argument == "weights"
    with pytest.raises(TypeError) as e:
        hisa.flat_topk(q.half(), (kv[0].half(), kv[1]), w, ks, ke)
    assert e.value.argument == "q"
    with pytest.raises(TypeError) as e:
        hisa.flat_topk(q, (kv[0].bfloat16(), kv[1]), w, ks, ke)
    assert e.value.argument == "kv"
    with pytest.raises(TypeError) as e:
        hisa.flat_topk(q, kv, w, ks.long(), ke.long(), out=torch.empty(SMALL["T"], 8, dtype=torch.int64), topk=8)
    assert e.value.argument == "out"
    bad = ke.clone()
    bad[0] = SMALL["S"] + 3
    with pytest.raises(ValueError) as e:
        hisa.flat_topk(q, kv, w, ks, bad)
    assert e.value.argument == "cu_seq_len_k_end"
    with pytest.raises(ValueError) as e:  # raised inside the op too
        torch.ops.hisa.flat_topk(q, kv[0], kv[1], w, ks, bad, 8)
    assert e.value.argument == "cu_seq_len_k_end"


def test_ops_are_registered():
    for name, extra in (("flat_topk", []),
                        ("hisa_topk", ["block_size", "num_blocks", "block_summary",
                                       "shared_candidates"]),
                        ("block_topk", ["block_size", "block_summary"]),
                        ("misa_topk", ["block_size", "heads", "candidates"]),
                        ("proj_topk", ["proj_dim", "candidates", "block_size"]),
                        ("hisa_misa_topk", ["block_size", "num_blocks", "heads", "candidates",
                                            "block_summary"])):
        schema = getattr(torch.ops.hisa, name).default._schema
        names = [a.name for a in schema.arguments]
        assert names[:6] == ["q", "k", "k_scale", "weights", "ks", "ke"], names
        assert names[6:] == ["topk", *extra, "allow_nonfinite", "check_values"], names
        assert len(schema.returns) == 1 and not schema.is_mutable


@pytest.mark.parametrize("method", METHODS)
def test_opcheck(rng, method):
    """Schema, fake (meta) kernel and dispatch registrations agree (torch.library.opcheck)."""
    p = exact_problem(rng, T=8, S=48, H=2, D=8, packed=True)
    q, (k, k_scale), w, ks, ke = torch_args(p, "f32")
    knobs = dict(topk=16, block_size=8, num_blocks=3, heads=1, candidates=2)
    kw = knobs_for(method, knobs)
    op = getattr(torch.ops.hisa, f"{method}_topk").default
    torch.library.opcheck(op, (q, k, k_scale, w, ks, ke), kw)
    torch.library.opcheck(op, (q, k, None, w, None, None), kw)


def test_fake_tensor_shapes():
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        q = torch.empty(5, 4, 16, dtype=torch.float8_e4m3fn)
        k = torch.empty(40, 16, dtype=torch.float8_e4m3fn)
        out = torch.ops.hisa.hisa_topk(q, k, torch.empty(40), torch.empty(5, 4), None, None, 24)
        assert out.shape == (5, 24) and out.dtype == torch.int32


def test_torch_compile_fullgraph(rng):
    """The public function traces into one graph around the custom op (no graph break)."""
    p = exact_problem(rng, **SMALL, dtype="fp8_e4m3", packed=True)
    q, kv, w, ks, ke = torch_args(p, "fp8_e4m3")

    def indexer_step(q, kv, w, ks, ke):
        idx = hisa.hisa_topk(q, kv, w, ks, ke, topk=32, block_size=8, num_blocks=4)
        return idx, (idx >= 0).sum(dim=1)

    torch._dynamo.reset()
    compiled = torch.compile(indexer_step, backend="aot_eager", fullgraph=True)
    idx, count = compiled(q, kv, w, ks, ke)
    want, want_count = indexer_step(q, kv, w, ks, ke)
    assert torch.equal(idx, want) and torch.equal(count, want_count)

