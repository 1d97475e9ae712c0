"""Attention without a position encoding (chapter why-position-encoding).

kexue.fm 10347: the permutation symmetry of bidirectional attention, and the position that
causal attention leaks through the size of its output: with weights A that do not depend on the
values, E[y_{n,i}^2] = sigma^2 sum_m A_{nm}^2, which is sigma^2 / n for the uniform causal
weights. Read back as n_hat = sigma^2 / MS, the position's resolution fades with n. numpy (and
scipy for the chi-square laws); attention itself is :func:`kexue.attention.core.attention`.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from .._validate import (as_float_array, check_choice, check_indices, check_int_in, check_nonnegative,
                         check_positive, check_real, check_seed)
from .core import attention

__all__ = ["NOPE_WEIGHTS", "self_attention", "permute_check", "uniform_causal_weights",
           "random_softmax_weights", "mean_square", "expected_mean_square", "loglog_slope",
           "position_from_ms", "adjacent_position_accuracy", "attention_entropy", "nope_ms_curve",
           "row_square_sums", "estimates_from_row_square_sums", "sample_position_estimates",
           "sinusoidal_encoding", "alibi_bias", "simulate_uniform_ms", "threshold_accuracy"]

NOPE_WEIGHTS = ("uniform", "softmax", "bidirectional")


def self_attention(x: Any, Wq: Any, Wk: Any, Wv: Any, causal: bool = False,
                   scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """NoPE self-attention y = softmax(x Wq (x Wk)^T * scale [+ causal mask]) x Wv; (y, A). numpy.

    Chapter why-position-encoding, eqs. (bi-att) and (uni-att) (biases omitted).
    """
    xa, _ = as_float_array(x, name="x", min_ndim=2, max_ndim=2)
    mats = []
    for name, W in (("Wq", Wq), ("Wk", Wk), ("Wv", Wv)):
        Wa, _ = as_float_array(W, name=name, min_ndim=2, max_ndim=2)
        if Wa.shape[0] != xa.shape[1]:
            raise ValueError(f"{name} must have {xa.shape[1]} rows to match x, got shape {Wa.shape}")
        mats.append(Wa)
    return attention(xa @ mats[0], xa @ mats[1], xa @ mats[2], causal=causal, scale=scale,
                     return_weights=True)


def permute_check(x: Any, perm: Any, Wq: Any, Wk: Any, Wv: Any, causal: bool = False) -> float:
    """max |f(P x) - P f(x)| for self-attention f: 0 (to rounding) means permutation-equivariant.

    Checks *equivariance* (shuffling the inputs shuffles the outputs the same way). numpy.
    Chapter why-position-encoding.
    """
    xa, _ = as_float_array(x, name="x", min_ndim=2, max_ndim=2)
    # n distinct indices in [0, n): a permutation
    p = check_indices(perm, xa.shape[0], name="perm", min_len=xa.shape[0])
    y = self_attention(xa, Wq, Wk, Wv, causal)[0]
    yp = self_attention(xa[p], Wq, Wk, Wv, causal)[0]
    return float(np.abs(yp - y[p]).max())


def uniform_causal_weights(L: int) -> np.ndarray:
    """A[n, m] = 1/n for m <= n (1-based): the post's toy attention matrix. numpy (L, L)."""
    L = check_int_in(L, 1, None, name="L")
    return np.tril(np.ones((L, L))) / np.arange(1, L + 1)[:, None]


def random_softmax_weights(L: int, d_head: int = 64, causal: bool = True,
                           seed: int | None = None, alibi_slope: float = 0.0) -> np.ndarray:
    """Attention weights of random q, k ~ N(0, I_d), scores q.k / sqrt(d) - slope |n - m|: (L, L).

    Weights at initialisation; they do not depend on the values (the assumption of the
    variance argument). ``alibi_slope > 0`` adds ALiBi's linear distance penalty
    (:func:`alibi_bias`), a prior of decay with distance. numpy. Chapter why-position-encoding.
    """
    L = check_int_in(L, 1, None, name="L")
    d_head = check_int_in(d_head, 1, None, name="d_head")
    bias = alibi_bias(L, check_nonnegative(alibi_slope, name="alibi_slope"))
    rng = np.random.default_rng(None if seed is None else check_seed(seed))
    q, k = rng.normal(size=(2, L, d_head))
    if alibi_slope == 0:
        return attention(q, k, np.zeros((L, 1)), causal=causal, return_weights=True)[1]
    # softmax(q k^T / sqrt(d) + bias): the bias is folded into the queries' scores row by row
    s = q @ k.T / np.sqrt(d_head) + bias                              # (L, L)
    if causal:
        s = np.where(np.tril(np.ones((L, L), dtype=bool)), s, -np.inf)
    s = s - s.max(axis=1, keepdims=True)
    w = np.exp(s)
    return w / w.sum(axis=1, keepdims=True)


