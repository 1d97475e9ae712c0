"""Tests of kexue.matrices.fourier_density: non-negativity, normalisation, CDF, gradients, fits,
and parity with numpy.correlate, scipy.stats.gaussian_kde and sklearn's GaussianMixture."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.integrate import quad
from scipy.linalg import toeplitz
from scipy.stats import gaussian_kde, kstest, norm
from sklearn.mixture import GaussianMixture

from kexue import matrices as M

torch.set_num_threads(1)
TARGET = ([0.5, 0.3, 0.2], [-2.0, 1.0, 3.0], [0.5, 0.3, 0.8])
X = np.linspace(-1, 1, 1001)

coeffs = arrays(np.float64, st.integers(2, 14), elements=st.floats(-3, 3)).filter(
    lambda v: np.abs(v).max() > 1e-3)


def as_complex(v: np.ndarray) -> np.ndarray:
    half = (v.size + 1) // 2
    a = v[:half] + 1j * np.concatenate([v[half:], np.zeros(2 * half - v.size)])
    return a if np.abs(a).max() > 0 else a + 1


def test_coeffs_match_numpy_correlate_and_the_definition():
    rng = np.random.default_rng(0)
    a = rng.normal(size=6) + 1j * rng.normal(size=6)
    c = M.fbdm_coeffs(a)
    np.testing.assert_allclose(c, np.correlate(a, a, "full")[5:].conj(), atol=1e-13)
    for n in range(6):
        assert c[n] == pytest.approx(sum(a[k] * np.conj(a[k + n]) for k in range(6 - n)), abs=1e-13)
    ct = M.fbdm_coeffs(torch.tensor(a))
    np.testing.assert_allclose(ct.numpy(), c, atol=1e-14)


@settings(max_examples=40, deadline=None)
@given(coeffs)
def test_density_is_nonnegative_and_the_squared_modulus_of_the_series(v):
    a = as_complex(v)
    p = M.fbdm_density(a, X)
    assert p.min() >= 0
    c = M.fbdm_coeffs(a)
    np.testing.assert_allclose(M.fourier_series(c, X) / (2 * c[0].real), p, atol=1e-10 * max(1, p.max()))
    assert np.linalg.eigvalsh(M.toeplitz_from_c(c, c.size + 5)).min() > -1e-9 * c[0].real


@settings(max_examples=25, deadline=None)
@given(coeffs)
def test_density_integrates_to_one_and_cdf_is_monotone(v):
    a = as_complex(v)
    # p is a trigonometric polynomial of degree N: the mean over 4N+4 equispaced periodic points is exact
    m = 4 * a.size + 4
    grid = -1 + 2 * np.arange(m) / m
    assert M.fbdm_density(a, grid).mean() * 2 == pytest.approx(1.0, abs=1e-12)
    F = M.fbdm_cdf(a, X)
    assert np.all(np.diff(F) >= -1e-12)
    assert F[0] == pytest.approx(0.0, abs=1e-12) and F[-1] == pytest.approx(1.0, abs=1e-12)


def test_integral_by_quad_and_cdf_derivative():
    a = np.array([1.0, 0.4 - 0.3j, -0.2 + 0.5j, 0.1j])
    assert quad(lambda t: M.fbdm_density(a, np.array([t]))[0], -1, 1)[0] == pytest.approx(1.0, abs=1e-12)
    h = 1e-6
    xi = np.linspace(-0.95, 0.95, 39)
    np.testing.assert_allclose((M.fbdm_cdf(a, xi + h) - M.fbdm_cdf(a, xi - h)) / (2 * h),
                               M.fbdm_density(a, xi), atol=1e-7)
    for v in (-0.5, 0.3):
        assert M.fbdm_cdf(a, np.array([v]))[0] == pytest.approx(
            quad(lambda t: M.fbdm_density(a, np.array([t]))[0], -1, v)[0], abs=1e-12)


def test_free_coefficients_can_be_negative_and_toeplitz_matches_scipy():
    c = np.array([1.0, 0.9])
    assert M.fourier_series(c, X).min() < 0
    assert np.linalg.eigvalsh(M.toeplitz_from_c(c, 2)).min() > 0
    assert np.linalg.eigvalsh(M.toeplitz_from_c(c, 3)).min() < 0
    cc = np.array([2.0, 0.3 + 0.4j, -0.1j])
    np.testing.assert_allclose(M.toeplitz_from_c(cc), toeplitz(cc), atol=0)


def test_real_line_density_integrates_to_one_and_matches_change_of_variables():
    a = np.array([1.0, 0.5 + 0.2j, -0.3j])
    for mu, sigma in ((0.0, 1.0), (2.0, 0.3), (-1.0, 5.0)):
        total = quad(lambda t: math.exp(M.fbdm_log_density_real(a, mu, sigma, np.array([t]))[0]),
                     -np.inf, np.inf, limit=300)[0]
        assert total == pytest.approx(1.0, abs=1e-8)
    y = np.array([-2.0, 0.1, 3.0])
    z = (y - 0.5) / 1.5
    want = M.fbdm_density(a, np.tanh(z)) / np.cosh(z) ** 2 / 1.5
    np.testing.assert_allclose(np.exp(M.fbdm_log_density_real(a, 0.5, 1.5, y)), want, rtol=1e-12)
    far = M.fbdm_log_density_real(a, 0.0, 1.0, np.array([1e4]))          # sech^2 underflows: stays finite
    assert np.isfinite(far).all() and far[0] < -1e4


def test_smoothness_is_parseval_and_scales():
    a = np.array([1.0, 0.5 + 0.2j, -0.3j, 0.2])
    sq, wq = np.polynomial.legendre.leggauss(200)
    xt = torch.tensor(sq, requires_grad=True)
    f = M.fourier_series(torch.tensor(M.fbdm_coeffs(a)), xt)
    (df,) = torch.autograd.grad(f.sum(), xt)
    assert M.fbdm_smoothness(a, normalized=False) == pytest.approx(float((df.numpy() ** 2) @ wq), rel=1e-12)
    c0 = M.fbdm_coeffs(a)[0].real
    assert M.fbdm_smoothness(a) == pytest.approx(M.fbdm_smoothness(a, normalized=False) / (2 * c0) ** 2)
    assert M.fbdm_smoothness(3 * a) == pytest.approx(M.fbdm_smoothness(a), rel=1e-12)
    assert M.fbdm_smoothness(3 * a, normalized=False) == pytest.approx(81 * M.fbdm_smoothness(a, normalized=False))


def test_nll_gradcheck():
    y = torch.tensor([-1.3, 0.2, 0.9, 2.5], dtype=torch.float64)
    a = torch.tensor([1.0 + 0.0j, 0.3 - 0.2j, -0.1 + 0.4j], dtype=torch.complex128, requires_grad=True)
    mu = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
    ls = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a_, m_, s_: M.fbdm_nll(a_, m_, s_, y), (a, mu, ls))
    assert torch.autograd.gradcheck(lambda a_: M.fbdm_smoothness(a_), (a,))
    assert torch.autograd.gradcheck(lambda a_: M.fbdm_cdf(a_, torch.tensor([-0.3, 0.6])), (a,))


@pytest.mark.parametrize("gamma,penalty", [(0.0, "density"), (1e-2, "density"), (1e-3, "unnormalized")])
def test_numpy_objective_and_gradient_match_torch_autograd_and_finite_differences(gamma, penalty):
    rng = np.random.default_rng(1)
    y = M.mixture_sample(60, *TARGET, seed=2)
    theta = np.concatenate([rng.normal(size=5), rng.normal(size=5), [0.3, 0.4]])
    value, grad = M.fbdm_objective_grad(theta, y, gamma, penalty)
    t = torch.tensor(theta, requires_grad=True)
    a = torch.complex(t[:5], t[5:10])
    loss = M.fbdm_nll(a, t[10], t[11], torch.tensor(y)) + gamma * M.fbdm_smoothness(a, normalized=(penalty == "density"))
    loss.backward()
    assert value == pytest.approx(float(loss.detach()), abs=1e-12)
    np.testing.assert_allclose(grad, t.grad.numpy(), atol=1e-10)
    h = 1e-6
    fd = np.array([(M.fbdm_objective_grad(theta + h * e, y, gamma, penalty)[0]
                    - M.fbdm_objective_grad(theta - h * e, y, gamma, penalty)[0]) / (2 * h) for e in np.eye(12)])
    np.testing.assert_allclose(grad, fd, atol=1e-6)


def test_nll_is_invariant_to_the_scale_and_phase_of_a():
    y = np.array([-1.0, 0.5, 2.0])
    a = np.array([1.0, 0.3 - 0.2j, -0.1 + 0.4j])
    base = M.fbdm_nll(a, 0.1, 0.2, y)
    assert M.fbdm_nll(2.5 * np.exp(0.7j) * a, 0.1, 0.2, y) == pytest.approx(base, abs=1e-13)


def test_sampler_passes_ks():
    a = np.array([1.0, 0.6 - 0.2j, 0.3j])
    draws = M.fbdm_sample(a, 3000, seed=1)
    assert draws.min() >= -1 and draws.max() <= 1
    assert kstest(draws, lambda v: M.fbdm_cdf(a, np.clip(v, -1, 1))).pvalue > 0.01
    assert kstest(draws, "uniform", args=(-1, 2)).pvalue < 1e-6           # and it is not uniform


def test_fit_beats_a_flat_start_and_gets_close_to_the_truth():
    y = M.mixture_sample(800, *TARGET, seed=0)
    test = M.mixture_sample(5000, *TARGET, seed=1)
    r = M.fit_fbdm(y, 12, 1e-3, iters=200)
    nll = -M.fbdm_log_density_real(r["a"], r["mu"], r["sigma"], test).mean()
    truth = -M.mixture_logpdf(test, *TARGET).mean()
    assert nll - truth < 0.05
    r0 = M.fit_fbdm(y, 12, 1e-3, iters=1)
    assert r["train_nll"] < r0["train_nll"] - 0.1
    again = M.fit_fbdm(y, 12, 1e-3, iters=200)                          # memoised: same numbers
    np.testing.assert_array_equal(again["a"], r["a"])
    again["a"][0] = 99.0
    assert M.fit_fbdm(y, 12, 1e-3, iters=200)["a"][0] != 99.0            # the memo hands out copies


def test_penalty_on_f_has_no_minimiser_but_penalty_on_p_smooths():
    y = M.mixture_sample(200, *TARGET, seed=4)
    r_p = M.fit_fbdm(y, 16, 1e-2, iters=200)
    r_0 = M.fit_fbdm(y, 16, 0.0, iters=200)
    assert M.fbdm_smoothness(r_p["a"]) < 0.5 * M.fbdm_smoothness(r_0["a"])
    r_f = M.fit_fbdm(y, 16, 1e-2, penalty="unnormalized", iters=200)
    assert np.sum(np.abs(r_f["a"]) ** 2) < 0.2                          # a shrinks instead


def test_mixture_helpers_match_scipy_and_sampling():
    y = np.linspace(-5, 6, 50)
    want = np.log(sum(w * norm.pdf(y, m, s) for w, m, s in zip(*TARGET)))
    np.testing.assert_allclose(M.mixture_logpdf(y, *TARGET), want, rtol=1e-12)
    draws = M.mixture_sample(20000, *TARGET, seed=0)
    assert draws.mean() == pytest.approx(sum(w * m for w, m in zip(TARGET[0], TARGET[1])), abs=0.05)


def test_baselines_match_the_reference_packages():
    tr = M.mixture_sample(500, *TARGET, seed=5)
    y = np.linspace(-3, 4, 20)
    np.testing.assert_allclose(M.kde_logpdf(tr, y), gaussian_kde(tr).logpdf(y), rtol=1e-12)
    ref = GaussianMixture(3, n_init=5, random_state=0).fit(tr[:, None]).score_samples(y[:, None])
    np.testing.assert_allclose(M.gmm_logpdf(tr, y, 3), ref, rtol=1e-10)
    g = M.fit_gmm_gradient(tr, 3, seed=0)
    em = GaussianMixture(3, n_init=5, random_state=0).fit(tr[:, None])
    assert g["train_nll"] <= -em.score(tr[:, None]) + 1e-3 or g["train_nll"] < 1.9
    assert abs(g["weights"].sum() - 1) < 1e-12


def test_local_maxima():
    x = np.linspace(-3, 3, 601)
    p = np.exp(-(x + 1) ** 2 * 4) + 0.5 * np.exp(-(x - 1.5) ** 2 * 4)
    np.testing.assert_allclose(M.local_maxima(x, p), [-1.0, 1.5], atol=0.011)
    assert M.local_maxima(x, p, min_height=0.6).size == 1


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="^a "):
        M.fbdm_coeffs([])
    with pytest.raises(ValueError, match="^a "):
        M.fbdm_coeffs([0.0, 0.0])
    with pytest.raises(ValueError, match="^a "):
        M.fbdm_density([1.0, np.nan], [0.0])
    with pytest.raises(ValueError, match="^x "):
        M.fbdm_density([1.0, 0.5], [1.5])
    with pytest.raises(ValueError, match="^c "):
        M.fourier_series(np.array([[1.0]]), [0.0])
    with pytest.raises(ValueError, match="^x "):
        M.fbdm_cdf([1.0, 0.5], [-2.0])
    with pytest.raises(ValueError, match="^n "):
        M.fbdm_sample([1.0, 0.5], 0)
    with pytest.raises(ValueError, match="^sigma"):
        M.fbdm_log_density_real([1.0, 0.5], 0.0, 0.0, [1.0])
    with pytest.raises(ValueError, match="^y "):
        M.fbdm_nll([1.0, 0.5], 0.0, 0.0, [np.nan])
    with pytest.raises(ValueError, match="^a "):
        M.fbdm_smoothness([])
    with pytest.raises(ValueError, match="^c "):
        M.toeplitz_from_c([])
    with pytest.raises(ValueError, match="^size"):
        M.toeplitz_from_c([1.0], 0)
    with pytest.raises(ValueError, match="^N "):
        M.fit_fbdm([0.0, 1.0, 2.0], 0)
    with pytest.raises(ValueError, match="^gamma"):
        M.fit_fbdm([0.0, 1.0, 2.0], 3, -1.0)
    with pytest.raises(ValueError, match="^penalty"):
        M.fit_fbdm([0.0, 1.0, 2.0], 3, penalty="f")
    with pytest.raises(ValueError, match="^y "):
        M.fit_fbdm([0.0], 3)
    with pytest.raises(ValueError, match="^weights"):
        M.mixture_logpdf([0.0], [0.5, 0.6], [0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="^stds"):
        M.mixture_sample(3, [1.0], [0.0], [0.0])
    with pytest.raises(ValueError, match="^train"):
        M.kde_logpdf([np.inf, 1.0], [0.0])
    with pytest.raises(ValueError, match="^k "):
        M.gmm_logpdf([0.0, 1.0, 2.0, 3.0], [0.0], 0)
    with pytest.raises(ValueError, match="^n_init"):
        M.gmm_logpdf([0.0, 1.0, 2.0, 3.0], [0.0], 1, n_init=0)
    with pytest.raises(ValueError, match="^k "):
        M.fit_gmm_gradient([0.0, 1.0, 2.0, 3.0], 5)
    with pytest.raises(ValueError, match="^theta"):
        M.fbdm_objective_grad(np.ones(5), [0.0, 1.0])
    with pytest.raises(ValueError, match="^penalty"):
        M.fbdm_objective_grad(np.ones(6), [0.0, 1.0], 1.0, "x")
    with pytest.raises(ValueError, match="^p "):
        M.local_maxima([0.0, 1.0, 2.0], [1.0, 2.0])
