"""hisa.real: GGUF loading, the tokenizer built from the GGUF vocabulary, and the numpy forward
pass (captured q/k, restricted attention) against a plain per-token reference, on a tiny llama
GGUF written by the test (no downloads)."""

import os

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
pytest.importorskip("tokenizers")

import real_tiny  # noqa: E402
from hisa.real import RealDataError, gguf_model, methods, model, tokenizer  # noqa: E402

IDS = [5, 77, 260, 12, 99, 140, 200, 7, 65, 66, 250, 31, 269]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    seen = real_tiny.write_gguf(path, quantize=("blk.1.ffn_up.weight",))
    return path, seen


@pytest.fixture(scope="module")
def weights(tiny):
    return gguf_model.load_gguf(tiny[0])


@pytest.fixture(scope="module")
def reference(tiny):
    return real_tiny.reference_forward(tiny[1], IDS)


def test_loader_config_and_tensors(tiny, weights):
    _, seen = tiny
    c = weights.config
    cfg = real_tiny.CONFIG
    assert (c.n_layer, c.n_embd, c.n_head, c.n_head_kv, c.head_dim, c.n_ff, c.n_ctx) == (
        cfg["n_layer"], cfg["n_embd"], cfg["n_head"], cfg["n_head_kv"], cfg["head_dim"],
        cfg["n_ff"], cfg["n_ctx"])
    assert c.rope_base == cfg["rope_base"] and c.tied_embeddings and c.group_size == 2
    assert weights.output is weights.embed
    np.testing.assert_array_equal(weights.embed, seen["token_embd.weight"])
    np.testing.assert_array_equal(weights.layers[0]["wq"], seen["blk.0.attn_q.weight"])
    np.testing.assert_array_equal(weights.layers[1]["w_down"], seen["blk.1.ffn_down.weight"])
    # the Q8_0 tensor is dequantized (and matches the original up to Q8_0 rounding)
    np.testing.assert_array_equal(weights.layers[1]["w_up"], seen["blk.1.ffn_up.weight"])
    assert np.abs(weights.layers[1]["w_up"] - real_tiny.random_weights()["blk.1.ffn_up.weight"]).max() < 0.02
    assert weights.vocab.pre == "smollm" and len(weights.vocab.tokens) == weights.config.vocab_size


