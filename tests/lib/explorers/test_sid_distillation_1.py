"""Tests of kexue.explorers.sid_distillation_1: the frames carry the library's numbers."""
from __future__ import annotations

import math

import pytest
import torch

from kexue import diffusion as D
from kexue.explorers import sid_distillation_1 as X

torch.set_num_threads(1)


@pytest.mark.parametrize("a,t", [(0.7, 0.3), (2.0, 0.9)])
def test_identities_frame_matches_library(a, t):
    ex = X.identities()
    fr = ex.update(a=a, t=t, n=1000)
    alpha, beta = math.cos(math.pi * t / 2), math.sin(math.pi * t / 2)
    cf = D.gaussian_sid_L1(a, X.B, X.MU, X.S, alpha, beta)
    mc = D.gaussian_sid_mc(a, X.B, X.MU, X.S, alpha, beta, n=1000, seed=0)
    assert fr["panels"][0]["series"][0]["y"] == pytest.approx([mc[k] - cf for k in X.LOSS_NAMES], rel=1e-3, abs=1e-4)
    seg = fr["panels"][0]["series"][1]["y"]
    assert seg[1] - seg[0] == pytest.approx(4 * mc["se_L1"], rel=1e-3)
    assert fr["panels"][1]["series"][0]["y"][0] == pytest.approx(D.gaussian_sid_L1(0.2, X.B, X.MU, X.S, alpha, beta), rel=1e-3)
    assert f"closed-form L1 = {cf:.4f}" in fr["text"]


def test_identities_checks_the_seed():
    for bad in (-1, 1.5, "a", None):
        with pytest.raises(ValueError, match="seed"):
            X.identities(seed=bad)
