"""Tests of kexue.explorers.amed_ode_sampling: the frames report what the library computes."""
import numpy as np
import pytest
import torch

from kexue import diffusion as D
from kexue.explorers import amed_ode_sampling as X

torch.set_num_threads(1)


def test_solvers_frames_report_the_solver_error():
    ex = X.solvers(n_samples=40, n_paths=2, budgets=(3, 5, 9))
    fr = ex.update(solver="euler", budget=5)
    left, mid, right = fr["panels"]
    assert "5 model calls" in left["title"]
    # the readout is the RMS error of the drawn solver points against the drawn exact endpoints
    ref = np.stack([left["series"][0]["x"], left["series"][0]["y"]], 1)
    got = np.stack([left["series"][1]["x"], left["series"][1]["y"]], 1)
    readout = float(fr["text"].split("endpoint ")[-1])
    assert abs(D.rms_error(got, ref) - readout) < 5e-3
    # AMED is the best curve at every budget on this teacher
    curves = {s["label"]: s["y"] for s in right["series"]}
    assert all(a < e for a, e in zip(curves["AMED + AFS"], curves["Euler (DDIM)"]))
    # the static payload holds every (solver, budget) state
    assert len(ex.frames()) == 4 * 3


def test_the_module_lists_zero_argument_factories():
    assert X.EXPLORERS == (X.solvers,)


def test_solvers_bad_input():
    with pytest.raises(ValueError, match="n_samples"):
        X.solvers(n_samples=5)
    with pytest.raises(ValueError, match="budgets"):
        X.solvers(budgets=(2, 5))


def test_solvers_refuses_malformed_grids():
    """A scalar, an empty list, None or a nested list gave TypeError/IndexError before."""
    for name in ("budgets", ):
        for bad in (3, [], None, [[1, 2]], "ab"):
            with pytest.raises(ValueError, match=name):
                X.solvers(**{name: bad})


def test_solvers_checks_the_seed():
    for bad in (-1, 1.5, "a"):
        with pytest.raises(ValueError, match="seed"):
            X.solvers(seed=bad)
