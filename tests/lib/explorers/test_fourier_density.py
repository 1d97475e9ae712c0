"""Tests of kexue.explorers.fourier_density: the frames report the library's numbers."""
from __future__ import annotations

import math

import numpy as np
import pytest

from kexue import matrices as M
from kexue.explorers import fourier_density as X
from kexue.widgets import Explorer


def test_every_factory_builds_an_explorer_without_arguments():
    for factory in X.EXPLORERS:
        assert isinstance(factory(), Explorer)


def test_nonnegativity_frames():
    ex = X.nonnegativity()
    fr = ex.update(mode="free", r1=1.0, phase=0.0, r2=0.5)
    x = np.linspace(-1, 1, 121)
    f = M.fourier_series(np.array([1.0, 1.0, 0.5]), x)
    np.testing.assert_allclose(fr["panels"][0]["series"][0]["y"], f, rtol=1e-3, atol=1e-3)
    assert len(fr["panels"][0]["series"]) == 2                    # the negative part is drawn
    assert f"min f = {f.min():.4f}" in fr["text"]
    auto = ex.update(mode="autocorrelation", r1=1.0, phase=0.0, r2=0.5)
    fa = M.fourier_series(M.fbdm_coeffs(np.array([1.0, 1.0, 0.5])), x)
    np.testing.assert_allclose(auto["panels"][0]["series"][0]["y"], fa, rtol=1e-3, atol=1e-3)
    assert len(auto["panels"][0]["series"]) == 1 and min(auto["panels"][0]["series"][0]["y"]) >= 0
    eig = np.linalg.eigvalsh(M.toeplitz_from_c(np.array([1.0, 1.0, 0.5]), 8)).min()
    assert f"{eig:.4f}" in fr["text"]


def test_fit_frame_reports_the_fit():
    ex = X.fit()
    fr = ex.update(N=8, gamma=0.01)
    y = M.mixture_sample(300, *X.TARGET, seed=3)
    test = M.mixture_sample(20_000, *X.TARGET, seed=103)
    r = M.fit_fbdm(y, 8, 0.01, iters=100)
    nll = -M.fbdm_log_density_real(r["a"], r["mu"], r["sigma"], test).mean()
    assert f"Fourier {nll:.3f}" in fr["text"]
    grid = np.linspace(-4.5, 6.0, 161)
    q = np.exp(M.fbdm_log_density_real(r["a"], r["mu"], r["sigma"], grid))
    np.testing.assert_allclose(fr["panels"][0]["series"][1]["y"], np.where(q < 1e-6, 0, q), rtol=5e-3, atol=1e-6)


def test_phase_values_are_radians():
    ex = X.nonnegativity()
    phases = next(c for c in ex.controls if c.name == "phase").values
    assert phases[-1] == pytest.approx(math.pi, abs=1e-4)


def test_factories_check_their_sizes_and_seed():
    for bad in (0, 1, np.nan, "a", None):
        with pytest.raises(ValueError, match="n_points"):
            X.nonnegativity(n_points=bad)
        with pytest.raises(ValueError, match="n_points"):
            X.fit(n_points=bad)
        with pytest.raises(ValueError, match="n_train"):
            X.fit(n_train=bad)
    with pytest.raises(ValueError, match="seed"):
        X.fit(seed=-1)
