"""hisa.decode_topk / build_pooled / update_pooled (SPEC.md "Decode"): on numpy inputs, every
decode row equals the prefill selection (hisa.*_topk on the sequence's contiguous keys) of the
same query at the same position; the pooled cache after appends equals one built from scratch,
bit for bit; bad inputs raise ArgumentError naming the argument. With torch + CUDA: the GPU
agrees with the CPU (bitwise on the ids where the portable kernels run, the torch op under a
CUDA graph)."""

import numpy as np
import pytest

import hisa
from conftest import has_cuda, needs_cuda, needs_torch, torch

H, D, P = 4, 32, 16


def make_paged(rng, lens, next_n=2, dtype="fp8", extra_pages=3):
    """A paged cache holding sequences of the given lengths on shuffled pages, and the same keys
    per sequence contiguously (the prefill view)."""
    used = sum(-(-n // P) for n in lens)
    num_pages = used + extra_pages
    max_pages = max(-(-n // P) for n in lens) + 1
    width = D + 4 if dtype == "fp8" else D
    cache = np.full((num_pages, P, 1, width), 0x7F, dtype=np.uint8 if dtype == "fp8" else np.uint16)
    flat = cache.reshape(num_pages, -1)
    perm = rng.permutation(num_pages)
    table = np.full((len(lens), max_pages), 1 << 24, dtype=np.int32)  # unused: far out of range
    seqs, nxt = [], 0
    for b, n in enumerate(lens):
        vals = rng.normal(0, 4 if dtype == "fp8" else 1, size=(n, D)).astype(np.float32)
        vals += 0.7 * rng.normal(0, 4 if dtype == "fp8" else 1, size=(1, D)).astype(np.float32)
        k = hisa.encode_fp8(vals) if dtype == "fp8" else hisa.encode_bf16(vals)
        scale = rng.uniform(0.5, 1.5, size=n).astype(np.float32) if dtype == "fp8" else None
        for j in range(-(-n // P)):
            page = perm[nxt]
            nxt += 1
            table[b, j] = page
            rows = k[j * P:(j + 1) * P]
            if dtype == "fp8":
                flat[page, :rows.size] = rows.reshape(-1)
                flat[page, P * D:P * D + 4 * len(rows)] = scale[j * P:(j + 1) * P].view(np.uint8)
            else:
                flat[page, :rows.size] = rows.reshape(-1)
        seqs.append((k, scale))
    q_vals = rng.normal(0, 4 if dtype == "fp8" else 1, size=(len(lens), next_n, H, D)).astype(np.float32)
    q = hisa.encode_fp8(q_vals) if dtype == "fp8" else hisa.encode_bf16(q_vals)
    w = rng.normal(size=(len(lens) * next_n, H)).astype(np.float32)
    return dict(cache=cache, table=table, lens=np.array(lens, dtype=np.int32), q=q, w=w, seqs=seqs,
                next_n=next_n)


def prefill_rows(d, method, **kw):
    """The prefill reference: hisa.<method>_topk per sequence, its next_n queries at the end."""
    next_n, topk = d["next_n"], kw["topk"]
    out = np.full((len(d["lens"]), next_n, topk), -1, dtype=np.int32)
    fn = getattr(hisa, f"{method}_topk")
    for b, n in enumerate(d["lens"]):
        if n == 0:
            continue
        k, scale = d["seqs"][b]
        ks = np.zeros(next_n, dtype=np.int32)
        ke = np.maximum(0, n - next_n + np.arange(next_n) + 1).astype(np.int32)
        kv = k if scale is None else (k, scale)
        out[b] = fn(d["q"][b], kv, d["w"][b * next_n:(b + 1) * next_n], ks, ke, **kw)
    return out


LENS = [1, 16, 31, 32, 33, 0, 3, 250, 517, 400]
CASES = [("flat", dict(topk=40)), ("hisa", dict(topk=40, block_size=32, num_blocks=4)),
         ("hisa", dict(topk=24, block_size=16, num_blocks=2)), ("block", dict(topk=64, block_size=32))]


@pytest.mark.parametrize("dtype", ["fp8", "bf16"])
@pytest.mark.parametrize("next_n", [1, 2, 4])
@pytest.mark.parametrize("method,kw", CASES, ids=[f"{m}-{i}" for i, (m, _) in enumerate(CASES)])
def test_decode_equals_prefill(rng, dtype, next_n, method, kw):
    d = make_paged(rng, LENS, next_n=next_n, dtype=dtype)
    pooled = None
    if method != "flat":
        pooled = hisa.build_pooled(d["cache"], d["table"], d["lens"], block_size=kw["block_size"])
    got = hisa.decode_topk(d["q"], d["cache"], d["w"], d["lens"], d["table"], pooled, method=method, **kw)
    assert got.dtype == np.int32 and got.shape == (len(LENS), next_n, kw["topk"])
    np.testing.assert_array_equal(got, prefill_rows(d, method, **kw))


def test_incremental_pooled_equals_build(rng):
    final = [300, 47, 16, 129, 1]
    d = make_paged(rng, final)
    want = hisa.build_pooled(d["cache"], d["table"], d["lens"], block_size=32)
    lens = np.array([n // 2 for n in final], dtype=np.int32)
    pooled = np.full_like(want, np.nan)
    hisa.build_pooled(d["cache"], d["table"], lens, block_size=32, out=pooled)
    while (lens != d["lens"]).any():
        slots, pos, seq = [], [], []
        for b, n in enumerate(final):
            for t in range(min(n - lens[b], 7)):
                p = lens[b] + t
                slots.append(d["table"][b, p // P] * P + p % P)
                pos.append(p)
                seq.append(b)
            lens[b] = min(n, lens[b] + 7)
        hisa.update_pooled(d["cache"], pooled, slot_mapping=np.array(slots), positions=np.array(pos),
                           seq_index=np.array(seq), block_table=d["table"], block_size=32)
    for b, n in enumerate(final):
        for j in range(-(-n // 32)):
            e = d["table"][b, j * 2]
            assert want[e].tobytes() == pooled[e].tobytes(), (b, j)


def test_bad_inputs_name_the_argument(rng):
    d = make_paged(rng, [100, 40])
    pooled = hisa.build_pooled(d["cache"], d["table"], d["lens"], block_size=32)
    args = (d["q"], d["cache"], d["w"], d["lens"], d["table"], pooled)

    def arg_of(**over):
        a = dict(zip(("q", "kv_cache", "weights", "context_lens", "block_table", "pooled"), args))
        kw = dict(method="hisa", topk=64, block_size=32, num_blocks=2)
        kw.update({k: v for k, v in over.items() if k not in a})
        a.update({k: v for k, v in over.items() if k in a})
        with pytest.raises(hisa.ArgumentError) as e:
            hisa.decode_topk(a["q"], a["kv_cache"], a["weights"], a["context_lens"], a["block_table"],
                             a["pooled"], **kw)
        return e.value.argument

    table = d["table"].copy()
    table[1, 2] = d["cache"].shape[0]
    assert arg_of(block_table=table) == "block_table"
    lens = d["lens"].copy()
    lens[0] = d["table"].shape[1] * P + 1
    assert arg_of(context_lens=lens) == "context_lens"
    assert arg_of(block_size=24) == "block_size"
    assert arg_of(kv_cache=d["cache"][:, :, :, ::2]) == "kv_cache"  # not contiguous
    q5 = np.concatenate([d["q"]] * 3, axis=1)[:, :5]
    w5 = np.concatenate([d["w"].reshape(2, 2, H)] * 3, axis=1)[:, :5].reshape(10, H)
    assert arg_of(q=q5, weights=w5) == "next_n"
    assert arg_of(pooled=None) == "pooled"
    assert arg_of(method="misa") == "method"


@needs_cuda
def test_cuda_matches_cpu_and_graph_capture(rng):
    d = make_paged(rng, [700, 300, 64, 1], next_n=2)
    dev = "cuda"
    t = {k: torch.from_numpy(np.ascontiguousarray(d[k])).to(dev) for k in ("cache", "table", "lens", "w")}
    q = torch.from_numpy(d["q"]).to(dev)
    for method, kw in CASES:
        B = kw.get("block_size", 32)
        pooled = hisa.build_pooled(t["cache"], t["table"], t["lens"], block_size=B)
        want_pooled = hisa.build_pooled(d["cache"], d["table"], d["lens"], block_size=B)
        assert pooled.cpu().numpy().tobytes() == want_pooled.tobytes()
        want = hisa.decode_topk(d["q"], d["cache"], d["w"], d["lens"], d["table"], want_pooled,
                                method=method, **kw)
        got = hisa.decode_topk(q, t["cache"], t["w"], t["lens"], t["table"], pooled, method=method, **kw)
        # H = 4, D = 32: the portable (bitwise) kernels run.
        np.testing.assert_array_equal(got.cpu().numpy(), want)
    pooled = hisa.build_pooled(t["cache"], t["table"], t["lens"], block_size=32)
    want_pooled = pooled.cpu().numpy()
    g = torch.cuda.CUDAGraph()
    out = torch.ops.hisa.decode_topk(q, t["cache"], t["w"], t["lens"], t["table"], pooled,
                                     method="hisa", topk=40, block_size=32, num_blocks=4)
    with torch.cuda.graph(g):
        out = torch.ops.hisa.decode_topk(q, t["cache"], t["w"], t["lens"], t["table"], pooled,
                                         method="hisa", topk=40, block_size=32, num_blocks=4)
    g.replay()
    torch.cuda.synchronize()
    want = hisa.decode_topk(d["q"], d["cache"], d["w"], d["lens"], d["table"], want_pooled,
                            method="hisa", topk=40, block_size=32, num_blocks=4)
    np.testing.assert_array_equal(out.cpu().numpy(), want)


@needs_torch
def test_torch_cpu_op_and_fake(rng):
    d = make_paged(rng, [200, 40], next_n=1)
    t = {k: torch.from_numpy(np.ascontiguousarray(d[k])) for k in ("cache", "table", "lens", "w", "q")}
    pooled = hisa.build_pooled(t["cache"], t["table"], t["lens"], block_size=32)
    got = torch.ops.hisa.decode_topk(t["q"], t["cache"], t["w"], t["lens"], t["table"], pooled,
                                     method="hisa", topk=40, block_size=32, num_blocks=4)
    want = hisa.decode_topk(d["q"], d["cache"], d["w"], d["lens"], d["table"], pooled.numpy(),
                            method="hisa", topk=40, block_size=32, num_blocks=4)
    np.testing.assert_array_equal(got.numpy(), want)
    from torch._subclasses.fake_tensor import FakeTensorMode
    with FakeTensorMode() as mode:
        fq = mode.from_tensor(t["q"])
        out = torch.ops.hisa.decode_topk(fq, mode.from_tensor(t["cache"]), mode.from_tensor(t["w"]),
                                         mode.from_tensor(t["lens"]), mode.from_tensor(t["table"]),
                                         mode.from_tensor(pooled), method="hisa", topk=40)
        assert tuple(out.shape) == (2, 1, 40) and out.dtype == torch.int32
