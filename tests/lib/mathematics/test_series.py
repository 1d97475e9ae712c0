"""Tests of kexue.mathematics.series: sums against integrals, checked against scipy's Hurwitz
zeta and digamma, exact fractions, mpmath at 30 digits and direct quadrature."""
from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy import integrate, special

from kexue.mathematics import series as Z


def test_harmonic_exact_float_and_digamma_agree():
    assert Z.harmonic(10, exact=True) == Fraction(7381, 2520)
    for N in (1, 7, 1000, 123_457):
        assert Z.harmonic(N) == pytest.approx(special.digamma(N + 1) + np.euler_gamma, rel=1e-14)
    assert Z.harmonic(200) == float(Z.harmonic(200, exact=True))      # fsum rounds correctly


def test_gamma_gap_matches_euler_maclaurin_and_decreases_to_gamma():
    for N in (10, 1000, 10**6):
        # the next Euler-Maclaurin term is -1/(252 N^6); float64 summation noise is ~1e-15
        assert abs(Z.gamma_gap(N) - Z.euler_maclaurin_harmonic_gap(N, np.euler_gamma)) < 1.01 / (252 * N**6) + 3e-15
    gaps = [Z.gamma_gap(N) for N in (1, 10, 100, 1000)]
    assert all(a > b > np.euler_gamma for a, b in zip(gaps, gaps[1:]))


@pytest.mark.parametrize("p, N", [(2.0, 10), (3.0, 10), (1.5, 100), (1.01, 10**5)])
def test_tail_bounds_bracket_the_hurwitz_zeta_tail(p, N):
    lo, hi = Z.tail_bounds(Z.power(p), N)
    tail = special.zeta(p, N + 1)                    # sum_{n > N} n^-p
    assert lo < tail < hi
    c_lo, c_hi = Z.certified_sum(Z.power(p), N)
    assert c_lo < special.zeta(p) < c_hi


def test_certified_sum_of_the_log_squared_series_matches_mpmath_at_30_digits():
    s = Z.log_power(2.0)
    lo, hi = Z.certified_sum(s, 10**5)
    mpmath.mp.dps = 30
    S = mpmath.fsum(1 / (n * mpmath.log(n) ** 2) for n in range(2, 3001))
    ref_lo, ref_hi = S + 1 / mpmath.log(3001), S + 1 / mpmath.log(3000)   # a wider certified interval
    assert ref_lo < lo < hi < ref_hi
    assert hi - lo < 1e-6


def test_sandwich_holds_for_monotone_terms_and_fails_for_the_counterexamples():
    for s in (Z.power(0.5), Z.power(1.0), Z.power(2.0), Z.log_power(1.0), Z.exp_decay()):
        for N in (s.start, 5, 50):
            lo, hi = Z.sandwich(s, N)
            assert lo <= Z.series_sum(s, N) <= hi
    lo, hi = Z.sandwich(Z.sin2_pi(), 20)
    assert Z.series_sum(Z.sin2_pi(), 20) == 0.0 < lo            # below the lower bound
    lo, hi = Z.sandwich(Z.spike_train(), 20)
    assert Z.series_sum(Z.spike_train(), 20) == 20.0 > hi         # above the upper bound


def test_antiderivatives_match_quadrature():
    for s in (Z.power(0.5), Z.power(1.0), Z.power(2.5), Z.log_power(1.0), Z.log_power(3.0), Z.exp_decay(),
              Z.sin2_pi()):
        a, b = s.start + 0.3, 9.7
        ref = integrate.quad(lambda x: float(s.f(np.float64(x))), a, b, limit=200)[0]
        assert Z.integral(s, a, b) == pytest.approx(ref, rel=1e-10)
        no_F = Z.Summand("q", s.f, None, s.start, s.monotone)
        assert Z.integral(no_F, a, b) == pytest.approx(ref, rel=1e-8)


def test_spike_train_area_is_half_and_its_antiderivative_is_exact():
    s = Z.spike_train()
    x = np.concatenate([np.linspace(0.5, 12.5, 400_001)] +
                       [np.array([n - 2.0**-n / 2, n, n + 2.0**-n / 2]) for n in range(1, 13)])
    x = np.sort(x)
    ref = np.trapezoid(s.f(x), x)                   # exact: f is piecewise linear, corners on the grid
    assert Z.integral(s, 0.5, 12.5) == pytest.approx(ref, rel=1e-12)
    assert Z.integral(s, 0.5, 60.5) == pytest.approx(0.5 * (1 - 2.0**-60), rel=1e-12)
    assert (s.f(np.arange(1, 2000.0)) == 1.0).all()


