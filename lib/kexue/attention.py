"""Attention: the score scale, and the road from multi-head attention to MLA.

Sections (each with the chapter that derives it):

* **attention scale** (chapter ``attention/attention-scale``, kexue.fm/archives/9812): the softmax
  Jacobian of ``p = softmax(alpha * s)``, its half-L1 size ``alpha * (1 - sum p^2)``, the
  mean-field objective for Gaussian and cosine scores, its optimum ``alpha*(n)`` and a
  Monte-Carlo estimate of the exact expected objective. numpy + scipy (no gradients needed).
* **MHA, MQA, GQA, MLA** (chapter ``attention/mha-to-mla``, kexue.fm/archives/10091): KV-cache
  counts, grouped-query attention and multi-head latent attention in its training form and its
  absorbed decoding form. torch (float64-capable), row-vector convention ``x @ W``.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Sequence

import numpy as np
import torch
from scipy import optimize, special

from .probability import softmax, softmax_jacobian as _softmax_jacobian_p
from ._validate import (as_float_array, check_choice, check_finite_result, check_int_in,
                        check_nonnegative, check_positive, check_real)

# =====================================================================================
# --- the attention scale (chapter attention-scale) ---
# =====================================================================================

SCORE_DISTS = ("normal", "cosine")


def _scores(s: Any, name: str = "s") -> np.ndarray:
    arr, is_torch = as_float_array(s, name=name, min_ndim=1)
    if is_torch:
        raise ValueError(f"{name} must be a numpy array or a list (this section is numpy-only)")
    if arr.shape[-1] < 2:
        raise ValueError(f"{name} must have at least 2 scores on its last axis, got shape {arr.shape}")
    return arr


def scaled_softmax(s: Any, alpha: float) -> np.ndarray:
    """p = softmax(alpha * s) over the last axis (max-shifted, so no overflow). numpy.

    Chapter attention-scale, the definition p_i = e^{alpha s_i} / Z. ``alpha >= 0``; alpha = 0 gives
    the uniform distribution.
    """
    s = _scores(s)
    alpha = check_nonnegative(alpha, name="alpha")
    return softmax(alpha * s)                      # kexue.probability: max-shifted, float64


def softmax_jacobian(s: Any, alpha: float) -> np.ndarray:
    """dp_i/ds_j = alpha (p_i delta_ij - p_i p_j) for p = softmax(alpha s); s of shape (n,). numpy.

    Chapter attention-scale, the Jacobian equation. Returns an (n, n) array.
    """
    s = _scores(s)
    if s.ndim != 1:
        raise ValueError(f"s must be 1-D, got shape {s.shape}")
    return alpha * _softmax_jacobian_p(scaled_softmax(s, alpha))   # kexue.probability: diag p - p p^T


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
    arr, is_torch = as_float_array(p, name="p", min_ndim=1)
    if is_torch:
        raise ValueError("p must be a numpy array or a list (this section is numpy-only)")
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
    a = np.asarray(alpha, dtype=np.float64)
    if not np.isfinite(a).all() or (a < 0).any():
        raise ValueError(f"alpha must be finite and >= 0, got {alpha!r}")
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
    arr, _ = as_float_array(ns, name="ns", max_ndim=1)
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
    rng = np.random.default_rng(seed)
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
    ns, _ = as_float_array(ns, name="ns", max_ndim=1)
    alphas, _ = as_float_array(alphas, name="alphas", max_ndim=1)
    if ns.shape != alphas.shape:
        raise ValueError(f"alphas must have the shape of ns {ns.shape}, got {alphas.shape}")
    if (ns < 2).any():
        raise ValueError("ns must all be >= 2")
    phi = np.sqrt(np.log(ns)) if form == "sqrt_log" else np.log(ns)
    return float(phi @ alphas / (phi @ phi))


#: the widget's score distributions: (label, dist, d)
SCALE_WIDGET_DISTS = {"normal": ("Gaussian scores", "normal", None),
                      "cos32": ("cosine, d = 32", "cosine", 32),
                      "cos64": ("cosine, d = 64", "cosine", 64),
                      "cos128": ("cosine, d = 128", "cosine", 128),
                      "cos256": ("cosine, d = 256", "cosine", 256)}


@lru_cache(maxsize=64)
def _scale_curves(key: str, n: int, n_alpha: int, budget: int, seed: int):
    _, dist, d = SCALE_WIDGET_DISTS[key]
    a_star = optimal_scale(n, dist, d)
    grid = np.linspace(0.0, 4.0 * a_star, n_alpha)
    approx = approx_objective(grid, n, dist, d)
    trials = max(16, budget // n)
    mc, se = mc_objective(grid, n, dist, d, trials=trials, seed=seed)
    return a_star, grid, approx, mc, se, trials


def scale_explorer(n_values: Sequence[int] = (64, 256, 1024, 4096, 16384),
                   ratios: Sequence[float] = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0), *,
                   n_alpha: int = 33, budget: int = 1 << 16, seed: int = 0):
    """The attention-scale widget: score distribution (Gaussian / cosine with d), n and alpha.

    Chapter attention-scale. Left panel: the mean-field objective (:func:`approx_objective`) and
    the Monte-Carlo exact objective (:func:`mc_objective`, +-2 standard errors) against alpha,
    with alpha* and the current alpha marked. Right panel: the 20 largest p_i of one sampled score
    vector at the current alpha (uniform -> peaked -> one-hot). alpha is set as a multiple of
    alpha*(n), so one slider serves both distributions. numpy; returns a kexue.widgets.Explorer.
    """
    from . import widgets as _w

    ns = [check_int_in(int(v), 2, None, name="n_values") for v in n_values]
    rs = [check_positive(float(r), name="ratios") for r in ratios]

    def compute(dist: str, n: int, ratio: float) -> dict:
        label, kind, d = SCALE_WIDGET_DISTS[dist]
        a_star, grid, approx, mc, se, trials = _scale_curves(dist, n, n_alpha, budget, seed)
        alpha = ratio * a_star
        s = sample_scores(n, kind, d, trials=1, seed=seed + 1)[0]
        p = np.sort(scaled_softmax(s, alpha))[::-1]
        top = p[:20]
        top_y = float(max(mc.max(), approx.max()))
        lo = -0.5 * top_y                      # the mean field dives far below 0: clip the plot
        curves = _w.panel(
            f"Is alpha* = {a_star:.3g} the best scale? ({label}, n = {n})", "alpha (multiplies the score)",
            "0.5 ||dp/ds||_1", series=[
                {"kind": "line", "x": grid, "y": np.maximum(approx, lo),
                 "label": "mean-field approximation (clipped below)",
                 "color": _w.PALETTE[0]},
                {"kind": "line", "x": grid, "y": mc, "label": f"Monte Carlo ({trials} draws)",
                 "color": _w.PALETTE[3]},
                {"kind": "line", "x": grid, "y": mc + 2 * se, "label": "MC +-2 s.e.",
                 "color": _w.PALETTE[3], "dash": True},
                {"kind": "line", "x": grid, "y": np.maximum(mc - 2 * se, lo), "label": "",
                 "color": _w.PALETTE[3], "dash": True}],
            vlines=[{"x": a_star, "label": "alpha* (mean field)", "color": _w.PALETTE[0]},
                    {"x": alpha, "label": "current alpha", "color": "#555555", "dash": False}],
            hlines=[{"y": 0.0, "label": "", "color": "#999999", "dash": False}],
            ylim=[lo, 1.15 * top_y])
        ranks = list(range(1, top.size + 1))
        bars = _w.panel(f"softmax(alpha s) at alpha = {alpha:.3g}: the 20 largest p_i",
                        "rank of the score", "p_i", series=[
                            {"kind": "bar", "x": ranks, "y": top, "label": "p_i (one draw)",
                             "color": _w.PALETTE[2]}],
                        hlines=[{"y": 1.0 / n, "label": "uniform 1/n", "color": "#555555"}],
                        ylim=[0, 1.05])
        eff = f" · effective scale on q·k: {alpha:.3g}/√d" if kind == "normal" else \
            f" · scale on cos(q, k): {alpha:.3g}"
        text = (f"alpha = {alpha:.3g} ({ratio:g} alpha*) · mean field {float(approx_objective(alpha, n, kind, d)):.4g}"
                f" · this draw: sum p² = {float((p ** 2).sum()):.3f}, max p = {p[0]:.3f}{eff}")
        return _w.frame(curves, bars, text=text)

    controls = [_w.Dropdown("dist", list(SCALE_WIDGET_DISTS), "normal", label="scores",
                            names=[v[0] for v in SCALE_WIDGET_DISTS.values()]),
                _w.Slider("n", ns, ns[len(ns) // 2], label="n (keys)", fmt="{:d}"),
                _w.Slider("ratio", rs, 1.0 if 1.0 in rs else rs[0], label="alpha / alpha*",
                          fmt="{:g}")]
    return _w.Explorer(controls, compute, name="attention scale")


# =====================================================================================
# --- MHA, MQA, GQA and MLA (chapter mha-to-mla) ---
# =====================================================================================
# kexue.fm/archives/10091. torch, row-vector convention x @ W (nn.Linear stores W^T), any float
# dtype (exactness checks in float64). Shapes: B batch, T/S query/key positions, H query heads,
# G key/value heads (groups), D head size.

ATTENTION_KINDS = ("mha", "mqa", "gqa", "mla")
_DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "fp8": 1}

#: Published attention configurations used by the chapter (read from the papers' tables and the
#: released model configs): layers, query heads, head size, K/V heads, MLA latent sizes.
MODEL_CONFIGS = {
    "llama2-7b": {"n_layers": 32, "d_model": 4096, "n_heads": 32, "head_dim": 128, "n_kv_heads": 32},
    "llama2-70b": {"n_layers": 80, "d_model": 8192, "n_heads": 64, "head_dim": 128, "n_kv_heads": 8},
    "deepseek-v2": {"n_layers": 60, "d_model": 5120, "n_heads": 128, "head_dim": 128,
                    "n_kv_heads": 128, "d_c": 512, "d_r": 64, "d_cq": 1536},
}


def kv_cache_elements(kind: str, *, n_layers: int, n_heads: int | None = None,
                      head_dim: int | None = None, n_kv_heads: int | None = None,
                      d_c: int | None = None, d_r: int | None = None) -> int:
    """Numbers cached per token, summed over layers. Exact int.

    Chapter mha-to-mla: MHA 2 h d_k, GQA 2 g d_k, MQA 2 d_k, MLA d_c + d_r (the latent c_i and
    the shared RoPE key), each times n_layers. ``kind`` in {"mha", "mqa", "gqa", "mla"}.
    """
    check_choice(kind, ATTENTION_KINDS, name="kind")
    n_layers = check_int_in(n_layers, 1, None, name="n_layers")
    if kind == "mla":
        if d_c is None or d_r is None:
            raise ValueError("d_c and d_r must be given for kind='mla'")
        d_c = check_int_in(d_c, 1, None, name="d_c")
        d_r = check_int_in(d_r, 0, None, name="d_r")
        return n_layers * (d_c + d_r)
    if head_dim is None:
        raise ValueError(f"head_dim must be given for kind={kind!r}")
    head_dim = check_int_in(head_dim, 1, None, name="head_dim")
    if kind == "mqa":
        return n_layers * 2 * head_dim
    if n_heads is None:
        raise ValueError(f"n_heads must be given for kind={kind!r}")
    n_heads = check_int_in(n_heads, 1, None, name="n_heads")
    if kind == "mha":
        return n_layers * 2 * n_heads * head_dim
    if n_kv_heads is None:
        raise ValueError("n_kv_heads must be given for kind='gqa'")
    g = check_int_in(n_kv_heads, 1, n_heads, name="n_kv_heads")
    if n_heads % g:
        raise ValueError(f"n_kv_heads must divide n_heads = {n_heads}, got {g}")
    return n_layers * 2 * g * head_dim


def kv_cache_bytes(kind: str, *, context: int, batch: int = 1, dtype: str = "bfloat16",
                   **sizes: int) -> int:
    """Bytes of the whole KV cache: elements per token x context x batch x bytes per number.

    Chapter mha-to-mla (the calculator). ``dtype`` in float64/float32/float16/bfloat16/fp8;
    ``sizes`` as for :func:`kv_cache_elements`.
    """
    check_choice(dtype, list(_DTYPE_BYTES), name="dtype")
    context = check_int_in(context, 1, None, name="context")
    batch = check_int_in(batch, 1, None, name="batch")
    return kv_cache_elements(kind, **sizes) * context * batch * _DTYPE_BYTES[dtype]


def config_cache_elements(name: str, kind: str | None = None) -> int:
    """Per-token cache of a named :data:`MODEL_CONFIGS` entry (its own kind by default)."""
    check_choice(name, list(MODEL_CONFIGS), name="name")
    c = MODEL_CONFIGS[name]
    if kind is None:
        kind = "mla" if "d_c" in c else ("mha" if c["n_kv_heads"] == c["n_heads"] else "gqa")
    return kv_cache_elements(kind, n_layers=c["n_layers"], n_heads=c["n_heads"],
                             head_dim=c["head_dim"], n_kv_heads=c["n_kv_heads"],
                             d_c=c.get("d_c"), d_r=c.get("d_r"))


def gqa_head_to_group(n_heads: int, n_groups: int) -> torch.Tensor:
    """0-based K/V group of each query head: contiguous blocks, head s -> floor(s g / h).

    Chapter mha-to-mla: the post's ceil(s g / h) with 1-based s, the layout of
    ``repeat_interleave`` and of SDPA's ``enable_gqa``. torch LongTensor of shape (h,).
    """
    h = check_int_in(n_heads, 1, None, name="n_heads")
    g = check_int_in(n_groups, 1, h, name="n_groups")
    if h % g:
        raise ValueError(f"n_groups must divide n_heads = {h}, got {g}")
    return torch.arange(h) * g // h


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """(B, G, S, D) -> (B, G n_rep, S, D), each K/V head repeated n_rep times in a row. torch."""
    if not torch.is_tensor(x) or x.ndim != 4:
        raise ValueError(f"x must be a 4-D torch tensor (B, G, S, D), got {type(x).__name__}")
    n_rep = check_int_in(n_rep, 1, None, name="n_rep")
    return x.repeat_interleave(n_rep, dim=1)


def _tensor(x: Any, name: str, ndim: int) -> torch.Tensor:
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point torch tensor")
    if x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must contain only finite numbers (found NaN or inf)")
    return x


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     scale: float | None = None) -> torch.Tensor:
    """Causal softmax attention with shared K/V heads. torch.

    q (B, H, T, D), k (B, G, S, D), v (B, G, S, D_v) with G | H and T <= S; query head s reads
    K/V head floor(s G / H); query i sees keys j <= i + S - T (the last T keys are the queries'
    own positions, so T = 1 is one decoding step). scale=None means 1/sqrt(D). Returns
    (B, H, T, D_v). Chapter mha-to-mla; equals SDPA with ``enable_gqa=True`` when T = S.
    """
    q, k, v = _tensor(q, "q", 4), _tensor(k, "k", 4), _tensor(v, "v", 4)
    B, H, T, D = q.shape
    G, S = k.shape[1], k.shape[2]
    if k.shape[0] != B or k.shape[3] != D:
        raise ValueError(f"k must have shape ({B}, G, S, {D}), got {tuple(k.shape)}")
    if tuple(v.shape[:3]) != (B, G, S):
        raise ValueError(f"v must have shape ({B}, {G}, {S}, D_v), got {tuple(v.shape)}")
    if H % G:
        raise ValueError(f"k must have a number of heads dividing {H}, got {G}")
    if T > S:
        raise ValueError(f"q must have at most as many positions as k ({S}), got {T}")
    scale = 1.0 / math.sqrt(D) if scale is None else check_positive(scale, name="scale")
    r = H // G
    # the r query heads of a group share its K/V: stack them as extra query rows instead of
    # copying K/V r times (same result as repeat_kv, without materialising the copies)
    qg = q.reshape(B, G, r * T, D)                                     # heads s = g r + j, contiguous
    s = scale * (qg @ k.transpose(-1, -2)).view(B, G, r, T, S)         # (B, G, r, T, S)
    mask = torch.arange(S)[None, :] <= torch.arange(T)[:, None] + (S - T)
    s = s.masked_fill(~mask, float("-inf"))
    o = torch.softmax(s, dim=-1).view(B, G, r * T, S) @ v               # (B, G, r T, D_v)
    return o.view(B, H, T, v.shape[-1])


class GroupedQueryAttention(torch.nn.Module):
    """Multi-head attention whose h query heads share g K/V heads: MHA (g = h), GQA, MQA (g = 1).

    Chapter mha-to-mla. Weights in the post's convention (x @ W): W_q (d, h D), W_k, W_v (d, g D),
    W_o (h D, d), Gaussian with variance 1/fan_in. :meth:`kv_cache` is what decoding stores:
    (B, g, T, D) keys and values. torch.
    """

    def __init__(self, d: int, n_heads: int, n_kv_heads: int, head_dim: int, *, seed: int = 0,
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        self.d = check_int_in(d, 1, None, name="d")
        self.h = check_int_in(n_heads, 1, None, name="n_heads")
        self.g = check_int_in(n_kv_heads, 1, self.h, name="n_kv_heads")
        if self.h % self.g:
            raise ValueError(f"n_kv_heads must divide n_heads = {self.h}, got {self.g}")
        self.hd = check_int_in(head_dim, 1, None, name="head_dim")
        gen = torch.Generator().manual_seed(check_int_in(seed, 0, None, name="seed"))

        def w(rows, cols):
            return torch.nn.Parameter(torch.randn(rows, cols, generator=gen, dtype=torch.float64)
                                      .div(math.sqrt(rows)).to(dtype))
        self.W_q, self.W_k = w(d, self.h * self.hd), w(d, self.g * self.hd)
        self.W_v, self.W_o = w(d, self.g * self.hd), w(self.h * self.hd, d)

    def _split(self, y: torch.Tensor, heads: int) -> torch.Tensor:   # (B, T, heads D) -> (B, heads, T, D)
        B, T, _ = y.shape
        return y.view(B, T, heads, self.hd).transpose(1, 2)

    def kv_cache(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The cached keys and values of x (B, T, d): two (B, g, T, D) tensors."""
        x = _tensor(x, "x", 3)
        return self._split(x @ self.W_k, self.g), self._split(x @ self.W_v, self.g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Causal self-attention of x (B, T, d) -> (B, T, d)."""
        x = _tensor(x, "x", 3)
        if x.shape[-1] != self.d:
            raise ValueError(f"x must have last dimension d = {self.d}, got {x.shape[-1]}")
        k, v = self.kv_cache(x)
        o = causal_attention(self._split(x @ self.W_q, self.h), k, v)     # (B, h, T, D)
        return o.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1) @ self.W_o

    def as_mha(self) -> "GroupedQueryAttention":
        """The same model as an MHA with h K/V heads: every group's K/V weights copied to its heads."""
        m = GroupedQueryAttention(self.d, self.h, self.h, self.hd, dtype=self.W_q.dtype)
        rep = self.h // self.g
        with torch.no_grad():
            for name in ("W_q", "W_o"):
                getattr(m, name).copy_(getattr(self, name))
            for name in ("W_k", "W_v"):
                w = getattr(self, name).view(self.d, self.g, self.hd)
                getattr(m, name).copy_(w.repeat_interleave(rep, dim=1).reshape(self.d, -1))
        return m

    def stacked_kv_weight(self) -> torch.Tensor:
        """W_c = [W_k, W_v] of shape (d, 2 g D): the low-rank projection GQA already is."""
        return torch.cat([self.W_k, self.W_v], dim=1)


# ---- MLA ----------------------------------------------------------------------------

ROPE_MODES = ("decoupled", "full", "none")


def init_mla(d: int, n_heads: int, d_k: int, d_v: int, d_c: int, d_cq: int, d_r: int, *,
             seed: int = 0, dtype: torch.dtype = torch.float64) -> dict:
    """Random MLA weights (variance 1/fan_in), in the post's x @ W convention. torch.

    Chapter mha-to-mla. W_cq (d, d_cq) and W_c (d, d_c) are the down-projections to the query
    and key/value latents c'_i and c_i; per head s: W_q[s] (d_cq, d_k), W_qr[s] (d_cq, d_r),
    W_k[s] (d_c, d_k), W_v[s] (d_c, d_v), W_o[s] (d_v, d); W_kr (d, d_r) makes the RoPE key that
    all heads share, from x_i (not from c_i). The score scale is 1/sqrt(d_k + d_r) in every form.
    """
    sizes = {"d": d, "n_heads": n_heads, "d_k": d_k, "d_v": d_v, "d_c": d_c, "d_cq": d_cq}
    for name, val in sizes.items():
        check_int_in(val, 1, None, name=name)
    check_int_in(d_r, 0, None, name="d_r")
    if d_r % 2:
        raise ValueError(f"d_r must be even (RoPE rotates pairs), got {d_r}")
    gen = torch.Generator().manual_seed(check_int_in(seed, 0, None, name="seed"))

    def w(*shape):
        return (torch.randn(*shape, generator=gen, dtype=torch.float64)
                / math.sqrt(shape[-2])).to(dtype)
    h = n_heads
    return {"W_cq": w(d, d_cq), "W_q": w(h, d_cq, d_k), "W_qr": w(h, d_cq, d_r),
            "W_c": w(d, d_c), "W_k": w(h, d_c, d_k), "W_v": w(h, d_c, d_v),
            "W_kr": w(d, d_r), "W_o": w(h, d_v, d)}


def cast_weights(W: dict, dtype: torch.dtype) -> dict:
    """The same weights dict in another dtype (the precision lab). torch."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    return {k: v.to(dtype) for k, v in W.items()}


def _mla_inputs(x: Any, W: dict, positions: Any, rope: str):
    check_choice(rope, ROPE_MODES, name="rope")
    x = _tensor(x, "x", 2) if torch.is_tensor(x) and x.ndim == 2 else _tensor(x, "x", 3)
    batched = x.ndim == 3
    x = x if batched else x[None]
    if x.shape[-1] != W["W_c"].shape[0]:
        raise ValueError(f"x must have last dimension d = {W['W_c'].shape[0]}, got {x.shape[-1]}")
    T = x.shape[1]
    pos = torch.arange(T, dtype=torch.float64) if positions is None else positions
    if not torch.is_tensor(pos):
        pos = torch.as_tensor(pos, dtype=torch.float64)
    if pos.shape != (T,):
        raise ValueError(f"positions must have shape ({T},), got {tuple(pos.shape)}")
    return x, batched, pos


def _rope(y: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    from .position import apply_rope                # kexue.position: interleaved pairs, base 1e4
    return apply_rope(y, pos) if y.shape[-1] else y


def _mla_scale(W: dict) -> float:
    return 1.0 / math.sqrt(W["W_q"].shape[-1] + W["W_qr"].shape[-1])


def mla_train_forward(x: torch.Tensor, W: dict, positions: Any = None, rope: str = "decoupled"):
    """MLA in its training (prefill) form: decompress per-head keys and values, run causal MHA.

    Chapter mha-to-mla. q^(s)_i = [c'_i W_q[s], R_i c'_i W_qr[s]], k^(s)_i = [c_i W_k[s], R_i x_i W_kr],
    v^(s)_i = c_i W_v[s], out = sum_s o^(s) W_o[s]; head sizes d_k + d_r (q, k) and d_v (v).
    rope="decoupled" is DeepSeek-V2's; "none" drops every rotation; "full" rotates all d_k + d_r
    dimensions of q and k (what breaks the absorption). x (T, d) or (B, T, d); positions default
    0..T-1. Returns (out like x, k (B, h, T, d_k+d_r), v (B, h, T, d_v)). torch.
    """
    x, batched, pos = _mla_inputs(x, W, positions, rope)
    cq, c = x @ W["W_cq"], x @ W["W_c"]                                  # (B, T, d_cq), (B, T, d_c)
    q_n = torch.einsum("btc,hck->bhtk", cq, W["W_q"])
    q_r = torch.einsum("btc,hcr->bhtr", cq, W["W_qr"])
    k_n = torch.einsum("btc,hck->bhtk", c, W["W_k"])
    k_r = (x @ W["W_kr"])[:, None].expand(-1, q_n.shape[1], -1, -1)     # one head, shared
    v = torch.einsum("btc,hcv->bhtv", c, W["W_v"])
    q, k = torch.cat([q_n, q_r], -1), torch.cat([k_n, k_r], -1)
    if rope == "decoupled":
        q = torch.cat([q_n, _rope(q_r, pos)], -1)
        k = torch.cat([k_n, _rope(k_r, pos)], -1)
    elif rope == "full":
        q, k = _rope(q, pos), _rope(k, pos)
    o = causal_attention(q, k, v, scale=_mla_scale(W))                   # (B, h, T, d_v)
    out = torch.einsum("bhtv,hvd->btd", o, W["W_o"])
    return (out if batched else out[0]), k, v


def mla_absorb(W: dict, mode: str = "merged") -> dict:
    """Weights of MLA's decoding form. torch.

    Chapter mha-to-mla. mode="merged" precomputes W_qc[s] = W_q[s] W_k[s]^T (d_cq, d_c) and
    W_ov[s] = W_v[s] W_o[s] (d_c, d); mode="sequential" keeps the factors and applies them one
    after the other at run time ((c' W_q) W_k^T), as implementations do to limit rounding.
    """
    check_choice(mode, ["merged", "sequential"], name="mode")
    out = dict(W)
    out["mode"] = mode
    if mode == "merged":
        out["W_qc"] = W["W_q"] @ W["W_k"].transpose(-1, -2)
        out["W_ov"] = W["W_v"] @ W["W_o"]
    return out


def _absorbed_query(cq: torch.Tensor, W_abs: dict) -> torch.Tensor:
    """(B, T, d_cq) -> per-head query in latent space (B, h, T, d_c)."""
    if W_abs["mode"] == "merged":
        return torch.einsum("btc,hce->bhte", cq, W_abs["W_qc"])
    q_n = torch.einsum("btc,hck->bhtk", cq, W_abs["W_q"])
    return torch.einsum("bhtk,hek->bhte", q_n, W_abs["W_k"])


def _absorbed_out(o_c: torch.Tensor, W_abs: dict) -> torch.Tensor:
    """Latent attention output (B, h, T, d_c) -> (B, T, d)."""
    if W_abs["mode"] == "merged":
        return torch.einsum("bhte,hed->btd", o_c, W_abs["W_ov"])
    o_v = torch.einsum("bhte,hev->bhtv", o_c, W_abs["W_v"])
    return torch.einsum("bhtv,hvd->btd", o_v, W_abs["W_o"])


def mla_decode_forward(x: torch.Tensor, W_abs: dict, positions: Any = None,
                       rope: str = "decoupled"):
    """MLA in its decoding form: an MQA whose one K/V head is the cached [c_i, R_i x_i W_kr].

    Chapter mha-to-mla. Per head the query is [c'_t W_q[s] W_k[s]^T, R_t c'_t W_qr[s]] (size
    d_c + d_r), the value is c_i itself (size d_c), and W_v[s] W_o[s] maps the result out. The
    score scale stays 1/sqrt(d_k + d_r) (the training form's), not 1/sqrt(d_c + d_r).
    rope="full" is the naive attempt: rotate the absorbed query and the cached latent by their
    absolute positions. It is NOT the training form with full RoPE (the chapter shows the gap).
    Returns (out like x, cache (B, T, d_c + d_r)). torch.
    """
    if "mode" not in W_abs:
        raise ValueError("W_abs must come from mla_absorb (it has no 'mode')")
    x, batched, pos = _mla_inputs(x, W_abs, positions, rope)
    cq, c = x @ W_abs["W_cq"], x @ W_abs["W_c"]
    k_r = x @ W_abs["W_kr"]                                              # (B, T, d_r)
    q_c = _absorbed_query(cq, W_abs)                                     # (B, h, T, d_c)
    q_r = torch.einsum("btc,hcr->bhtr", cq, W_abs["W_qr"])
    if rope == "decoupled":
        q_r, k_r = _rope(q_r, pos), _rope(k_r, pos)
    elif rope == "full":
        q_c, c_rot = _rope(q_c, pos), _rope(c, pos)
        q_r, k_r = _rope(q_r, pos), _rope(k_r, pos)
    cache = torch.cat([c, k_r], -1)                                      # (B, T, d_c + d_r)
    keys = torch.cat([c_rot, k_r], -1) if rope == "full" else cache
    o_c = causal_attention(torch.cat([q_c, q_r], -1), keys[:, None], c[:, None],
                           scale=_mla_scale(W_abs))                      # (B, h, T, d_c)
    out = _absorbed_out(o_c, W_abs)
    return (out if batched else out[0]), (cache if batched else cache[0])


def mla_decode_step(x_t: torch.Tensor, cache: torch.Tensor | None, W_abs: dict, pos: int):
    """One decoding step: append token x_t (d,) at position ``pos`` to cache (t, d_c + d_r).

    Chapter mha-to-mla (decoupled RoPE). Returns (out_t (d,), cache (t + 1, d_c + d_r)); the
    cache holds only the latent and the shared RoPE key, whatever the number of heads. torch.
    """
    if "mode" not in W_abs:
        raise ValueError("W_abs must come from mla_absorb (it has no 'mode')")
    x_t = _tensor(x_t, "x_t", 1)
    pos = check_int_in(pos, 0, None, name="pos")
    d_c = W_abs["W_c"].shape[1]
    width = d_c + W_abs["W_kr"].shape[1]
    if cache is None:
        cache = x_t.new_zeros(0, width)
    cache = _tensor(cache, "cache", 2) if cache.shape[0] else cache
    if cache.shape != (pos, width):
        raise ValueError(f"cache must have shape ({pos}, {width}) at position {pos}, "
                         f"got {tuple(cache.shape)}")
    p = torch.tensor([float(pos)], dtype=torch.float64)
    x1 = x_t[None, None]                                                 # (1, 1, d)
    cq = x1 @ W_abs["W_cq"]
    new = torch.cat([x1 @ W_abs["W_c"], _rope(x1 @ W_abs["W_kr"], p)], -1)[0]   # (1, width)
    cache = torch.cat([cache, new], 0)
    q = torch.cat([_absorbed_query(cq, W_abs),
                   _rope(torch.einsum("btc,hcr->bhtr", cq, W_abs["W_qr"]), p)], -1)
    o_c = causal_attention(q, cache[None, None], cache[None, None, :, :d_c],
                           scale=_mla_scale(W_abs))
    return _absorbed_out(o_c, W_abs)[0, 0], cache


def decode_cost(kind: str, *, n_heads: int, head_dim: int, n_kv_heads: int | None = None,
                d_c: int | None = None, d_r: int = 0, d_v: int | None = None) -> dict:
    """Per-layer decoding work for one new token, per cached token: numbers read, multiply-adds.

    Chapter mha-to-mla. kind="mla" is the absorbed form (q.k over d_c + d_r and p.v over d_c in
    every head, reading d_c + d_r numbers); kind="mla_naive" caches the decompressed per-head
    keys (d_k + d_r) and values (d_v), as an MHA. Others as :func:`kv_cache_elements`.
    Returns {"read": numbers read, "qk_macs", "pv_macs", "macs_per_read"}.
    """
    check_choice(kind, ATTENTION_KINDS + ("mla_naive",), name="kind")
    h = check_int_in(n_heads, 1, None, name="n_heads")
    dk = check_int_in(head_dim, 1, None, name="head_dim")
    dv = dk if d_v is None else check_int_in(d_v, 1, None, name="d_v")
    d_r = check_int_in(d_r, 0, None, name="d_r")
    if kind in ("mla", "mla_naive"):
        if d_c is None:
            raise ValueError("d_c must be given for MLA")
        d_c = check_int_in(d_c, 1, None, name="d_c")
        if kind == "mla":
            read, qk, pv = d_c + d_r, h * (d_c + d_r), h * d_c
        else:
            read, qk, pv = h * (dk + d_r + dv), h * (dk + d_r), h * dv
    else:
        g = {"mha": h, "mqa": 1}.get(kind, n_kv_heads)
        read = kv_cache_elements(kind, n_layers=1, n_heads=h, head_dim=dk, n_kv_heads=g)
        qk, pv = h * dk, h * dk
    return {"read": read, "qk_macs": qk, "pv_macs": pv, "macs_per_read": (qk + pv) / read}


def kv_cache_explorer(contexts: Sequence[int] = (1024, 4096, 16384, 32768, 65536, 131072),
                      batches: Sequence[int] = (1, 8, 32, 128)):
    """The KV-cache calculator: preset, context length, batch and dtype -> GiB per variant.

    Chapter mha-to-mla. Bars: MHA (h K/V heads), GQA (the preset's groups, 8 where it has none),
    MQA and MLA (the preset's d_c, d_r; 512 and 64 as in DeepSeek-V2 where it has none), with the
    80 GB of one accelerator as a line. Returns a kexue.widgets.Explorer. numpy numbers.
    """
    from . import widgets as _w

    ctxs = [check_int_in(int(c), 1, None, name="contexts") for c in contexts]
    bs = [check_int_in(int(b), 1, None, name="batches") for b in batches]
    names = list(MODEL_CONFIGS)
    kinds = ["mha", "gqa", "mqa", "mla"]

    def compute(preset: str, context: int, batch: int, dtype: str) -> dict:
        c = MODEL_CONFIGS[preset]
        g = c["n_kv_heads"] if c["n_kv_heads"] < c["n_heads"] else 8
        sizes = dict(n_layers=c["n_layers"], n_heads=c["n_heads"], head_dim=c["head_dim"],
                     n_kv_heads=g, d_c=c.get("d_c", 512), d_r=c.get("d_r", 64))
        gib = [kv_cache_bytes(k, context=context, batch=batch, dtype=dtype, **sizes) / 2 ** 30
               for k in kinds]
        labels = ["MHA", f"GQA g={g}", "MQA", f"MLA {sizes['d_c']}+{sizes['d_r']}"]
        bars = _w.panel(f"KV cache of {preset} at {context} tokens x batch {batch} ({dtype})",
                        "variant", "GiB", series=[
                            {"kind": "bar", "x": [0, 1, 2, 3], "y": gib, "label": "cache size",
                             "color": _w.PALETTE[0]}],
                        hlines=[{"y": 80e9 / 2 ** 30, "label": "80 GB accelerator",
                                 "color": _w.PALETTE[3]}],
                        yscale="log", xticks=([0, 1, 2, 3], labels))
        per_tok = [kv_cache_elements(k, **sizes) for k in kinds]
        text = " · ".join(f"{lab}: {e:,} numbers/token ({gb:.3g} GiB)"
                          for lab, e, gb in zip(labels, per_tok, gib))
        return _w.frame(bars, text=text)

    controls = [_w.Dropdown("preset", names, "llama2-7b", label="model"),
                _w.Slider("context", ctxs, 4096 if 4096 in ctxs else ctxs[0], label="context",
                          fmt="{:d}"),
                _w.Slider("batch", bs, bs[0], label="batch", fmt="{:d}"),
                _w.Dropdown("dtype", ["bfloat16", "float32", "fp8"], "bfloat16", label="dtype")]
    return _w.Explorer(controls, compute, name="kv cache calculator")


def head_sharing_explorer(n_heads: int = 8):
    """Which query head reads which K/V head, for every number of groups g dividing h.

    Chapter mha-to-mla: a heatmap (query head x K/V head) from :func:`gqa_head_to_group`;
    g = h is MHA, g = 1 is MQA. Returns a kexue.widgets.Explorer.
    """
    from . import widgets as _w

    h = check_int_in(n_heads, 2, 64, name="n_heads")
    divisors = [g for g in range(1, h + 1) if h % g == 0]

    def compute(g: int) -> dict:
        grp = gqa_head_to_group(h, g).numpy()
        z = np.zeros((h, h))
        z[np.arange(h), grp] = 1.0
        name = "MHA" if g == h else ("MQA" if g == 1 else "GQA")
        hm = _w.panel(f"{name}: {h} query heads share {g} K/V head(s)", "K/V head (cached)",
                      "query head", heatmap={"z": z, "x": list(range(h + 1)),
                                             "y": list(range(h + 1)), "vmin": 0, "vmax": 1,
                                             "label": "reads"}, legend=False)
        return _w.frame(hm, text=f"g = {g}: cache = {g}/{h} of MHA; query head s reads K/V "
                                 f"head floor(s·{g}/{h}) (0-based): {grp.tolist()}")

    return _w.Explorer([_w.Slider("g", divisors, divisors[len(divisors) // 2], label="groups g",
                                  fmt="{:d}")], compute, name="head sharing")


# =====================================================================================
# --- attention as an RNN (chapter attention-as-rnn) ---
# =====================================================================================
# kexue.fm/archives/10017: causal softmax attention read as an RNN that re-scans the whole
# history for every new token (Rabe & Staats' key-by-key recurrence, FlashAttention's blocked
# form), and a tiny multi-layer model decoded three ways. numpy, float64; no gradients.


def _qkv(q: Any, k: Any, v: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate q (T, d), k (S, d), v (S, d_v) as numpy float64 arrays."""
    arrs = []
    for name, x in (("q", q), ("k", k), ("v", v)):
        a, is_torch = as_float_array(x, name=name, min_ndim=2, max_ndim=2)
        if is_torch:
            raise ValueError(f"{name} must be a numpy array or a list (this section is numpy-only)")
        if a.shape[0] == 0:
            raise ValueError(f"{name} must have at least one row, got shape {a.shape}")
        arrs.append(a)
    q, k, v = arrs
    if q.shape[1] != k.shape[1]:
        raise ValueError(f"k must have the feature size of q ({q.shape[1]}), got {k.shape[1]}")
    if k.shape[0] != v.shape[0]:
        raise ValueError(f"v must have as many rows as k ({k.shape[0]}), got {v.shape[0]}")
    return q, k, v


def softmax_attention(q: Any, k: Any, v: Any, causal: bool = False,
                      scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """o_i = sum_j softmax_j(scale * q_i . k_j) v_j, over j <= i when causal; returns (o, A).

    numpy, float64, max-shifted softmax. scale=None means 1/sqrt(d). With causal=True, query
    i sees keys 0..i + (S - T) (the last T keys line up with the T queries). Chapters
    attention-as-rnn (eq. of o_i) and why-position-encoding (bidirectional vs causal).
    """
    q, k, v = _qkv(q, k, v)
    T, S = q.shape[0], k.shape[0]
    scale = 1.0 / math.sqrt(q.shape[1]) if scale is None else check_positive(scale, name="scale")
    if causal and T > S:
        raise ValueError(f"q must have at most as many rows as k ({S}) when causal, got {T}")
    s = scale * (q @ k.T)                                           # (T, S)
    if causal:
        mask = np.arange(S)[None, :] <= np.arange(T)[:, None] + (S - T)
        s = np.where(mask, s, -np.inf)
    s = s - s.max(axis=1, keepdims=True)
    w = np.exp(s)
    w /= w.sum(axis=1, keepdims=True)
    return w @ v, w


def causal_softmax_attention(q: Any, k: Any, v: Any, scale: float = 1.0) -> np.ndarray:
    """The reference: o_i = sum_{j<=i} e^{s q_i.k_j} v_j / sum_{j<=i} e^{s q_i.k_j}. numpy.

    Chapter attention-as-rnn; scale defaults to 1, as in the post's formula.
    """
    return softmax_attention(q, k, v, causal=True, scale=scale)[0]


def attention_row_recurrent(q_i: Any, K: Any, V: Any, stable: bool = True,
                            return_trace: bool = False, scale: float = 1.0):
    """One query scanned key by key, newest first (the post's index i - t + 1). numpy.

    stable=True keeps a running max m and rescales: with s_t = scale q.k_{i-t+1},
    m' = max(m, s_t), y' = e^{m-m'} y + e^{s_t-m'} v, z' = e^{m-m'} z + e^{s_t-m'};
    o = y / z. stable=False is the recurrence exactly as the post writes it,
    (y, z) += e^{s_t} (v, 1): it overflows once a score passes ~709 and is kept for the
    demonstration only (it raises FloatingPointError instead of returning inf/nan).
    return_trace adds a list of (m, y, z) after every step (m = 0 for the naive form).
    """
    qa, _ = as_float_array(q_i, name="q_i", min_ndim=1, max_ndim=1)
    q_i, K, V = _qkv(qa[None, :], K, V)
    scale = check_positive(scale, name="scale")
    q = q_i[0]
    m, y, z = -math.inf, np.zeros(V.shape[1]), 0.0
    trace = []
    with np.errstate(over="ignore", invalid="ignore"):
        for j in range(K.shape[0] - 1, -1, -1):          # newest key first
            s = scale * float(q @ K[j])
            if stable:
                m_new = max(m, s)
                c = math.exp(m - m_new) if m > -math.inf else 0.0
                e = math.exp(s - m_new)
                y, z, m = c * y + e * V[j], c * z + e, m_new
            else:
                e = np.exp(s)
                y, z = y + e * V[j], z + e
            if return_trace:
                trace.append((m if stable else 0.0, y.copy(), float(z)))
        o = y / z
    if not np.isfinite(o).all():
        raise FloatingPointError("the naive recurrence overflowed (a score exceeds ~709); "
                                 "use stable=True")
    return (o, trace) if return_trace else o


def naive_attention_overflow_step(q_i: Any, K: Any) -> int | None:
    """First scan step (1-based, newest key first) at which e^{q.k} overflows float64, or None.

    Companion of ``attention_row_recurrent(..., stable=False)`` for the widgets: where the
    post's raw recurrence breaks. numpy.
    """
    qa, _ = as_float_array(q_i, name="q_i", min_ndim=1, max_ndim=1)
    Ka, _ = as_float_array(K, name="K", min_ndim=2, max_ndim=2)
    q_i, K, _ = _qkv(qa[None, :], Ka, np.zeros((Ka.shape[0], 1)))
    s = (K[::-1] @ q_i[0])
    over = np.nonzero(s > math.log(np.finfo(np.float64).max))[0]
    return int(over[0]) + 1 if over.size else None


def _merge_blocks(parts: list[tuple[float, np.ndarray, float]]) -> tuple[float, np.ndarray, float]:
    """Combine partial (m, y, z) triples: the FlashAttention merge."""
    m = max(p[0] for p in parts)
    y = sum(math.exp(p[0] - m) * p[1] for p in parts)
    z = sum(math.exp(p[0] - m) * p[2] for p in parts)
    return m, y, z


def attention_recurrent(q: Any, k: Any, v: Any, stable: bool = True, block_size: int = 1,
                        scale: float = 1.0) -> np.ndarray:
    """Causal attention (T, d_v) computed row by row as an RNN over keys. numpy.

    block_size = 1 is the key-by-key recurrence of :func:`attention_row_recurrent`; larger
    blocks compute a partial (m, y, z) per block of keys and merge them (the blocked form
    behind FlashAttention). Equals :func:`causal_softmax_attention` to rounding.
    """
    q, k, v = _qkv(q, k, v)
    if q.shape[0] != k.shape[0]:
        raise ValueError(f"k must have as many rows as q ({q.shape[0]}), got {k.shape[0]}")
    bs = check_int_in(block_size, 1, None, name="block_size")
    scale = check_positive(scale, name="scale")
    if bs == 1:
        return np.stack([attention_row_recurrent(q[i], k[: i + 1], v[: i + 1], stable=stable,
                                                 scale=scale) for i in range(q.shape[0])])
    if not stable:
        raise ValueError("stable must be True when block_size > 1 (blocks are merged by their max)")
    out = np.empty((q.shape[0], v.shape[1]))
    for i in range(q.shape[0]):
        parts = []
        for b0 in range(0, i + 1, bs):
            b1 = min(b0 + bs, i + 1)
            s = scale * (k[b0:b1] @ q[i])
            mb = float(s.max())
            e = np.exp(s - mb)
            parts.append((mb, e @ v[b0:b1], float(e.sum())))
        m, y, z = _merge_blocks(parts)
        out[i] = y / z
    return out


class TinyCausalAttentionLM:
    """N residual causal-attention layers over token + position embeddings. numpy, float64.

    h^0_t = E[x_t] + P[t];  h^l_t = h^{l-1}_t + sum_{j<=t} softmax_j(q.k_j / sqrt(d)) v_j with
    (q, k, v) = h^{l-1} (W_q, W_k, W_v) of layer l. Three ways to get the same h^N:
    :meth:`forward` (parallel), :meth:`decode_kv_cache` (one token at a time, keys and values
    stored) and :meth:`decode_recompute` (nothing stored but the token ids: every needed key
    and value is recomputed from the tokens, recursively, with O(N d) working floats).
    Chapter attention-as-rnn.
    """

    def __init__(self, vocab: int = 11, d: int = 16, n_layers: int = 2, seed: int = 0,
                 max_len: int = 256):
        self.vocab = check_int_in(vocab, 1, None, name="vocab")
        self.d = check_int_in(d, 1, None, name="d")
        self.n_layers = check_int_in(n_layers, 1, None, name="n_layers")
        self.max_len = check_int_in(max_len, 1, None, name="max_len")
        rng = np.random.default_rng(check_int_in(seed, 0, None, name="seed"))
        self.E = rng.normal(size=(vocab, d))
        self.P = 0.5 * rng.normal(size=(max_len, d))
        self.W = [rng.normal(size=(3, d, d)) / math.sqrt(d) for _ in range(n_layers)]
        self.scale = 1.0 / math.sqrt(d)

    def _tokens(self, tokens: Any) -> np.ndarray:
        t = np.asarray(tokens)
        if t.ndim != 1 or t.size == 0 or not np.issubdtype(t.dtype, np.integer):
            raise ValueError(f"tokens must be a non-empty 1-D sequence of integers, got {tokens!r}")
        if t.min() < 0 or t.max() >= self.vocab:
            raise ValueError(f"tokens must lie in [0, {self.vocab}), got min {t.min()}, max {t.max()}")
        if t.size > self.max_len:
            raise ValueError(f"tokens must have at most max_len = {self.max_len} entries, got {t.size}")
        return t

    def forward(self, tokens: Any) -> np.ndarray:
        """Parallel pass: h^N for every position, (T, d)."""
        t = self._tokens(tokens)
        h = self.E[t] + self.P[: t.size]
        for W in self.W:
            o, _ = softmax_attention(h @ W[0], h @ W[1], h @ W[2], causal=True, scale=self.scale)
            h = h + o
        return h

    def decode_kv_cache(self, tokens: Any) -> tuple[np.ndarray, dict]:
        """One token at a time with a KV cache; returns (h^N (T, d), counters).

        counters: score_evals (total), score_evals_per_token (list), peak_floats (the cache,
        2 N d T at the end, plus the O(d) working vectors).
        """
        t = self._tokens(tokens)
        cache = [([], []) for _ in self.W]
        out, per_token = [], []
        for pos, tok in enumerate(t):
            h = self.E[tok] + self.P[pos]
            evals = 0
            for W, (ks, vs) in zip(self.W, cache):
                ks.append(h @ W[1])
                vs.append(h @ W[2])
                o = attention_row_recurrent(h @ W[0], np.array(ks), np.array(vs), scale=self.scale)
                evals += len(ks)
                h = h + o
            out.append(h)
            per_token.append(evals)
        cache_floats = 2 * self.n_layers * self.d * t.size
        return np.array(out), {"score_evals": int(sum(per_token)),
                               "score_evals_per_token": per_token,
                               "peak_floats": cache_floats + 4 * self.d + 2}

    def decode_recompute(self, tokens: Any) -> tuple[np.ndarray, dict]:
        """Constant working memory: recompute every key/value from the token ids. (T, d), counters.

        hidden(l, j) runs one streaming scan over keys 1..j of layer l, each key's h^{l-1}_m
        recomputed by a recursive call; only the (m, y, z) state and a few d-vectors per level
        of recursion are alive at once. Counters: score_evals (total and per token) obey
        :func:`recompute_cost`; peak_floats is the explicit count of live floats (plus 1 int
        per level for the loop index), independent of T.
        """
        t = self._tokens(tokens)
        d = self.d
        state = {"live": 0, "peak": 0, "evals": 0}

        def alloc(n: int) -> None:
            state["live"] += n
            state["peak"] = max(state["peak"], state["live"])

        def hidden(level: int, j: int) -> np.ndarray:
            # h^level at position j (0-based); allocates its own output vector (d)
            if level == 0:
                alloc(d)
                return self.E[t[j]] + self.P[j]
            W = self.W[level - 1]
            h_prev = hidden(level - 1, j)                      # d, held during the scan
            q = h_prev @ W[0]
            alloc(d)                                           # q
            m, y, z = -math.inf, np.zeros(d), 0.0
            alloc(d + 3)                                       # y, m, z, loop index
            for jj in range(j, -1, -1):                        # newest key first, as the post
                hm = hidden(level - 1, jj)                     # d, freed below
                kk, vv = hm @ W[1], hm @ W[2]
                alloc(2 * d)
                s = self.scale * float(q @ kk)
                state["evals"] += 1
                m_new = max(m, s)
                c = math.exp(m - m_new) if m > -math.inf else 0.0
                e = math.exp(s - m_new)
                y, z, m = c * y + e * vv, c * z + e, m_new
                state["live"] -= 3 * d                          # hm, kk, vv
            out = h_prev + y / z
            state["live"] -= 2 * d + 3                           # q, y, m, z, index; h_prev -> out
            return out

        outs, per_token = [], []
        for pos in range(t.size):
            before = state["evals"]
            outs.append(hidden(self.n_layers, pos))
            state["live"] -= d
            per_token.append(state["evals"] - before)
        return np.array(outs), {"score_evals": int(state["evals"]),
                                "score_evals_per_token": per_token,
                                "peak_floats": int(state["peak"])}


_RECOMPUTE_MEMO: dict[tuple[int, int], int] = {}


def recompute_cost(n_layers: int, t: int) -> int:
    """Score evaluations of recompute decoding for the output at 1-based position t. Exact int.

    C_N(t) = C_{N-1}(t) + sum_{j<=t} C_{N-1}(j) + t, C_0 = 0 (so C_1(t) = t,
    C_2(t) = t(t+1)/2 + 2t, and C_N(t) ~ t^N / N!). Memoized here for the count only:
    the decoder itself does not memoize (that would be a KV cache). Chapter attention-as-rnn.
    """
    n = check_int_in(n_layers, 0, None, name="n_layers")
    t = check_int_in(t, 1, None, name="t")
    if n == 0:
        return 0
    key = (n, t)
    if key not in _RECOMPUTE_MEMO:
        _RECOMPUTE_MEMO[key] = (recompute_cost(n - 1, t)
                                + sum(recompute_cost(n - 1, j) for j in range(1, t + 1)) + t)
    return _RECOMPUTE_MEMO[key]


def kv_cache_floats(n_layers: int, d: int, t: int) -> int:
    """Floats held by a KV cache after t tokens: 2 N d t (keys and values, every layer)."""
    n = check_int_in(n_layers, 1, None, name="n_layers")
    d = check_int_in(d, 1, None, name="d")
    t = check_int_in(t, 0, None, name="t")
    return 2 * n * d * t


def ram_floats(n_layers: int, hidden: int) -> int:
    """The post's "RAM" of a decoder: 2 * n_layers * hidden numbers (Llama2-70B: 1,310,720)."""
    n = check_int_in(n_layers, 1, None, name="n_layers")
    h = check_int_in(hidden, 1, None, name="hidden")
    return 2 * n * h


def recompute_peak_floats(n_layers: int, d: int) -> int:
    """Peak live floats of :meth:`TinyCausalAttentionLM.decode_recompute`: (3N + 3) d + 3N.

    Each of the N recursion levels holds h_prev, q, y (3d) plus m, z and the loop index (3);
    at the deepest point the innermost scan also holds the key's embedding and its k and v
    (3d). Independent of t. Exact int. Chapter attention-as-rnn (the count the decoder
    measures; the test compares the two).
    """
    n = check_int_in(n_layers, 1, None, name="n_layers")
    d = check_int_in(d, 1, None, name="d")
    return (3 * n + 3) * d + 3 * n


RNN_SCAN_MODES = ("stable", "naive", "stable_boost", "naive_boost")
RNN_SCAN_NAMES = ("running max (stable)", "as written (naive)", "running max, q x 200",
                  "as written, q x 200")


def _scan_trace(q_i: np.ndarray, K: np.ndarray, V: np.ndarray, stable: bool):
    """Partial outputs per step (steps, d_v) and the raw recurrence's failure for the widget.

    The failure is None or (step, "overflow" | "underflow"): e^{q.k} = inf at that step, or
    every e^{q.k} read so far is 0 (scores below ~-745), so y/z = 0/0.
    """
    if stable:
        _, tr = attention_row_recurrent(q_i, K, V, stable=True, return_trace=True)
        return np.array([y / z for _, y, z in tr]), None
    s_rev = K[::-1] @ q_i                               # newest key first
    with np.errstate(over="ignore", under="ignore"):
        e = np.exp(s_rev)
    bad = ~np.isfinite(e) | (np.cumsum(e) == 0)
    fail = None
    n_ok = K.shape[0]
    if bad.any():
        n_ok = int(np.argmax(bad))
        fail = (n_ok + 1, "overflow" if not np.isfinite(e[n_ok]) else "underflow")
    if n_ok == 0:
        return np.zeros((0, V.shape[1])), fail
    # the first n_ok steps scan the n_ok newest keys: run the raw recurrence on exactly those
    _, tr = attention_row_recurrent(q_i, K[-n_ok:], V[-n_ok:], stable=False, return_trace=True)
    return np.array([y / z for _, y, z in tr]), fail


def scan_explorer(T: int = 10, d: int = 16, seed: int = 0, boost: float = 200.0):
    """Explorer: causal attention for query i computed as an RNN scanning keys i, i-1, ..., 1.

    Sliders: the query position i and the scan step t; dropdown: the running-max recurrence
    or the post's raw one, at ordinary scale or with q multiplied by ``boost`` (scores in the
    thousands: the raw e^{q.k} overflows). Left: the first two coordinates of the partial
    output y^(t)/z^(t) against t, converging to o_i (dashed). Right: the weight each key holds
    after t steps (keys not yet scanned hold 0; the exact softmax weights as outlines).
    Chapter attention-as-rnn (the post's Figure 3). numpy.
    """
    from . import widgets as _w
    T = check_int_in(T, 2, 64, name="T")
    d = check_int_in(d, 1, None, name="d")
    rng = np.random.default_rng(check_int_in(seed, 0, None, name="seed"))
    boost = check_positive(boost, name="boost")
    q, k, v = rng.normal(size=(3, T, d))

    def compute(i: int, t: int, mode: str) -> dict:
        stable = mode.startswith("stable")
        qi = q[i - 1] * (boost if mode.endswith("boost") else 1.0)
        K, V = k[:i], v[:i]
        s = K @ qi
        w_exact = np.exp(s - s.max())
        w_exact /= w_exact.sum()
        o_exact = w_exact @ V
        parts, over = _scan_trace(qi, K, V, stable)
        steps = min(t, i)
        done = min(steps, parts.shape[0])
        xs = list(range(1, done + 1))
        series = []
        for c in range(min(2, V.shape[1])):
            series.append({"kind": "line", "x": xs, "y": parts[:done, c].tolist(),
                           "label": f"partial output, coordinate {c + 1}",
                           "color": _w.PALETTE[c]})
        hl = [{"y": float(o_exact[c]), "label": f"o_i, coordinate {c + 1}",
               "color": _w.PALETTE[c], "dash": True} for c in range(min(2, V.shape[1]))]
        vl = [{"x": float(steps), "label": "current step", "color": "#555555"}]
        if over is not None:
            vl.append({"x": float(over[0]), "label": f"raw recurrence: {over[1]}",
                       "color": _w.PALETTE[3]})
        p1 = _w.panel(f"Does the scan reach o_{i}? ({RNN_SCAN_NAMES[RNN_SCAN_MODES.index(mode)]})",
                      "scan step t (key i - t + 1)", "partial y/z", series=series, hlines=hl,
                      vlines=vl, xlim=(0.5, T + 0.5))
        # weights held after `done` steps: keys i, i-1, ..., i-done+1 scanned
        held = np.zeros(i)
        if done:
            sc = s[i - done:]
            e = np.exp(sc - sc.max())
            held[i - done:] = e / e.sum()
        keys = list(range(1, i + 1))
        p2 = _w.panel("Which keys has the scan read?", "key position j", "weight on v_j",
                      series=[{"kind": "bar", "x": keys, "y": held.tolist(),
                               "label": f"after {done} step(s)", "color": _w.PALETTE[2]},
                              {"kind": "bar", "x": keys, "y": w_exact.tolist(),
                               "label": "final softmax weights", "color": "#555555",
                               "fill": False}],
                      xlim=(0.5, T + 0.5), ylim=(0, 1.05))
        if over is not None and steps >= over[0] and over[1] == "overflow":
            text = (f"raw recurrence overflows at step {over[0]}: the score {s[i - over[0]]:.0f} "
                    f"exceeds log(max float64) = 709.8, so y and z become inf and y/z = nan")
        elif over is not None and steps >= over[0]:
            text = (f"raw recurrence underflows at step {over[0]}: every score read so far is "
                    f"below -745 (largest {s[i - over[0]:].max():.0f}), so y = z = 0 and "
                    f"y/z = 0/0 = nan")
        else:
            err = float(np.abs(parts[done - 1] - o_exact).max()) if done else float("nan")
            text = (f"step {done} of {i}: max score so far "
                    f"{s[i - done:].max():.2f}; |partial - o_i| "
                    f"{'< 1e-12' if err < 1e-12 else f'= {err:.3g}'}"
                    if done else "no key read yet")
            if done == i:
                text += " (the scan is complete: exact to rounding)"
        return _w.frame(p1, p2, text=text)

    steps = list(range(1, T + 1))
    return _w.Explorer([_w.Slider("i", steps, T // 2, "query position i", fmt="{:.0f}"),
                        _w.Slider("t", steps, T // 4, "scan step t", fmt="{:.0f}"),
                        _w.Dropdown("mode", list(RNN_SCAN_MODES), "stable", "recurrence",
                                    list(RNN_SCAN_NAMES))],
                       compute, name="attention-as-rnn-scan")


def cost_explorer(layers: Sequence[int] = (1, 2, 3), lengths: Sequence[int] = (8, 16, 32, 64),
                  d: int = 16):
    """Explorer: per-token cost and stored floats of KV-cache vs recompute decoding.

    Sliders: N layers and the longest length T. Left (log-log): score evaluations for the
    token at position t, N t for the KV cache and C_N(t) (:func:`recompute_cost`) for
    recompute decoding, with least-squares slopes over t in [T/2, T]. Right (log-log): stored
    floats, the cache's 2 N d t against the recompute decoder's constant peak
    (:func:`recompute_peak_floats`). Chapter attention-as-rnn. numpy.
    """
    from . import widgets as _w
    d = check_int_in(d, 1, None, name="d")
    Ns = [check_int_in(n, 1, 6, name="layers") for n in layers]
    Ts = [check_int_in(T, 4, 4096, name="lengths") for T in lengths]

    def slope(x, y):
        x, y = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
        return float(np.polyfit(x, y, 1)[0])

    def compute(N: int, T: int) -> dict:
        ts = np.arange(1, T + 1)
        kv = N * ts
        rc = np.array([recompute_cost(N, int(t)) for t in ts], dtype=float)
        tail = ts >= T // 2
        s_kv, s_rc = slope(ts[tail], kv[tail]), slope(ts[tail], rc[tail])
        p1 = _w.panel(f"Score evaluations per token, N = {N}", "position t", "evaluations",
                      series=[{"kind": "line", "x": ts.tolist(), "y": kv.tolist(),
                               "label": f"KV cache: N t (slope {s_kv:.2f})",
                               "color": _w.PALETTE[0]},
                              {"kind": "line", "x": ts.tolist(), "y": rc.tolist(),
                               "label": f"recompute: C_N(t) (slope {s_rc:.2f})",
                               "color": _w.PALETTE[3]}],
                      xscale="log", yscale="log")
        cache = np.array([kv_cache_floats(N, d, int(t)) for t in ts], dtype=float)
        peak = float(recompute_peak_floats(N, d))
        p2 = _w.panel(f"Stored floats, d = {d}", "position t", "floats",
                      series=[{"kind": "line", "x": ts.tolist(), "y": cache.tolist(),
                               "label": "KV cache: 2 N d t", "color": _w.PALETTE[0]},
                              {"kind": "line", "x": ts.tolist(), "y": [peak] * T,
                               "label": "recompute: peak working floats",
                               "color": _w.PALETTE[3]}],
                      xscale="log", yscale="log")
        ratio = recompute_cost(N, T) / recompute_cost(N, T // 2)
        total = sum(recompute_cost(N, int(t)) for t in ts)
        text = (f"C_{N}({T}) = {recompute_cost(N, T)}; C_{N}({T})/C_{N}({T // 2}) = {ratio:.2f} "
                f"(tends to 2^{N} = {2 ** N}); whole sequence: {total} evaluations vs "
                f"{int(kv.sum())} with a cache; cache {int(cache[-1])} floats at t = {T} vs "
                f"{int(peak)} floats")
        return _w.frame(p1, p2, text=text)

    return _w.Explorer([_w.Slider("N", Ns, Ns[min(1, len(Ns) - 1)], "layers N", fmt="{:.0f}"),
                        _w.Slider("T", Ts, Ts[-1], "longest position T", fmt="{:.0f}")],
                       compute, name="attention-as-rnn-cost")


#: (label, num_layers, hidden_size) for the RAM-vs-disk calculator
RAM_PRESETS = {"llama2-7b": ("Llama2-7B", 32, 4096), "llama2-13b": ("Llama2-13B", 40, 5120),
               "llama2-70b": ("Llama2-70B", 80, 8192), "tiny": ("this chapter's tiny model", 3, 16)}


def ram_disk_explorer(contexts: Sequence[int] = (1_024, 8_192, 32_768, 131_072, 1_048_576,
                                                 10_485_760)):
    """Explorer: the post's "RAM" (2 N hidden numbers) against the "disk" (context tokens).

    Dropdown: a model preset (:data:`RAM_PRESETS`); slider: the context length. One log-log
    panel: tokens on the disk grow with the context, the RAM is flat; they cross at a context
    of :func:`ram_floats` tokens, where the post expects the fixed state to start limiting the
    model. Chapter attention-as-rnn. numpy.
    """
    from . import widgets as _w
    ctx = [check_int_in(c, 1, None, name="contexts") for c in contexts]

    def compute(model: str, t: int) -> dict:
        label, n, h = RAM_PRESETS[model]
        ram = ram_floats(n, h)
        xs = np.logspace(0, math.log10(max(ctx) * 10), 60)
        p = _w.panel(f"When does the context outgrow the RAM? ({label})", "context length (tokens)",
                     "numbers", series=[
                         {"kind": "line", "x": xs, "y": xs, "label": "disk: token ids in the context",
                          "color": _w.PALETTE[0]},
                         {"kind": "line", "x": xs, "y": np.full_like(xs, ram),
                          "label": f"RAM: 2 x {n} layers x {h} = {ram:,}", "color": _w.PALETTE[3]}],
                     vlines=[{"x": float(t), "label": f"context {t:,}", "color": "#555555"}],
                     xscale="log", yscale="log")
        ratio = t / ram
        text = (f"{label}: RAM {ram:,} numbers; a context of {t:,} tokens is {ratio:.3g} x the RAM "
                f"({'beyond' if ratio > 1 else 'within'} the fixed state); the KV cache would hold "
                f"{kv_cache_floats(n, h, t):,} numbers")
        return _w.frame(p, text=text)

    return _w.Explorer([_w.Dropdown("model", list(RAM_PRESETS), "llama2-70b", "model",
                                    [v[0] for v in RAM_PRESETS.values()]),
                        _w.Slider("t", ctx, ctx[min(4, len(ctx) - 1)], "context length",
                                  fmt="{:,.0f}")],
                       compute, name="attention-as-rnn-ram")
