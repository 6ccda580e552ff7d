"""order='index' (the same indices per row in ascending index order, -1 last) through the Python
API and the CLI: each row equals the score-order row's valid prefix sorted; a bad order is an
ArgumentError naming 'order'."""

import os
import subprocess

import numpy as np
import pytest

import hisa
from conftest import needs_torch
from test_decode import make_paged

CLI = os.environ.get("HISA_CLI")

# fn, knobs on workload(): topk 24, so the first sequence's early rows are padded.
CASES = {
    "flat": (hisa.flat_topk, dict(topk=24)),
    "hisa": (hisa.hisa_topk, dict(topk=24, block_size=8, num_blocks=4)),
    "block": (hisa.block_topk, dict(topk=24, block_size=8)),
    "misa": (hisa.misa_topk, dict(topk=24, block_size=16, heads=2, candidates=2)),
    "proj": (hisa.proj_topk, dict(topk=24, proj_dim=4, candidates=2, block_size=8)),
    "hisa_misa": (hisa.hisa_misa_topk, dict(topk=24, block_size=8, num_blocks=5, heads=2,
                                            candidates=2)),
}


def workload():
    """60 FP8 queries packed over 3 sequences; the first one's query t sees t + 1 keys."""
    return hisa.quantize_fp8(hisa.pack_sequences([
        hisa.make_gaussian(T=20, S=20, H=4, D=16, seed=1),
        hisa.make_structured(T=30, S=90, H=4, D=16, topics=3, segment=16, needles=1, seed=2),
        hisa.make_gaussian(T=10, S=40, H=4, D=16, seed=3)]))


def sorted_rows(score):
    """Each row's valid prefix (score order keeps -1 last) sorted ascending, then -1s."""
    out = np.full_like(score, -1)
    for r, row in enumerate(score):
        valid = np.sort(row[row >= 0])
        out[r, :len(valid)] = valid
    return out


def check(score, index):
    assert (score == -1).any(), "no padded row: the case does not exercise -1 padding"
    assert not np.array_equal(score, index), "order changed nothing"
    np.testing.assert_array_equal(index, sorted_rows(score))


@pytest.mark.parametrize("method", sorted(CASES))
def test_index_order_is_the_score_rows_sorted(method):
    wl = workload()
    fn, knobs = CASES[method]
    check(fn(*wl.args(), **knobs), fn(*wl.args(), **knobs, order="index"))


def test_spec_topk_and_workspace_bytes_take_order():
    wl = workload()
    score = hisa.spec_topk("hisa:B=8,m=4", *wl.args(), topk=24)
    check(score, hisa.spec_topk("hisa:B=8,m=4", *wl.args(), topk=24, order="index"))
    assert hisa.workspace_bytes(*wl.args(), topk=24, order="index", device="cpu") == 0


def test_decode_index_order_is_the_score_rows_sorted(rng):
    d = make_paged(rng, [1, 16, 33, 0, 250, 400], next_n=2)
    args = (d["q"], d["cache"], d["w"], d["lens"], d["table"])
    for method, knobs in [("flat", dict(topk=40)),
                          ("hisa", dict(topk=40, block_size=16, num_blocks=4)),
                          ("block", dict(topk=48, block_size=16))]:
        pooled = None if method == "flat" else hisa.build_pooled(
            d["cache"], d["table"], d["lens"], block_size=knobs["block_size"])
        score = hisa.decode_topk(*args, pooled, method=method, **knobs)
        index = hisa.decode_topk(*args, pooled, method=method, **knobs, order="index")
        check(score.reshape(-1, knobs["topk"]), index.reshape(-1, knobs["topk"]))


def test_bad_order_is_an_argument_error_naming_order(rng):
    wl = workload()
    for call in (lambda: hisa.hisa_topk(*wl.args(), topk=24, order="ascending"),
                 lambda: hisa.flat_topk(*wl.args(), topk=24, order="Index"),
                 lambda: hisa.workspace_bytes(*wl.args(), order="ascending")):
        with pytest.raises(hisa.ArgumentError) as info:
            call()
        assert info.value.argument == "order"
        assert str(info.value).startswith("order:")
    d = make_paged(rng, [40], next_n=1)
    with pytest.raises(hisa.ArgumentError) as info:
        hisa.decode_topk(d["q"], d["cache"], d["w"], d["lens"], d["table"], method="flat",
                         topk=8, order="random")
    assert info.value.argument == "order"


@needs_torch
def test_torch_op_takes_order():
    wl = workload()
    fn, knobs = CASES["hisa"]
    want = fn(*wl.args(), **knobs, order="index")
    got = fn(*wl.torch_args(), **knobs, order="index")  # through torch.ops.hisa.hisa_topk
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.skipif(not CLI, reason="HISA_CLI (path of the hisa CLI) is not set")
def test_cli_order_index(tmp_path):
    wl = workload()
    argv = [CLI, "select", "--method", "hisa", "--topk", "24", "--block-size", "8", "--blocks",
            "4", "--order", "index", "--out", str(tmp_path / "idx.npy")]
    for flag, array in {"--q": wl.q, "--k": wl.k, "--w": wl.w, "--k-scale": wl.k_scale,
                        "--ks": wl.ks, "--ke": wl.ke}.items():
        np.save(tmp_path / (flag.strip("-") + ".npy"), array)
        argv += [flag, str(tmp_path / (flag.strip("-") + ".npy"))]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    knobs = CASES["hisa"][1]
    np.testing.assert_array_equal(np.load(tmp_path / "idx.npy"),
                                  hisa.hisa_topk(*wl.args(), **knobs, order="index"))
    argv[argv.index("index")] = "best"
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "hisa: error: --order:" in done.stderr, done.stderr
