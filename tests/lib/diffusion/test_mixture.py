"""Tests of kexue.diffusion.mixture: Gaussian-mixture and isotropic Gaussian teachers."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from kexue import diffusion as D

torch.set_num_threads(1)
FAST = settings(max_examples=30, deadline=None)
# diffusers' schedulers trip numpy 2 deprecation warnings thousands of times; they are not ours
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:diffusers.*",
                                        "ignore::DeprecationWarning:numpy.*")


def test_mixture_denoiser_matches_monte_carlo_posterior_mean():
    """E[x0 | x_sigma] by importance weighting prior samples equals the closed form."""
    g = D.ring_mixture(4, 1.0, 0.3)
    rng = np.random.default_rng(0)
    x0 = g.sample(400_000, rng)
    sigma = 0.7
    x = np.array([[0.5, 0.2], [-1.0, 0.1]])
    for xi in x:
        logw = -((xi - x0) ** 2).sum(1) / (2 * sigma ** 2)
        w = np.exp(logw - logw.max())
        mc = (w[:, None] * x0).sum(0) / w.sum()
        assert np.allclose(mc, g.denoise(xi, sigma), atol=0.01)


def test_mixture_denoiser_single_component_is_linear_shrinkage():
    g = D.GaussianMixture([[1.0, -2.0]], 0.5)
    x = np.array([[3.0, 1.0]])
    expect = np.array([1.0, -2.0]) + 0.25 / (0.25 + 4.0) * (x - np.array([1.0, -2.0]))
    assert np.allclose(g.denoise(x, 2.0), expect, atol=1e-14)


@FAST
@given(st.floats(1e-3, 1e3), st.integers(0, 10_000))
def test_mixture_responsibilities_sum_to_one_and_finite(sigma, seed):
    g = D.random_mixture(5, 3, 0.05, seed=1)
    x = np.random.default_rng(seed).standard_normal((7, 3)) * 1e3
    r = g.responsibilities(x, sigma)
    assert np.isfinite(r).all() and np.allclose(r.sum(-1), 1)
    assert np.isfinite(g.denoise(x, sigma)).all()


def test_mixture_bad_input():
    with pytest.raises(ValueError, match="stds"):
        D.GaussianMixture([[0.0, 0.0]], -1.0)
    with pytest.raises(ValueError, match="weights"):
        D.GaussianMixture([[0.0], [1.0]], 1.0, weights=[0.2, 0.2])
    with pytest.raises(ValueError, match="means"):
        D.GaussianMixture([0.0, 1.0], 1.0)
    g = D.ring_mixture()
    with pytest.raises(ValueError, match="sigma"):
        g.denoise(np.zeros(2), 0.0)
    with pytest.raises(ValueError, match="x"):
        g.denoise(np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="n"):
        g.sample(0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="radius"):
        D.ring_mixture(radius=0)
    with pytest.raises(ValueError, match="dim"):
        D.random_mixture(dim=0)


def test_isotropic_gaussian_trajectory_solves_the_ode():
    g = D.IsotropicGaussian(0.5)
    x = np.random.default_rng(0).standard_normal((10, 3)) * 3
    ref = D.sample_heun(g, x, np.geomspace(3.0, 0.1, 4001))[0]
    assert np.allclose(ref, g.trajectory(x, 3.0, 0.1), atol=1e-6)


@FAST
@given(st.floats(0.05, 5), st.floats(0.01, 50), st.floats(0.01, 0.99))
def test_mvt_time_lies_inside_and_one_step_is_exact(c, a, frac):
    g = D.IsotropicGaussian(c)
    b = a * frac
    s = g.mvt_time(a, b)
    assert b < s < a
    x = np.array([1.3, -0.4])
    xs = g.trajectory(x, a, s)
    step = x + (b - a) * (xs - g(xs, s)) / s
    assert np.allclose(step, g.trajectory(x, a, b), rtol=1e-10, atol=1e-12)


def test_isotropic_bad_input():
    with pytest.raises(ValueError, match="c"):
        D.IsotropicGaussian(0)
    g = D.IsotropicGaussian(1.0)
    with pytest.raises(ValueError, match="sigma_b"):
        g.mvt_time(1.0, 2.0)
    with pytest.raises(ValueError, match="sigma_to"):
        g.trajectory(np.ones(2), 1.0, -1.0)


def test_responsibilities_with_unequal_stds_match_scipy_densities():
    """With stds 0.1 and 1 the -d/2 log(s_k^2 + sigma^2) term of the posterior matters: the
    responsibilities equal w_k N(x; mu_k, (s_k^2 + sigma^2) I) normalised, from scipy."""
    from scipy.stats import multivariate_normal
    means, stds, w = np.array([[0.0, 0.0], [0.5, 0.0]]), np.array([0.1, 1.0]), np.array([0.3, 0.7])
    g = D.GaussianMixture(means, stds, w)
    x, sigma = np.array([[0.2, 0.1], [1.5, -2.0]]), 0.05
    dens = np.stack([w[k] * multivariate_normal(means[k], (stds[k] ** 2 + sigma ** 2) * np.eye(2)).pdf(x)
                     for k in range(2)], -1)
    np.testing.assert_allclose(g.responsibilities(x, sigma), dens / dens.sum(-1, keepdims=True),
                               rtol=1e-12)


def test_mixture_constructors_name_stds_and_seed():
    mu = np.array([[1.0, 0.0], [-1.0, 0.5]])
    D.GaussianMixture(mu, 0.5)                     # a scalar: one std for both components
    for bad in ("bad", None, np.ones((2, 2))):
        with pytest.raises(ValueError, match="stds"):
            D.GaussianMixture(mu, bad)
    for bad in (-1, 1.5, "bad", np.nan):
        with pytest.raises(ValueError, match="seed"):
            D.random_mixture(seed=bad)
