"""CR approximation of a matrix product: keep r of the l outer products x_i y_i^T of XY.

Chapter: low-rank-cr (Su Jianlin, "The road to low-rank approximation (3): CR", kexue.fm 10427),
after Drineas, Kannan & Mahoney (2006). All numpy (no gradients are needed); float64 throughout.

    XY = sum_i x_i y_i^T      (x_i: column i of X, y_i^T: row i of Y, i = 0..l-1)
    CR = X[:, S] Y[S, :]      (the r outer products with indices S)

Selections: the r largest ||x_i|| ||y_i|| (:func:`cr_select_topnorm`), the post's greedy over
k-tuples (:func:`cr_greedy_k`), the exact optimum by enumeration (:func:`cr_bruteforce`), and
i.i.d. sampling with weights 1/(r p_i) (:func:`cr_sample`). Cores for a fixed selection: the
identity, the best diagonal (:func:`cr_diag_core`) and the best full r x r matrix
(:func:`cr_full_core`). :func:`svd_floor` is the Eckart-Young bound every rank-r method obeys.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from .._validate import (as_float_array, check_choice, check_in_range, check_indices,
                         check_int_in, check_ndarray)

__all__ = ["svd_floor", "cr_outer_norms", "cr_select_topnorm", "cr_sampling_probs",
           "cr_expected_sq_error", "cr_sample", "cr_sampled_product", "cr_product",
           "cr_diag_core", "cr_full_core", "cr_error", "cr_bruteforce", "cr_greedy_k",
           "cr_draw_counts", "cr_weighted_products",
           "coherent_factors", "CORES", "SAMPLING_KINDS"]

CORES = ("identity", "diag", "full")
SAMPLING_KINDS = ("optimal", "uniform", "sqnorm")


def as_matrix(a, *, name: str) -> np.ndarray:
    """A finite real 2-D numpy array (float64 copy); tensors and other types are refused."""
    if not isinstance(a, (np.ndarray, list, tuple)):
        check_ndarray(a, name=name)
    arr, _ = as_float_array(a, name=name, min_ndim=2, max_ndim=2)
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must have at least one row, got shape {arr.shape}")
    return arr


def _pair(X, Y) -> tuple[np.ndarray, np.ndarray]:
    X, Y = as_matrix(X, name="X"), as_matrix(Y, name="Y")
    if X.shape[1] != Y.shape[0]:
        raise ValueError(f"Y must have as many rows as X has columns ({X.shape[1]}), got {Y.shape[0]}")
    return X, Y


def _generator(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check_int_in(seed, 0, None, name="seed"))


def svd_floor(M, r: int) -> float:
    """Eckart-Young: min over rank <= r of ||M - M_r||_F = sqrt(sum_{i>r} sigma_i^2).

    Chapters: low-rank-cr, low-rank-id, low-rank-cur (the floor no structured method beats).
    """
    M = as_matrix(M, name="M")
    r = check_int_in(r, 0, min(M.shape), name="r")
    s = np.linalg.svd(M, compute_uv=False)
    return float(np.sqrt(np.sum(s[r:] ** 2)))


def cr_outer_norms(X, Y) -> np.ndarray:
    """||v_i|| = ||x_i y_i^T||_F = ||x_i|| ||y_i|| for i = 0..l-1 (shape (l,))."""
    X, Y = _pair(X, Y)
    return np.linalg.norm(X, axis=0) * np.linalg.norm(Y, axis=1)


def cr_select_topnorm(X, Y, r: int) -> np.ndarray:
    """The post's baseline: the r indices with the largest ||x_i|| ||y_i|| (sorted ascending).

    Exactly optimal when the v_i = vec(x_i y_i^T) are pairwise orthogonal:
    ||sum_i gamma_i v_i||^2 = sum_i gamma_i ||v_i||^2.
    """
    norms = cr_outer_norms(X, Y)
    r = check_int_in(r, 1, norms.size, name="r")
    order = np.argsort(-norms, kind="stable")       # ties: the lower index first
    return np.sort(order[:r])


def cr_sampling_probs(X, Y, kind: str = "optimal") -> np.ndarray:
    """Sampling distribution over the l outer products.

    optimal: p_i = ||x_i|| ||y_i|| / Z, Z = sum_j ||x_j|| ||y_j|| (minimises the error, below);
    uniform: p_i = 1/l;  sqnorm: p_i proportional to ||x_i||^2 ||y_i||^2.
    """
    check_choice(kind, SAMPLING_KINDS, name="kind")
    norms = cr_outer_norms(X, Y)
    if kind == "uniform":
        return np.full(norms.size, 1.0 / norms.size)
    w = norms if kind == "optimal" else norms ** 2
    if not w.sum() > 0:
        raise ValueError("X, Y: every outer product is zero, no norm-based distribution exists")
    return w / w.sum()


def _probs(p, norms: np.ndarray) -> np.ndarray:
    p, _ = as_float_array(p, name="p", min_ndim=1, max_ndim=1)
    if p.size != norms.size:
        raise ValueError(f"p must have {norms.size} entries (one per outer product), got {p.size}")
    if (p < 0).any() or abs(p.sum() - 1) > 1e-8:
        raise ValueError("p must be non-negative and sum to 1")
    if ((p == 0) & (norms > 0)).any():
        raise ValueError("p must be > 0 wherever ||x_i|| ||y_i|| > 0 (else the estimator is biased)")
    return p


def cr_expected_sq_error(X, Y, p, r: int = 1) -> float:
    """E||(1/r) sum_j v_{s_j}/p_{s_j} - XY||_F^2 for r i.i.d. draws s_j ~ p:

        ( sum_i ||x_i||^2 ||y_i||^2 / p_i  -  ||XY||_F^2 ) / r.

    The post writes the single draw (r = 1); i.i.d. draws divide the variance by r.
    """
    X, Y = _pair(X, Y)
    norms = cr_outer_norms(X, Y)
    p = _probs(p, norms)
    r = check_int_in(r, 1, None, name="r")
    live = norms > 0
    total = float(np.sum(norms[live] ** 2 / p[live]))
    return max(total - float(np.linalg.norm(X @ Y) ** 2), 0.0) / r


def cr_sample(X, Y, r: int, p, seed=0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw s_1..s_r i.i.d. from p and return (C, R, s) with the scaled factors

        C = X[:, s] / sqrt(r p_s),   R = Y[s, :] / sqrt(r p_s),   C R = (1/r) sum_j v_{s_j}/p_{s_j}.

    Repeats are kept (that is what makes C R unbiased); `seed` is an int or a Generator.
    """
    X, Y = _pair(X, Y)
    norms = cr_outer_norms(X, Y)
    p = _probs(p, norms)
    r = check_int_in(r, 1, None, name="r")
    s = _generator(seed).choice(norms.size, size=r, replace=True, p=p)
    scale = 1.0 / np.sqrt(r * p[s])
    return X[:, s] * scale, Y[s, :] * scale[:, None], s


