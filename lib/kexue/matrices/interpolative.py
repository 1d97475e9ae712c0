"""Interpolative decomposition (ID): M ≈ C Z with C = M[:, S] holding r actual columns of M.

Chapter: low-rank-id (Su Jianlin, "The road to low-rank approximation (4): ID", kexue.fm 10501),
after Cheng, Gimbutas, Martinsson & Rokhlin (2005) and Advani & O'Hagan (2021). All numpy/scipy
(no gradients); float64 throughout.

    Z* = argmin_Z ||C Z - M||_F = C^+ M                       (the column choice S is the hard part)
    M Pi = Q R  (column-pivoted QR),  C = Q_r R_11,  Z = [I_r, R_11^{-1} R_12] Pi^T

Column choices: column-pivoted Gram-Schmidt (:func:`pivoted_gram_schmidt`, the post's algorithm,
truncated after r steps), a Gaussian sketch first (:func:`id_random_projection`), random columns
first (:func:`id_column_sampling`), and the post's greedy that minimises the total residual
(:func:`id_greedy_min_residual`; for r = 1 it is the exact :func:`best_single_column`).
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

from .._validate import check_indices, check_int_in
from .lowrank_cr import as_matrix

__all__ = ["id_coefficients", "id_error", "pivoted_gram_schmidt", "id_cpqr", "id_random_projection",
           "id_column_sampling", "best_single_column", "id_greedy_min_residual", "decaying_matrix",
           "kahan_matrix",
           "ID_METHODS"]

ID_METHODS = ("cpqr", "greedy", "sketch", "sampling")


def _generator(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check_int_in(seed, 0, None, name="seed"))


def id_coefficients(M, idx) -> np.ndarray:
    """Z* = C^+ M for C = M[:, idx] (least squares, r x m); the best Z for a fixed skeleton."""
    M = as_matrix(M, name="M")
    idx = check_indices(idx, M.shape[1], name="idx")
    return np.linalg.lstsq(M[:, idx], M, rcond=None)[0]


def id_error(M, idx) -> float:
    """||M - C C^+ M||_F for C = M[:, idx]: the distance of the columns of M to span(C)."""
    M = as_matrix(M, name="M")
    idx = check_indices(idx, M.shape[1], name="idx")
    Q, _ = np.linalg.qr(M[:, idx])
    E = M - Q @ (Q.T @ M)
    return float(np.linalg.norm(E))


def pivoted_gram_schmidt(M, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The post's column-pivoted Gram-Schmidt, stopped after r steps: (piv, Q, R).

        rho_k = argmax_i ||m_i - sum_{j<k} (m_i^T q_j) q_j||,   q_k = normalised residual of m_rho_k

    piv (m,) lists the r chosen columns first (the rest in their original order), Q is n x r with
    orthonormal columns, R = Q^T M[:, piv] is r x m upper trapezoidal, so M[:, piv] ≈ Q R. Each
    step updates the residual matrix by a rank-one deflation (re-orthogonalised once), O(r n m).
    """
    M = as_matrix(M, name="M")
    n, m = M.shape
    r = check_int_in(r, 1, min(n, m), name="r")
    E = M.copy()                                   # residuals of every column, n x m
    norms2 = np.einsum("ij,ij->j", E, E)
    Q = np.zeros((n, r))
    chosen: list[int] = []
    for k in range(r):
        masked = norms2.copy()
        masked[chosen] = -np.inf
        j = int(np.argmax(masked))
        q = E[:, j].copy()
        q -= Q[:, :k] @ (Q[:, :k].T @ q)           # re-orthogonalise against earlier q's
        nq = np.linalg.norm(q)
        if not nq > 0:
            raise ValueError(f"r: M has numerical rank {k} < r = {r}; no further independent column")
        q /= nq
        Q[:, k] = q
        chosen.append(j)
        E -= np.outer(q, q @ E)                    # deflate every column by its component along q
        norms2 = np.einsum("ij,ij->j", E, E)
    rest = np.setdiff1d(np.arange(m), chosen)
    piv = np.concatenate([np.array(chosen, dtype=np.int64), rest])
    R = Q.T @ M[:, piv]
    R[np.tril_indices(r, -1)] = 0.0                # exact zeros below the diagonal
    return piv, Q, R


def id_cpqr(M, r: int) -> tuple[np.ndarray, np.ndarray]:
    """ID from column-pivoted QR: (idx, Z) with M ≈ M[:, idx] Z.

        Z = [I_r, R_11^{-1} R_12] Pi^T ,   idx = the first r pivots (in pivot order).

    This is scipy.linalg.interpolative.interp_decomp(M, r, rand=False), and equals C^+ M.
    """
    piv, _, R = pivoted_gram_schmidt(M, r)
    M = as_matrix(M, name="M")
    r = R.shape[0]
    T = solve_triangular(R[:, :r], R[:, r:], lower=False)      # R_11^{-1} R_12, r x (m - r)
    Z = np.empty((r, M.shape[1]))
    Z[:, piv] = np.hstack([np.eye(r), T])                      # undo the permutation: . Pi^T
    return piv[:r].copy(), Z


