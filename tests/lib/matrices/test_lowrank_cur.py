"""Tests of kexue.matrices.lowrank_cur: pinv/lstsq/svd parity, interpolation property, DEIM mechanics
and its greedy-max-volume reading, brute-force max volume, hypothesis invariants."""
import itertools

import numpy as np
import pytest
import scipy.linalg.interpolative as sli
import torch
from hypothesis import given, settings, strategies as st

from kexue.matrices import lowrank_cur as K
from kexue.matrices import interpolative as I
from kexue.matrices import svd_floor


def matrix(seed, n=14, m=11, rank=None):
    rng = np.random.default_rng(seed)
    if rank is None:
        return rng.normal(size=(n, m)) * np.exp(rng.normal(size=m))
    return rng.normal(size=(n, rank)) @ rng.normal(size=(rank, m))


def test_optimal_core_matches_lstsq_on_the_kronecker_system():
    A = matrix(0)
    cols, rows = np.array([1, 4, 7]), np.array([0, 3, 5, 9])        # unequal counts are allowed
    C, U, R = K.cur(A, cols, rows)
    ref = np.linalg.lstsq(np.kron(R.T, C), A.ravel(order="F"), rcond=None)[0].reshape(3, 4, order="F")
    assert np.allclose(U, ref, atol=1e-10)


def test_both_cores_are_exact_for_rank_r_matrices():
    A = matrix(1, rank=4)
    cols, rows = np.array([0, 2, 5, 8]), np.array([1, 3, 6, 10])
    for core in K.CUR_CORES:
        assert K.cur_error(A, cols, rows, core) < 1e-10 * np.linalg.norm(A)


def test_cross_core_interpolates_the_chosen_rows_and_columns_and_fills_in_the_rest():
    A = matrix(2)
    cols, rows = np.array([1, 6, 9]), np.array([0, 4, 11])
    C, U, R = K.cur(A, cols, rows, "cross")
    Ahat = C @ U @ R
    assert np.allclose(Ahat[:, cols], A[:, cols], atol=1e-10)
    assert np.allclose(Ahat[rows, :], A[rows, :], atol=1e-10)
    oc, orr = np.setdiff1d(np.arange(11), cols), np.setdiff1d(np.arange(14), rows)
    D, Cb, Bb, Ab = A[np.ix_(orr, oc)], A[np.ix_(orr, cols)], A[np.ix_(rows, oc)], A[np.ix_(rows, cols)]
    assert np.allclose(Ahat[np.ix_(orr, oc)], Cb @ np.linalg.solve(Ab, Bb), atol=1e-9)
    assert K.cur_error(A, cols, rows, "cross") == pytest.approx(np.linalg.norm(D - Cb @ np.linalg.solve(Ab, Bb)), rel=1e-9)


def test_the_rank_1_toy_example():
    A = np.array([[2.0, 1, 3], [4, 3, 5], [6, 2, 7]])
    C, U, R = K.cur(A, [0], [0], "cross")
    assert np.allclose(C @ U @ R, [[2, 1, 3], [4, 2, 6], [6, 3, 9]])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), r=st.integers(1, 6))
def test_pythagoras_cur_never_beats_id_or_svd(seed, r):
    A = matrix(seed)
    rng = np.random.default_rng(seed)
    cols, rows = rng.choice(11, r, replace=False), rng.choice(14, r, replace=False)
    C, R = A[:, cols], A[rows, :]
    PC, PR = C @ np.linalg.pinv(C), np.linalg.pinv(R) @ R
    lhs = np.linalg.norm(A - PC @ A @ PR) ** 2
    rhs = np.linalg.norm(A - PC @ A) ** 2 + np.linalg.norm(PC @ A - PC @ A @ PR) ** 2
    assert lhs == pytest.approx(rhs, rel=1e-9)
    e = K.cur_error(A, cols, rows)
    assert e == pytest.approx(np.sqrt(lhs), rel=1e-9)
    assert e >= I.id_error(A, cols) - 1e-10 and I.id_error(A, cols) >= svd_floor(A, r) * (1 - 1e-10)


def test_leverage_scores_match_the_hat_matrix_and_sum_to_the_rank():
    A = matrix(3, n=8, m=12)                         # n < m, full row rank
    h = K.leverage_scores(A)
    H = A.T @ np.linalg.solve(A @ A.T, A)
    assert np.allclose(h, np.diag(H), atol=1e-12) and h.sum() == pytest.approx(8)
    B = matrix(4, rank=5)
    hb = K.leverage_scores(B)
    assert np.allclose(hb, np.diag(np.linalg.pinv(B) @ B), atol=1e-10) and hb.sum() == pytest.approx(5)
    hr = K.leverage_scores(B, axis="rows")
    assert np.allclose(hr, np.diag(B @ np.linalg.pinv(B)), atol=1e-10)
    assert K.leverage_scores(B, rank=2).sum() == pytest.approx(2)


def test_deim_residuals_vanish_on_chosen_indices_and_indices_are_greedy_max_volume():
    V, _ = np.linalg.qr(np.random.default_rng(5).normal(size=(20, 6)))
    idx, res = K.deim_residuals(V)
    assert len(set(idx.tolist())) == 6
    for k in range(1, 6):
        assert np.abs(res[k][idx[:k]]).max() < 1e-12 * np.abs(res[k]).max()    # vanishes on S_k
        assert abs(res[k][idx[k]]) == pytest.approx(np.abs(res[k]).max())
    for k in range(6):                                # DEIM = argmax |det V[S + {i}, :k+1]|
        S = list(idx[:k])
        vols = [abs(np.linalg.det(V[S + [i], :k + 1])) if i not in S else -1 for i in range(20)]
        assert int(np.argmax(vols)) == idx[k]
    P = np.eye(20)[:, idx]
    proj = V @ np.linalg.solve(P.T @ V, P.T)          # the DEIM interpolatory projector
    x = V @ np.random.default_rng(6).normal(size=6)
    assert np.allclose(proj @ x, x, atol=1e-10)


