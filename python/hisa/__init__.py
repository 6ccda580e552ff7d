"""hisa: fast token selection (the indexer) for DeepSeek Sparse Attention.

Drop-in for "DeepGEMM fp8_mqa_logits, then top-k":

    import hisa
    idx = hisa.hisa_topk(q_fp8, (k_fp8, k_scale), weights, ks, ke, topk=2048)  # int32 [T, 2048]

Selection: flat_topk (exact DSA), hisa_topk, block_topk, misa_topk, proj_topk, hisa_misa_topk
(CPU only), spec_topk (any method by its spec, e.g. 'hisa:B=64,m=16'). Fidelity: iou, recall,
mass_recall, summarize. Workloads: make_gaussian, make_structured, quantize_fp8, to_bf16,
pack_sequences. numpy works alone; with torch installed, torch tensors (CPU or CUDA, on the
current stream) are accepted and torch.ops.hisa.{flat,hisa,block,misa}_topk are registered.
See docs/python.md.
"""

from . import _C
from ._errors import ArgumentError, BackendError, DTypeError
from .api import (
    block_topk,
    flat_topk,
    hisa_misa_topk,
    hisa_topk,
    misa_topk,
    proj_topk,
    spec_knobs,
    spec_topk,
    workspace_bytes,
)
from .decode import build_pooled, decode_topk, decode_workspace_bytes, update_pooled
from .metrics import iou, mass_recall, recall, summarize
from .workload import (
    Workload,
    decode_bf16,
    decode_fp8,
    encode_bf16,
    encode_fp8,
    make_gaussian,
    make_structured,
    pack_sequences,
    quantize_fp8,
    to_bf16,
)

__version__ = "0.1.0"

cuda_compiled = _C.cuda_compiled
cuda_device_count = _C.cuda_device_count

__all__ = [
    "ArgumentError", "BackendError", "DTypeError",
    "flat_topk", "hisa_topk", "block_topk", "misa_topk", "proj_topk", "hisa_misa_topk",
    "spec_topk", "spec_knobs", "workspace_bytes",
    "decode_topk", "build_pooled", "update_pooled", "decode_workspace_bytes",
    "iou", "recall", "mass_recall", "summarize",
    "Workload", "make_gaussian", "make_structured", "quantize_fp8", "to_bf16", "pack_sequences",
    "encode_fp8", "decode_fp8", "encode_bf16", "decode_bf16",
    "cuda_compiled", "cuda_device_count",
]
