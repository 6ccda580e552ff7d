"""Selection methods by spec string, and the per-layer selector the model's attention restriction
calls. The one place that maps a method name and its knobs to a hisa API call: to add a method or
a knob, register it here.

Spec strings: ``NAME`` or ``NAME:KNOB=VALUE[,KNOB=VALUE...]``, e.g.

    dense                 no restriction (the model as trained)
    flat                  exact DSA selection (hisa.flat_topk)
    hisa:B=64,m=16        hisa.hisa_topk(block_size=64, num_blocks=16)
    block:B=64            hisa.block_topk(block_size=64)
    misa:a=1,c=4,B=64     hisa.misa_topk(heads=1, candidates=4, block_size=64)

Knobs left out take the API's defaults; the canonical spec (``Method.spec``) lists every knob.
`topk` is not a knob: the drivers set it (e.g. L/16).

Adding a method:

    @register("mine", knobs=[Knob("B", "block_size", int, 64, "tokens per block")],
              doc="what it does")
    def _mine(q, kv, w, *, topk, threads, block_size):
        return my_selector(q, kv, w, topk=topk, block_size=block_size)   # int32 [T, topk]

The function receives one indexer problem (SPEC.md inputs: q [T, H, D], kv = k or (k, k_scale),
w [T, H]; one causal sequence) and returns SPEC.md's output: int32 [T, topk], -1 padded.
"""

import dataclasses
import time

import numpy as np

import hisa

from . import fp8
from .errors import RealDataError


@dataclasses.dataclass(frozen=True)
class Knob:
    key: str          # the name in spec strings (short: B, m, a, c)
    param: str        # the keyword argument of the method's function
    type: type
    default: object
    doc: str = ""


@dataclasses.dataclass(frozen=True)
class MethodInfo:
    name: str
    fn: object        # fn(q, kv, w, *, topk, threads, **params) -> int32 [T, topk]; None: dense
    knobs: tuple
    doc: str


REGISTRY = {}


def register(name, knobs=(), doc=""):
    """Decorator: register `fn` as method `name` with its knobs (a sequence of Knob)."""
    def wrap(fn):
        if name in REGISTRY:
            raise ValueError(f"method {name!r} is already registered")
        REGISTRY[name] = MethodInfo(name, fn, tuple(knobs), doc)
        return fn
    return wrap


REGISTRY["dense"] = MethodInfo("dense", None, (), "no restriction: dense causal attention")


@register("flat", doc="exact DSA indexer: top-k of all visible keys (hisa.flat_topk)")
def _flat(q, kv, w, *, topk, threads):
    return hisa.flat_topk(q, kv, w, topk=topk, threads=threads)


_B = Knob("B", "block_size", int, 64, "tokens per block")


@register("hisa", knobs=[_B, Knob("m", "num_blocks", int, 64, "blocks kept per query")],
          doc="hierarchical: best m blocks by pooled key, then exact top-k (hisa.hisa_topk)")
def _hisa(q, kv, w, *, topk, threads, block_size, num_blocks):
    return hisa.hisa_topk(q, kv, w, topk=topk, threads=threads, block_size=block_size,
                          num_blocks=num_blocks)


@register("block", knobs=[_B], doc="block-sparse baseline: topk/B best blocks, whole (hisa.block_topk)")
def _block(q, kv, w, *, topk, threads, block_size):
    return hisa.block_topk(q, kv, w, topk=topk, threads=threads, block_size=block_size)


@register("misa", knobs=[Knob("a", "heads", int, 8, "active heads per query"),
                         Knob("c", "candidates", int, 1, "candidate factor (c*topk re-ranked)"), _B],
          doc="routed heads (hisa.misa_topk)")
def _misa(q, kv, w, *, topk, threads, heads, candidates, block_size):
    return hisa.misa_topk(q, kv, w, topk=topk, threads=threads, heads=heads,
                          candidates=candidates, block_size=block_size)


@dataclasses.dataclass(frozen=True)
class Method:
    info: MethodInfo
    params: tuple     # ((param, value), ...) in knob order

    @property
    def name(self):
        return self.info.name

    @property
    def dense(self):
        return self.info.fn is None

    @property
    def spec(self):
        """Canonical spec string: every knob, in registration order."""
        if not self.info.knobs:
            return self.name
        values = dict(self.params)
        return self.name + ":" + ",".join(f"{k.key}={values[k.param]}" for k in self.info.knobs)

    def __str__(self):
        return self.spec

    def select(self, q, kv, w, topk, threads=0):
        """int32 [T, topk] for one indexer problem (dense: not applicable)."""
        if self.dense:
            raise ValueError("dense attention has no selection")
        return self.info.fn(q, kv, w, topk=int(topk), threads=int(threads), **dict(self.params))


