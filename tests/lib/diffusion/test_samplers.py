"""Tests of kexue.diffusion.samplers: VE samplers (parity with diffusers), budgets, DDIM and DDPM."""
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
    assert np.abs(D.sample_euler(gm, x0, sig)[0] - out).max() < 1e-5 * np.abs(out).max()


def test_heun_matches_diffusers_heun_discrete(gm):
    from diffusers import HeunDiscreteScheduler
    x0, sig, out = _diffusers_run(HeunDiscreteScheduler, gm, 8, np.random.default_rng(1))
    grid = np.concatenate([sig[:1], sig[1::2]])            # sigmas are interleaved, end with 0
    assert np.abs(D.sample_heun(gm, x0, grid)[0] - out).max() < 1e-6


def test_dpm2_matches_diffusers_kdpm2(gm):
    from diffusers import KDPM2DiscreteScheduler
    x0, sig, out = _diffusers_run(KDPM2DiscreteScheduler, gm, 8, np.random.default_rng(2))
    assert np.abs(D.sample_midpoint(gm, x0, sig[::2])[0] - out).max() < 1e-6


def test_k_diffusion_optional(gm):
    kdiff = pytest.importorskip("k_diffusion")  # imports torchvision: skipped on CPU-only installs
    s = torch.tensor(D.karras_sigmas(6, append_zero=True))
    x = torch.randn(4, gm.dim, dtype=torch.float64) * 80

    def model(x, sigma):
        return torch.tensor(gm(x.numpy(), float(sigma[0])))
    ours = D.sample_heun(gm, x.numpy(), s.numpy())[0]
    ref = kdiff.sampling.sample_heun(model, x, s, disable=True).numpy()
    assert np.allclose(ours, ref)


def test_solvers_converge_with_orders_one_and_two(gm):
    rng = np.random.default_rng(3)
    x = 80 * rng.standard_normal((200, gm.dim))
    ref = D.sample_heun(gm, x, D.karras_sigmas(801))[0]
    ns = [21, 41, 81]
    for f, order in [(D.sample_euler, 1), (D.sample_heun, 2), (D.sample_midpoint, 2)]:
        e = [D.rms_error(f(gm, x, D.karras_sigmas(n))[0], ref) for n in ns]
        slope = np.polyfit(np.log(np.array(ns) - 1), np.log(e), 1)[0]
        assert abs(slope + order) < 0.3, (f.__name__, slope)


def test_samplers_count_calls_and_accept_torch(gm):
    calls = []

    def den(x, s):
        calls.append(s)
        return gm(np.asarray(x), s) if not torch.is_tensor(x) else torch.tensor(gm(x.numpy(), s))
    s = D.karras_sigmas(5, append_zero=True)
    x = np.ones((2, gm.dim))
    for f, expect in [(D.sample_euler, 5), (D.sample_heun, 9), (D.sample_midpoint, 9)]:
        calls.clear()
        _, n = f(den, x, s)
        assert n == len(calls) == expect
    calls.clear()
    _, n = D.sample_amed(den, x, s, [0.5] * 5, [1.0] * 5, afs=True)
    assert n == len(calls) == 8 == D.nfe("amed", 5, afs=True, to_zero=True)
    out, n, traj = D.sample_heun(den, torch.ones(2, gm.dim, dtype=torch.float64), s,
                                  return_trajectory=True)
    assert torch.is_tensor(out) and traj.shape == (6, 2, gm.dim)


def test_amed_with_half_and_one_is_dpm2(gm):
    x = 80 * np.random.default_rng(4).standard_normal((5, gm.dim))
    s = D.karras_sigmas(6)
    a = D.sample_amed(gm, x, s, [0.5] * 5, [1.0] * 5)[0]
    b = D.sample_midpoint(gm, x, s, kind="geometric")[0]
    assert np.array_equal(a, b)
    c = D.sample_midpoint(gm, x, s, kind="arithmetic")[0]
    assert not np.allclose(b, c)


