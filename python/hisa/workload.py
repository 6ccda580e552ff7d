"""Seeded synthetic workloads, the same generators as the CLI and the C++ tests (hisa/workload.hpp),
so a Python experiment and `hisa eval` see identical inputs for identical specs.

    wl = hisa.make_structured(T=2048, S=8192, seed=3)
    idx = hisa.hisa_topk(*wl.args(), topk=512)                 # numpy in, numpy out
    idx = hisa.hisa_topk(*wl.torch_args("cuda"), topk=512)     # torch tensors on a device
"""

import numpy as np

from . import _C
from ._errors import argument_error, python_names
from ._inputs import Inputs, is_torch, torch

_DTYPE_NAMES = {_C.DType.f32: "f32", _C.DType.bf16: "bf16", _C.DType.fp8_e4m3: "fp8_e4m3"}


class Workload:
    """Host arrays of one problem (numpy, zero-copy views of the C++ workload).

    q [T, H, D] and k [S, D] hold raw elements: float32, uint16 (bf16 bits) or uint8 (FP8 e4m3fn
    bytes) as `dtype` says; w [T, H] float32; k_scale [S] float32 or None; ks, ke [T] int32 or
    None (one causal sequence); needles [n, 2] int64 rows (t, s) that flat must select.
    """

    def __init__(self, native):
        self._native = native
        arrays = _C.workload_arrays(native)
        self.q, self.k, self.w = arrays["q"], arrays["k"], arrays["w"]
        self.k_scale, self.ks, self.ke = arrays["k_scale"], arrays["ks"], arrays["ke"]

    dtype = property(lambda self: _DTYPE_NAMES[self._native.dtype])
    T = property(lambda self: self._native.T)
    S = property(lambda self: self._native.S)
    H = property(lambda self: self._native.H)
    D = property(lambda self: self._native.D)
    needles = property(lambda self: self._native.needles)
    description = property(lambda self: self._native.description)

    @property
    def kv(self):
        """k, or (k, k_scale) when the keys carry scales (FP8)."""
        return self.k if self.k_scale is None else (self.k, self.k_scale)

    def args(self):
        """(q, kv, weights, ks, ke): the positional arguments of the *_topk functions."""
        return self.q, self.kv, self.w, self.ks, self.ke

    def torch_args(self, device="cpu"):
        """args() as torch tensors on `device`, q/k typed float32 / bfloat16 / float8_e4m3fn."""
        if torch is None:
            raise ImportError("torch_args() needs torch")
        element = {"f32": torch.float32, "bf16": torch.bfloat16,
                   "fp8_e4m3": getattr(torch, "float8_e4m3fn", None)}[self.dtype]

        def typed(a):  # numpy has no bf16/FP8: reinterpret the bits on the torch side
            t = torch.from_numpy(a.view(np.int16) if a.dtype == np.uint16 else a)
            return t.view(element).to(device)

        def plain(a):
            return None if a is None else torch.from_numpy(a).to(device)

        kv = typed(self.k) if self.k_scale is None else (typed(self.k), plain(self.k_scale))
        return typed(self.q), kv, plain(self.w), plain(self.ks), plain(self.ke)

    def __repr__(self):
        return f"hisa.Workload({self.description!r})"

    @classmethod
    def from_arrays(cls, q, kv, weights, cu_seq_len_k_start=None, cu_seq_len_k_end=None,
                    description="from arrays"):
        """A workload holding copies of host arrays (numpy, or torch on the CPU)."""
        inputs = Inputs(q, kv, weights, cu_seq_len_k_start, cu_seq_len_k_end)
        if inputs.memory != _C.Device.cpu:
            raise argument_error("q", "Workload.from_arrays needs host arrays")

        def host(x):
            if x is None:
                return None
            return x.view(torch.uint8).numpy() if is_torch(x) else x.view(np.uint8)

        p = inputs.problem
        with python_names():
            native = _C.workload_from_arrays(
                p.dtype, p.T, p.S, p.H, p.D, host(inputs.q), host(inputs.k),
                host(inputs.weights), host(inputs.k_scale), host(inputs.ks), host(inputs.ke),
                description)
        return cls(native)


def make_gaussian(T=1024, S=None, H=64, D=128, seed=1):
    """i.i.d. standard normal q, k; w ~ N(0, 1) / sqrt(H); float32; S defaults to T."""
    return Workload(_C.make_gaussian(T, T if S is None else S, H, D, seed))


def make_structured(T=4096, S=None, H=64, D=128, topics=32, segment=256, needles=16, seed=1):
    """Long-context structure: keys cluster around drifting topics (coherent blocks), queries
    mix a few topics, `needles` planted (t, s) pairs that flat selects; float32; S defaults to T."""
    return Workload(_C.make_structured(T, T if S is None else S, H, D, topics, segment, needles,
                                       seed))


def _native(workload, name):
    if not isinstance(workload, Workload):
        raise argument_error(name, f"expected a hisa.Workload, got {type(workload).__name__}")
    return workload._native


def quantize_fp8(workload):
    """FP8 e4m3 as DSA quantises: k per token (k_scale = amax/448), q per (token, head) with the
    scale folded into w. Needs a float32 workload."""
    with python_names():
        return Workload(_C.quantize_fp8(_native(workload, "workload")))


def to_bf16(workload):
    """bf16 rounding of q and k (w, k_scale stay float32). Needs a float32 workload."""
    with python_names():
        return Workload(_C.to_bf16(_native(workload, "workload")))


def pack_sequences(workloads):
    """Several causal sequences packed into one problem (ks/ke per sequence, keys concatenated)."""
    natives = [_native(w, "workloads") for w in workloads]
    with python_names():
        return Workload(_C.pack_sequences(natives))


def encode_fp8(values):
    """float32 array -> FP8 e4m3fn bytes (uint8), round to nearest even, saturating at +-448."""
    return _C.encode_fp8(np.ascontiguousarray(values, dtype=np.float32))


def decode_fp8(codes):
    """FP8 e4m3fn bytes (uint8) -> exact float32."""
    return _C.decode_fp8(np.ascontiguousarray(codes, dtype=np.uint8))


def encode_bf16(values):
    """float32 array -> bfloat16 bits (uint16), round to nearest even."""
    return _C.encode_bf16(np.ascontiguousarray(values, dtype=np.float32))


def decode_bf16(bits):
    """bfloat16 bits (uint16) -> exact float32."""
    return _C.decode_bf16(np.ascontiguousarray(bits, dtype=np.uint16))
