"""Tests of kexue.training.spectral (chapter spectral-weight-decay)."""
import numpy as np
import pytest
import scipy.sparse.linalg as sla
import torch
from hypothesis import given, settings, strategies as st

from kexue.training import spectral as SP

torch.set_num_threads(1)


def rand(n, m, seed=0):
    return np.random.default_rng(seed).normal(size=(n, m))


# -- the gradient --------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(40, 30), (30, 40), (7, 7)])
def test_grad_matches_autograd_through_matrix_norm(shape):
    W = torch.tensor(rand(*shape), requires_grad=True)
    torch.linalg.matrix_norm(W, ord=2).backward()
    assert torch.allclose(SP.spectral_norm_grad(W.detach()), W.grad, atol=1e-12)
    W.grad = None
    (0.5 * torch.linalg.matrix_norm(W, ord=2) ** 2).backward()
    assert torch.allclose(SP.spectral_norm_grad(W.detach(), squared=True), W.grad, atol=1e-12)


def test_grad_matches_finite_differences_and_numpy_in_numpy_out():
    W = rand(6, 4, 1)
    g = SP.spectral_norm_grad(W)
    assert isinstance(g, np.ndarray) and g.shape == (6, 4)
    h, fd = 1e-6, np.zeros_like(W)
    for i in range(6):
        for j in range(4):
            E = np.zeros_like(W); E[i, j] = h
            fd[i, j] = (np.linalg.norm(W + E, 2) - np.linalg.norm(W - E, 2)) / (2 * h)
    assert np.abs(g - fd).max() < 1e-8


def test_grad_gradcheck_of_the_squared_norm_via_u_v():
    # (1/2)||W||_2^2 is differentiable where s1 > s2; gradcheck its autograd through svdvals
    W = torch.tensor(rand(5, 4, 2), requires_grad=True)
    assert torch.autograd.gradcheck(lambda w: 0.5 * torch.linalg.svdvals(w)[0] ** 2, (W,))
    W.grad = None
    (0.5 * torch.linalg.svdvals(W)[0] ** 2).backward()
    assert torch.allclose(W.grad, SP.spectral_norm_grad(W.detach(), squared=True), atol=1e-12)


def test_grad_refuses_a_tie():
    W = np.diag([2.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="gap"):
        SP.spectral_norm_grad(W)


def test_top_triple_against_scipy_svds_up_to_sign():
    W = rand(30, 20, 3)
    u, s, v = SP.top_singular_triple(W)
    U, S, Vt = sla.svds(W, k=1)
    assert abs(s - S[0]) < 1e-10 and abs(s - np.linalg.norm(W, 2)) < 1e-12
    assert abs(abs(v @ Vt[0]) - 1) < 1e-10 and abs(abs(u @ U[:, 0]) - 1) < 1e-10
    assert np.allclose(np.outer(u, v), np.outer(U[:, 0], Vt[0]), atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 8), st.integers(1, 8), st.integers(0, 10_000))
def test_rank1_remainder_is_eckart_young(n, m, seed):
    W = rand(n, m, seed)
    s = np.linalg.svd(W, compute_uv=False)
    R = W - SP.spectral_decay_direction(W, iters=None)
    assert abs(np.linalg.norm(R, "fro") ** 2 - (s[1:] ** 2).sum()) < 1e-9
    assert abs(np.linalg.norm(R, 2) - (s[1] if s.size > 1 else 0.0)) < 1e-9
    assert np.linalg.norm(W, 2) <= np.linalg.norm(W, "fro") + 1e-12


# -- power iteration -----------------------------------------------------------------------
def test_power_iteration_converges_and_estimates_sigma():
    W = SP.matrix_with_spectrum(np.linspace(1, 0.1, 10), 12, seed=0)
    v, s = SP.power_iteration(W, 300, np.random.default_rng(0).normal(size=10))
    _, s1, v1 = SP.top_singular_triple(W)
    assert abs(abs(v @ v1) - 1) < 1e-12 and abs(s - s1) < 1e-12


