"""Tests of kexue.explorers.multimodal_rope: layouts and score maps against kexue.attention.rope."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kexue import attention as A
from kexue.explorers import multimodal_rope as X
from kexue.widgets import Explorer

torch.set_num_threads(1)


def test_layout_frames():
    ex = X.layout()
    fr = ex.update(L=5, h=2, w=3, t=1, scheme="rope_tv")
    xs = fr["panels"][0]["series"]
    assert xs[0]["y"][5] == 8 and xs[1]["y"][5] == 7.5            # first patch at (8, 7.5)
    assert "count as 6" in fr["text"] and "(3, 2.5)" in fr["text"]
    fr = ex.update(L=5, h=2, w=3, t=1, scheme="rope_tie")
    assert "count as 11" in fr["text"]
    bars = ex.update(scheme="flat")["panels"][1]["series"][0]["y"]
    assert max(bars) == pytest.approx(1.0) and bars.index(max(bars)) == 1   # L = 2: query is token 2
    assert ex.static().nbytes < 1_000_000


def test_score_map_is_symmetric():
    fr = X.score_map().update(n=3, scheme="rope_tv")
    z = np.array(fr["panels"][0]["heatmap"]["z"])
    np.testing.assert_allclose(z, z.T, atol=1e-3)
    np.testing.assert_allclose(np.diag(z), 1.0, atol=1e-3)
    lay = A.layout_positions([("text", 3), ("image", 3, 3), ("text", 3)], "rope_tv")
    np.testing.assert_allclose(z, A.layout_scores(lay, "rope_tv"), atol=1e-3)


@pytest.mark.parametrize("call, name", [
    (lambda: X.layout().update(scheme="alibi"), "scheme"),
    (lambda: X.layout().update(shape=3), "params"),
])
def test_bad_input_names_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_layout_refuses_malformed_grids():
    """A scalar, an empty list, None or a nested list gave TypeError/IndexError before."""
    for name in ("Ls", "sizes", "frames", ):
        for bad in (3, [], None, [[1, 2]], "ab"):
            with pytest.raises(ValueError, match=name):
                X.layout(**{name: bad})


def test_score_map_refuses_malformed_grids():
    """A scalar, an empty list, None or a nested list gave TypeError/IndexError before."""
    for name in ("sizes", ):
        for bad in (3, [], None, [[1, 2]], "ab"):
            with pytest.raises(ValueError, match=name):
                X.score_map(**{name: bad})


def test_text_lengths_must_be_positive():
    with pytest.raises(ValueError, match="right"):
        X.layout(right=0)
    with pytest.raises(ValueError, match="text"):
        X.score_map(text=0)
    with pytest.raises(ValueError, match="sizes"):
        X.score_map(sizes=[2])                    # the slider starts at its second entry
