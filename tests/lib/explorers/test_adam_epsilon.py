"""The adam-epsilon explorers: frame numbers against the library, every control changes the frame."""
import math

import numpy as np
import pytest

from kexue import training as T
from kexue.explorers import adam_epsilon as X


def test_factories_take_no_arguments():
    for f in X.EXPLORERS:
        assert f().update()["panels"]


def test_surge_frame_matches_the_library():
    fr = X.eps_surge().update(q=0.5, eps=0.05)
    s = {d["label"]: d for d in fr["panels"][0]["series"]}
    Bs = np.array(s["exact SoftSign moments"]["x"])
    H = T.coupled_hessian(X.DIM, 0.5 / (X.DIM - 1))
    ref = T.adam_eps_optimal_lr(np.full(X.DIM, X.G0), H, np.ones(X.DIM), Bs[[10, 20, -1]], 0.05)
    y = s["exact SoftSign moments"]["y"]
    assert [y[10], y[20]] == pytest.approx(list(ref[:2] / ref[2]), rel=1e-3)
    assert "surge: peak" in fr["text"]
    assert "no surge" in X.eps_surge().update(q=0.5, eps=0.0)["text"]
    assert "no surge" in X.eps_surge().update(q=0.5, eps=0.2)["text"]


def test_clip_frame_matches_the_library():
    fr = X.clip_mean().update(b=0.3)
    s = {d["label"]: d for d in fr["panels"][0]["series"]}
    a = np.array(s["clip (closed form)"]["x"])
    assert np.allclose(s["clip (closed form)"]["y"], T.clip_mean(a, 0.3), atol=1e-3)
    assert s["a/√(a² + b² + π/2)"]["y"][60] == pytest.approx(a[60] / math.sqrt(a[60] ** 2 + 0.09 + math.pi / 2), rel=1e-3)


def test_static_exports_fit():
    for f in X.EXPLORERS:
        assert f().static().nbytes < 1_200_000
