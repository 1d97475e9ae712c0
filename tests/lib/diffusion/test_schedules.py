"""Tests of kexue.diffusion.schedules: grids, the cosine schedule, VE <-> VP, log-SNR and its shifts."""
import math

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


def test_vp_to_ve_maps_scaled_input():
    g = D.IsotropicGaussian(1.0)
    a, b = 0.6, 0.8
    x = np.array([0.3, -1.2])
    x_ve, sigma = D.vp_to_ve(x, a, b)
    # x_t = a x0 + b eps  =>  E[x0 | x_t] = a / (a^2 + b^2) x_t for unit-variance data
    assert sigma == pytest.approx(b / a) and np.allclose(g(x_ve, sigma), a * x / (a * a + b * b))
    with pytest.raises(ValueError, match="alpha"):
        D.vp_to_ve(x, 0.0, 1.0)
    with pytest.raises(ValueError, match="beta"):
        D.vp_to_ve(x, 0.5, -1.0)


def test_eps_from_denoiser_recovers_the_noise_of_a_gaussian():
    """For x0 ~ N(0, c^2 I) the exact E[eps | x_t] = beta x_t / (alpha^2 c^2 + beta^2) (VP form),
    computed here from the VE denoiser through the conversion."""
    c = 0.7
    eps = D.eps_from_denoiser(D.IsotropicGaussian(c))
    x = np.random.default_rng(0).standard_normal((5, 3))
    for t in [0.1, 0.5, 0.9]:
        a, b = math.cos(math.pi * t / 2), math.sin(math.pi * t / 2)
        assert np.allclose(eps(x, t), b * x / (a * a * c * c + b * b), atol=1e-12)
    shifted = D.eps_from_denoiser(D.IsotropicGaussian(c), lambda t: D.cosine_alpha_beta(t, 2.0))
    a, b = D.cosine_alpha_beta(0.5, 2.0)
    assert np.allclose(shifted(x, 0.5), b * x / (a * a * c * c + b * b), atol=1e-12)
    with pytest.raises(ValueError, match="t"):
        eps(x, 1.0)


@FAST
@given(st.floats(0.0, 1.0), st.floats(1.0, 64.0))
def test_cosine_alpha_beta_is_the_shifted_logsnr(t, s):
    """(alpha, beta) of the shifted cosine: unit norm, and log-SNR = -2 log tan(pi t/2) - 2 log s
    (compared with the stable sigmoid route of alpha_sigma_from_logsnr where finite)."""
    a, b = D.cosine_alpha_beta(t, s)
    assert abs(a * a + b * b - 1) < 1e-12
    if 0.01 < t < 0.99:
        lam = -2 * math.log(math.tan(math.pi * t / 2)) - 2 * math.log(s)
        a2, b2 = D.alpha_sigma_from_logsnr(lam)
        assert a == pytest.approx(float(a2), rel=1e-9) and b == pytest.approx(float(b2), rel=1e-9)


def test_cosine_alpha_beta_plain_and_arrays():
    assert D.cosine_alpha_beta(0.5) == pytest.approx((math.sqrt(0.5), math.sqrt(0.5)))
    assert D.cosine_alpha_beta(1.0, 4.0) == pytest.approx((0.0, 1.0), abs=1e-15)
    a, b = D.cosine_alpha_beta(np.linspace(0, 1, 5))
    assert a.shape == (5,) and np.allclose(a, np.cos(np.pi * np.linspace(0, 1, 5) / 2))
    with pytest.raises(ValueError, match="t"):
        D.cosine_alpha_beta(1.5)
    with pytest.raises(ValueError, match="s"):
        D.cosine_alpha_beta(0.5, 0.0)
    with pytest.raises(ValueError, match="t"):
        D.cosine_alpha_beta(torch.tensor(0.5))


def test_karras_sigmas_endpoints_and_monotone():
    s = D.karras_sigmas(10, 0.002, 80.0, 7.0)
    assert s[0] == 80.0 and s[-1] == 0.002 and (np.diff(s) < 0).all()
    assert D.karras_sigmas(3, append_zero=True)[-1] == 0.0


