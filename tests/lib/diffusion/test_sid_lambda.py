"""Tests of kexue.diffusion.sid_lambda: closed-form gradients of SiD's surrogates, FGM's loss, the
critical lambda, the affine and mixture training loops and the committed sweeps."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy import stats

from kexue import diffusion as D
from kexue.datasets import load_run

torch.set_num_threads(1)
A, B, MU, S, AL, BE = 1.3, (0.2, 0.4), (1.0, -0.5), 0.7, 0.8, 0.6


def _l1_closed_torch(a, b, mu, s, al, be):
    u, v = al ** 2 * s ** 2 + be ** 2, al ** 2 * a ** 2 + be ** 2
    return be ** 2 * (al ** 2 * ((b - mu) ** 2).sum() / u ** 2 + b.numel() * (v - u) ** 2 / (u ** 2 * v))


def _l1_frozen_torch(a, b, ap, bp, mu, s, al, be):
    """E|phi(x) - psi_{a',b'}(x)|^2 with x ~ N(al b, v I): an independent closed form."""
    u, v, vp = al ** 2 * s ** 2 + be ** 2, al ** 2 * a ** 2 + be ** 2, al ** 2 * ap ** 2 + be ** 2
    c = 1 / u - 1 / vp
    m0 = -al * mu / u + al * bp / vp
    return be ** 2 * (((c * al * b + m0) ** 2).sum() + b.numel() * c ** 2 * v)


@pytest.mark.parametrize("a,b", [(1.3, (0.2, 0.4)), (0.4, (2.0, -1.0)), (2.5, (1.0, -0.5))])
def test_true_gradient_matches_autograd_of_the_closed_form(a, b):
    at = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    ga, gb = torch.autograd.grad(_l1_closed_torch(at, bt, torch.tensor(MU), S, AL, BE), [at, bt])
    g = D.gaussian_sid_grads(a, b, MU, S, AL, BE)
    assert np.allclose(g["L1"], np.concatenate([[float(ga)], gb.numpy()]), rtol=1e-12, atol=1e-14)
    # the L1 value of chapter 1's closed form agrees with the torch transcription
    assert float(_l1_closed_torch(at, bt, torch.tensor(MU), S, AL, BE).detach()) == pytest.approx(
        D.gaussian_sid_L1(a, b, MU, S, AL, BE), rel=1e-12)


@pytest.mark.parametrize("a,b", [(1.3, (0.2, 0.4)), (0.4, (2.0, -1.0))])
def test_frozen_gradient_matches_finite_differences(a, b):
    mu = torch.tensor(MU)
    bp = torch.tensor(b, dtype=torch.float64)

    def f(x):
        return float(_l1_frozen_torch(x[0], torch.tensor(x[1:]), a, bp, mu, S, AL, BE))

    x0, h = np.array([a, *b]), 1e-6
    fd = [(f(x0 + h * e) - f(x0 - h * e)) / (2 * h) for e in np.eye(3)]
    assert np.allclose(D.gaussian_sid_grads(a, b, MU, S, AL, BE)["L1 sg"], fd, rtol=1e-6, atol=1e-8)


def test_post_identities_in_closed_form():
    g = D.gaussian_sid_grads(A, B, MU, S, AL, BE)
    assert np.allclose(g["L4 sg"], g["L1"], atol=1e-14)              # FGM is unbiased
    assert np.allclose(g["L5"] + g["L1 sg"], g["L1"], atol=1e-14)     # L5 = the rest of the gradient
    assert np.allclose(2 * (g["L2 sg"] - g["L1 sg"]), g["L5"], atol=1e-14)   # lambda = 1
    assert not np.allclose(g["L3 sg"], g["L1"], atol=1e-2)            # the full rewrite is biased
    assert g["L1"] == pytest.approx([2.0640, -0.8125, 0.9140], abs=1e-4)


def test_monte_carlo_gradients_match_closed_forms():
    g = D.gaussian_sid_grads(A, B, MU, S, AL, BE)
    mc = D.gaussian_grads_mc(A, B, MU, S, AL, BE, n=200_000, seed=1, batches=5)
    for k in D.GRAD_NAMES:
        m, se = mc[k]
        assert np.all(np.abs(m - g[k]) < 5 * se + 1e-3), k


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 20), d=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_fgm_loss_equals_two_L2_minus_L1(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    phi, psi, e = (torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(3))
    L = D.sid_losses(phi, psi, e)
    assert float(D.fgm_loss(phi, psi, e)) == pytest.approx(float(2 * L["L2"] - L["L1"]), abs=1e-12)


def test_fgm_loss_gradcheck():
    g = torch.Generator().manual_seed(0)
    args = [torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    assert torch.autograd.gradcheck(D.fgm_loss, args)


@settings(max_examples=30, deadline=None)
@given(a=st.floats(0.2, 3.0), b1=st.floats(-2, 2), b2=st.floats(-2, 2), lam=st.floats(0, 2))
def test_cosine_is_largest_at_one_half(a, b1, b2, lam):
    g = D.gaussian_sid_grads(a, (b1, b2), MU, S, AL, BE)
    if np.linalg.norm(g["L1"]) < 1e-6 or np.linalg.norm(D.lambda_grad(g, lam)) < 1e-9:
        return
    assert D.lambda_cosine(g, 0.5) == pytest.approx(1.0, abs=1e-9)
    assert D.lambda_cosine(g, lam) <= 1 + 1e-12


def test_vp_quadrature_integrates_the_schedule():
    al, be, w = D.vp_quadrature(32, 0.0, 1.0)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert (w @ al ** 2) == pytest.approx(0.5, abs=1e-12)            # mean of cos^2(pi t/2) over [0, 1]
    assert (w @ al) == pytest.approx(2 / math.pi, abs=1e-12)


def test_critical_lambda_is_the_zero_of_the_scale_field():
    for a0 in (1.0, 2.0, 5.0):
        lc = D.critical_lambda(a0, S)
        assert lc > 1
        assert D.scale_field(a0, S, lc) == pytest.approx(0.0, abs=1e-12)
        assert D.scale_field(a0, S, lc - 0.05) > 0 > D.scale_field(a0, S, lc + 0.05)
    assert D.critical_lambda(2.0, S) > D.critical_lambda(5.0, S)      # farther start, narrower window
    assert math.isinf(D.critical_lambda(0.5, S))
    # one noise level: lambda_c = v / (v - u)
    t = 0.4
    al, be = math.cos(math.pi * t / 2), math.sin(math.pi * t / 2)
    u, v = al ** 2 * S ** 2 + be ** 2, al ** 2 * 4.0 + be ** 2
    assert D.critical_lambda(2.0, S, n=4, t_min=t, t_max=t + 1e-9) == pytest.approx(v / (v - u), rel=1e-6)


def test_scale_field_matches_the_closed_form_gradients():
    al, be, w = D.vp_quadrature(16)
    lam = 0.8
    ref = sum(wi * D.lambda_grad(D.gaussian_sid_grads(1.7, MU, MU, S, a_, b_), lam)[0]
              for wi, a_, b_ in zip(w, al, be)) / 2                   # d = 2
    assert D.scale_field(1.7, S, lam, n=16) == pytest.approx(ref, rel=1e-12)


def test_affine_training_converges_below_and_diverges_above_the_critical_lambda():
    h = D.train_affine_sid(1.0, 2.0, (-1.0, 1.0), MU, S, steps=500, seed=0)
    assert not h["diverged"]
    assert abs(abs(h["a"][-1]) - S) < 0.03 and np.linalg.norm(h["b"][-1] - np.array(MU)) < 0.05
    h = D.train_affine_sid(1.6, 2.0, (-1.0, 1.0), MU, S, steps=800, seed=0)
    assert h["diverged"] and h["a"][-1] > 2.0


def test_affine_L1sg_collapses_the_scale():
    h = D.train_affine_sid(0.0, 2.0, (-1.0, 1.0), MU, S, steps=150, seed=0, kind="L1 sg")
    assert abs(h["a"][-1]) < 0.5 * S


def test_fisher_1d_matches_the_gaussian_weight_closed_form():
    m, sd, c, w = 0.5, 0.8, 0.3, 1.2
    A_, B_ = 1 / sd ** 2 - 1.0, -m / sd ** 2                          # gap(x) = A x + B with p = N(0, 1)
    exact = A_ ** 2 * (c ** 2 + w ** 2) + 2 * A_ * B_ * c + B_ ** 2
    assert D.fisher_1d(m, sd, stats.norm(c, w).pdf) == pytest.approx(exact, rel=1e-9)


@pytest.mark.parametrize("weight,lo,hi", [(stats.norm(2, 0.5).pdf, -np.inf, np.inf),
                                          (stats.laplace().pdf, -np.inf, np.inf),
                                          (stats.uniform(-5, 10).pdf, -5, 5)])
def test_any_positive_weight_recovers_p(weight, lo, hi):
    m, sd = D.fit_fisher_inner(weight, lo, hi)
    assert abs(m) < 1e-5 and abs(sd - 1) < 1e-5


def test_optimising_only_the_weight_collapses_it():
    c, w = D.fit_fisher_weight(0.5, 0.8)
    assert c == pytest.approx(0.5 / (1 - 0.64), abs=1e-3)
    assert w < 0.02


def test_train_gmm_lambda_reproduces_train_sid():
    teacher = D.ring_mixture(8, 2.0, 0.2)
    h1 = D.train_gmm_lambda(1.0, teacher, 1.0, steps=20, batch=64, seed=3)
    h2 = D.train_sid("L2 - lam L1 sg", teacher, lam=1.0, steps=20, batch=64, lr=0.04, seed=3, record_every=20)
    assert np.allclose(h1["means"], h2["means"], atol=1e-12) and np.allclose(h1["stds"], h2["stds"], atol=1e-12)


def test_committed_affine_sweep_reproduces():
    run = load_run("sid_lambda_affine")
    assert run["critical"]["2.0"] == pytest.approx(D.critical_lambda(2.0, S), rel=1e-3)
    h = D.train_affine_sid(1.4, 2.0, (-1.0, 1.0), MU, S, steps=run["steps"], seed=0, record_every=run["steps"])
    assert h["diverged"] == run["runs"]["2.0"]["1.4"]["diverged"][0]
    tr = run["traj"]["lam 1"]
    h = D.train_affine_sid(1.0, 2.0, (-1.0, 1.0), MU, S, steps=100, seed=0, record_every=10)
    assert np.allclose(h["a"], tr["a"][:11], rtol=1e-3, atol=1e-4)


def test_committed_ring_sweep_reproduces():
    run = load_run("sid_lambda_sweep")
    teacher = D.ring_mixture(8, 2.0, 0.2)
    ref = teacher.sample(4000, np.random.default_rng(0))
    h = D.train_gmm_lambda(1.0, teacher, 0.4, steps=300, batch=256, lr=0.04, seed=0)
    with torch.no_grad():
        xs = h["student"].sample(4000, torch.Generator().manual_seed(123)).numpy()
    assert D.sliced_wasserstein2(xs, ref, 200) == pytest.approx(run["runs"]["0.4"]["1.0"]["sw"][0], abs=0.01)


def test_bad_inputs():
    with pytest.raises(ValueError, match="s"):
        D.gaussian_sid_grads(1.0, B, MU, -1.0, AL, BE)
    with pytest.raises(ValueError, match="mu"):
        D.gaussian_sid_grads(1.0, B, (1.0,), S, AL, BE)
    with pytest.raises(ValueError, match="beta"):
        D.gaussian_sid_grads(1.0, B, MU, S, AL, 0.0)
    with pytest.raises(ValueError, match="grads"):
        D.lambda_grad({}, 0.5)
    with pytest.raises(ValueError, match="lam"):
        D.lambda_grad(D.gaussian_sid_grads(1.0, B, MU, S, AL, BE), float("nan"))
    with pytest.raises(ValueError, match="grads"):
        D.lambda_cosine(D.gaussian_sid_grads(S, MU, MU, S, AL, BE), 0.5)
    x = torch.zeros(3, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="eps_fake"):
        D.fgm_loss(x, torch.zeros(3, 3, dtype=torch.float64), x)
    with pytest.raises(ValueError, match="eps_teacher"):
        D.fgm_loss(np.zeros((3, 2)), x, x)
    with pytest.raises(ValueError, match="n"):
        D.gaussian_grads_mc(A, B, MU, S, AL, BE, n=1)
    with pytest.raises(ValueError, match="a"):
        D.gaussian_grads_mc(0.0, B, MU, S, AL, BE, n=100)
    with pytest.raises(ValueError, match="t_min"):
        D.vp_quadrature(8, 0.9, 0.1)
    with pytest.raises(ValueError, match="s"):
        D.scale_field(1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="a0"):
        D.critical_lambda(-1.0, S)
    with pytest.raises(ValueError, match="kind"):
        D.train_affine_sid(1.0, 2.0, B, MU, S, steps=2, kind="L9")
    with pytest.raises(ValueError, match="a0"):
        D.train_affine_sid(1.0, 0.0, B, MU, S, steps=2)
    with pytest.raises(ValueError, match="weight"):
        D.fisher_1d(0.0, 1.0, 3.0)
    with pytest.raises(ValueError, match="sd"):
        D.fisher_1d(0.0, -1.0, stats.norm().pdf)
    with pytest.raises(ValueError, match="start"):
        D.fit_fisher_inner(stats.norm().pdf, start=(0.0, -1.0))
    with pytest.raises(ValueError, match="w_min"):
        D.fit_fisher_weight(0.5, 0.8, w_min=0.0)
    with pytest.raises(ValueError, match="init_std"):
        D.train_gmm_lambda(1.0, D.ring_mixture(8, 2.0, 0.2), init_std=0.0)
    with pytest.raises(ValueError, match="lam"):
        D.train_gmm_lambda(-1.0, D.ring_mixture(8, 2.0, 0.2))


def test_train_sid_init_std_sets_the_starting_scale_and_keeps_the_default():
    teacher = D.ring_mixture(8, 2.0, 0.2)
    h = D.train_sid("L2 sg", teacher, steps=1, batch=32, lr=1e-9, seed=0, record_every=1, init_std=0.4)
    assert np.allclose(h["stds"], 0.4, rtol=1e-6)
    h0 = D.train_sid("L2 sg", teacher, steps=3, batch=32, seed=0, record_every=3)
    h1 = D.train_sid("L2 sg", teacher, steps=3, batch=32, seed=0, record_every=3, init_std=1.0)
    assert np.array_equal(h0["means"], h1["means"]) and np.array_equal(h0["stds"], h1["stds"])
