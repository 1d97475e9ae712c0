"""Tests of kexue.matrices.lowrank_cr: brute-force oracles, numpy pinv/lstsq/svd parity,
Monte Carlo for the sampled estimator, hypothesis properties of the error chain."""
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from kexue.matrices import lowrank_cr as CR


def factors(seed, n=9, l=7, m=6):
    rng = np.random.default_rng(seed)
    # unequal column scales so that the norms (and the top-norm choice) differ
    return rng.normal(size=(n, l)) * rng.uniform(0.2, 3, size=l), rng.normal(size=(l, m))


def test_svd_floor_matches_eckart_young_by_truncated_svd():
    rng = np.random.default_rng(0)
    M = rng.normal(size=(12, 8))
    U, s, Vt = np.linalg.svd(M)
    for r in (0, 1, 3, 8):
        Mr = (U[:, :r] * s[:r]) @ Vt[:r]
        assert CR.svd_floor(M, r) == pytest.approx(np.linalg.norm(M - Mr), abs=1e-12)


def test_outer_norms_are_frobenius_norms_of_outer_products():
    X, Y = factors(1)
    direct = [np.linalg.norm(np.outer(X[:, i], Y[i])) for i in range(X.shape[1])]
    assert np.allclose(CR.cr_outer_norms(X, Y), direct, rtol=1e-13)


def test_topnorm_picks_largest_products_sorted():
    X, Y = factors(2)
    idx = CR.cr_select_topnorm(X, Y, 3)
    norms = CR.cr_outer_norms(X, Y)
    assert list(idx) == sorted(idx)
    assert norms[idx].min() >= np.delete(norms, idx).max()


def test_bruteforce_matches_itertools_enumeration_of_the_product():
    X, Y = factors(3)
    M = X @ Y
    errs = {S: np.linalg.norm(X[:, S] @ Y[S, :] - M) for S in itertools.combinations(range(7), 3)}
    best = min(errs, key=errs.get)
    idx, err = CR.cr_bruteforce(X, Y, 3)
    assert tuple(idx) == best and err == pytest.approx(errs[best], rel=1e-10)


def test_topnorm_is_optimal_for_orthogonal_outer_products():
    rng = np.random.default_rng(4)
    for _ in range(10):
        Q, _ = np.linalg.qr(rng.normal(size=(12, 8)))
        X, Y = Q * rng.uniform(0.1, 3, size=8), rng.normal(size=(8, 5))
        idx, _ = CR.cr_bruteforce(X, Y, 3)
        assert np.array_equal(idx, CR.cr_select_topnorm(X, Y, 3))


def test_topnorm_is_not_always_optimal_for_mixed_sign_overlaps():
    X, Y = CR.coherent_factors(20, 12, 15, 0.95, seed=0, mixed_signs=True)
    gaps = [CR.cr_error(X, Y, CR.cr_select_topnorm(X, Y, r)) / CR.cr_bruteforce(X, Y, r)[1] for r in (4, 6)]
    assert max(gaps) > 1.2


def test_coherent_factors_have_the_stated_cosines():
    for signs in (False, True):
        X, Y = CR.coherent_factors(10, 5, 7, 0.6, seed=1, mixed_signs=signs)
        V = np.stack([np.outer(X[:, i], Y[i]).ravel() for i in range(5)])
        V /= np.linalg.norm(V, axis=1, keepdims=True)
        off = np.abs((V @ V.T)[~np.eye(5, dtype=bool)])
        assert np.allclose(off, 0.6 ** 4, atol=1e-12)
    X0, Y0 = CR.coherent_factors(10, 5, 7, 0.0, seed=1)
    G = (X0.T @ X0) * (Y0 @ Y0.T)
    assert np.abs(G - np.diag(np.diag(G))).max() < 1e-12


def test_greedy_k1_is_topnorm_and_greedy_k2_matches_a_literal_reimplementation():
    for seed in range(5):
        X, Y = factors(seed, l=8)
        assert np.array_equal(CR.cr_greedy_k(X, Y, 3, 1), CR.cr_select_topnorm(X, Y, 3))
        V = [np.outer(X[:, i], Y[i]) for i in range(8)]
        omega = set(range(8))
        while len(omega) > 4:
            T = min(itertools.combinations(sorted(omega), 2), key=lambda t: np.linalg.norm(V[t[0]] + V[t[1]]))
            omega -= set(T)
        assert list(CR.cr_greedy_k(X, Y, 4, 2)) == sorted(omega)


def test_sampling_probs_kinds():
    X, Y = factors(5)
    norms = CR.cr_outer_norms(X, Y)
    assert np.allclose(CR.cr_sampling_probs(X, Y, "optimal"), norms / norms.sum())
    assert np.allclose(CR.cr_sampling_probs(X, Y, "sqnorm"), norms ** 2 / (norms ** 2).sum())
    assert np.allclose(CR.cr_sampling_probs(X, Y, "uniform"), 1 / 7)


