"""Tests of kexue.diffusion.ddcm (chapter ddcm): schedule, exact teacher, codec, weights."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy.stats import multivariate_normal

from kexue import diffusion as D

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


def _small_gmm(seed=0, k=3, d=4):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((k, d, d))
    covs = A @ np.swapaxes(A, 1, 2) / d + 0.05 * np.eye(d)          # unequal, correlated covariances
    w = rng.random(k) + 0.2
    return D.FullCovGMM(w / w.sum(), rng.standard_normal((k, d)), covs)


# -- schedule --------------------------------------------------------------------------------

@pytest.mark.parametrize("steps", [1000, 100, 7])
def test_posterior_coefficients_close_the_marginals(steps):
    s = D.ddcm_schedule(steps)
    ab, bb = s.alpha_bar, s.beta_bar
    for t in range(1, steps + 1):
        c_x, c_0, sig = s.coefs(t)
        # E: c_x abar_t + c_0 = abar_{t-1};  Var: c_x^2 bbar_t^2 + sigma^2 = bbar_{t-1}^2
        assert abs(c_x * ab[t] + c_0 - ab[t - 1]) < 1e-12
        assert abs(c_x ** 2 * bb[t] ** 2 + sig ** 2 - bb[t - 1] ** 2) < 1e-12
    assert s.coefs(1)[2] == 0.0 and s.coefs(1)[0] == 0.0 and s.coefs(1)[1] == 1.0


def test_schedule_uses_the_diffusers_leading_grid():
    from diffusers import DDPMScheduler
    sch = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02)
    sch.set_timesteps(100)
    s = D.ddcm_schedule(100)
    assert (np.sort(sch.timesteps.numpy()) == s.timesteps).all()
    ac = sch.alphas_cumprod.double().numpy()
    assert np.abs(s.alphas_cumprod[1:] - ac[s.timesteps]).max() < 1e-6


@pytest.mark.parametrize("steps", [1000, 50])
def test_ddcm_step_with_gaussian_noise_matches_diffusers_ddim_eta1(steps):
    from diffusers import DDIMScheduler
    sch = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                        prediction_type="sample", clip_sample=False, set_alpha_to_one=True)
    sch.set_timesteps(steps)
    s = D.ddcm_schedule(steps)
    rng = np.random.default_rng(0)
    for t in (steps, steps // 2, 2, 1):
        x_t, x0, eps = rng.standard_normal((3, 5, 6))
        ours = D.ddcm_step(x_t, x0, t, s, eps)
        ref = sch.step(torch.tensor(x0, dtype=torch.float32), int(s.timesteps[t - 1]),
                       torch.tensor(x_t, dtype=torch.float32), eta=1.0,
                       variance_noise=torch.tensor(eps, dtype=torch.float32)).prev_sample
        assert np.abs(ours - ref.double().numpy()).max() < 2e-4


def test_ddcm_step_matches_diffusers_ddpm_step_and_variance():
    from diffusers import DDPMScheduler
    sch = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                        prediction_type="sample", clip_sample=False, variance_type="fixed_small")
    sch.set_timesteps(1000)
    # diffusers keeps its schedule in float32; in float64 the two steps agree to rounding
    sch.betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    sch.alphas = 1.0 - sch.betas
    sch.alphas_cumprod = torch.cumprod(sch.alphas, 0)
    s = D.ddcm_schedule(1000)
    rng = np.random.default_rng(1)
    for t in (1000, 500, 3, 2):
        x_t, x0 = rng.standard_normal((2, 4, 5))
        gen = torch.Generator().manual_seed(t)
        ref = sch.step(torch.tensor(x0), t - 1, torch.tensor(x_t), generator=gen).prev_sample
        eps = torch.randn((4, 5), generator=torch.Generator().manual_seed(t), dtype=torch.float64).numpy()
        assert np.abs(D.ddcm_step(x_t, x0, t, s, eps) - ref.numpy()).max() < 1e-10
        assert abs(s.coefs(t)[2] ** 2 - float(sch._get_variance(t - 1))) < 1e-12


def test_schedule_bad_input():
    with pytest.raises(ValueError, match="steps"):
        D.ddcm_schedule(1)
    with pytest.raises(ValueError, match="steps"):
        D.ddcm_schedule(2000)
    with pytest.raises(ValueError, match="T"):
        D.ddcm_schedule(2, T=1)
    with pytest.raises(ValueError, match="beta_end"):
        D.ddcm_schedule(10, beta_end=1.5)
    with pytest.raises(ValueError, match="t"):
        D.ddcm_schedule(10).coefs(11)
    with pytest.raises(ValueError, match="t"):
        D.ddcm_schedule(10).coefs(0)


# -- the exact teacher -------------------------------------------------------------------------

def test_full_cov_denoiser_matches_dense_formula_with_scipy_densities():
    g = _small_gmm()
    x = np.random.default_rng(2).standard_normal((6, 4))
    for a in (0.9, 0.4, 0.05):
        b = math.sqrt(1 - a * a)
        covs_t = [a * a * c + b * b * np.eye(4) for c in g.covs]
        logp = np.stack([np.log(w) + multivariate_normal(a * m, c).logpdf(x)
                         for w, m, c in zip(g.weights, g.means, covs_t)], 1)
        r = np.exp(logp - logp.max(1, keepdims=True))
        r /= r.sum(1, keepdims=True)
        cond = np.stack([m + (a * c @ np.linalg.solve(ct, (x - a * m).T)).T
                         for m, c, ct in zip(g.means, g.covs, covs_t)], 1)
        assert np.abs(g.responsibilities(x, a, b) - r).max() < 1e-10
        assert np.abs(g.denoise(x, a, b) - (r[..., None] * cond).sum(1)).max() < 1e-10


def test_denoiser_is_posterior_mean_by_monte_carlo():
    g = _small_gmm(3, k=2, d=2)
    rng = np.random.default_rng(0)
    x0 = g.sample(400_000, rng)
    a, b = 0.6, 0.8
    xt = a * x0 + b * rng.standard_normal(x0.shape)
    # E[(x0 - D(x_t)) h(x_t)] = 0 for any h: the orthogonality that defines the conditional mean
    res = x0 - g.denoise(xt, a, b)
    for h in (np.ones(len(xt)), xt[:, 0], np.tanh(xt[:, 1])):
        assert np.abs((res * h[:, None]).mean(0)).max() < 6e-3


def test_log_density_matches_scipy_and_samples_match_moments():
    g = _small_gmm(4)
    x = np.random.default_rng(5).standard_normal((7, 4))
    ref = np.log(sum(w * multivariate_normal(m, c).pdf(x) for w, m, c in zip(g.weights, g.means, g.covs)))
    assert np.abs(g.log_density(x) - ref).max() < 1e-10
    s = g.sample(200_000, np.random.default_rng(0))
    mean = g.weights @ g.means
    assert np.abs(s.mean(0) - mean).max() < 0.02


def test_denoiser_limits():
    g = _small_gmm(1)
    x = np.random.default_rng(0).standard_normal((3, 4))
    assert np.abs(g.denoise(x, 1.0, 0.0) - x).max() < 1e-12           # clean input: itself
    assert np.abs(g.denoise(x, 0.0, 1.0) - g.weights @ g.means).max() < 1e-12   # pure noise: the mean


def test_digits_gmm_is_the_class_conditional_fit():
    from kexue.datasets import digits
    g = D.digits_gmm()
    X, y = digits("signed")
    assert g.dim == 64 and g.weights.size == 10
    assert np.abs(g.means[3] - X[:1500][y[:1500] == 3].mean(0)).max() < 1e-12
    assert g.log_density(X[:1500]).mean() > g.log_density(X[1500:]).mean()   # held-out rows fit less well


def test_gmm_bad_input():
    g = _small_gmm()
    with pytest.raises(ValueError, match="weights"):
        D.FullCovGMM([0.5, 0.6], np.zeros((2, 2)), np.stack([np.eye(2)] * 2))
    with pytest.raises(ValueError, match="covs"):
        D.FullCovGMM([0.5, 0.5], np.zeros((2, 2)), np.stack([np.eye(2), -np.eye(2)]))
    with pytest.raises(ValueError, match="covs"):
        D.FullCovGMM([0.5, 0.5], np.zeros((2, 2)), np.eye(2)[None])
    with pytest.raises(ValueError, match="x"):
        g.denoise(np.zeros((2, 3)), 0.5, 0.5)
    with pytest.raises(ValueError, match="alpha_bar"):
        g.denoise(np.zeros((2, 4)), 1.5, 0.5)
    with pytest.raises(ValueError, match="beta_bar"):
        g.responsibilities(np.zeros((2, 4)), 0.5, -0.5)
    with pytest.raises(ValueError, match="x"):
        g.log_density(np.zeros(4))
    with pytest.raises(ValueError, match="n"):
        g.sample(0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="reg"):
        D.digits_gmm(reg=0.0)
    with pytest.raises(ValueError, match="train_rows"):
        D.digits_gmm(train_rows=5000)


# -- codebooks, selection, codec ---------------------------------------------------------------

def test_codebooks_are_reproducible_independent_or_shared():
    cb = D.Codebooks(8, 5, seed=3)
    assert np.array_equal(cb(4), D.Codebooks(8, 5, seed=3)(4))
    assert not np.array_equal(cb(4), cb(5))
    sh = D.Codebooks(8, 5, seed=3, shared=True)
    assert np.array_equal(sh(4), sh(5))
    cen = D.Codebooks(8, 5, seed=3, centred=True)
    assert np.abs(cen(4).mean(0)).max() < 1e-12
    assert np.allclose(cen(4), (cb(4) - cb(4).mean(0)) * np.sqrt(8 / 7))
    # a uniform draw from a centred codebook has covariance I on average over codebooks
    big = np.stack([D.Codebooks(2, 3, seed=s_, centred=True)(1) for s_ in range(20000)])
    assert np.abs(np.einsum("ski,skj->ij", big, big) / big.shape[0] / 2 - np.eye(3)).max() < 0.05
    with pytest.raises(ValueError, match="K"):
        D.Codebooks(1, 5, centred=True)
    with pytest.raises(ValueError, match="K"):
        D.Codebooks(0, 5)
    with pytest.raises(ValueError, match="dim"):
        D.Codebooks(2, 0)
    with pytest.raises(ValueError, match="t"):
        cb(0)


def test_select_noise_rules():
    rng = np.random.default_rng(0)
    C = rng.standard_normal((50, 6)) * rng.uniform(0.5, 1.5, (50, 1))   # unequal norms
    r = rng.standard_normal((4, 6))
    coefs = (0.9, 0.3, 0.2)
    assert (D.select_noise(C, r, coefs, "argmax") == np.argmax(r @ C.T, 1)).all()
    brute = np.argmin(np.linalg.norm(coefs[1] * r[:, None] - coefs[2] * C[None], axis=-1), 1)
    assert (D.select_noise(C, r, coefs, "argmin") == brute).all()
    # a sampling rule draws index i with probability w_i
    m = coefs[1] / coefs[2] * r[:1]
    for rule, w in (("post", D.post_weights(C, m[0])), ("corrected", D.corrected_weights(C, m[0]))):
        draws = np.concatenate([D.select_noise(C, np.repeat(r[:1], 20000, 0), coefs, rule, rng)])
        freq = np.bincount(draws, minlength=50) / draws.size
        assert np.abs(freq - w).max() < 0.02


def test_select_noise_bad_input():
    C = np.zeros((3, 2))
    with pytest.raises(ValueError, match="rule"):
        D.select_noise(C, np.zeros((1, 2)), (1, 1, 1), "nearest")
    with pytest.raises(ValueError, match="rng"):
        D.select_noise(C, np.zeros((1, 2)), (1, 1, 1), "post")
    with pytest.raises(ValueError, match="residual"):
        D.select_noise(C, np.zeros((1, 3)), (1, 1, 1))
    with pytest.raises(ValueError, match="sigma"):
        D.select_noise(C, np.zeros((1, 2)), (1, 1, 0.0), "corrected", np.random.default_rng(0))


@pytest.fixture(scope="module")
def codec():
    g = _small_gmm(7, k=3, d=5)
    return g, D.ddcm_schedule(40), g.sample(6, np.random.default_rng(1))


@pytest.mark.parametrize("rule", ["argmax", "argmin", "post", "corrected"])
def test_decode_replays_encode_exactly(codec, rule):
    g, s, x0 = codec
    cb = D.Codebooks(16, 5, seed=2)
    idx, x_rec = D.ddcm_encode(x0, g, s, cb, rule, np.random.default_rng(0))
    assert idx.shape == (6, 39) and idx.min() >= 0 and idx.max() < 16
    assert np.array_equal(D.ddcm_decode(idx, g, s, cb), x_rec)
    other = D.ddcm_decode(idx, g, s, D.Codebooks(16, 5, seed=3))          # another codebook seed
    assert np.abs(other - x_rec).max() > 1e-3


def test_encoding_improves_with_K_and_argmax_beats_argmin(codec):
    g, s, x0 = codec
    mse = {K: ((D.ddcm_encode(x0, g, s, D.Codebooks(K, 5, 0))[1] - x0) ** 2).mean() for K in (2, 16, 256)}
    assert mse[2] > mse[16] > mse[256]
    rand = g.sample(6, np.random.default_rng(9))
    assert mse[256] < 0.2 * ((rand - x0) ** 2).mean()                     # far better than chance


def test_generation_with_codebooks_and_gaussian(codec):
    g, s, _ = codec
    a = D.ddcm_generate(5, g, s, D.Codebooks(4, 5, 0), np.random.default_rng(0))
    b = D.ddcm_generate(5, g, s, D.Codebooks(4, 5, 0), np.random.default_rng(0))
    c = D.ddcm_generate(5, g, s, None, np.random.default_rng(0))
    assert np.array_equal(a, b) and a.shape == c.shape == (5, 5) and np.isfinite(c).all()


def test_codec_bad_input(codec):
    g, s, x0 = codec
    cb = D.Codebooks(4, 5, 0)
    with pytest.raises(ValueError, match="x0"):
        D.ddcm_encode(x0[:, :3], g, s, cb)
    with pytest.raises(ValueError, match="rule"):
        D.ddcm_encode(x0, g, s, cb, "best")
    with pytest.raises(ValueError, match="rng"):
        D.ddcm_encode(x0, g, s, cb, "corrected")
    with pytest.raises(ValueError, match="indices"):
        D.ddcm_decode(np.zeros((2, 5), dtype=int), g, s, cb)
    with pytest.raises(ValueError, match="indices"):
        D.ddcm_decode(np.full((2, 39), 4), g, s, cb)
    with pytest.raises(ValueError, match="n"):
        D.ddcm_generate(0, g, s, cb, np.random.default_rng(0))


# -- the rate ----------------------------------------------------------------------------------

def test_code_bits_values():
    assert D.code_bits(1000, 64) == 5994
    assert D.code_bits(100, 2) == 99
    assert D.code_bits(3, 3) == 4                      # 9 messages need 4 bits
    assert D.code_bits(10, 1) == 0


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 300), st.integers(1, 40), st.integers(0, 10_000))
def test_pack_unpack_roundtrip_and_length(K, length, seed):
    idx = np.random.default_rng(seed).integers(K, size=length)
    data = D.pack_code(idx, K)
    assert np.array_equal(D.unpack_code(data, K, length), idx)
    assert int.from_bytes(data, "big").bit_length() <= D.code_bits(length + 1, K)
    worst = D.pack_code(np.full(length, K - 1), K)
    assert int.from_bytes(worst, "big").bit_length() == D.code_bits(length + 1, K)


def test_rate_bad_input():
    with pytest.raises(ValueError, match="steps"):
        D.code_bits(1, 4)
    with pytest.raises(ValueError, match="K"):
        D.code_bits(4, 0)
    with pytest.raises(ValueError, match="indices"):
        D.pack_code([0, 5], 4)
    with pytest.raises(ValueError, match="data"):
        D.unpack_code("ab", 4, 2)
    with pytest.raises(ValueError, match="data"):
        D.unpack_code(D.pack_code([3, 3, 3], 4), 4, 2)
    with pytest.raises(ValueError, match="length"):
        D.unpack_code(b"\x00", 4, 0)


# -- importance weights and metrics ------------------------------------------------------------

def test_post_weights_tend_to_half_mean_corrected_to_target():
    C = np.random.default_rng(0).standard_normal((200_000, 2))
    m = np.array([1.0, 0.5])
    mp, cp = D.weighted_moments(C, D.post_weights(C, m))
    mc, cc = D.weighted_moments(C, D.corrected_weights(C, m))
    # N(0, I) N(m, I) ∝ N(m/2, I/2);  the corrected weights give N(m, I)
    assert np.abs(mp - m / 2).max() < 0.02 and np.abs(cp - np.eye(2) / 2).max() < 0.02
    assert np.abs(mc - m).max() < 0.03 and np.abs(cc - np.eye(2)).max() < 0.05


def test_weights_rows_and_mode():
    rng = np.random.default_rng(1)
    C, m = rng.standard_normal((30, 4)), rng.standard_normal((3, 4))
    w = D.corrected_weights(C, m)
    assert w.shape == (3, 30) and np.allclose(w.sum(1), 1)
    assert (w.argmax(1) == np.argmax(m @ C.T, 1)).all()                 # mode = the argmax rule
    p = D.post_weights(C, m)
    assert (p.argmax(1) == np.argmin(((C[None] - m[:, None]) ** 2).sum(-1), 1)).all()
    assert np.allclose(D.post_weights(C, m[0]), p[0])


def test_weights_and_metrics_bad_input():
    C = np.zeros((3, 2))
    with pytest.raises(ValueError, match="m"):
        D.post_weights(C, np.zeros(3))
    with pytest.raises(ValueError, match="m"):
        D.corrected_weights(C, np.zeros(3))
    with pytest.raises(ValueError, match="weights"):
        D.weighted_moments(C, [0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="y"):
        D.psnr(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="y"):
        D.psnr(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="peak"):
        D.psnr(np.zeros(3), np.ones(3), peak=0)
    with pytest.raises(ValueError, match="rule"):
        D.rate_distortion(np.zeros((1, 5)), _small_gmm(d=5), rule="post")


def test_psnr_value():
    assert D.psnr(np.zeros(4), np.full(4, 0.2)) == pytest.approx(10 * math.log10(4 / 0.04))


def test_rate_distortion_grid(codec):
    g, _, x0 = codec
    rd = D.rate_distortion(x0, g, Ks=(2, 16), steps=(10, 40))
    assert rd["bits"].tolist() == [[9, 36], [39, 156]]
    assert rd["mse"].shape == (2, 2) and (rd["mse"][:, 1] < rd["mse"][:, 0]).all()
    idx, x_rec = D.ddcm_encode(x0, g, D.ddcm_schedule(40), D.Codebooks(16, 5, 0))
    assert np.array_equal(rd["rec"][1, 1], x_rec) and np.array_equal(rd["idx"][(40, 16)], idx)


def test_rule_diagnostics_follow_the_argmax_chain(codec):
    g, s, x0 = codec
    cb = D.Codebooks(16, 5, 0)
    diag = D.rule_diagnostics(x0, g, s, cb)
    assert diag["t"].tolist() == list(range(40, 1, -1))
    assert ((diag["agree"] >= 0) & (diag["agree"] <= 1)).all()
    assert ((diag["top_post"] >= 1 / 16) & (diag["top_post"] <= 1 + 1e-12)).all()
    # at the first step, recompute the numbers by hand
    x_T = np.broadcast_to(cb(41)[0], x0.shape)
    c_x, c_0, sig = s.coefs(40)
    r = x0 - g.denoise(x_T, s.alpha_bar[40], s.beta_bar[40])
    C = cb(40)
    m = c_0 / sig * r
    assert diag["m_norm"][0] == pytest.approx(np.linalg.norm(m, axis=1).mean())
    brute = np.argmin(np.linalg.norm(c_0 * r[:, None] - sig * C[None], axis=-1), 1)
    assert diag["agree"][0] == pytest.approx((brute == np.argmax(r @ C.T, 1)).mean())
    with pytest.raises(ValueError, match="x0"):
        D.rule_diagnostics(x0[:, :2], g, s, cb)


def test_uniform_quantise():
    x = np.array([[-1.0, -0.2, 0.26, 1.0, 0.74]])
    rec, bits = D.uniform_quantise(x, 5)
    assert np.allclose(rec, [[-1.0, 0.0, 0.5, 1.0, 0.5]]) and bits == (5 ** 5 - 1).bit_length() == 12
    assert D.uniform_quantise(x, 17)[1] == 21
    with pytest.raises(ValueError, match="levels"):
        D.uniform_quantise(x, 1)
    with pytest.raises(ValueError, match="hi"):
        D.uniform_quantise(x, 3, lo=1.0, hi=0.0)
