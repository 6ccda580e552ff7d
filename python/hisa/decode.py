"""Decode: token selection for the newest queries of many sequences whose index keys live in a
paged cache, as serving engines hold it (SPEC.md "Decode"; docs/decode.md).

    pooled = hisa.build_pooled(kv_cache, block_table, context_lens, block_size=64)  # hand-off
    ...
    # every step, after the engine wrote the new index keys into kv_cache:
    hisa.update_pooled(kv_cache, pooled, context_lens=context_lens, block_table=block_table,
                       new_tokens=next_n, block_size=64)
    idx = hisa.decode_topk(q, kv_cache, weights, context_lens, block_table, pooled,
                           method="hisa", topk=2048, block_size=64, num_blocks=64)

Inputs:
  q             [batch, next_n, H, D]  torch.float8_e4m3fn / torch.bfloat16, or numpy uint8 (FP8
                bytes) / uint16 (bf16 bits); [batch, H, D] means next_n = 1
  kv_cache      FP8: DeepGEMM's / vLLM's [num_pages, P, 1, D + 4] uint8 (per page: the P tokens'
                D value bytes, then their P float32 scales); bf16: [num_pages, P, 1, D] bfloat16
                (no scale). Read in place: it must be contiguous.
  weights       [batch * next_n, H] (or [batch, next_n, H]) float32
  context_lens  [batch] int32: keys of each sequence including the new ones
  block_table   [batch, max_pages] int32: entry j holds the sequence's tokens [jP, (j+1)P)
  pooled        [num_pages, D] float32 pooled-key cache (build_pooled / update_pooled);
                needed by method 'hisa' and 'block'

Output: int32 [batch, next_n, topk]: positions in each sequence (0 .. ctx-1), best first, -1
padded (order='index': the same positions per row in ascending order, -1 last). Query i of a
sequence sees positions [0, context_len - next_n + i + 1) and gets exactly the prefill selection
of that query at that position.
"""

from typing import Optional

import numpy as np

from . import _C
from ._errors import argument_error, dtype_error, python_names
from ._inputs import (
    METHODS,
    adopt,
    address,
    contiguous,
    flavour_of,
    integer,
    is_torch,
    make_config,
    memory_of,
    require_f32,
    require_same_device,
    shape_of,
    torch,
)

DECODE_METHODS = ("flat", "hisa", "block")


# ---- inputs ----------------------------------------------------------------------------------


def _cache_view(kv_cache, flavour):
    """(PagedCache, the array) for a paged cache in place (no copy)."""
    kv = adopt(kv_cache, "kv_cache", flavour)
    shape = shape_of(kv)
    if len(shape) == 4:
        if shape[2] != 1:
            raise argument_error("kv_cache", f"expected [num_pages, P, 1, D(+4)], got {list(shape)}")
    elif len(shape) != 3:
        raise argument_error("kv_cache", f"expected [num_pages, P, 1, D(+4)], got {list(shape)}")
    ok = kv.is_contiguous() if is_torch(kv) else kv.flags.c_contiguous
    if not ok:
        raise argument_error("kv_cache", "must be contiguous: it is read in place, as the engine holds it")
    c = _C.PagedCache()
    if is_torch(kv):
        fp8 = getattr(torch, "float8_e4m3fn", None)
        if kv.dtype == torch.uint8 or (fp8 is not None and kv.dtype == fp8):
            c.dtype, c.D = _C.DType.fp8_e4m3, shape[-1] - 4
        elif kv.dtype == torch.bfloat16:
            c.dtype, c.D = _C.DType.bf16, shape[-1]
        else:
            raise dtype_error("kv_cache", f"dtype {kv.dtype}: expected torch.uint8 (FP8 pages with scales) or torch.bfloat16")
    else:
        if kv.dtype == np.uint8:
            c.dtype, c.D = _C.DType.fp8_e4m3, shape[-1] - 4
        elif kv.dtype == np.uint16 or kv.dtype.name == "bfloat16":
            c.dtype, c.D = _C.DType.bf16, shape[-1]
        else:
            raise dtype_error("kv_cache", f"dtype {kv.dtype}: expected uint8 (FP8 pages with scales) or uint16 (bf16 bits)")
    c.num_pages, c.page_size = shape[0], shape[1]
    c.data = address(kv)
    return c, kv


