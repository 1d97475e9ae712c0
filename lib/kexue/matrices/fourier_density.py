"""Fourier basis density model (FBDM): a non-negative density from a trigonometric polynomial.

Chapter: fourier-density (Su Jianlin, "用傅里叶级数拟合一维概率密度函数", kexue.fm/archives/10007;
De la Fuente, Singh and Balle, "Fourier Basis Density Model", 2024).

On [-1, 1], f(x) = sum_{|n|<=N} c_n e^{i pi n x} with the autocorrelation coefficients
c_n = sum_{k=0}^{N-n} a_k conj(a_{k+n}) (c_{-n} = conj(c_n)) equals |sum_k a_k e^{-i pi k x}|^2 >= 0,
integrates to 2 c_0, and p = f / (2 c_0) is a density. The real line is reached by
x = tanh((y - mu)/sigma). Functions take numpy or torch input and hand back the same kind
(torch keeps autograd, complex128 coefficients); fit_fbdm runs scipy's L-BFGS-B on a numpy
objective with analytic gradients (checked against torch autograd), so fits are reproducible.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.stats import gaussian_kde
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from .._validate import (as_float_array, check_finite_result, check_int_in, check_nonnegative,
                         check_positive, check_real, check_real_or_tensor, check_seed, is_tensor)

__all__ = ["fbdm_coeffs", "fbdm_objective_grad", "fourier_series", "fbdm_density", "fbdm_cdf", "fbdm_sample",
           "fbdm_log_density_real", "fbdm_nll", "fbdm_smoothness", "toeplitz_from_c", "fit_fbdm",
           "mixture_logpdf", "mixture_sample", "kde_logpdf", "gmm_logpdf", "fit_gmm_gradient",
           "local_maxima"]


def _coeff_vector(a, *, name: str = "a"):
    """a as a complex vector (numpy complex128 or a torch complex tensor); rejects empty, NaN, 0."""
    if is_tensor(a):
        t = a if a.is_complex() else a.to(torch.complex128)
        if t.ndim != 1 or t.numel() == 0:
            raise ValueError(f"{name} must be a non-empty 1-D vector, got shape {tuple(t.shape)}")
        if not bool(torch.isfinite(torch.view_as_real(t.detach())).all()):
            raise ValueError(f"{name} must contain only finite numbers (found NaN or inf)")
        if float((abs(t.detach()) ** 2).sum()) == 0.0:
            raise ValueError(f"{name} must not be all zero (c_0 = sum |a_k|^2 would vanish)")
        return t, True
    arr = np.asarray(a, dtype=complex)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D vector, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must contain only finite numbers (found NaN or inf)")
    if float(np.sum(np.abs(arr) ** 2)) == 0.0:
        raise ValueError(f"{name} must not be all zero (c_0 = sum |a_k|^2 would vanish)")
    return arr, False


def _points(x, is_torch: bool, ref, *, name: str = "x", lo: float = -1.0, hi: float = 1.0):
    """x in [lo, hi] as the same kind as the coefficients (float64)."""
    xs, x_torch = as_float_array(x, name=name, min_ndim=0)
    xv = xs.detach() if x_torch else xs
    if float(xv.min()) < lo or float(xv.max()) > hi:
        raise ValueError(f"{name} must lie in [{lo}, {hi}]")
    if is_torch:
        return xs.to(torch.float64) if x_torch else torch.as_tensor(xs, dtype=torch.float64)
    return xs.detach().cpu().numpy() if x_torch else xs


@lru_cache(maxsize=64)
def _diag_sums(size: int) -> np.ndarray:
    """S with (S @ vec(M))_n = sum_k M[k, k+n]: the superdiagonal sums of a size x size matrix."""
    S = np.zeros((size, size * size))
    for n in range(size):
        k = np.arange(size - n)
        S[n, k * size + k + n] = 1.0
    return S


def fbdm_coeffs(a):
    """c_n = sum_{k=0}^{N-n} a_k conj(a_{k+n}), n = 0..N (the autocorrelation of a)."""
    a, t = _coeff_vector(a)
    size = a.shape[0]
    S = _diag_sums(size)
    if t:
        outer = (a[:, None] * a.conj()[None, :]).reshape(-1)               # M[k, l] = a_k conj(a_l)
        St = torch.as_tensor(S, dtype=torch.float64)
        return torch.complex(St @ outer.real, St @ outer.imag)
    return S @ np.outer(a, a.conj()).reshape(-1)


def fourier_series(c, x):
    """f(x) = c_0 + 2 Re sum_{n>=1} c_n e^{i pi n x} for coefficients c_0..c_N with c_{-n} = conj(c_n)
    (c_0 taken real). Any c: nothing makes this non-negative."""
    t = is_tensor(c)
    if t:
        c = c if c.is_complex() else c.to(torch.complex128)
        ok = c.ndim == 1 and c.numel() > 0 and bool(torch.isfinite(torch.view_as_real(c.detach())).all())
    else:
        try:
            c = np.asarray(c, dtype=complex)
        except (TypeError, ValueError):
            raise ValueError("c must be a vector of numbers") from None
        ok = c.ndim == 1 and c.size > 0 and bool(np.isfinite(c).all())
    if not ok:
        raise ValueError(f"c must be a non-empty finite 1-D vector, got shape {tuple(c.shape)}")
    xs = _points(x, t, c)
    n = torch.arange(1, c.shape[0], dtype=torch.float64) if t else np.arange(1, c.shape[0])
    lib = torch if t else np
    phase = math.pi * xs[..., None] * n                                     # (..., N)
    e = lib.cos(phase) + 1j * lib.sin(phase)
    return c[0].real + 2 * (e * c[1:]).sum(-1).real


def _amplitude2(a, xs, t: bool):
    """|A(x)|^2 with A(x) = sum_k a_k e^{-i pi k x}, so that f(x) = |A(x)|^2 (real arithmetic:
    A = C a - i S a with C = cos(pi k x), S = sin(pi k x))."""
    lib = torch if t else np
    k = lib.arange(a.shape[0], dtype=torch.float64) if t else np.arange(a.shape[0])
    phase = math.pi * xs[..., None] * k                                     # (..., N+1)
    C, S = lib.cos(phase), lib.sin(phase)
    re, im = a.real, a.imag
    amp_re = C @ re + S @ im
    amp_im = C @ im - S @ re
    return amp_re ** 2 + amp_im ** 2


def fbdm_density(a, x):
    """p(x) = |sum_k a_k e^{-i pi k x}|^2 / (2 sum_k |a_k|^2) on [-1, 1]; equals
    Re[1/2 + sum_{n>=1} (c_n/c_0) e^{i pi n x}] (post, normalised series). Integrates to 1."""
    a, t = _coeff_vector(a)
    xs = _points(x, t, a)
    return _amplitude2(a, xs, t) / (2 * (abs(a) ** 2).sum())


def fbdm_cdf(a, x):
    """Phi(x) = (x+1)/2 + Re sum_{n=1}^N (c_n/c_0) (e^{i pi n x} - (-1)^n) / (i pi n)."""
    a, t = _coeff_vector(a)
    xs = _points(x, t, a)
    c = fbdm_coeffs(a)
    lib = torch if t else np
    n = lib.arange(1, c.shape[0], dtype=torch.float64) if t else np.arange(1, c.shape[0])
    phase = math.pi * xs[..., None] * n
    e = lib.cos(phase) + 1j * lib.sin(phase)
    sign = (-1.0) ** n
    return (xs + 1) / 2 + ((c[1:] / c[0]) * (e - sign) / (1j * math.pi * n)).sum(-1).real


def fbdm_sample(a, n: int, seed: int = 0) -> np.ndarray:
    """n draws on [-1, 1] by inverting Phi with bisection (60 halvings: error < 2^-59). numpy."""
    a, t = _coeff_vector(a)
    a = a.detach().cpu().numpy() if t else a
    n = check_int_in(n, 1, None, name="n")
    check_seed(seed)
    u = np.random.default_rng(seed).uniform(size=n)
    lo, hi = -np.ones(n), np.ones(n)
    for _ in range(60):
        mid = (lo + hi) / 2
        below_ = fbdm_cdf(a, mid) < u
        lo, hi = np.where(below_, mid, lo), np.where(below_, hi, mid)
    return (lo + hi) / 2


def fbdm_log_density_real(a, mu, sigma, y):
    """log q(y), q(y) = (1/sigma) sech^2(z) p(tanh z), z = (y - mu)/sigma, a density on R.

    log sech^2 z = 2 log 2 - 2|z| - 2 log(1 + e^{-2|z|}) (no overflow); mu, sigma may be tensors.
    """
    a, t = _coeff_vector(a)
    ys, y_t = as_float_array(y, name="y", min_ndim=0)
    if not t and y_t:
        raise ValueError("y must be numpy when a is numpy")
    if t and not y_t:
        ys = torch.as_tensor(ys, dtype=torch.float64)
    lib = torch if t else np
    check_real_or_tensor(mu, name="mu")
    sig = sigma if is_tensor(sigma) else check_positive(sigma, name="sigma")
    if is_tensor(sig) and not bool((sig.detach() > 0).all()):
        raise ValueError("sigma must be > 0")
    z = (ys - mu) / sig
    x = lib.tanh(z)
    log_sech2 = 2 * math.log(2) - 2 * lib.abs(z) - 2 * lib.log1p(lib.exp(-2 * lib.abs(z)))
    log_p = lib.log(_amplitude2(a, x, t)) - math.log(2) - lib.log((abs(a) ** 2).sum())
    log_sig = torch.log(sig) if is_tensor(sig) else math.log(sig)
    return log_p + log_sech2 - log_sig


def fbdm_nll(a, mu, log_sigma, y):
    """Mean negative log-likelihood -mean_i log q(y_i) with sigma = e^{log_sigma} (torch or numpy)."""
    check_real_or_tensor(log_sigma, name="log_sigma")
    sig = torch.exp(log_sigma) if is_tensor(log_sigma) else math.exp(float(log_sigma))
    return -fbdm_log_density_real(a, mu, sig, y).mean()


def fbdm_smoothness(a, normalized: bool = True):
    """int_{-1}^1 |g'|^2 dx = 2 pi^2 sum_{|n|<=N} n^2 |c_n|^2 for g = f (normalized=False, the post's
    penalty) or g = p = f / (2 c_0) (normalized=True, invariant to the scale of a)."""
    c = fbdm_coeffs(a)
    t = is_tensor(c)
    n = torch.arange(c.shape[0], dtype=torch.float64) if t else np.arange(c.shape[0])
    # |c_{-n}| = |c_n|: the sum over n = -N..N is twice the sum over n >= 1
    s = 2 * math.pi ** 2 * 2 * (n ** 2 * abs(c) ** 2).sum()
    return s / (2 * c[0].real) ** 2 if normalized else s


def toeplitz_from_c(c, size: int | None = None) -> np.ndarray:
    """Hermitian Toeplitz matrix T_{nm} = c_{n-m} (c_{-n} = conj c_n, c_n = 0 for |n| > N); numpy."""
    try:
        c = np.asarray(c.detach() if is_tensor(c) else c, dtype=complex)
    except (TypeError, ValueError):
        raise ValueError("c must be a vector of numbers") from None
    if c.ndim != 1 or c.size == 0 or not np.isfinite(c).all():
        raise ValueError(f"c must be a non-empty finite vector, got shape {c.shape}")
    size = c.size if size is None else check_int_in(size, 1, None, name="size")
    full = np.zeros(size, dtype=complex)
    full[: min(size, c.size)] = c[: min(size, c.size)]
    idx = np.arange(size)
    d = idx[:, None] - idx[None, :]
    return np.where(d >= 0, full[np.abs(d)], full[np.abs(d)].conj())


_FITS: dict = {}      # memo of fit_fbdm results (deterministic in its arguments)


def _lbfgs(fun, theta0: np.ndarray, iters: int) -> tuple[np.ndarray, int]:
    """Minimise fun(theta: tensor) -> scalar tensor by scipy's L-BFGS-B with torch gradients
    (used by fit_gmm_gradient)."""
    def value_and_grad(theta):
        t = torch.as_tensor(theta, dtype=torch.float64).requires_grad_(True)
        loss = fun(t)
        (g,) = torch.autograd.grad(loss, t)
        return float(loss.detach()), g.numpy().astype(np.float64)

    with threadpool_limits(1):             # BLAS threads only cost time on problems this small
        res = minimize(value_and_grad, theta0, jac=True, method="L-BFGS-B",
                       options={"maxiter": iters, "ftol": 1e-13, "gtol": 1e-9, "maxcor": 20})
    return res.x, int(res.nit)


def fbdm_objective_grad(theta, y, gamma: float = 0.0, penalty: str = "density"):
    """NLL + gamma * penalty and its gradient in numpy, for theta = (Re a, Im a, mu, log sigma).

    Wirtinger calculus: for real L, dL/dRe a_j + i dL/dIm a_j = 2 dL/d conj(a_j), with
    d|A_i|^2 / d conj(a_j) = A_i conj(E_ij), E_ij = e^{-i pi j x_i}, and
    d|c_n|^2 / d conj(a_j) = conj(c_n) a_{j-n} + c_n a_{j+n}. numpy only (no torch), so a fit gives
    the same numbers whatever SIMD path torch takes.
    """
    theta, _ = as_float_array(theta, name="theta", max_ndim=1)
    ys, _ = as_float_array(y, name="y", max_ndim=1)
    theta, ys = np.asarray(theta), np.asarray(ys)
    if theta.size < 4 or theta.size % 2:
        raise ValueError(f"theta must hold (Re a, Im a, mu, log sigma): an even size >= 4, got {theta.size}")
    if penalty not in ("density", "unnormalized"):
        raise ValueError(f"penalty must be one of ['density', 'unnormalized'], got {penalty!r}")
    gamma = check_nonnegative(gamma, name="gamma")
    N = (theta.size - 2) // 2 - 1
    a = theta[: N + 1] + 1j * theta[N + 1: 2 * N + 2]
    mu, log_sigma = theta[-2], theta[-1]
    sigma = math.exp(log_sigma)
    k = np.arange(N + 1)
    z = (ys - mu) / sigma
    x = np.tanh(z)
    E = np.exp(-1j * math.pi * np.outer(x, k))                             # (n, N+1)
    A = E @ a
    R = A.real ** 2 + A.imag ** 2
    c0 = float(np.sum(np.abs(a) ** 2))
    log_sech2 = 2 * math.log(2) - 2 * np.abs(z) - 2 * np.log1p(np.exp(-2 * np.abs(z)))
    n = ys.size
    value = -np.mean(np.log(R) - math.log(2) - math.log(c0) + log_sech2 - log_sigma)
    G = -(E.conj().T @ (A / R)) / n + a / c0                              # dL / d conj(a)
    dA_dx = E @ (a * (-1j * math.pi * k))
    dlogq_dz = (2 * (A.conj() * dA_dx).real / R) * (1 - x ** 2) - 2 * x
    dL_dz = -dlogq_dz / n
    g_mu = float(np.sum(dL_dz) * (-1 / sigma))
    g_ls = float(np.sum(dL_dz * (-z)) + 1.0)
    if gamma > 0:
        c = fbdm_coeffs(a)
        nn = np.arange(N + 1)
        S = float(np.sum(nn ** 2 * np.abs(c) ** 2))
        dS = np.zeros(N + 1, dtype=complex)                               # dS / d conj(a_j)
        for m in range(1, N + 1):
            dS[m:] += m ** 2 * np.conj(c[m]) * a[: N + 1 - m]             # conj(c_m) a_{j-m}
            dS[: N + 1 - m] += m ** 2 * c[m] * a[m:]                     # c_m a_{j+m}
        if penalty == "density":                                          # pi^2 S / c0^2
            value += gamma * math.pi ** 2 * S / c0 ** 2
            G = G + gamma * math.pi ** 2 * (dS / c0 ** 2 - 2 * S * a / c0 ** 3)
        else:                                                             # 4 pi^2 S
            value += gamma * 4 * math.pi ** 2 * S
            G = G + gamma * 4 * math.pi ** 2 * dS
    grad = np.concatenate([2 * G.real, 2 * G.imag, [g_mu, g_ls]])
    return float(value), grad


def fit_fbdm(y, N: int, gamma: float = 0.0, *, penalty: str = "density", iters: int = 300,
             seed: int = 0, train_scale: bool = True) -> dict:
    """Maximum likelihood for FBDM on data y (scipy L-BFGS-B on :func:`fbdm_objective_grad`):

        min_{a, mu, log sigma}  -mean_i log q(y_i) + gamma * R(a),
        R = int |p'|^2 (penalty "density") or int |f'|^2 (penalty "unnormalized", the post's form).

    a starts at (1, 0.01 noise...), mu and sigma at the data's mean and standard deviation
    (trained too unless train_scale=False). Returns numpy a, mu, sigma, train_nll, penalty value.
    """
    ys, _ = as_float_array(y, name="y", max_ndim=1)
    ys = np.asarray(ys.detach() if is_tensor(ys) else ys)
    if ys.size < 2:
        raise ValueError(f"y must hold at least 2 samples, got {ys.size}")
    N = check_int_in(N, 1, 256, name="N")
    gamma = check_nonnegative(gamma, name="gamma")
    if penalty not in ("density", "unnormalized"):
        raise ValueError(f"penalty must be one of ['density', 'unnormalized'], got {penalty!r}")
    iters = check_int_in(iters, 1, 100_000, name="iters")
    check_seed(seed)
    key = (ys.tobytes(), N, gamma, penalty, iters, seed, bool(train_scale))
    if key in _FITS:                       # the same fit asked twice (chapter and explorer): reuse it
        return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in _FITS[key].items()}
    rng = np.random.default_rng(seed)
    theta0 = np.concatenate([[1.0], 0.01 * rng.standard_normal(N), [0.0], 0.01 * rng.standard_normal(N),
                             [ys.mean(), math.log(ys.std() + 1e-12)]])
    fixed = theta0[-2:].copy()

    def objective(theta):
        if not train_scale:
            theta = np.concatenate([theta[:-2], fixed])
        value, grad = fbdm_objective_grad(theta, ys, gamma, penalty)
        if not train_scale:
            grad[-2:] = 0.0
        return value, grad

    with threadpool_limits(1):             # BLAS threads only cost time on problems this small
        res = minimize(objective, theta0, jac=True, method="L-BFGS-B",
                       options={"maxiter": iters, "ftol": 1e-13, "gtol": 1e-9, "maxcor": 20})
    theta = res.x if train_scale else np.concatenate([res.x[:-2], fixed])
    a = theta[: N + 1] + 1j * theta[N + 1: 2 * N + 2]
    mu, sigma = float(theta[-2]), math.exp(float(theta[-1]))
    pen = float(fbdm_smoothness(a, normalized=(penalty == "density")))
    nll = float(fbdm_nll(a, mu, math.log(sigma), ys))
    out = {"a": a, "mu": mu, "sigma": sigma, "train_nll": nll, "penalty": pen,
           "objective": nll + gamma * pen, "iterations": int(res.nit)}
    check_finite_result(out["train_nll"], what="fit_fbdm")
    _FITS[key] = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in out.items()}
    return out


# -- targets and baselines (numpy) -----------------------------------------------------------
def _mixture(weights, means, stds):
    w, _ = as_float_array(weights, name="weights", max_ndim=1)
    m, _ = as_float_array(means, name="means", max_ndim=1)
    s, _ = as_float_array(stds, name="stds", max_ndim=1)
    if not (w.shape == m.shape == s.shape):
        raise ValueError(f"weights, means and stds must have equal lengths, got {w.size}, {m.size}, {s.size}")
    if np.any(w < 0) or abs(w.sum() - 1) > 1e-9:
        raise ValueError("weights must be non-negative and sum to 1")
    if np.any(s <= 0):
        raise ValueError("stds must be > 0")
    return np.asarray(w), np.asarray(m), np.asarray(s)


def mixture_logpdf(y, weights, means, stds) -> np.ndarray:
    """log sum_j w_j N(y; m_j, s_j^2), by log-sum-exp. numpy."""
    w, m, s = _mixture(weights, means, stds)
    ys, _ = as_float_array(y, name="y", min_ndim=0)
    z = (np.asarray(ys)[..., None] - m) / s
    terms = np.log(w) - 0.5 * z ** 2 - np.log(s) - 0.5 * math.log(2 * math.pi)
    top = terms.max(-1, keepdims=True)
    return (top + np.log(np.exp(terms - top).sum(-1, keepdims=True)))[..., 0]


def mixture_sample(n: int, weights, means, stds, seed: int = 0) -> np.ndarray:
    """n draws from the Gaussian mixture (component first, then the normal). numpy."""
    w, m, s = _mixture(weights, means, stds)
    n = check_int_in(n, 1, None, name="n")
    check_seed(seed)
    rng = np.random.default_rng(seed)
    j = rng.choice(w.size, size=n, p=w)
    return m[j] + s[j] * rng.standard_normal(n)


def kde_logpdf(train, y, bw_method: str | float = "scott") -> np.ndarray:
    """log of scipy.stats.gaussian_kde(train) at y (the non-parametric baseline)."""
    tr, _ = as_float_array(train, name="train", max_ndim=1)
    ys, _ = as_float_array(y, name="y", max_ndim=1)
    return gaussian_kde(np.asarray(tr), bw_method=bw_method).logpdf(np.asarray(ys))


def gmm_logpdf(train, y, k: int, seed: int = 0, n_init: int = 5) -> np.ndarray:
    """log-density at y of sklearn's GaussianMixture(k) fitted to train by EM (n_init restarts)."""
    tr, _ = as_float_array(train, name="train", max_ndim=1)
    ys, _ = as_float_array(y, name="y", max_ndim=1)
    k = check_int_in(k, 1, max(1, tr.size // 2), name="k")
    n_init = check_int_in(n_init, 1, 100, name="n_init")
    check_seed(seed, hi=2**32 - 1)
    g = GaussianMixture(k, n_init=n_init, random_state=seed).fit(np.asarray(tr)[:, None])
    return g.score_samples(np.asarray(ys)[:, None])


def fit_gmm_gradient(y, k: int, *, iters: int = 500, seed: int = 0) -> dict:
    """A k-component Gaussian mixture fitted like FBDM, by L-BFGS on the likelihood (torch, float64):
    logits, means (started at k random data points) and log standard deviations (started at the
    data's). For comparison with EM (:func:`gmm_logpdf`). Returns numpy weights, means, stds."""
    ys, _ = as_float_array(y, name="y", max_ndim=1)
    ys = np.asarray(ys.detach() if is_tensor(ys) else ys)
    k = check_int_in(k, 1, max(1, ys.size // 2), name="k")
    iters = check_int_in(iters, 1, 100_000, name="iters")
    check_seed(seed)
    rng = np.random.default_rng(seed)
    yt = torch.as_tensor(ys, dtype=torch.float64)
    theta0 = np.concatenate([np.zeros(k), rng.choice(ys, size=k, replace=False),
                             np.full(k, math.log(ys.std()))])

    def nll(t):
        logits, means, log_s = t[:k], t[k: 2 * k], t[2 * k:]
        z = (yt[:, None] - means) / torch.exp(log_s)
        comp = torch.log_softmax(logits, 0) - 0.5 * z ** 2 - log_s - 0.5 * math.log(2 * math.pi)
        return -torch.logsumexp(comp, 1).mean()

    theta, _ = _lbfgs(nll, theta0, iters)
    t = torch.as_tensor(theta)
    with torch.no_grad():
        return {"weights": torch.softmax(t[:k], 0).numpy().copy(), "means": t[k: 2 * k].numpy().copy(),
                "stds": torch.exp(t[2 * k:]).numpy().copy(), "train_nll": float(nll(t))}


def local_maxima(x, p, min_height: float = 0.0) -> np.ndarray:
    """Positions of the strict interior local maxima of p on the grid x with p >= min_height."""
    xs, _ = as_float_array(x, name="x", max_ndim=1)
    ps, _ = as_float_array(p, name="p", max_ndim=1)
    check_real(min_height, name="min_height")
    if xs.shape != ps.shape or xs.size < 3:
        raise ValueError(f"p must match x (at least 3 points), got {ps.shape} and {xs.shape}")
    xs, ps = np.asarray(xs), np.asarray(ps)
    inner = (ps[1:-1] > ps[:-2]) & (ps[1:-1] > ps[2:]) & (ps[1:-1] >= min_height)
    return xs[1:-1][inner]
