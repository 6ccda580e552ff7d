"""The selection functions. Arguments follow DeepGEMM's ``fp8_mqa_logits(q, kv, weights,
cu_seq_len_k_start, cu_seq_len_k_end)``, so an indexer's "logits, then top-k" becomes one call:

    idx = hisa.hisa_topk(q_fp8, (k_fp8, k_scale), weights, ks, ke, topk=2048)

Inputs (SPEC.md "Inputs"):
  q        [T, H, D]  torch.float8_e4m3fn / torch.bfloat16 / torch.float32, or numpy uint8
                      (FP8 e4m3fn bytes) / uint16 (bf16 bits) / float32
  kv       k [S, D] of q's dtype, or the pair (k, k_scale) with k_scale [S] (or [S, 1]) float32
  weights  [T, H] float32
  cu_seq_len_k_start, cu_seq_len_k_end   [T] int32: query t sees keys [ks[t], ke[t]);
           both None: one causal sequence (ks = 0, ke = S - T + t + 1)

Output: int32 [T, topk] of absolute rows of k, best first (ties: larger index), -1 padded; a torch
tensor on q's device for torch inputs, a numpy array for numpy inputs (other DLPack tensors:
numpy when in host memory, else torch).

Keyword options shared by every function:
  order            order='index': the same indices per row in ascending index order (-1 last)
                   instead of score order; faster on the GPU, enough for sparse attention.
  allow_nonfinite  accept NaN/Inf in q, k, weights, k_scale (NaN scores rank last); default: error
  check_values     scan values and ks/ke ranges before running. Default: yes, except while a
                   CUDA graph is being captured or torch.compile traces (a scan of device memory
                   syncs the host)
  backend          None (where q lives), 'cpu' or 'cuda' (numpy inputs on 'cuda' are staged)
  threads          CPU worker threads (0: all cores)
  out              preallocated int32 [T, topk] to write into (eager only)
  workspace        preallocated torch.uint8 CUDA tensor of >= hisa.workspace_bytes(...) bytes
                   (eager only; by default the workspace comes from torch's caching allocator)
"""

from . import _C, _inputs
from ._inputs import is_torch, split_kv, torch
from ._run import run, workspace_bytes as _workspace_bytes

if torch is not None and hasattr(torch.library, "custom_op"):
    from .torch_ops import OPS as _OPS
else:  # no torch, or one without torch.library.custom_op (< 2.4): torch tensors run eagerly
    _OPS = None


def _default_check(q):
    """Scan values unless that would sync the host inside a trace or a graph capture."""
    if not is_torch(q):
        return True
    compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None)
    if compiling is not None and compiling():
        return False
    if q.is_cuda and torch.cuda.is_current_stream_capturing():
        return False
    return True


def _select(method, q, kv, weights, ks, ke, knobs, allow_nonfinite, check_values, backend,
            threads, out, workspace):
    if check_values is None:
        check_values = _default_check(q)
    eager_only = out is not None or workspace is not None or backend is not None or threads != 0
    if _OPS is not None and not eager_only and _inputs.flavour_of(q) == "torch":
        # Through the torch.library op, so torch.compile sees one opaque node.
        k, k_scale = split_kv(kv)
        args = [_inputs.adopt(x, name, "torch") for x, name in (
            (q, "q"), (k, "kv"), (k_scale, "kv"), (weights, "weights"),
            (ks, "cu_seq_len_k_start"), (ke, "cu_seq_len_k_end"))]
        return _OPS[method](*args, **knobs, allow_nonfinite=allow_nonfinite,
                            check_values=check_values)
    return run(method, q, kv, weights, ks, ke, knobs, allow_nonfinite=allow_nonfinite,
               check_values=check_values, backend=backend, threads=threads, out=out,
               workspace=workspace)


def flat_topk(q, kv, weights, cu_seq_len_k_start=None, cu_seq_len_k_end=None, *, topk=2048,
              order="score", allow_nonfinite=False, check_values=None, backend=None, threads=0,
              out=None, workspace=None):
    """Exact DSA selection: the top `topk` of all visible keys by the indexer score."""
    return _select("flat", q, kv, weights, cu_seq_len_k_start, cu_seq_len_k_end,
                   dict(topk=topk, order=order), allow_nonfinite, check_values, backend, threads,
                   out, workspace)


def hisa_topk(q, kv, weights, cu_seq_len_k_start=None, cu_seq_len_k_end=None, *, topk=2048,
              block_size=64, num_blocks=64, block_summary="mean", shared_candidates=1,
              order="score", allow_nonfinite=False, check_values=None, backend=None, threads=0,
              out=None, workspace=None):
    """HISA: score pooled blocks of `block_size` (B) keys, keep the first, the local and the
    best other blocks, `num_blocks` (m) in all, then the exact top `topk` of their tokens.
    m * B >= the visible length gives exactly flat_topk. `block_summary`: how a block is scored
    in the first stage: 'mean' (the pooled key), 'bound' (Quest's channel-wise min/max bound) or
    'emax' (mean + sqrt(2 ln B) * channel-wise spread; docs/semantics.md).
    `shared_candidates` Q > 1: each query of a tile of Q consecutive query rows (per sequence)
    selects from the union of the tile's kept blocks (fidelity can only rise; on CUDA, sm_90 only)."""
    return _select("hisa", q, kv, weights, cu_seq_len_k_start, cu_seq_len_k_end,
                   dict(topk=topk, block_size=block_size, num_blocks=num_blocks,
                        block_summary=block_summary, shared_candidates=shared_candidates,
                        order=order),
                   allow_nonfinite, check_values, backend, threads, out, workspace)


