"""torch.library custom ops in the namespace ``hisa``:

    torch.ops.hisa.flat_topk(q, k, k_scale, weights, ks, ke, topk=2048, ...)
    torch.ops.hisa.hisa_topk(q, k, k_scale, weights, ks, ke, topk=2048, block_size=64, num_blocks=64,
                             block_summary="mean", shared_candidates=1, ...)
    torch.ops.hisa.block_topk(q, k, k_scale, weights, ks, ke, topk=2048, block_size=64, block_summary="mean", ...)
    torch.ops.hisa.misa_topk(q, k, k_scale, weights, ks, ke, topk=2048, block_size=1024, heads=8, candidates=1, ...)
    torch.ops.hisa.proj_topk(q, k, k_scale, weights, ks, ke, topk=2048, proj_dim=16, candidates=4, block_size=64, ...)
    torch.ops.hisa.hisa_misa_topk(q, k, k_scale, weights, ks, ke, topk=2048, block_size=64, num_blocks=64,
                                  heads=8, candidates=4, block_summary="mean", ...)

Each also takes order="score" ("index": the same indices per row in ascending index order, -1
last) and returns a new int32 [T, topk] tensor on q's device. They are functional (no mutation),
have fake (meta) implementations for torch.compile, and on CUDA run on the current stream with a
workspace from torch's caching allocator and ``check_values=False`` by default: no host sync,
so they can be captured in CUDA graphs. The hisa.*_topk functions call these for torch tensors.
"""

from typing import Optional

import torch

from ._run import run

Tensor = torch.Tensor


def _kv(k, k_scale):
    return k if k_scale is None else (k, k_scale)


def _fake(q, topk):
    return q.new_empty((q.shape[0], topk), dtype=torch.int32)


@torch.library.custom_op("hisa::flat_topk", mutates_args=())
def flat_topk(q: Tensor, k: Tensor, k_scale: Optional[Tensor], weights: Tensor, ks: Optional[Tensor],
              ke: Optional[Tensor], topk: int = 2048, order: str = "score",
              allow_nonfinite: bool = False, check_values: bool = False) -> Tensor:
    return run("flat", q, _kv(k, k_scale), weights, ks, ke, dict(topk=topk, order=order),
               allow_nonfinite=allow_nonfinite, check_values=check_values)


@flat_topk.register_fake
def _(q, k, k_scale, weights, ks, ke, topk=2048, order="score", allow_nonfinite=False,
      check_values=False):
    return _fake(q, topk)


@torch.library.custom_op("hisa::hisa_topk", mutates_args=())
def hisa_topk(q: Tensor, k: Tensor, k_scale: Optional[Tensor], weights: Tensor, ks: Optional[Tensor],
              ke: Optional[Tensor], topk: int = 2048, block_size: int = 64, num_blocks: int = 64,
              block_summary: str = "mean", shared_candidates: int = 1, order: str = "score",
              allow_nonfinite: bool = False, check_values: bool = False) -> Tensor:
    return run("hisa", q, _kv(k, k_scale), weights, ks, ke,
               dict(topk=topk, block_size=block_size, num_blocks=num_blocks,
                    block_summary=block_summary, shared_candidates=shared_candidates,
                    order=order),
               allow_nonfinite=allow_nonfinite, check_values=check_values)


@hisa_topk.register_fake
def _(q, k, k_scale, weights, ks, ke, topk=2048, block_size=64, num_blocks=64,
      block_summary="mean", shared_candidates=1, order="score", allow_nonfinite=False,
      check_values=False):
    return _fake(q, topk)


@torch.library.custom_op("hisa::block_topk", mutates_args=())
def block_topk(q: Tensor, k: Tensor, k_scale: Optional[Tensor], weights: Tensor, ks: Optional[Tensor],
               ke: Optional[Tensor], topk: int = 2048, block_size: int = 64,
               block_summary: str = "mean", order: str = "score", allow_nonfinite: bool = False,
               check_values: bool = False) -> Tensor:
    return run("block", q, _kv(k, k_scale), weights, ks, ke,
               dict(topk=topk, block_size=block_size, block_summary=block_summary, order=order),
               allow_nonfinite=allow_nonfinite, check_values=check_values)


@block_topk.register_fake
def _(q, k, k_scale, weights, ks, ke, topk=2048, block_size=64, block_summary="mean",
      order="score", allow_nonfinite=False, check_values=False):
    return _fake(q, topk)


@torch.library.custom_op("hisa::misa_topk", mutates_args=())
def misa_topk(q: Tensor, k: Tensor, k_scale: Optional[Tensor], weights: Tensor, ks: Optional[Tensor],
              ke: Optional[Tensor], topk: int = 2048, block_size: int = 1024, heads: int = 8,
              candidates: int = 1, order: str = "score", allow_nonfinite: bool = False,
              check_values: bool = False) -> Tensor:
    return run("misa", q, _kv(k, k_scale), weights, ks, ke,
               dict(topk=topk, block_size=block_size, heads=heads, candidates=candidates,
                    order=order),
               allow_nonfinite=allow_nonfinite, check_values=check_values)


@misa_topk.register_fake
def _(q, k, k_scale, weights, ks, ke, topk=2048, block_size=1024, heads=8, candidates=1,
      order="score", allow_nonfinite=False, check_values=False):
    return _fake(q, topk)


@torch.library.custom_op("hisa::proj_topk", mutates_args=())
def proj_topk(q: Tensor, k: Tensor, k_scale: Optional[Tensor], weights: Tensor, ks: Optional[Tensor],
              ke: Optional[Tensor], topk: int = 2048, proj_dim: int = 16, candidates: int = 4,
              block_size: int = 64, order: str = "score", allow_nonfinite: bool = False,
              check_values: bool = False) -> Tensor:
    return run("proj", q, _kv(k, k_scale), weights, ks, ke,
               dict(topk=topk, proj_dim=proj_dim, candidates=candidates, block_size=block_size,
                    order=order),
               allow_nonfinite=allow_nonfinite, check_values=check_values)


@proj_topk.register_fake
def _(q, k, k_scale, weights, ks, ke, topk=2048, proj_dim=16, candidates=4, block_size=64,
      order="score", allow_nonfinite=False, check_values=False):
    return _fake(q, topk)


@torch.library.custom_op("hisa::hisa_misa_topk", mutates_args=())
def hisa_misa_topk(q: Tensor, k: Tensor, k_scale: Optional[Tensor], weights: Tensor,
                   ks: Optional[Tensor], ke: Optional[Tensor], topk: int = 2048,
                   block_size: int = 64, num_blocks: int = 64, heads: int = 8, candidates: int = 4,
                   block_summary: str = "mean", order: str = "score",
                   allow_nonfinite: bool = False, check_values: bool = False) -> Tensor:
    return run("hisa_misa", q, _kv(k, k_scale), weights, ks, ke,
               dict(topk=topk, block_size=block_size, num_blocks=num_blocks, heads=heads,
                    candidates=candidates, block_summary=block_summary, order=order),
               allow_nonfinite=allow_nonfinite, check_values=check_values)


@hisa_misa_topk.register_fake
def _(q, k, k_scale, weights, ks, ke, topk=2048, block_size=64, num_blocks=64, heads=8,
      candidates=4, block_summary="mean", order="score", allow_nonfinite=False,
      check_values=False):
    return _fake(q, topk)


OPS = {"flat": flat_topk, "hisa": hisa_topk, "block": block_topk, "misa": misa_topk,
       "proj": proj_topk, "hisa_misa": hisa_misa_topk}
