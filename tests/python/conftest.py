"""Shared fixtures of the Python package tests. torch and CUDA are optional: tests that need
them skip when they are missing (CI runs numpy-only; the device machine runs everything)."""

import numpy as np
import pytest

try:
    import torch
except ImportError:
    torch = None

import hisa

has_torch = torch is not None
has_cuda = has_torch and torch.cuda.is_available() and hisa.cuda_device_count() > 0

needs_torch = pytest.mark.skipif(not has_torch, reason="torch is not installed")
needs_cuda = pytest.mark.skipif(not has_cuda, reason="no CUDA device, torch CUDA or CUDA build of hisa")


@pytest.fixture
def rng():
    return np.random.default_rng(20261123)


# Small shapes on which every method differs from flat for most rows (n > topk, nb > m).
SMALL = dict(T=24, S=160, H=4, D=16)
KNOBS = dict(topk=32, block_size=8, num_blocks=4, heads=2, candidates=2)
METHODS = ("flat", "hisa", "block", "misa")
DTYPES = ("f32", "bf16", "fp8_e4m3")


def knobs_for(method, knobs=KNOBS):
    """The keyword arguments hisa.<method>_topk takes."""
    keep = {"flat": ("topk",), "hisa": ("topk", "block_size", "num_blocks"),
            "block": ("topk", "block_size"),
            "misa": ("topk", "block_size", "heads", "candidates")}[method]
    return {k: v for k, v in knobs.items() if k in keep}


def call(method, q, kv, w, ks=None, ke=None, **kw):
    return getattr(hisa, f"{method}_topk")(q, kv, w, ks, ke, **kw)