def test_forward_matches_reference(weights, reference, tiny):
    hidden_ref, qk_ref = reference
    captured = {}

    def on_qk(layer, qs, ks):
        captured[layer] = ([q.copy() for q in qs], [k.copy() for k in ks])

    llama = model.Llama(weights, threads=2, q_chunk=4, row_chunk=5, sel_chunk=3)
    hidden = llama.forward(IDS, on_qk=on_qk)
    np.testing.assert_allclose(hidden, hidden_ref, rtol=2e-4, atol=2e-4)
    G = weights.config.group_size
    for layer, (q, k) in qk_ref.items():
        qs, ks = captured[layer]
        assert len(qs) == len(ks) == weights.config.n_head_kv
        for g in range(len(qs)):
            assert qs[g].shape == (len(IDS), G, 8) and qs[g].dtype == np.float32
            assert ks[g].shape == (len(IDS), 8)
            np.testing.assert_allclose(qs[g], q[:, g * G:(g + 1) * G], rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(ks[g], k[:, g], rtol=1e-4, atol=1e-4)
    nll = llama.nll(hidden, IDS)
    np.testing.assert_allclose(nll, real_tiny.reference_nll(tiny[1], hidden_ref, IDS), rtol=1e-4,
                               atol=1e-4)
    lg = llama.logits(hidden, [0, 5])
    np.testing.assert_allclose(lg, hidden[[0, 5]] @ weights.embed.T, rtol=1e-5, atol=1e-5)


def test_selection_of_every_token_is_dense(weights, reference):
    llama = model.Llama(weights, threads=1, q_chunk=5, sel_chunk=4)
    T = len(IDS)
    sel = methods.Selector(methods.parse("flat"), topk=T)  # every visible key, -1 padded
    hidden = llama.forward(IDS, select=sel)
    assert sel.calls == weights.config.n_layer * weights.config.n_head_kv
    np.testing.assert_allclose(hidden, reference[0], rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(hidden, llama.forward(IDS), rtol=1e-5, atol=1e-5)


def test_restricted_attention_matches_reference(weights, tiny):
    T, HK = len(IDS), weights.config.n_head_kv
    rng = np.random.default_rng(3)
    topk = 4
    restrict = {}
    for layer in range(weights.config.n_layer):
        restrict[layer] = []
        for g in range(HK):
            idx = np.full((T, topk), -1, dtype=np.int32)
            for t in range(T):
                keys = rng.permutation(t + 1)[:topk]
                idx[t, :len(keys)] = keys
            restrict[layer].append(idx)
    calls = []

    def select(layer, qs, ks):
        calls.append(layer)
        return restrict[layer]

    hidden = model.Llama(weights, threads=2, sel_chunk=5).forward(IDS, select=select)
    ref, _ = real_tiny.reference_forward(tiny[1], IDS, restrict=restrict)
    assert calls == [0, 1]
    np.testing.assert_allclose(hidden, ref, rtol=2e-4, atol=2e-4)


def test_selection_is_checked(weights):
    T = len(IDS)
    llama = model.Llama(weights)
    with pytest.raises(ValueError, match="outside"):
        llama.forward(IDS, select=lambda l, qs, ks: [np.full((T, 2), T, np.int32)] * 2)
    with pytest.raises(ValueError, match="selections"):
        llama.forward(IDS, select=lambda l, qs, ks: [np.zeros((T, 2), np.int32)])


def test_methods_on_model_qk(weights):
    """Every registered method runs on a group's captured q/k and returns SPEC.md's format."""
    got = {}
    llama = model.Llama(weights)
    llama.forward(IDS * 3, on_qk=lambda l, qs, ks: got.setdefault(l, (qs, ks)))
    qs, ks = got[1]
    for spec in ("flat", "hisa:B=4,m=3", "block:B=4", "misa:a=1,c=2,B=4", "proj:d=4,c=2",
                 "hisa:B=4,m=3,summary=emax,Q=4", "hisa-misa:B=4,m=3,a=1,c=2"):
        for dtype in ("f32", "fp8"):
            sel = methods.Selector(methods.parse(spec), topk=8, dtype=dtype)
            out = sel(1, qs, ks)
            assert len(out) == 2
            for idx in out:
                assert idx.shape == (len(IDS) * 3, 8) and idx.dtype == np.int32
                t = np.arange(idx.shape[0])[:, None]
                assert ((idx == -1) | ((idx >= 0) & (idx <= t))).all()


def test_tokenizer_from_gguf_vocab(weights):
    tk = tokenizer.from_weights(weights)
    for text in ["the cat is the key", "Hello, world!\n\n  x 3.14 café ünïcødé ✓",
                 "<|im_start|>user\nWhat is 12345?<|im_end|>\n"]:
        ids = tk.encode(text)
        assert tk.decode(ids) == text
    ids = tk.encode(" the cat")
    assert [tk.tokens[i] for i in ids] == ["Ġthe", "Ġcat"]
    # digits are single tokens (SmolLM2's pre-tokenizer splits them individually)
    ids = tk.encode(" key 12345.")
    assert [tk.tokens[i] for i in ids] == ["Ġkey", "Ġ", "1", "2", "3", "4", "5", "."]
    assert [tk.tokens[i] for i in tk.encode("a1b22")] == ["a", "1", "b", "2", "2"]
    # control tokens are matched whole
    assert tk.encode("<|im_start|>")[0] == 1 and len(tk.encode("<|im_end|>")) == 1


# ---- bad inputs --------------------------------------------------------------------------

def test_missing_tensor(tmp_path):
    path = tmp_path / "missing.gguf"
    real_tiny.write_gguf(path, drop=("blk.1.ffn_up.weight",))
    with pytest.raises(RealDataError, match="missing tensor 'blk.1.ffn_up.weight'") as e:
        gguf_model.load_gguf(path)
    assert str(path) in str(e.value)


def test_wrong_architecture(tmp_path):
    path = tmp_path / "gpt2.gguf"
    real_tiny.write_gguf(path, arch="gpt2")
    with pytest.raises(RealDataError, match="architecture is 'gpt2'") as e:
        gguf_model.load_gguf(path)
    assert str(path) in str(e.value)


def test_wrong_shape(tmp_path):
    t = real_tiny.random_weights()
    t["blk.0.attn_k.weight"] = t["blk.0.attn_k.weight"][:8]
    path = tmp_path / "shape.gguf"
    real_tiny.write_gguf(path, tensors=t)
    with pytest.raises(RealDataError, match="attn_k.weight' has shape"):
        gguf_model.load_gguf(path)


@pytest.mark.parametrize("keep", [0.999, 0.5, 0.01])
def test_truncated_file(tiny, tmp_path, keep):
    data = open(tiny[0], "rb").read()
    path = tmp_path / "truncated.gguf"
    path.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(RealDataError, match="truncated") as e:
        gguf_model.load_gguf(path)
    assert str(path) in str(e.value)


def test_not_gguf_and_missing(tmp_path):
    path = tmp_path / "text.gguf"
    path.write_text("hello")
    with pytest.raises(RealDataError, match="not a readable GGUF") as e:
        gguf_model.load_gguf(path)
    assert str(path) in str(e.value)
    with pytest.raises(RealDataError, match="not found"):
        gguf_model.load_gguf(os.path.join(tmp_path, "nope.gguf"))