def test_sampler_bad_input(gm):
    x = np.zeros((1, gm.dim))
    with pytest.raises(ValueError, match="sigmas"):
        D.sample_euler(gm, x, [1.0, 2.0])
    with pytest.raises(ValueError, match="sigmas"):
        D.sample_heun(gm, x, [1.0])
    with pytest.raises(ValueError, match="kind"):
        D.sample_midpoint(gm, x, [2.0, 1.0], kind="cubic")
    with pytest.raises(ValueError, match="r"):
        D.sample_amed(gm, x, [2.0, 1.0], [1.0], [1.0])
    with pytest.raises(ValueError, match="c"):
        D.sample_amed(gm, x, [2.0, 1.0], [0.5], [0.5, 1.0])
    with pytest.raises(ValueError, match="substeps"):
        D.reference_solution(gm, x, [2.0, 1.0], substeps=0)
    with pytest.raises(ValueError, match="c_bounds"):
        D.fit_amed(gm, x, [2.0, 1.0], c_bounds=(1.2, 1.0))
    with pytest.raises(ValueError, match="method"):
        D.nfe("rk4", 3)
    with pytest.raises(ValueError, match="sigma"):
        D.afs_slope(x, 0.0)
    with pytest.raises(ValueError, match="y"):
        D.rms_error(x, np.zeros(3))


def test_extreme_sigmas_stay_finite(gm):
    x = 1e4 * np.ones((3, gm.dim))
    for f in (D.sample_euler, D.sample_heun, D.sample_midpoint):
        out = f(gm, x, D.karras_sigmas(4, 1e-6, 1e4, append_zero=True))[0]
        assert np.isfinite(out).all()


def test_solve_at_budget_respects_the_budget(gm):
    x = 80 * np.random.default_rng(5).standard_normal((20, gm.dim))
    for b in [3, 4, 5, 8, 9]:
        for sv in ["euler", "heun", "dpm2"]:
            assert D.solve_at_budget(gm, x, b, sv)[1] <= b
    r, c = D.fit_amed(gm, x, D.karras_sigmas(4), substeps=10, r_grid=5)
    assert D.solve_at_budget(gm, x, 5, "amed", amed_params=(r, c))[1] == 5


def test_solve_at_budget_bad_input(gm):
    x = np.zeros((2, gm.dim))
    with pytest.raises(ValueError, match="budget"):
        D.solve_at_budget(gm, x, 0, "euler")
    with pytest.raises(ValueError, match="budget"):
        D.solve_at_budget(gm, x, 1, "heun")
    with pytest.raises(ValueError, match="solver"):
        D.solve_at_budget(gm, x, 4, "rk4")
    with pytest.raises(ValueError, match="amed_params"):
        D.solve_at_budget(gm, x, 5, "amed")


def test_ddim_matches_diffusers_ddim_scheduler():
    from diffusers import DDIMScheduler
    sch = DDIMScheduler(beta_schedule="linear", set_alpha_to_one=True, clip_sample=False,
                        prediction_type="epsilon")
    sch.set_timesteps(10)
    ac = sch.alphas_cumprod.double().numpy()
    P = D.gp_spectrum(8, "powerlaw", alpha=2)

    def sched(u):                                   # u = (timestep + 1) / 1000; u = 0 is "alpha = 1"
        if u == 0:
            return 1.0, 0.0
        a = ac[int(round(u * 1000)) - 1]
        return math.sqrt(a), math.sqrt(1 - a)

    def eps_fn(x, u):
        a, b = sched(u)
        return D.wiener_eps(x, a, b, P)
    x = np.random.default_rng(5).standard_normal((2, 8, 8))
    us = np.append((sch.timesteps.numpy() + 1) / 1000, 0.0)
    ours = D.ddim_sample(eps_fn, x, us, schedule=sched)
    xt = torch.tensor(x)
    for step, u in zip(sch.timesteps, us[:-1]):
        xt = sch.step(torch.tensor(eps_fn(xt.numpy(), float(u))), step, xt).prev_sample
    assert np.abs(ours - xt.numpy()).max() < 1e-5


def test_ddpm_with_the_exact_model_samples_the_data_law():
    """Ancestral sampling with the exact eps-predictor of GP(P) reproduces the pixel variance of P."""
    P = np.full((8, 8), 0.25)
    model = D.gp_highres_model(P)
    x = D.ddpm_sample(model, np.random.default_rng(0).standard_normal((2000, 8, 8)),
                       np.linspace(0.999, 0.0, 201), np.random.default_rng(1))
    assert abs(x.var() - 0.25) < 0.01 and np.isfinite(x).all()


def test_vp_samplers_bad_input():
    with pytest.raises(ValueError, match="ts"):
        D.ddim_sample(lambda x, t: x, np.zeros((2, 2)), [0.5, 0.6])
    with pytest.raises(ValueError, match="ts"):
        D.ddpm_sample(lambda x, t: x, np.zeros((2, 2)), [1.5, 0.0], np.random.default_rng(0))


