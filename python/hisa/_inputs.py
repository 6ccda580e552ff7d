"""Adapts user arrays to the C++ API: framework (numpy / torch / other DLPack), logical dtype,
memory space, and the shapes that the C++ side cannot see (it receives pointers only).

There are no selection semantics here. Values, ranges and method knobs are validated by the
C++ dispatcher (hisa::select); this module only makes sure every pointer it hands over covers
the extent the Problem claims, so a wrong shape is a named error instead of a stray read.

Copies: inputs that are not C-contiguous are made contiguous (one copy each), because the C++
API takes dense row-major views. `out` and `workspace` are written in place, so those are
rejected instead.
"""

import operator

import numpy as np

from . import _C
from ._errors import argument_error, dtype_error, python_names

try:  # torch is optional: numpy-only installs take the numpy paths below
    import torch
except ImportError:  # pragma: no cover - exercised in numpy-only environments
    torch = None

_DLPACK_CPU = 1

METHODS = {
    "flat": _C.Method.flat,
    "hisa": _C.Method.hisa,
    "block": _C.Method.block,
    "misa": _C.Method.misa,
    "proj": _C.Method.proj,
    "hisa_misa": _C.Method.hisa_misa,
}

SUMMARIES = {"mean": _C.BlockSummary.mean, "bound": _C.BlockSummary.bound,
             "emax": _C.BlockSummary.emax}

ORDERS = {"score": _C.Order.score, "index": _C.Order.index}


def is_torch(x):
    return torch is not None and isinstance(x, torch.Tensor)


# ---- framework -------------------------------------------------------------------------------


def flavour_of(q):
    """'numpy' or 'torch': the framework every input is brought into (and the output's)."""
    if is_torch(q):
        return "torch"
    if isinstance(q, np.ndarray):
        return "numpy"
    if hasattr(q, "__dlpack__") and hasattr(q, "__dlpack_device__"):
        if q.__dlpack_device__()[0] == _DLPACK_CPU:
            return "numpy"
        if torch is not None:
            return "torch"
        raise dtype_error("q", "a DLPack tensor outside host memory needs torch installed")
    raise dtype_error(
        "q", f"expected a numpy array, a torch.Tensor or a DLPack tensor, got {type(q).__name__}"
    )


def adopt(x, name, flavour):
    """`x` as a numpy array or torch tensor (zero copy through DLPack for other frameworks)."""
    if x is None:
        return None
    if flavour == "numpy":
        if isinstance(x, np.ndarray):
            return x
        if is_torch(x):
            raise dtype_error(name, "is a torch.Tensor but q is not: pass every input from one framework")
        if hasattr(x, "__dlpack__"):
            return np.from_dlpack(x)
        raise dtype_error(name, f"expected a numpy array, got {type(x).__name__}")
    if is_torch(x):
        return x
    if isinstance(x, np.ndarray):
        raise dtype_error(name, "is a numpy array but q is a torch.Tensor: pass every input from one framework")
    if hasattr(x, "__dlpack__"):
        return torch.from_dlpack(x)
    raise dtype_error(name, f"expected a torch.Tensor, got {type(x).__name__}")


def split_kv(kv):
    """DeepGEMM's kv: a (k, k_scale) pair or a plain k."""
    if isinstance(kv, (tuple, list)):
        if len(kv) != 2:
            raise argument_error("kv", f"expected k or a (k, k_scale) pair, got a sequence of {len(kv)}")
        return kv[0], kv[1]
    return kv, None


# ---- dtypes ----------------------------------------------------------------------------------


def element_dtype(x, name):
    """(hisa DType, x viewed as the raw element type the C++ side reads) for q or k."""
    if is_torch(x):
        table = {torch.float32: _C.DType.f32, torch.bfloat16: _C.DType.bf16}
        fp8 = getattr(torch, "float8_e4m3fn", None)
        if fp8 is not None:
            table[fp8] = _C.DType.fp8_e4m3
        if x.dtype in table:
            return table[x.dtype], x
        raise dtype_error(name, f"dtype {x.dtype} is not supported: torch.float32, torch.bfloat16 or torch.float8_e4m3fn")
    kind = x.dtype.name
    if kind == "float32":
        return _C.DType.f32, x
    if kind == "uint16":  # bf16 bits
        return _C.DType.bf16, x
    if kind == "bfloat16":  # ml_dtypes
        return _C.DType.bf16, x.view(np.uint16)
    if kind == "uint8":  # FP8 e4m3fn bytes
        return _C.DType.fp8_e4m3, x
    if kind == "float8_e4m3fn":  # ml_dtypes
        return _C.DType.fp8_e4m3, x.view(np.uint8)
    raise dtype_error(name, f"dtype {x.dtype} is not supported: float32, uint16 (bf16 bits) or uint8 (FP8 e4m3fn bytes)")