def test_power_iteration_errors_match_the_closed_form_of_the_proof():
    sig = np.array([1.0, 0.9, 0.7, 0.5, 0.2])
    W = SP.matrix_with_spectrum(sig, 7, seed=4)
    x0 = np.random.default_rng(1).normal(size=5)
    c = np.linalg.svd(W)[2] @ (x0 / np.linalg.norm(x0))
    tan = SP.power_iteration_tan_theory(sig, c, 40)
    err = SP.power_iteration_errors(W, 40, x0)
    assert np.allclose(err, tan / np.sqrt(1 + tan**2), rtol=1e-8, atol=1e-14)
    # asymptotic rate (s2/s1)^2 per iteration
    assert abs(err[40] / err[39] - 0.81) < 1e-3


def test_power_iteration_all_ones_start_fails_on_rows_summing_to_zero():
    W = rand(6, 5, 5)
    W = W - W.mean(axis=1, keepdims=True)        # W @ 1 = 0
    with pytest.raises(ValueError, match="x0"):
        SP.power_iteration(W, 3)
    v, _ = SP.power_iteration(W, 3, np.random.default_rng(0).normal(size=5))
    assert np.isfinite(v).all()


def test_power_iteration_history_and_torch_in_torch_out():
    W = torch.tensor(rand(5, 3, 6))
    v, s, hist = SP.power_iteration(W, 4, return_history=True)
    assert isinstance(v, torch.Tensor) and hist.shape == (5, 3) and torch.equal(hist[-1], v)
    assert torch.allclose(hist[0], torch.ones(3, dtype=torch.float64) / 3 ** 0.5)


def test_power_iteration_tan_theory_rejects_bad_input():
    with pytest.raises(ValueError, match="coeffs"):
        SP.power_iteration_tan_theory([1.0, 0.5], [0.0, 1.0], 3)
    with pytest.raises(ValueError, match="sigmas"):
        SP.power_iteration_tan_theory([0.5, 1.0], [1.0, 1.0], 3)
    with pytest.raises(ValueError, match="coeffs"):
        SP.power_iteration_tan_theory([1.0, 0.5], [1.0], 3)


# -- decay steps -----------------------------------------------------------------------------
def test_one_spectral_step_moves_only_sigma1_and_frobenius_scales_all():
    sig = np.array([2.0, 1.5, 1.0, 0.5])
    W = SP.matrix_with_spectrum(sig, 6, seed=2)
    lam = 0.3
    s_spec = np.linalg.svd(SP.spectral_weight_decay_step(W, lam, iters=None), compute_uv=False)
    assert np.allclose(np.sort(s_spec), np.sort([2.0 * 0.7, 1.5, 1.0, 0.5]), atol=1e-12)
    s_frob = np.linalg.svd(SP.frobenius_weight_decay_step(W, lam), compute_uv=False)
    assert np.allclose(s_frob, 0.7 * sig, atol=1e-12)


def test_spectral_direction_from_power_iteration_approaches_exact():
    W = rand(9, 6, 7)
    exact = SP.spectral_decay_direction(W, iters=None)
    assert np.abs(SP.spectral_decay_direction(W, iters=500, x0=np.arange(1.0, 7.0)) - exact).max() < 1e-10
    # the left-vector form u1 u1^T W is the same matrix
    u, s, v = SP.top_singular_triple(W)
    assert np.allclose(np.outer(u, u) @ W, exact, atol=1e-12)


def test_decay_path_matches_the_flat_top_prediction():
    sig = np.linspace(1, 0.1, 10)
    W = SP.matrix_with_spectrum(sig, 12, seed=0)
    lam, steps = 0.05, 200
    path = SP.decay_spectrum_path(W, lam, steps, "spectral", iters=None)
    level = SP.flat_top_level(sig, lam, steps)
    cut = sig > level
    assert np.all(path[-1][: cut.sum()] <= level / (1 - lam) + 1e-12)
    assert np.all(path[-1][: cut.sum()] >= level * (1 - lam) - 1e-12)
    assert np.allclose(path[-1][cut.sum():], sig[cut.sum():], atol=1e-12)
    frob = SP.decay_spectrum_path(W, lam, steps, "frobenius")
    assert np.allclose(frob[-1], sig * (1 - lam) ** steps, rtol=1e-10)