def id_random_projection(M, r: int, d: int, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Randomised ID: pivoted QR on the sketch Omega M (Omega: d x n, entries N(0, 1/n)) to choose
    the r columns, then Z = C^+ M on the full matrix. d >= r rows of sketch."""
    M = as_matrix(M, name="M")
    n, m = M.shape
    r = check_int_in(r, 1, min(n, m), name="r")
    d = check_int_in(d, r, None, name="d")
    omega = _generator(seed).normal(scale=1.0 / np.sqrt(n), size=(d, n))
    piv, _, _ = pivoted_gram_schmidt(omega @ M, r)
    idx = piv[:r].copy()
    return idx, id_coefficients(M, idx)


def id_column_sampling(M, r: int, k: int, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Column sampling (Advani & O'Hagan's Optim-RID): draw k >= r columns uniformly without
    replacement, pivoted QR among them picks r, then Z = C^+ M."""
    M = as_matrix(M, name="M")
    n, m = M.shape
    r = check_int_in(r, 1, min(n, m), name="r")
    k = check_int_in(k, r, m, name="k")
    cand = np.sort(_generator(seed).choice(m, size=k, replace=False))
    piv, _, _ = pivoted_gram_schmidt(M[:, cand], r)
    idx = cand[piv[:r]]
    return idx, id_coefficients(M, idx)


def best_single_column(M) -> int:
    """The exact best one-column skeleton (the post's enumeration, O(n m^2)):

        argmin_i sum_j ||m_j - (m_j^T m_i) m_i / ||m_i||^2||^2 = argmax_i sum_j (m_j^T m_i)^2 / ||m_i||^2.

    Zero columns are never chosen (unless every column is zero).
    """
    M = as_matrix(M, name="M")
    G = M.T @ M                                     # m x m
    d = np.diag(G)
    score = np.where(d > 0, np.einsum("ij,ij->j", G, G) / np.where(d > 0, d, 1.0), -np.inf)
    return int(np.argmax(score))


def id_greedy_min_residual(M, r: int) -> tuple[np.ndarray, np.ndarray]:
    """The post's improved greedy: pivoted QR with "largest residual norm" replaced by "smallest
    total residual after projecting every column onto it" (:func:`best_single_column` applied to
    the current residuals). Keeps the Gram matrix of the residuals, a rank-one update per step:

        G <- G - g_i g_i^T / G_ii ,   score_i = sum_j G_ij^2 / G_ii .

    Returns (idx, Z) with Z = C^+ M. Cost O(n m^2 + r m^2); r = 1 is exact.
    """
    M = as_matrix(M, name="M")
    n, m = M.shape
    r = check_int_in(r, 1, min(n, m), name="r")
    G = M.T @ M
    scale = max(float(np.max(np.diag(G))), 1e-300)
    chosen: list[int] = []
    for _ in range(r):
        d = np.diag(G).copy()
        ok = d > 1e-12 * scale
        ok[chosen] = False
        if not ok.any():
            raise ValueError(f"r: M has numerical rank {len(chosen)} < r = {r}")
        score = np.where(ok, np.einsum("ij,ij->j", G, G) / np.where(ok, d, 1.0), -np.inf)
        i = int(np.argmax(score))
        chosen.append(i)
        g = G[:, i].copy()
        G -= np.outer(g, g) / g[i]
    idx = np.array(chosen, dtype=np.int64)
    return idx, id_coefficients(M, idx)


def decaying_matrix(n: int, m: int, decay: float, seed=0) -> np.ndarray:
    """A test matrix U diag(sigma) V^T with Haar-random U (n x k), V (m x k), k = min(n, m), and
    sigma_i = decay^i (i = 0..k-1): a controlled, geometrically decaying spectrum."""
    n = check_int_in(n, 1, None, name="n")
    m = check_int_in(m, 1, None, name="m")
    if not (isinstance(decay, (int, float)) and 0 < decay <= 1):
        raise ValueError(f"decay must be in (0, 1], got {decay!r}")
    rng = _generator(seed)
    k = min(n, m)
    U, _ = np.linalg.qr(rng.normal(size=(n, k)))
    V, _ = np.linalg.qr(rng.normal(size=(m, k)))
    return (U * decay ** np.arange(k)) @ V.T


def kahan_matrix(n: int, c: float = 0.285, tilt: float = 1e-10) -> np.ndarray:
    """Kahan's matrix, where column-pivoted QR keeps the natural order yet is far from optimal:

        K = diag(1, s, s^2, ..., s^{n-1}) (I - c N),   s = sqrt(1 - c^2),  N = strictly upper ones,

    with column j scaled by (1 - tilt j) so that pivoting picks the columns in order (no ties).
    R_11^{-1} R_12 then grows exponentially with n. Chapter: low-rank-id (the |z| <= 2 question).
    """
    n = check_int_in(n, 2, None, name="n")
    if not (isinstance(c, (int, float)) and 0 < c < 1):
        raise ValueError(f"c must be in (0, 1), got {c!r}")
    if not (isinstance(tilt, (int, float)) and 0 <= tilt < 1 / n):
        raise ValueError(f"tilt must be in [0, 1/n), got {tilt!r}")
    s = np.sqrt(1.0 - c * c)
    K = np.eye(n) - c * np.triu(np.ones((n, n)), 1)
    return (s ** np.arange(n))[:, None] * K * (1.0 - tilt * np.arange(n))
