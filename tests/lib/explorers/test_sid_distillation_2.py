"""Tests of kexue.explorers.sid_distillation_2: the frames carry the library's numbers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kexue import diffusion as D
from kexue.explorers import sid_distillation_2 as X

torch.set_num_threads(1)


@pytest.mark.parametrize("lam,a", [(0.5, 1.3), (1.2, 3.0), (0.0, 0.5)])
def test_lambda_frame_matches_library(lam, a):
    fr = X.lambda_gradients().update(lam=lam, a=a)
    g = D.gaussian_sid_grads(a, X.B, X.MU, X.S, X.ALPHA, X.BETA)
    left, middle, right = fr["panels"]
    assert left["series"][0]["y"] == pytest.approx(list(g["L1"]), rel=1e-3, abs=1e-4)
    assert left["series"][1]["y"] == pytest.approx(list(2 * D.lambda_grad(g, lam)), rel=1e-3, abs=1e-4)
    assert middle["series"][0]["y"][20] == pytest.approx(D.lambda_cosine(g, 0.5), abs=1e-4)   # lam grid 0.5
    assert right["series"][0]["y"][0] == pytest.approx(D.scale_field(0.3, X.S, lam), rel=1e-3, abs=1e-4)
    assert f"cosine {D.lambda_cosine(g, lam):.4f}" in fr["text"]


def test_every_control_changes_the_frame():
    ex = X.lambda_gradients()
    base = ex.update()
    assert ex.update(lam=2.0)["panels"][0]["series"][1]["y"] != base["panels"][0]["series"][1]["y"]
    assert ex.update(lam=2.0)["panels"][2]["series"][0]["y"] != base["panels"][2]["series"][0]["y"]
    assert ex.update(a=3.0)["panels"][0]["series"][0]["y"] != base["panels"][0]["series"][0]["y"]


def test_fgm_state_coincides_and_static_export_fits():
    fr = X.lambda_gradients().update(lam=0.5)
    assert np.allclose(fr["panels"][0]["series"][0]["y"], fr["panels"][0]["series"][1]["y"], atol=1e-4)
    assert all(callable(f) for f in X.EXPLORERS)