def test_warm_start_tracks_better_than_cold_one_iteration():
    sig = np.linspace(1, 0.1, 10)
    W = SP.matrix_with_spectrum(sig, 12, seed=0)
    exact = SP.decay_spectrum_path(W, 0.05, 100, iters=None)[-1]
    cold = SP.decay_spectrum_path(W, 0.05, 100, iters=1)[-1]
    warm = SP.decay_spectrum_path(W, 0.05, 100, iters=1, warm=True)[-1]
    assert np.abs(warm - exact).max() < np.abs(cold - exact).max()


def test_flat_top_level_when_everything_is_cut():
    sig = np.array([1.0, 0.5])
    L = SP.flat_top_level(sig, 0.5, 10)            # budget 10 log 2 > log 2 needed
    assert abs(2 * np.log(0.5 / L) + np.log(2) - 10 * np.log(2)) < 1e-12


def test_matrix_with_spectrum_and_prescribed_v1():
    v1 = np.r_[1.0, -1.0, 0.0, 0.0]
    W = SP.matrix_with_spectrum([3.0, 2.0, 1.0, 0.5], 5, seed=3, v1=v1)
    assert np.allclose(np.linalg.svd(W, compute_uv=False), [3, 2, 1, 0.5], atol=1e-12)
    _, _, v = SP.top_singular_triple(W)
    assert abs(abs(v @ v1) / np.sqrt(2) - 1) < 1e-12


# -- optimiser -------------------------------------------------------------------------------
def test_spectral_adamw_equals_adamw_on_a_rank_one_matrix():
    torch.manual_seed(0)
    a, b = torch.randn(5, 1, dtype=torch.float64), torch.randn(1, 4, dtype=torch.float64)
    p1 = torch.nn.Parameter(a @ b); p2 = torch.nn.Parameter((a @ b).clone())
    o1 = SP.SpectralAdamW([p1], lr=0.1, weight_decay=0.5, power_iters=50)
    o2 = torch.optim.AdamW([p2], lr=0.1, weight_decay=0.5)
    g = torch.randn(5, 1, dtype=torch.float64) @ b      # keeps the rank one
    p1.grad, p2.grad = g.clone(), g.clone()
    o1.step(); o2.step()                                 # W v v^T = W when W has rank one
    assert torch.allclose(p1, p2, atol=1e-12)
    p1.grad, p2.grad = g.clone(), g.clone()
    o1.step(); o2.step()                                 # Adam's update broke the rank: they part
    assert not torch.allclose(p1, p2, atol=1e-6)


def test_spectral_adamw_decays_only_the_top_and_restores_its_settings():
    W = torch.tensor(SP.matrix_with_spectrum([2.0, 1.0, 0.5], 4, seed=1))
    p, bias = torch.nn.Parameter(W.clone()), torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    opt = SP.SpectralAdamW([p, bias], lr=0.1, weight_decay=1.0, power_iters=200, start="random")
    p.grad, bias.grad = torch.zeros_like(p), torch.zeros_like(bias)
    opt.step()
    assert torch.allclose(torch.linalg.svdvals(p.detach()), torch.tensor([1.8, 1.0, 0.5], dtype=torch.float64), atol=1e-10)
    assert torch.allclose(bias.detach(), torch.full((3,), 0.9, dtype=torch.float64))
    assert opt.param_groups[0]["weight_decay"] == 1.0


def test_coupled_penalty_under_sgd_equals_decoupled_spectral_decay():
    # Yoshida & Miyato put (lam/2)||W||_2^2 in the loss; with plain SGD that is the decoupled step
    W0 = torch.tensor(rand(6, 5, 8))
    x = torch.tensor(rand(5, 3, 9))
    lr, lam = 0.1, 0.3
    W = W0.clone().requires_grad_(True)
    loss = (W @ x).pow(2).sum() + lam / 2 * torch.linalg.matrix_norm(W, ord=2) ** 2
    loss.backward()
    coupled = W0 - lr * W.grad
    W2 = W0.clone().requires_grad_(True)
    (W2 @ x).pow(2).sum().backward()
    decoupled = W0 - lr * W2.grad - lr * lam * SP.spectral_decay_direction(W0, iters=None)
    assert torch.allclose(coupled, decoupled, atol=1e-12)


