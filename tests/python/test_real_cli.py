"""hisa.real: method spec strings and the `python -m hisa.real` commands (capture, ppl, passkey)
end to end on a tiny GGUF and a small text written by the test; bad inputs exit 2 with a message
naming the argument or the file."""

import json

import numpy as np
import pytest

from hisa.real import RealDataError, methods, text

TEXT = ("It is a truth universally acknowledged, that a single man in possession of a good "
        "fortune, must be in want of a wife. The cat is the key to 12345 houses.\n") * 12


# ---- method specs ----------------------------------------------------------------------------

def test_parse_specs():
    assert methods.parse("dense").dense
    assert methods.parse("flat").spec == "flat"
    m = methods.parse("hisa:B=32,m=16")
    assert m.spec == "hisa:B=32,m=16,summary=mean,Q=1"
    assert dict(m.params) == {"block_size": 32, "num_blocks": 16, "block_summary": "mean",
                              "shared_candidates": 1}
    assert methods.parse("hisa").spec == "hisa:B=64,m=64,summary=mean,Q=1"  # the defaults
    assert methods.parse(" misa:a=1, c=4 ").spec == "misa:B=1024,a=1,c=4"
    assert methods.parse("block:B=16").spec == "block:B=16,summary=mean"
    assert methods.parse("proj:d=8,c=4").spec == "proj:d=8,B=64,c=4"
    assert methods.parse("hisa-misa:m=32,a=1,c=2").name == "hisa_misa"
    assert [m.spec for m in methods.parse_list("dense flat;hisa:B=8,m=4,summary=emax")] == [
        "dense", "flat", "hisa:B=8,m=4,summary=emax,Q=1"]


@pytest.mark.parametrize("spec, what", [
    ("nope", "unknown method 'nope'"), ("hisa:x=1", "takes no knob 'x'"),
    ("hisa:B", "expected knob=value"), ("hisa:B=abc", "expects an integer"),
    ("flat:B=4", "takes no knob"), ("hisa:summary=max", "mean, bound or emax")])
def test_bad_specs(spec, what):
    with pytest.raises(RealDataError, match=what) as e:
        methods.parse(spec)
    assert e.value.subject == "--methods"


def test_registry_is_extensible():
    calls = []

    @methods.register("test-first", knobs=[methods.Knob("n", "n", int, 1, "keys")], doc="x")
    def _first(q, kv, w, *, topk, threads, n):
        calls.append(n)
        T = q.shape[0]
        idx = np.full((T, topk), -1, dtype=np.int32)
        idx[:, 0] = 0
        return idx

    try:
        m = methods.parse("test-first:n=3")
        sel = methods.Selector(m, topk=4)
        out = sel(0, [np.ones((5, 2, 4), np.float32)], [np.ones((5, 4), np.float32)])
        assert calls == [3] and out[0].shape == (5, 4) and "test-first" in methods.describe()
    finally:
        del methods.REGISTRY["test-first"]


def test_preflight_catches_bad_knobs():
    with pytest.raises(RealDataError, match="block:B=64,summary=mean at topk=64") as e:
        methods.preflight([methods.parse("block:B=64")], [64], 256, 3, 8)
    assert e.value.subject == "--methods"
    methods.preflight([methods.parse("block:B=32"), methods.parse("dense")], [64], 256, 3, 8)


def test_windows():
    assert text.windows(100, 10, 1) == [(0, 10)]
    assert text.windows(100, 10, 3) == [(0, 10), (45, 55), (90, 100)]
    with pytest.raises(RealDataError, match="do not fit") as e:
        text.windows(25, 10, 3)
    assert e.value.subject == "--windows"


# ---- the commands on a tiny model ------------------------------------------------------------

@pytest.fixture(scope="module")
def files(tmp_path_factory):
    pytest.importorskip("gguf")
    pytest.importorskip("tokenizers")
    import real_tiny
    d = tmp_path_factory.mktemp("real")
    real_tiny.write_gguf(d / "tiny.gguf")
    (d / "text.txt").write_text(TEXT, encoding="utf-8")
    (d / "short.txt").write_text("too short", encoding="utf-8")
    return d


def run(argv, capsys):
    from hisa.real.__main__ import main
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_capture_command(files, capsys):
    out = files / "cap"
    rc, stdout, err = run(["capture", "--model", files / "tiny.gguf", "--text", files / "text.txt",
                           "--L", 64, "--offset", 3, "--out", out, "--threads", 1], capsys)
    assert rc == 0, err
    names = sorted(p.name for p in (out / "fp8").iterdir())
    assert names == ["L00_g0", "L00_g1", "L01_g0", "L01_g1"]
    window = json.loads((out / "window.json").read_text())
    assert (window["start"], window["end"], window["L"]) == (3, 67, 64)
    assert window["text"]["kind"] == "file" and window["cases"][0] == "L00_g0"
    assert np.load(out / "tokens.npy").shape == (64,)
    assert np.load(out / "f32/L01_g1/q.npy").shape == (64, 2, 8)


