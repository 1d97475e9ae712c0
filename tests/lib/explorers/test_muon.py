"""Explorers of the chapter muon: numbers against the library, every control matters."""
import numpy as np
import pytest
import torch

from kexue.explorers import muon as X
from kexue.training import muon as MU
from kexue.widgets import Explorer

torch.set_num_threads(1)


def test_factories_return_explorers():
    for f in X.EXPLORERS:
        assert isinstance(f(), Explorer)


def test_ns_band_numbers_and_controls():
    e = X.ns_band()
    fr = e.update(steps=5)
    s = fr["panels"][0]["series"][0]
    assert np.allclose(s["y"], MU.ns_scalar_map(np.asarray(s["x"]), 5), rtol=2e-3, atol=1e-6)
    lo, hi = (h["y"] for h in fr["panels"][0]["hlines"])
    assert abs(lo - 0.6818) < 1e-3 and abs(hi - 1.134) < 1e-3
    assert e.update(steps=2) != e.update(steps=7)
    assert e.update(coeffs=list(X.COEFFS)[1]) != e.update(coeffs=list(X.COEFFS)[0])


def test_decay_bound_numbers_and_controls():
    e = X.decay_bound()
    fr = e.update(lam=2.0, eta=0.1, mode="constant update")
    y = fr["panels"][0]["series"][0]["y"]
    W0 = 0.05 * np.random.default_rng(0).normal(size=(8, 12))
    want = MU.norm_bound_path(W0, 0.1, 2.0, 100, "constant", seed=1)
    assert np.allclose(y, want, rtol=1e-3)
    assert "holds" in fr["text"]
    assert "violated" in e.update(lam=5.0, eta=0.5, mode="random updates")["text"]
    assert "violated" in e.update(lam=0.5, eta=0.1, mode="constant, Newton–Schulz")["text"]
    for param, values in [("lam", [0.5, 5.0]), ("eta", [0.02, 0.5]), ("mode", ["constant update", "random updates"])]:
        assert e.update(**{param: values[0]}) != e.update(**{param: values[1]})
