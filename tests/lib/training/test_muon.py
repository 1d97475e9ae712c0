"""Tests of kexue.training.muon (chapter muon)."""
import math

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
import torch
from hypothesis import given, settings, strategies as st
from torch.optim._muon import _zeropower_via_newtonschulz as torch_ns

from kexue.training import muon as MU

torch.set_num_threads(1)


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# -- msign ------------------------------------------------------------------------------------
def test_msign_matches_scipy_polar_and_solves_the_spectral_steepest_descent():
    G = randn(20, 20, seed=1)
    O = MU.msign(G)
    Up, _ = scipy.linalg.polar(G.numpy())
    assert np.abs(O.numpy() - Up).max() < 1e-10
    nuc = torch.linalg.matrix_norm(G, ord="nuc")
    assert abs(torch.trace(G.T @ O) - nuc) < 1e-10
    # no feasible Delta (||Delta||_2 <= 1) does better than msign
    for s in range(200):
        Q1, _ = torch.linalg.qr(randn(20, 20, seed=100 + s))
        Q2, _ = torch.linalg.qr(randn(20, 20, seed=900 + s))
        D = Q1 @ torch.diag(torch.rand(20, generator=torch.Generator().manual_seed(s), dtype=torch.float64)) @ Q2
        assert torch.trace(G.T @ D) <= nuc + 1e-12


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 9), st.integers(0, 10_000))
def test_msign_rms_is_sqrt_rank_over_nm(n, m, r, seed):
    r = min(r, n, m)
    G = randn(n, r, seed=seed) @ randn(r, m, seed=seed + 1)
    O = MU.msign(G)
    assert abs(MU.rms(O) - math.sqrt(r / (n * m))) < 1e-10
    assert abs(torch.linalg.matrix_norm(O, ord=2) - 1) < 1e-10
    # 0.2 sqrt(max(n, m)) msign(G) has RMS 0.2 exactly when r = min(n, m)
    if r == min(n, m):
        assert abs(MU.rms(O * MU.rms_matched_scale((n, m))) - 0.2) < 1e-10


def test_msign_numpy_in_numpy_out_and_zero():
    G = np.random.default_rng(0).normal(size=(4, 6))
    assert isinstance(MU.msign(G), np.ndarray)
    assert np.all(MU.msign(np.zeros((3, 2))) == 0)


# -- entropy and rms ------------------------------------------------------------------------
def test_sv_entropy_special_cases_and_scipy():
    assert abs(MU.sv_entropy(np.eye(5)) - 1) < 1e-12
    assert abs(MU.sv_entropy(np.outer(np.arange(1.0, 5), np.ones(3)))) < 1e-12
    assert abs(MU.sv_entropy([1.0, 1.0, 0.0, 0.0], from_singular_values=True) - 0.5) < 1e-12
    s = np.array([3.0, 2.0, 0.5, 0.1])
    want = scipy.stats.entropy(s**2 / (s**2).sum()) / np.log(4)
    assert abs(MU.sv_entropy(s, from_singular_values=True) - want) < 1e-12
    assert MU.sv_entropy([2.0], from_singular_values=True) == 0.0


def test_rms_matches_definition():
    W = np.arange(12.0).reshape(3, 4)
    assert abs(MU.rms(W) - np.linalg.norm(W) / np.sqrt(12)) < 1e-12
    assert abs(MU.rms(torch.tensor(W)) - MU.rms(W)) < 1e-15


# -- Newton-Schulz --------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(32, 48), (48, 32), (16, 16)])
def test_newton_schulz_in_bfloat16_is_torchs_iteration(shape):
    G = randn(*shape, seed=3)
    ref = torch_ns(G, MU.KELLER_COEFFS, 5, 1e-7).double()
    ours = MU.newton_schulz(G, dtype="bfloat16")
    assert torch.equal(ours, ref)


def test_newton_schulz_float64_agrees_with_torch_within_the_bfloat16_effect():
    G = randn(32, 48, seed=4)
    ref = torch_ns(G, MU.KELLER_COEFFS, 5, 1e-7).double()
    f64 = MU.newton_schulz(G)
    bf_effect = ((MU.newton_schulz(G, dtype="bfloat16") - f64).norm() / f64.norm()).item()
    assert 1e-3 < bf_effect < 0.03                      # bf16 rounding is visible but small
    assert ((ref - f64).norm() / f64.norm()).item() < 1.5 * bf_effect


