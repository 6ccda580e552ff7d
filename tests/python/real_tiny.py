"""Helpers of the hisa.real tests: a tiny llama GGUF written with gguf.GGUFWriter (the real tensor
names and metadata keys of a llama GGUF, random weights, a small byte-level BPE vocabulary), and
a straightforward reference forward pass (float64, per-token loops) to check hisa.real.model
against."""

import math

import numpy as np

CONFIG = dict(n_layer=2, n_embd=32, n_head=4, n_head_kv=2, head_dim=8, n_ff=48, n_ctx=1024,
              rope_base=10000.0, eps=1e-5)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# merges over GPT-2's byte alphabet ('Ġ' is the space byte): enough to see BPE at work
MERGES = ["Ġ t", "h e", "Ġt he", "i s", "Ġ is", "a t", "Ġ c", "Ġc at", "e y", "Ġ k", "Ġk ey"]


def bytes_to_unicode():
    """GPT-2's byte -> printable character map (the byte-level BPE alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def vocab():
    """(tokens, token types, merges): specials (control, type 3), the 256 byte characters, then
    one token per merge."""
    tokens = list(SPECIALS) + [bytes_to_unicode()[b] for b in range(256)]
    tokens += ["".join(m.split(" ")) for m in MERGES]
    types = [3] * len(SPECIALS) + [1] * (len(tokens) - len(SPECIALS))
    return tokens, types, list(MERGES)


def random_weights(seed=0, cfg=CONFIG):
    """{GGUF tensor name: float32 array [out, in]} of a tiny llama."""
    rng = np.random.default_rng(seed)
    V = len(vocab()[0])
    E, H, HK, Dh, F = cfg["n_embd"], cfg["n_head"], cfg["n_head_kv"], cfg["head_dim"], cfg["n_ff"]

    def m(*shape, scale=None):
        return (rng.standard_normal(shape) * (scale or 1.0 / math.sqrt(shape[-1]))).astype(np.float32)

    out = {"token_embd.weight": m(V, E, scale=1.0), "output_norm.weight": 1 + 0.1 * m(E, scale=1)}
    for i in range(cfg["n_layer"]):
        p = f"blk.{i}."
        out[p + "attn_norm.weight"] = 1 + 0.1 * m(E, scale=1)
        out[p + "attn_q.weight"] = m(H * Dh, E, scale=3 / math.sqrt(E))
        out[p + "attn_k.weight"] = m(HK * Dh, E, scale=3 / math.sqrt(E))
        out[p + "attn_v.weight"] = m(HK * Dh, E)
        out[p + "attn_output.weight"] = m(E, H * Dh)
        out[p + "ffn_norm.weight"] = 1 + 0.1 * m(E, scale=1)
        out[p + "ffn_gate.weight"] = m(F, E)
        out[p + "ffn_up.weight"] = m(F, E)
        out[p + "ffn_down.weight"] = m(E, F)
    return out


def write_gguf(path, tensors=None, arch="llama", drop=(), quantize=(), cfg=CONFIG, vocab_=None):
    """Write a tiny llama GGUF. `drop`: tensor names to leave out; `quantize`: names stored as
    Q8_0 (the loader dequantizes them). Returns the float32 tensors as the loader should see
    them (quantized ones round-tripped)."""
    import gguf

    tensors = dict(random_weights() if tensors is None else tensors)
    tokens, types, merges = vocab_ or vocab()
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name("tiny-llama-test")
    w.add_block_count(cfg["n_layer"])
    w.add_context_length(cfg["n_ctx"])
    w.add_embedding_length(cfg["n_embd"])
    w.add_feed_forward_length(cfg["n_ff"])
    w.add_head_count(cfg["n_head"])
    w.add_head_count_kv(cfg["n_head_kv"])
    w.add_rope_freq_base(cfg["rope_base"])
    w.add_layer_norm_rms_eps(cfg["eps"])
    w.add_rope_dimension_count(cfg["head_dim"])
    w.add_vocab_size(len(tokens))
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_chat_template("{% for message in messages %}{{'<|im_start|>' + message['role'] }}{% endfor %}")
    seen = {}
    for name, a in tensors.items():
        if name in drop:
            continue
        if name in quantize:
            q = gguf.quants.quantize(a, gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor(name, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
            seen[name] = gguf.quants.dequantize(q, gguf.GGMLQuantizationType.Q8_0).reshape(a.shape)
        else:
            w.add_tensor(name, a)
            seen[name] = a
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return seen


# ---- reference forward (float64, loops) ------------------------------------------------------

def _rms(x, g, eps):
    return x / math.sqrt(float(np.mean(x * x)) + eps) * g


def _rope_one(vec, pos, base):
    out = vec.copy()
    D = len(vec)
    for i in range(D // 2):
        theta = pos * base ** (-2.0 * i / D)
        a, b = vec[2 * i], vec[2 * i + 1]
        out[2 * i] = a * math.cos(theta) - b * math.sin(theta)
        out[2 * i + 1] = a * math.sin(theta) + b * math.cos(theta)
    return out


def reference_forward(t, ids, restrict=None, cfg=CONFIG):
    """(final normed hidden [T, E], {layer: (q [T, H, D], k [T, HK, D]) post-RoPE}) in float64.
    `restrict[layer][g][t]`: the keys query t's heads of group g attend to (-1 entries ignored);
    None: all of 0..t."""
    t = {k: np.asarray(v, dtype=np.float64) for k, v in t.items()}
    E, H, HK, Dh = cfg["n_embd"], cfg["n_head"], cfg["n_head_kv"], cfg["head_dim"]
    G = H // HK
    T = len(ids)
    x = np.stack([t["token_embd.weight"][i] for i in ids])
    qk = {}
    for li in range(cfg["n_layer"]):
        p = f"blk.{li}."
        q = np.zeros((T, H, Dh))
        k = np.zeros((T, HK, Dh))
        v = np.zeros((T, HK, Dh))
        for s in range(T):
            h = _rms(x[s], t[p + "attn_norm.weight"], cfg["eps"])
            qs = (t[p + "attn_q.weight"] @ h).reshape(H, Dh)
            ks = (t[p + "attn_k.weight"] @ h).reshape(HK, Dh)
            v[s] = (t[p + "attn_v.weight"] @ h).reshape(HK, Dh)
            for hh in range(H):
                q[s, hh] = _rope_one(qs[hh], s, cfg["rope_base"])
            for g in range(HK):
                k[s, g] = _rope_one(ks[g], s, cfg["rope_base"])
        qk[li] = (q, k)
        new_x = x.copy()
        for s in range(T):
            o = np.zeros((H, Dh))
            for hh in range(H):
                g = hh // G
                if restrict is None:
                    keys = list(range(s + 1))
                else:
                    keys = [int(j) for j in restrict[li][g][s] if j >= 0]
                sc = np.array([q[s, hh] @ k[j, g] / math.sqrt(Dh) for j in keys])
                pr = np.exp(sc - sc.max())
                pr /= pr.sum()
                o[hh] = sum(pr_j * v[j, g] for pr_j, j in zip(pr, keys))
            new_x[s] = x[s] + t[p + "attn_output.weight"] @ o.reshape(-1)
        x = new_x
        for s in range(T):
            h = _rms(x[s], t[p + "ffn_norm.weight"], cfg["eps"])
            a = t[p + "ffn_gate.weight"] @ h
            u = t[p + "ffn_up.weight"] @ h
            x[s] = x[s] + t[p + "ffn_down.weight"] @ (a / (1 + np.exp(-a)) * u)
    out = np.stack([_rms(x[s], t["output_norm.weight"], cfg["eps"]) for s in range(T)])
    return out, qk


def reference_nll(t, hidden, ids):
    logits = hidden @ np.asarray(t["token_embd.weight"], dtype=np.float64).T
    out = []
    for s in range(len(ids) - 1):
        lg = logits[s]
        lse = lg.max() + math.log(np.exp(lg - lg.max()).sum())
        out.append(lse - lg[ids[s + 1]])
    return np.array(out)
