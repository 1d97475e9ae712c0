"""Tests of kexue.codes.runs: the saved digits runs of the Discrete-codes chapters.

The full runs take minutes, so they are saved in kexue/data/codes_runs.json; these tests re-run
the first 50 steps of some of them and compare with the saved history, check that the file covers
every configuration and stays small (the script itself: test_train.py).
"""
import math

import pytest
import torch

from kexue.codes import runs as R

torch.set_num_threads(1)


@pytest.mark.parametrize("key", ["fsq", "vq-small-ste", "vq-small-rotation", "vq-data-ste"])
def test_saved_runs_reproduce_their_first_steps(key):
    saved = next(r for r in R.load_runs()["runs"] if r["key"] == key and r["seed"] == 0)
    again = R.run_one(key, 0, steps=50)
    assert saved["history"]["step"][:2] == again["history"]["step"] == [0, 50]
    for m in ("mse", "codebook_loss", "z_norm", "utilization", "perplexity"):
        for i in (0, 1):                       # step 0 and step 50
            a, b = again["history"][m][i], saved["history"][m][i]
            assert abs(a - b) <= 1e-3 * max(1.0, abs(b)), (m, i, a, b)


def test_saved_runs_cover_every_configuration_and_are_small():
    data = R.load_runs()
    got = {(r["key"], r["seed"]) for r in data["runs"]}
    assert got == {(k, s) for k in R.MAIN for s in R.SEEDS}
    assert {r["key"] for r in data["sweep"]} == set(R.SWEEP)
    assert R.DATA.stat().st_size < 200_000
    for r in data["runs"] + data["sweep"]:
        assert sum(r["counts"]) == 1797 and len(r["counts"]) == r["codebook_size"]
        assert r["used"] == sum(c > 0 for c in r["counts"])
        assert all(math.isfinite(v) for m in ("mse", "z_norm", "perplexity") for v in r["history"][m])
        assert ("x" in r) == (r["key"] in R.WITH_IMAGES and r in data["runs"])


def test_saved_runs_hold_the_chapters_findings():
    # what the chapters assert, checked on the committed file so a regenerated file cannot drift
    runs = {(r["key"], r["seed"]): r for r in R.load_runs()["runs"]}
    for s in R.SEEDS:
        assert runs["vq-randn-ste", s]["used"] == 1
        assert runs["fsq", s]["utilization"] > max(runs[k, s]["utilization"] for k in
                                                   ("vq-data-ste", "vq-small-ste"))
        for init in ("data", "small"):
            ste, rot = runs[f"vq-{init}-ste", s], runs[f"vq-{init}-rotation", s]
            assert ste["z_norm"] > 2 * rot["z_norm"] and ste["codebook_loss"] > 2 * rot["codebook_loss"]


def test_run_one_rejects_unknown_keys_and_bad_steps():
    with pytest.raises(KeyError):
        R.run_one("lfq", 0, steps=1)
    with pytest.raises(ValueError, match="steps"):
        R.run_one("fsq", 0, steps=-1)


def test_runs_by_key_indexes_the_saved_runs():
    runs = R.runs_by_key()
    assert set(runs) == {(k, s) for k in R.MAIN for s in R.SEEDS}
    assert all(r["key"] == k and r["seed"] == s for (k, s), r in runs.items())
    assert set(R.runs_by_key("sweep")) == {(k, 0) for k in R.SWEEP}
    with pytest.raises(ValueError, match="part"):
        R.runs_by_key("all")
