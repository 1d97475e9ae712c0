"""Tests of kexue.diffusion.sid: exact eps-predictions, the SiD losses, the Gaussian closed form."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from kexue import diffusion as D
from kexue.diffusion import sid

torch.set_num_threads(1)
MEANS = torch.tensor([[1.0, 0.0], [-0.5, 0.8], [0.0, -1.2]], dtype=torch.float64)
STDS = torch.tensor([0.3, 0.6, 0.15], dtype=torch.float64)          # unequal: per-component terms matter
W = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)


def test_gmm_eps_matches_torch_distributions_score():
    x = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 1.5
    alpha, beta = 0.8, 0.6
    mix = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(W),
        torch.distributions.Independent(torch.distributions.Normal(
            alpha * MEANS, torch.sqrt(alpha ** 2 * STDS ** 2 + beta ** 2)[:, None].expand(3, 2)), 1))
    xr = x.clone().requires_grad_(True)
    score, = torch.autograd.grad(mix.log_prob(xr).sum(), xr)
    eps = D.gmm_eps(x, alpha, beta, MEANS, STDS, W)
    assert torch.allclose(eps, -beta * score, atol=1e-12)


def test_gmm_eps_matches_the_ve_denoiser_per_sample_times():
    gm = D.GaussianMixture(MEANS.numpy(), STDS.numpy(), W.numpy())
    g = torch.Generator().manual_seed(1)
    x = torch.randn(20, 2, dtype=torch.float64, generator=g)
    alpha, beta = D.vp_time_alpha_beta(20, g)
    eps = D.gmm_eps(x, alpha, beta, MEANS, STDS, W).numpy()
    for i in range(20):
        a, b = float(alpha[i]), float(beta[i])
        xv, sig = x[i].numpy() / a, b / a
        assert np.allclose(eps[i], (xv - gm.denoise(xv, sig)) / sig, atol=1e-10)


def test_gmm_eps_gradcheck_in_x_means_stds():
    x = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    m = MEANS.clone().requires_grad_(True)
    s = STDS.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, m, s: D.gmm_eps(x, 0.7, 0.5, m, s, W), (x, m, s))


def test_gaussian_closed_form_against_monte_carlo():
    cf = D.gaussian_sid_L1(1.3, [0.2, 0.4], [1.0, -0.5], 0.7, 0.8, 0.6)
    assert cf == pytest.approx(1.3855267, rel=1e-6)
    mc = D.gaussian_sid_mc(1.3, [0.2, 0.4], [1.0, -0.5], 0.7, 0.8, 0.6, n=400_000, seed=3)
    for k in ("L1", "L2", "L3", "L4"):
        assert mc[k] == pytest.approx(cf, rel=0.02), k
    v = 0.8 ** 2 * 1.3 ** 2 + 0.36
    assert mc["cross"] == pytest.approx(2 * 0.36 / v, rel=0.02)
    assert mc["psi_sq"] == pytest.approx(2 * 0.36 / v, rel=0.02)


@settings(max_examples=25, deadline=None)
@given(a=st.floats(0.2, 3.0), s=st.floats(0.2, 3.0), t=st.floats(0.05, 0.95))
def test_closed_form_vanishes_only_at_the_data_law(a, s, t):
    alpha, beta = math.cos(math.pi * t / 2), math.sin(math.pi * t / 2)
    assert D.gaussian_sid_L1(s, [0.3], [0.3], s, alpha, beta) == pytest.approx(0.0, abs=1e-12)
    assert D.gaussian_sid_L1(a, [0.3], [0.3], s, alpha, beta) >= 0


def test_psi_sq_grads_against_autograd():
    a, alpha, beta = 1.1, 0.8, 0.6
    at = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    g = torch.Generator().manual_seed(4)
    z = torch.randn(200_000, 2, generator=g, dtype=torch.float64)
    e = torch.randn(200_000, 2, generator=g, dtype=torch.float64)
    xt = alpha * at * z + beta * e
    full = (D.gmm_eps(xt, alpha, beta, torch.zeros(1, 2, dtype=torch.float64), at.abs()[None]) ** 2).sum(1).mean()
    frozen = (D.gmm_eps(xt, alpha, beta, torch.zeros(1, 2, dtype=torch.float64), at.detach()[None]) ** 2).sum(1).mean()
    gf, = torch.autograd.grad(full, at, retain_graph=True)
    gs, = torch.autograd.grad(frozen, at)
    cf_full, cf_sg = D.gaussian_psi_sq_grads(a, alpha, beta, 2)
    assert float(gf) == pytest.approx(cf_full, rel=0.03)
    assert float(gs) == pytest.approx(cf_sg, rel=0.03)


def test_sid_losses_values_on_hand_example():
    phi = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    psi = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    e = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    L = D.sid_losses(phi, psi, e)
    assert float(L["L1"]) == pytest.approx(0.25 + 9)
    assert float(L["L2"]) == pytest.approx(0.5 * 1 + 3 * 1)
    assert float(L["L3"]) == pytest.approx(1 + 1 + 1.25 - 2)
    assert float(L["L4"]) == pytest.approx(5 - 4 - 1)


def test_student_sample_and_training_short_run():
    st_ = D.GMMStudent(8, 2, seed=0)
    x = st_.sample(16, torch.Generator().manual_seed(0))
    assert x.shape == (16, 2) and x.requires_grad
    assert st_.mixture().means.shape == (8, 2)
    teacher = D.ring_mixture(8, 2.0, 0.2)
    for kind in D.SID_LOSSES:
        h = D.train_sid(kind, teacher, steps=3, batch=32, record_every=1, eval_fn=lambda s: float(s.stds.mean()))
        assert h["step"] == [0, 1, 2, 3] and len(h["eval"]) == 4 and not h["diverged"] and h["stopped_at"] == 3
        assert np.isfinite(h["means"]).all()


def test_sg_detaches_psi_only():
    teacher = D.ring_mixture(8, 2.0, 0.2)
    st_ = D.GMMStudent(8, 2, seed=0)
    g1 = torch.Generator().manual_seed(5)
    g2 = torch.Generator().manual_seed(5)
    l_sg = D.sid_generator_loss("L1 sg", st_, teacher, 64, g1)
    l_full = D.sid_generator_loss("L1 full", st_, teacher, 64, g2)
    assert float(l_sg) == pytest.approx(float(l_full), rel=1e-12)     # same value
    gs = torch.autograd.grad(l_sg, st_.means)[0]
    gf = torch.autograd.grad(l_full, st_.means)[0]
    assert gs.abs().sum() > 0 and (gs - gf).abs().max() > 1e-6       # different gradients


def test_bad_inputs():
    x = torch.zeros(3, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="stds"):
        D.gmm_eps(x, 0.5, 0.5, MEANS, -STDS)
    with pytest.raises(ValueError, match="means"):
        D.gmm_eps(x, 0.5, 0.5, torch.zeros(3, 3, dtype=torch.float64), STDS)
    with pytest.raises(ValueError, match="beta"):
        D.gmm_eps(x, 0.5, 0.0, MEANS, STDS)
    with pytest.raises(ValueError, match="alpha"):
        D.gmm_eps(x, torch.ones(5), 0.5, MEANS, STDS)
    with pytest.raises(ValueError, match="weights"):
        D.gmm_eps(x, 0.5, 0.5, MEANS, STDS, torch.tensor([0.5, 0.5, 0.5], dtype=torch.float64))
    with pytest.raises(ValueError, match="eps_fake"):
        D.sid_losses(x, torch.zeros(3, 3), x)
    with pytest.raises(ValueError, match="eps_teacher"):
        D.sid_losses(np.zeros((3, 2)), x, x)
    with pytest.raises(ValueError, match="mu"):
        D.gaussian_sid_L1(1.0, [0.0, 0.0], [0.0], 1.0, 0.5, 0.5)
    with pytest.raises(ValueError, match="beta"):
        D.gaussian_sid_L1(1.0, [0.0], [0.0], 1.0, 0.5, 0.0)
    with pytest.raises(ValueError, match="n"):
        D.gaussian_sid_mc(1.0, [0.0], [0.0], 1.0, 0.5, 0.5, n=0)
    with pytest.raises(ValueError, match="a"):
        D.gaussian_sid_mc(0.0, [0.0], [0.0], 1.0, 0.5, 0.5, n=10)
    with pytest.raises(ValueError, match="d"):
        D.gaussian_psi_sq_grads(1.0, 0.5, 0.5, 0)
    with pytest.raises(ValueError, match="t_min"):
        D.vp_time_alpha_beta(4, torch.Generator(), 0.5, 0.2)
    with pytest.raises(ValueError, match="k"):
        D.GMMStudent(0, 2)
    with pytest.raises(ValueError, match="kind"):
        D.train_sid("L5", D.ring_mixture())
    with pytest.raises(ValueError, match="lam"):
        D.sid_generator_loss("L1 sg", D.GMMStudent(), D.ring_mixture(), 8, torch.Generator(), lam=-1)
    with pytest.raises(ValueError, match="steps"):
        D.train_sid("L1 sg", D.ring_mixture(), steps=0)


def test_module_exports():
    assert set(sid.__all__) <= set(dir(D))


def test_train_sid_stops_a_diverging_run():
    h = D.train_sid("L2 - lam L1 sg", D.ring_mixture(8, 2.0, 0.2), lam=3.0, steps=400, batch=128, lr=0.1)
    assert h["diverged"] and h["stopped_at"] < 400


def test_modes_covered_counts_distinct_narrow_modes():
    teacher = D.ring_mixture(8, 2.0, 0.2)
    m = np.vstack([teacher.means[:3], teacher.means[:1] + 0.1, [[0.0, 0.0]]])
    sd = np.array([0.2, 0.2, 0.9, 0.2, 0.2])            # third is too wide, fourth duplicates mode 0
    assert D.modes_covered(m, sd, teacher) == 2
    with pytest.raises(ValueError, match="means"):
        D.modes_covered(np.zeros((3, 3)), np.ones(3), teacher)


def test_seed_sweep_first_run_reproduces_the_committed_output():
    from kexue.datasets import load_run
    saved = load_run("sid_seed_sweep")
    runs = {k: D.SWEEP_RUNS[k] for k in ("L1 sg", "L2 - 1.2 L1")}
    new = D.sid_seed_sweep(seeds=(0,), runs=runs)
    assert new["floor"] == pytest.approx(saved["floor"], rel=1e-3)
    assert new["runs"]["L1 sg"]["sw"][0] == pytest.approx(saved["runs"]["L1 sg"]["sw"][0], abs=0.01)
    assert new["runs"]["L1 sg"]["modes"][0] == saved["runs"]["L1 sg"]["modes"][0]
    assert new["runs"]["L2 - 1.2 L1"]["diverged"][0] == saved["runs"]["L2 - 1.2 L1"]["diverged"][0]


def test_eps_triplet_checks_the_three_noise_tensors():
    a = torch.zeros(4, 2, dtype=torch.float64)
    assert all(t is a for t in D.eps_triplet(a, a, a))
    with pytest.raises(ValueError, match="eps_teacher"):
        D.eps_triplet(torch.zeros(4), a, a)
    with pytest.raises(ValueError, match="eps_fake"):
        D.eps_triplet(a, torch.zeros(4, 3, dtype=torch.float64), a)
    with pytest.raises(ValueError, match="^eps"):
        D.eps_triplet(a, a, torch.zeros(3, 2, dtype=torch.float64))
