"""Series against integrals: the integral test, its rectangle sandwich and certified sums.

Chapter: integral-test (kexue.fm/archives/68). For f positive and non-increasing on [a, inf),
comparing f on [n, n+1] with its values at the two ends gives

    f(n+1) <= int_n^{n+1} f <= f(n)                                                   (rect)

and summing over n = a .. N:

    int_a^{N+1} f  <=  S_N = sum_{n=a}^N f(n)  <=  f(a) + int_a^N f                   (sandwich)
    int_{N+1}^inf f  <=  R_N = sum_{n>N} f(n)  <=  int_N^inf f                          (tail)

so the series and the integral converge or diverge together, and finitely many terms plus
two integrals bracket the limit. numpy/scipy only (no autograd); sums are taken with
math.fsum so that 10^6 terms lose no digits.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np
from scipy import integrate

from .._validate import check_instance, check_int_in, check_positive, check_real

__all__ = ["Summand", "power", "log_power", "exp_decay", "sin2_pi", "spike_train",
           "SUMMANDS", "terms", "partial_sums", "series_sum", "integral", "sandwich",
           "tail_bounds", "certified_sum", "check_hypotheses", "harmonic", "gamma_gap",
           "euler_maclaurin_harmonic_gap", "error_sequence"]


@dataclass(frozen=True)
class Summand:
    """A term f(n) of a series, with its antiderivative F where one is known in closed form.

    f and F take and return float64 numpy arrays. `start` is the first index of the series
    (1, or 2 for the logarithmic families). `monotone` says whether f is positive and
    non-increasing on [start, inf), i.e. whether the integral test applies.
    """
    name: str
    f: Callable[[np.ndarray], np.ndarray]
    F: Callable[[np.ndarray], np.ndarray] | None
    start: int = 1
    monotone: bool = True
    tex: str = ""

    def __post_init__(self) -> None:
        for key in ("name", "tex"):
            check_instance(getattr(self, key), str, name=key)
        check_instance(self.f, Callable, name="f")
        if self.F is not None:
            check_instance(self.F, Callable, name="F")
        check_int_in(self.start, 1, None, name="start")          # series start at n = 1 or later


def power(p: float) -> Summand:
    """f(x) = x^-p, F(x) = x^(1-p)/(1-p) (ln x for p = 1). Converges iff p > 1."""
    p = check_positive(p, name="p")
    if p == 1.0:
        F = np.log
    else:
        # x^(1-p)/(1-p): at x = inf this is 0 for p > 1 and inf for p < 1
        def F(x, p=p):
            return np.power(np.asarray(x, dtype=float), 1.0 - p) / (1.0 - p)
    return Summand(f"x^-{p:g}", lambda x, p=p: np.power(np.asarray(x, dtype=float), -p), F,
                   tex=rf"x^{{-{p:g}}}")


def log_power(q: float) -> Summand:
    """f(x) = 1/(x (ln x)^q) from n = 2; F = ln ln x (q = 1) or (ln x)^(1-q)/(1-q)."""
    q = check_positive(q, name="q")
    if q == 1.0:
        def F(x):
            return np.log(np.log(np.asarray(x, dtype=float)))
    else:
        def F(x, q=q):
            return np.power(np.log(np.asarray(x, dtype=float)), 1.0 - q) / (1.0 - q)
    return Summand(f"1/(x ln^{q:g} x)",
                   lambda x, q=q: 1.0 / (np.asarray(x, dtype=float) * np.log(x) ** q), F, start=2,
                   tex=rf"1/(x\ln^{{{q:g}}}x)")


def exp_decay() -> Summand:
    """f(x) = e^-x, F(x) = -e^-x: a geometric series, sum_{n>=1} e^-n = 1/(e - 1)."""
    return Summand("e^-x", lambda x: np.exp(-np.asarray(x, dtype=float)),
                   lambda x: -np.exp(-np.asarray(x, dtype=float)), tex=r"e^{-x}")


def sin2_pi() -> Summand:
    """f(x) = sin^2(pi x): zero at every integer, integral (x - 1)/2 - ... grows without bound.

    Not monotone: the first counterexample to the post's unqualified statement. f(n) is
    evaluated as exactly 0 at integers (sin(pi n) in floating point is ~1e-16 n, not 0).
    """
    def f(x):
        x = np.asarray(x, dtype=float)
        frac = x - np.round(x)                      # sin^2(pi x) = sin^2(pi frac(x)), exact 0 at integers
        return np.sin(np.pi * frac) ** 2

    def F(x):                                        # int sin^2(pi x) dx = x/2 - sin(2 pi x)/(4 pi)
        x = np.asarray(x, dtype=float)
        return x / 2 - np.sin(2 * np.pi * (x - np.round(x))) / (4 * np.pi)
    return Summand("sin^2(pi x)", f, F, monotone=False, tex=r"\sin^2(\pi x)")


def spike_train() -> Summand:
    """Triangles of height 1 and base 2^-n centred at each integer n >= 1, zero elsewhere.

    Not monotone: f(n) = 1 for every n (the series diverges) while the area is
    sum_n 2^-n / 2 = 1/2 (the integral converges): the second counterexample.
    """
    def f(x):
        x = np.asarray(x, dtype=float)
        n = np.maximum(np.round(x), 1.0)
        half = 2.0 ** (-n) / 2                       # half of the base 2^-n (0 past n = 1074)
        with np.errstate(divide="ignore", invalid="ignore"):
            tri = np.clip(1.0 - np.abs(x - n) / half, 0.0, None)
        return np.where(half > 0, tri, (x == n).astype(float))

    def F(x):                                        # area of the spikes up to x
        x = np.asarray(x, dtype=float)
        n = np.maximum(np.round(x), 1.0)
        half = 2.0 ** (-n) / 2
        done = 0.5 * (1.0 - 2.0 ** (-(n - 1)))       # full spikes 1 .. n-1: sum 2^-k / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(half > 0, np.clip((x - (n - half)) / half, 0.0, 2.0), 0.0)  # inside spike n
        inside = np.where(t <= 1, 0.5 * half * t ** 2, half * (1 - 0.5 * (2 - t) ** 2))
        return done + inside                         # area of the spikes on (-inf, x]
    return Summand("spike train", f, F, monotone=False, tex=r"\text{spikes}")


#: The families the chapter's explorer offers, by name.
SUMMANDS = {"x^-p": power, "1/(x ln^q x)": log_power, "e^-x": lambda: exp_decay(),
            "sin^2(pi x)": lambda: sin2_pi(), "spike train": lambda: spike_train()}


def _check_summand(s) -> Summand:
    if not isinstance(s, Summand):
        raise ValueError(f"s must be a Summand (power(p), log_power(q), ...), got {type(s).__name__}")
    return s


def terms(s: Summand, N: int) -> np.ndarray:
    """f(start), ..., f(N) as a float64 array (checked finite and >= 0)."""
    s = _check_summand(s)
    N = check_int_in(N, s.start, None, name="N")
    n = np.arange(s.start, N + 1, dtype=np.float64)
    v = np.asarray(s.f(n), dtype=np.float64)
    if not np.isfinite(v).all():
        raise ValueError(f"s: f is not finite at n = {n[~np.isfinite(v)][0]:g}")
    return v


def partial_sums(s: Summand, N: int) -> np.ndarray:
    """S_start, ..., S_N (cumulative sums in float64; the last one also equals series_sum)."""
    return np.cumsum(terms(s, N))


def series_sum(s: Summand, N: int) -> float:
    """S_N = sum_{n=start}^N f(n), correctly rounded (math.fsum)."""
    return math.fsum(terms(s, N).tolist())


def integral(s: Summand, a: float, b: float, points=None) -> float:
    """int_a^b f: F(b) - F(a) when the antiderivative is known, else adaptive quadrature.

    Without an antiderivative and for f not monotone, the range is split at every integer and
    at the given `points` (where f has corners or narrow features): quadrature only sees f at
    its nodes, and a feature narrower than their spacing is missed without a warning.
    b may be inf (for monotone f or a known F).
    """
    s = _check_summand(s)
    a = check_real(a, name="a")
    if isinstance(b, bool) or not isinstance(b, numbers.Real) or math.isnan(b) or b == -math.inf:
        raise ValueError(f"b must be a real number or +inf, got {b!r}")
    b = float(b)
    if b < a:
        raise ValueError(f"b must be >= a, got a={a}, b={b}")
    if s.F is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            val = float(s.F(np.float64(b)) - s.F(np.float64(a)))
        if not math.isnan(val):
            return val
        if not (s.monotone and math.isinf(b)):
            raise ValueError(f"b: the antiderivative is not defined at {b}")
        # F(inf) evaluates to inf/inf or similar: integrate the tail instead
    if not s.monotone and math.isinf(b):
        raise ValueError(f"s: {s.name} has no antiderivative and is not monotone: give a finite b")
    if s.monotone:
        val, _ = integrate.quad(lambda x: float(s.f(np.float64(x))), a, b, limit=500)
        return float(val)
    # one piece per unit interval, so that a feature near an integer cannot be stepped over
    extra = np.asarray([] if points is None else points, dtype=float).ravel()
    if not np.isfinite(extra).all():
        raise ValueError("points must be finite numbers")
    edges = np.concatenate([[a], np.arange(math.ceil(a), math.floor(b) + 1), extra, [b]])
    edges = np.unique(edges[(edges >= a) & (edges <= b)])
    val = math.fsum(integrate.quad(lambda x: float(s.f(np.float64(x))), lo, hi, limit=200)[0]
                    for lo, hi in zip(edges[:-1], edges[1:]))
    return float(val)


def sandwich(s: Summand, N: int) -> tuple[float, float]:
    """(int_start^{N+1} f, f(start) + int_start^N f): the bounds on S_N of eq. (sandwich).

    Valid when f is positive and non-increasing (s.monotone); for other f the numbers are
    returned all the same, which is how the chapter shows the bounds failing.
    """
    s = _check_summand(s)
    N = check_int_in(N, s.start, None, name="N")
    lo = integral(s, s.start, N + 1)
    hi = float(s.f(np.float64(s.start))) + integral(s, s.start, N)
    return lo, hi


def tail_bounds(s: Summand, N: int) -> tuple[float, float]:
    """(int_{N+1}^inf f, int_N^inf f): bounds on the tail R_N = sum_{n>N} f(n), eq. (tail)."""
    s = _check_summand(s)
    N = check_int_in(N, s.start, None, name="N")
    return integral(s, N + 1, math.inf), integral(s, N, math.inf)


def certified_sum(s: Summand, N: int) -> tuple[float, float]:
    """An interval [S_N + int_{N+1}^inf f, S_N + int_N^inf f] that contains the infinite sum.

    Raises ValueError when the hypotheses fail (f not monotone) or the tail integral diverges
    (then there is nothing to certify: the series diverges).
    """
    s = _check_summand(s)
    if not s.monotone:
        raise ValueError(f"s: {s.name} is not positive and non-increasing; the tail bound does not hold")
    lo, hi = tail_bounds(s, N)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"s: the tail integral of {s.name} diverges, so does the series")
    S = series_sum(s, N)
    return S + lo, S + hi


def check_hypotheses(s: Summand, a: float, b: float, grid: int = 10_001) -> None:
    """Check on a grid of [a, b] that f is positive and non-increasing (the test's hypotheses);
    raise ValueError naming the first x where it is not."""
    s = _check_summand(s)
    a, b = check_real(a, name="a"), check_real(b, name="b")
    if not b > a:
        raise ValueError(f"b must be > a, got a={a}, b={b}")
    grid = check_int_in(grid, 3, 10**7, name="grid")
    x = np.linspace(a, b, grid)
    y = np.asarray(s.f(x), dtype=float)
    if not np.isfinite(y).all():
        raise ValueError(f"s: f is not finite at x = {x[~np.isfinite(y)][0]:.6g}")
    if (y <= 0).any():
        raise ValueError(f"s: f is not positive at x = {x[y <= 0][0]:.6g}")
    rises = np.diff(y) > 1e-12 * np.abs(y[:-1])
    if rises.any():
        raise ValueError(f"s: f increases after x = {x[:-1][rises][0]:.6g}")


def harmonic(N: int, exact: bool = False) -> float | Fraction:
    """H_N = sum_{n=1}^N 1/n: a Fraction when exact (N <= 5000), else a correctly rounded float."""
    if exact:
        N = check_int_in(N, 1, 5000, name="N")
        return sum((Fraction(1, n) for n in range(1, N + 1)), Fraction(0))
    N = check_int_in(N, 1, 10**8, name="N")
    return math.fsum((1.0 / np.arange(1, N + 1, dtype=np.float64)).tolist())


def gamma_gap(N: int) -> float:
    """H_N - ln N, which decreases to the Euler-Mascheroni constant gamma (eq. (sandwich) with
    f = 1/x shows it is bounded below by ln(1 + 1/N) > 0)."""
    return harmonic(N) - math.log(check_int_in(N, 1, 10**8, name="N"))


def euler_maclaurin_harmonic_gap(N: int, gamma: float = 0.5772156649015329) -> float:
    """gamma + 1/(2N) - 1/(12 N^2) + 1/(120 N^4): the Euler-Maclaurin expansion of H_N - ln N."""
    N = check_int_in(N, 1, None, name="N")
    gamma = check_real(gamma, name="gamma")
    return gamma + 1 / (2 * N) - 1 / (12 * N**2) + 1 / (120 * N**4)


def error_sequence(s: Summand, N: int) -> np.ndarray:
    """a_n = S_n - int_start^n f for n = start .. N: non-increasing and >= 0 when f is positive
    and non-increasing (each step adds f(n+1) - int_n^{n+1} f <= 0)."""
    s = _check_summand(s)
    N = check_int_in(N, s.start, None, name="N")
    S = partial_sums(s, N)
    ints = np.array([integral(s, s.start, n) for n in range(s.start, N + 1)])
    return S - ints
