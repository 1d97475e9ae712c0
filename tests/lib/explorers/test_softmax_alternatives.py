"""Tests of kexue.explorers.softmax_alternatives: the distribution zoo reports the library's numbers."""
from __future__ import annotations

import numpy as np
import pytest

from kexue import probability as P
from kexue.explorers import softmax_alternatives as X
from kexue.widgets import Explorer

XS = np.sort(np.array([2.0, 1.4, 1.0, 0.6, 0.2, -0.3, -0.8, -1.5]))[::-1]


def test_every_factory_builds_an_explorer_without_arguments():
    for factory in X.EXPLORERS:
        assert isinstance(factory(), Explorer)


def test_distribution_zoo():
    ex = X.distribution_zoo(taus=(0.5, 1.0), alphas=(1.5, 2.0), ks=(2, 3))
    fr = ex.update(name="sparsemax", tau=1.0, alpha=1.5, k=3)
    assert np.allclose(fr["panels"][0]["series"][0]["y"], P.sparsemax(XS), atol=1e-4)
    assert np.allclose(fr["panels"][0]["series"][1]["y"], P.softmax(XS), atol=1e-4)
    assert f"support {(P.sparsemax(XS) > 0).sum()} of 8" in fr["text"]
    fr = ex.update(name="sparse_softmax", tau=0.5, alpha=2.0, k=2)
    assert "support 2 of 8" in fr["text"]
    assert np.allclose(fr["panels"][0]["series"][0]["y"], P.sparse_softmax(XS / 0.5, 2), atol=1e-4)
    assert len(ex.frames()) == 6 * 2 * 2 * 2


def test_entropy_readout_matches_the_map():
    ex = X.distribution_zoo()
    fr = ex.compute(name="entmax", tau=1.0, alpha=1.5, k=3)
    p = P.entmax_bisect(XS, 1.5)
    nz = p[p > 0]
    assert f"entropy {float(-(nz * np.log(nz)).sum()):.3f}" in fr["text"]


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="alphas"):
        X.distribution_zoo(alphas=(3.0,))
    with pytest.raises(ValueError, match="ks"):
        X.distribution_zoo(ks=(9,))


def test_distribution_zoo_refuses_malformed_grids():
    """A scalar, an empty list, None or a nested list gave TypeError/IndexError before."""
    for name in ("taus", "alphas", "ks", ):
        for bad in (3, [], None, [[1, 2]], "ab"):
            with pytest.raises(ValueError, match=name):
                X.distribution_zoo(**{name: bad})
