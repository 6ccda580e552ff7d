"""Bad input is a Python exception that names the argument, never a crash or a wrong answer.
hisa.ArgumentError is a ValueError, hisa.DTypeError a TypeError, hisa.BackendError a
RuntimeError; the first two carry `.argument`."""

import numpy as np
import pytest

import hisa
from conftest import SMALL
from reference import exact_problem


@pytest.fixture
def p(rng):
    return exact_problem(rng, **SMALL, packed=True)


def kv(p):
    return (p["k"], p["k_scale"])


def raises(exc, argument, fn, *args, **kw):
    with pytest.raises(exc) as info:
        fn(*args, **kw)
    assert info.value.argument == argument, str(info.value)
    assert str(info.value).startswith(argument), str(info.value)
    return info.value


def test_exception_classes():
    assert issubclass(hisa.ArgumentError, ValueError)
    assert issubclass(hisa.DTypeError, TypeError)
    assert issubclass(hisa.BackendError, RuntimeError)


def test_shapes(p):
    T, H, D, S = SMALL["T"], SMALL["H"], SMALL["D"], SMALL["S"]
    raises(ValueError, "q", hisa.flat_topk, p["q"][0], kv(p), p["w"], topk=8)
    raises(ValueError, "weights", hisa.flat_topk, p["q"], kv(p), p["w"][:, :2], topk=8)
    raises(ValueError, "weights", hisa.flat_topk, p["q"], kv(p), p["w"][:-1], topk=8)
    raises(ValueError, "kv", hisa.flat_topk, p["q"], (p["k"][:, :3], p["k_scale"]), p["w"])
    raises(ValueError, "kv", hisa.flat_topk, p["q"], (p["k"], p["k_scale"][:-1]), p["w"])
    raises(ValueError, "kv", hisa.flat_topk, p["q"], (p["k"], p["k_scale"], p["k_scale"]), p["w"])
    raises(ValueError, "cu_seq_len_k_start", hisa.flat_topk, p["q"], kv(p), p["w"], p["ks"][:-1], p["ke"])
    raises(ValueError, "cu_seq_len_k_end", hisa.flat_topk, p["q"], kv(p), p["w"], p["ks"], None)
    raises(ValueError, "cu_seq_len_k_start", hisa.flat_topk, p["q"], kv(p), p["w"], None, p["ke"])
    # More queries than keys needs explicit ranges (the default is one causal sequence).
    big_q = np.zeros((S + 1, H, D), np.float32)
    raises(ValueError, "kv", hisa.flat_topk, big_q, kv(p), np.zeros((S + 1, H), np.float32))
    assert T < S


def test_dtypes(p):
    raises(TypeError, "q", hisa.flat_topk, p["q"].astype(np.float64), kv(p), p["w"])
    raises(TypeError, "q", hisa.flat_topk, p["q"].astype(np.float16), kv(p), p["w"])
    raises(TypeError, "kv", hisa.flat_topk, p["q"], (hisa.encode_fp8(p["k"]), p["k_scale"]), p["w"])
    raises(TypeError, "kv", hisa.flat_topk, p["q"], (p["k"], p["k_scale"].astype(np.float64)), p["w"])
    raises(TypeError, "weights", hisa.flat_topk, p["q"], kv(p), p["w"].astype(np.float64))
    raises(TypeError, "cu_seq_len_k_start", hisa.flat_topk, p["q"], kv(p), p["w"],
           p["ks"].astype(np.float32), p["ke"])
    raises(TypeError, "q", hisa.flat_topk, p["q"].tolist(), kv(p), p["w"])
    raises(TypeError, "topk", hisa.flat_topk, p["q"], kv(p), p["w"], topk="8")
    raises(TypeError, "topk", hisa.flat_topk, p["q"], kv(p), p["w"], topk=8.0)


def test_ranges(p):
    ks, ke = p["ks"].copy(), p["ke"].copy()
    ks[3] = -1
    raises(ValueError, "cu_seq_len_k_start", hisa.flat_topk, p["q"], kv(p), p["w"], ks, ke)
    ks, ke = p["ks"].copy(), p["ke"].copy()
    ke[4] = SMALL["S"] + 1
    raises(ValueError, "cu_seq_len_k_end", hisa.hisa_topk, p["q"], kv(p), p["w"], ks, ke)
    ks, ke = p["ks"].copy(), p["ke"].copy()
    ks[5] = ke[5] + 1
    raises(ValueError, "cu_seq_len_k_start", hisa.misa_topk, p["q"], kv(p), p["w"], ks, ke, heads=2)
    raises(ValueError, "cu_seq_len_k_start", hisa.flat_topk, p["q"], kv(p), p["w"],
           p["ks"].astype(np.int64) + 2**40, p["ke"])