def cr_sampled_product(X, Y, r: int, p, seed=0) -> np.ndarray:
    """The sampled estimator C R of XY (see :func:`cr_sample`), shape (n, m)."""
    C, R, _ = cr_sample(X, Y, r, p, seed)
    return C @ R


def cr_diag_core(X, Y, idx) -> np.ndarray:
    """Best diagonal weights for fixed columns/rows S (the post's Hadamard identities):

        lambda* = argmin ||sum_i lambda_i c_i r_i^T - XY||_F = (U^T U)^+ U^T V 1,
        U^T U = (C^T C) o (R R^T),   U^T V 1 = ((C^T X) o (R Y^T)) 1,

    with C = X[:, S], R = Y[S, :] and o the elementwise product (no (nm x r) matrix is built).
    """
    X, Y = _pair(X, Y)
    idx = check_indices(idx, X.shape[1], name="idx")
    C, R = X[:, idx], Y[idx, :]
    gram = (C.T @ C) * (R @ R.T)                       # (r, r)
    rhs = ((C.T @ X) * (R @ Y.T)).sum(axis=1)          # (r,)
    return np.linalg.pinv(gram, hermitian=True) @ rhs


def cr_full_core(X, Y, idx) -> np.ndarray:
    """Best full core for fixed C = X[:, S], R = Y[S, :]:  Lambda* = C^+ (XY) R^+  (r x r)."""
    X, Y = _pair(X, Y)
    idx = check_indices(idx, X.shape[1], name="idx")
    return np.linalg.pinv(X[:, idx]) @ (X @ Y) @ np.linalg.pinv(Y[idx, :])