def test_error_sequence_is_non_increasing_and_positive_for_decreasing_f():
    for s in (Z.power(1.0), Z.power(2.0), Z.exp_decay()):
        a = Z.error_sequence(s, 60)
        assert (np.diff(a) <= 1e-15).all() and (a > 0).all()
    a = Z.error_sequence(Z.power(1.0), 400)
    assert a[-1] == pytest.approx(Z.gamma_gap(400) , rel=1e-12)


@given(st.floats(1.05, 4.0), st.integers(1, 400))
def test_certified_interval_contains_zeta_and_shrinks(p, N):
    lo, hi = Z.certified_sum(Z.power(p), N)
    assert lo <= special.zeta(p) <= hi
    lo2, hi2 = Z.certified_sum(Z.power(p), 2 * N)
    assert hi2 - lo2 <= hi - lo


@given(st.floats(0.2, 3.0), st.integers(2, 300))
def test_partial_sums_are_increasing_and_end_at_the_fsum(p, N):
    S = Z.partial_sums(Z.power(p), N)
    assert (np.diff(S) > 0).all() and S[-1] == pytest.approx(Z.series_sum(Z.power(p), N), rel=1e-13)


def test_check_hypotheses_names_the_offending_point():
    Z.check_hypotheses(Z.power(2.0), 1, 100)
    with pytest.raises(ValueError, match="increases after x = 0.8"):
        Z.check_hypotheses(Z.spike_train(), 0.8, 1.2)
    with pytest.raises(ValueError, match="not positive at x = 1"):
        Z.check_hypotheses(Z.sin2_pi(), 1, 5)


@pytest.mark.parametrize("call, name", [
    (lambda: Z.power(0), "p"),
    (lambda: Z.log_power(-1), "q"),
    (lambda: Z.terms("x^-2", 5), "s"),
    (lambda: Z.partial_sums(Z.log_power(1), 1), "N"),
    (lambda: Z.series_sum(Z.power(2), 2.5), "N"),
    (lambda: Z.integral(Z.power(2), float("nan"), 2), "a"),
    (lambda: Z.integral(Z.power(2), 3, 2), "b"),
    (lambda: Z.integral(Z.power(0.5), 1, math.inf) and Z.certified_sum(Z.power(0.5), 3), "s"),
    (lambda: Z.integral(Z.Summand("q", np.sin, None, monotone=False), 1, math.inf), "s"),
    (lambda: Z.certified_sum(Z.spike_train(), 3), "s"),
    (lambda: Z.check_hypotheses(Z.power(2), 2, 1), "b"),
    (lambda: Z.check_hypotheses(Z.power(2), 1, 2, grid=2), "grid"),
    (lambda: Z.harmonic(0), "N"),
    (lambda: Z.harmonic(10**4, exact=True), "N"),
    (lambda: Z.euler_maclaurin_harmonic_gap(0), "N"),
    (lambda: Z.error_sequence(Z.power(2), 0), "N"),
    (lambda: Z.tail_bounds(Z.power(2), -1), "N"),
    (lambda: Z.sandwich(Z.power(2), True), "N"),
])
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()


def test_integral_falls_back_to_quadrature_where_F_has_no_value_at_infinity():
    s = Z.Summand("ln x / x^2", lambda x: np.log(x) / x**2, lambda x: -(1 + np.log(x)) / x, start=2)
    assert Z.integral(s, 2, math.inf) == pytest.approx((1 + math.log(2)) / 2, rel=1e-9)


def test_breakpoints_let_quadrature_see_the_narrow_spikes():
    s = Z.spike_train()
    blind = Z.Summand("q", s.f, None, monotone=False)
    n = np.arange(1, 31.0)
    corners = np.concatenate([n - 2.0**-n / 2, n + 2.0**-n / 2])
    exact = Z.integral(s, 1, 30)
    assert Z.integral(blind, 1, 30, points=corners) == pytest.approx(exact, rel=1e-12)
    assert Z.integral(blind, 1, 30) < exact - 1e-3                # without them it steps over spikes
    with pytest.raises(ValueError, match="^points"):
        Z.integral(blind, 1, 3, points=[np.nan])


def test_summand_checks_its_fields():
    """A Summand refuses a non-callable term, a non-string label and a start below 1."""
    f = Z.power(2.0).f
    assert Z.Summand("q", f, None).start == 1
    for kw, name in ((dict(name=None), "name"), (dict(f="bad"), "f"), (dict(F="bad"), "F"),
                     (dict(start=0), "start"), (dict(start=1.5), "start"), (dict(tex=None), "tex")):
        with pytest.raises(ValueError, match=name):
            Z.Summand(**{**dict(name="q", f=f, F=None), **kw})
