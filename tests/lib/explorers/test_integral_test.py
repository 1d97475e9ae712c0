"""Tests of kexue.explorers.integral_test: the frames carry the library's numbers."""
from __future__ import annotations

import pytest

from kexue.explorers import integral_test as X
from kexue.mathematics import series as Z


@pytest.mark.parametrize("family", list(X.FAMILIES))
def test_rectangles_readout_and_bars_match_the_library(family):
    ex = X.rectangles()
    fr = ex.update(family=family, N=8)
    s = X.summand(family)
    upper, lower = fr["panels"][0]["series"][:2]
    assert upper["y"] == pytest.approx(Z.terms(s, 8).tolist(), rel=1e-3, abs=1e-12)
    assert lower["y"][:-1] == pytest.approx(Z.terms(s, 8)[1:].tolist(), rel=1e-3, abs=1e-12)
    lo, hi = Z.sandwich(s, 8)
    assert f"[{lo:.4f}, {hi:.4f}]" in fr["text"]
    assert ("inside" in fr["text"]) == s.monotone