def test_sampled_factors_reproduce_the_weighted_average_and_keep_repeats():
    X, Y = factors(6)
    p = CR.cr_sampling_probs(X, Y, "uniform")
    C, R, s = CR.cr_sample(X, Y, 30, p, seed=1)
    assert len(np.unique(s)) < 30                               # repeats are drawn
    avg = sum(np.outer(X[:, i], Y[i]) / p[i] for i in s) / 30
    assert np.allclose(C @ R, avg, atol=1e-12)
    assert np.allclose(CR.cr_sampled_product(X, Y, 30, p, seed=1), C @ R)


def test_sampled_estimator_is_unbiased_and_its_error_matches_the_closed_form():
    X, Y = factors(7)
    M = X @ Y
    rng = np.random.default_rng(0)
    for kind in ("optimal", "uniform"):
        p = CR.cr_sampling_probs(X, Y, kind)
        ests = np.stack([CR.cr_sampled_product(X, Y, 3, p, rng) for _ in range(20000)])
        assert np.linalg.norm(ests.mean(0) - M) / np.linalg.norm(M) < 0.03
        mse = np.mean(np.sum((ests - M) ** 2, axis=(1, 2)))
        assert mse == pytest.approx(CR.cr_expected_sq_error(X, Y, p, 3), rel=0.05)


def test_draw_counts_are_multinomial_and_weighted_products_match_a_loop():
    X, Y = factors(11)
    p = CR.cr_sampling_probs(X, Y, "optimal")
    counts = CR.cr_draw_counts(p, 5, 40000, seed=2)
    assert counts.shape == (40000, 7) and (counts.sum(1) == 5).all()
    assert np.allclose(counts.mean(0), 5 * p, atol=0.03)
    w = counts[:3] / (5 * p)
    prods = CR.cr_weighted_products(X, Y, w)
    for t in range(3):
        loop = sum(w[t, i] * np.outer(X[:, i], Y[i]) for i in range(7))
        assert np.allclose(prods[t], loop, atol=1e-12)
    est = CR.cr_weighted_products(X, Y, counts / (5 * p))
    assert np.linalg.norm(est.mean(0) - X @ Y) / np.linalg.norm(X @ Y) < 0.02
    mse = np.mean(np.sum((est - X @ Y) ** 2, axis=(1, 2)))
    assert mse == pytest.approx(CR.cr_expected_sq_error(X, Y, p, 5), rel=0.05)


def test_optimal_probs_minimise_the_expected_error_against_scipy_minimize():
    from scipy.optimize import minimize
    X, Y = factors(8)
    norms = CR.cr_outer_norms(X, Y)
    best = CR.cr_expected_sq_error(X, Y, CR.cr_sampling_probs(X, Y))
    f = lambda z: np.sum(norms ** 2 / np.exp(z - np.log(np.exp(z).sum())))   # softmax-parametrised p
    res = minimize(f, np.zeros(7), method="BFGS", options={"gtol": 1e-10})
    assert best == pytest.approx(res.fun - np.linalg.norm(X @ Y) ** 2, rel=1e-6)
    assert best == pytest.approx(norms.sum() ** 2 - np.linalg.norm(X @ Y) ** 2, rel=1e-12)


def test_full_core_matches_lstsq_on_the_kronecker_system():
    X, Y = factors(9)
    idx = np.array([0, 2, 5])
    C, R, M = X[:, idx], Y[idx, :], X @ Y
    # vec(C L R) = (R^T kron C) vec(L) (column-major vec)
    A = np.kron(R.T, C)
    lam = np.linalg.lstsq(A, M.ravel(order="F"), rcond=None)[0].reshape(3, 3, order="F")
    assert np.allclose(CR.cr_full_core(X, Y, idx), lam, atol=1e-10)


def test_diag_core_matches_lstsq_on_explicit_vectorised_outer_products():
    X, Y = factors(10)
    idx = np.array([1, 3, 4, 6])
    U = np.stack([np.outer(X[:, i], Y[i]).ravel() for i in idx], axis=1)
    lam = np.linalg.lstsq(U, (X @ Y).ravel(), rcond=None)[0]
    assert np.allclose(CR.cr_diag_core(X, Y, idx), lam, atol=1e-10)
    assert np.allclose(CR.cr_product(X, Y, idx, "diag"), (U @ lam).reshape(9, 6), atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), r=st.integers(1, 6))
