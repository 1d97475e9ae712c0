"""Tests of kexue.diffusion: exact teachers, grids, samplers, AMED, schedules, pooling, GP images."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from kexue import diffusion as kd

torch.set_num_threads(1)
FAST = settings(max_examples=30, deadline=None)
# diffusers' schedulers trip numpy 2 deprecation warnings thousands of times; they are not ours
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:diffusers.*",
                                        "ignore::DeprecationWarning:numpy.*")


@pytest.fixture(scope="module")
def gm():
    return kd.random_mixture(8, 4, 0.2, seed=0)


# ---------------------------------------------------------------- exact teachers

def test_mixture_denoiser_matches_monte_carlo_posterior_mean():
    """E[x0 | x_sigma] by importance weighting prior samples equals the closed form."""
    g = kd.ring_mixture(4, 1.0, 0.3)
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
    g = kd.GaussianMixture([[1.0, -2.0]], 0.5)
    x = np.array([[3.0, 1.0]])
    expect = np.array([1.0, -2.0]) + 0.25 / (0.25 + 4.0) * (x - np.array([1.0, -2.0]))
    assert np.allclose(g.denoise(x, 2.0), expect, atol=1e-14)


@FAST
@given(st.floats(1e-3, 1e3), st.integers(0, 10_000))
def test_mixture_responsibilities_sum_to_one_and_finite(sigma, seed):
    g = kd.random_mixture(5, 3, 0.05, seed=1)
    x = np.random.default_rng(seed).standard_normal((7, 3)) * 1e3
    r = g.responsibilities(x, sigma)
    assert np.isfinite(r).all() and np.allclose(r.sum(-1), 1)
    assert np.isfinite(g.denoise(x, sigma)).all()


def test_mixture_bad_input():
    with pytest.raises(ValueError, match="stds"):
        kd.GaussianMixture([[0.0, 0.0]], -1.0)
    with pytest.raises(ValueError, match="weights"):
        kd.GaussianMixture([[0.0], [1.0]], 1.0, weights=[0.2, 0.2])
    with pytest.raises(ValueError, match="means"):
        kd.GaussianMixture([0.0, 1.0], 1.0)
    g = kd.ring_mixture()
    with pytest.raises(ValueError, match="sigma"):
        g.denoise(np.zeros(2), 0.0)
    with pytest.raises(ValueError, match="x"):
        g.denoise(np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="n"):
        g.sample(0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="radius"):
        kd.ring_mixture(radius=0)
    with pytest.raises(ValueError, match="dim"):
        kd.random_mixture(dim=0)


def test_isotropic_gaussian_trajectory_solves_the_ode():
    g = kd.IsotropicGaussian(0.5)
    x = np.random.default_rng(0).standard_normal((10, 3)) * 3
    ref = kd.sample_heun(g, x, np.geomspace(3.0, 0.1, 4001))[0]
    assert np.allclose(ref, g.trajectory(x, 3.0, 0.1), atol=1e-6)


@FAST
@given(st.floats(0.05, 5), st.floats(0.01, 50), st.floats(0.01, 0.99))
def test_mvt_time_lies_inside_and_one_step_is_exact(c, a, frac):
    g = kd.IsotropicGaussian(c)
    b = a * frac
    s = g.mvt_time(a, b)
    assert b < s < a
    x = np.array([1.3, -0.4])
    xs = g.trajectory(x, a, s)
    step = x + (b - a) * (xs - g(xs, s)) / s
    assert np.allclose(step, g.trajectory(x, a, b), rtol=1e-10, atol=1e-12)


def test_isotropic_bad_input():
    with pytest.raises(ValueError, match="c"):
        kd.IsotropicGaussian(0)
    g = kd.IsotropicGaussian(1.0)
    with pytest.raises(ValueError, match="sigma_b"):
        g.mvt_time(1.0, 2.0)
    with pytest.raises(ValueError, match="sigma_to"):
        g.trajectory(np.ones(2), 1.0, -1.0)


def test_vp_to_ve_maps_scaled_input():
    g = kd.IsotropicGaussian(1.0)
    den = kd.vp_to_ve(g)
    a, b = 0.6, 0.8
    x = np.array([0.3, -1.2])
    # x_t = a x0 + b eps  =>  E[x0 | x_t] = a / (a^2 + b^2) x_t for unit-variance data
    assert np.allclose(den(x, a, b), a * x / (a * a + b * b))
    with pytest.raises(ValueError, match="alpha"):
        den(x, 0.0, 1.0)


# ---------------------------------------------------------------- grid and samplers

def test_karras_sigmas_endpoints_and_monotone():
    s = kd.karras_sigmas(10, 0.002, 80.0, 7.0)
    assert s[0] == 80.0 and s[-1] == 0.002 and (np.diff(s) < 0).all()
    assert kd.karras_sigmas(3, append_zero=True)[-1] == 0.0


def test_karras_sigmas_match_diffusers_formula():
    from diffusers import EulerDiscreteScheduler
    sch = EulerDiscreteScheduler(use_karras_sigmas=True)
    sch.set_timesteps(12)
    sig = sch.sigmas.double().numpy()
    ours = kd.karras_sigmas(12, float(sig[-2]), float(sig[0]), 7.0, append_zero=True)
    assert np.allclose(ours, sig, rtol=2e-6)


@FAST
@given(st.integers(2, 50), st.floats(1e-4, 1.0), st.floats(2.0, 200.0), st.floats(0.5, 10.0))
def test_karras_sigmas_strictly_decreasing(n, lo, hi, rho):
    s = kd.karras_sigmas(n, lo, hi, rho)
    assert (np.diff(s) < 0).all() and np.isfinite(s).all()


def test_karras_bad_input():
    for kwargs, name in [({"n": 1}, "n"), ({"n": 5, "sigma_min": 0}, "sigma_min"),
                         ({"n": 5, "sigma_min": 90}, "sigma_min"), ({"n": 5, "rho": 0}, "rho")]:
        with pytest.raises(ValueError, match=name):
            kd.karras_sigmas(**kwargs)


def _diffusers_run(cls, gm, n_steps, rng):
    sch = cls(use_karras_sigmas=True, prediction_type="epsilon")
    sch.set_timesteps(n_steps)
    x = torch.tensor(rng.standard_normal((6, gm.dim))) * float(sch.init_noise_sigma)
    x_start = x.double().numpy().copy()
    for t in sch.timesteps:
        inp = sch.scale_model_input(x, t)
        second = getattr(sch, "state_in_first_order", True) is False
        table = sch.sigmas_interpol if (second and hasattr(sch, "sigmas_interpol")) else sch.sigmas
        sigma = float(table[sch.step_index])
        xv = inp.double().numpy() * math.sqrt(sigma ** 2 + 1)     # undo scale_model_input
        eps = (xv - gm(xv, sigma)) / sigma                         # the recipe: eps = (x - D) / sigma
        x = sch.step(torch.tensor(eps), t, x).prev_sample
    return x_start, sch.sigmas.double().numpy(), x.double().numpy()


def test_euler_matches_diffusers_euler_discrete(gm):
    from diffusers import EulerDiscreteScheduler
    x0, sig, out = _diffusers_run(EulerDiscreteScheduler, gm, 8, np.random.default_rng(0))
    assert np.abs(kd.sample_euler(gm, x0, sig)[0] - out).max() < 1e-5 * np.abs(out).max()


def test_heun_matches_diffusers_heun_discrete(gm):
    from diffusers import HeunDiscreteScheduler
    x0, sig, out = _diffusers_run(HeunDiscreteScheduler, gm, 8, np.random.default_rng(1))
    grid = np.concatenate([sig[:1], sig[1::2]])            # sigmas are interleaved, end with 0
    assert np.abs(kd.sample_heun(gm, x0, grid)[0] - out).max() < 1e-6


def test_dpm2_matches_diffusers_kdpm2(gm):
    from diffusers import KDPM2DiscreteScheduler
    x0, sig, out = _diffusers_run(KDPM2DiscreteScheduler, gm, 8, np.random.default_rng(2))
    assert np.abs(kd.sample_midpoint(gm, x0, sig[::2])[0] - out).max() < 1e-6


def test_k_diffusion_optional(gm):
    kdiff = pytest.importorskip("k_diffusion")  # imports torchvision: skipped on CPU-only installs
    s = torch.tensor(kd.karras_sigmas(6, append_zero=True))
    x = torch.randn(4, gm.dim, dtype=torch.float64) * 80

    def model(x, sigma):
        return torch.tensor(gm(x.numpy(), float(sigma[0])))
    ours = kd.sample_heun(gm, x.numpy(), s.numpy())[0]
    ref = kdiff.sampling.sample_heun(model, x, s, disable=True).numpy()
    assert np.allclose(ours, ref)


def test_solvers_converge_with_orders_one_and_two(gm):
    rng = np.random.default_rng(3)
    x = 80 * rng.standard_normal((200, gm.dim))
    ref = kd.sample_heun(gm, x, kd.karras_sigmas(801))[0]
    ns = [21, 41, 81]
    for f, order in [(kd.sample_euler, 1), (kd.sample_heun, 2), (kd.sample_midpoint, 2)]:
        e = [kd.rms_error(f(gm, x, kd.karras_sigmas(n))[0], ref) for n in ns]
        slope = np.polyfit(np.log(np.array(ns) - 1), np.log(e), 1)[0]
        assert abs(slope + order) < 0.3, (f.__name__, slope)


def test_samplers_count_calls_and_accept_torch(gm):
    calls = []

    def den(x, s):
        calls.append(s)
        return gm(np.asarray(x), s) if not torch.is_tensor(x) else torch.tensor(gm(x.numpy(), s))
    s = kd.karras_sigmas(5, append_zero=True)
    x = np.ones((2, gm.dim))
    for f, expect in [(kd.sample_euler, 5), (kd.sample_heun, 9), (kd.sample_midpoint, 9)]:
        calls.clear()
        _, n = f(den, x, s)
        assert n == len(calls) == expect
    calls.clear()
    _, n = kd.sample_amed(den, x, s, [0.5] * 5, [1.0] * 5, afs=True)
    assert n == len(calls) == 8 == kd.nfe("amed", 5, afs=True, to_zero=True)
    out, n, traj = kd.sample_heun(den, torch.ones(2, gm.dim, dtype=torch.float64), s,
                                  return_trajectory=True)
    assert torch.is_tensor(out) and traj.shape == (6, 2, gm.dim)


def test_amed_with_half_and_one_is_dpm2(gm):
    x = 80 * np.random.default_rng(4).standard_normal((5, gm.dim))
    s = kd.karras_sigmas(6)
    a = kd.sample_amed(gm, x, s, [0.5] * 5, [1.0] * 5)[0]
    b = kd.sample_midpoint(gm, x, s, kind="geometric")[0]
    assert np.array_equal(a, b)
    c = kd.sample_midpoint(gm, x, s, kind="arithmetic")[0]
    assert not np.allclose(b, c)


def test_fit_amed_never_worse_than_dpm2_on_training_noise(gm):
    x = 80 * np.random.default_rng(5).standard_normal((300, gm.dim))
    s = kd.karras_sigmas(4)
    r, c = kd.fit_amed(gm, x, s, substeps=40, r_grid=9, afs=True)
    assert ((0 < r) & (r < 1)).all() and ((0.9 <= c) & (c <= 1.1)).all()
    ref = kd.reference_solution(gm, x, s, substeps=40)
    e_amed = kd.rms_error(kd.sample_amed(gm, x, s, r, c, afs=True)[0], ref)
    e_dpm2 = kd.rms_error(kd.sample_midpoint(gm, x, s, afs=True)[0], ref)
    assert e_amed <= e_dpm2 + 1e-12


def test_sampler_bad_input(gm):
    x = np.zeros((1, gm.dim))
    with pytest.raises(ValueError, match="sigmas"):
        kd.sample_euler(gm, x, [1.0, 2.0])
    with pytest.raises(ValueError, match="sigmas"):
        kd.sample_heun(gm, x, [1.0])
    with pytest.raises(ValueError, match="kind"):
        kd.sample_midpoint(gm, x, [2.0, 1.0], kind="cubic")
    with pytest.raises(ValueError, match="r"):
        kd.sample_amed(gm, x, [2.0, 1.0], [1.0], [1.0])
    with pytest.raises(ValueError, match="c"):
        kd.sample_amed(gm, x, [2.0, 1.0], [0.5], [0.5, 1.0])
    with pytest.raises(ValueError, match="substeps"):
        kd.reference_solution(gm, x, [2.0, 1.0], substeps=0)
    with pytest.raises(ValueError, match="c_bounds"):
        kd.fit_amed(gm, x, [2.0, 1.0], c_bounds=(1.2, 1.0))
    with pytest.raises(ValueError, match="method"):
        kd.nfe("rk4", 3)
    with pytest.raises(ValueError, match="sigma"):
        kd.afs_slope(x, 0.0)
    with pytest.raises(ValueError, match="y"):
        kd.rms_error(x, np.zeros(3))


def test_extreme_sigmas_stay_finite(gm):
    x = 1e4 * np.ones((3, gm.dim))
    for f in (kd.sample_euler, kd.sample_heun, kd.sample_midpoint):
        out = f(gm, x, kd.karras_sigmas(4, 1e-6, 1e4, append_zero=True))[0]
        assert np.isfinite(out).all()


def test_trajectory_pca_and_chord():
    line = np.linspace(0, 1, 50)[:, None] * np.array([1.0, 2.0, 0.0])
    r = kd.trajectory_pca(line)
    assert np.isclose(r[0], 1.0) and np.isclose(r.sum(), 1.0)
    assert kd.chord_deviation(line) < 1e-12
    arc = np.stack([np.cos(np.linspace(0, np.pi, 101)), np.sin(np.linspace(0, np.pi, 101))], 1)
    assert np.isclose(kd.chord_deviation(arc), 0.5)           # radius 1 over a chord of 2
    batch = kd.trajectory_pca(np.stack([line, line]))
    assert batch.shape == (2, 3)
    with pytest.raises(ValueError, match="traj"):
        kd.trajectory_pca(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="traj"):
        kd.chord_deviation(np.zeros((4, 3)))


# ---------------------------------------------------------------- schedules and log-SNR

@FAST
@given(st.floats(0, 1), st.floats(1.0, 64.0))
def test_shift_identities(t, s):
    lo = kd.logsnr_cosine(t)
    hi = kd.shifted_cosine(t, s)
    assert np.isclose(lo - hi, 2 * math.log(s))
    a, b = kd.alpha_sigma_from_logsnr(hi)
    assert np.isclose(a * a + b * b, 1.0)


def test_cosine_logsnr_monotone_and_shifted_value():
    t = np.linspace(0, 1, 101)
    lam = kd.logsnr_cosine(t)
    assert (np.diff(lam) < 0).all() and np.isclose(lam[0], 15) and np.isclose(lam[-1], -15)
    a, _ = kd.alpha_sigma_from_logsnr(kd.shifted_cosine(0.5, 4.0))
    assert abs(a - 1 / math.sqrt(17)) < 1e-12                 # 0.242536
    assert abs(kd.alpha_sigma_from_logsnr(kd.logsnr_cosine(0.3))[0] - math.cos(0.15 * math.pi)) < 3e-4  # clipping moves t by ~1e-4


def test_alpha_sigma_extreme_logsnr_finite():
    a, b = kd.alpha_sigma_from_logsnr(np.array([-800.0, 0.0, 800.0]))
    assert np.isfinite(a).all() and np.isfinite(b).all()
    assert np.allclose(a ** 2 + b ** 2, 1)


def test_discrete_schedules_match_diffusers_ddpm():
    from diffusers import DDPMScheduler
    lin = DDPMScheduler(beta_schedule="linear").alphas_cumprod.double().numpy()
    cos = DDPMScheduler(beta_schedule="squaredcos_cap_v2").alphas_cumprod.double().numpy()
    assert np.allclose(kd.linear_beta_alphas_cumprod(), lin, rtol=1e-5)
    assert np.allclose(kd.cosine_alphas_cumprod(), cos, rtol=1e-5)


def test_shift_alphas_cumprod_shifts_logsnr():
    ac = kd.cosine_alphas_cumprod(100)[:-1]
    sh = kd.shift_alphas_cumprod(ac, 2.0)
    assert np.allclose(kd.logsnr_from_alphas_cumprod(ac) - kd.logsnr_from_alphas_cumprod(sh),
                       2 * math.log(2))


@FAST
@given(st.floats(0, 1), st.floats(0.1, 20))
def test_rf_shift_divides_snr_by_shift_squared_and_inverts(sigma, shift):
    sp = float(kd.rf_shift_sigmas(sigma, shift))
    assert 0 <= sp <= 1
    assert np.isclose(float(kd.rf_unshift_sigmas(sp, shift)), sigma, atol=1e-12)
    if 1e-6 < sigma < 1 - 1e-6:
        snr, snr_p = ((1 - sigma) / sigma) ** 2, ((1 - sp) / sp) ** 2
        assert np.isclose(snr_p, snr / shift ** 2, rtol=1e-8)


def test_rf_shift_matches_diffusers_flowmatch():
    from diffusers import FlowMatchEulerDiscreteScheduler
    base = FlowMatchEulerDiscreteScheduler(shift=1.0).sigmas.double().numpy()
    sch = FlowMatchEulerDiscreteScheduler(shift=3.0)
    assert np.allclose(kd.rf_shift_sigmas(base, 3.0), sch.sigmas.double().numpy(), atol=1e-6)
    grid = np.linspace(1.0, 0.05, 20)
    sch.set_timesteps(sigmas=grid.tolist())                # an inference grid is shifted too
    assert np.allclose(kd.rf_shift_sigmas(grid, 3.0), sch.sigmas[:-1].double().numpy(), atol=1e-6)


def test_snr_match_time_cosine_closed_form_and_discrete():
    tau = float(kd.snr_match_time(0.5, 2.0))
    assert abs(tau - 0.295167) < 1e-6
    ac = kd.cosine_alphas_cumprod(1000, offset=0.0, max_beta=0.9999)
    t = np.linspace(0.1, 0.9, 9)
    tau_d = kd.snr_match_time(t, 2.0, ac)
    lam = kd.logsnr_from_alphas_cumprod(ac)
    grid = np.linspace(0, 1, ac.size)
    assert np.allclose(np.interp(tau_d, grid, lam), np.interp(t, grid, lam) + 2 * math.log(2), atol=1e-3)
    assert (tau_d < t).all()


def test_schedule_bad_input():
    with pytest.raises(ValueError, match="t"):
        kd.logsnr_cosine(1.5)
    with pytest.raises(ValueError, match="logsnr_min"):
        kd.logsnr_cosine(0.5, 5, -5)
    with pytest.raises(ValueError, match="s"):
        kd.shift_logsnr(1.0, 0.0)
    with pytest.raises(ValueError, match="logsnr"):
        kd.alpha_sigma_from_logsnr(np.nan)
    with pytest.raises(ValueError, match="beta_end"):
        kd.linear_beta_alphas_cumprod(10, 1e-4, 1.5)
    with pytest.raises(ValueError, match="max_beta"):
        kd.cosine_alphas_cumprod(10, max_beta=0)
    with pytest.raises(ValueError, match="alphas_cumprod"):
        kd.logsnr_from_alphas_cumprod([0.5, 1.0])
    with pytest.raises(ValueError, match="shift"):
        kd.rf_shift_sigmas(0.5, -1)
    with pytest.raises(ValueError, match="sigma_shifted"):
        kd.rf_unshift_sigmas(2.0, 2)
    with pytest.raises(ValueError, match="s"):
        kd.snr_match_time(0.5, 0.5)
    with pytest.raises(ValueError, match="schedule"):
        kd.snr_match_time(0.5, 2.0, "linear")


# ---------------------------------------------------------------- pooling and GP images

def test_pool_and_upsample_match_torch():
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    assert torch.allclose(kd.avg_pool(x, 2), torch.nn.functional.avg_pool2d(x, 2))
    y = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    assert torch.equal(kd.nearest_upsample(y, 2), torch.nn.functional.interpolate(y, scale_factor=2, mode="nearest"))
    assert np.allclose(kd.avg_pool(x.numpy(), 4), torch.nn.functional.avg_pool2d(x, 4).numpy())


@FAST
@given(st.sampled_from([1, 2, 4]), st.integers(0, 1000))
def test_pool_of_upsample_is_identity(s, seed):
    y = np.random.default_rng(seed).standard_normal((3, 4, 4))
    assert np.allclose(kd.avg_pool(kd.nearest_upsample(y, s), s), y)


def test_pooled_noise_variance_is_one_over_s_squared():
    e = np.random.default_rng(0).standard_normal((500, 32, 32))
    for s in (2, 4):
        assert abs(kd.avg_pool(e, s).var() * s * s - 1) < 0.03


def test_gp_sample_has_the_spectrum_and_pooled_fraction_matches_monte_carlo():
    P = kd.gp_spectrum(32, "powerlaw", alpha=2.0)
    assert np.isclose(P.mean(), 1.0) and np.allclose(P, np.roll(P[::-1, ::-1], 1, (0, 1)))
    x = kd.sample_gp(P, 600, np.random.default_rng(1))
    assert abs(x.var() - 1) < 0.03
    for s in (2, 4):
        f = kd.pooled_variance_fraction(P, s)
        assert 0 < f < 1
        assert abs(kd.avg_pool(x, s).var() / x.var() - f) < 0.03 * f
        # the aliased pooled spectrum is the spectrum of the pooled images
        _, pw = kd.radial_power_spectrum(kd.avg_pool(x, s))
        _, pt = kd.radial_power_spectrum(np.fft.ifft2(np.sqrt(kd.pooled_spectrum(P, s)) *
                                                      np.fft.fft2(np.random.default_rng(2).standard_normal((600, 32 // s, 32 // s)))).real)
        assert np.allclose(pw[1:], pt[1:], rtol=0.15)


def test_pooled_fraction_of_constant_blocks_is_one():
    P = np.zeros((8, 8))
    P[0, 0] = 64.0                                  # a constant image: pooling keeps everything
    assert np.isclose(kd.pooled_variance_fraction(P, 4), 1.0)


def test_coarse_mmse_matches_monte_carlo_wiener():
    P = kd.gp_spectrum(16, "bandpass", k0=2.0)
    rng = np.random.default_rng(3)
    y = kd.sample_gp(P, 400, rng)
    a, b = 0.6, 0.8
    xt = a * y + b * rng.standard_normal(y.shape)
    eps = kd.wiener_eps(xt, a, b, P)
    y_hat = (xt - b * eps) / a
    assert abs(((y_hat - y) ** 2).mean() - kd.coarse_mmse(P, a, b)) < 0.02


def test_multiscale_loss_expectation_for_zero_prediction():
    e = np.random.default_rng(4).standard_normal((200, 16, 16))
    total, terms = kd.multiscale_loss(e, np.zeros_like(e), scales=(1, 2, 4))
    assert np.allclose(terms, [1, 1 / 4, 1 / 16], rtol=0.05)
    t_total, _ = kd.multiscale_loss(torch.tensor(e), torch.zeros(e.shape, dtype=torch.float64))
    assert np.isclose(float(t_total), total)


def test_radial_power_spectrum_of_white_noise_is_flat():
    k, p = kd.radial_power_spectrum(np.random.default_rng(5).standard_normal((300, 16, 16)))
    assert k[0] == 0 and np.allclose(p[1:], 1.0, rtol=0.1)


def test_image_bad_input():
    with pytest.raises(ValueError, match="s"):
        kd.avg_pool(np.zeros((6, 6)), 4)
    with pytest.raises(ValueError, match="x"):
        kd.avg_pool(np.zeros(6), 2)
    with pytest.raises(ValueError, match="s"):
        kd.nearest_upsample(np.zeros((2, 2)), 0)
    with pytest.raises(ValueError, match="kind"):
        kd.gp_spectrum(8, "white")
    with pytest.raises(ValueError, match="alpha"):
        kd.gp_spectrum(8, alpha=-1)
    with pytest.raises(ValueError, match="P"):
        kd.sample_gp(-np.ones((4, 4)), 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="s"):
        kd.pooled_spectrum(np.ones((6, 6)), 4)
    with pytest.raises(ValueError, match="beta_eff"):
        kd.coarse_mmse(np.ones((4, 4)), 1.0, 0.0)
    with pytest.raises(ValueError, match="x_t"):
        kd.wiener_eps(np.zeros((3, 3)), 0.5, 0.5, np.ones((4, 4)))
    with pytest.raises(ValueError, match="x"):
        kd.radial_power_spectrum(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="eps_hat"):
        kd.multiscale_loss(np.zeros((4, 4)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="weights"):
        kd.multiscale_loss(np.zeros((4, 4)), np.zeros((4, 4)), scales=(1, 2), weights=[1.0])


# ---------------------------------------------------------------- solver budgets and the AMED widget

def test_solve_at_budget_respects_the_budget(gm):
    x = 80 * np.random.default_rng(5).standard_normal((20, gm.dim))
    for b in [3, 4, 5, 8, 9]:
        for sv in ["euler", "heun", "dpm2"]:
            assert kd.solve_at_budget(gm, x, b, sv)[1] <= b
    r, c = kd.fit_amed(gm, x, kd.karras_sigmas(4), substeps=10, r_grid=5)
    assert kd.solve_at_budget(gm, x, 5, "amed", amed_params=(r, c))[1] == 5


def test_solve_at_budget_bad_input(gm):
    x = np.zeros((2, gm.dim))
    with pytest.raises(ValueError, match="budget"):
        kd.solve_at_budget(gm, x, 0, "euler")
    with pytest.raises(ValueError, match="budget"):
        kd.solve_at_budget(gm, x, 1, "heun")
    with pytest.raises(ValueError, match="solver"):
        kd.solve_at_budget(gm, x, 4, "rk4")
    with pytest.raises(ValueError, match="amed_params"):
        kd.solve_at_budget(gm, x, 5, "amed")


def test_amed_explorer_frames_report_the_solver_error():
    ex = kd.amed_explorer(n_samples=40, n_paths=2, budgets=(3, 5, 9))
    fr = ex.update(solver="euler", budget=5)
    left, mid, right = fr["panels"]
    assert "5 model calls" in left["title"]
    # the readout is the RMS error of the drawn solver points against the drawn exact endpoints
    ref = np.stack([left["series"][0]["x"], left["series"][0]["y"]], 1)
    got = np.stack([left["series"][1]["x"], left["series"][1]["y"]], 1)
    readout = float(fr["text"].split("endpoint ")[-1])
    assert abs(kd.rms_error(got, ref) - readout) < 5e-3
    # AMED is the best curve at every budget on this teacher
    curves = {s["label"]: s["y"] for s in right["series"]}
    assert all(a < e for a, e in zip(curves["AMED + AFS"], curves["Euler (DDIM)"]))
    # the static payload holds every (solver, budget) state
    assert len(ex.frames()) == 4 * 3


def test_amed_explorer_bad_input():
    with pytest.raises(ValueError, match="n_samples"):
        kd.amed_explorer(n_samples=5)
    with pytest.raises(ValueError, match="budgets"):
        kd.amed_explorer(budgets=(2, 5))


# ---------------------------------------------------------------- base schedules and the SNR widget

def test_base_logsnr_is_decreasing_and_matches_the_discrete_schedule():
    t = np.linspace(0, 1, 1000)
    for base in ["cosine", "linear"]:
        assert (np.diff(kd.base_logsnr(t, base)) < 0).all()
    lam = kd.logsnr_from_alphas_cumprod(kd.linear_beta_alphas_cumprod(1000))
    assert np.allclose(kd.base_logsnr(np.arange(1000) / 999, "linear"), lam, atol=1e-10)


def test_snr_schedule_explorer_shifts_by_two_log_s():
    ex = kd.snr_schedule_explorer(factors=(1, 4))
    f1, f4 = ex.update(base="cosine", s=1), ex.update(base="cosine", s=4)
    base = np.array(f4["panels"][0]["series"][0]["y"])
    shifted = np.array(f4["panels"][0]["series"][1]["y"])
    assert np.allclose(base - shifted, 2 * math.log(4), atol=1e-2)     # frames round to 4 digits
    assert np.allclose(f1["panels"][0]["series"][1]["y"], f1["panels"][0]["series"][0]["y"])
    t1 = float(f4["text"].split("t = ")[-1])
    assert abs(t1 - 2 / math.pi * math.atan(1 / 4)) < 2e-3
    assert len(ex.frames()) == 4


def test_snr_widget_bad_input():
    with pytest.raises(ValueError, match="base"):
        kd.base_logsnr(0.5, "sigmoid")
    with pytest.raises(ValueError, match="t"):
        kd.base_logsnr(1.5)
    with pytest.raises(ValueError, match="factors"):
        kd.snr_schedule_explorer(factors=(0, 2))


# ---------------------------------------------------------------- upsample guidance on the GP teacher

@pytest.fixture(scope="module")
def gp_pair():
    P = kd.gp_spectrum(16, "bandpass", k0=2.0, width=0.6)
    return P, kd.pooled_spectrum(P, 2)


def test_lowres_model_is_exact_wiener_at_its_own_size(gp_pair):
    _, Pl = gp_pair
    y = np.random.default_rng(0).standard_normal((3, 8, 8))
    a, b = math.cos(math.pi * 0.3 / 2), math.sin(math.pi * 0.3 / 2)
    assert np.allclose(kd.gp_lowres_model(Pl)(y, 0.3), kd.wiener_eps(y, a, b, Pl), atol=1e-13)
    # the embedded kernel on the same grid is the same filter
    gain = kd.lowres_kernel_on_highres(Pl, a, b, 8)
    assert np.allclose(gain.real, b / (a * a * Pl + b * b), atol=1e-12)


def test_lowres_kernel_on_highres_is_translation_equivariant(gp_pair):
    _, Pl = gp_pair
    model = kd.gp_lowres_model(Pl)
    x = np.random.default_rng(1).standard_normal((16, 16))
    shifted = np.roll(x, (3, 5), axis=(0, 1))
    assert np.allclose(np.roll(model(x, 0.5), (3, 5), axis=(0, 1)), model(shifted, 0.5), atol=1e-12)


def test_wiener_eps_matches_monte_carlo_regression(gp_pair):
    """E[eps | x_t] is the least-squares regression of eps on x_t: residual uncorrelated with x_t."""
    P, _ = gp_pair
    rng = np.random.default_rng(2)
    x0 = kd.sample_gp(P, 4000, rng)
    eps = rng.standard_normal(x0.shape)
    a, b = 0.6, 0.8
    xt = a * x0 + b * eps
    res = eps - kd.wiener_eps(xt, a, b, P)
    corr = (res * xt).mean()                       # orthogonality of the residual
    assert abs(corr) < 0.01


def test_upsample_guidance_identities(gp_pair):
    _, Pl = gp_pair
    lo = kd.gp_lowres_model(Pl)
    x = np.random.default_rng(3).standard_normal((2, 16, 16))
    t = 0.6
    e = lo(x, t)
    assert np.array_equal(kd.upsample_guidance_eps(lo, x, t, 2, -1.0), e)
    a, b = math.cos(math.pi * t / 2), math.sin(math.pi * t / 2)
    low = lo(kd.avg_pool(x, 2) / float(kd.ug_rho(a, b, 2)), float(kd.snr_match_time(t, 2))) / 2
    assert np.allclose(kd.avg_pool(kd.upsample_guidance_eps(lo, x, t, 2, 0.0), 2), low, atol=1e-13)
    d = [g - kd.nearest_upsample(kd.avg_pool(g, 2), 2) for g in
         (kd.upsample_guidance_eps(lo, x, t, 2, w) for w in (-1.0, 0.0, 0.7))]
    assert np.allclose(d[0], d[1], atol=1e-13) and np.allclose(d[0], d[2], atol=1e-13)


@FAST
@given(st.floats(0.01, 0.99), st.floats(1.0, 16.0))
def test_tau_rho_make_the_pooled_input_unit_norm(t, s):
    a, b = math.cos(math.pi * t / 2), math.sin(math.pi * t / 2)
    tau, rho = float(kd.snr_match_time(t, s)), float(kd.ug_rho(a, b, s))
    assert tau <= t + 1e-15
    assert math.isclose(math.cos(math.pi * tau / 2), a / rho, rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(math.sin(math.pi * tau / 2), b / (s * rho), rel_tol=1e-12, abs_tol=1e-12)


def test_ug_coarse_dynamics_close_under_ddim(gp_pair):
    _, Pl = gp_pair
    lo = kd.gp_lowres_model(Pl)
    ts = np.linspace(0.95, 0.0, 11)
    xT = np.random.default_rng(4).standard_normal((4, 16, 16))
    x_hi = kd.ddim_sample(lambda x, t: kd.upsample_guidance_eps(lo, x, t, 2, 0.0), xT, ts)
    rho0 = float(kd.ug_rho(math.cos(math.pi * 0.95 / 2), math.sin(math.pi * 0.95 / 2), 2))
    x_lo = kd.ddim_sample(lo, kd.avg_pool(xT, 2) / rho0, kd.snr_match_time(ts, 2))
    assert np.allclose(kd.avg_pool(x_hi, 2), x_lo, atol=1e-10)      # rho at t = 0 is 1


def test_ddim_matches_diffusers_ddim_scheduler():
    from diffusers import DDIMScheduler
    sch = DDIMScheduler(beta_schedule="linear", set_alpha_to_one=True, clip_sample=False,
                        prediction_type="epsilon")
    sch.set_timesteps(10)
    ac = sch.alphas_cumprod.double().numpy()
    P = kd.gp_spectrum(8, "powerlaw", alpha=2)

    def sched(u):                                   # u = (timestep + 1) / 1000; u = 0 is "alpha = 1"
        if u == 0:
            return 1.0, 0.0
        a = ac[int(round(u * 1000)) - 1]
        return math.sqrt(a), math.sqrt(1 - a)

    def eps_fn(x, u):
        a, b = sched(u)
        return kd.wiener_eps(x, a, b, P)
    x = np.random.default_rng(5).standard_normal((2, 8, 8))
    us = np.append((sch.timesteps.numpy() + 1) / 1000, 0.0)
    ours = kd.ddim_sample(eps_fn, x, us, schedule=sched)
    xt = torch.tensor(x)
    for step, u in zip(sch.timesteps, us[:-1]):
        xt = sch.step(torch.tensor(eps_fn(xt.numpy(), float(u))), step, xt).prev_sample
    assert np.abs(ours - xt.numpy()).max() < 1e-5


def test_band_log_ratio_of_true_samples_is_small(gp_pair):
    P, _ = gp_pair
    x = kd.sample_gp(P, 2000, np.random.default_rng(6))
    lo, hi = kd.band_log_ratio(x, P, 4)
    assert lo < 0.05 and hi < 0.05


def test_upsample_guidance_explorer_frames():
    ex = kd.upsample_guidance_explorer(n=16, ws=(-1.0, 0.0), factors=(2, 4), n_samples=20, steps=5)
    f_off, f_on = ex.update(w=-1.0, s=2), ex.update(w=0.0, s=2)
    # with w = -1 guidance is off: the UG image equals the naive image
    assert f_off["panels"][2]["heatmap"]["z"] == f_off["panels"][0]["heatmap"]["z"]
    assert f_on["panels"][2]["heatmap"]["z"] != f_on["panels"][0]["heatmap"]["z"]
    assert "coarse" in f_on["text"] and len(ex.frames()) == 4


def test_ug_bad_input(gp_pair):
    P, Pl = gp_pair
    with pytest.raises(ValueError, match="n_high"):
        kd.lowres_kernel_on_highres(Pl, 0.5, 0.5, 4)
    with pytest.raises(ValueError, match="beta"):
        kd.lowres_kernel_on_highres(Pl, 0.5, 0.0, 16)
    with pytest.raises(ValueError, match="x"):
        kd.gp_lowres_model(Pl)(np.zeros((4, 4)), 0.5)
    with pytest.raises(ValueError, match="t"):
        kd.gp_highres_model(P)(np.zeros((16, 16)), 1.0)
    with pytest.raises(ValueError, match="k_split"):
        kd.band_log_ratio(np.zeros((2, 16, 16)), P, 0)
    with pytest.raises(ValueError, match="s"):
        kd.gp_ug_samples(P, 0, 0.0, np.zeros((1, 16, 16)), [0.9, 0.0])
    with pytest.raises(ValueError, match="factors"):
        kd.upsample_guidance_explorer(n=16, factors=(3,))
    with pytest.raises(ValueError, match="w"):
        kd.upsample_guidance_eps(kd.gp_lowres_model(Pl), np.zeros((16, 16)), 0.5, 2, float("nan"))


# ---------------------------------------------------------------- DDPM, remaining bad inputs

def test_ddpm_with_the_exact_model_samples_the_data_law():
    """Ancestral sampling with the exact eps-predictor of GP(P) reproduces the pixel variance of P."""
    P = np.full((8, 8), 0.25)
    model = kd.gp_highres_model(P)
    x = kd.ddpm_sample(model, np.random.default_rng(0).standard_normal((2000, 8, 8)),
                       np.linspace(0.999, 0.0, 201), np.random.default_rng(1))
    assert abs(x.var() - 0.25) < 0.01 and np.isfinite(x).all()


def test_ddim_is_deterministic_and_exact_for_a_point_mass():
    """Data x0 = 0: eps_hat = x_t / beta, so DDIM lands exactly on 0 from any start."""
    def eps(x, t):
        return x / math.sin(math.pi * t / 2)
    x = kd.ddim_sample(eps, np.random.default_rng(2).standard_normal((3, 4, 4)), np.linspace(0.9, 0.0, 4))
    assert np.abs(x).max() < 1e-12


def test_remaining_bad_input():
    with pytest.raises(ValueError, match="alpha"):
        kd.vp_to_ve(kd.IsotropicGaussian(1.0))(np.zeros(2), 0.0, 0.5)
    with pytest.raises(ValueError, match="s"):
        kd.shifted_cosine(0.5, -2.0)
    with pytest.raises(ValueError, match="alphas_cumprod"):
        kd.shift_alphas_cumprod([0.0, 0.5], 2.0)
    with pytest.raises(ValueError, match="s"):
        kd.pooled_variance_fraction(kd.gp_spectrum(8), 3)
    with pytest.raises(ValueError, match="ts"):
        kd.ddim_sample(lambda x, t: x, np.zeros((2, 2)), [0.5, 0.6])
    with pytest.raises(ValueError, match="ts"):
        kd.ddpm_sample(lambda x, t: x, np.zeros((2, 2)), [1.5, 0.0], np.random.default_rng(0))
    with pytest.raises(ValueError, match="s"):
        kd.ug_rho(0.5, 0.5, 0.0)
    with pytest.raises(ValueError, match="alpha_bar"):
        kd.ug_rho(-0.5, 0.5, 2.0)
    with pytest.raises(ValueError, match="eta"):
        kd.ug_weight(0.5, 0.2, 1.5)
    with pytest.raises(ValueError, match="t"):
        kd.ug_weight(2.0, 0.2, 0.5)


def test_ug_weight_switches_off_after_the_window():
    assert kd.ug_weight(0.95, 0.3, 0.1) == 0.3
    assert kd.ug_weight(0.85, 0.3, 0.1) == -1.0
    assert kd.ug_weight(0.0, 0.3, 1.0) == 0.3