def block_topk(q, kv, weights, cu_seq_len_k_start=None, cu_seq_len_k_end=None, *, topk=2048,
               block_size=64, block_summary="mean", order="score", allow_nonfinite=False,
               check_values=None, backend=None, threads=0, out=None, workspace=None):
    """Block-sparse baseline: the topk / block_size best blocks (as HISA), all their tokens."""
    return _select("block", q, kv, weights, cu_seq_len_k_start, cu_seq_len_k_end,
                   dict(topk=topk, block_size=block_size, block_summary=block_summary,
                        order=order),
                   allow_nonfinite, check_values, backend, threads, out, workspace)


def misa_topk(q, kv, weights, cu_seq_len_k_start=None, cu_seq_len_k_end=None, *, topk=2048,
              block_size=1024, heads=8, candidates=1, order="score", allow_nonfinite=False,
              check_values=None, backend=None, threads=0, out=None, workspace=None):
    """MISA: route each query to its `heads` (a) most active heads (block statistics of size
    `block_size`), select with those heads; `candidates` (c) > 1 re-ranks the best c * topk by the
    full score."""
    return _select("misa", q, kv, weights, cu_seq_len_k_start, cu_seq_len_k_end,
                   dict(topk=topk, block_size=block_size, heads=heads, candidates=candidates,
                        order=order),
                   allow_nonfinite, check_values, backend, threads, out, workspace)


def proj_topk(q, kv, weights, cu_seq_len_k_start=None, cu_seq_len_k_end=None, *, topk=2048,
              proj_dim=16, candidates=4, block_size=64, order="score", allow_nonfinite=False,
              check_values=None, backend=None, threads=0, out=None, workspace=None):
    """Projected-key candidates: the first and the local block of `block_size` tokens, plus the
    `candidates` * topk other tokens that score best with all heads in the sequence's `proj_dim`
    (d') leading key directions (eigenvectors of its keys' second moment), re-ranked by the
    exact score. CPU only for now."""
    return _select("proj", q, kv, weights, cu_seq_len_k_start, cu_seq_len_k_end,
                   dict(topk=topk, proj_dim=proj_dim, candidates=candidates,
                        block_size=block_size, order=order), allow_nonfinite, check_values,
                   backend, threads, out, workspace)


def hisa_misa_topk(q, kv, weights, cu_seq_len_k_start=None, cu_seq_len_k_end=None, *,
                   topk=2048, block_size=64, num_blocks=64, heads=8, candidates=4,
                   block_summary="mean", order="score", allow_nonfinite=False,
                   check_values=None, backend=None, threads=0, out=None, workspace=None):
    """HISA's block filter (`num_blocks` of `block_size`), then MISA's `heads` routed heads score
    the kept tokens, the best `candidates` * topk re-ranked by the exact score. CPU only for now."""
    return _select("hisa_misa", q, kv, weights, cu_seq_len_k_start, cu_seq_len_k_end,
                   dict(topk=topk, block_size=block_size, num_blocks=num_blocks, heads=heads,
                        candidates=candidates, block_summary=block_summary, order=order),
                   allow_nonfinite, check_values, backend, threads, out, workspace)


def spec_knobs(spec):
    """(function name, keyword knobs) of a method spec such as 'hisa:B=64,m=16,summary=emax',
    'misa:a=8,c=4', 'proj:d=16,c=4', 'hisa-misa:B=64,m=64,a=1,c=4', 'block:B=64' or 'flat'
    (the same specs as `hisa eval --methods`; knobs not given keep the C++ defaults)."""
    c = _C.parse_method_spec(spec)
    name = {v: k for k, v in _inputs.METHODS.items()}[c.method]
    summary = {v: k for k, v in _inputs.SUMMARIES.items()}[c.block_summary]
    knobs = {"flat": {}, "hisa": dict(block_size=c.block_size, num_blocks=c.blocks,
                                      block_summary=summary,
                                      shared_candidates=c.shared_candidates),
             "block": dict(block_size=c.block_size, block_summary=summary),
             "misa": dict(block_size=c.block_size, heads=c.heads, candidates=c.candidates),
             "proj": dict(proj_dim=c.proj_dim, candidates=c.candidates, block_size=c.block_size),
             "hisa_misa": dict(block_size=c.block_size, num_blocks=c.blocks, heads=c.heads,
                               candidates=c.candidates, block_summary=summary)}[name]
    return name, knobs


def spec_topk(spec, q, kv, weights, cu_seq_len_k_start=None, cu_seq_len_k_end=None, *,
              topk=2048, **options):
    """The selection named by a method spec (see spec_knobs), e.g.
    hisa.spec_topk('hisa:B=64,m=16', q, (k, k_scale), weights, topk=512). `options` go to that
    function unchanged (order, allow_nonfinite, backend, ...)."""
    name, knobs = spec_knobs(spec)
    return globals()[f"{name}_topk"](q, kv, weights, cu_seq_len_k_start, cu_seq_len_k_end,
                                     topk=topk, **knobs, **options)


def workspace_bytes(q, kv, weights, cu_seq_len_k_start=None, cu_seq_len_k_end=None, *,
                    method="hisa", topk=2048, block_size=64, num_blocks=64, heads=8,
                    candidates=1, block_summary="mean", proj_dim=16, shared_candidates=1,
                    order="score", device=None):
    """Bytes of CUDA workspace one call needs for these shapes and knobs (0 on the CPU).
    Allocate once as torch.empty(n, dtype=torch.uint8, device=...) and pass `workspace=`."""
    knobs = dict(topk=topk, block_size=block_size, num_blocks=num_blocks, heads=heads,
                 candidates=candidates, block_summary=block_summary, proj_dim=proj_dim,
                 shared_candidates=shared_candidates, order=order)
    return _workspace_bytes(method, q, kv, weights, cu_seq_len_k_start, cu_seq_len_k_end,
                            knobs, device)
