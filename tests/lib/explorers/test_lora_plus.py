"""The lora-plus explorers: frame numbers against the library, every control changes the frame."""
import numpy as np
import pytest
import torch

from kexue import training as T
from kexue.explorers import lora_plus as X

torch.set_num_threads(1)
SMALL = {n: np.full((len(X.SWEEP_RATIOS), len(X.SWEEP_LRS)), 0.5) for n in X.SWEEP_WIDTHS}
SMALL[64][2, 3] = 0.01
SMALL[256][5, 1] = 0.02


def test_factories_take_no_arguments():
    for f in X.EXPLORERS:
        assert f().update()["panels"]


def test_ratio_frame_matches_the_library():
    fr = X.ratio_rules().update(n=256, m=64, r=16)
    s = {d["label"]: d for d in fr["panels"][0]["series"]}
    k = X.WIDTHS.index(256)
    assert s["post: (n/m)√(n/r)"]["y"][k] == pytest.approx(T.loraplus_ratio(256, 64, 16, "su"), rel=1e-3)
    assert s["n/√(mr)"]["y"][k] == pytest.approx(T.loraplus_ratio(256, 64, 16, "isotropic"), rel=1e-3)
    assert s["measured ‖∇A‖₁/‖∇B‖₁"]["y"][k] == pytest.approx(
        T.random_contribution_ratio(256, 64, 16, b=16, seed=0), rel=1e-3)
    assert fr["panels"][0]["vlines"][0]["x"] == 256


def test_sweep_frame_marks_the_best_cell():
    e = X.sweep_heatmap(SMALL)
    fr = e.update(n=64)
    best = fr["panels"][0]["series"][0]
    assert best["x"][0] == pytest.approx(np.log10(X.SWEEP_LRS[3]), abs=1e-3)
    assert best["y"][0] == pytest.approx(np.log2(X.SWEEP_RATIOS[2]), abs=1e-3)
    assert fr["panels"][1]["series"][0]["y"][2] == pytest.approx(-2.0)


def test_static_exports_fit():
    assert X.ratio_rules().static().nbytes < 1_200_000
    assert X.sweep_heatmap(SMALL).static().nbytes < 1_200_000