def _q_view(q, flavour, cache):
    q = adopt(q, "q", flavour)
    if is_torch(q):
        fp8 = getattr(torch, "float8_e4m3fn", None)
        table = {torch.bfloat16: _C.DType.bf16, torch.uint8: _C.DType.fp8_e4m3}
        if fp8 is not None:
            table[fp8] = _C.DType.fp8_e4m3
        dtype = table.get(q.dtype)
    else:
        dtype = {"uint8": _C.DType.fp8_e4m3, "uint16": _C.DType.bf16, "float8_e4m3fn": _C.DType.fp8_e4m3,
                 "bfloat16": _C.DType.bf16}.get(q.dtype.name)
        if q.dtype.name in ("float8_e4m3fn", "bfloat16"):
            q = q.view(np.uint8 if dtype == _C.DType.fp8_e4m3 else np.uint16)
    if dtype is None:
        raise dtype_error("q", f"dtype {q.dtype} is not supported: FP8 e4m3 or bf16 (the cache's)")
    if dtype != cache.dtype:
        raise dtype_error("q", "q and kv_cache must share one dtype (FP8 e4m3 or bf16)")
    shape = shape_of(q)
    if len(shape) == 3:
        shape = (shape[0], 1) + shape[1:]
        q = q.reshape(shape)
    if len(shape) != 4:
        raise argument_error("q", f"expected [batch, next_n, H, D], got {list(shape_of(q))}")
    if shape[3] != cache.D:
        raise argument_error("q", f"D={shape[3]} does not match the cache's D={cache.D}")
    return contiguous(q), shape


def _int32(x, name, flavour, shape, text):
    x = adopt(x, name, flavour)
    if x is None:
        raise argument_error(name, "is required")
    if len(shape_of(x)) == len(shape) + 1 and shape_of(x)[-1] == 1:
        x = x.reshape(x.shape[:-1])
    if shape is not None and shape_of(x)[: len(shape)] != shape[: len(shape)] and None not in shape:
        raise argument_error(name, f"expected shape {text}, got {list(shape_of(x))}")
    ok = x.dtype == torch.int32 if is_torch(x) else x.dtype == np.int32
    if not ok:
        if is_torch(x) and x.device.type != "cpu":
            raise dtype_error(name, f"dtype {x.dtype}: torch.int32 expected")
        x = x.to(torch.int32) if is_torch(x) else x.astype(np.int32)
    return contiguous(x)


class _DecodeInputs:
    def __init__(self, q, kv_cache, weights, context_lens, block_table, pooled):
        self.flavour = flavour_of(q)
        self.cache, self.kv = _cache_view(kv_cache, self.flavour)
        self.q, (batch, next_n, H, _) = _q_view(q, self.flavour, self.cache)
        w = adopt(weights, "weights", self.flavour)
        if w is None:
            raise argument_error("weights", "is required ([batch * next_n, H] float32)")
        if shape_of(w) == (batch, next_n, H):
            w = w.reshape(batch * next_n, H)
        if shape_of(w) != (batch * next_n, H):
            raise argument_error("weights", f"expected [batch * next_n, H] = {[batch * next_n, H]}, got {list(shape_of(w))}")
        require_f32(w, "weights")
        self.w = contiguous(w)
        self.lens = _int32(context_lens, "context_lens", self.flavour, (batch,), f"[batch={batch}]")
        bt = adopt(block_table, "block_table", self.flavour)
        if bt is None or len(shape_of(bt)) != 2 or shape_of(bt)[0] != batch:
            raise argument_error("block_table", f"expected [batch={batch}, max_pages], got {None if bt is None else list(shape_of(bt))}")
        self.table = _int32(bt, "block_table", self.flavour, (batch, shape_of(bt)[1]), "[batch, max_pages]")
        self.pooled = None
        if pooled is not None:
            pooled = adopt(pooled, "pooled", self.flavour)
            if shape_of(pooled) != (self.cache.num_pages, self.cache.D):
                raise argument_error("pooled", f"expected [num_pages, D] = {[self.cache.num_pages, self.cache.D]}, got {list(shape_of(pooled))}")
            require_f32(pooled, "pooled")
            ok = pooled.is_contiguous() if is_torch(pooled) else pooled.flags.c_contiguous
            if not ok:
                raise argument_error("pooled", "must be contiguous")
            self.pooled = pooled
        self.memory = memory_of(self.q, "q")
        for x, name in ((self.kv, "kv_cache"), (self.w, "weights"), (self.lens, "context_lens"),
                        (self.table, "block_table"), (self.pooled, "pooled")):
            if x is not None:
                require_same_device(x, name, self.q)
        self.device = self.q.device if is_torch(self.q) else None
        p = _C.DecodeProblem()
        p.cache = self.cache
        p.batch, p.next_n, p.H = batch, next_n, H
        p.q, p.w = address(self.q), address(self.w)
        p.context_lens, p.block_table = address(self.lens), address(self.table)
        p.max_pages = shape_of(self.table)[1]
        p.pooled = address(self.pooled)
        p.memory = self.memory
        self.problem = p
        self.shape = (batch, next_n)