def cr_product(X, Y, idx, core: str = "identity") -> np.ndarray:
    """C Lambda R with C = X[:, S], R = Y[S, :] and Lambda = I, the best diagonal or the best full core."""
    check_choice(core, CORES, name="core")
    X, Y = _pair(X, Y)
    idx = check_indices(idx, X.shape[1], name="idx")
    C, R = X[:, idx], Y[idx, :]
    if core == "identity":
        return C @ R
    if core == "diag":
        return (C * cr_diag_core(X, Y, idx)) @ R
    return C @ cr_full_core(X, Y, idx) @ R


def cr_error(X, Y, idx, core: str = "identity") -> float:
    """||C Lambda R - XY||_F for the selection idx and the chosen core."""
    X, Y = _pair(X, Y)
    return float(np.linalg.norm(cr_product(X, Y, idx, core) - X @ Y))


def _gram_of_outer(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    # G_ij = <v_i, v_j> = (x_i^T x_j)(y_i^T y_j): every ||sum_{i in T} v_i||^2 = 1_T^T G 1_T
    return (X.T @ X) * (Y @ Y.T)


def cr_bruteforce(X, Y, r: int, max_subsets: int = 200_000) -> tuple[np.ndarray, float]:
    """The exact optimum over all C(l, r) selections: (idx, ||CR - XY||_F).

    Uses ||CR - XY||^2 = ||sum_{i not in S} v_i||^2 = 1^T G 1 over the dropped set, G the Gram
    matrix of the v_i, evaluated for all subsets at once in chunks. Raises when C(l, r) exceeds
    max_subsets (instead of running for hours). Ties go to the lexicographically first set.
    """
    X, Y = _pair(X, Y)
    l = X.shape[1]
    r = check_int_in(r, 1, l, name="r")
    max_subsets = check_int_in(max_subsets, 1, None, name="max_subsets")
    if math.comb(l, r) > max_subsets:
        raise ValueError(f"max_subsets: C({l}, {r}) = {math.comb(l, r)} selections exceed {max_subsets}")
    G = _gram_of_outer(X, Y)
    if r == l:
        return np.arange(l), 0.0
    # enumerate the dropped sets (complements of the kept ones, in the same lexicographic order)
    keeps = np.array(list(itertools.combinations(range(l), r)), dtype=np.int64)      # (N, r)
    mask = np.ones((len(keeps), l), dtype=bool)
    mask[np.arange(len(keeps))[:, None], keeps] = False
    drops = np.nonzero(mask)[1].reshape(len(keeps), l - r)                           # (N, l - r)
    errs = np.empty(len(keeps))
    for a in range(0, len(keeps), 4096):
        D = drops[a:a + 4096]
        errs[a:a + 4096] = G[D[:, :, None], D[:, None, :]].sum(axis=(1, 2))
    best = int(np.argmin(errs))
    return keeps[best].copy(), float(np.sqrt(max(errs[best], 0.0)))


def cr_draw_counts(p, r: int, n_draws: int, seed=0) -> np.ndarray:
    """How often each index is drawn in r i.i.d. draws from p, for n_draws independent
    estimators: an (n_draws, l) integer array whose rows sum to r (multinomial counts)."""
    p, _ = as_float_array(p, name="p", min_ndim=1, max_ndim=1)
    if (p < 0).any() or abs(p.sum() - 1) > 1e-8:
        raise ValueError("p must be non-negative and sum to 1")
    r = check_int_in(r, 1, None, name="r")
    n_draws = check_int_in(n_draws, 1, None, name="n_draws")
    return _generator(seed).multinomial(r, p / p.sum(), size=n_draws)


def cr_weighted_products(X, Y, weights) -> np.ndarray:
    """sum_i w_ti x_i y_i^T for each row w_t of weights (T, l): shape (T, n, m).

    With w = counts / (r p) (counts from :func:`cr_draw_counts`) these are T independent sampled
    estimators of XY; every diagonal core is one row of weights.
    """
    X, Y = _pair(X, Y)
    w, _ = as_float_array(weights, name="weights", min_ndim=1, max_ndim=2)
    w2 = np.atleast_2d(w)
    if w2.shape[1] != X.shape[1]:
        raise ValueError(f"weights must have {X.shape[1]} columns (one per outer product), got {w2.shape[1]}")
    return np.einsum("nl,tl,lm->tnm", X, w2, Y, optimize=True)


def cr_greedy_k(X, Y, r: int, k: int, max_subsets: int = 200_000) -> np.ndarray:
    """The post's greedy over k-tuples: (l - r)/k times, drop the k remaining outer products
    whose *own* sum has the smallest norm, argmin_T ||sum_{i in T} v_i|| (T among the remaining).

    Returns the r kept indices, sorted. k = 1 is the top-norm selection. When k does not divide
    l - r, the last step drops the remaining (l - r) mod k by the same rule. Each step costs
    C(l, k) norm evaluations (raises when that exceeds max_subsets).
    """
    X, Y = _pair(X, Y)
    l = X.shape[1]
    r = check_int_in(r, 1, l, name="r")
    k = check_int_in(k, 1, max(l - r, 1), name="k")
    max_subsets = check_int_in(max_subsets, 1, None, name="max_subsets")
    if math.comb(l, k) > max_subsets:
        raise ValueError(f"max_subsets: C({l}, {k}) = {math.comb(l, k)} tuples per step exceed {max_subsets}")
    G = _gram_of_outer(X, Y)
    remaining = list(range(l))
    while len(remaining) > r:
        kk = min(k, len(remaining) - r)
        best, best_val = None, np.inf
        for T in itertools.combinations(remaining, kk):
            val = G[np.ix_(T, T)].sum()
            if val < best_val - 1e-12 * max(1.0, best_val if np.isfinite(best_val) else 1.0):
                best, best_val = T, val
        remaining = [i for i in remaining if i not in best]
    return np.array(sorted(remaining), dtype=np.int64)


def coherent_factors(n: int, l: int, m: int, coherence: float, seed=0,
                     mixed_signs: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Test factors X (n x l), Y (l x m) whose outer products v_i = vec(x_i y_i^T) have a chosen
    overlap: x_i = a_i (sqrt(1 - c^2) q_i + c u), y_i = b_i (sqrt(1 - c^2) w_i + c z) with
    orthonormal q_i (columns of Q, needs n >= l), orthonormal w_i (needs m >= l), unit u ⟂ q_i,
    z ⟂ w_i, and a_i, b_i log-uniform in [0.2, 5]. Then <v_i, v_j> / (||v_i|| ||v_j||) = c^4
    for i != j: c = 0 gives pairwise orthogonal v_i (where top-norm is optimal), c -> 1 nearly
    parallel ones. mixed_signs=True flips the shared part of x_i by a random sign sigma_i, so the
    cosines become sigma_i sigma_j c^4 and some outer products partly cancel each other.
    Chapter: low-rank-cr (the explorer's coherence slider).
    """
    if not isinstance(mixed_signs, (bool, np.bool_)):
        raise ValueError(f"mixed_signs must be True or False, got {mixed_signs!r}")
    n = check_int_in(n, 2, None, name="n")
    m = check_int_in(m, 2, None, name="m")
    l = check_int_in(l, 1, min(n, m) - 1, name="l")        # l directions + the shared one
    c = check_in_range(coherence, 0.0, 1.0, name="coherence", hi_open=True)
    rng = _generator(seed)
    Qx, _ = np.linalg.qr(rng.normal(size=(n, l + 1)))          # l directions + the shared one
    Qy, _ = np.linalg.qr(rng.normal(size=(m, l + 1)))
    a = np.exp(rng.uniform(np.log(0.2), np.log(5.0), size=l))
    b = np.exp(rng.uniform(np.log(0.2), np.log(5.0), size=l))
    sign = rng.choice([-1.0, 1.0], size=l) if mixed_signs else np.ones(l)
    s = math.sqrt(1.0 - c * c)
    X = (s * Qx[:, :l] + c * Qx[:, l:] * sign) * a                   # (n, l)
    Y = ((s * Qy[:, :l] + c * Qy[:, l:]) * b).T                # (l, m)
    return X, Y
