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


def test_trajectory_pca_matches_the_svd_of_the_centred_points():
    """A trajectory off the origin and of full rank: centring over the points (axis -2), not the
    coordinates, is what the singular values of X - mean(X, 0) measure."""
    rng = np.random.default_rng(0)
    traj = rng.standard_normal((7, 3)) * np.array([3.0, 1.0, 0.2]) + np.array([5.0, -2.0, 1.0])
    s = np.linalg.svd(traj - traj.mean(0), compute_uv=False)
    np.testing.assert_allclose(D.trajectory_pca(traj), s**2 / (s**2).sum(), rtol=1e-10)
    other = traj[::-1] * 2.0
    batch = D.trajectory_pca(np.stack([traj, other]))
    np.testing.assert_allclose(batch, np.stack([D.trajectory_pca(traj), D.trajectory_pca(other)]), rtol=1e-12)


def test_amed_plugin_with_c_1_is_euler_on_the_refined_grid(gm):
    """Plugin steps with c = 1 are two Euler steps: Euler on the grid with s_mid inserted."""
    x = 80 * np.random.default_rng(1).standard_normal((20, gm.dim))
    s = D.karras_sigmas(5)
    r = np.array([0.3, 0.5, 0.7, 0.5])
    out, calls = D.sample_amed_plugin(gm, x, s, r, np.ones(4))
    mids = s[1:] ** r * s[:-1] ** (1 - r)
    fine = np.sort(np.concatenate([s, mids]))[::-1]
    ref, calls_ref = D.sample_euler(gm, x, fine)
    assert calls == calls_ref == 8 and np.abs(out - ref).max() < 1e-12
    _, calls_afs = D.sample_amed_plugin(gm, x, s, r, np.ones(4), afs=True)
    assert calls_afs == 7


def test_fit_amed_plugin_beats_euler_on_the_midpoint_grid(gm):
    x = 80 * np.random.default_rng(5).standard_normal((300, gm.dim))
    s = D.karras_sigmas(4)
    r, c = D.fit_amed(gm, x, s, substeps=40, r_grid=9, kind="plugin", afs=False)
    ref = D.reference_solution(gm, x, s, substeps=40)
    e_plug = D.rms_error(D.sample_amed_plugin(gm, x, s, r, c)[0], ref)
    e_half = D.rms_error(D.sample_amed_plugin(gm, x, s, np.full(3, 0.5), np.ones(3))[0], ref)
    assert e_plug <= e_half * 1.01


def test_amed_plugin_bad_input(gm):
    x, s = np.zeros((2, gm.dim)), D.karras_sigmas(3)
    with pytest.raises(ValueError, match="r must"):
        D.sample_amed_plugin(gm, x, s, [0.5, 1.5], [1, 1])
    with pytest.raises(ValueError, match="c must"):
        D.sample_amed_plugin(gm, x, s, [0.5, 0.5], [1, -1])
    with pytest.raises(ValueError, match="kind"):
        D.fit_amed(gm, x, s, kind="other")


def test_fit_amed_checks_the_denoiser_and_c_bounds():
    gm = D.GaussianMixture(np.array([[1.0, 0.0], [-1.0, 0.5]]), 0.3)
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match="denoiser"):
        D.fit_amed("bad", x, [2.0, 1.0], substeps=2, r_grid=3)
    for bad in ((1.0,), (), None, 1.0):
        with pytest.raises(ValueError, match="c_bounds"):
            D.fit_amed(gm, x, [2.0, 1.0], substeps=2, r_grid=3, c_bounds=bad)
