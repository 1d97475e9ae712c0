"""Tests of kexue.explorers.smooth_topk: the frames report the library's numbers."""
from __future__ import annotations

import numpy as np
import pytest

from kexue import probability as P
from kexue.explorers import smooth_topk as X
from kexue.widgets import Explorer


def test_every_factory_builds_an_explorer_without_arguments():
    for factory in X.EXPLORERS:
        assert isinstance(factory(), Explorer)


def test_temperature_update_reports_the_numbers():
    x = np.array([2.0, -1.0, 0.5, 1.2, 3.1, -0.3, 0.9, 0.1, -2.0])
    ex = X.temperature(x)
    taus = ex.controls[-1].values
    fr = ex.update(method="ThreTopK-exp", k=3, tau=taus[0])
    bars = fr["panels"][0]["series"][0]["y"]
    expected = np.sort(P.thre_topk(x, 3, "exp", taus[0]))[::-1]
    np.testing.assert_allclose(bars, expected, atol=1e-3)
    hard = fr["panels"][0]["series"][1]["y"]
    np.testing.assert_array_equal(hard, [1, 1, 1, 0, 0, 0, 0, 0, 0])
    assert "Σp = 3.0000" in fr["text"]
    lam = float(P.thre_topk_lambda(x, 3, "exp", taus[0]))
    assert f"λ = {lam:.3f}" in fr["text"]
    above = int((np.sort(x)[::-1] / taus[0] > lam).sum())
    assert fr["panels"][0]["vlines"][0]["x"] == above + 0.5
    hot = ex.update(method="GradTopK", k=3, tau=taus[-1])
    np.testing.assert_allclose(hot["panels"][0]["series"][0]["y"],
                               np.sort(P.grad_topk(x, 3, taus[-1]))[::-1], atol=1e-3)
    assert "vlines" not in hot["panels"][0]                  # GradTopK has no threshold
    assert max(hot["panels"][0]["series"][0]["y"]) < max(bars)   # warmer: flatter


def test_off_grid_temperature_matches_the_library():
    ex = X.temperature()
    fr = ex.compute(method="ThreTopK-sigmoid", k=2, tau=0.37)
    np.testing.assert_allclose(fr["panels"][0]["series"][0]["y"],
                               np.sort(P.thre_topk(X.SCORES, 2, "sigmoid", 0.37))[::-1], atol=1e-12)


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="^x"):
        X.temperature([1.0, 2.0])
    with pytest.raises(ValueError, match="^taus"):
        X.temperature(taus=[1.0, -1.0])
