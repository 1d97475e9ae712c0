"""Tests of kexue.codes.runs: the saved digits runs of the Discrete-codes chapters.

The full runs take minutes, so they are saved in kexue/data/codes_runs.json and
codes_sweeps.json; these tests re-run the first 50 steps of some runs and one run in full, and
compare with the saved numbers. The runs train in float64, so a re-run retraces the saved
numbers to their 5 significant digits on any CPU: the tolerance is the rounding of the file.
They also check that the files cover every configuration and stay small (the script itself:
test_train.py).
"""
import math

import pytest
import torch

from kexue.codes import runs as R

torch.set_num_threads(1)

#: the saved numbers have 5 significant digits: relative rounding <= 5e-6 * 10
RTOL = 1e-4


def same(a, b, rtol=RTOL):
    return abs(a - b) <= rtol * abs(b) + 1e-12


@pytest.mark.parametrize("key", ["fsq", "vq-small-ste", "vq-small-rotation", "vq-data-ste"])
def test_saved_runs_reproduce_their_first_steps(key):
    saved = next(r for r in R.load_runs()["runs"] if r["key"] == key and r["seed"] == 0)
    again = R.run_one(key, 0, steps=50)
    assert saved["history"]["step"][:2] == again["history"]["step"] == [0, 50]
    for m in ("mse", "codebook_loss", "z_norm", "utilization", "perplexity"):
        for i in (0, 1):                       # step 0 and step 50
            a, b = again["history"][m][i], saved["history"][m][i]
            assert same(a, b), (m, i, a, b)


def test_saved_runs_cover_every_configuration_and_are_small():
    data = R.load_runs()
    got = {(r["key"], r["seed"]) for r in data["runs"]}
    assert got == {(k, s) for k in R.MAIN for s in R.SEEDS}
    assert {r["key"] for r in data["sweep"]} == set(R.SWEEP)
    assert R.DATA.stat().st_size < 200_000
    for r in data["runs"] + data["sweep"]:
        n_train = 1797 - (R.HOLDOUT if r in data["sweep"] else 0)
        assert sum(r["counts"]) == n_train and len(r["counts"]) == r["codebook_size"]
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
    with pytest.raises(ValueError, match="key must be one of"):
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


# ------------------------------------------------------------ the multi-seed sweeps (--sweeps)

def test_saved_sweeps_cover_every_job_and_are_small():
    data = R.load_sweeps()
    got = [(p, r["key"], r["seed"]) for p in ("ksweep", "gamma") for r in data[p]]
    assert sorted(got) == sorted(R.sweep_jobs()) and len(got) == len(set(got))
    assert (R.DATA.parent / f"{R.SWEEPS_NAME}.json").stat().st_size < 700_000
    for r in data["gamma"]:
        h = r["history"]
        assert h["step"][0] == 0 and h["step"][-1] == data["config"]["steps"]
        assert all(math.isfinite(v) and v > 0 for v in h["q_over_z"])


def test_saved_sweeps_agree_with_the_main_runs_they_repeat():
    # seed 0 of the codebook-size sweep and gamma = 0.25 of the gamma sweep repeat configurations
    # of codes_runs.json with a different recording interval, which does not change training:
    # the final numbers agree to the file's rounding
    data, main = R.load_sweeps(), R.runs_by_key()
    old = R.runs_by_key("sweep")
    pairs = [(r, old[r["key"], 0]) for r in data["ksweep"] if r["seed"] == 0]
    pairs += [(r, main[r["key"][:-len("-g0.25")], r["seed"]]) for r in data["gamma"]
              if r["key"].endswith("-g0.25")]
    assert len(pairs) == len(R.SWEEP) + 4 * len(R.GAMMA_SEEDS)
    for new, ref in pairs:
        for m in ("mse", "codebook_loss", "z_norm", "utilization", "perplexity"):
            assert same(new[m], ref[m]), (new["key"], m)
        assert new["used"] == ref["used"]
    gam = {(r["key"], r["seed"]): r for r in data["gamma"]}
    for s in R.GAMMA_SEEDS:
        for init in ("small", "data"):
            ste, rot = gam[f"vq-{init}-ste-g0.25", s], gam[f"vq-{init}-rotation-g0.25", s]
            assert rot["mse"] > ste["mse"] and rot["codebook_loss"] < ste["codebook_loss"]
            assert ste["z_norm"] > 2 * rot["z_norm"]
    for r in data["ksweep"]:                   # trained on 1797 - HOLDOUT, tested on the rest
        assert 0 < r["mse"] < r["test_mse"] < 0.06


def test_one_sweep_run_reproduces_its_saved_numbers():
    # one full 800-step run (about 10 s): VQ with K = 1000, one of the two runs that decide the
    # fsq chapter's claim about K = 1000, with its held-out reconstruction
    saved = next(r for r in R.load_sweeps()["ksweep"] if r["key"] == "vq-small-K1000" and r["seed"] == 0)
    again = R.run_sweep_one("ksweep", "vq-small-K1000", 0)
    for m in ("mse", "test_mse", "codebook_loss", "z_norm", "utilization", "perplexity"):
        assert same(again[m], saved[m]), (m, again[m], saved[m])
    assert again["used"] == saved["used"]


def test_run_sweep_one_rejects_unknown_parts_and_keys():
    with pytest.raises(ValueError, match="part"):
        R.run_sweep_one("main", "fsq", 0, steps=1)
    with pytest.raises(ValueError, match="key must be one of"):
        R.run_sweep_one("gamma", "vq-small-ste", 0, steps=1)


def test_saved_runs_readers_check_the_path():
    """A missing file or a path that is not one named 'name' (load_run's parameter) before."""
    for bad in ("no-such-file.json", None, 1.5):
        with pytest.raises(ValueError, match="path"):
            R.load_runs(bad)
        with pytest.raises(ValueError, match="path"):
            R.runs_by_key("runs", bad)