def alibi_bias(L: int, slope: float) -> np.ndarray:
    """ALiBi's additive score bias -slope |n - m|: (L, L). numpy. ``slope >= 0``.

    Press et al.: a linear penalty on distance, the prior "far tokens matter less on average".
    Chapter why-position-encoding (the second job of a position encoding: priors).
    """
    L = check_int_in(L, 1, None, name="L")
    slope = check_real(slope, name="slope")
    if slope < 0:
        raise ValueError(f"slope must be >= 0, got {slope!r}")
    idx = np.arange(L)
    return -slope * np.abs(idx[:, None] - idx[None, :]).astype(float)


def sinusoidal_encoding(L: int, d: int, base: float = 10000.0) -> np.ndarray:
    """Sinusoidal position vectors p_n (Vaswani et al.): (L, d), d even, positions n = 0..L-1.

    p_{n, 2i} = sin(n w_i), p_{n, 2i+1} = cos(n w_i), w_i = base^{-2i/d}. Hence
    p_m . p_n = sum_i cos((m - n) w_i): a function of m - n only, largest at m = n. numpy.
    Chapter why-position-encoding (priors: neighbouring positions get similar vectors).
    """
    L = check_int_in(L, 1, None, name="L")
    d = check_int_in(d, 2, None, name="d")
    if d % 2:
        raise ValueError(f"d must be even, got {d}")
    base = check_positive(base, name="base")
    w = base ** (-np.arange(0, d, 2) / d)                          # (d/2,)
    ang = np.arange(L)[:, None] * w[None, :]                       # (L, d/2)
    out = np.empty((L, d))
    out[:, 0::2], out[:, 1::2] = np.sin(ang), np.cos(ang)
    return out


def simulate_uniform_ms(L: int, d: int, draws: int, heads: int = 1,
                        seed: int | None = None) -> np.ndarray:
    """MS(y_n) of uniform causal attention over simulated values: (draws, L). numpy.

    v ~ N(0, 1)^{(L, d)} per head and draw, y_n = (1/n) sum_{m<=n} v_m (a running mean), and
    the heads' mean squares are averaged (pooled). A simulation of the values themselves: it
    samples no chi-square law, so it can check :func:`adjacent_position_accuracy`.
    Chapter why-position-encoding.
    """
    L = check_int_in(L, 1, None, name="L")
    d = check_int_in(d, 1, None, name="d")
    draws = check_int_in(draws, 1, None, name="draws")
    heads = check_int_in(heads, 1, None, name="heads")
    rng = np.random.default_rng(seed)
    n = np.arange(1, L + 1)[:, None]
    out = np.zeros((draws, L))
    for t in range(draws):
        for _ in range(heads):
            y = np.cumsum(rng.standard_normal((L, d)), axis=0) / n    # (L, d), row n: mean of v_1..v_n
            out[t] += (y ** 2).mean(axis=1)
    return out / heads


def threshold_accuracy(ms_n: Any, ms_n1: Any, n: int, sigma2: float = 1.0) -> float:
    """Empirical accuracy of telling position n from n+1 with the threshold sigma^2 log(1 + 1/n).

    Say "n" when MS > threshold, "n+1" otherwise; equal priors: the mean of the two hit rates.
    The threshold is where the two scaled chi-square densities cross (the optimal test of
    :func:`adjacent_position_accuracy`). numpy. Chapter why-position-encoding.
    """
    a = as_float_array(ms_n, name="ms_n", min_ndim=1, max_ndim=1)[0]
    b = as_float_array(ms_n1, name="ms_n1", min_ndim=1, max_ndim=1)[0]
    n = check_int_in(n, 1, None, name="n")
    c = check_positive(sigma2, name="sigma2") * np.log1p(1.0 / n)
    return float(0.5 * ((a > c).mean() + (b <= c).mean()))


def mean_square(y: Any) -> np.ndarray:
    """MS(y_n) = (1/d) sum_i y_{n,i}^2 over the last axis (the "MS" of RMSNorm). numpy."""
    ya, _ = as_float_array(y, name="y", min_ndim=1)
    return (np.asarray(ya) ** 2).mean(axis=-1)


