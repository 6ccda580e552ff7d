"""The Python package and the `hisa` CLI give identical indices on identical inputs: both are
thin front ends over hisa::select. Needs the CLI binary: HISA_CLI=/path/to/hisa (else skipped).
"""

import os
import subprocess

import numpy as np
import pytest

import hisa
from conftest import METHODS, knobs_for

CLI = os.environ.get("HISA_CLI")
pytestmark = pytest.mark.skipif(not CLI, reason="HISA_CLI (path of the hisa CLI) is not set")

KNOBS = dict(topk=64, block_size=16, num_blocks=6, heads=3, candidates=2)
FLAGS = {"topk": "--topk", "block_size": "--block-size", "num_blocks": "--blocks",
         "heads": "--heads", "candidates": "--candidates", "block_summary": "--block-summary",
         "proj_dim": "--proj-dim"}


def workload(kind):
    base = hisa.make_structured(T=96, S=512, H=8, D=32, topics=6, segment=64, needles=4, seed=9)
    if kind == "fp8":
        return hisa.quantize_fp8(base)
    if kind == "bf16":
        return hisa.to_bf16(base)
    if kind == "packed":
        return hisa.pack_sequences([
            hisa.make_gaussian(T=40, S=300, H=8, D=32, seed=4),
            hisa.make_structured(T=56, S=400, H=8, D=32, topics=4, segment=50, needles=2, seed=5)])
    return base


def run_cli(tmp_path, wl, method, knobs):
    files = {"--q": wl.q, "--k": wl.k, "--w": wl.w, "--k-scale": wl.k_scale, "--ks": wl.ks, "--ke": wl.ke}
    argv = [CLI, "select", "--method", method, "--out", str(tmp_path / "idx.npy")]
    for flag, array in files.items():
        if array is not None:
            path = tmp_path / (flag.strip("-") + ".npy")
            np.save(path, array)
            argv += [flag, str(path)]
    for name, value in knobs.items():
        argv += [FLAGS[name], str(value)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return np.load(tmp_path / "idx.npy")


@pytest.mark.parametrize("kind", ["f32", "bf16", "fp8", "packed"])
@pytest.mark.parametrize("method", METHODS)
def test_same_indices_as_the_cli(tmp_path, method, kind):
    wl = workload(kind)
    knobs = knobs_for(method, KNOBS)
    want = run_cli(tmp_path, wl, method, knobs)
    got = getattr(hisa, f"{method}_topk")(*wl.args(), **knobs)
    assert want.dtype == np.int32
    np.testing.assert_array_equal(got, want)


VARIANTS = {
    "hisa": dict(topk=64, block_size=16, num_blocks=6, block_summary="emax"),
    "block": dict(topk=64, block_size=16, block_summary="bound"),
    "proj": dict(topk=64, proj_dim=8, candidates=3),
    "hisa_misa": dict(topk=64, block_size=16, num_blocks=12, heads=2, candidates=2,
                      block_summary="emax"),
}


@pytest.mark.parametrize("kind", ["fp8", "packed"])
@pytest.mark.parametrize("method", sorted(VARIANTS))
def test_variants_same_indices_as_the_cli(tmp_path, method, kind):
    wl = workload(kind)
    knobs = VARIANTS[method]
    want = run_cli(tmp_path, wl, method.replace("_", "-"), knobs)
    got = getattr(hisa, f"{method}_topk")(*wl.args(), **knobs)
    np.testing.assert_array_equal(got, want)


def test_cli_rejects_what_python_rejects(tmp_path):
    wl = workload("f32")
    ks = np.zeros(wl.T, np.int32)
    ke = np.full(wl.T, wl.S + 1, np.int32)
    with pytest.raises(ValueError, match="cu_seq_len_k_end"):
        hisa.flat_topk(wl.q, wl.k, wl.w, ks, ke, topk=8)
    np.save(tmp_path / "ks.npy", ks)
    np.save(tmp_path / "ke.npy", ke)
    for name in ("q", "k", "w"):
        np.save(tmp_path / f"{name}.npy", getattr(wl, name))
    done = subprocess.run([CLI, "select", "--method", "flat", "--q", str(tmp_path / "q.npy"),
                           "--k", str(tmp_path / "k.npy"), "--w", str(tmp_path / "w.npy"),
                           "--ks", str(tmp_path / "ks.npy"), "--ke", str(tmp_path / "ke.npy"),
                           "--topk", "8", "--out", str(tmp_path / "idx.npy")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "ke" in done.stderr
