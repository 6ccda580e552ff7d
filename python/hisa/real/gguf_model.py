"""Load a Llama-architecture GGUF (e.g. SmolLM2-135M-Instruct Q4_1) into float32 numpy weights,
with the `gguf` package (GGUFReader + gguf.quants.dequantize).

Weights keep llama.cpp's layout: each matrix is [out, in] (y = x @ W.T), and attn_q / attn_k rows
are permuted by llama.cpp's converter so that its "NORM" RoPE, which rotates ADJACENT pairs
(2i, 2i+1), is the right one (see model.py).
"""

import dataclasses
import os

import numpy as np

from .errors import RealDataError

ARCH = "llama"


@dataclasses.dataclass(frozen=True)
class LlamaConfig:
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ff: int
    n_ctx: int
    vocab_size: int
    rope_base: float
    eps: float
    tied_embeddings: bool

    @property
    def group_size(self):
        """Query heads per KV head (one KV group = one MQA indexer problem)."""
        return self.n_head // self.n_head_kv


@dataclasses.dataclass
class Vocab:
    tokens: list
    merges: list
    token_type: list
    pre: str
    model: str
    bos: int
    eos: int
    chat_template: str


@dataclasses.dataclass
class LlamaWeights:
    config: LlamaConfig
    embed: np.ndarray           # [V, E]
    output: np.ndarray          # [V, E] (the embedding itself when tied)
    output_norm: np.ndarray     # [E]
    layers: list                # dicts: attn_norm, wq, wk, wv, wo, ffn_norm, w_gate, w_up, w_down
    vocab: Vocab
    path: str
    name: str


_LAYER_TENSORS = {  # GGUF name -> (key in the layer dict, shape from the config)
    "attn_norm": ("attn_norm", lambda c: (c.n_embd,)),
    "attn_q": ("wq", lambda c: (c.n_head * c.head_dim, c.n_embd)),
    "attn_k": ("wk", lambda c: (c.n_head_kv * c.head_dim, c.n_embd)),
    "attn_v": ("wv", lambda c: (c.n_head_kv * c.head_dim, c.n_embd)),
    "attn_output": ("wo", lambda c: (c.n_embd, c.n_head * c.head_dim)),
    "ffn_norm": ("ffn_norm", lambda c: (c.n_embd,)),
    "ffn_gate": ("w_gate", lambda c: (c.n_ff, c.n_embd)),
    "ffn_up": ("w_up", lambda c: (c.n_ff, c.n_embd)),
    "ffn_down": ("w_down", lambda c: (c.n_embd, c.n_ff)),
}


def _import_gguf():
    try:
        import gguf  # noqa: F401
        import gguf.quants  # noqa: F401
    except ImportError:
        raise RealDataError("gguf", "the 'gguf' package is needed: pip install 'hisa[real]'") from None
    return gguf


def _field(reader, key, path, default=None, required=True):
    f = reader.fields.get(key)
    if f is None:
        if required and default is None:
            raise RealDataError(path, f"missing GGUF metadata key '{key}'")
        return default
    try:
        return f.contents()
    except Exception as e:  # a malformed field
        raise RealDataError(path, f"cannot read GGUF metadata key '{key}' ({e})") from None


def open_gguf(path):
    """A gguf.GGUFReader over `path`, with the file checked to hold every tensor's bytes."""
    gguf = _import_gguf()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise RealDataError(path, "model file not found (run `python -m hisa.real fetch` or pass --model)")
    size = os.path.getsize(path)
    try:
        reader = gguf.GGUFReader(path, "r")
    except Exception as e:  # bad magic, truncated header or tensor table, ...
        raise RealDataError(path, f"not a readable GGUF file: truncated or corrupt ({size} bytes; "
                                  f"{type(e).__name__}: {e})") from None
    for t in reader.tensors:
        end = int(t.data_offset) + int(t.n_bytes)
        if end > size or t.data.nbytes != int(t.n_bytes):
            raise RealDataError(path, f"truncated: tensor '{t.name}' needs bytes up to {end}, "
                                      f"the file has {size}")
    return reader