def test_ppl_command(files, capsys):
    out = files / "ppl.json"
    rc, stdout, err = run(["ppl", "--model", files / "tiny.gguf", "--text", files / "text.txt",
                           "--L", 64, "--windows", 2, "--topk", "L/8,64",
                           "--methods", "flat hisa:B=4,m=2 block:B=4", "--out", out], capsys)
    assert rc == 0, err
    res = json.loads(out.read_text())
    rows = {(r["window"], r["method"], r["topk"]): r for r in res["rows"]}
    assert res["topks"] == [8, 64] and len(res["windows"]) == 2
    for w in (0, 1, "all"):
        # topk = L: every method selects every visible key, so it is the dense model
        for m in ("flat", "hisa:B=4,m=2,summary=mean,Q=1", "block:B=4,summary=mean"):
            assert rows[(w, m, 64)]["ppl_all"] == pytest.approx(rows[(w, "dense", 64)]["ppl_all"],
                                                                rel=1e-4)
        assert rows[(w, "flat", 8)]["delta_vs_flat_all"] == 0
    for w in (0, 1):
        assert rows[(w, "dense", 8)]["n_from_topk"] == rows[(w, "dense", 8)]["n_all"] - 8 == 55
    assert rows[("all", "dense", 8)]["n_all"] == 2 * 63
    assert "dense" in stdout and "hisa:B=4,m=2,summary=mean,Q=1" in stdout


@pytest.mark.parametrize("template", ["plain", "chat"])
def test_passkey_command(files, capsys, template):
    out = files / "pk.json"
    rc, stdout, err = run(["passkey", "--model", files / "tiny.gguf", "--text", files / "text.txt",
                           "--L", 400, "--depths", "0.2,0.8", "--methods", "dense flat",
                           "--template", template, "--trials", 2, "--out", out], capsys)
    assert rc == 0, err
    res = json.loads(out.read_text())
    assert len(res["rows"]) == 2 * 2 * 2 and [s["method"] for s in res["summary"]] == ["dense", "flat"]
    assert set(res["summary"][0]["by_depth"]) == {"0.20", "0.80"}
    assert all(len(str(r["number"])) == 5 for r in res["rows"])


def test_passkey_prompt(files):
    from hisa.real import gguf_model, passkey, tokenizer
    tk = tokenizer.Tokenizer(gguf_model.load_vocab(files / "tiny.gguf"))
    filler = tk.encode(TEXT * 3)
    ids, answer, at = passkey.build(tk, filler, 500, 0.5, 40721, "plain")
    assert len(ids) == 500 and list(answer) == [495, 496, 497, 498, 499]
    assert tk.decode(ids[answer]) == "40721"
    assert tk.decode(ids).endswith("What is the pass key? The pass key is 40721")
    assert "The pass key is 40721. Remember it." in tk.decode(ids[at:at + 60])


@pytest.mark.parametrize("argv, subject", [
    (["ppl", "--text", "{d}/short.txt", "--L", 32], "short.txt"),
    (["ppl", "--text", "{d}/text.txt", "--L", 2000], "--L"),
    (["ppl", "--text", "{d}/missing.txt", "--L", 32], "missing.txt"),
    (["ppl", "--text", "{d}/text.txt", "--L", 32, "--methods", "hisa:q=1"], "--methods"),
    (["ppl", "--text", "{d}/text.txt", "--L", 32, "--topk", "L/0"], "--topk"),
    (["ppl", "--text", "{d}/text.txt", "--L", 32, "--topk", 33], "--topk"),
    (["ppl", "--text", "{d}/text.txt", "--L", 64, "--windows", 50], "--windows"),
    (["ppl", "--text", "{d}/text.txt", "--L", 32, "--methods", "block:B=32"], "--methods"),
    (["capture", "--text", "{d}/text.txt", "--L", 32, "--layers", 7, "--out", "{d}/c"], "--layers"),
    (["capture", "--text", "{d}/text.txt", "--L", 32, "--offset", 10**6, "--out", "{d}/c"], "--offset"),
    (["passkey", "--text", "{d}/text.txt", "--L", 32], "--L"),
    (["passkey", "--text", "{d}/text.txt", "--L", 300, "--depths", "0.5,2"], "--depths"),
    (["ppl", "--book", "nobook", "--cache-dir", "{d}", "--L", 32], "--book"),
])
def test_bad_inputs_exit_2(files, capsys, argv, subject):
    argv = [str(a).format(d=files) for a in argv] + ["--model", files / "tiny.gguf"]
    rc, _, err = run(argv, capsys)
    assert rc == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("python -m hisa.real: error: ") and subject in last, err


def test_missing_model_and_text_cache(tmp_path, capsys):
    rc, _, err = run(["ppl", "--cache-dir", tmp_path, "--L", 32], capsys)
    assert rc == 2 and "SmolLM2-135M-Instruct.Q4_1.gguf" in err and "fetch" in err


def test_help(capsys):
    from hisa.real.__main__ import main
    for cmd in ([], ["ppl"], ["passkey"], ["capture"], ["fetch"]):
        with pytest.raises(SystemExit) as e:
            main(cmd + ["--help"])
        assert e.value.code == 0
    assert "hisa:B=64,m=16" in capsys.readouterr().out