def expected_mean_square(A: Any, sigma2: float = 1.0) -> np.ndarray:
    """E[y_{n,i}^2] = sigma^2 sum_m A_{nm}^2 for y = A v, v iid mean 0, variance sigma^2. numpy.

    A must be square with rows summing to 1 (within 1e-9) and must not depend on v.
    The uniform causal A gives sigma^2 / n. Chapter why-position-encoding.
    """
    Aa, _ = as_float_array(A, name="A", min_ndim=2, max_ndim=2)
    if Aa.shape[0] != Aa.shape[1]:
        raise ValueError(f"A must be square, got shape {Aa.shape}")
    if np.abs(Aa.sum(axis=1) - 1).max() > 1e-9:
        raise ValueError("A must have rows summing to 1 (attention weights)")
    sigma2 = check_positive(sigma2, name="sigma2")
    return sigma2 * (Aa ** 2).sum(axis=1)


def loglog_slope(n: Any, ms: Any, n_min: float = 1) -> float:
    """Least-squares slope of log ms against log n over n >= n_min. numpy."""
    na, _ = as_float_array(n, name="n", min_ndim=1, max_ndim=1)
    ma, _ = as_float_array(ms, name="ms", min_ndim=1, max_ndim=1)
    if na.shape != ma.shape:
        raise ValueError(f"ms must have the shape of n {na.shape}, got {ma.shape}")
    if (na <= 0).any() or (ma <= 0).any():
        raise ValueError("n and ms must be > 0 for a log-log fit")
    keep = na >= check_real(n_min, name="n_min")
    if keep.sum() < 2:
        raise ValueError(f"n_min must leave at least 2 points, got {n_min!r}")
    return float(np.polyfit(np.log(na[keep]), np.log(ma[keep]), 1)[0])


def position_from_ms(ms: Any, sigma2: float = 1.0) -> np.ndarray:
    """n_hat = sigma^2 / MS: reading the position back from the variance (uniform model). numpy."""
    ma, _ = as_float_array(ms, name="ms", min_ndim=0)
    if (ma <= 0).any():
        raise ValueError("ms must be > 0")
    return check_positive(sigma2, name="sigma2") / ma


def adjacent_position_accuracy(n: int, d: int, heads: int = 1, method: str = "exact",
                               trials: int = 2000, seed: int | None = None) -> float:
    """Accuracy of the best threshold test telling position n from n+1 by the MS of y_n.

    Uniform causal weights, v ~ N(0, sigma^2): n d MS_n / sigma^2 ~ chi^2_d, and H independent
    heads pool to D = H d components. The two scaled chi-square densities cross at
    MS = sigma^2 log(1 + 1/n), the optimal threshold, so (equal priors)
    accuracy = (P[chi^2_D > D n c] + P[chi^2_D < D (n+1) c]) / 2 with c = log(1 + 1/n).
    method="simulate" draws `trials` pairs instead. scipy / numpy.
    Chapter why-position-encoding (weakness 2: resolution fades with n).
    """
    n = check_int_in(n, 1, None, name="n")
    d = check_int_in(d, 1, None, name="d")
    heads = check_int_in(heads, 1, None, name="heads")
    check_choice(method, ["exact", "simulate"], name="method")
    trials = check_int_in(trials, 1, None, name="trials")
    seed = None if seed is None else check_seed(seed)
    D = d * heads
    c = np.log1p(1.0 / n)
    if method == "exact":
        return float(0.5 * (stats.chi2.sf(D * n * c, D) + stats.chi2.cdf(D * (n + 1) * c, D)))
    trials = check_int_in(trials, 1, None, name="trials")
    rng = np.random.default_rng(seed)
    ms_n = rng.chisquare(D, size=trials) / (D * n)
    ms_n1 = rng.chisquare(D, size=trials) / (D * (n + 1))
    return float(0.5 * ((ms_n > c).mean() + (ms_n1 <= c).mean()))


def attention_entropy(weights: Any) -> np.ndarray:
    """Entropy -sum_m A_{nm} log A_{nm} of each row (0 log 0 = 0). numpy."""
    Aa, _ = as_float_array(weights, name="weights", min_ndim=1)
    if (Aa < 0).any():
        raise ValueError("weights must be >= 0")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(Aa > 0, Aa * np.log(np.where(Aa > 0, Aa, 1.0)), 0.0)
    return -terms.sum(axis=-1)


