"""The attention scale, chosen by maximising the softmax gradient (chapter attention-scale).

kexue.fm/archives/9812: the softmax Jacobian of ``p = softmax(alpha * s)``, its half-L1 size
``alpha * (1 - sum p^2)``, the mean-field objective for Gaussian and cosine scores, its optimum
``alpha*(n)`` and a Monte-Carlo estimate of the exact expected objective. numpy + scipy (no
gradients needed); every function here is numpy-only (a torch tensor is refused).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import integrate, optimize, special, stats

from .._validate import (as_float_ndarray, check_choice, check_int_in,
                         check_nonnegative, check_positive, check_seed)
from ..probability import softmax, softmax_jacobian as probability_softmax_jacobian

__all__ = ["SCORE_DISTS", "scaled_softmax", "softmax_jacobian", "gradient_l1",
           "collision_probability", "scale_objective", "mgf_normal", "log_mgf_cosine",
           "mgf_cosine", "approx_objective", "optimal_scale", "optimal_scales", "sample_scores",
           "mc_objective", "sample_optima", "fit_scale_law", "top_gap_density_at_zero"]

SCORE_DISTS = ("normal", "cosine")


def scaled_softmax(s: Any, alpha: float) -> np.ndarray:
    """p = softmax(alpha * s) over the last axis (max-shifted, so no overflow). numpy.

    Chapter attention-scale, the definition p_i = e^{alpha s_i} / Z. ``alpha >= 0``; alpha = 0 gives
    the uniform distribution.
    """
    s = as_float_ndarray(s, name="s")
    if s.shape[-1] < 2:
        raise ValueError(f"s must have at least 2 scores on its last axis, got shape {s.shape}")
    alpha = check_nonnegative(alpha, name="alpha")
    return softmax(alpha * s)                      # kexue.probability: max-shifted, float64


def softmax_jacobian(s: Any, alpha: float) -> np.ndarray:
    """dp_i/ds_j = alpha (p_i delta_ij - p_i p_j) for p = softmax(alpha s); s of shape (n,). numpy.

    Chapter attention-scale, the Jacobian equation. Returns an (n, n) array.
    """
    s = as_float_ndarray(s, name="s", max_ndim=1)
    return alpha * probability_softmax_jacobian(scaled_softmax(s, alpha))   # kexue.probability: diag p - p p^T


def gradient_l1(s: Any, alpha: float) -> float:
    """Half the entrywise L1 norm of the Jacobian, 0.5 * sum_ij |dp_i/ds_j|, summed entry by entry.

    Chapter attention-scale, eq. (target): it equals alpha (1 - sum_i p_i^2) (see
    :func:`scale_objective`, which uses the closed form). numpy.
    """
    return float(0.5 * np.abs(softmax_jacobian(s, alpha)).sum())


def collision_probability(p: Any) -> np.ndarray | float:
    """sum_i p_i^2 over the last axis: the chance that two draws from p coincide. numpy.

    Chapter attention-scale. ``-log`` of it is the Renyi-2 entropy (the post calls the sum itself
    "Renyi entropy"). ``p`` must be a distribution: entries >= 0 summing to 1 within 1e-9.
    """
    arr = as_float_ndarray(p, name="p")
    if (arr < 0).any() or (np.abs(arr.sum(axis=-1) - 1) > 1e-9).any():
        raise ValueError("p must be a probability vector: entries >= 0 summing to 1 (within 1e-9)")
    out = (arr ** 2).sum(axis=-1)
    return float(out) if out.ndim == 0 else out


def scale_objective(s: Any, alpha: float) -> np.ndarray | float:
    """alpha (1 - sum_i p_i^2) with p = softmax(alpha s), over the last axis (batched). numpy.

    Chapter attention-scale, eq. (target): the closed form of :func:`gradient_l1`.
    """
    p = scaled_softmax(s, alpha)
    out = alpha * (1.0 - (p ** 2).sum(axis=-1))
    return float(out) if out.ndim == 0 else out


def _alphas(alpha: Any) -> tuple[np.ndarray, bool]:
    """alpha as a float64 array (scalar or any shape) of finite values >= 0, and whether it was scalar."""
    a = as_float_ndarray(alpha, name="alpha", min_ndim=0)
    if (a < 0).any():
        raise ValueError(f"alpha must be >= 0, got {alpha!r}")
    return a, a.ndim == 0


def mgf_normal(alpha: Any) -> np.ndarray | float:
    """E[e^{alpha s}] = e^{alpha^2 / 2} for s ~ N(0, 1). numpy, vectorised over alpha.

    Chapter attention-scale, eq. (normal). Raises ValueError where the value would overflow
    (alpha > 37.6).
    """
    a, scalar = _alphas(alpha)
    if (a ** 2 / 2 > 709).any():
        raise ValueError("alpha must be <= 37.6 for mgf_normal (e^{alpha^2/2} overflows float64)")
    out = np.exp(a ** 2 / 2)
    return float(out) if scalar else out


def _cosine_series(alpha: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """log 0F1(; d/2; alpha^2/4) and its derivative in alpha, by the positive series (flat arrays)."""
    flat = alpha.reshape(-1)
    half = flat / 2.0
    # terms t_k = (alpha/2)^{2k} Gamma(d/2) / (k! Gamma(k + d/2)); they peak near k ~ alpha/2
    top = float(half.max(initial=0.0))
    kmax = int(np.ceil(top + 12 * np.sqrt(top + 1) + 40))
    k = np.arange(kmax + 1, dtype=np.float64)
    loghalf = np.log(np.where(half > 0, half, 1.0))
    logt = (2 * k[None, :] * loghalf[:, None] - special.gammaln(k + 1)[None, :]
            - special.gammaln(k + d / 2)[None, :] + special.gammaln(d / 2))
    logt[half == 0, 1:] = -np.inf                         # alpha = 0: only the k = 0 term, 1
    logt[:, 0] = 0.0
    value = special.logsumexp(logt, axis=1)
    w = np.exp(logt - value[:, None])                     # weights of the terms, sum to 1
    # d/dalpha of log t_k is 2k/alpha, so d log M / d alpha = E_w[2k] / alpha (= E[s] under tilt)
    deriv = np.where(half > 0, (w @ (2 * k)) / np.where(half > 0, flat, 1.0), 0.0)
    return value.reshape(alpha.shape), deriv.reshape(alpha.shape)


def log_mgf_cosine(alpha: Any, d: int) -> np.ndarray | float:
    """log E[e^{alpha s}] for the cosine s of two random directions in R^d. numpy, vectorised.

    Chapter attention-scale, cosine section. The density of s on [-1, 1] is proportional to
    (1 - s^2)^{(d-3)/2}; its MGF is Gamma(d/2) (2/alpha)^{d/2-1} I_{d/2-1}(alpha) =
    0F1(; d/2; alpha^2/4). We sum the 0F1 series in log space: all its terms are positive, so
    there is no cancellation, and it neither overflows (large alpha) nor underflows (small alpha,
    large d), where the Bessel form with ``scipy.special.ive`` does underflow (e.g. d = 512,
    alpha = 1). ``d >= 2`` integer, ``alpha >= 0``; alpha = 0 gives 0.
    """
    d = check_int_in(d, 2, None, name="d")
    a, scalar = _alphas(alpha)
    out = _cosine_series(a, d)[0]
    return float(out) if scalar else out


def mgf_cosine(alpha: Any, d: int) -> np.ndarray | float:
    """E[e^{alpha s}] for cosine scores in R^d: exp of :func:`log_mgf_cosine`. numpy.

    Raises ValueError where the value overflows float64 (use the log version there).
    """
    lg = np.asarray(log_mgf_cosine(alpha, d))
    if (lg > 709).any():
        raise ValueError("alpha is too large for mgf_cosine (overflow); use log_mgf_cosine")
    out = np.exp(lg)
    return float(out) if out.ndim == 0 else out


def _log_g(alpha: np.ndarray, dist: str, d: int | None, deriv: bool = False):
    """log g(alpha) = log E[e^{2 alpha s}] - 2 log E[e^{alpha s}] (the mean-field n sum p^2),
    and with ``deriv`` also its derivative in alpha."""
    alpha = np.asarray(alpha, dtype=np.float64)
    if dist == "normal":
        return (alpha ** 2, 2 * alpha) if deriv else alpha ** 2
    l2, dl2 = _cosine_series(2 * alpha, d)
    l1, dl1 = _cosine_series(alpha, d)
    return (l2 - 2 * l1, 2 * dl2 - 2 * dl1) if deriv else l2 - 2 * l1


def _check_dist(dist: str, d: int | None) -> int | None:
    check_choice(dist, SCORE_DISTS, name="dist")
    if dist == "cosine":
        if d is None:
            raise ValueError("d must be given (an integer >= 2) when dist='cosine'")
        return check_int_in(d, 2, None, name="d")
    return None


def approx_objective(alpha: Any, n: int, dist: str = "normal", d: int | None = None):
    """Mean-field objective alpha (1 - E[e^{2 alpha s}] / (n E[e^{alpha s}]^2)). numpy, vectorised.

    Chapter attention-scale, eq. (approx): the sums over n scores replaced by n times an
    expectation. dist="normal" gives alpha (1 - e^{alpha^2}/n); dist="cosine" needs the dimension
    ``d``. The value can be negative (the approximation fails once 2 alpha reaches the tail that n
    samples never visit); the true objective never is.
    """
    n = check_int_in(n, 2, None, name="n")
    d = _check_dist(dist, d)
    a, scalar = _alphas(alpha)
    lg = np.asarray(_log_g(a, dist, d)) - math.log(n)
    if (lg > 700).any():
        raise ValueError("alpha is too large: the mean-field objective overflows float64 there")
    out = a * (1.0 - np.exp(lg))
    return float(out) if scalar else out


def optimal_scale(n: int, dist: str = "normal", d: int | None = None) -> float:
    """alpha*(n): the maximiser of :func:`approx_objective`. numpy/scipy.

    Chapter attention-scale. Normal scores: setting the derivative to zero gives
    (1 + 2 a^2) e^{a^2} = n, solved by Brent's method on (0, sqrt(log n)). Cosine scores: a bounded
    scalar search between 0 and the point where the objective returns to zero.
    """
    n = check_int_in(n, 2, None, name="n")
    d = _check_dist(dist, d)
    if dist == "normal":
        logn = math.log(n)
        return float(optimize.brentq(lambda a: math.log1p(2 * a * a) + a * a - logn,
                                     0.0, math.sqrt(logn), xtol=1e-14, rtol=1e-14))
    # f(a) = a (1 - g(a)/n), so f'(a) = 0 <=> log g + log(1 + a (log g)') = log n; the left side
    # increases from 0 (g(0) = 1): bracket its crossing by doubling, then Brent's method.
    def h(a: float) -> float:
        lg, dlg = _log_g(np.asarray(a), dist, d, deriv=True)
        return float(lg + math.log1p(a * dlg)) - logn

    logn = math.log(n)
    hi = 1.0
    while h(hi) < 0:
        hi *= 2.0
    return float(optimize.brentq(h, 0.0, hi, xtol=1e-13, rtol=1e-14))


def optimal_scales(ns: Any, dist: str = "normal", d: int | None = None) -> np.ndarray:
    """alpha*(n) for many n at once: :func:`optimal_scale` by vectorised bisection. numpy.

    Chapter attention-scale (the alpha*(n) curves). Same stationarity condition as
    :func:`optimal_scale`; 64 bisection steps give full float64 precision.
    """
    arr = as_float_ndarray(ns, name="ns", max_ndim=1)
    if (arr < 2).any() or (arr != np.round(arr)).any():
        raise ValueError("ns must be integers >= 2")
    d = _check_dist(dist, d)
    logn = np.log(arr)

    def h(a: np.ndarray) -> np.ndarray:
        lg, dlg = _log_g(a, dist, d, deriv=True)
        return lg + np.log1p(a * dlg) - logn

    lo, hi = np.zeros_like(arr), np.ones_like(arr)
    while (h(hi) < 0).any():
        hi = np.where(h(hi) < 0, 2 * hi, hi)
    for _ in range(64):
        mid = 0.5 * (lo + hi)
        neg = h(mid) < 0
        lo, hi = np.where(neg, mid, lo), np.where(neg, hi, mid)
    return 0.5 * (lo + hi)


def sample_scores(n: int, dist: str = "normal", d: int | None = None, *, trials: int = 1,
                  seed: int | None = None) -> np.ndarray:
    """Draw (trials, n) iid attention scores: N(0, 1), or cosines of random directions in R^d.

    Chapter attention-scale. For cosines, (s + 1)/2 ~ Beta((d-1)/2, (d-1)/2), which is the law of
    the cosine between a fixed unit vector and a uniform random one (density ~ (1-s^2)^{(d-3)/2}).
    numpy.
    """
    n = check_int_in(n, 2, None, name="n")
    d = _check_dist(dist, d)
    trials = check_int_in(trials, 1, None, name="trials")
    rng = np.random.default_rng(None if seed is None else check_seed(seed))
    if dist == "normal":
        return rng.standard_normal((trials, n))
    return 2.0 * rng.beta((d - 1) / 2, (d - 1) / 2, size=(trials, n)) - 1.0


def mc_objective(alpha: Any, n: int, dist: str = "normal", d: int | None = None, *,
                 trials: int = 1000, seed: int | None = None) -> tuple[Any, Any]:
    """Monte-Carlo mean and standard error of alpha (1 - sum p^2) over sampled scores. numpy.

    Chapter attention-scale, the "mean field vs exact" section: the exact expected objective that
    the mean-field formula approximates. The same score samples serve every alpha (common random
    numbers), so a curve over alpha is smooth.
    """
    a, scalar = _alphas(alpha)
    s = sample_scores(n, dist, d, trials=trials, seed=seed)         # (trials, n)
    means, ses = [], []
    for ai in a.reshape(-1):
        vals = scale_objective(s, float(ai))                         # (trials,)
        means.append(vals.mean())
        ses.append(vals.std(ddof=1) / math.sqrt(trials) if trials > 1 else 0.0)
    means, ses = np.asarray(means).reshape(a.shape), np.asarray(ses).reshape(a.shape)
    return (float(means), float(ses)) if scalar else (means, ses)


def sample_optima(n: int, dist: str = "normal", d: int | None = None, *, alpha_max: float = 30.0,
                  n_grid: int = 1500, trials: int = 400, seed: int | None = None) -> dict:
    """Per-sample maximisers of alpha (1 - sum p^2) on a grid over (0, alpha_max]. numpy.

    Chapter attention-scale, "mean field vs exact". For each sampled score vector returns the
    global argmax on the grid (``"argmax"``), the first local maximum (``"first_local"``, NaN where
    the curve has none inside the grid) and the gap between its two largest scores (``"gap"``).
    """
    alpha_max = check_positive(alpha_max, name="alpha_max")
    n_grid = check_int_in(n_grid, 3, None, name="n_grid")
    s = sample_scores(n, dist, d, trials=trials, seed=seed)
    grid = np.linspace(alpha_max / n_grid, alpha_max, n_grid)
    vals = np.stack([scale_objective(s, float(a)) for a in grid], axis=1)     # (trials, grid)
    interior = (vals[:, 1:-1] > vals[:, :-2]) & (vals[:, 1:-1] >= vals[:, 2:])
    has = interior.any(axis=1)
    first = np.where(has, grid[1:-1][interior.argmax(axis=1)], np.nan)
    top2 = np.sort(s, axis=1)[:, -2:]
    return {"argmax": grid[vals.argmax(axis=1)], "first_local": first,
            "gap": top2[:, 1] - top2[:, 0], "grid": grid}


def fit_scale_law(ns: Any, alphas: Any, form: str = "sqrt_log") -> float:
    """Least-squares c in alpha* ~ c sqrt(log n) (form="sqrt_log") or c log n (form="log"). numpy.

    Chapter attention-scale: the post's fits 0.84 sqrt(log n) (Gaussian) and 3.5 log n (cosine,
    d = 128). The line goes through the origin, so c = <phi, alpha> / <phi, phi>.
    """
    check_choice(form, ["sqrt_log", "log"], name="form")
    ns = as_float_ndarray(ns, name="ns", max_ndim=1)
    alphas = as_float_ndarray(alphas, name="alphas", max_ndim=1)
    if ns.shape != alphas.shape:
        raise ValueError(f"alphas must have the shape of ns {ns.shape}, got {alphas.shape}")
    if (ns < 2).any():
        raise ValueError("ns must all be >= 2")
    phi = np.sqrt(np.log(ns)) if form == "sqrt_log" else np.log(ns)
    return float(phi @ alphas / (phi @ phi))




def top_gap_density_at_zero(n: int) -> float:
    """Density at 0 of the gap between the two largest of n iid N(0, 1) scores. numpy/scipy.

    f(0) = n (n - 1) int phi(x)^2 Phi(x)^{n-2} dx (the two largest coincide at x). Chapter
    attention-scale: for large alpha only the top two scores matter, 1 - sum p^2 ~
    2 e^{-alpha gap} / (1 + e^{-alpha gap})^2, and E[alpha (1 - sum p^2)] tends to f(0) as
    alpha -> infinity (substitute u = alpha gap; the integral of 2 e^{-u} / (1 + e^{-u})^2 over
    u > 0 is 1). Quadrature with the peak near sqrt(2 log n) marked.
    """
    n = check_int_in(n, 2, None, name="n")
    def integrand(x: float) -> float:
        return math.exp(math.log(n) + math.log(n - 1) + 2 * stats.norm.logpdf(x)
                        + (n - 2) * stats.norm.logcdf(x))
    peak = math.sqrt(2 * math.log(n))
    return float(integrate.quad(integrand, -12.0, peak + 12.0, points=[peak], limit=200,
                                epsabs=0, epsrel=1e-10)[0])
