"""kexue.training.lora: LoRA gradients, width rules for eta_B/eta_A, LoRA+ parameter groups."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from kexue.training import lora as L

torch.set_num_threads(1)


def _draw(b=5, n=7, r=3, m=4, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(b, n)), rng.normal(size=(n, r)), rng.normal(size=(r, m)),
            rng.normal(size=(b, m)), rng.normal(size=(n, m)))


def test_forward_is_x_times_w0_plus_ab():
    X, A, B, _, W0 = _draw()
    assert np.allclose(L.lora_forward(X, A, B, W0), X @ (W0 + A @ B), atol=1e-13)
    assert np.allclose(L.lora_forward(X, A, B), X @ A @ B, atol=1e-13)
    t = L.lora_forward(torch.tensor(X), torch.tensor(A), torch.tensor(B))
    assert isinstance(t, torch.Tensor) and np.allclose(t.numpy(), X @ A @ B)


def test_grads_match_autograd_for_a_nonlinear_loss():
    X, A, B, _, W0 = _draw(b=6, n=9, r=3, m=5, seed=1)
    At = torch.tensor(A, requires_grad=True)
    Bt = torch.tensor(B, requires_grad=True)
    Y = L.lora_forward(torch.tensor(X), At, Bt, torch.tensor(W0))
    loss = (torch.tanh(Y) ** 2).sum()              # dY depends on Y: not a linear probe
    loss.backward()
    dY = (2 * torch.tanh(Y) * (1 - torch.tanh(Y) ** 2)).detach().numpy()
    dA, dB = L.lora_grads(X, A, B, dY)
    assert np.abs(dA - At.grad.numpy()).max() < 1e-12
    assert np.abs(dB - Bt.grad.numpy()).max() < 1e-12


def test_grads_pass_gradcheck_as_torch_functions():
    X, A, B, dY, _ = _draw(b=3, n=4, r=2, m=3, seed=2)
    At, Bt = torch.tensor(A, requires_grad=True), torch.tensor(B, requires_grad=True)
    f = lambda a, b: L.lora_grads(torch.tensor(X), a, b, torch.tensor(dY))
    assert torch.autograd.gradcheck(f, (At, Bt))


def test_init_scales_and_zeroing():
    A, B = L.lecun_lora_init(2000, 5, 1500, seed=3)
    assert A.var() == pytest.approx(1 / 2000, rel=0.05)
    assert B.var() == pytest.approx(1 / 5, rel=0.05)
    A0, B0 = L.lecun_lora_init(20, 2, 30, zero="A")
    assert not A0.any() and B0.any()
    A1, B1 = L.lecun_lora_init(20, 2, 30, zero="B")
    assert A1.any() and not B1.any()


def test_ratio_rules():
    assert L.loraplus_ratio(1024, 1024, 4, "su") == pytest.approx(16.0)
    assert L.loraplus_ratio(1024, 1024, 4, "isotropic") == pytest.approx(16.0)
    assert L.loraplus_ratio(1024, 256, 4, "su") == pytest.approx(64.0)
    assert L.loraplus_ratio(1024, 256, 4, "isotropic") == pytest.approx(32.0)
    assert L.loraplus_ratio(768, 768, 8, "paper") == 768
    arr = L.loraplus_ratio(np.array([64.0, 256.0]), 64, 1)
    assert arr.shape == (2,)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4096), st.integers(1, 4096), st.integers(1, 64), st.floats(1, 10))
def test_rules_agree_at_m_equal_n_and_scale_like_widths(n, m, r, c):
    r = min(r, n, m)                  # a rank: r <= min(n, m) (scaling by c >= 1 keeps that)
    assert L.loraplus_ratio(n, n, r, "su") == pytest.approx(L.loraplus_ratio(n, n, r, "isotropic"))
    # su / isotropic = sqrt(n / m): the factor the post's count drops
    assert L.loraplus_ratio(n, m, r, "su") / L.loraplus_ratio(n, m, r, "isotropic") == \
        pytest.approx(np.sqrt(n / m))
    # scaling both widths by c (rank fixed) scales the ratio by sqrt(c)
    assert L.loraplus_ratio(c * n, c * m, r, "isotropic") == \
        pytest.approx(np.sqrt(c) * L.loraplus_ratio(n, m, r, "isotropic"))


def test_contribution_ratio_is_l1_ratio_and_scale_covariant():
    _, A, B, _, _ = _draw()
    assert L.contribution_ratio(A, B) == pytest.approx(np.abs(A).sum() / np.abs(B).sum())
    assert L.contribution_ratio(3 * A, B) == pytest.approx(3 * L.contribution_ratio(A, B))


def test_measured_ratio_follows_the_isotropic_rule_not_the_post_when_m_differs():
    meas = np.mean([L.random_contribution_ratio(1024, 128, 4, b=32, seed=s) for s in range(4)])
    assert meas == pytest.approx(L.loraplus_ratio(1024, 128, 4, "isotropic"), rel=0.1)
    assert meas < 0.5 * L.loraplus_ratio(1024, 128, 4, "su")


def test_param_groups_match_peft_create_loraplus_optimizer():
    peft = pytest.importorskip("peft")
    from peft.optimizers import create_loraplus_optimizer
    torch.manual_seed(0)
    base = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.LayerNorm(16), torch.nn.Linear(16, 4))
    model = peft.get_peft_model(base, peft.LoraConfig(r=4, target_modules=["0", "2"], bias="all",
                                                      modules_to_save=["1"]))
    opt = create_loraplus_optimizer(model, torch.optim.AdamW, lr=1e-3, loraplus_lr_ratio=16,
                                    loraplus_weight_decay=0.1)
    ref = {id(p): (g["lr"], g["weight_decay"]) for g in opt.param_groups for p in g["params"]}
    ours = L.loraplus_param_groups(model.named_parameters(), 1e-3, 16, weight_decay=0.1)
    mine = {id(p): (g["lr"], g["weight_decay"]) for g in ours for p in g["params"]}
    assert mine.keys() == ref.keys() and len(ref) >= 6
    for k in ref:
        assert mine[k] == pytest.approx(ref[k])
    names = [nm for g in ours for nm in g["names"]]
    assert any("bias" in nm for g in ours if g["lr"] > 1e-3 for nm in g["names"])   # biases go fast
    assert all("lora_A" in nm for nm in ours[0]["names"]) and len(names) == len(ref)


def test_sweep_zero_a_start_and_bad_zero():
    out = L.lora_sweep(16, 2, [1e-2], [1.0, 8.0], steps=20, seed=0, zero="A", k=4)
    assert out.shape == (1 * 2, 1) and np.isfinite(out).all() and (out < 1.5).all()
    with pytest.raises(ValueError, match="zero"):
        L.lora_sweep(16, 2, [1e-2], [1.0], zero="C", k=4)


def test_sweep_shape_monotone_in_steps_and_divergence_is_inf():
    lrs, lams = [1e-3, 3e-2], [1.0, 8.0]
    short = L.lora_sweep(32, 2, lrs, lams, steps=3, seed=0)
    long = L.lora_sweep(32, 2, lrs, lams, steps=40, seed=0)
    assert short.shape == (2, 2) and (long < short).all()
    assert np.isinf(L.lora_sweep(32, 2, [1e3], [1e3], steps=20, betas=(0.0, 0.0), eps=0.0)).all() or \
        (L.lora_sweep(32, 2, [1e3], [1e3], steps=20) > 1e3).all()


def test_sweep_closed_form_gradients_match_torch_adam_for_one_run():
    n, r, k, lr, lam, steps = 16, 2, 4, 1e-2, 4.0, 5
    ours = L.lora_sweep(n, r, [lr], [lam], steps=steps, batch=8, seed=7, k=k, eps=1e-8)[0, 0]
    import math
    f64 = torch.float64
    g = torch.Generator().manual_seed(7)
    P = torch.randn(k, n, generator=g, dtype=f64)
    W = (torch.randn(n, r, generator=g, dtype=f64) / math.sqrt(n)) @ (torch.randn(r, n, generator=g, dtype=f64) / math.sqrt(r))
    A = (torch.randn(n, r, generator=g, dtype=f64) / math.sqrt(n)).requires_grad_()
    B = torch.zeros(r, n, dtype=f64, requires_grad=True)
    opt = torch.optim.Adam([{"params": [A], "lr": lr}, {"params": [B], "lr": lr * lam}], eps=1e-8)
    for _ in range(steps):
        X = torch.randn(8, k, generator=g, dtype=f64) @ P / math.sqrt(k)
        loss = ((X @ A @ B - X @ W) ** 2).sum() / (2 * 8 * n)
        opt.zero_grad()
        loss.backward()
        opt.step()
    C = P.T @ P / k
    D = (A @ B - W).detach()
    ref = float(torch.trace(D.T @ C @ D) / torch.trace(W.T @ C @ W))
    assert ours == pytest.approx(ref, rel=1e-9)


def test_bad_inputs_name_the_parameter():
    X, A, B, dY, W0 = _draw()
    with pytest.raises(ValueError, match="A"):
        L.lora_forward(X, A[:-1], B)
    with pytest.raises(ValueError, match="B"):
        L.lora_forward(X, A, B[:-1])
    with pytest.raises(ValueError, match="W0"):
        L.lora_forward(X, A, B, W0[:-1])
    with pytest.raises(ValueError, match="dY"):
        L.lora_grads(X, A, B, dY[:, :-1])
    with pytest.raises(ValueError, match="X"):
        L.lora_grads(X[0], A, B, dY)
    with pytest.raises(ValueError, match="r"):
        L.lecun_lora_init(4, 5, 4)
    with pytest.raises(ValueError, match="zero"):
        L.lecun_lora_init(4, 2, 4, zero="C")
    with pytest.raises(ValueError, match="rule"):
        L.loraplus_ratio(4, 4, 2, "other")
    with pytest.raises(ValueError, match="m"):
        L.loraplus_ratio(4, 0, 2)
    with pytest.raises(ValueError, match="dB"):
        L.contribution_ratio(A, np.zeros_like(B))
    with pytest.raises(ValueError, match="b"):
        L.random_contribution_ratio(8, 8, 2, b=0)
    with pytest.raises(ValueError, match="ratio"):
        L.loraplus_param_groups([("lora_B.w", torch.nn.Parameter(torch.zeros(2, 2)))], 1e-3, -1)
    with pytest.raises(ValueError, match="named_parameters"):
        L.loraplus_param_groups([("lora_A.w", torch.nn.Parameter(torch.zeros(2, 2)))], 1e-3, 2)
    with pytest.raises(ValueError, match="lrs"):
        L.lora_sweep(8, 2, [-1.0], [1.0], k=4)
    with pytest.raises(ValueError, match="betas"):
        L.lora_sweep(8, 2, [1e-3], [1.0], k=4, betas=(1.0, 0.9))


def test_loraplus_ratio_refuses_a_rank_past_the_widths():
    """r is a rank: r <= min(n, m), elementwise for arrays."""
    assert L.loraplus_ratio(8, 4, 4) > 0
    for n, m, r in ((8, 4, 5), (8, 16, 9), (np.array([8, 2]), 8, 4)):
        with pytest.raises(ValueError, match="r must be <= min"):
            L.loraplus_ratio(n, m, r)
