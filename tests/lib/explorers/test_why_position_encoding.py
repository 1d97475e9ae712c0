"""Tests of kexue.explorers.why_position_encoding: frames against kexue.attention.position."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kexue import attention as A
from kexue.explorers import why_position_encoding as X
from kexue.widgets import Explorer

torch.set_num_threads(1)


def test_variance_frames():
    ex = X.variance(ds=(64, 1024), heads=(1, 16), ns=(8, 64), L=64, hist_draws=100)
    fr = ex.update(d=1024, H=1, weights="uniform", n=64)
    assert "accuracy 0.570" in fr["text"]
    line = fr["panels"][0]["series"][0]
    assert abs(np.polyfit(np.log(line["x"]), np.log(line["y"]), 1)[0] + 1) < 0.05
    h = fr["panels"][1]["series"]
    assert sum(h[0]["y"]) == pytest.approx(1.0, abs=1e-3) and sum(h[1]["y"]) == pytest.approx(1.0, abs=1e-3)
    fb = ex.update(weights="bidirectional")
    assert abs(float(fb["text"].split("slope ")[1].split(";")[0])) < 0.1
    assert ex.static().nbytes < 1_000_000


def test_shuffle_frames():
    ex = X.shuffle()
    assert "< 1e-12" in ex.update(shuffle=3, mode="bidirectional")["text"]
    causal = ex.update(shuffle=3, mode="causal")
    assert max(causal["panels"][1]["series"][0]["y"]) > 0.1
    assert "< 1e-12" in ex.update(shuffle=0, mode="causal")["text"]        # identity
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 16))
    Ws = [rng.normal(size=(16, 16)) / np.sqrt(16) for _ in range(3)]
    y = A.self_attention(x, *Ws, causal=True)[0]
    np.testing.assert_allclose(causal["panels"][0]["series"][0]["y"], y[:, 0], rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("call, name", [
    (lambda: X.variance(L=2), "L"),
    (lambda: X.shuffle(L=1), "L"),
    (lambda: X.shuffle(shuffles=0), "shuffles"),
])
def test_bad_input_names_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_variance_refuses_malformed_grids():
    """A scalar, an empty list, None or a nested list gave TypeError/IndexError before."""
    for name in ("ds", "heads", "ns", ):
        for bad in (3, [], None, [[1, 2]], "ab"):
            with pytest.raises(ValueError, match=name):
                X.variance(**{name: bad})


def test_variance_checks_its_draw_counts():
    for name in ("draws", "hist_draws"):
        with pytest.raises(ValueError, match=name):
            X.variance(**{name: 0})