def _backend(backend, memory):
    if backend is None:
        return memory
    name = backend.type if (torch is not None and isinstance(backend, torch.device)) else backend
    if name in ("cpu", "cuda"):
        return _C.Device.cpu if name == "cpu" else _C.Device.cuda
    raise argument_error("backend", f"expected None, 'cpu' or 'cuda', got {backend!r}")


def _run(q, kv_cache, weights, context_lens, block_table, pooled, method, topk, block_size,
         num_blocks, order="score", allow_nonfinite=False, check_values=True, backend=None,
         threads=0, out=None, workspace=None):
    if method not in DECODE_METHODS:
        raise argument_error("method", f"decode supports {list(DECODE_METHODS)}, got {method!r}")
    inputs = _DecodeInputs(q, kv_cache, weights, context_lens, block_table, pooled)
    config = make_config(method, topk=topk, block_size=block_size, num_blocks=num_blocks,
                         order=order)
    with python_names():
        _C.validate_decode_shapes(inputs.problem, config)
    device = _backend(backend, inputs.memory)
    shape = inputs.shape + (config.topk,)
    if out is None:
        out = (torch.empty(shape, dtype=torch.int32, device=inputs.device) if inputs.flavour == "torch"
               else np.empty(shape, dtype=np.int32))
    elif shape_of(out) != shape:
        raise argument_error("out", f"expected shape {list(shape)}, got {list(shape_of(out))}")
    opts = _C.Options()
    opts.device = device
    opts.allow_nonfinite = bool(allow_nonfinite)
    opts.check_values = bool(check_values)
    opts.threads = integer(threads, "threads")
    if inputs.memory == _C.Device.cuda and device == _C.Device.cuda:
        with python_names():
            need = _C.decode_workspace_bytes(inputs.problem, config, _C.Device.cuda)
        ws = workspace if workspace is not None else torch.empty(max(need, 1), dtype=torch.uint8, device=inputs.device)
        if ws.numel() < need:
            raise argument_error("workspace", f"has {ws.numel()} bytes, this call needs {need}")
        opts.workspace, opts.workspace_bytes = ws.data_ptr(), ws.numel()
        with torch.cuda.device(inputs.device):
            opts.stream = torch.cuda.current_stream(inputs.device).cuda_stream
            with python_names():
                _C.decode_select(inputs.problem, config, address(out), opts)
        del ws
    else:
        with python_names():
            _C.decode_select(inputs.problem, config, address(out), opts)
    return out


def _default_check(q):
    if not is_torch(q):
        return True
    compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None)
    if compiling is not None and compiling():
        return False
    return not (q.is_cuda and torch.cuda.is_current_stream_capturing())


# ---- public functions ------------------------------------------------------------------------