def test_ddim_is_deterministic_and_exact_for_a_point_mass():
    """Data x0 = 0: eps_hat = x_t / beta, so DDIM lands exactly on 0 from any start."""
    def eps(x, t):
        return x / math.sin(math.pi * t / 2)
    x = D.ddim_sample(eps, np.random.default_rng(2).standard_normal((3, 4, 4)), np.linspace(0.9, 0.0, 4))
    assert np.abs(x).max() < 1e-12


def test_slope_is_the_probability_flow_velocity(gm):
    """slope(D, x, sigma) = (x - D(x, sigma)) / sigma, the teacher's own velocity; torch too."""
    x = np.random.default_rng(7).standard_normal((5, gm.dim))
    assert np.allclose(D.slope(gm, x, 0.7), gm.velocity(x, 0.7), atol=1e-14)
    iso = D.IsotropicGaussian(2.0)
    xt = torch.randn(3, 4, dtype=torch.float64)
    assert torch.allclose(D.slope(iso, xt, 1.0), xt * (1.0 / (4.0 + 1.0)))     # sigma x / (c^2 + sigma^2)


def test_ddpm_given_noises_equals_drawing_them_from_the_generator():
    model = D.gp_highres_model(D.gp_spectrum(8, "bandpass", k0=2.0, width=0.6))
    x = np.random.default_rng(0).standard_normal((3, 8, 8))
    ts = np.linspace(0.98, 0.0, 6)
    zs = [np.random.default_rng(1).standard_normal((3, 8, 8))]
    rng = np.random.default_rng(1)
    zs = [rng.standard_normal((3, 8, 8)) for _ in range(5)]
    a = D.ddpm_sample(model, x, ts, np.random.default_rng(1))
    b = D.ddpm_sample(model, x, ts, noises=zs)
    assert np.abs(a - b).max() < 1e-14


def test_ddpm_posterior_variance_closes_under_pooling_and_upper_does_not():
    """Upsample guidance (w = 0) + ancestral DDPM pooled = low-res DDPM on tau fed s D[z]."""
    P = D.gp_spectrum(16, "bandpass", k0=2.0, width=0.6)
    s = 2
    lo = D.gp_lowres_model(D.pooled_spectrum(P, s))
    ts = np.linspace(0.98, 0.0, 11)
    taus = D.snr_match_time(ts, s)
    rhos = D.ug_rho(*D.cosine_alpha_beta(ts), s)
    rng = np.random.default_rng(2)
    x_T = rng.standard_normal((4, 16, 16))
    zs = [rng.standard_normal((4, 16, 16)) for _ in range(10)]
    gaps = {}
    for var in ["posterior", "upper"]:
        hi = D.ddpm_sample(lambda x, t: D.upsample_guidance_eps(lo, x, t, s, 0.0), x_T, ts,
                           noises=zs, variance=var)
        low = D.ddpm_sample(lo, D.avg_pool(x_T, s) / rhos[0], taus,
                            noises=[s * D.avg_pool(z, s) for z in zs], variance=var)
        gaps[var] = np.abs(D.avg_pool(hi, s) / rhos[-1] - low).max()
    assert gaps["posterior"] < 1e-10 and gaps["upper"] > 1e-3


def test_ddpm_bad_noises_and_variance():
    f = lambda x, t: x  # noqa: E731
    with pytest.raises(ValueError, match="rng"):
        D.ddpm_sample(f, np.zeros((2, 2)), [0.5, 0.0])
    with pytest.raises(ValueError, match="noises"):
        D.ddpm_sample(f, np.zeros((2, 2)), [0.5, 0.0], noises=[np.zeros((2, 2))] * 2)
    with pytest.raises(ValueError, match="noises"):
        D.ddpm_sample(f, np.zeros((2, 2)), [0.5, 0.0], noises=[np.zeros((3, 2))])
    with pytest.raises(ValueError, match="variance"):
        D.ddpm_sample(f, np.zeros((2, 2)), [0.5, 0.0], np.random.default_rng(0), variance="x")


def test_euler_ancestral_matches_diffusers_euler_ancestral(gm):
    """Same sigma_up / sigma_down split and the same noise stream (float64 torch generator)."""
    from diffusers import EulerAncestralDiscreteScheduler
    rng = np.random.default_rng(3)
    sch = EulerAncestralDiscreteScheduler(prediction_type="epsilon")
    sch.set_timesteps(6)
    x = torch.tensor(rng.standard_normal((6, gm.dim))) * float(sch.init_noise_sigma)
    x_start = x.clone()
    gen = torch.Generator().manual_seed(11)
    for t in sch.timesteps:
        inp = sch.scale_model_input(x, t)
        sigma = float(sch.sigmas[sch.step_index])
        xv = inp.double().numpy() * math.sqrt(sigma ** 2 + 1)
        eps = (xv - gm(xv, sigma)) / sigma
        x = sch.step(torch.tensor(eps), t, x, generator=gen).prev_sample
    den_t = lambda z, s: torch.from_numpy(gm(z.numpy(), s))  # noqa: E731
    ours, calls = D.sample_euler_ancestral(den_t, x_start, sch.sigmas.double().numpy(), seed=11)
    assert calls == 6
    assert torch.allclose(ours, x.double(), rtol=1e-4, atol=1e-4 * float(x.abs().max()))


