"""Tests of kexue.moe.balance (chapter moe-load-balance)."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from kexue.moe import balance as B

torch.set_num_threads(1)


def logits(T=32, n=6, seed=0, requires_grad=True):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(T, n, generator=g, dtype=torch.float64).requires_grad_(requires_grad)


# --- statistics ---------------------------------------------------------------------------
def test_router_stats_definitions():
    s = logits(requires_grad=False)
    p, f, P, F = B.router_stats(s, 2)
    torch.testing.assert_close(p, torch.softmax(s, -1))
    assert torch.all(f.sum(1) == 1) and set(torch.unique(f).tolist()) == {0.0, 0.5}
    top = torch.topk(s, 2).indices
    assert torch.all(f.gather(1, top) == 0.5)
    assert float(F.sum()) == pytest.approx(1) and float(P.sum()) == pytest.approx(1)
    # "sum" normalisation of a non-negative rho
    rho = torch.sigmoid(s)
    p2, f2, _, _ = B.router_stats(rho, 2, normalize="sum")
    torch.testing.assert_close(p2, rho / rho.sum(1, keepdim=True))
    torch.testing.assert_close(f2, f)               # sigmoid is increasing: same top-k


def test_select_bias_changes_choice_not_scores():
    s = logits(requires_grad=False)
    bias = torch.zeros(6, dtype=torch.float64)
    bias[5] = 100.0
    p, f, _, F = B.router_stats(s, 1, select_bias=bias)
    torch.testing.assert_close(p, torch.softmax(s, -1))
    assert float(F[5]) == 1.0


# --- the straight-through identity -------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 5), st.integers(2, 9))
def test_ste_square_has_the_gradient_of_F_dot_P(seed, k, n):
    k = min(k, n - 1)
    s = logits(T=40, n=n, seed=seed)
    _, _, P, F = B.router_stats(s, k)
    g_fp, = torch.autograd.grad(B.aux_loss_fp(P, F), s, retain_graph=True)
    g_ste, = torch.autograd.grad(B.aux_loss_ste(P, F), s)
    torch.testing.assert_close(g_fp, g_ste, atol=1e-13, rtol=0)


def test_ste_forward_value_is_the_objective_in_F():
    s = logits()
    _, _, P, F = B.router_stats(s, 2)
    assert B.aux_loss_ste(P, F).item() == pytest.approx(0.5 * float(((F - 1 / 6) ** 2).sum()))
    ent = float((F * torch.log(F)).sum()) if bool((F > 0).all()) else None
    if ent is not None:
        assert B.aux_loss_ste(P, F, kind="entropy").item() == pytest.approx(ent)


def test_entropy_ste_matches_the_simplified_gradient_when_all_loads_positive():
    s = logits(T=200, n=5, seed=3)
    _, _, P, F = B.router_stats(s, 2)
    assert bool((F > 0).all())
    g1, = torch.autograd.grad(B.aux_loss_ste(P, F, kind="entropy"), s, retain_graph=True)
    g2, = torch.autograd.grad(B.entropy_surrogate(P, F), s)
    torch.testing.assert_close(g1, g2, atol=1e-13, rtol=0)


def test_identity_needs_P_normalised():
    # unnormalised P = E[sigmoid]: the F.P gradient is no longer the STE gradient
    s = logits(T=64, n=6, seed=4)
    rho = torch.sigmoid(s)
    _, _, _, F = B.router_stats(s, 2)
    P_raw = rho.mean(0)
    g_fp, = torch.autograd.grad(B.aux_loss_fp(P_raw, F), s, retain_graph=True)
    g_ste, = torch.autograd.grad(B.aux_loss_ste(P_raw, F), s)
    assert (g_fp - g_ste).abs().max() > 1e-4


def test_gradcheck_of_the_differentiable_forms():
    s = logits(T=12, n=4, seed=5)
    _, _, _, F = B.router_stats(s, 2)
    F = F.detach()
    assert torch.autograd.gradcheck(lambda z: B.aux_loss_fp(torch.softmax(z, -1).mean(0), F), (s,))
    Fp = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda z: B.entropy_surrogate(torch.softmax(z, -1).mean(0), Fp), (s,))


def test_ste_forward_is_flat_in_P():
    # finite differences see nothing: the STE value is the objective at F, whatever P is
    s = logits(T=12, n=4, seed=5)
    _, _, P, F = B.router_stats(s, 2)
    a = B.aux_loss_ste(P.detach(), F)
    b = B.aux_loss_ste(P.detach() + 1e-3 * torch.tensor([1.0, -1, 0.5, -0.5], dtype=torch.float64), F)
    assert abs(float(a) - float(b)) < 1e-15
    g, = torch.autograd.grad(B.aux_loss_ste(P, F), s)
    assert g.abs().max() > 1e-4                    # yet the gradient is not zero


def test_fp_scale_n():
    P = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    F = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    assert float(B.aux_loss_fp(P, F, "n")) == pytest.approx(3 * float(B.aux_loss_fp(P, F)))


def test_F_dot_P_is_not_minimal_at_balance():
    P = torch.tensor([0.5, 0.3, 0.1, 0.05, 0.03, 0.02], dtype=torch.float64)
    F = torch.tensor([0, 0, 0, 0, 0.5, 0.5], dtype=torch.float64)
    assert float(B.aux_loss_fp(P, F)) == pytest.approx(0.025)
    Q = torch.full((6,), 1 / 6, dtype=torch.float64)
    assert float(B.aux_loss_fp(Q, Q)) == pytest.approx(1 / 6)


# --- parity with the transformers implementations ---------------------------------------
def test_mixtral_convention_matches_transformers_and_is_n_k_F_dot_P():
    mixtral = pytest.importorskip("transformers.models.mixtral.modeling_mixtral")
    s = logits(T=64, n=8, seed=6, requires_grad=False)
    ref = mixtral.load_balancing_loss_func((s,), num_experts=8, top_k=2)
    ours = B.mixtral_aux_loss(s, 2)
    assert float(ours) == pytest.approx(float(ref), rel=1e-6)
    _, _, P, F = B.router_stats(s, 2)
    assert float(ours) == pytest.approx(8 * 2 * float(B.aux_loss_fp(P, F)), rel=1e-12)


def test_switch_convention_matches_transformers_and_is_n_F_dot_P():
    switch = pytest.importorskip("transformers.models.switch_transformers.modeling_switch_transformers")
    s = logits(T=64, n=8, seed=7, requires_grad=False)
    probs = torch.softmax(s, -1)
    idx = probs.argmax(-1)
    ref = switch.load_balancing_loss_func(probs[None], idx[None])
    ours = B.switch_aux_loss(probs, idx)
    assert float(ours) == pytest.approx(float(ref), rel=1e-6)
    _, _, P, F = B.router_stats(s, 1)
    assert float(ours) == pytest.approx(8 * float(B.aux_loss_fp(P, F)), rel=1e-12)


def test_deepseek_convention_is_n_F_dot_P_for_top_k():
    s = logits(T=64, n=8, seed=8, requires_grad=False)
    _, f, P, F = B.router_stats(s, 3)
    counts = (f > 0).sum(0).double()
    ref = ((8 / (3 * 64)) * counts * torch.softmax(s, -1).mean(0)).sum()
    assert B.deepseek_aux_loss(s, 3).item() == pytest.approx(ref.item(), rel=1e-12)
    assert B.deepseek_aux_loss(s, 3).item() == pytest.approx(8 * B.aux_loss_fp(P, F).item(), rel=1e-12)
    assert B.mixtral_aux_loss(s, 3).item() == pytest.approx(3 * B.deepseek_aux_loss(s, 3).item(), rel=1e-12)


def test_signed_router_fp_drifts_but_ste_does_not():
    fp = B.simulate_balancing("fp", steps=80, T=256, router="linear")
    ste = B.simulate_balancing("ste_sq", steps=80, T=256, router="linear")
    assert fp["P"][-1].sum() < fp["P"][0].sum() - 5
    assert abs(ste["P"][-1].sum() - ste["P"][0].sum()) < 0.5
    assert ste["max_load_ratio"][-1] < ste["max_load_ratio"][0]


# --- metrics ------------------------------------------------------------------------------
def test_load_metrics_and_drops():
    m = B.load_metrics(np.full(4, 0.25))
    assert m == {"max_load_ratio": 1.0, "entropy_norm": pytest.approx(1.0), "dead": 0}
    m = B.load_metrics(torch.tensor([0.5, 0.5, 0.0, 0.0]))
    assert m["max_load_ratio"] == 2.0 and m["dead"] == 2 and m["entropy_norm"] == pytest.approx(0.5)
    assert B.dropped_fraction(np.full(4, 0.25)) == 0
    assert B.dropped_fraction(np.array([0.5, 0.5, 0, 0])) == pytest.approx(0.5)
    assert B.dropped_fraction(np.array([0.5, 0.5, 0, 0]), capacity_factor=2.0) == 0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=10).filter(lambda v: sum(v) > 0.1))
def test_load_metrics_bounds(v):
    F = np.array(v) / sum(v)
    m = B.load_metrics(F)
    assert 1 - 1e-12 <= m["max_load_ratio"] <= len(v) + 1e-12
    assert -1e-12 <= m["entropy_norm"] <= 1 + 1e-12
    assert 0 <= B.dropped_fraction(F) <= 1


# --- the simulation -----------------------------------------------------------------------
def test_simulation_fp_and_ste_sq_share_a_trajectory_and_balance():
    a = B.simulate_balancing("fp", steps=60, T=256)
    b = B.simulate_balancing("ste_sq", steps=60, T=256)
    assert np.abs(a["params"] - b["params"]).max() < 1e-12
    none = B.simulate_balancing("none", steps=60, T=256)
    assert a["max_load_ratio"][-1] < a["max_load_ratio"][0]
    assert a["max_load_ratio"][-1] < none["max_load_ratio"][-1]
    assert np.all(none["params"] == none["params"][0])


def test_simulation_target_and_bias_rules():
    Q = np.array([0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05])
    r = B.simulate_balancing("ste_sq", steps=300, T=512, target=Q, skew=0.0, lr=4.0)
    assert np.abs(r["F"][-1] - Q).max() < 0.05
    bias = B.simulate_balancing("bias", steps=200, T=512, lr=0.01)
    assert bias["max_load_ratio"][-1] < bias["max_load_ratio"][0]
    assert np.all(bias["params"] == bias["params"][0])     # the router itself is untouched
    rec = B.simulate_balancing("ste_entropy", steps=20, T=64, record_every=10)
    assert rec["steps"].tolist() == [0, 10, 20]


# --- bad input ----------------------------------------------------------------------------
def test_bad_inputs():
    s = logits(requires_grad=False)
    with pytest.raises(ValueError, match="scores"):
        B.router_stats(s.numpy(), 2)
    with pytest.raises(ValueError, match="k"):
        B.router_stats(s, 7)
    with pytest.raises(ValueError, match="normalize"):
        B.router_stats(s, 2, normalize="l2")
    with pytest.raises(ValueError, match="scores"):
        B.router_stats(s, 2, normalize="sum")
    with pytest.raises(ValueError, match="select_bias"):
        B.router_stats(s, 2, select_bias=torch.zeros(3))
    P = torch.full((6,), 1 / 6, dtype=torch.float64)
    with pytest.raises(ValueError, match="F"):
        B.aux_loss_fp(P, P[:3])
    with pytest.raises(ValueError, match="scale"):
        B.aux_loss_fp(P, P, scale="k")
    with pytest.raises(ValueError, match="target"):
        B.aux_loss_ste(P, P, target=torch.ones(6))
    with pytest.raises(ValueError, match="target"):
        B.aux_loss_ste(P, P, target=P, kind="entropy")
    with pytest.raises(ValueError, match="kind"):
        B.aux_loss_ste(P, P, kind="kl")
    with pytest.raises(ValueError, match="eps"):
        B.aux_loss_ste(P, P, eps=0)
    with pytest.raises(ValueError, match="F"):
        B.entropy_surrogate(P, torch.zeros(6, dtype=torch.float64))
    with pytest.raises(ValueError, match="F"):
        B.load_metrics(np.array([0.5, 0.2]))
    with pytest.raises(ValueError, match="capacity_factor"):
        B.dropped_fraction(np.full(2, 0.5), capacity_factor=0)
    with pytest.raises(ValueError, match="expert_index"):
        B.switch_aux_loss(torch.softmax(s, -1), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="k"):
        B.mixtral_aux_loss(s, 0)
    with pytest.raises(ValueError, match="k"):
        B.deepseek_aux_loss(s, 9)
    with pytest.raises(ValueError, match="router"):
        B.simulate_balancing("fp", router="relu")
    with pytest.raises(ValueError, match="rule"):
        B.simulate_balancing("aux")
    with pytest.raises(ValueError, match="target"):
        B.simulate_balancing("fp", target=np.full(8, 1 / 8))
    with pytest.raises(ValueError, match="k"):
        B.simulate_balancing("fp", n=4, k=4)
    with pytest.raises(ValueError, match="scores"):
        B.router_stats(torch.tensor([[float("nan"), 0.0]]), 1)