def parse(spec, argument="--methods"):
    """Method of a spec string; RealDataError naming `argument` when it is not one."""
    text = str(spec).strip()
    name, _, rest = text.partition(":")
    info = REGISTRY.get(name.strip())
    if info is None:
        raise RealDataError(argument, f"unknown method {name!r} in {text!r} "
                                      f"(known: {', '.join(sorted(REGISTRY))})")
    by_key = {k.key: k for k in info.knobs}
    values = {k.param: k.default for k in info.knobs}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, value = item.partition("=")
        knob = by_key.get(key.strip())
        if knob is None or not eq:
            known = ", ".join(f"{k.key} ({k.doc})" for k in info.knobs) or "none"
            raise RealDataError(argument, f"{text!r}: bad knob {item!r} for {info.name} "
                                          f"(knobs: {known}; write KNOB=VALUE)")
        try:
            values[knob.param] = knob.type(value.strip())
        except ValueError:
            raise RealDataError(argument, f"{text!r}: {key}={value!r} is not a "
                                          f"{knob.type.__name__}") from None
    return Method(info, tuple((k.param, values[k.param]) for k in info.knobs))


def parse_list(specs, argument="--methods"):
    """Methods of a list of spec strings (or one string separated by ';' or spaces)."""
    if isinstance(specs, str):
        specs = specs.replace(";", " ").split()
    out = [parse(s, argument) for s in specs]
    if not out:
        raise RealDataError(argument, "no method given")
    return out


def describe():
    """Help text: every registered method and its knobs."""
    lines = []
    for info in REGISTRY.values():
        knobs = ", ".join(f"{k.key}={k.default} ({k.doc})" for k in info.knobs)
        lines.append(f"  {info.name:6s} {info.doc}" + (f"; knobs: {knobs}" if knobs else ""))
    return "\n".join(lines)


class Selector:
    """The model's attention restriction for one method: called per layer with the per-group
    post-RoPE (q [T, G, D], k [S, D]), it returns one selection per group (None for dense or
    for layers left dense). The indexer weights are uniform, w = 1 per head; with dtype 'fp8'
    q and k are quantised as DSA does (fp8.py) before selecting. `seconds` and `calls` count
    the time spent in the selection calls."""

    def __init__(self, method, topk, dtype="f32", threads=0, layers=None):
        if dtype not in ("f32", "fp8"):
            raise RealDataError("--select-dtype", f"{dtype!r}: f32 or fp8")
        self.method, self.topk, self.dtype = method, int(topk), dtype
        self.threads = int(threads)
        self.layers = None if layers is None else set(layers)
        self.seconds, self.calls = 0.0, 0

    def problem(self, q, k):
        """(q, kv, w) of one group as the method receives it."""
        w = np.ones(q.shape[:2], dtype=np.float32)
        if self.dtype == "f32":
            return q, k, w
        q8, k8, k_scale, w8, _ = fp8.quantize_indexer(q, k, w)
        return q8, (k8, k_scale), w8

    def __call__(self, layer, qs, ks):
        if self.method.dense or (self.layers is not None and layer not in self.layers):
            return None
        t0 = time.perf_counter()
        out = []
        for q, k in zip(qs, ks):
            out.append(self.method.select(*self.problem(q, k), topk=self.topk, threads=self.threads))
        self.seconds += time.perf_counter() - t0
        self.calls += len(out)
        return out


def preflight(method_list, topks, L, group_heads, head_dim, dtype="f32", argument="--methods"):
    """Call every (method, topk) once on a one-query problem of L keys, so that a knob the
    method refuses (e.g. block with topk < 2 B) fails before hours of forward passes, with a
    RealDataError naming `argument`."""
    rng = np.random.default_rng(0)
    q = rng.standard_normal((1, group_heads, head_dim)).astype(np.float32)
    k = rng.standard_normal((L, head_dim)).astype(np.float32)
    for m in method_list:
        if m.dense:
            continue
        for topk in topks:
            sel = Selector(m, topk, dtype, threads=1)
            try:
                sel.method.select(*sel.problem(q, k), topk=topk, threads=1)
            except (hisa.ArgumentError, hisa.DTypeError) as e:
                raise RealDataError(argument, f"{m.spec} at topk={topk}: {e}") from None
