"""Tests of kexue.explorers.consistency_models: the frames report what the library computes."""
import numpy as np
import pytest
import torch

from kexue import diffusion as D
from kexue.explorers import consistency_models as X

torch.set_num_threads(1)


def test_crossing_frames_report_the_library_numbers():
    ex = X.crossing(n_paths=4)
    fr = ex.update(t=1.0, steps=1)
    left, right = fr["panels"]
    assert [s["label"] for s in right["series"]] == ["consistency map f*(x1, 1)", "1 Euler step"]
    # one Euler step from t = 1 is the denoiser at t = 1: every point at the data mean 0
    assert np.abs(np.array(right["series"][1]["y"])).max() < 1e-3
    # the exact curve is the ODE map of the library
    teacher = D.GaussianMixture([[-1.0], [1.0]], 0.2)
    xs = np.array(right["series"][0]["x"])[:, None]
    assert np.abs(np.array(right["series"][0]["y"]) - D.ode_consistency_map(teacher, xs, 1.0, 60)[:, 0]).max() < 1e-3
    gap = float(fr["text"].split("= ")[-1])
    assert abs(gap - np.abs(np.array(right["series"][1]["y"]) - np.array(right["series"][0]["y"])).mean()) < 2e-3
    # more Euler steps bring the map closer to the exact one
    gaps = [float(ex.update(t=1.0, steps=k)["text"].split("= ")[-1]) for k in (1, 4, 16)]
    assert gaps[0] > gaps[1] > gaps[2]
    assert len(ex.frames()) == 25


def test_the_module_lists_zero_argument_factories():
    assert X.EXPLORERS == (X.crossing,)


def test_crossing_bad_input():
    with pytest.raises(ValueError, match="n_paths"):
        X.crossing(n_paths=0)


def test_crossing_refuses_malformed_grids():
    """A scalar, an empty list, None or a nested list gave TypeError/IndexError before."""
    for name in ("times", "steps", ):
        for bad in (3, [], None, [[1, 2]], "ab"):
            with pytest.raises(ValueError, match=name):
                X.crossing(**{name: bad})


def test_crossing_checks_times_and_seed():
    for bad in ([1.0, np.nan], [0.0, 0.5], [1.5, 0.5]):
        with pytest.raises(ValueError, match="times"):
            X.crossing(times=bad)
    with pytest.raises(ValueError, match="seed"):
        X.crossing(seed=-1)