def decode_topk(q, kv_cache, weights, context_lens, block_table, pooled=None, *, method="hisa",
                topk=2048, block_size=64, num_blocks=64, order="score", allow_nonfinite=False,
                check_values=None, backend=None, threads=0, out=None, workspace=None):
    """Top-k positions of each decode query (see the module docstring): int32 [batch, next_n, topk].

    method: 'flat' (exact DSA), 'hisa' (block_size B, num_blocks m), 'block' (block-sparse, B).
    'hisa' and 'block' need `pooled` (build_pooled / update_pooled with the same block_size).
    order='index': the same indices per row in ascending index order (-1 last) instead of score
    order; faster on the GPU, enough for sparse attention.
    """
    if check_values is None:
        check_values = _default_check(q)
    eager_only = out is not None or workspace is not None or backend is not None or threads != 0
    if _OP is not None and not eager_only and flavour_of(q) == "torch":
        return _OP(q, kv_cache, weights, context_lens, block_table, pooled, method=method, topk=topk,
                   block_size=block_size, num_blocks=num_blocks, order=order,
                   allow_nonfinite=allow_nonfinite, check_values=check_values)
    return _run(q, kv_cache, weights, context_lens, block_table, pooled, method, topk, block_size,
                num_blocks, order, allow_nonfinite, check_values, backend, threads, out, workspace)


def decode_workspace_bytes(q, kv_cache, weights, context_lens, block_table, pooled=None, *,
                           method="hisa", topk=2048, block_size=64, num_blocks=64,
                           order="score"):
    """CUDA workspace bytes decode_topk needs for these shapes (pass `workspace=`)."""
    inputs = _DecodeInputs(q, kv_cache, weights, context_lens, block_table, pooled)
    config = make_config(method, topk=topk, block_size=block_size, num_blocks=num_blocks,
                         order=order)
    with python_names():
        return _C.decode_workspace_bytes(inputs.problem, config, _C.Device.cuda)


def _stream_for(x):
    if is_torch(x) and x.is_cuda:
        return torch.cuda.current_stream(x.device).cuda_stream
    return 0


def update_pooled(kv_cache, pooled, *, slot_mapping=None, positions=None, seq_index=None,
                  block_table=None, context_lens=None, new_tokens=1, block_size=64,
                  check_values=None):
    """Folds newly written keys into the pooled cache, in place (hisa/decode.hpp PooledUpdate).

    Either vLLM's slot mapping: slot_mapping [n] (page * P + offset, negative = padding, any
    integer dtype), positions [n] int32 (each token's position in its sequence), and, when
    block_size > P, seq_index [n] int32 + block_table; each sequence's tokens consecutive and in
    position order. Or per sequence: block_table + context_lens (after the append) and
    new_tokens (each sequence appended its last new_tokens tokens; -1: all of them).
    """
    flavour = flavour_of(kv_cache) if not isinstance(kv_cache, np.ndarray) else "numpy"
    cache, kv = _cache_view(kv_cache, flavour)
    pooled = adopt(pooled, "pooled", flavour)
    if shape_of(pooled) != (cache.num_pages, cache.D):
        raise argument_error("pooled", f"expected [num_pages, D] = {[cache.num_pages, cache.D]}, got {list(shape_of(pooled))}")
    require_f32(pooled, "pooled")
    ok = pooled.is_contiguous() if is_torch(pooled) else pooled.flags.c_contiguous
    if not ok:
        raise argument_error("pooled", "must be contiguous (it is updated in place)")
    u = _C.PooledUpdate()
    keep = [kv, pooled]
    if slot_mapping is not None:
        sm = adopt(slot_mapping, "slot_mapping", flavour).reshape(-1)
        sm = sm.to(torch.int64) if is_torch(sm) else sm.astype(np.int64)
        pos = _int32(positions, "positions", flavour, (int(sm.shape[0]),), "[n]")
        u.n = int(sm.shape[0])
        sm = contiguous(sm)
        u.slot_mapping, u.positions = address(sm), address(pos)
        keep += [sm, pos]
        if seq_index is not None:
            si = _int32(seq_index, "seq_index", flavour, (u.n,), "[n]")
            u.seq_index = address(si)
            keep.append(si)
    else:
        if context_lens is None:
            raise argument_error("context_lens", "the per-sequence form needs context_lens and block_table")
        lens = _int32(context_lens, "context_lens", flavour, (None,), "[batch]")
        u.batch = int(shape_of(lens)[0])
        u.context_lens = address(lens)
        u.new_tokens = integer(new_tokens, "new_tokens")
        keep.append(lens)
    if block_table is not None:
        bt = _int32(block_table, "block_table", flavour, (None, None), "[batch, max_pages]")
        if u.batch and shape_of(bt)[0] != u.batch:
            raise argument_error("block_table", f"has {shape_of(bt)[0]} rows, context_lens {u.batch}")
        u.batch, u.max_pages = int(shape_of(bt)[0]), int(shape_of(bt)[1])
        u.block_table = address(bt)
        keep.append(bt)
    u.memory = memory_of(kv, "kv_cache")
    opts = _C.Options()
    opts.check_values = bool(_default_check(kv) if check_values is None else check_values)
    if u.memory == _C.Device.cuda:
        opts.device = _C.Device.cuda
        opts.stream = _stream_for(kv)
    with python_names():
        _C.pooled_update(cache, address(pooled), integer(block_size, "block_size"), u, opts)
    del keep
    return pooled


