"""Tests of kexue.matrices.interpolative: parity with scipy.linalg.interpolative and
scipy.linalg.qr(pivoting=True), pinv/lstsq, enumeration oracles, hypothesis invariants."""
import numpy as np
import pytest
import scipy.linalg as sl
import scipy.linalg.interpolative as sli
import torch
from hypothesis import given, settings, strategies as st

from kexue.matrices import interpolative as I
from kexue.matrices import svd_floor


def noisy_low_rank(seed, n=30, m=24, k=6, noise=1e-3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, k)) @ rng.normal(size=(k, m)) * rng.uniform(0.5, 2, size=m) + noise * rng.normal(size=(n, m))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), r=st.integers(1, 10))
def test_pivots_match_lapack_column_pivoted_qr(seed, r):
    A = np.random.default_rng(seed).normal(size=(14, 11)) * np.exp(np.random.default_rng(seed + 1).normal(size=11))
    piv, Q, R = I.pivoted_gram_schmidt(A, r)
    _, R_ref, P_ref = sl.qr(A, pivoting=True, mode="economic")
    assert list(piv[:r]) == list(P_ref[:r])
    assert np.allclose(np.abs(np.diag(R)), np.abs(np.diag(R_ref))[:r], rtol=1e-9)
    assert np.allclose(Q.T @ Q, np.eye(r), atol=1e-12)
    assert np.allclose(Q @ R[:, :r], A[:, piv[:r]], atol=1e-12)
    assert sorted(piv) == list(range(11))


def test_r_diagonal_dominates_its_rows_to_the_right():
    A = noisy_low_rank(3)
    _, _, R = I.pivoted_gram_schmidt(A, 6)
    d = np.abs(np.diag(R))
    assert (np.diff(d) <= 1e-12).all()
    for k in range(6):
        for j in range(k, R.shape[1]):
            assert R[k, k] ** 2 >= np.sum(R[k:j + 1, j] ** 2) * (1 - 1e-12) - 1e-24


@pytest.mark.parametrize("seed", range(4))
def test_id_cpqr_matches_scipy_interp_decomp(seed):
    A = noisy_low_rank(seed, n=60, m=40, k=8)
    idx, Z = I.id_cpqr(A, 8)
    sidx, proj = sli.interp_decomp(A.copy(), 8, rand=False)
    assert list(idx) == list(sidx[:8])
    Zs = sli.reconstruct_interp_matrix(sidx, proj)
    assert np.allclose(Z, Zs, atol=1e-10)
    B = sli.reconstruct_skel_matrix(A, 8, sidx)
    assert np.allclose(A[:, idx] @ Z, sli.reconstruct_matrix_from_id(B, sidx, proj), atol=1e-10)


def test_cpqr_coefficients_are_the_least_squares_ones_and_exact_at_full_rank():
    A = noisy_low_rank(5, noise=0.0)
    idx, Z = I.id_cpqr(A, 6)
    assert np.allclose(Z, np.linalg.pinv(A[:, idx]) @ A, atol=1e-9)
    assert np.allclose(Z[:, idx], np.eye(6), atol=1e-12)
    assert np.linalg.norm(A - A[:, idx] @ Z) < 1e-10 * np.linalg.norm(A)


def test_id_error_and_coefficients_against_pinv():
    A = noisy_low_rank(6, noise=0.1)
    idx = np.array([3, 7, 11])
    C = A[:, idx]
    assert np.allclose(I.id_coefficients(A, idx), np.linalg.pinv(C) @ A, atol=1e-10)
    assert I.id_error(A, idx) == pytest.approx(np.linalg.norm(A - C @ np.linalg.pinv(C) @ A), rel=1e-10)


def test_best_single_column_by_enumeration_and_the_r1_counterexample():
    A = noisy_low_rank(7, noise=0.3)
    errs = [I.id_error(A, [i]) for i in range(A.shape[1])]
    assert I.best_single_column(A) == int(np.argmin(errs))
    rng = np.random.default_rng(0)
    B = np.zeros((2, 21))
    B[0, :20], B[1, :20] = 1 + 0.05 * rng.normal(size=20), 0.05 * rng.normal(size=20)
    B[:, 20] = [0, 3]
    assert I.id_cpqr(B, 1)[0][0] == 20 and I.best_single_column(B) != 20
    assert I.id_error(B, [I.best_single_column(B)]) < 0.75 * I.id_error(B, [20])


def test_greedy_matches_an_explicit_residual_implementation():
    A = noisy_low_rank(8, noise=0.2)
    E, chosen = A.copy(), []
    for _ in range(4):
        tot = []
        for i in range(A.shape[1]):
            e = E[:, i]
            tot.append(np.inf if i in chosen or e @ e < 1e-20 else
                       np.linalg.norm(E - np.outer(e, e @ E) / (e @ e)))
        i = int(np.argmin(tot))
        chosen.append(i)
        e = E[:, i].copy()
        E -= np.outer(e, e @ E) / (e @ e)
    idx, Z = I.id_greedy_min_residual(A, 4)
    assert list(idx) == chosen
    assert I.id_greedy_min_residual(A, 1)[0][0] == I.best_single_column(A)
    assert np.allclose(Z, np.linalg.pinv(A[:, idx]) @ A, atol=1e-9)