def test_newton_schulz_singular_values_follow_the_scalar_map():
    # NS acts on each singular value of G / ||G||_F through the scalar polynomial
    G = randn(12, 20, seed=5)
    s = torch.linalg.svdvals(G) / G.norm()
    got = torch.linalg.svdvals(MU.newton_schulz(G, steps=3)).numpy()
    want = np.sort(np.abs(MU.ns_scalar_map(s.numpy(), 3)))[::-1]
    assert np.allclose(got, want, atol=1e-12)


def test_cubic_converges_and_quintic_lands_in_its_band():
    G = randn(10, 14, seed=6)
    O = MU.newton_schulz(G, steps=60, coeffs=MU.CUBIC_COEFFS)
    assert (O - MU.msign(G)).abs().max() < 1e-10
    lo, hi = MU.ns_band(5, lo=0.01)
    assert abs(lo - 0.6818) < 1e-4 and abs(hi - 1.1344) < 1e-4
    assert abs(MU.ns_scalar_map(1.0, 1) - (3.4445 - 4.7750 + 2.0315)) < 1e-12


# -- the update and the optimiser -------------------------------------------------------------
@pytest.mark.parametrize("rule", ["original", "match_rms_adamw"])
def test_muonlite_bfloat16_equals_torch_optim_muon(rule):
    torch.manual_seed(0)
    W = randn(32, 48, seed=7)
    p1, p2 = torch.nn.Parameter(W.clone()), torch.nn.Parameter(W.clone())
    o1 = MU.MuonLite([p1], lr=0.02, weight_decay=0.1, adjust_lr_fn=rule, ns_dtype="bfloat16")
    o2 = torch.optim.Muon([p2], lr=0.02, weight_decay=0.1, adjust_lr_fn=rule)
    for t in range(4):
        g = randn(32, 48, seed=50 + t)
        p1.grad, p2.grad = g.clone(), g.clone()
        o1.step(); o2.step()
    assert torch.equal(p1, p2)


def test_muonlite_float64_vs_torch_within_bfloat16_tolerance():
    W = randn(48, 32, seed=8)
    p1, p2 = torch.nn.Parameter(W.clone()), torch.nn.Parameter(W.clone())
    o1 = MU.MuonLite([p1], lr=0.02, weight_decay=0.0, adjust_lr_fn="match_rms_adamw")
    o2 = torch.optim.Muon([p2], lr=0.02, weight_decay=0.0, adjust_lr_fn="match_rms_adamw")
    g = randn(48, 32, seed=9)
    p1.grad, p2.grad = g.clone(), g.clone()
    o1.step(); o2.step()
    d1, d2 = p1.detach() - W, p2.detach() - W
    assert ((d1 - d2).norm() / d1.norm()).item() < 0.03


def test_muon_update_momentum_rules_and_grad_untouched():
    g = randn(5, 7, seed=10)
    buf = torch.zeros_like(g)
    g0 = g.clone()
    u = MU.muon_update(g, buf, momentum=0.9, nesterov=True, ortho="svd", rule="none")
    assert torch.equal(g, g0)
    assert torch.allclose(buf, 0.1 * g)
    assert torch.allclose(u, MU.msign(0.1 * g + 0.9 * buf))     # nesterov: (1-mu) g + mu buf
    u2 = MU.muon_update(g, buf, momentum=0.9, nesterov=False, ortho="svd", rule="none")
    assert torch.allclose(u2, MU.msign(buf)) and torch.allclose(buf, 0.19 * g)


def test_rms_matched_scale_rules():
    assert MU.rms_matched_scale((64, 256)) == pytest.approx(0.2 * 16)
    assert MU.rms_matched_scale((256, 64), "original") == pytest.approx(2.0)
    assert MU.rms_matched_scale((64, 256), "original") == pytest.approx(1.0)
    assert MU.rms_matched_scale((3, 4), "none") == 1.0


