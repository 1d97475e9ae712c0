"""Tests of kexue.diffusion.consistency (chapter consistency-models)."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy.integrate import solve_ivp

from kexue import diffusion as D

torch.set_num_threads(1)
RING = D.ring_mixture(8, 2.0, 0.2)


def test_gaussian_consistency_map_matches_solve_ivp():
    m, s = 1.0, 0.5
    g = D.GaussianMixture([[m]], s)
    for t0, x in [(0.5, 0.3), (1.0, -1.2), (0.3, 2.5)]:
        sol = solve_ivp(lambda t, y: D.reflow_velocity(g, y[None], t)[0], (t0, 1e-9), [x],
                        rtol=1e-12, atol=1e-12)
        assert abs(sol.y[0, -1] - D.gaussian_consistency_map(x, t0, m, s)) < 1e-7
    assert abs(D.gaussian_consistency_map(0.3, 0.5, 1.0, 0.5) - 0.8211146) < 1e-7


@settings(max_examples=30, deadline=None)
@given(st.floats(-3, 3), st.floats(-2, 2), st.floats(0.1, 2))
def test_gaussian_map_boundaries(x, m, s):
    assert D.gaussian_consistency_map(x, 0.0, m, s) == pytest.approx(x, abs=1e-12)
    assert D.gaussian_consistency_map(x, 1.0, m, s) == pytest.approx(m + s * x, abs=1e-12)


def test_ode_map_converges_to_closed_form_at_second_order():
    g = D.GaussianMixture([[0.7]], 0.3)
    x = np.linspace(-2, 2, 7)[:, None]
    exact = D.gaussian_consistency_map(x[:, 0], 1.0, 0.7, 0.3)
    e1 = np.abs(D.ode_consistency_map(g, x, 1.0, 50)[:, 0] - exact).max()
    e2 = np.abs(D.ode_consistency_map(g, x, 1.0, 100)[:, 0] - exact).max()
    assert e2 < 1e-3 and 3.0 < e1 / e2 < 5.0          # Heun: halving h divides the error by ~4
    end, ts, traj = D.ode_consistency_map(g, x, 1.0, 10, return_trajectory=True)
    assert ts[0] == 1.0 and ts[-1] == 0.0 and traj.shape == (11, 7, 1)


def test_reflow_denoise_matches_the_ve_denoiser_and_mean_at_t1():
    # unequal stds and weights exercise the per-component terms
    gm = D.GaussianMixture([[1.0, 0.0], [-1.0, 0.5], [0.0, 2.0]], [0.2, 0.5, 0.3], [0.5, 0.3, 0.2])
    x = np.random.default_rng(0).standard_normal((20, 2))
    for t in (0.1, 0.5, 0.9):
        # x_t / (1 - t) = x0 + t / (1 - t) x1: the VE form at sigma = t / (1 - t)
        assert np.allclose(D.reflow_denoise(gm, x, t), gm.denoise(x / (1 - t), t / (1 - t)), atol=1e-12)
    assert np.allclose(D.reflow_denoise(gm, x, 1.0), gm.weights @ gm.means, atol=1e-12)
    ts = np.linspace(0.1, 1.0, 20)
    per_row = D.reflow_denoise(gm, x, ts)
    assert np.allclose(per_row, np.stack([D.reflow_denoise(gm, x[i:i + 1], ts[i])[0] for i in range(20)]))


def test_reflow_denoise_is_the_conditional_mean_monte_carlo():
    rng = np.random.default_rng(1)
    x0 = RING.sample(400_000, rng)
    x1 = rng.standard_normal(x0.shape)
    t = 0.6
    xt = D.reflow_path(x0, x1, t)
    # E[(x0 - D(x_t)) h(x_t)] = 0 for any h: orthogonality of the conditional mean
    resid = x0 - D.reflow_denoise(RING, xt, t)
    for h in (xt[:, :1], np.sin(xt[:, 1:]), np.ones((len(xt), 1))):
        assert np.abs((resid * h).mean(0)).max() < 5e-3


def test_velocity_matches_finite_difference_of_the_exact_map():
    # along the ODE, f*(x_t, t) is constant: d/dt f* + d/dx f* v = 0
    m, s = 0.5, 0.4
    g = D.GaussianMixture([[m]], s)
    x, t, h = 0.8, 0.6, 1e-6
    v = D.reflow_velocity(g, [[x]], t)[0, 0]
    dft = (D.gaussian_consistency_map(x, t + h, m, s) - D.gaussian_consistency_map(x, t - h, m, s)) / (2 * h)
    dfx = (D.gaussian_consistency_map(x + h, t, m, s) - D.gaussian_consistency_map(x - h, t, m, s)) / (2 * h)
    assert abs(dft + dfx * v) < 1e-7


def test_network_boundary_and_gradcheck():
    net = D.ConsistencyMLP(dim=2, hidden=8, depth=2, seed=1)
    x = torch.randn(5, 2, dtype=torch.float64)
    assert torch.equal(net(x, 0.0), x)
    t = torch.rand(5, dtype=torch.float64)
    torch.autograd.gradcheck(lambda xx: net(xx, t), (x.clone().requires_grad_(),))


def test_ema_update_matches_torch_averaged_model():
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
    online = D.ConsistencyMLP(2, 8, seed=0)
    ours = D.ConsistencyMLP(2, 8, seed=0)
    ref = AveragedModel(online, multi_avg_fn=get_ema_multi_avg_fn(0.9))   # first update copies
    ref.update_parameters(online)
    for seed in range(3):
        with torch.no_grad():
            for p in online.parameters():
                p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(seed), dtype=p.dtype))
        ref.update_parameters(online)
        D.ema_update(ours, online, 0.9)
    for a, b in zip(ours.parameters(), ref.module.parameters()):
        assert torch.allclose(a, b, atol=1e-12)


def test_ct_and_cd_targets():
    ident = lambda x, t: x                                   # f(x, t) = x: the target is the point itself
    x0 = torch.randn(6, 2, dtype=torch.float64)
    x1 = torch.randn(6, 2, dtype=torch.float64)
    k = torch.tensor([1, 2, 3, 4, 5, 6])
    xt, t, tgt = D.consistency_targets(ident, x0, x1, k, 6)
    tp = ((k - 1) / 6.0).double()[:, None]
    assert torch.allclose(tgt, (1 - tp) * x0 + tp * x1)
    _, _, tgt_cd = D.consistency_targets(ident, x0, x1, k, 6, RING)
    v = D.reflow_velocity(RING, xt.numpy(), t.numpy())
    assert torch.allclose(tgt_cd, xt - torch.from_numpy(v) / 6)
    assert torch.allclose(tgt[0], x0[0]) and torch.allclose(tgt_cd[0], torch.from_numpy(D.reflow_denoise(RING, xt[:1].numpy(), 1 / 6))[0])


def test_exact_map_loss_scales_as_n4_for_cd_and_n2_for_ct():
    cd = [D.exact_map_loss(1.0, 0.5, n, "cd", 100_000) for n in (10, 20)]
    ct = [D.exact_map_loss(1.0, 0.5, n, "ct", 100_000) for n in (10, 20)]
    assert 13 < cd[0] / cd[1] < 19 and 3.5 < ct[0] / ct[1] < 4.5


def test_training_first_steps_and_sampling():
    model, ema, losses = D.train_consistency(RING, "cd", n=8, steps=300, batch=128, lr=2e-3, decay=0.9, hidden=32)
    assert losses.shape == (300,) and np.isfinite(losses).all()
    x1 = np.random.default_rng(0).standard_normal((50, 2))
    # the one-step map moves towards the exact consistency map (untrained: f(x1, 1) ~ x1)
    f_star = D.ode_consistency_map(RING, x1, 1.0, 50)
    untrained = D.consistency_sample(D.ConsistencyMLP(2, 32, seed=0), x1, (1.0,))
    err = lambda y: np.linalg.norm(y - f_star, axis=1).mean()
    assert err(D.consistency_sample(ema, x1, (1.0,))) < 0.8 * err(untrained)
    one = D.consistency_sample(ema, x1, (1.0,))
    with torch.no_grad():
        assert np.allclose(one, ema(torch.from_numpy(x1), 1.0).numpy())
    two = D.consistency_sample(ema, x1, (1.0, 0.5), seed=3)
    assert two.shape == (50, 2) and not np.allclose(one, two)


def test_telescoping_sum_bounds_the_endpoint_gap():
    rng = np.random.default_rng(2)
    x0, x1 = rng.standard_normal((2, 100, 2))
    f = lambda x, t: np.tanh(x) * (1 + t)                  # any f with any path
    bound = D.telescoping_sum(f, x0, x1, 7)
    assert (np.linalg.norm(f(x1, 1.0) - f(x0, 0.0), axis=1) <= bound + 1e-12).all()


def test_edm_boundary_scalings_match_diffusers():
    from diffusers import CMStochasticIterativeScheduler
    sch = CMStochasticIterativeScheduler()
    for sg in (0.002, 0.5, 3.0, 80.0):
        ref = sch.get_scalings_for_boundary_condition(torch.tensor(sg, dtype=torch.float64))
        ours = D.edm_boundary_scalings(sg)
        assert abs(float(ref[0]) - float(ours[0])) < 1e-6 and abs(float(ref[1]) - float(ours[1])) < 1e-6
    c_skip, c_out = D.edm_boundary_scalings(0.002)
    assert float(c_skip) == 1.0 and float(c_out) == 0.0


def test_bad_input():
    with pytest.raises(ValueError, match="x1"):
        D.reflow_path(np.zeros((2, 2)), np.zeros((3, 2)), 0.5)
    with pytest.raises(ValueError, match="teacher"):
        D.reflow_denoise("ring", np.zeros((2, 2)), 0.5)
    with pytest.raises(ValueError, match="t"):
        D.reflow_denoise(RING, np.zeros((2, 2)), 0.0)
    with pytest.raises(ValueError, match="t"):
        D.reflow_velocity(RING, np.zeros((2, 2)), np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match="s"):
        D.gaussian_consistency_map(0.1, 0.5, 0.0, -1.0)
    with pytest.raises(ValueError, match="steps"):
        D.ode_consistency_map(RING, np.zeros((2, 2)), 1.0, 0)
    with pytest.raises(ValueError, match="teacher"):
        D.ode_consistency_map(None, np.zeros((2, 2)), 1.0, 10)
    with pytest.raises(ValueError, match="hidden"):
        D.ConsistencyMLP(2, 0)
    with pytest.raises(ValueError, match="x"):
        D.ConsistencyMLP(2, 4)(torch.zeros(3, 3, dtype=torch.float64), 0.5)
    with pytest.raises(ValueError, match="decay"):
        D.ema_update(D.ConsistencyMLP(2, 4), D.ConsistencyMLP(2, 4), 1.5)
    with pytest.raises(ValueError, match="k"):
        D.consistency_targets(lambda x, t: x, torch.zeros(2, 2), torch.zeros(2, 2), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match="n"):
        D.consistency_loss(lambda x, t: x, lambda x, t: x, torch.zeros(2, 2), torch.zeros(2, 2), torch.tensor([1, 1]), 0)
    with pytest.raises(ValueError, match="mode"):
        D.train_consistency(RING, "ctm")
    with pytest.raises(ValueError, match="ts"):
        D.consistency_sample(lambda x, t: x, np.zeros((2, 2)), (0.5, 1.0))
    with pytest.raises(ValueError, match="mode"):
        D.exact_map_loss(1.0, 0.5, 10, "sid")
    with pytest.raises(ValueError, match="n"):
        D.telescoping_sum(lambda x, t: x, np.zeros((2, 2)), np.zeros((2, 2)), 0)
    with pytest.raises(ValueError, match="sigma"):
        D.edm_boundary_scalings(0.001)