def test_karras_sigmas_match_diffusers_formula():
    from diffusers import EulerDiscreteScheduler
    sch = EulerDiscreteScheduler(use_karras_sigmas=True)
    sch.set_timesteps(12)
    sig = sch.sigmas.double().numpy()
    ours = D.karras_sigmas(12, float(sig[-2]), float(sig[0]), 7.0, append_zero=True)
    assert np.allclose(ours, sig, rtol=2e-6)


@FAST
@given(st.integers(2, 50), st.floats(1e-4, 1.0), st.floats(2.0, 200.0), st.floats(0.5, 10.0))
def test_karras_sigmas_strictly_decreasing(n, lo, hi, rho):
    s = D.karras_sigmas(n, lo, hi, rho)
    assert (np.diff(s) < 0).all() and np.isfinite(s).all()


def test_karras_bad_input():
    for kwargs, name in [({"n": 1}, "n"), ({"n": 5, "sigma_min": 0}, "sigma_min"),
                         ({"n": 5, "sigma_min": 90}, "sigma_min"), ({"n": 5, "rho": 0}, "rho")]:
        with pytest.raises(ValueError, match=name):
            D.karras_sigmas(**kwargs)


@FAST
@given(st.floats(0, 1), st.floats(1.0, 64.0))
def test_shift_identities(t, s):
    lo = D.logsnr_cosine(t)
    hi = D.shifted_cosine(t, s)
    assert np.isclose(lo - hi, 2 * math.log(s))
    a, b = D.alpha_sigma_from_logsnr(hi)
    assert np.isclose(a * a + b * b, 1.0)


def test_cosine_logsnr_monotone_and_shifted_value():
    t = np.linspace(0, 1, 101)
    lam = D.logsnr_cosine(t)
    assert (np.diff(lam) < 0).all() and np.isclose(lam[0], 15) and np.isclose(lam[-1], -15)
    a, _ = D.alpha_sigma_from_logsnr(D.shifted_cosine(0.5, 4.0))
    assert abs(a - 1 / math.sqrt(17)) < 1e-12                 # 0.242536
    assert abs(D.alpha_sigma_from_logsnr(D.logsnr_cosine(0.3))[0] - math.cos(0.15 * math.pi)) < 3e-4  # clipping moves t by ~1e-4


def test_alpha_sigma_extreme_logsnr_finite():
    a, b = D.alpha_sigma_from_logsnr(np.array([-800.0, 0.0, 800.0]))
    assert np.isfinite(a).all() and np.isfinite(b).all()
    assert np.allclose(a ** 2 + b ** 2, 1)


def test_discrete_schedules_match_diffusers_ddpm():
    from diffusers import DDPMScheduler
    lin = DDPMScheduler(beta_schedule="linear").alphas_cumprod.double().numpy()
    cos = DDPMScheduler(beta_schedule="squaredcos_cap_v2").alphas_cumprod.double().numpy()
    assert np.allclose(D.linear_beta_alphas_cumprod(), lin, rtol=1e-5)
    assert np.allclose(D.cosine_alphas_cumprod(), cos, rtol=1e-5)


def test_shift_alphas_cumprod_shifts_logsnr():
    ac = D.cosine_alphas_cumprod(100)[:-1]
    sh = D.shift_alphas_cumprod(ac, 2.0)
    assert np.allclose(D.logsnr_from_alphas_cumprod(ac) - D.logsnr_from_alphas_cumprod(sh),
                       2 * math.log(2))


@FAST
@given(st.floats(0, 1), st.floats(0.1, 20))
def test_rf_shift_divides_snr_by_shift_squared_and_inverts(sigma, shift):
    sp = float(D.rf_shift_sigmas(sigma, shift))
    assert 0 <= sp <= 1
    assert np.isclose(float(D.rf_unshift_sigmas(sp, shift)), sigma, atol=1e-12)
    if 1e-6 < sigma < 1 - 1e-6:
        snr, snr_p = ((1 - sigma) / sigma) ** 2, ((1 - sp) / sp) ** 2
        assert np.isclose(snr_p, snr / shift ** 2, rtol=1e-8)


