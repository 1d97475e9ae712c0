"""CUR decomposition: M ≈ C U R with C = M[:, S1] (columns), R = M[S2, :] (rows) and a small core.

Chapter: low-rank-cur (Su Jianlin, "The road to low-rank approximation (5): CUR", kexue.fm 10662),
after Sorensen & Embree (2016, DEIM) and Cohen, Musco & Musco (2017, leverage scores). All numpy
(no gradients); float64 throughout.

    optimal core:  U* = C^+ M R^+            (least squares for fixed C, R)
    cross core:    U  = (M[S2, S1])^+        (reproduces the chosen rows and columns)

Selections (columns; rows are the same on M^T): leverage scores ||V[i, :gamma]||^2
(:func:`leverage_scores`), DEIM on the leading singular vectors (:func:`deim`), largest norms,
uniform sampling and pivoted QR (:func:`select_columns`). :func:`maxvol_bruteforce` finds the
r x r submatrix of largest |det| by enumeration (small matrices only).
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from .._validate import check_choice, check_indices, check_int_in, check_seed
from .interpolative import pivoted_gram_schmidt
from .lowrank_cr import as_matrix

__all__ = ["cur", "cur_error", "leverage_scores", "deim", "deim_residuals", "select_columns",
           "select_rows", "maxvol_bruteforce", "greedy_cross", "CUR_CORES", "SELECTORS"]

CUR_CORES = ("optimal", "cross")
SELECTORS = ("deim", "leverage", "leverage-sample", "norm", "uniform", "cpqr")


def _generator(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check_int_in(seed, 0, None, name="seed"))


def cur(M, cols, rows, core: str = "optimal") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(C, U, R) with C = M[:, cols], R = M[rows, :] and U = C^+ M R^+ (optimal) or
    U = (M[rows, cols])^+ (cross). cols and rows may have different lengths."""
    M = as_matrix(M, name="M")
    check_choice(core, CUR_CORES, name="core")
    cols = check_indices(cols, M.shape[1], name="cols")
    rows = check_indices(rows, M.shape[0], name="rows")
    C, R = M[:, cols], M[rows, :]
    if core == "optimal":
        U = np.linalg.pinv(C) @ M @ np.linalg.pinv(R)
    else:
        U = np.linalg.pinv(M[np.ix_(rows, cols)])
    return C, U, R


def cur_error(M, cols, rows, core: str = "optimal") -> float:
    """||M - C U R||_F for the chosen columns, rows and core."""
    C, U, R = cur(M, cols, rows, core)
    return float(np.linalg.norm(as_matrix(M, name="M") - C @ U @ R))


def leverage_scores(M, rank: int | None = None, axis: str = "columns", rtol: float = 1e-10) -> np.ndarray:
    """Leverage scores of the columns (or rows) of M:

        H = M^+ M = V_gamma V_gamma^T,   h_i = H_ii = ||V[i, :gamma]||^2,   sum_i h_i = gamma,

    with gamma = rank (default: the numerical rank, singular values above rtol * sigma_1). Rows
    use U[:, :gamma] instead. numpy's svd returns V^T, so the column scores are the squared column
    norms of Vt[:gamma].
    """
    M = as_matrix(M, name="M")
    check_choice(axis, ["columns", "rows"], name="axis")
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    if rank is None:
        if not (isinstance(rtol, float) and 0 < rtol < 1):
            raise ValueError(f"rtol must be a float in (0, 1), got {rtol!r}")
        rank = int(np.sum(s > rtol * s[0])) if s[0] > 0 else 0
        if rank == 0:
            raise ValueError("M: all singular values are zero, no leverage scores")
    rank = check_int_in(rank, 1, s.size, name="rank")
    B = Vt[:rank].T if axis == "columns" else U[:, :rank]
    return np.einsum("ij,ij->i", B, B)


def deim_residuals(V, check: bool = True) -> tuple[np.ndarray, list[np.ndarray]]:
    """DEIM on the columns of V (n x r, orthonormal columns, sorted by importance): the chosen
    indices and the residual vector of every step.

        p_1 = argmax_i |V[i, 0]|,
        res_k = V[:, k] - V[:, :k] V[S_k, :k]^{-1} V[S_k, k],   p_{k+1} = argmax_i |res_k[i]|,

    res_k vanishes on S_k (up to rounding; the residuals are returned as computed), so the indices
    never repeat. check=True refuses a V whose columns are not orthonormal to 1e-8.
    """
    V = as_matrix(V, name="V")
    n, r = V.shape
    check_int_in(r, 1, n, name="V's number of columns")
    if check and np.abs(V.T @ V - np.eye(r)).max() > 1e-8:
        raise ValueError("V must have orthonormal columns (pass check=False to skip this test)")
    idx = [int(np.argmax(np.abs(V[:, 0])))]
    residuals = [V[:, 0].copy()]
    for k in range(1, r):
        S = np.array(idx)
        coef = np.linalg.solve(V[np.ix_(S, np.arange(k))], V[S, k])     # V[S_k, :k]^{-1} V[S_k, k]
        res = V[:, k] - V[:, :k] @ coef                                # zero on S up to rounding
        residuals.append(res)
        idx.append(int(np.argmax(np.abs(res))))
    return np.array(idx, dtype=np.int64), residuals