def nope_ms_curve(L: int, d: int, weights: str = "uniform", draws: int = 20,
                  d_head: int = 64, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean MS(y_n) over `draws` independent draws of v ~ N(0, 1)^(L x d); returns (n, MS). numpy.

    weights: "uniform" (1/n causal), "softmax" (random q, k, causal) or "bidirectional"
    (random q, k, no mask). Each draw has fresh values (and fresh q, k). Chapter
    why-position-encoding.
    """
    L = check_int_in(L, 2, None, name="L")
    d = check_int_in(d, 1, None, name="d")
    check_choice(weights, NOPE_WEIGHTS, name="weights")
    draws = check_int_in(draws, 1, None, name="draws")
    d_head = check_int_in(d_head, 1, None, name="d_head")
    rng = np.random.default_rng(None if seed is None else check_seed(seed))
    acc = np.zeros(L)
    for _ in range(draws):
        if weights == "uniform":
            A = uniform_causal_weights(L)
        else:
            A = random_softmax_weights(L, d_head, causal=(weights == "softmax"),
                                       seed=int(rng.integers(2 ** 31)))
        acc += mean_square(A @ rng.normal(size=(L, d)))
    return np.arange(1, L + 1, dtype=float), acc / draws


def sample_position_estimates(n: int, d: int, weights: str = "uniform", heads: int = 1,
                              draws: int = 400, d_head: int = 64, L: int = 128,
                              seed: int | None = 0) -> np.ndarray:
    """n_hat = 1 / MS(y_n) over `draws` independent draws (sigma^2 = 1), H heads pooled. numpy.

    Given the weights A, y_{n,i} = sum_m A_{nm} v_{m,i} is N(0, sum_m A_{nm}^2) exactly, so
    H d MS_n ~ ||A_n||^2 chi^2_{H d} for uniform weights (the same A in every head), and
    for the softmax weights a mixture: fresh random (q, k) ~ N(0, I_{d_head}) per head and
    draw, so MS_n = (1/H) sum_h ||A^h_n||^2 chi^2_d / d. The causal row n sees keys 1..n;
    the bidirectional row sees all L keys of the sequence (L >= n), whatever n is.
    Chapter why-position-encoding (weakness 2: resolution).
    """
    n = check_int_in(n, 1, None, name="n")
    check_int_in(L, n, None, name="L")
    rng = np.random.default_rng(None if seed is None else check_seed(seed))
    row2 = row_square_sums(n, weights, heads=heads, draws=draws, d_head=d_head, L=L, rng=rng)
    return estimates_from_row_square_sums(row2, d, rng=rng)


def row_square_sums(n: int, weights: str = "uniform", *, heads: int = 1, draws: int = 1,
                    d_head: int = 64, L: int = 128, rng: Any = None) -> np.ndarray:
    """sum_m A_{nm}^2 of row n of the attention weights, per draw and head: (draws, heads). numpy.

    weights="uniform": 1/n (no randomness); "softmax": one row of random-(q, k) causal softmax
    weights over n keys, (q, k) ~ N(0, I_{d_head}) fresh per draw and head; "bidirectional": the
    same over all L keys of the sequence, whatever n is. Only that row is formed (the rest of A does not enter MS(y_n)).
    ``rng``: a seed or a numpy Generator (used as is, so a caller can share one stream).
    Chapter why-position-encoding.
    """
    n = check_int_in(n, 1, None, name="n")
    check_choice(weights, NOPE_WEIGHTS, name="weights")
    heads = check_int_in(heads, 1, None, name="heads")
    draws = check_int_in(draws, 1, None, name="draws")
    d_head = check_int_in(d_head, 1, None, name="d_head")
    L = check_int_in(L, 1, None, name="L")
    rng = np.random.default_rng(rng)
    if weights == "uniform":
        return np.full((draws, heads), 1.0 / n)                     # sum_m (1/n)^2 = 1/n
    M = n if weights == "softmax" else L
    out = np.empty((draws, heads))
    for h in range(heads):
        q = rng.normal(size=(draws, 1, d_head))
        k = rng.normal(size=(draws, M, d_head))
        w = attention(q, k, np.zeros((draws, M, 1)), return_weights=True)[1]   # (draws, 1, M)
        out[:, h] = (w[:, 0] ** 2).sum(axis=1)
    return out


def estimates_from_row_square_sums(row2: Any, d: int, *, rng: Any = None) -> np.ndarray:
    """n_hat = 1 / MS with MS = mean over heads of row2 * chi^2_d / d; row2 (draws, heads). numpy.

    Given the weights, d MS / sum_m A_{nm}^2 is chi^2_d exactly (sigma^2 = 1), so this samples
    the position read back from d value dimensions. ``rng``: a seed or a numpy Generator.
    Chapter why-position-encoding.
    """
    r2 = as_float_array(row2, name="row2", min_ndim=2, max_ndim=2)[0]
    if (r2 <= 0).any():
        raise ValueError("row2 must be > 0")
    d = check_int_in(d, 1, None, name="d")
    if not (rng is None or isinstance(rng, np.random.Generator)):
        rng = check_seed(rng, name="rng")
    rng = np.random.default_rng(rng)
    ms = (r2 * rng.chisquare(d, size=r2.shape) / d).mean(axis=1)
    return 1.0 / ms
