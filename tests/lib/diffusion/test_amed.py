"""Tests of kexue.diffusion.amed: fitting AMED's constants, trajectory straightness."""
import numpy as np
import pytest
import torch
from hypothesis import settings

from kexue import diffusion as D

torch.set_num_threads(1)
FAST = settings(max_examples=30, deadline=None)
# diffusers' schedulers trip numpy 2 deprecation warnings thousands of times; they are not ours
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:diffusers.*",
                                        "ignore::DeprecationWarning:numpy.*")


def test_fit_amed_never_worse_than_dpm2_on_training_noise(gm):
    x = 80 * np.random.default_rng(5).standard_normal((300, gm.dim))
    s = D.karras_sigmas(4)
    r, c = D.fit_amed(gm, x, s, substeps=40, r_grid=9, afs=True)
    assert ((0 < r) & (r < 1)).all() and ((0.9 <= c) & (c <= 1.1)).all()
    ref = D.reference_solution(gm, x, s, substeps=40)
    e_amed = D.rms_error(D.sample_amed(gm, x, s, r, c, afs=True)[0], ref)
    e_dpm2 = D.rms_error(D.sample_midpoint(gm, x, s, afs=True)[0], ref)
    assert e_amed <= e_dpm2 + 1e-12


def test_trajectory_pca_and_chord():
    line = np.linspace(0, 1, 50)[:, None] * np.array([1.0, 2.0, 0.0])
    r = D.trajectory_pca(line)
    assert np.isclose(r[0], 1.0) and np.isclose(r.sum(), 1.0)
    assert D.chord_deviation(line) < 1e-12
    arc = np.stack([np.cos(np.linspace(0, np.pi, 101)), np.sin(np.linspace(0, np.pi, 101))], 1)
    assert np.isclose(D.chord_deviation(arc), 0.5)           # radius 1 over a chord of 2
    batch = D.trajectory_pca(np.stack([line, line]))
    assert batch.shape == (2, 3)
    with pytest.raises(ValueError, match="traj"):
        D.trajectory_pca(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="traj"):
        D.chord_deviation(np.zeros((4, 3)))
