"""Tests of kexue.explorers.attention_scale: frames against kexue.attention.scale."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kexue import attention as A
from kexue.explorers import attention_scale as X
from kexue.widgets import Explorer

torch.set_num_threads(1)


def test_scale_frames_match_the_library():
    ex = X.scale(n_values=(64, 256), ratios=(0.5, 1.0, 2.0), n_alpha=9, budget=2048)
    fr = ex.update(dist="normal", n=256, ratio=1.0)
    a_star = A.optimal_scale(256)
    vl = fr["panels"][0]["vlines"]
    assert abs(vl[0]["x"] - a_star) < 1e-3 and abs(vl[1]["x"] - a_star) < 1e-3
    bars = fr["panels"][1]["series"][0]["y"]
    assert bars == sorted(bars, reverse=True) and len(bars) == 20
    fr2 = ex.update(dist="cos128", n=64, ratio=2.0)
    assert abs(fr2["panels"][0]["vlines"][1]["x"] - 2 * A.optimal_scale(64, "cosine", 128)) < 1e-2
    assert len(ex.frames()) == 5 * 2 * 3
    fr3 = ex.update(dist="normal", n=64, ratio=0.5)
    top = np.sort(A.scaled_softmax(A.sample_scores(64, trials=1, seed=1)[0], 0.5 * A.optimal_scale(64)))[::-1][:20]
    np.testing.assert_allclose(fr3["panels"][1]["series"][0]["y"], top, rtol=1e-3)


@pytest.mark.parametrize("call, name", [
    (lambda: X.scale(n_values=(1, 10)), "n_values"),
    (lambda: X.scale(ratios=(0.0, 1.0)), "ratios"),
])
def test_bad_input_names_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_scale_refuses_malformed_grids():
    """A scalar, an empty list, None or a nested list gave TypeError/IndexError before."""
    for name in ("n_values", "ratios", ):
        for bad in (3, [], None, [[1, 2]], "ab"):
            with pytest.raises(ValueError, match=name):
                X.scale(**{name: bad})


def test_scale_checks_its_keyword_sizes_and_seed():
    for name, bad in (("n_alpha", 1), ("n_alpha", np.nan), ("budget", 0), ("seed", -1)):
        with pytest.raises(ValueError, match=name):
            X.scale(**{name: bad})