def test_digits_mlp_training_lowers_the_loss_and_is_seeded():
    from kexue.datasets import digits
    X, y = digits()
    X, y = torch.tensor(X[:300]), torch.tensor(y[:300])
    m1, m2 = SP.digits_mlp((64, 16, 10), seed=3), SP.digits_mlp((64, 16, 10), seed=3)
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    L = SP.train_digits_mlp(m1, SP.SpectralAdamW(m1.parameters(), lr=1e-2), X, y, steps=60, batch=64)
    assert L[-5:].mean() < 0.5 * L[:5].mean()


# -- bad input -------------------------------------------------------------------------------
def test_bad_inputs_name_the_parameter():
    W = rand(4, 3)
    with pytest.raises(ValueError, match="W"):
        SP.spectral_norm_grad(np.ones(3))
    with pytest.raises(ValueError, match="W"):
        SP.top_singular_triple(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="min_gap"):
        SP.top_singular_triple(W, min_gap=-1)
    with pytest.raises(ValueError, match="iters"):
        SP.power_iteration(W, -1)
    with pytest.raises(ValueError, match="x0"):
        SP.power_iteration(W, 2, np.ones(4))
    with pytest.raises(ValueError, match="x0"):
        SP.power_iteration(W, 2, np.zeros(3))
    with pytest.raises(ValueError, match="W"):
        SP.power_iteration_errors(np.full((3, 3), np.nan), 2)
    with pytest.raises(ValueError, match="W"):
        SP.spectral_decay_direction(np.ones(3))
    with pytest.raises(ValueError, match="lam"):
        SP.spectral_weight_decay_step(W, 1.0)
    with pytest.raises(ValueError, match="lam"):
        SP.frobenius_weight_decay_step(W, -0.1)
    with pytest.raises(ValueError, match="sigmas"):
        SP.matrix_with_spectrum([1.0, -1.0])
    with pytest.raises(ValueError, match="n"):
        SP.matrix_with_spectrum([1.0, 0.5], 1)
    with pytest.raises(ValueError, match="v1"):
        SP.matrix_with_spectrum([1.0, 0.5], v1=[1.0])
    with pytest.raises(ValueError, match="kind"):
        SP.decay_spectrum_path(W, 0.1, 2, "l1")
    with pytest.raises(ValueError, match="steps"):
        SP.decay_spectrum_path(W, 0.1, -2)
    with pytest.raises(ValueError, match="lam"):
        SP.flat_top_level([1.0, 0.5], 0.0, 3)
    with pytest.raises(ValueError, match="sigmas"):
        SP.flat_top_level([0.0, 0.0], 0.1, 3)
    with pytest.raises(ValueError, match="weight_decay"):
        SP.SpectralAdamW([torch.nn.Parameter(torch.ones(2, 2))], weight_decay=-1)
    with pytest.raises(ValueError, match="start"):
        SP.SpectralAdamW([torch.nn.Parameter(torch.ones(2, 2))], start="zeros")
    with pytest.raises(ValueError, match="sizes"):
        SP.digits_mlp((64,))
    m = SP.digits_mlp((4, 2))
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="steps"):
        SP.train_digits_mlp(m, opt, torch.ones(3, 4, dtype=torch.float64), torch.zeros(3, dtype=torch.long), steps=0)
    with pytest.raises(ValueError, match="X"):
        SP.train_digits_mlp(m, opt, torch.ones(3, 4, dtype=torch.float64), torch.zeros(2, dtype=torch.long))


def test_train_digits_mlp_refuses_labels_past_the_classes():
    """y must index the model's output classes (an IndexError deep in cross_entropy before)."""
    model = SP.digits_mlp((4, 5, 3), seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    X = torch.randn(6, 4, dtype=torch.float64)
    for bad in (torch.tensor([0, 1, 2, 3, 0, 1]), torch.tensor([0, 1, 2, -1, 0, 1])):
        with pytest.raises(ValueError, match="y must lie in"):
            SP.train_digits_mlp(model, opt, X, bad, steps=1)
    with pytest.raises(ValueError, match="y must be integer class indices"):
        SP.train_digits_mlp(model, opt, X, torch.zeros(6), steps=1)