def test_knobs(p):
    args = (p["q"], kv(p), p["w"], p["ks"], p["ke"])
    raises(ValueError, "topk", hisa.flat_topk, *args, topk=0)
    raises(ValueError, "num_blocks", hisa.hisa_topk, *args, topk=8, num_blocks=1)
    raises(ValueError, "block_size", hisa.hisa_topk, *args, topk=8, block_size=0)
    raises(ValueError, "topk", hisa.block_topk, *args, topk=12, block_size=8)  # topk % B
    raises(ValueError, "topk", hisa.block_topk, *args, topk=8, block_size=8)   # m = 1 < 2
    raises(ValueError, "heads", hisa.misa_topk, *args, topk=8, heads=0)
    raises(ValueError, "heads", hisa.misa_topk, *args, topk=8, heads=SMALL["H"] + 1)
    raises(ValueError, "candidates", hisa.misa_topk, *args, topk=8, heads=2, candidates=0)
    raises(ValueError, "topk", hisa.flat_topk, *args, topk=2**40)
    raises(ValueError, "topk", hisa.flat_topk, *args, topk=2**70)
    raises(ValueError, "backend", hisa.flat_topk, *args, backend="tpu")


def test_values(p):
    q = p["q"].copy()
    q[2, 1, 3] = np.inf
    raises(ValueError, "q", hisa.flat_topk, q, kv(p), p["w"], p["ks"], p["ke"])
    w = p["w"].copy()
    w[0, 0] = np.nan
    raises(ValueError, "weights", hisa.hisa_topk, p["q"], kv(p), w, p["ks"], p["ke"])
    scale = p["k_scale"].copy()
    scale[7] = np.nan
    raises(ValueError, "kv", hisa.flat_topk, p["q"], (p["k"], scale), p["w"], p["ks"], p["ke"])


def test_out(p):
    args = (p["q"], kv(p), p["w"], p["ks"], p["ke"])
    T = SMALL["T"]
    raises(TypeError, "out", hisa.flat_topk, *args, topk=8, out=np.zeros((T, 8), np.int64))
    raises(ValueError, "out", hisa.flat_topk, *args, topk=8, out=np.zeros((T, 9), np.int32))
    raises(ValueError, "out", hisa.flat_topk, *args, topk=8, out=np.zeros((8, T), np.int32).T)
    ro = np.zeros((T, 8), np.int32)
    ro.flags.writeable = False
    raises(ValueError, "out", hisa.flat_topk, *args, topk=8, out=ro)
    raises(ValueError, "workspace", hisa.flat_topk, *args, topk=8, workspace=np.zeros(8, np.uint8))


@pytest.mark.skipif(hisa.cuda_device_count() > 0, reason="a CUDA device is present")
def test_cuda_backend_without_a_device_is_a_runtime_error(p):
    with pytest.raises(RuntimeError, match="cuda"):
        hisa.flat_topk(p["q"], kv(p), p["w"], p["ks"], p["ke"], topk=8, backend="cuda")


def test_metrics_arguments(p):
    a = np.zeros((4, 8), np.int32)
    raises(ValueError, "flat", hisa.iou, a, np.zeros((5, 8), np.int32))
    raises(TypeError, "approx", hisa.recall, a.astype(np.int64), a)
    raises(ValueError, "approx", hisa.iou, a[0], a)
    idx = np.full((SMALL["T"], 8), -1, np.int32)
    bad = idx.copy()
    bad[0, 0] = SMALL["S"]  # not a key row
    raises(ValueError, "approx", hisa.mass_recall, p["q"], kv(p), p["w"], p["ks"], p["ke"], bad, idx)
    with pytest.raises(ValueError):
        hisa.quantize_fp8(hisa.quantize_fp8(hisa.make_gaussian(T=8, S=8, H=2, D=8)))
    raises(ValueError, "workload", hisa.quantize_fp8, "not a workload")