def require_f32(x, name):
    ok = x.dtype == torch.float32 if is_torch(x) else x.dtype == np.float32
    if not ok:
        raise dtype_error(name, f"dtype {x.dtype} is not supported: float32 expected")


def as_int32(x, name):
    """ks/ke as int32. Host integer arrays of other widths are converted when every value fits;
    device tensors must already be int32 (a checked conversion would need a host sync)."""
    if is_torch(x):
        if x.dtype == torch.int32:
            return x
        if x.device.type == "cpu" and not x.is_floating_point() and not x.is_complex() and x.dtype != torch.bool:
            return torch.from_numpy(as_int32(x.numpy(), name))
        raise dtype_error(name, f"dtype {x.dtype} is not supported: torch.int32 expected")
    if x.dtype == np.int32:
        return x
    if x.dtype.kind not in "iu":
        raise dtype_error(name, f"dtype {x.dtype} is not supported: int32 expected")
    if x.size and (x.min() < np.iinfo(np.int32).min or x.max() > np.iinfo(np.int32).max):
        raise argument_error(name, "values do not fit int32")
    return x.astype(np.int32)


# ---- shapes, memory --------------------------------------------------------------------------


def shape_of(x):
    return tuple(int(d) for d in x.shape)


def require_shape(x, name, expected, text):
    if shape_of(x) != expected:
        raise argument_error(name, f"expected shape {text} = {list(expected)}, got {list(shape_of(x))}")


def drop_trailing_one(x, name, expected, text):
    """Accept [N, 1] where [N] is meant (vLLM keeps k_scale as [S, 1], some engines weights [T, H, 1])."""
    if len(x.shape) == len(expected) + 1 and int(x.shape[-1]) == 1:
        x = x.reshape(x.shape[:-1])
    require_shape(x, name, expected, text)
    return x


def contiguous(x):
    if is_torch(x):
        return x.contiguous()
    return np.ascontiguousarray(x)


def address(x):
    if x is None:
        return 0
    if is_torch(x):
        return x.data_ptr()
    return x.__array_interface__["data"][0]


def memory_of(x, name):
    if not is_torch(x) or x.device.type == "cpu":
        return _C.Device.cpu
    if x.device.type == "cuda":
        return _C.Device.cuda
    raise argument_error(name, f"tensors on {x.device} are not supported: cpu or cuda")


def require_same_device(x, name, q):
    if is_torch(x) and x.device != q.device:
        raise argument_error(name, f"is on {x.device} but q is on {q.device}")


def integer(value, name):
    try:
        v = operator.index(value)
    except TypeError:
        raise dtype_error(name, f"expects an integer, got {type(value).__name__}") from None
    if not -(2**63) <= v < 2**63:
        raise argument_error(name, f"{v} does not fit int64")
    return v


class Inputs:
    """The user's arrays, normalised, kept alive for as long as `problem` points into them."""

    def __init__(self, q, kv, weights, ks, ke):
        self.flavour = flavour_of(q)
        q = adopt(q, "q", self.flavour)
        k, k_scale = split_kv(kv)
        k = adopt(k, "kv", self.flavour)
        k_scale = adopt(k_scale, "kv", self.flavour)
        weights = adopt(weights, "weights", self.flavour)
        ks = adopt(ks, "cu_seq_len_k_start", self.flavour)
        ke = adopt(ke, "cu_seq_len_k_end", self.flavour)
        if weights is None:
            raise argument_error("weights", "is required ([T, H] float32)")
        if (ks is None) != (ke is None):
            missing = "cu_seq_len_k_start" if ks is None else "cu_seq_len_k_end"
            raise argument_error(missing, "cu_seq_len_k_start and cu_seq_len_k_end go together (or both None for one causal sequence)")

        dtype, q = element_dtype(q, "q")
        k_dtype, k = element_dtype(k, "kv")
        if k_dtype != dtype:
            raise dtype_error("kv", f"k has dtype {k.dtype} but q has {q.dtype}: q and k must share one dtype")
        if len(q.shape) != 3:
            raise argument_error("q", f"expected shape [T, H, D], got {list(shape_of(q))}")
        T, H, D = shape_of(q)
        if len(k.shape) != 2:
            raise argument_error("kv", f"k: expected shape [S, D], got {list(shape_of(k))}")
        S = int(k.shape[0])
        require_shape(k, "kv", (S, D), "k [S, D]")
        weights = drop_trailing_one(weights, "weights", (T, H), "[T, H]")
        require_f32(weights, "weights")
        if k_scale is not None:
            k_scale = drop_trailing_one(k_scale, "kv", (S,), "k_scale [S]")
            require_f32(k_scale, "kv")
        if ks is not None:
            ks = as_int32(drop_trailing_one(ks, "cu_seq_len_k_start", (T,), "[T]"), "cu_seq_len_k_start")
            ke = as_int32(drop_trailing_one(ke, "cu_seq_len_k_end", (T,), "[T]"), "cu_seq_len_k_end")

        self.memory = memory_of(q, "q")
        for x, name in ((k, "kv"), (k_scale, "kv"), (weights, "weights"), (ks, "cu_seq_len_k_start"), (ke, "cu_seq_len_k_end")):
            if x is not None:
                require_same_device(x, name, q)
        self.q, self.k, self.k_scale, self.weights, self.ks, self.ke = (
            None if x is None else contiguous(x) for x in (q, k, k_scale, weights, ks, ke)
        )
        self.device = q.device if is_torch(q) else None

        p = _C.Problem()
        p.dtype = dtype
        p.T, p.S, p.H, p.D = T, S, H, D
        p.q, p.k, p.k_scale = address(self.q), address(self.k), address(self.k_scale)
        p.w, p.ks, p.ke = address(self.weights), address(self.ks), address(self.ke)
        p.memory = self.memory
        self.problem = p

    @property
    def T(self):
        return self.problem.T