def test_chained_optimizer_steps_all():
    a, b = torch.nn.Parameter(torch.ones(3, 3, dtype=torch.float64)), torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    ch = MU.ChainedOptimizer(MU.MuonLite([a], lr=0.1), torch.optim.SGD([b], lr=0.1))
    a.grad, b.grad = torch.eye(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    ch.step()
    assert not torch.equal(a.detach(), torch.ones(3, 3, dtype=torch.float64)) and torch.allclose(b.detach(), torch.full((3,), 0.9, dtype=torch.float64))
    ch.zero_grad()
    assert a.grad is None and b.grad is None


# -- the norm bound -------------------------------------------------------------------------------
def test_norm_bound_tight_for_constant_loose_for_random_broken_for_large_eta_lam():
    W0 = 0.1 * randn(16, 24, seed=11)
    const = MU.norm_bound_path(W0, 0.05, 0.5, 1500, "constant")
    assert abs(const[-1] - 2.0) < 1e-6 and const.max() <= 2.0 + 1e-12
    rand = MU.norm_bound_path(W0, 0.05, 0.5, 300, "random")
    assert rand.max() < 1.0
    boom = MU.norm_bound_path(W0, 1.0, 2.5, 40, "random")      # eta lam = 2.5 > 1
    assert boom[-1] > 100 * max(boom[0], 1 / 2.5)
    ns = MU.norm_bound_path(W0, 0.05, 0.5, 1500, "constant", ortho="ns")
    assert ns[-1] > 2.0 * 1.05                                   # NS(G) has norm above 1


# -- bad input -----------------------------------------------------------------------------------
def test_bad_inputs_name_the_parameter():
    with pytest.raises(ValueError, match="G"):
        MU.msign(np.ones(3))
    with pytest.raises(ValueError, match="rtol"):
        MU.msign(np.ones((2, 2)), rtol=-1)
    with pytest.raises(ValueError, match="W"):
        MU.rms(np.array([np.nan]))
    with pytest.raises(ValueError, match="W"):
        MU.sv_entropy(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="steps"):
        MU.ns_scalar_map(0.5, -1)
    with pytest.raises(ValueError, match="coeffs"):
        MU.ns_scalar_map(0.5, 1, (1.0, 2.0))
    with pytest.raises(ValueError, match="lo"):
        MU.ns_band(5, lo=0.0)
    with pytest.raises(ValueError, match="G"):
        MU.newton_schulz(np.ones((2, 2)))
    with pytest.raises(ValueError, match="dtype"):
        MU.newton_schulz(torch.ones(2, 2), dtype="float16")
    with pytest.raises(ValueError, match="rule"):
        MU.rms_matched_scale((2, 2), "adam")
    with pytest.raises(ValueError, match="shape"):
        MU.rms_matched_scale((2, 2, 2))
    with pytest.raises(ValueError, match="grad"):
        MU.muon_update(torch.ones(2, 2), torch.ones(3, 2))
    with pytest.raises(ValueError, match="momentum"):
        MU.muon_update(torch.ones(2, 2), torch.ones(2, 2), momentum=1.0)
    with pytest.raises(ValueError, match="params"):
        MU.MuonLite([torch.nn.Parameter(torch.ones(3))])
    with pytest.raises(ValueError, match="adjust_lr_fn"):
        MU.MuonLite([torch.nn.Parameter(torch.ones(3, 3))], adjust_lr_fn="sqrt")
    with pytest.raises(ValueError, match="optimizers"):
        MU.ChainedOptimizer()
    p = torch.nn.Parameter(torch.ones(2, 2))
    with pytest.raises(ValueError, match="optimizers"):
        MU.ChainedOptimizer(torch.optim.SGD([p], lr=0.1), torch.optim.SGD([p], lr=0.1))
    with pytest.raises(ValueError, match="mode"):
        MU.norm_bound_path(np.ones((2, 2)), 0.1, 0.1, 3, "fixed")
    with pytest.raises(ValueError, match="lam"):
        MU.norm_bound_path(np.ones((2, 2)), 0.1, 0.0, 3)


def test_closure_loss_evaluates_with_gradients_on_even_under_no_grad():
    w = torch.ones(2, requires_grad=True)
    from kexue.training.muon import closure_loss
    assert closure_loss(None) is None
    with torch.no_grad():
        loss = closure_loss(lambda: (w * w).sum())
    assert loss.requires_grad and float(loss) == 2.0
