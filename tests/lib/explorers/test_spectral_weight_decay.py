"""Explorers of the chapter spectral-weight-decay: numbers against the library, every control matters."""
import numpy as np
import pytest
import torch

from kexue.explorers import spectral_weight_decay as X
from kexue.training import spectral as SP
from kexue.widgets import Explorer

torch.set_num_threads(1)


def series(fr, label_start):
    return next(s for s in fr["panels"][0]["series"] if s["label"].startswith(label_start))


def test_factories_return_explorers():
    for f in X.EXPLORERS:
        assert isinstance(f(), Explorer)


def test_sculptor_numbers_match_the_library():
    e = X.sculptor()
    fr = e.update(spectrum="geometric", lam=0.1, steps=20)
    W = SP.matrix_with_spectrum(X.SPECTRA["geometric"], 12, seed=0)
    spec = SP.decay_spectrum_path(W, 0.1, 20, iters=None)[-1]
    assert np.allclose(series(fr, "spectral")["y"], spec, rtol=1e-3)
    assert np.allclose(series(fr, "ordinary")["y"], X.SPECTRA["geometric"] * 0.9 ** 20, rtol=1e-3)
    assert np.isclose(fr["panels"][0]["hlines"][0]["y"], SP.flat_top_level(X.SPECTRA["geometric"], 0.1, 20), rtol=1e-3)


@pytest.mark.parametrize("param,values", [("spectrum", ["linear", "two near-equal tops"]),
                                          ("lam", [0.02, 0.1]), ("steps", [10, 200])])
def test_every_sculptor_control_changes_the_frame(param, values):
    e = X.sculptor()
    a, b = (e.update(**{param: v}) for v in values)
    assert a != b


def test_power_rate_matches_the_library_and_controls_matter():
    e = X.power_rate()
    fr = e.update(ratio=0.8, start="random")
    meas = series(fr, "measured")["y"]
    sig = np.concatenate([[1.0], 0.8 * 0.9 ** np.arange(7)])
    W = SP.matrix_with_spectrum(sig, 10, seed=1)
    x0 = np.random.default_rng(2).normal(size=8)
    assert np.allclose(meas, np.maximum(SP.power_iteration_errors(W, 60, x0), X.FLOOR), rtol=1e-2)
    theory = series(fr, "closed form")["y"]
    assert np.allclose(meas, theory, rtol=1e-2)
    assert e.update(ratio=0.5) != e.update(ratio=0.95)
    assert e.update(start="random") != e.update(start="all-ones")
