"""Tests of kexue.explorers.ssm_hippo: the frames report the library's numbers."""
from __future__ import annotations

import numpy as np
import pytest

from kexue import matrices as M
from kexue.explorers import ssm_hippo as X
from kexue.widgets import Explorer


def test_every_factory_builds_an_explorer_without_arguments():
    for factory in X.EXPLORERS:
        assert isinstance(factory(), Explorer)


def test_legt_frame_reports_the_memory_and_its_reconstruction():
    ex = X.memory()
    fr = ex.update(memory="legt", N=8, w=1.0, T=6.0)
    left, right = fr["panels"]
    t = np.array(left["series"][0]["x"])
    np.testing.assert_allclose(t[[0, -1]], [5.0, 6.0], atol=1e-12)
    s = np.linspace(-1, 1, len(t))
    t_exact = M.window_map("legt", s, 6.0, 1.0)
    np.testing.assert_allclose(t, t_exact, rtol=1e-3)
    np.testing.assert_allclose(left["series"][0]["y"], X.signal(t_exact), rtol=1e-3, atol=1e-4)
    x = M.simulate("legt", X.signal, 0.0, [6.0], 8, 1.0, x0=np.zeros(8))[-1]
    np.testing.assert_allclose(left["series"][1]["y"], M.reconstruct(x, s, "legt"), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(right["series"][1]["y"], np.abs(x), rtol=1e-3, atol=1e-8)
    assert "state size 8" in fr["text"]


def test_fourier_post_frame_shows_the_drift_and_legs_ignores_w():
    ex = X.memory()
    fr = ex.update(memory="fourier", N=16, T=8.0)
    drift = float(fr["text"].split("projection| ")[1])
    x = M.simulate("fourier", lambda t: np.where(t >= 0, X.signal(t), 0.0), 0.0, [8.0], 8, 1.0, x0=np.zeros(17))[-1]
    exact = M.project(X.signal, 8.0, 8, "fourier", 1.0)
    assert drift == pytest.approx(np.abs(x - exact).max(), rel=1e-2) and drift > 0.05
    a = ex.update(memory="legs", w=0.5)
    b = ex.update(memory="legs", w=2.0)
    assert a == b
    assert "< 1e-8" in a["text"]                               # LegS is exact


def test_static_export_fits():
    assert X.memory().static().nbytes < 1_200_000


def test_memory_checks_n_points():
    for bad in (0, 1, np.nan, "a", None):
        with pytest.raises(ValueError, match="n_points"):
            X.memory(n_points=bad)