def test_column_sampling_with_all_columns_is_cpqr_and_is_reproducible():
    A = noisy_low_rank(9)
    assert list(I.id_column_sampling(A, 5, A.shape[1], seed=3)[0]) == list(I.id_cpqr(A, 5)[0])
    a, b = I.id_column_sampling(A, 5, 10, seed=4), I.id_column_sampling(A, 5, 10, seed=4)
    assert np.array_equal(a[0], b[0]) and len(set(a[0])) == 5


def test_random_projection_with_an_orthogonal_sketch_is_cpqr():
    A = noisy_low_rank(10)
    idx, Z = I.id_random_projection(A, 5, 12, seed=0)
    assert len(set(idx)) == 5 and np.allclose(Z, np.linalg.pinv(A[:, idx]) @ A, atol=1e-9)
    # a sketch with d >= n is an invertible map; with n rows of a Haar rotation the pivots are CPQR's
    Q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(30, 30)))
    assert list(I.pivoted_gram_schmidt(Q @ A, 5)[0][:5]) == list(I.id_cpqr(A, 5)[0])


def test_kahan_matrix_keeps_the_natural_order_and_blows_up_the_coefficients():
    K = I.kahan_matrix(30)
    _, _, P = sl.qr(K, pivoting=True)
    assert list(P) == list(range(30))
    sidx, proj = sli.interp_decomp(K.copy(), 29, rand=False)
    assert list(sidx[:29]) == list(range(29)) and np.abs(proj).max() > 100
    idx, Z = I.id_cpqr(K, 29)
    assert np.allclose(Z, sli.reconstruct_interp_matrix(sidx, proj), rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="c"):
        I.kahan_matrix(5, c=1.0)
    with pytest.raises(ValueError, match="tilt"):
        I.kahan_matrix(5, tilt=0.5)


def test_decaying_matrix_has_the_stated_spectrum():
    A = I.decaying_matrix(20, 12, 0.7, seed=2)
    assert np.allclose(np.linalg.svd(A, compute_uv=False), 0.7 ** np.arange(12), atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), r=st.integers(1, 8), method=st.sampled_from(["cpqr", "greedy"]))
def test_rotation_invariance_and_the_svd_floor(seed, r, method):
    A = noisy_low_rank(seed, n=16, m=12, k=5, noise=0.05)
    U, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(16, 16)))
    fn = I.id_cpqr if method == "cpqr" else I.id_greedy_min_residual
    idx, _ = fn(A, r)
    assert list(fn(U @ A, r)[0]) == list(idx)               # only inner products matter
    assert I.id_error(A, idx) >= svd_floor(A, r) * (1 - 1e-10)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_adding_a_column_never_increases_the_error(seed):
    A = noisy_low_rank(seed, noise=0.1)
    rng = np.random.default_rng(seed)
    idx = rng.choice(A.shape[1], 5, replace=False)
    assert I.id_error(A, idx) <= I.id_error(A, idx[:4]) + 1e-10


def test_bad_inputs_name_the_parameter():
    A = noisy_low_rank(0)
    with pytest.raises(ValueError, match="M"):
        I.id_coefficients(np.ones(4), [0])
    with pytest.raises(ValueError, match="idx"):
        I.id_coefficients(A, [0, 0])
    with pytest.raises(ValueError, match="idx"):
        I.id_error(A, [99])
    with pytest.raises(ValueError, match="M"):
        I.id_error(torch.ones(3, 3), [0])
    with pytest.raises(ValueError, match="r"):
        I.pivoted_gram_schmidt(A, 0)
    with pytest.raises(ValueError, match="r"):
        I.pivoted_gram_schmidt(np.ones((5, 4)), 2)          # rank 1
    with pytest.raises(ValueError, match="r"):
        I.id_cpqr(A, 25)
    with pytest.raises(ValueError, match="d"):
        I.id_random_projection(A, 5, 3)
    with pytest.raises(ValueError, match="seed"):
        I.id_random_projection(A, 5, 8, seed=-2)
    with pytest.raises(ValueError, match="k"):
        I.id_column_sampling(A, 5, 4)
    with pytest.raises(ValueError, match="M"):
        I.best_single_column(np.full((3, 3), np.inf))
    with pytest.raises(ValueError, match="r"):
        I.id_greedy_min_residual(np.ones((5, 4)), 2)
    with pytest.raises(ValueError, match="decay"):
        I.decaying_matrix(5, 4, 1.5)
    with pytest.raises(ValueError, match="n"):
        I.decaying_matrix(0, 4, 0.5)
