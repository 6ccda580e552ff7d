"""Selection methods by spec string, and the per-layer selector the model's attention restriction
calls. Specs are hisa's own (include/hisa/spec.hpp, parsed by the library, the same grammar as
`hisa eval --methods`), plus `dense`:

    dense                             no restriction (the model as trained)
    flat                              exact DSA selection
    hisa:B=64,m=16[,summary=emax][,Q=16]   HISA (block summary, shared candidates)
    block:B=64                        block-sparse baseline
    misa:a=1,c=4[,B=1024]             routed heads (hierarchical with c > 1)
    proj:d=8,c=4                      projected-key candidates + exact re-rank
    hisa-misa:B=64,m=64,a=1,c=2       HISA's blocks, MISA's heads over them, re-rank

Knobs left out take the library's defaults; the canonical spec (``Method.spec``) lists every
knob. `topk` is not a knob: the drivers set it (e.g. L/16). Other selectors (not in hisa) can be
registered:

    @register("mine", knobs=[Knob("B", "block_size", int, 64, "tokens per block")],
              doc="what it does")
    def _mine(q, kv, w, *, topk, threads, block_size):
        return my_selector(q, kv, w, topk=topk, block_size=block_size)   # int32 [T, topk]

A method receives one indexer problem (SPEC.md inputs: q [T, H, D], kv = k or (k, k_scale),
w [T, H]; one causal sequence) and returns SPEC.md's output: int32 [T, topk], -1 padded.
"""

import dataclasses
import time

import numpy as np

import hisa

from . import fp8
from .errors import RealDataError

HISA_METHODS = ("flat", "hisa", "block", "misa", "proj", "hisa-misa")


@dataclasses.dataclass(frozen=True)
class Knob:
    key: str          # the name in spec strings
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


# Selectors outside hisa's own methods (and dense); hisa's are parsed by the library.
REGISTRY = {"dense": MethodInfo("dense", None, (), "no restriction: dense causal attention")}


def register(name, knobs=(), doc=""):
    """Decorator: register `fn` as method `name` with its knobs (a sequence of Knob)."""
    def wrap(fn):
        if name in REGISTRY or name in HISA_METHODS:
            raise ValueError(f"method {name!r} is already registered")
        REGISTRY[name] = MethodInfo(name, fn, tuple(knobs), doc)
        return fn
    return wrap


@dataclasses.dataclass(frozen=True)
class Method:
    spec: str         # canonical: every knob
    name: str
    fn: object        # fn(q, kv, w, *, topk, threads, **params); None: dense
    params: tuple     # ((param, value), ...)

    @property
    def dense(self):
        return self.fn is None

    def __str__(self):
        return self.spec

    def select(self, q, kv, w, topk, threads=0):
        """int32 [T, topk] for one indexer problem (dense: not applicable)."""
        if self.dense:
            raise ValueError("dense attention has no selection")
        return self.fn(q, kv, w, topk=int(topk), threads=int(threads), **dict(self.params))


def _hisa_method(text, argument):
    """A spec of hisa's own grammar, parsed by the library."""
    try:
        name, knobs = hisa.spec_knobs(text)
        canonical = hisa._C.to_spec(hisa._C.parse_method_spec(text))
    except (hisa.ArgumentError, hisa.DTypeError) as e:
        raise RealDataError(argument, f"{text!r}: {e}") from None
    fn = getattr(hisa, f"{name}_topk")
    return Method(canonical, name, fn, tuple(knobs.items()))


def _registered_method(info, text, rest, argument):
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
    spec = info.name + (":" + ",".join(f"{k.key}={values[k.param]}" for k in info.knobs)
                        if info.knobs else "")
    return Method(spec, info.name, info.fn, tuple((k.param, values[k.param]) for k in info.knobs))


def parse(spec, argument="--methods"):
    """Method of a spec string; RealDataError naming `argument` when it is not one."""
    text = "".join(str(spec).split())
    name, _, rest = text.partition(":")
    if name in REGISTRY:
        return _registered_method(REGISTRY[name], text, rest, argument)
    if name in HISA_METHODS:
        return _hisa_method(text, argument)
    raise RealDataError(argument, f"unknown method {name!r} in {text!r} (known: "
                                  f"{', '.join(sorted(HISA_METHODS + tuple(REGISTRY)))})")


def parse_list(specs, argument="--methods"):
    """Methods of a list of spec strings (or one string separated by ';' or spaces)."""
    if isinstance(specs, str):
        specs = specs.replace(";", " ").split()
    out = [parse(s, argument) for s in specs]
    if not out:
        raise RealDataError(argument, "no method given")
    return out


def describe():
    """Help text: every method and its knobs."""
    lines = [
        "  flat   exact DSA indexer: top-k of all visible keys",
        "  hisa   B (64), m (64), summary (mean|bound|emax), Q (1: shared candidates off)",
        "  block  B (64), summary: block-sparse baseline, topk/B whole blocks",
        "  misa   a (8), c (1), B (1024): routed heads, c*topk re-ranked",
        "  proj   d (16), B (64), c (1): first/local block + the c*topk best other tokens in d"
        " key dimensions, re-ranked",
        "  hisa-misa  B, m, a, c, summary: HISA's blocks, MISA's heads, re-rank",
        "  (docs/semantics.md defines each)"]
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
