"""Fidelity of an approximate selection against flat (exact) on the same inputs (SPEC.md
"Fidelity metrics"). Index arrays are [T, k] int32, -1 padded; numpy or torch (copied to host).
Per-row results are float64 numpy arrays; `summarize` gives mean and the low tail."""

import numpy as np

from . import _C
from ._errors import argument_error, dtype_error, python_names
from ._inputs import Inputs, is_torch, torch


def _host_index(x, name):
    if is_torch(x):
        x = x.detach().cpu().numpy()
    x = np.ascontiguousarray(x)
    if x.dtype != np.int32:
        raise dtype_error(name, f"dtype {x.dtype} is not supported: int32 expected")
    if x.ndim != 2:
        raise argument_error(name, f"expected shape [T, k], got {list(x.shape)}")
    return x


def _host(x):
    """A torch tensor as a host numpy array of the element bits hisa reads (numpy has no bf16
    or FP8: they travel as uint16 / uint8, which the selection functions accept)."""
    if not is_torch(x):
        return x
    x = x.detach().cpu()
    if x.dtype == torch.bfloat16:
        return x.view(torch.int16).numpy().view(np.uint16)
    if x.dtype == getattr(torch, "float8_e4m3fn", None):
        return x.view(torch.uint8).numpy()
    return x.numpy()


def iou(approx, flat):
    """Per-row |A n F| / |A u F| over valid indices (both empty: 1)."""
    return _C.row_iou(_host_index(approx, "approx"), _host_index(flat, "flat"))


def recall(approx, flat):
    """Per-row |A n F| / |F| (empty F: 1)."""
    return _C.row_recall(_host_index(approx, "approx"), _host_index(flat, "flat"))


def mass_recall(q, kv, weights, cu_seq_len_k_start, cu_seq_len_k_end, approx, flat):
    """Per-row score-mass recall: sum of the positive exact scores I over A / over F (zero
    mass in F: 1). Computed on the host; device inputs are copied there."""
    kv = tuple(_host(x) for x in kv) if isinstance(kv, (tuple, list)) else _host(kv)
    inputs = Inputs(_host(q), kv, _host(weights), _host(cu_seq_len_k_start),
                    _host(cu_seq_len_k_end))
    with python_names():
        return _C.row_mass_recall(inputs.problem, _host_index(approx, "approx"),
                                  _host_index(flat, "flat"))


def summarize(per_row):
    """{'mean', 'p1', 'p5', 'min', 'rows'}; p1/p5: 1st/5th percentile by nearest rank."""
    v = np.ascontiguousarray(np.asarray(per_row, dtype=np.float64).reshape(-1))
    return _C.summarize(v)