def test_deim_is_invariant_to_column_signs():
    V, _ = np.linalg.qr(np.random.default_rng(7).normal(size=(15, 5)))
    assert np.array_equal(K.deim(V), K.deim(V * np.array([1, -1, -1, 1, -1])))


def test_select_columns_methods():
    A = matrix(8, n=20, m=16)
    norms = np.linalg.norm(A, axis=0)
    assert set(K.select_columns(A, 4, "norm")) == set(np.argsort(-norms)[:4])
    assert list(K.select_columns(A, 4, "cpqr")) == list(sli.interp_decomp(A.copy(), 4, rand=False)[0][:4])
    h = K.leverage_scores(A, rank=4)
    assert set(K.select_columns(A, 4, "leverage")) == set(np.argsort(-h)[:4])
    for method in K.SELECTORS:
        idx = K.select_columns(A, 4, method, seed=1)
        assert len(set(idx.tolist())) == 4 and idx.max() < 16
    assert np.array_equal(K.select_columns(A, 4, "uniform", seed=3), K.select_columns(A, 4, "uniform", seed=3))
    _, _, Vt = np.linalg.svd(A, full_matrices=False)
    assert list(K.select_columns(A, 4, "deim")) == list(K.deim(Vt[:4].T))
    U, _, _ = np.linalg.svd(A, full_matrices=False)
    assert list(K.select_rows(A, 4, "deim")) == list(K.deim(U[:, :4]))


def test_maxvol_bruteforce_against_itertools_and_r1():
    A = matrix(9, n=6, m=5)
    rows, cols, vol = K.maxvol_bruteforce(A, 2)
    ref = max(abs(np.linalg.det(A[np.ix_(rs, cs)]))
              for rs in itertools.combinations(range(6), 2) for cs in itertools.combinations(range(5), 2))
    assert vol == pytest.approx(ref, rel=1e-12)
    assert vol == pytest.approx(abs(np.linalg.det(A[np.ix_(rows, cols)])), rel=1e-12)
    r1, c1, v1 = K.maxvol_bruteforce(A, 1)
    assert v1 == pytest.approx(np.abs(A).max())


def test_greedy_cross_is_greedy_max_volume_on_m_and_interpolates():
    A = matrix(10, n=8, m=7)
    rows, cols = K.greedy_cross(A, 3)
    assert abs(A[rows[0], cols[0]]) == np.abs(A).max()
    for k in range(1, 3):                             # each step maximises |det| given the earlier ones
        best = max(((i, j) for i in range(8) for j in range(7) if i not in rows[:k] and j not in cols[:k]),
                   key=lambda ij: abs(np.linalg.det(A[np.ix_(list(rows[:k]) + [ij[0]], list(cols[:k]) + [ij[1]])])))
        assert best == (rows[k], cols[k])
    C, U, R = K.cur(A, cols, rows, "cross")
    assert np.allclose((C @ U @ R)[rows], A[rows], atol=1e-10)
    B = matrix(11, rank=3)
    rb, cb = K.greedy_cross(B, 3)
    assert K.cur_error(B, cb, rb, "cross") < 1e-9 * np.linalg.norm(B)
    with pytest.raises(ValueError, match="r"):
        K.greedy_cross(B, 4)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), r=st.integers(1, 2))
def test_max_volume_cross_meets_the_goreinov_tyrtyshnikov_bound(seed, r):
    A = matrix(seed, n=7, m=6)
    rows, cols, _ = K.maxvol_bruteforce(A, r)
    C, U, R = K.cur(A, cols, rows, "cross")
    s = np.linalg.svd(A, compute_uv=False)
    assert np.abs(A - C @ U @ R).max() <= (r + 1) * s[r] * (1 + 1e-9)


def test_bad_inputs_name_the_parameter():
    A = matrix(0)
    with pytest.raises(ValueError, match="core"):
        K.cur(A, [0], [0], "best")
    with pytest.raises(ValueError, match="cols"):
        K.cur(A, [0, 0], [1])
    with pytest.raises(ValueError, match="rows"):
        K.cur_error(A, [0], [20])
    with pytest.raises(ValueError, match="M"):
        K.cur_error(torch.ones(3, 3), [0], [0])
    with pytest.raises(ValueError, match="axis"):
        K.leverage_scores(A, axis="diag")
    with pytest.raises(ValueError, match="rank"):
        K.leverage_scores(A, rank=50)
    with pytest.raises(ValueError, match="rtol"):
        K.leverage_scores(A, rtol=2.0)
    with pytest.raises(ValueError, match="M"):
        K.leverage_scores(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="V"):
        K.deim(np.ones((5, 2)))
    with pytest.raises(ValueError, match="V"):
        K.deim_residuals(np.ones((2, 3)), check=False)
    with pytest.raises(ValueError, match="method"):
        K.select_columns(A, 2, "kmeans")
    with pytest.raises(ValueError, match="r"):
        K.select_rows(A, 0)
    with pytest.raises(ValueError, match="seed"):
        K.select_columns(A, 2, "uniform", seed=-1)
    with pytest.raises(ValueError, match="r"):
        K.select_columns(np.diag([1.0, 2.0, 0.0]), 3, "leverage-sample", rank=2)
    with pytest.raises(ValueError, match="max_subsets"):
        K.maxvol_bruteforce(A, 3, max_subsets=100)
