"""Tests of kexue.matrices.hippo: the HiPPO matrices entry by entry, the memories against exact
projections, discretisation against scipy.signal.cont2discrete."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.polynomial import Legendre
from scipy.integrate import solve_ivp
from scipy.linalg import expm
from scipy.signal import cont2discrete

from kexue import matrices as M

torch.set_num_threads(1)


def signal(t):
    t = np.asarray(t, dtype=float)
    return np.sin(3 * t) + 0.5 * np.cos(7 * t) + 0.3 * t


# -- the basis -------------------------------------------------------------------------------
def test_legendre_g_matches_numpy_legendre_and_is_orthonormal():
    s = np.linspace(-1, 1, 101)
    for n in range(8):
        np.testing.assert_allclose(M.legendre_g(n, s), math.sqrt((2 * n + 1) / 2) * Legendre.basis(n)(s),
                                   atol=1e-13)
    G = M.legendre_basis(8, s)
    for n in range(8):
        np.testing.assert_allclose(G[n], M.legendre_g(n, s), atol=1e-13)
    x, w = np.polynomial.legendre.leggauss(30)
    Gq = M.legendre_basis(12, x)
    np.testing.assert_allclose((Gq * w) @ Gq.T, np.eye(12), atol=1e-13)


# -- closed forms, entry by entry ------------------------------------------------------------
@pytest.mark.parametrize("N", [1, 2, 3, 7])
@pytest.mark.parametrize("w", [0.5, 2.0])
def test_legt_entries(N, w):
    A, B = M.hippo_legt(N, w)
    for n in range(N):
        assert B[n] == pytest.approx(math.sqrt(2 * (2 * n + 1)) / w, abs=1e-14)
        for k in range(N):
            r = math.sqrt((2 * n + 1) * (2 * k + 1))
            want = -r / w if k < n else -((-1) ** (n - k)) * r / w
            assert A[n, k] == pytest.approx(want, abs=1e-13)


@pytest.mark.parametrize("N", [1, 2, 5])
def test_legt_paper_and_lmu_entries(N):
    w = 1.5
    A, B = M.hippo_legt(N, w, "paper")
    A0, _ = M.hippo_legt(N, w)
    np.testing.assert_allclose(A, A0, atol=1e-14)
    np.testing.assert_allclose(B, np.sqrt(2 * np.arange(N) + 1) / w, atol=1e-14)
    A, B = M.hippo_legt(N, w, "lmu")
    for n in range(N):
        assert B[n] == pytest.approx((2 * n + 1) / w, abs=1e-13)
        for k in range(N):
            want = -(2 * n + 1) / w * (1 if k < n else (-1) ** (n - k))
            assert A[n, k] == pytest.approx(want, abs=1e-13)


def test_lmu_form_is_the_published_lmu_system_up_to_the_sign_similarity():
    # Voelker et al. 2019: A_ij = (2i+1)/theta * (-1 if i < j else (-1)^(i-j+1)), B_i = (2i+1)(-1)^i/theta
    N, theta = 7, 2.0
    i, j = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    A_pub = (2 * i + 1) / theta * np.where(i < j, -1.0, (-1.0) ** (i - j + 1))
    B_pub = (2 * np.arange(N) + 1) * (-1.0) ** np.arange(N) / theta
    A, B = M.hippo_legt(N, theta, "lmu")
    D = np.diag((-1.0) ** np.arange(N))
    np.testing.assert_allclose(D @ A @ D, A_pub, atol=1e-13)
    np.testing.assert_allclose(D @ B, B_pub, atol=1e-13)
    assert np.abs(A - A_pub).max() > 1.0                  # not equal without the similarity


@pytest.mark.parametrize("N", [1, 2, 4, 9])
def test_legs_entries_all_scalings(N):
    A, B = M.hippo_legs(N)
    Ap, Bp = M.hippo_legs(N, "paper")
    An, Bn = M.hippo_legs(N, "nosqrt")
    for n in range(N):
        assert B[n] == pytest.approx(math.sqrt(2 * (2 * n + 1)), abs=1e-13)
        assert Bp[n] == pytest.approx(math.sqrt(2 * n + 1), abs=1e-13)
        assert Bn[n] == pytest.approx(2 * n + 1, abs=1e-12)
        for k in range(N):
            r = math.sqrt((2 * n + 1) * (2 * k + 1))
            want = -r if k < n else (-(n + 1) if k == n else 0.0)
            assert A[n, k] == pytest.approx(want, abs=1e-13)
            assert Ap[n, k] == pytest.approx(want, abs=1e-13)
            assert An[n, k] == pytest.approx(-(2 * n + 1) if k < n else (-(n + 1) if k == n else 0.0),
                                             abs=1e-12)
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(A).real), -np.arange(N, 0, -1), atol=1e-9)


def test_fourier_entries():
    N, w = 3, 0.7
    A, B = M.hippo_fourier(N, w)
    n = np.arange(-N, N + 1)
    for a in range(2 * N + 1):
        for b in range(2 * N + 1):
            want = ((2j * np.pi * n[a] - 1) / w) if a == b else -1 / w
            assert A[a, b] == pytest.approx(want, abs=1e-13)
    np.testing.assert_allclose(B, np.ones(2 * N + 1) / w)
    A2, B2 = M.hippo_fourier(N, w, "mean")
    np.testing.assert_allclose(A2 - np.diag(np.diag(A2)), 2 * (A - np.diag(np.diag(A))), atol=1e-14)
    np.testing.assert_allclose(B2, 2 * B)


@pytest.mark.parametrize("measure", ["legt", "legs", "fourier"])
@pytest.mark.parametrize("N", [1, 3, 10])
def test_matrices_generated_from_the_basis_equal_the_closed_forms(measure, N):
    A, B = M.hippo_matrices(measure, N, 1.7)
    A2, B2 = M.hippo_from_basis(measure, N, 1.7)
    np.testing.assert_allclose(A2, A, atol=1e-11 * max(1, np.abs(A).max()))
    np.testing.assert_allclose(B2, B, atol=1e-12 * max(1, np.abs(B).max()))


def test_s4_legt_and_legs_fixtures():
    # S4's transition('legt'/'legs'), typed from its documented closed forms (w = 1, paper scaling)
    N = 8
    q = np.arange(N)
    R = np.sqrt(2 * q + 1)
    i, j = np.meshgrid(q, q, indexing="ij")
    A_legt = -(R[:, None] * np.where(i < j, (-1.0) ** (i - j), 1.0) * R[None, :])
    A_legs = -np.where(i > j, R[:, None] * R[None, :], np.where(i == j, i + 1.0, 0.0))
    A, B = M.hippo_legt(N, 1.0, "paper")
    np.testing.assert_allclose(A, A_legt, atol=1e-13)
    np.testing.assert_allclose(B, R, atol=1e-13)
    A, B = M.hippo_legs(N, "paper")
    np.testing.assert_allclose(A, A_legs, atol=1e-13)
    np.testing.assert_allclose(B, R, atol=1e-13)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.2, 5.0), min_size=1, max_size=6))
def test_rescale_state_is_a_similarity(lam):
    lam = np.array(lam)
    A, B = M.hippo_legt(lam.size, 1.3)
    A2, B2 = M.rescale_state(A, B, lam)
    np.testing.assert_allclose(np.diag(lam) @ A2 @ np.diag(1 / lam), A, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(B2 * lam, B, rtol=1e-12)
    np.testing.assert_allclose(np.sort_complex(np.linalg.eigvals(A2)), np.sort_complex(np.linalg.eigvals(A)),
                               atol=1e-6)


# -- projections, memories -------------------------------------------------------------------
def test_projection_is_least_squares_and_reconstruction_inverts_it():
    poly = lambda t: 1 - t + 0.3 * t ** 3
    c = M.project(poly, 2.0, 6, "legt", 1.5)
    s = np.linspace(-1, 1, 50)
    np.testing.assert_allclose(M.reconstruct(c, s, "legt"), poly(M.window_map("legt", s, 2.0, 1.5)), atol=1e-12)
    c = M.project(poly, 2.0, 6, "legs")
    np.testing.assert_allclose(M.reconstruct(c, s, "legs"), poly(M.window_map("legs", s, 2.0)), atol=1e-12)
    trig = lambda t: np.cos(2 * np.pi * (t - 0.3) * 2 / 0.8)        # period 0.4 inside a window of 0.8
    cf = M.project(trig, 1.1, 3, "fourier", 0.8)
    s01 = np.linspace(0, 1, 40)
    np.testing.assert_allclose(M.reconstruct(cf, s01, "fourier"), trig(M.window_map("fourier", s01, 1.1, 0.8)),
                               atol=1e-12)


def test_legs_memory_is_exact_and_legt_converges():
    for N in (3, 8):
        x = M.simulate("legs", signal, 0.05, [1.0, 4.0], N)
        np.testing.assert_allclose(x[-1], M.project(signal, 4.0, N, "legs"), atol=1e-9)
    errs = [np.abs(M.simulate("legt", signal, 1.0, [3.0], N)[-1] - M.project(signal, 3.0, N, "legt")).max()
            for N in (4, 8, 16)]
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-7


def test_fourier_post_memory_does_not_converge_but_the_mean_boundary_does():
    post = [np.abs(M.simulate("fourier", signal, 1.0, [3.0], K)[-1] - M.project(signal, 3.0, K, "fourier")).max()
            for K in (4, 16)]
    mean = [np.abs(M.simulate("fourier", signal, 1.0, [3.0], K, scaling="mean")[-1]
                   - M.project(signal, 3.0, K, "fourier")).max() for K in (4, 16)]
    assert post[1] > 0.8 * post[0] > 0.05
    assert mean[1] < 0.5 * mean[0] and mean[1] < 0.2 * post[1]


def test_lti_solve_matches_solve_ivp_and_expm():
    A, B = M.hippo_legt(5, 1.0)
    x0 = np.linspace(-1, 1, 5)
    ours = M.lti_solve(A, B, signal, 0.5, [1.0, 2.0], x0)
    ref = solve_ivp(lambda t, x: A @ x + B * signal(t), (0.5, 2.0), x0, t_eval=[1.0, 2.0],
                    method="DOP853", rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours, ref.y.T, atol=1e-9)
    zero = M.lti_solve(A, B, lambda t: np.zeros_like(t), 0.0, [1.3], x0)
    np.testing.assert_allclose(zero[-1], expm(1.3 * A) @ x0, atol=1e-12)


# -- discretisation --------------------------------------------------------------------------
@pytest.mark.parametrize("ours,theirs", [("bilinear", "bilinear"), ("zoh", "zoh"), ("euler", "euler"),
                                         ("backward", "backward_diff")])
@pytest.mark.parametrize("dt", [0.003, 0.1])
def test_discretize_matches_cont2discrete(ours, theirs, dt):
    for A, B in (M.hippo_legt(6, 0.8), M.hippo_legs(5, "paper")):
        Ad, Bd = M.discretize(A, B, dt, ours)
        ref = cont2discrete((A, B[:, None], np.eye(A.shape[0]), np.zeros((A.shape[0], 1))), dt, method=theirs)
        np.testing.assert_allclose(Ad, ref[0], atol=1e-12)
        np.testing.assert_allclose(Bd, ref[1][:, 0], atol=1e-12)


def test_zoh_recurrence_is_exact_for_piecewise_constant_input():
    A, B = M.hippo_legt(4, 1.0)
    dt = 0.05
    uk = np.array([0.3, -1.0, 2.0, 0.5])
    Ad, Bd = M.discretize(A, B, dt, "zoh")
    x = M.run_recurrence(Ad, Bd, uk)
    step = lambda t: uk[np.minimum((np.asarray(t) / dt).astype(int), uk.size - 1)]
    ref = solve_ivp(lambda t, x: A @ x + B * step(t), (0, 4 * dt), np.zeros(4), t_eval=dt * np.arange(1, 5),
                    method="DOP853", rtol=1e-12, atol=1e-13, max_step=dt / 4)
    np.testing.assert_allclose(x, ref.y.T, atol=1e-8)


# -- bad input -------------------------------------------------------------------------------
def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="^n "):
        M.legendre_g(-1, [0.0])
    with pytest.raises(ValueError, match="^N "):
        M.legendre_basis(0, [0.0])
    with pytest.raises(ValueError, match="^N "):
        M.hippo_legt(0)
    with pytest.raises(ValueError, match="^w "):
        M.hippo_legt(3, w=0.0)
    with pytest.raises(ValueError, match="^scaling"):
        M.hippo_legt(3, scaling="lmuu")
    with pytest.raises(ValueError, match="^scaling"):
        M.hippo_legs(3, scaling="lmu")
    with pytest.raises(ValueError, match="^N "):
        M.hippo_legs(0)
    with pytest.raises(ValueError, match="^boundary"):
        M.hippo_fourier(3, boundary="x")
    with pytest.raises(ValueError, match="^w "):
        M.hippo_fourier(3, w=-1.0)
    with pytest.raises(ValueError, match="^measure"):
        M.hippo_matrices("legx", 3)
    with pytest.raises(ValueError, match="^lam"):
        M.rescale_state(*M.hippo_legt(3), [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="^lam"):
        M.rescale_state(*M.hippo_legt(3), [1.0, 1.0])
    with pytest.raises(ValueError, match="^measure"):
        M.hippo_from_basis("legx", 3)
    with pytest.raises(ValueError, match="^T "):
        M.window_map("legs", [0.0], 0.0)
    with pytest.raises(ValueError, match="^u "):
        M.project([1.0, 2.0], 1.0, 3, "legt")
    with pytest.raises(ValueError, match="^c "):
        M.reconstruct(np.array([np.nan, 1.0]), [0.0], "legt")
    with pytest.raises(ValueError, match="^c "):
        M.reconstruct(np.ones(4), [0.0], "fourier")
    with pytest.raises(ValueError, match="^t_eval"):
        M.lti_solve(*M.hippo_legt(3), signal, 1.0, [0.5], np.zeros(3))
    with pytest.raises(ValueError, match="^x0"):
        M.lti_solve(*M.hippo_legt(3), signal, 0.0, [0.5], np.zeros(2))
    with pytest.raises(ValueError, match="^t0"):
        M.simulate("legs", signal, 0.0, [1.0], 3)
    with pytest.raises(ValueError, match="^dt"):
        M.discretize(*M.hippo_legt(3), 0.0)
    with pytest.raises(ValueError, match="^method"):
        M.discretize(*M.hippo_legt(3), 0.1, "rk4")
    with pytest.raises(ValueError, match="^Ad"):
        M.run_recurrence(np.ones((2, 3)), np.ones(2), [1.0])
    with pytest.raises(ValueError, match="^u_seq"):
        M.run_recurrence(np.eye(2), np.ones(2), [np.inf])