def read_config(reader, path):
    arch = _field(reader, "general.architecture", path)
    if arch != ARCH:
        raise RealDataError(path, f"architecture is '{arch}', only '{ARCH}' is supported")
    g = lambda key, **kw: _field(reader, f"{ARCH}.{key}", path, **kw)  # noqa: E731
    n_embd = int(g("embedding_length"))
    n_head = int(g("attention.head_count"))
    n_head_kv = int(g("attention.head_count_kv", default=n_head))
    head_dim = n_embd // n_head
    rope_dim = int(g("rope.dimension_count", default=head_dim))
    if rope_dim != head_dim:
        raise RealDataError(path, f"partial RoPE (rope.dimension_count={rope_dim}, head dim "
                                  f"{head_dim}) is not supported")
    scaling = _field(reader, f"{ARCH}.rope.scaling.type", path, required=False)
    if scaling not in (None, "none"):
        raise RealDataError(path, f"RoPE scaling '{scaling}' is not supported")
    if n_head % n_head_kv:
        raise RealDataError(path, f"head_count {n_head} is not a multiple of head_count_kv {n_head_kv}")
    tokens = _field(reader, "tokenizer.ggml.tokens", path)
    names = {t.name for t in reader.tensors}
    return LlamaConfig(
        n_layer=int(g("block_count")), n_embd=n_embd, n_head=n_head, n_head_kv=n_head_kv,
        head_dim=head_dim, n_ff=int(g("feed_forward_length")),
        n_ctx=int(g("context_length")), vocab_size=len(tokens),
        rope_base=float(g("rope.freq_base", default=10000.0)),
        eps=float(g("attention.layer_norm_rms_epsilon")),
        tied_embeddings="output.weight" not in names)


def read_vocab(reader, path):
    def get(key, default=None, required=True):
        return _field(reader, key, path, default=default, required=required)
    model = get("tokenizer.ggml.model")
    tokens = list(get("tokenizer.ggml.tokens"))
    return Vocab(
        tokens=tokens,
        merges=list(get("tokenizer.ggml.merges", required=False) or []),
        token_type=list(get("tokenizer.ggml.token_type", required=False) or [1] * len(tokens)),
        pre=get("tokenizer.ggml.pre", required=False) or "default",
        model=model,
        bos=int(get("tokenizer.ggml.bos_token_id", required=False) or 0),
        eos=int(get("tokenizer.ggml.eos_token_id", required=False) or 0),
        chat_template=get("tokenizer.chat_template", required=False) or "")


def load_gguf(path, layers=None):
    """LlamaWeights of a llama GGUF, dequantized to float32. `layers`: how many layers to load
    (default all; fewer for quick experiments)."""
    gguf = _import_gguf()
    path = os.fspath(path)
    reader = open_gguf(path)
    cfg = read_config(reader, path)
    vocab = read_vocab(reader, path)
    tensors = {t.name: t for t in reader.tensors}

    def tensor(name, shape):
        t = tensors.get(name)
        if t is None:
            raise RealDataError(path, f"missing tensor '{name}'")
        gshape = tuple(int(x) for x in reversed(t.shape.tolist()))  # GGUF lists ne0 (inner) first
        if gshape != tuple(shape):
            raise RealDataError(path, f"tensor '{name}' has shape {list(gshape)}, expected "
                                      f"{list(shape)} from the metadata")
        try:
            a = gguf.quants.dequantize(t.data, t.tensor_type)
        except NotImplementedError as e:
            raise RealDataError(path, f"tensor '{name}': {e}") from None
        return np.ascontiguousarray(a.reshape(shape), dtype=np.float32)

    n = cfg.n_layer if layers is None else min(int(layers), cfg.n_layer)
    embed = tensor("token_embd.weight", (cfg.vocab_size, cfg.n_embd))
    out_layers = []
    for i in range(n):
        out_layers.append({key: tensor(f"blk.{i}.{name}.weight", shape(cfg))
                           for name, (key, shape) in _LAYER_TENSORS.items()})
    output = embed if cfg.tied_embeddings else tensor("output.weight", (cfg.vocab_size, cfg.n_embd))
    if n != cfg.n_layer:
        cfg = dataclasses.replace(cfg, n_layer=n)
    name = _field(reader, "general.name", path, required=False) or os.path.basename(path)
    return LlamaWeights(config=cfg, embed=embed, output=output,
                        output_norm=tensor("output_norm.weight", (cfg.n_embd,)),
                        layers=out_layers, vocab=vocab, path=path, name=str(name))


def load_vocab(path):
    """The tokenizer vocabulary of a GGUF, without loading the weights."""
    path = os.fspath(path)
    return read_vocab(open_gguf(path), path)
