"""kexue.training.lr_theory: SGD / SignSGD / SoftSign optimal learning rates against Monte Carlo,
quadrature and scipy, and the algebra of the surge."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import integrate, optimize, special

from kexue.training import lr_theory as LT


def _quadratic(d=12, seed=0):
    rng = np.random.default_rng(seed)
    Q = rng.normal(size=(d, d))
    H = Q @ Q.T / d + 0.1 * np.eye(d)
    g = rng.normal(size=d)
    S = rng.normal(size=(d, d))
    return g, H, S @ S.T / d


def test_sgd_optimal_lr_is_the_argmin_of_the_expected_loss():
    g, H, S = _quadratic()
    for B in (1, 7, 300):
        f = lambda eta: -eta * g @ g + 0.5 * eta ** 2 * (g @ H @ g + np.trace(S @ H) / B)
        ref = optimize.minimize_scalar(f, bounds=(0, 10), method="bounded", options={"xatol": 1e-12}).x
        assert LT.sgd_optimal_lr(g, H, S, B) == pytest.approx(ref, rel=1e-6)


def test_sgd_moments_by_monte_carlo():
    g, H, S = _quadratic(d=6, seed=1)
    L = np.linalg.cholesky(S)
    B = 4
    rng = np.random.default_rng(0)
    gb = g + rng.standard_normal((200_000, 6)) @ L.T / math.sqrt(B)
    eta_mc = (gb @ g).mean() / np.einsum("ni,ij,nj->n", gb, H, gb).mean()
    assert eta_mc == pytest.approx(LT.sgd_optimal_lr(g, H, S, B), rel=0.01)


def test_noise_scales_and_b_simple_for_isotropic_hessian():
    g, _, S = _quadratic()
    s = LT.noise_scales(g, 3.0 * np.eye(g.size), S)
    assert s["B_noise"] == pytest.approx(s["B_simple"]) and s["eta_max"] == pytest.approx(1 / 3)
    # a vector Sigma is its diagonal
    v = np.arange(1, g.size + 1.0)
    assert LT.noise_scales(g, np.eye(g.size), v)["B_noise"] == pytest.approx(v.sum() / (g @ g))


@settings(max_examples=30, deadline=None)
@given(st.floats(0.5, 1e4), st.floats(0.1, 1e3), st.floats(1, 1e3))
def test_steps_data_hyperbola(B, Bn, Smin):
    S, E = LT.steps_data_tradeoff(B, Bn, Smin)
    assert (S / Smin - 1) * (E / (Bn * Smin) - 1) == pytest.approx(1.0, rel=1e-9)
    assert S > Smin and E > Bn * Smin


def test_sgd_sdes_stationary_variance_matches_simulation():
    v = LT.simulate_sgd_quadratic_1d(0.1, 1.0, 1.0, 4, steps=2000, chains=2000, seed=0)
    assert v == pytest.approx(LT.sgd_stationary_variance(0.1, 1.0, 1.0, 4), rel=0.05)


def test_sign_mean_against_monte_carlo_and_its_approximation_slope():
    rng = np.random.default_rng(0)
    z = rng.standard_normal(1_000_000)
    assert np.sign(0.3 + z / math.sqrt(8)).mean() == pytest.approx(LT.sign_mean(0.3, 1.0, 8), abs=3e-3)
    assert LT.sign_mean(0.3, 1.0, 8) == pytest.approx(special.erf(0.6), rel=1e-14)
    h = 1e-6   # equal slopes at 0
    assert LT.sign_mean(h, 1.0, 2, approx=True) / h == pytest.approx(LT.sign_mean(h, 1.0, 2) / h, rel=1e-6)


def test_signsgd_exact_matches_monte_carlo_of_the_sign_update():
    d = 16
    H = LT.coupled_hessian(d, 0.1)
    g = np.linspace(-0.3, 0.4, d)
    sig = np.linspace(0.5, 1.5, d)
    for B in (2.0, 30.0):
        m1, m2 = LT.monte_carlo_step_moments(g, sig, B, np.sign, n=100_000, seed=1)
        eta_mc = LT.optimal_lr_from_moments(g, H, m1, m2)[0]
        assert eta_mc == pytest.approx(LT.signsgd_optimal_lr(g, H, sig, B), rel=0.02)


def test_surge_params_match_the_mean_field_curve():
    d, rho = 64, 0.05
    H, g, k2 = LT.coupled_hessian(d, rho), np.full(d, 0.1), 100.0
    sp = LT.surge_params(g, H, k2)
    assert sp["beta_noise"] == pytest.approx(1 / math.sqrt((d - 1) * rho))
    Bs = np.geomspace(1, 1e4, 2001)
    eta = LT.signsgd_optimal_lr(g, H, np.ones(d), Bs, mode="meanfield", kappa2=k2)
    assert Bs[eta.argmax()] == pytest.approx(sp["B_noise"], rel=0.01)
    assert eta.max() == pytest.approx(sp["eta_max"], rel=1e-5)
    dl = LT.signsgd_loss_decrease(g, H, np.ones(d), Bs[::100], mode="meanfield", kappa2=k2)
    assert dl == pytest.approx(sp["dL_max"] / (1 + sp["B_noise2"] / Bs[::100]), rel=1e-10)
    assert 1 / sp["B_noise2"] - 1 / sp["B_noise"] == pytest.approx(4 / (math.pi * k2))


def test_no_surge_when_beta_noise_at_least_one():
    d = 64
    H, g = LT.coupled_hessian(d, 0.01), np.full(d, 0.1)
    sp = LT.surge_params(g, H, 100.0)
    assert sp["beta_noise"] > 1 and sp["B_noise"] == math.inf
    eta = LT.signsgd_optimal_lr(g, H, np.ones(d), np.geomspace(1, 1e5, 50))
    assert (np.diff(eta) > -1e-15).all()


def test_softsign_limits_and_torch_adam_differs():
    x = np.array([-2.0, -0.1, 0.0, 0.37])
    assert (LT.softsign(x, 0.0) == np.sign(x)).all()
    assert 100 * LT.softsign(0.37, 100.0) == pytest.approx(0.37, abs=3e-6)
    assert abs(1e4 * LT.softsign(0.37, 1e4) - 0.37) < 1e-9


@pytest.mark.parametrize("a,b", [(0.5, 0.3), (1.0, 2.0), (-0.7, 0.05), (0.0, 1.3), (3.0, 0.5)])
def test_clip_moments_match_quadrature(a, b):
    pts = [-a - b, -a + b]
    f1 = lambda z: np.clip((a + z) / b, -1, 1) * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    f2 = lambda z: np.clip((a + z) / b, -1, 1) ** 2 * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    q1 = integrate.quad(f1, -40, 40, points=pts, epsabs=1e-13)[0]
    q2 = integrate.quad(f2, -40, 40, points=pts, epsabs=1e-13)[0]
    assert LT.clip_mean(a, b) == pytest.approx(q1, abs=1e-9)
    assert LT.clip_second_moment(a, b) == pytest.approx(q2, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.floats(-5, 5), st.floats(1e-3, 10))
def test_clip_mean_is_odd_bounded_and_tends_to_erf(a, b):
    assert LT.clip_mean(-a, b) == pytest.approx(-LT.clip_mean(a, b), abs=1e-12)
    assert abs(LT.clip_mean(a, b)) < 1
    assert 0 <= LT.clip_second_moment(a, b) <= 1 + 1e-12
    assert LT.clip_mean(a, 1e-10) == pytest.approx(special.erf(a / math.sqrt(2)), abs=1e-12)


def test_clip_mean_slope_at_zero():
    b, h = 1.3, 1e-6
    assert LT.clip_mean(h, b) / h == pytest.approx(special.erf(b / math.sqrt(2)) / b, rel=1e-6)


def test_softsign_moments_quadrature_vs_monte_carlo():
    rng = np.random.default_rng(0)
    x = 0.2 + rng.standard_normal(1_000_000) / 2
    s = x / np.sqrt(x * x + 0.25)
    m1, m2 = LT.softsign_moments(0.2, 1.0, 4, 0.5)
    assert m1 == pytest.approx(s.mean(), abs=2e-3) and m2 == pytest.approx((s * s).mean(), abs=2e-3)
    assert LT.softsign_moments(0.2, 1.0, 4, 0.0)[0] == pytest.approx(special.erf(0.4 / math.sqrt(2)))


def test_adam_eps_reduces_to_signsgd_and_to_sgd():
    d = 8
    H, g, sig = LT.coupled_hessian(d, 0.2), np.linspace(0.05, 0.3, d), np.ones(d)
    assert LT.adam_eps_optimal_lr(g, H, sig, 5.0, 0.0) == pytest.approx(LT.signsgd_optimal_lr(g, H, sig, 5.0), rel=1e-9)
    eps, B = 1e3, 16.0
    sgd = LT.sgd_optimal_lr(g, H, np.full(d, math.pi / 2), B)        # covariance (pi sigma^2 / 2B) I
    mf = LT.adam_eps_optimal_lr(g, H, sig, B, eps, mode="meanfield") / eps
    assert mf == pytest.approx(sgd, rel=1e-3)
    ex = LT.adam_eps_optimal_lr(g, H, sig, B, eps) / eps               # exact: covariance sigma^2 I
    assert ex == pytest.approx(LT.sgd_optimal_lr(g, H, sig ** 2, B), rel=1e-3)


def test_critical_eps_and_surge_condition_agree():
    d, rho, g0 = 64, 0.05, 0.1
    H, g = LT.coupled_hessian(d, rho), np.full(d, g0)
    e_nec = LT.critical_eps_isotropic(g0, d, rho)
    assert e_nec == pytest.approx(g0 * math.sqrt((d - 1) * rho))
    assert LT.surge_condition(g, H, 0.99 * e_nec) and not LT.surge_condition(g, H, 1.01 * e_nec)
    e_peak = LT.critical_eps_isotropic(g0, d, rho, "peak")
    Bs = np.geomspace(1, 1e6, 400)
    for eps, has in ((0.9 * e_peak, True), (1.1 * e_peak, False)):
        eta = LT.adam_eps_optimal_lr(g, H, np.ones(d), Bs, eps, mode="meanfield")
        assert (eta.argmax() < len(Bs) - 1) == has


def test_bad_inputs_name_the_parameter():
    g, H, S = _quadratic(d=4)
    with pytest.raises(ValueError, match="H"):
        LT.noise_scales(g, H[:3], S)
    with pytest.raises(ValueError, match="H"):
        LT.noise_scales(g, -np.eye(4), S)
    with pytest.raises(ValueError, match="Sigma"):
        LT.noise_scales(g, H, np.ones(3))
    with pytest.raises(ValueError, match="B"):
        LT.sgd_optimal_lr(g, H, S, 0)
    with pytest.raises(ValueError, match="B"):
        LT.sgd_loss_decrease(g, H, S, -1)
    with pytest.raises(ValueError, match="B_noise"):
        LT.steps_data_tradeoff(4, 0, 1)
    with pytest.raises(ValueError, match="eta"):
        LT.sgd_stationary_variance(3.0, 1.0, 1.0, 1)
    with pytest.raises(ValueError, match="steps"):
        LT.simulate_sgd_quadratic_1d(0.1, 1.0, 1.0, 1, steps=1)
    with pytest.raises(ValueError, match="sigma"):
        LT.sign_mean(0.1, 0.0, 4)
    with pytest.raises(ValueError, match="mode"):
        LT.signsgd_moments(g, 1.0, 4, mode="other")
    with pytest.raises(ValueError, match="sigma"):
        LT.signsgd_optimal_lr(g, H, -np.ones(4), 4)
    with pytest.raises(ValueError, match="kappa2"):
        LT.signsgd_loss_decrease(g, H, np.ones(4), 4, mode="meanfield", kappa2=-1.0)
    with pytest.raises(ValueError, match="kappa2"):
        LT.surge_params(g, H, 0.0)
    with pytest.raises(ValueError, match="rho"):
        LT.coupled_hessian(4, 1.0)
    with pytest.raises(ValueError, match="m2"):
        LT.optimal_lr_from_moments(g, H, np.ones(4), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="update"):
        LT.monte_carlo_step_moments(g, 1.0, 4, lambda x: x[:, :2], n=10)
    with pytest.raises(ValueError, match="eps"):
        LT.softsign(1.0, -1.0)
    with pytest.raises(ValueError, match="b"):
        LT.clip_mean(0.1, -1.0)
    with pytest.raises(ValueError, match="b"):
        LT.clip_second_moment(0.1, -1.0)
    with pytest.raises(ValueError, match="method"):
        LT.softsign_moments(0.1, 1.0, 4, 0.1, method="mc")
    with pytest.raises(ValueError, match="eps"):
        LT.adam_eps_optimal_lr(g, H, np.ones(4), 4, -0.1)
    with pytest.raises(ValueError, match="eps"):
        LT.surge_condition(g, H, -0.1)
    with pytest.raises(ValueError, match="condition"):
        LT.critical_eps_isotropic(0.1, 8, 0.1, "other")


def test_exact_eps_threshold_matches_bisection_on_the_quadrature_curve():
    d, g0 = 64, 0.1
    g, sig = np.full(d, g0), np.ones(d)
    Bs = np.geomspace(1, 1e8, 60)
    for rho in (0.5 / 63, 0.05):
        e_star = LT.critical_eps_isotropic(g0, d, rho, "exact")
        H = LT.coupled_hessian(d, rho)
        for eps, has in ((0.9 * e_star, True), (1.1 * e_star, False)):
            eta = LT.adam_eps_optimal_lr(g, H, sig, Bs, eps)
            assert (eta.argmax() < len(Bs) - 1 and eta.max() > eta[-1] * (1 + 1e-9)) == has


@pytest.mark.parametrize("b", [1e-2, 2e-3, 9e-4, 1e-4, 1e-6, 2e-8])
def test_clip_moments_accurate_at_small_b(b):
    import mpmath
    mpmath.mp.dps = 40
    a = 0.7
    phi = lambda z: mpmath.exp(-z * z / 2) / mpmath.sqrt(2 * mpmath.pi)
    cl = lambda z: max(-1, min(1, (a + z) / b))
    lo, hi = -a - b, -a + b
    m1 = (-mpmath.ncdf(lo) + (1 - mpmath.ncdf(hi))
          + mpmath.quad(lambda z: (a + z) / b * phi(z), [lo, hi]))
    m2 = (mpmath.ncdf(lo) + (1 - mpmath.ncdf(hi))
          + mpmath.quad(lambda z: ((a + z) / b) ** 2 * phi(z), [lo, hi]))
    assert float(LT.clip_mean(a, b)) == pytest.approx(float(m1), abs=1e-12)
    assert float(LT.clip_second_moment(a, b)) == pytest.approx(float(m2), abs=1e-10)


def test_adam_placement_moments_and_threshold():
    rng = np.random.default_rng(1)
    x = 0.2 + rng.standard_normal(1_000_000) / 2
    s = LT.adam_sign(x, 0.5)
    m1, m2 = LT.softsign_moments(0.2, 1.0, 4, 0.5, placement="outside")
    assert m1 == pytest.approx(s.mean(), abs=2e-3) and m2 == pytest.approx((s * s).mean(), abs=2e-3)
    d, g0, rho = 64, 0.1, 0.5 / 63
    e_star = LT.critical_eps_isotropic(g0, d, rho, "exact", placement="outside")
    assert e_star == pytest.approx(0.15)
    H, g = LT.coupled_hessian(d, rho), np.full(d, g0)
    Bs = np.geomspace(1, 1e8, 60)
    for eps, has in ((0.9 * e_star, True), (1.1 * e_star, False)):
        eta = LT.adam_eps_optimal_lr(g, H, np.ones(d), Bs, eps, placement="outside")
        assert (eta.argmax() < len(Bs) - 1 and eta.max() > eta[-1] * (1 + 1e-9)) == has
    with pytest.raises(ValueError, match="placement"):
        LT.adam_eps_optimal_lr(g, H, np.ones(d), 4.0, 0.1, mode="meanfield", placement="outside")
    with pytest.raises(ValueError, match="eps"):
        LT.adam_sign(1.0, -1.0)
