"""Tests of kexue.diffusion.gp: Gaussian-process images, Wiener predictors, radial spectra."""
import math

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


def test_gp_sample_has_the_spectrum_and_pooled_fraction_matches_monte_carlo():
    P = D.gp_spectrum(32, "powerlaw", alpha=2.0)
    assert np.isclose(P.mean(), 1.0) and np.allclose(P, np.roll(P[::-1, ::-1], 1, (0, 1)))
    x = D.sample_gp(P, 600, np.random.default_rng(1))
    assert abs(x.var() - 1) < 0.03
    for s in (2, 4):
        f = D.pooled_variance_fraction(P, s)
        assert 0 < f < 1
        assert abs(D.avg_pool(x, s).var() / x.var() - f) < 0.03 * f
        # the aliased pooled spectrum is the spectrum of the pooled images
        _, pw = D.radial_power_spectrum(D.avg_pool(x, s))
        _, pt = D.radial_power_spectrum(np.fft.ifft2(np.sqrt(D.pooled_spectrum(P, s)) *
                                                      np.fft.fft2(np.random.default_rng(2).standard_normal((600, 32 // s, 32 // s)))).real)
        assert np.allclose(pw[1:], pt[1:], rtol=0.15)


def test_pooled_fraction_of_constant_blocks_is_one():
    P = np.zeros((8, 8))
    P[0, 0] = 64.0                                  # a constant image: pooling keeps everything
    assert np.isclose(D.pooled_variance_fraction(P, 4), 1.0)


def test_coarse_mmse_matches_monte_carlo_wiener():
    P = D.gp_spectrum(16, "bandpass", k0=2.0)
    rng = np.random.default_rng(3)
    y = D.sample_gp(P, 400, rng)
    a, b = 0.6, 0.8
    xt = a * y + b * rng.standard_normal(y.shape)
    eps = D.wiener_eps(xt, a, b, P)
    y_hat = (xt - b * eps) / a
    assert abs(((y_hat - y) ** 2).mean() - D.coarse_mmse(P, a, b)) < 0.02


def test_radial_power_spectrum_of_white_noise_is_flat():
    k, p = D.radial_power_spectrum(np.random.default_rng(5).standard_normal((300, 16, 16)))
    assert k[0] == 0 and np.allclose(p[1:], 1.0, rtol=0.1)


def test_lowres_model_is_exact_wiener_at_its_own_size(gp_pair):
    _, Pl = gp_pair
    y = np.random.default_rng(0).standard_normal((3, 8, 8))
    a, b = math.cos(math.pi * 0.3 / 2), math.sin(math.pi * 0.3 / 2)
    assert np.allclose(D.gp_lowres_model(Pl)(y, 0.3), D.wiener_eps(y, a, b, Pl), atol=1e-13)
    # the embedded kernel on the same grid is the same filter
    gain = D.lowres_kernel_on_highres(Pl, a, b, 8)
    assert np.allclose(gain.real, b / (a * a * Pl + b * b), atol=1e-12)


def test_lowres_kernel_on_highres_is_translation_equivariant(gp_pair):
    _, Pl = gp_pair
    model = D.gp_lowres_model(Pl)
    x = np.random.default_rng(1).standard_normal((16, 16))
    shifted = np.roll(x, (3, 5), axis=(0, 1))
    assert np.allclose(np.roll(model(x, 0.5), (3, 5), axis=(0, 1)), model(shifted, 0.5), atol=1e-12)


def test_wiener_eps_matches_monte_carlo_regression(gp_pair):
    """E[eps | x_t] is the least-squares regression of eps on x_t: residual uncorrelated with x_t."""
    P, _ = gp_pair
    rng = np.random.default_rng(2)
    x0 = D.sample_gp(P, 4000, rng)
    eps = rng.standard_normal(x0.shape)
    a, b = 0.6, 0.8
    xt = a * x0 + b * eps
    res = eps - D.wiener_eps(xt, a, b, P)
    corr = (res * xt).mean()                       # orthogonality of the residual
    assert abs(corr) < 0.01


def test_band_log_ratio_of_true_samples_is_small(gp_pair):
    P, _ = gp_pair
    x = D.sample_gp(P, 2000, np.random.default_rng(6))
    lo, hi = D.band_log_ratio(x, P, 4)
    assert lo < 0.05 and hi < 0.05


def test_image_bad_input(gp_pair):
    P, Pl = gp_pair
    with pytest.raises(ValueError, match="n_high"):
        D.lowres_kernel_on_highres(Pl, 0.5, 0.5, 4)
    with pytest.raises(ValueError, match="beta"):
        D.lowres_kernel_on_highres(Pl, 0.5, 0.0, 16)
    with pytest.raises(ValueError, match="x"):
        D.gp_lowres_model(Pl)(np.zeros((4, 4)), 0.5)
    with pytest.raises(ValueError, match="t"):
        D.gp_highres_model(P)(np.zeros((16, 16)), 1.0)
    with pytest.raises(ValueError, match="k_split"):
        D.band_log_ratio(np.zeros((2, 16, 16)), P, 0)
    with pytest.raises(ValueError, match="s"):
        D.pooled_variance_fraction(D.gp_spectrum(8), 3)
    with pytest.raises(ValueError, match="P"):
        D.radial_spectrum(np.ones((4, 5)))
    with pytest.raises(ValueError, match="P"):
        D.radial_spectrum(torch.ones(4, 4))                       # numpy only
    with pytest.raises(ValueError, match="kind"):
        D.gp_spectrum(8, "white")
    with pytest.raises(ValueError, match="alpha"):
        D.gp_spectrum(8, alpha=-1)
    with pytest.raises(ValueError, match="P"):
        D.sample_gp(-np.ones((4, 4)), 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="s"):
        D.pooled_spectrum(np.ones((6, 6)), 4)
    with pytest.raises(ValueError, match="beta_eff"):
        D.coarse_mmse(np.ones((4, 4)), 1.0, 0.0)
    with pytest.raises(ValueError, match="x_t"):
        D.wiener_eps(np.zeros((3, 3)), 0.5, 0.5, np.ones((4, 4)))
    with pytest.raises(ValueError, match="x"):
        D.radial_power_spectrum(np.zeros((4, 5)))


def test_radial_spectrum_is_what_sample_spectra_converge_to(gp_pair):
    """The true radial power (band means of P) against the radial power of many samples."""
    P, _ = gp_pair
    k, truth = D.radial_spectrum(P)
    k2, emp = D.radial_power_spectrum(D.sample_gp(P, 3000, np.random.default_rng(9)))
    assert (k == k2).all() and k[-1] == P.shape[0] // 2
    ok = truth > 1e-3 * truth.max()
    assert np.allclose(emp[ok], truth[ok], rtol=0.1)


def test_freq_radius_is_the_wave_number_norm_of_numpy_fftfreq():
    r = D.freq_radius(6)
    k = np.array([0, 1, 2, -3, -2, -1])
    assert np.allclose(r, np.hypot(k[:, None], k[None, :]))
    assert r[0, 0] == 0 and np.allclose(r, r.T)


def test_learned_denoiser_converges_to_the_coarse_mmse():
    """A per-mode least-squares denoiser fitted on samples reaches the closed-form MMSE."""
    P = D.gp_spectrum(16, "bandpass", k0=2.0, width=0.6)
    rng = np.random.default_rng(0)
    y, yt = D.sample_gp(P, 1500, rng), D.sample_gp(P, 1500, rng)
    a, b = 0.6, 0.8
    z, zt = a * y + b * rng.standard_normal(y.shape), a * yt + b * rng.standard_normal(yt.shape)
    mse = D.learned_denoiser_mse(y, z, yt, zt)
    assert abs(mse / float(D.coarse_mmse(P, a, b)) - 1) < 0.02
    # with no noise, the learned gain is 1/a on modes with power: error ~ 0
    assert D.learned_denoiser_mse(y, a * y + 1e-9 * rng.standard_normal(y.shape), yt, a * yt) < 1e-8


def test_learned_denoiser_bad_input():
    x = np.zeros((4, 8, 8))
    with pytest.raises(ValueError, match="noisy_train"):
        D.learned_denoiser_mse(x, np.zeros((4, 8, 4)), x, x)
    with pytest.raises(ValueError, match="noisy_train"):
        D.learned_denoiser_mse(x, x, x, x)
    with pytest.raises(ValueError, match="noisy_test"):
        D.learned_denoiser_mse(x, x + 1, x, np.zeros((3, 8, 8)))


def _dense_gp_covariance(P):
    n = P.shape[0]
    F = np.fft.fft(np.eye(n))
    F2 = np.kron(F, F) / n                                              # unitary 2-D DFT
    return (F2.conj().T @ np.diag(P.reshape(-1)) @ F2).real


@pytest.mark.parametrize("kind,s", [("powerlaw", 2), ("bandpass", 2), ("powerlaw", 4)])
def test_full_input_coarse_mmse_matches_dense_posterior(kind, s):
    # reference: the Gaussian posterior covariance of x0 given x_t as dense matrices, then pooled
    n = 8
    P = D.gp_spectrum(n, kind, alpha=2.0, k0=1.5)
    C = _dense_gp_covariance(P)
    Dm = D.avg_pool(np.eye(n * n).reshape(n * n, n, n), s).reshape(n * n, -1).T
    for a, b in [(0.9, 0.3), (0.6, 0.8), (0.2, 0.98)]:
        K = a * C @ np.linalg.inv(a * a * C + b * b * np.eye(n * n))
        E = C - K @ (a * C)                                             # posterior covariance
        ref = np.trace(Dm @ E @ Dm.T) / Dm.shape[0]
        assert math.isclose(D.full_input_coarse_mmse(P, s, a, b), ref, rel_tol=1e-10)


def test_full_input_coarse_mmse_is_below_the_pooled_only_mmse():
    P = D.gp_spectrum(32, "bandpass", k0=2.0, width=0.6)
    t = np.linspace(0.05, 0.95, 19)
    a, b = D.cosine_alpha_beta(t, 2)
    full = D.full_input_coarse_mmse(P, 2, a, b)
    pooled = D.coarse_mmse(D.pooled_spectrum(P, 2), a, b / 2)
    assert full.shape == t.shape and (full < pooled).all()


def test_full_input_coarse_mmse_bad_input():
    P = D.gp_spectrum(8)
    with pytest.raises(ValueError, match="s"):
        D.full_input_coarse_mmse(P, 3, 0.5, 0.5)
    with pytest.raises(ValueError, match="alpha"):
        D.full_input_coarse_mmse(P, 2, -0.1, 0.5)
    with pytest.raises(ValueError, match="beta"):
        D.full_input_coarse_mmse(P, 2, 0.5, 0.0)
    with pytest.raises(ValueError, match="P_high"):
        D.full_input_coarse_mmse(np.ones((4, 5)), 2, 0.5, 0.5)


def test_gp_helpers_check_every_argument():
    """k0 and width were unchecked for the power law, alpha and ell for the band pass."""
    for kind in ("powerlaw", "bandpass"):
        for key in ("alpha", "ell", "k0", "width"):
            with pytest.raises(ValueError, match=key):
                D.gp_spectrum(8, kind, **{key: np.nan})
    for bad in (0, -1):
        with pytest.raises(ValueError, match="n"):
            D.freq_radius(bad)                    # was ZeroDivisionError / numpy's message
    for bad in ("bad", None, 0):
        with pytest.raises(ValueError, match="rng"):
            D.sample_gp(D.gp_spectrum(8), 2, bad)