def test_rf_shift_matches_diffusers_flowmatch():
    from diffusers import FlowMatchEulerDiscreteScheduler
    base = FlowMatchEulerDiscreteScheduler(shift=1.0).sigmas.double().numpy()
    sch = FlowMatchEulerDiscreteScheduler(shift=3.0)
    assert np.allclose(D.rf_shift_sigmas(base, 3.0), sch.sigmas.double().numpy(), atol=1e-6)
    grid = np.linspace(1.0, 0.05, 20)
    sch.set_timesteps(sigmas=grid.tolist())                # an inference grid is shifted too
    assert np.allclose(D.rf_shift_sigmas(grid, 3.0), sch.sigmas[:-1].double().numpy(), atol=1e-6)


def test_snr_match_time_cosine_closed_form_and_discrete():
    tau = float(D.snr_match_time(0.5, 2.0))
    assert abs(tau - 0.295167) < 1e-6
    ac = D.cosine_alphas_cumprod(1000, offset=0.0, max_beta=0.9999)
    t = np.linspace(0.1, 0.9, 9)
    tau_d = D.snr_match_time(t, 2.0, ac)
    lam = D.logsnr_from_alphas_cumprod(ac)
    grid = np.linspace(0, 1, ac.size)
    assert np.allclose(np.interp(tau_d, grid, lam), np.interp(t, grid, lam) + 2 * math.log(2), atol=1e-3)
    assert (tau_d < t).all()


def test_schedule_bad_input():
    with pytest.raises(ValueError, match="t"):
        D.logsnr_cosine(1.5)
    with pytest.raises(ValueError, match="logsnr_min"):
        D.logsnr_cosine(0.5, 5, -5)
    with pytest.raises(ValueError, match="s"):
        D.shift_logsnr(1.0, 0.0)
    with pytest.raises(ValueError, match="logsnr"):
        D.alpha_sigma_from_logsnr(np.nan)
    with pytest.raises(ValueError, match="beta_end"):
        D.linear_beta_alphas_cumprod(10, 1e-4, 1.5)
    with pytest.raises(ValueError, match="max_beta"):
        D.cosine_alphas_cumprod(10, max_beta=0)
    with pytest.raises(ValueError, match="alphas_cumprod"):
        D.logsnr_from_alphas_cumprod([0.5, 1.0])
    with pytest.raises(ValueError, match="shift"):
        D.rf_shift_sigmas(0.5, -1)
    with pytest.raises(ValueError, match="sigma_shifted"):
        D.rf_unshift_sigmas(2.0, 2)
    with pytest.raises(ValueError, match="s"):
        D.snr_match_time(0.5, 0.5)
    with pytest.raises(ValueError, match="schedule"):
        D.snr_match_time(0.5, 2.0, "linear")


def test_base_logsnr_is_decreasing_and_matches_the_discrete_schedule():
    t = np.linspace(0, 1, 1000)
    for base in ["cosine", "linear"]:
        assert (np.diff(D.base_logsnr(t, base)) < 0).all()
    lam = D.logsnr_from_alphas_cumprod(D.linear_beta_alphas_cumprod(1000))
    assert np.allclose(D.base_logsnr(np.arange(1000) / 999, "linear"), lam, atol=1e-10)


def test_snr_widget_bad_input():
    with pytest.raises(ValueError, match="base"):
        D.base_logsnr(0.5, "sigmoid")
    with pytest.raises(ValueError, match="t"):
        D.base_logsnr(1.5)
    with pytest.raises(ValueError, match="s"):
        D.shifted_cosine(0.5, -2.0)
    with pytest.raises(ValueError, match="alphas_cumprod"):
        D.shift_alphas_cumprod([0.0, 0.5], 2.0)


def test_schedule_helpers_name_their_inputs():
    with pytest.raises(ValueError, match="schedule"):
        D.snr_match_time(0.5, 2.0, schedule=None)
    with pytest.raises(ValueError, match="denoiser"):
        D.eps_from_denoiser("bad")
    for bad in ("bad", None):
        with pytest.raises(ValueError, match="x_t"):
            D.vp_to_ve(bad, 0.8, 0.6)