def test_euler_ancestral_eta0_is_euler_and_it_samples_the_data_law():
    sig = D.karras_sigmas(41)
    x = 80 * np.random.default_rng(0).standard_normal((4000, 2))
    den = (lambda x, s: x * 0.25 / (0.25 + s ** 2))                # exact denoiser of N(0, 0.25 I)
    e0, _ = D.sample_euler(den, x, sig)
    a0, _ = D.sample_euler_ancestral(den, x, sig, eta=0.0)
    assert np.abs(e0 - a0).max() < 1e-12
    a1, calls = D.sample_euler_ancestral(den, x, D.karras_sigmas(401), seed=1)   # converges slowly
    assert calls == 400 and abs(a1.var() / 0.25 - 1) < 0.08
    t1, _ = D.sample_euler_ancestral(den, torch.tensor(x[:5]), sig, seed=1)
    assert isinstance(t1, torch.Tensor)


def test_euler_ancestral_bad_input():
    f = lambda x, s: x  # noqa: E731
    with pytest.raises(ValueError, match="eta"):
        D.sample_euler_ancestral(f, np.zeros(2), [1.0, 0.0], eta=-1)
    with pytest.raises(ValueError, match="seed"):
        D.sample_euler_ancestral(f, np.zeros(2), [1.0, 0.0], seed=-1)
    with pytest.raises(ValueError, match="sigmas"):
        D.sample_euler_ancestral(f, np.zeros(2), [1.0, 2.0])


def _gm_denoiser():
    return D.GaussianMixture(np.array([[1.0, 0.0], [-1.0, 0.5]]), np.array([0.3, 0.6]))


@pytest.mark.parametrize("run", [
    lambda den, x: D.sample_euler(den, x, [2.0, 1.0, 0.0]),
    lambda den, x: D.sample_heun(den, x, [2.0, 1.0, 0.0]),
    lambda den, x: D.sample_midpoint(den, x, [2.0, 1.0, 0.0]),
    lambda den, x: D.sample_amed(den, x, [2.0, 1.0, 0.5], [0.5, 0.5], [1.0, 1.0]),
    lambda den, x: D.reference_solution(den, x, [2.0, 1.0], substeps=2),
    lambda den, x: D.solve_at_budget(den, x, 4, "heun"),
    lambda den, x: D.slope(den, x, 1.0),
])
def test_samplers_check_the_model_and_x_once_at_entry(run):
    """A string denoiser was "'str' object is not callable"; a NaN in x came back as a NaN
    output or a FloatingPointError blaming the library."""
    x = np.zeros((3, 2))
    for bad in ("bad", None):
        with pytest.raises(ValueError, match="denoiser"):
            run(bad, x)
    for bad in (np.full((3, 2), np.nan), "bad", None):
        with pytest.raises(ValueError, match=r"^x must"):
            run(_gm_denoiser(), bad)


def test_vp_samplers_check_the_eps_model_x_rng_and_amed_steps():
    eps = D.gp_highres_model(D.gp_spectrum(8))
    x = np.zeros((2, 8, 8))
    ts = np.array([0.9, 0.5, 0.1])
    for fn in (lambda e, z: D.ddim_sample(e, z, ts),
               lambda e, z: D.ddpm_sample(e, z, ts, np.random.default_rng(0))):
        with pytest.raises(ValueError, match="eps_fn"):
            fn("bad", x)
        with pytest.raises(ValueError, match=r"^x must"):
            fn(eps, np.full_like(x, np.inf))
    with pytest.raises(ValueError, match="rng"):
        D.ddpm_sample(eps, x, ts, rng="bad")
    for bad in ("bad", [[0.5, 0.5]]):
        with pytest.raises(ValueError, match=r"^r must"):
            D.sample_amed(_gm_denoiser(), np.zeros((3, 2)), [2.0, 1.0, 0.5], bad, [1.0, 1.0])
    with pytest.raises(ValueError, match=r"^x must"):
        D.afs_slope(np.array([np.nan]), 1.0)