def build_pooled(kv_cache, block_table, context_lens, *, block_size=64, out=None):
    """The pooled-key cache [num_pages, D] float32 of every sequence's blocks, from the paged
    cache (prefill-to-decode hand-off). Bitwise what appending the same tokens gives."""
    flavour = flavour_of(kv_cache) if not isinstance(kv_cache, np.ndarray) else "numpy"
    cache, kv = _cache_view(kv_cache, flavour)
    if out is None:
        shape = (cache.num_pages, cache.D)
        out = (torch.zeros(shape, dtype=torch.float32, device=kv.device) if is_torch(kv)
               else np.zeros(shape, dtype=np.float32))
    return update_pooled(kv, out, block_table=block_table, context_lens=context_lens, new_tokens=-1,
                         block_size=block_size)


# ---- torch.library ops -----------------------------------------------------------------------

_OP = None
if torch is not None and hasattr(torch.library, "custom_op"):
    Tensor = torch.Tensor

    @torch.library.custom_op("hisa::decode_topk", mutates_args=())
    def _decode_topk_op(q: Tensor, kv_cache: Tensor, weights: Tensor, context_lens: Tensor,
                        block_table: Tensor, pooled: Optional[Tensor], method: str = "hisa",
                        topk: int = 2048, block_size: int = 64, num_blocks: int = 64,
                        order: str = "score", allow_nonfinite: bool = False,
                        check_values: bool = False) -> Tensor:
        return _run(q, kv_cache, weights, context_lens, block_table, pooled, method, topk,
                    block_size, num_blocks, order, allow_nonfinite, check_values)

    @_decode_topk_op.register_fake
    def _(q, kv_cache, weights, context_lens, block_table, pooled, method="hisa", topk=2048,
          block_size=64, num_blocks=64, order="score", allow_nonfinite=False, check_values=False):
        next_n = q.shape[1] if q.dim() == 4 else 1
        return q.new_empty((q.shape[0], next_n, topk), dtype=torch.int32)

    @torch.library.custom_op("hisa::decode_update_pooled", mutates_args=("pooled",))
    def _decode_update_pooled_op(kv_cache: Tensor, pooled: Tensor, context_lens: Tensor,
                                 block_table: Tensor, new_tokens: int = 1,
                                 block_size: int = 64) -> None:
        update_pooled(kv_cache, pooled, context_lens=context_lens, block_table=block_table,
                      new_tokens=new_tokens, block_size=block_size, check_values=False)

    @_decode_update_pooled_op.register_fake
    def _(kv_cache, pooled, context_lens, block_table, new_tokens=1, block_size=64):
        return None

    _OP = _decode_topk_op

assert set(DECODE_METHODS) <= set(METHODS)