def deim(V, check: bool = True) -> np.ndarray:
    """The DEIM indices of V (see :func:`deim_residuals`)."""
    return deim_residuals(V, check)[0]


def select_columns(M, r: int, method: str = "deim", seed=0, rank: int | None = None) -> np.ndarray:
    """r column indices of M by one of :data:`SELECTORS`.

    deim: DEIM on V[:, :r];  leverage: the r largest leverage scores with gamma = rank (default r);
    leverage-sample: r draws without replacement with p_i = h_i / gamma;  norm: the r largest
    column norms;  uniform: r uniformly random columns;  cpqr: the first r pivots of pivoted QR.
    """
    if not isinstance(seed, np.random.Generator):
        check_seed(seed)
    M = as_matrix(M, name="M")
    check_choice(method, SELECTORS, name="method")
    r = check_int_in(r, 1, min(M.shape), name="r")
    if method == "deim":
        _, _, Vt = np.linalg.svd(M, full_matrices=False)
        return deim(Vt[:r].T, check=False)
    if method in ("leverage", "leverage-sample"):
        h = leverage_scores(M, rank=r if rank is None else rank, axis="columns")
        if method == "leverage":
            return np.sort(np.argsort(-h, kind="stable")[:r])
        if np.count_nonzero(h > 0) < r:
            raise ValueError(f"r: only {np.count_nonzero(h > 0)} columns have a non-zero leverage score")
        return np.sort(_generator(seed).choice(h.size, size=r, replace=False, p=h / h.sum()))
    if method == "norm":
        return np.sort(np.argsort(-np.linalg.norm(M, axis=0), kind="stable")[:r])
    if method == "uniform":
        return np.sort(_generator(seed).choice(M.shape[1], size=r, replace=False))
    return pivoted_gram_schmidt(M, r)[0][:r].copy()


def select_rows(M, r: int, method: str = "deim", seed=0, rank: int | None = None) -> np.ndarray:
    """r row indices of M: :func:`select_columns` on M^T (DEIM then runs on U[:, :r])."""
    M = as_matrix(M, name="M")
    return select_columns(M.T, r, method, seed, rank)


def maxvol_bruteforce(M, r: int, max_subsets: int = 2_000_000) -> tuple[np.ndarray, np.ndarray, float]:
    """The r x r submatrix of largest |det| by enumeration: (rows, cols, |det|). Small M only:
    raises when C(n, r) C(m, r) exceeds max_subsets. r = 1 is the entry of largest |m_ij|."""
    M = as_matrix(M, name="M")
    n, m = M.shape
    r = check_int_in(r, 1, min(n, m), name="r")
    max_subsets = check_int_in(max_subsets, 1, None, name="max_subsets")
    total = math.comb(n, r) * math.comb(m, r)
    if total > max_subsets:
        raise ValueError(f"max_subsets: C({n}, {r}) C({m}, {r}) = {total} submatrices exceed {max_subsets}")
    row_sets = np.array(list(itertools.combinations(range(n), r)))
    col_sets = np.array(list(itertools.combinations(range(m), r)))
    best, best_val = (row_sets[0], col_sets[0]), -1.0
    for rs in row_sets:
        blocks = M[rs][:, col_sets].transpose(1, 0, 2)          # (n_colsets, r, r)
        dets = np.abs(np.linalg.det(blocks))
        j = int(np.argmax(dets))
        if dets[j] > best_val:
            best, best_val = (rs, col_sets[j]), float(dets[j])
    return best[0].astype(np.int64), best[1].astype(np.int64), best_val


def greedy_cross(M, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy cross approximation with complete pivoting: (rows, cols), each of length r.

        (i_k, j_k) = argmax |E_ij|,   E <- E - E[:, j_k] E[i_k, :] / E[i_k, j_k],

    starting from E = M. Each step multiplies |det M[S2, S1]| by the pivot |E[i_k, j_k]|, so this is
    the greedy maximal-volume choice of the intersection on M itself (r = 1: the largest |m_ij|).
    Cost O(r n m).
    """
    M = as_matrix(M, name="M")
    r = check_int_in(r, 1, min(M.shape), name="r")
    E = M.copy()
    scale = float(np.abs(M).max())
    rows, cols = [], []
    for _ in range(r):
        i, j = np.unravel_index(int(np.argmax(np.abs(E))), E.shape)
        if not abs(E[i, j]) > 1e-12 * scale:           # what is left is rounding noise
            raise ValueError(f"r: M has rank {len(rows)} < r = {r}")
        rows.append(int(i))
        cols.append(int(j))
        E -= np.outer(E[:, j], E[i, :]) / E[i, j]
    return np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64)