def test_error_chain_svd_le_full_le_diag_le_identity(seed, r):
    X, Y = factors(seed)
    idx = np.sort(np.random.default_rng(seed).choice(7, r, replace=False))
    e = [CR.cr_error(X, Y, idx, c) for c in ("full", "diag", "identity")]
    floor = CR.svd_floor(X @ Y, r)
    tol = 1e-9 * np.linalg.norm(X @ Y)
    assert floor <= e[0] + tol and e[0] <= e[1] + tol and e[1] <= e[2] + tol


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), r=st.integers(1, 6))
def test_bruteforce_is_never_beaten_by_topnorm_or_greedy(seed, r):
    X, Y = factors(seed)
    _, best = CR.cr_bruteforce(X, Y, r)
    assert best <= CR.cr_error(X, Y, CR.cr_select_topnorm(X, Y, r)) + 1e-10
    if r < 6:
        assert best <= CR.cr_error(X, Y, CR.cr_greedy_k(X, Y, r, 2)) + 1e-10


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), a=st.floats(0.05, 20))
def test_expected_error_scales_like_the_square_and_falls_like_one_over_r(seed, a):
    X, Y = factors(seed)
    p = CR.cr_sampling_probs(X, Y, "uniform")
    e1 = CR.cr_expected_sq_error(X, Y, p, 1)
    assert CR.cr_expected_sq_error(a * X, Y, p, 1) == pytest.approx(a * a * e1, rel=1e-9)
    assert CR.cr_expected_sq_error(X, Y, p, 5) == pytest.approx(e1 / 5, rel=1e-12)
    # uniform and squared-norm sampling always have the same expected error
    assert CR.cr_expected_sq_error(X, Y, CR.cr_sampling_probs(X, Y, "sqnorm"), 1) == pytest.approx(e1, rel=1e-9)


def test_bad_inputs_name_the_parameter():
    X, Y = factors(0)
    p = CR.cr_sampling_probs(X, Y)
    with pytest.raises(ValueError, match="M"):
        CR.svd_floor(np.ones(3), 1)
    with pytest.raises(ValueError, match="r"):
        CR.svd_floor(X, 99)
    with pytest.raises(ValueError, match="Y"):
        CR.cr_outer_norms(X, Y[:3])
    with pytest.raises(ValueError, match="X"):
        CR.cr_outer_norms(torch.ones(3, 7), Y)
    with pytest.raises(ValueError, match="X"):
        CR.cr_outer_norms(np.full((9, 7), np.nan), Y)
    with pytest.raises(ValueError, match="r"):
        CR.cr_select_topnorm(X, Y, 0)
    with pytest.raises(ValueError, match="kind"):
        CR.cr_sampling_probs(X, Y, "best")
    with pytest.raises(ValueError, match="X, Y"):
        CR.cr_sampling_probs(np.zeros((9, 7)), Y)
    with pytest.raises(ValueError, match="p"):
        CR.cr_expected_sq_error(X, Y, np.r_[0.0, np.full(6, 1 / 6)])
    with pytest.raises(ValueError, match="p"):
        CR.cr_expected_sq_error(X, Y, p[:3])
    with pytest.raises(ValueError, match="r"):
        CR.cr_expected_sq_error(X, Y, p, 0)
    with pytest.raises(ValueError, match="r"):
        CR.cr_sample(X, Y, 0, p)
    with pytest.raises(ValueError, match="seed"):
        CR.cr_sample(X, Y, 2, p, seed=-1)
    with pytest.raises(ValueError, match="p"):
        CR.cr_sampled_product(X, Y, 2, -p)
    with pytest.raises(ValueError, match="idx"):
        CR.cr_diag_core(X, Y, [0, 0])
    with pytest.raises(ValueError, match="idx"):
        CR.cr_full_core(X, Y, [7])
    with pytest.raises(ValueError, match="core"):
        CR.cr_product(X, Y, [0], "dense")
    with pytest.raises(ValueError, match="idx"):
        CR.cr_error(X, Y, [0.5])
    with pytest.raises(ValueError, match="max_subsets"):
        CR.cr_bruteforce(X, Y, 3, max_subsets=10)
    with pytest.raises(ValueError, match="k"):
        CR.cr_greedy_k(X, Y, 3, 5)
    with pytest.raises(ValueError, match="p"):
        CR.cr_draw_counts(p * 2, 3, 10)
    with pytest.raises(ValueError, match="n_draws"):
        CR.cr_draw_counts(p, 3, 0)
    with pytest.raises(ValueError, match="weights"):
        CR.cr_weighted_products(X, Y, np.ones((2, 3)))
    with pytest.raises(ValueError, match="coherence"):
        CR.coherent_factors(10, 5, 7, 1.0)
    with pytest.raises(ValueError, match="n"):
        CR.coherent_factors(5, 5, 7, 0.5)
    with pytest.raises(ValueError, match="mixed_signs"):
        CR.coherent_factors(10, 5, 7, 0.5, mixed_signs="yes")


def test_check_indices_validator():
    from kexue._validate import check_indices
    assert check_indices([2, 0], 3, name="idx").dtype == np.int64
    for bad in ([], [3], [-1], [1, 1], [[0]], [0.0]):
        with pytest.raises(ValueError, match="idx"):
            check_indices(bad, 3, name="idx")
    assert list(check_indices([1, 1], 3, name="idx", unique=False)) == [1, 1]


def test_coherent_factors_blames_l_past_the_widths():
    """l directions plus a shared one need n, m >= l + 1: an l past them names l."""
    X, Y = CR.coherent_factors(5, 4, 5, 0.5)
    assert X.shape == (5, 4) and Y.shape == (4, 5)
    for n, l, m in ((5, 1000, 5), (5, 5, 8), (8, 5, 5)):
        with pytest.raises(ValueError, match="l must be"):
            CR.coherent_factors(n, l, m, 0.5)
    with pytest.raises(ValueError, match="n must be"):
        CR.coherent_factors(1, 1, 5, 0.5)
