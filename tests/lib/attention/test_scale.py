"""Tests of kexue.attention.scale (chapter attention-scale). Parity anchors: torch autograd,
scipy (softmax, quad, ive, brentq)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

torch.set_num_threads(1)
FAST = settings(max_examples=30, deadline=None)
from scipy import integrate, optimize, special

from kexue import attention as A


def test_scaled_softmax_matches_scipy():
    rng = np.random.default_rng(0)
    s = rng.standard_normal((5, 9))
    for alpha in (0.0, 0.3, 2.5, 40.0):
        np.testing.assert_allclose(A.scaled_softmax(s, alpha), special.softmax(alpha * s, axis=-1),
                                   rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("alpha", [0.5, 2.5])
def test_softmax_jacobian_matches_autograd(alpha):
    s = torch.randn(64, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ref = torch.autograd.functional.jacobian(lambda v: torch.softmax(alpha * v, -1), s)
    np.testing.assert_allclose(A.softmax_jacobian(s.numpy(), alpha), ref.numpy(), atol=1e-12)


@FAST
@given(st.integers(2, 40), st.floats(0.0, 20.0), st.integers(0, 10_000))
def test_gradient_l1_equals_alpha_one_minus_collision(n, alpha, seed):
    """Invariant: 0.5 ||J||_1 = alpha (1 - sum p^2) (the post's eq. target)."""
    s = np.random.default_rng(seed).standard_normal(n)
    p = A.scaled_softmax(s, alpha)
    assert abs(A.gradient_l1(s, alpha) - alpha * (1 - A.collision_probability(p))) < 1e-12
    assert abs(A.scale_objective(s, alpha) - A.gradient_l1(s, alpha)) < 1e-12


def test_objective_vanishes_at_both_ends():
    s = np.array([0.0, 1.0, 2.0])
    assert A.gradient_l1(s, 0.0) == 0.0
    assert A.gradient_l1(s, 50.0) < 1e-15
    vals = [A.gradient_l1(s, a) for a in np.linspace(0, 50, 201)]
    assert max(vals) > 0.3


def test_gaussian_mgf_monte_carlo():
    z = np.random.default_rng(0).standard_normal(1_000_000)
    for alpha in (0.5, 1.0, 1.5):
        assert abs(np.exp(alpha * z).mean() / A.mgf_normal(alpha) - 1) < 0.01


@pytest.mark.parametrize("d", [3, 16, 128, 300])
@pytest.mark.parametrize("alpha", [0.1, 2.0, 30.0, 70.0])
def test_cosine_mgf_matches_quadrature_and_bessel(d, alpha):
    dens = lambda s: (1 - s * s) ** ((d - 3) / 2)
    num = integrate.quad(lambda s: math.exp(alpha * s - alpha) * dens(s), -1, 1,
                         epsabs=0, epsrel=1e-13, limit=200)[0]
    den = integrate.quad(dens, -1, 1, epsabs=0, epsrel=1e-13, limit=200)[0]
    ref_quad = math.log(num / den) + alpha
    nu = d / 2 - 1
    got = A.log_mgf_cosine(alpha, d)
    assert abs(got - ref_quad) < 1e-10 * max(1.0, abs(ref_quad))
    iv = special.ive(nu, alpha)
    if iv > 1e-290:                       # the Bessel form underflows for small alpha, large d
        ref_bessel = special.gammaln(d / 2) + nu * math.log(2 / alpha) + math.log(iv) + alpha
        assert abs(got - ref_bessel) < 1e-10 * max(1.0, abs(ref_bessel))


def test_cosine_mgf_where_bessel_form_underflows():
    # ive(255, 1) underflows to 0 (log -> -inf); the series stays finite and close to 1 + a^2/(2d)
    assert special.ive(255, 1.0) == 0.0
    got = A.mgf_cosine(1.0, 512)
    assert abs(got - (1 + 1 / (2 * 512))) < 1e-5
    assert A.log_mgf_cosine(0.0, 512) == 0.0 and A.mgf_cosine(0.0, 7) == 1.0


def test_sample_scores_cosine_matches_random_unit_vectors():
    d, n = 16, 20000
    rng = np.random.default_rng(3)
    q = rng.standard_normal((n, d)); k = rng.standard_normal((n, d))
    cos = (q * k).sum(1) / np.linalg.norm(q, axis=1) / np.linalg.norm(k, axis=1)
    s = A.sample_scores(n, "cosine", d, seed=4)[0]
    from scipy.stats import ks_2samp
    assert ks_2samp(cos, s).pvalue > 1e-3
    assert abs(s.var() - 1 / d) < 0.1 / d                  # Var cos = 1/d


def test_gaussian_optimum_values_and_brentq_parity():
    expect = {}
    for n in (40, 512, 4096, 20000):
        expect[n] = optimize.brentq(lambda a: (1 + 2 * a * a) * math.exp(a * a) - n, 1e-9, 10)
        assert abs(A.optimal_scale(n) - expect[n]) < 1e-9
    # and it is the maximiser of the objective on a fine grid
    grid = np.linspace(0, math.sqrt(math.log(512)), 200_001)
    assert abs(grid[np.argmax(A.approx_objective(grid, 512))] - expect[512]) < 1e-4
    assert abs(expect[512] - 2.008) < 1e-3 and abs(expect[20000] - 2.678) < 1e-3


def test_cosine_optimum_matches_bounded_search():
    for n, d in ((512, 128), (4096, 128), (512, 64)):
        res = optimize.minimize_scalar(lambda a: -A.approx_objective(a, n, "cosine", d),
                                       bounds=(1e-6, 200), method="bounded",
                                       options={"xatol": 1e-9})
        assert abs(A.optimal_scale(n, "cosine", d) - res.x) < 1e-5


def test_vectorised_optima_equal_scalar():
    ns = np.array([40, 333, 5000])
    for dist, d in (("normal", None), ("cosine", 128), ("cosine", 7)):
        v = A.optimal_scales(ns, dist, d)
        for n, a in zip(ns, v):
            assert abs(a - A.optimal_scale(int(n), dist, d)) < 1e-9


@FAST
@given(st.integers(3, 10**6))
def test_gaussian_optimum_is_stationary(n):
    """Invariant: alpha* solves (1 + 2a^2) e^{a^2} = n and lies in (0, sqrt(log n))."""
    a = A.optimal_scale(n)
    assert 0 < a < math.sqrt(math.log(n))
    assert abs(math.log1p(2 * a * a) + a * a - math.log(n)) < 1e-10


@FAST
@given(st.integers(4, 10**5), st.sampled_from([4, 32, 128]))
def test_cosine_optimum_grows_with_n(n, d):
    """Invariant: alpha*(n) increases with n."""
    assert A.optimal_scale(n, "cosine", d) < A.optimal_scale(2 * n, "cosine", d)


def test_fit_scale_law_recovers_coefficient():
    ns = np.arange(40, 20001, 40)
    assert abs(A.fit_scale_law(ns, 0.7 * np.sqrt(np.log(ns))) - 0.7) < 1e-12
    assert abs(A.fit_scale_law(ns, 3.0 * np.log(ns), "log") - 3.0) < 1e-12


def test_mc_objective_agrees_with_direct_mean_and_exceeds_mean_field():
    m, se = A.mc_objective(2.0, 64, trials=200, seed=5)
    s = A.sample_scores(64, trials=200, seed=5)
    assert abs(m - A.scale_objective(s, 2.0).mean()) < 1e-14 and se > 0
    # at small alpha the mean field is accurate
    m, se = A.mc_objective(0.3, 512, trials=100, seed=0)
    assert abs(m - A.approx_objective(0.3, 512)) < 3 * se + 1e-3


def test_sample_optima_shapes():
    r = A.sample_optima(64, trials=5, n_grid=50, seed=0)
    assert r["argmax"].shape == (5,) and r["gap"].min() >= 0


def test_extreme_inputs_stay_finite():
    s = np.array([1e6, -1e6, 0.0])
    assert np.isfinite(A.scaled_softmax(s, 1e3)).all()
    assert np.isfinite(A.softmax_jacobian(s, 1e3)).all()
    assert np.isfinite(A.log_mgf_cosine(1e4, 64))
    assert np.isfinite(A.approx_objective(np.linspace(0, 1e3, 7), 100, "cosine", 64)).all()
    assert np.isfinite(A.optimal_scale(10**12)) and np.isfinite(A.optimal_scale(10**9, "cosine", 512))


@pytest.mark.parametrize("call, name", [
    (lambda: A.scaled_softmax([1.0], 1.0), "s"),
    (lambda: A.scaled_softmax([1.0, np.nan], 1.0), "s"),
    (lambda: A.scaled_softmax([1.0, 2.0], -1.0), "alpha"),
    (lambda: A.softmax_jacobian([[1.0, 2.0]], 1.0), "s"),
    (lambda: A.gradient_l1([1.0, 2.0], float("inf")), "alpha"),
    (lambda: A.collision_probability([0.5, 0.6]), "p"),
    (lambda: A.scale_objective([1.0, 2.0], -2), "alpha"),
    (lambda: A.mgf_normal(-1.0), "alpha"),
    (lambda: A.mgf_normal(40.0), "alpha"),
    (lambda: A.log_mgf_cosine(1.0, 1), "d"),
    (lambda: A.mgf_cosine(1.0, 2.5), "d"),
    (lambda: A.approx_objective(1.0, 1), "n"),
    (lambda: A.approx_objective(1.0, 10, "laplace"), "dist"),
    (lambda: A.approx_objective(1.0, 10, "cosine"), "d"),
    (lambda: A.approx_objective(40.0, 10), "alpha"),
    (lambda: A.optimal_scale(1), "n"),
    (lambda: A.optimal_scales([1, 10]), "ns"),
    (lambda: A.sample_scores(10, trials=0), "trials"),
    (lambda: A.mc_objective(-1.0, 10), "alpha"),
    (lambda: A.sample_optima(10, alpha_max=0.0), "alpha_max"),
    (lambda: A.fit_scale_law([10, 20], [1.0], "log"), "alphas"),
    (lambda: A.fit_scale_law([10, 20], [1.0, 2.0], "cubic"), "form"),
])
def test_bad_input_names_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_top_gap_density_at_zero_matches_sampled_gaps():
    from kexue import attention as A_
    rng = np.random.default_rng(0)
    for n in (2, 16):
        s = np.sort(rng.standard_normal((200_000, n)), axis=1)
        gap = s[:, -1] - s[:, -2]
        h = 0.02
        mc = (gap < h).mean() / h                       # P(gap < h) / h -> f(0) as h -> 0
        assert abs(mc / A_.top_gap_density_at_zero(n) - 1) < 0.06
    # n = 2: the gap is |X - Y| with X - Y ~ N(0, 2): density at 0 is 2 / sqrt(4 pi)
    assert A_.top_gap_density_at_zero(2) == pytest.approx(2 / np.sqrt(4 * np.pi), rel=1e-8)


def test_expected_objective_tends_to_the_gap_density_at_zero():
    from kexue import attention as A_
    m, se = A_.mc_objective(np.array([400.0]), 8, trials=200_000, seed=1)
    assert abs(m[0] - A_.top_gap_density_at_zero(8)) < 4 * se[0] + 0.01


def test_top_gap_density_bad_input_raises_naming_parameter():
    from kexue import attention as A_
    with pytest.raises(ValueError, match="n"):
        A_.top_gap_density_at_zero(1)


def test_score_sampling_checks_the_seed():
    for bad in (-1, 1.5, "bad", np.inf):
        with pytest.raises(ValueError, match="seed"):
            A.mc_objective(1.0, 8, trials=4, seed=bad)
