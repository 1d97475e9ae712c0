"""Tests of kexue.explorers.skip_tuning: the mosaic shows the float64 network's samples."""
import numpy as np
import pytest
import torch

from kexue import diffusion as D
from kexue.explorers import skip_tuning as X

torch.set_num_threads(1)


def test_mosaic_tiles_with_gaps_and_top_row_first():
    x = np.arange(4)[:, None, None] * np.ones((4, 8, 8))
    m = X.mosaic(x, cols=2)
    assert m.shape == (17, 17)
    assert (m[-8:, :8] == 0).all() and (m[-8:, 9:] == 1).all() and (m[:8, :8] == 2).all()
    assert (m[8] == -1).all() and (m[:, 8] == -1).all()               # gaps in the background value -1


def test_skip_tuning_frames_match_the_library_and_the_sweep():
    den, _ = D.load_pretrained()
    sw = D.skip_sweep(den, [0.5, 1.0], samplers=["euler3"], n=40)
    sw["n"] = 40
    ex = X.skip_tuning(den, sw)
    fr = ex.update(sampler="euler3", rho=0.5)
    assert f"FD {sw['fd'][('euler3', 0.5)]:.2f}" in fr["text"]
    z = np.array(fr["panels"][0]["heatmap"]["z"])
    assert z.shape == (35, 35) and np.abs(z).max() <= 1
    # the first tile is the library's float64 sample of the first noise, rounded to 2 decimals
    x_T = 80 * torch.randn((40, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    with D.skip_tuning(den, 0.5):
        first = D.sample_digits(den, x_T[:1], "euler3")[0, 0].numpy()
    assert np.allclose(z[::-1][:8, :8], np.round(first, 2), atol=0.0051)
    # rho changes the frame
    assert ex.update(sampler="euler3", rho=1.0)["panels"][0]["heatmap"]["z"] != fr["panels"][0]["heatmap"]["z"]


def test_default_factory_uses_the_committed_network_and_sweep():
    assert X.EXPLORERS == (X.skip_tuning,)
    ex = X.skip_tuning()
    fr = ex.update()
    sw = D.load_sweep()
    assert f"floor {sw['real']['fd_floor']:.2f}" in fr["text"]
    assert ex.update(sampler="heun5")["text"] != fr["text"]


def test_skip_tuning_checks_the_seed_before_loading_anything():
    for bad in (-1, 1.5, "a", None):
        with pytest.raises(ValueError, match="seed"):
            X.skip_tuning(seed=bad)