def make_config(method, topk=2048, block_size=64, num_blocks=64, heads=8, candidates=1,
                block_summary="mean", proj_dim=16, shared_candidates=1, order="score"):
    if method not in METHODS:
        raise argument_error("method", f"expected one of {sorted(METHODS)}, got {method!r}")
    if block_summary not in SUMMARIES:
        raise argument_error("block_summary",
                             f"expected one of {sorted(SUMMARIES)}, got {block_summary!r}")
    if order not in ORDERS:
        raise argument_error("order", f"expected one of {sorted(ORDERS)}, got {order!r}")
    c = _C.Config()
    c.method = METHODS[method]
    c.topk = integer(topk, "topk")
    c.block_size = integer(block_size, "block_size")
    c.blocks = integer(num_blocks, "num_blocks")
    c.heads = integer(heads, "heads")
    c.candidates = integer(candidates, "candidates")
    c.block_summary = SUMMARIES[block_summary]
    c.proj_dim = integer(proj_dim, "proj_dim")
    c.shared_candidates = integer(shared_candidates, "shared_candidates")
    c.order = ORDERS[order]
    return c


def backend_of(backend, inputs):
    """The backend that runs: the inputs' memory by default, or 'cpu' / 'cuda' when given."""
    if backend is None:
        return inputs.memory
    name = backend.type if (torch is not None and isinstance(backend, torch.device)) else backend
    if name == "cpu":
        return _C.Device.cpu
    if name == "cuda":
        return _C.Device.cuda
    raise argument_error("backend", f"expected None, 'cpu' or 'cuda', got {backend!r}")


# ---- output and workspace --------------------------------------------------------------------


def new_output(inputs, topk):
    shape = (inputs.T, topk)
    if inputs.flavour == "torch":
        return torch.empty(shape, dtype=torch.int32, device=inputs.device)
    return np.empty(shape, dtype=np.int32)


def check_output(out, inputs, topk):
    expected = (inputs.T, topk)
    if inputs.flavour == "torch":
        if not is_torch(out):
            raise dtype_error("out", "expected a torch.Tensor like q")
        if out.dtype != torch.int32:
            raise dtype_error("out", f"dtype {out.dtype} is not supported: torch.int32 expected")
        require_same_device(out, "out", inputs.q)
    else:
        if not isinstance(out, np.ndarray):
            raise dtype_error("out", "expected a numpy array like q")
        if out.dtype != np.int32:
            raise dtype_error("out", f"dtype {out.dtype} is not supported: int32 expected")
        if not out.flags.writeable:
            raise argument_error("out", "is read-only")
    require_shape(out, "out", expected, "[T, topk]")
    contiguous_ok = out.is_contiguous() if is_torch(out) else out.flags.c_contiguous
    if not contiguous_ok:
        raise argument_error("out", "must be C-contiguous (it is written in place)")
    return out


def device_workspace(inputs, config, workspace):
    """(address, bytes) of the CUDA workspace for a device run.

    Default: one tensor from torch's caching allocator per call. That allocator is per device
    and stream-ordered, so this is a cached workspace that is also safe under CUDA-graph
    capture (it comes from the graph's pool) and never syncs the host.
    """
    with python_names():
        need = _C.workspace_bytes(inputs.problem, config, _C.Device.cuda)
    if workspace is None:
        if need == 0:
            return None, 0, 0
        workspace = torch.empty(need, dtype=torch.uint8, device=inputs.device)
    else:
        if not is_torch(workspace) or workspace.dtype != torch.uint8:
            raise dtype_error("workspace", "expected a torch.uint8 tensor (see hisa.workspace_bytes)")
        require_same_device(workspace, "workspace", inputs.q)
        if not workspace.is_contiguous():
            raise argument_error("workspace", "must be contiguous")
        if workspace.numel() < need:
            raise argument_error("workspace", f"has {workspace.numel()} bytes, this call needs {need} (hisa.workspace_bytes)")
    return workspace, workspace.data_ptr(), workspace.numel()
