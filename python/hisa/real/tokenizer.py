"""The model's tokenizer, built from the GGUF's own vocabulary with the HF `tokenizers` library
(no hub, no tokenizer.json): byte-level BPE over `tokenizer.ggml.tokens` / `tokenizer.ggml.merges`.

Pre-tokenizers by `tokenizer.ggml.pre` (as llama.cpp's llama-vocab.cpp splits text):
  * 'smollm' (also starcoder, refact, codeshell...): every digit is its own piece (\\p{N}), then
    the GPT-2 regex ('s|'t|...| ?\\p{L}+| ?\\p{N}+|...) as HF's ByteLevel(use_regex=True) does;
  * 'gpt2' / 'default': the GPT-2 regex only.
Control tokens (token_type 3, e.g. <|im_start|>) are registered as special tokens, so they are
matched whole in text.
"""

from .errors import RealDataError

_DIGIT_SPLIT = {"smollm", "starcoder", "refact", "codeshell", "command-r", "exaone", "minerva"}
_PLAIN = {"gpt2", "default", "mpt", "olmo"}
CONTROL = 3


class Tokenizer:
    """encode(text) -> list of ids, decode(ids) -> text, plus the special ids."""

    def __init__(self, vocab, source="<gguf>"):
        try:
            from tokenizers import Tokenizer as HFTokenizer, decoders, models, pre_tokenizers
        except ImportError:
            raise RealDataError("tokenizers", "the 'tokenizers' package is needed: "
                                              "pip install 'hisa[real]'") from None
        if vocab.model != "gpt2":
            raise RealDataError(source, f"tokenizer.ggml.model is '{vocab.model}': only byte-level "
                                        f"BPE ('gpt2') is supported")
        if vocab.pre not in _DIGIT_SPLIT | _PLAIN:
            raise RealDataError(source, f"tokenizer.ggml.pre '{vocab.pre}' is not supported "
                                        f"(known: {sorted(_DIGIT_SPLIT | _PLAIN)})")
        ids = {}
        for i, tok in enumerate(vocab.tokens):
            ids.setdefault(tok, i)
        merges = []
        for m in vocab.merges:
            a, sep, b = m.partition(" ")
            if not sep:
                raise RealDataError(source, f"malformed merge {m!r} in tokenizer.ggml.merges")
            merges.append((a, b))
        bpe = models.BPE(vocab=ids, merges=merges, fuse_unk=False, byte_fallback=False)
        tk = HFTokenizer(bpe)
        byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        if vocab.pre in _DIGIT_SPLIT:
            tk.pre_tokenizer = pre_tokenizers.Sequence(
                [pre_tokenizers.Digits(individual_digits=True), byte_level])
        else:
            tk.pre_tokenizer = byte_level
        tk.decoder = decoders.ByteLevel()
        self.special = [vocab.tokens[i] for i, t in enumerate(vocab.token_type) if t == CONTROL]
        if self.special:
            tk.add_special_tokens(self.special)
        self._tk = tk
        self.vocab_size = len(vocab.tokens)
        self.bos, self.eos = vocab.bos, vocab.eos
        self.tokens = vocab.tokens
        self.chat_template = vocab.chat_template
        self.pre = vocab.pre

    def encode(self, text):
        return self._tk.encode(text, add_special_tokens=False).ids

    def decode(self, ids):
        return self._tk.decode([int(i) for i in ids], skip_special_tokens=False)

    def token_id(self, token):
        i = self._tk.token_to_id(token)
        if i is None:
            raise KeyError(token)
        return i


def from_weights(weights):
    return Tokenizer(weights.vocab, weights.path)
