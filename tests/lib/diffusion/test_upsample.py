"""Tests of kexue.diffusion.upsample: pooling, upsampling, multi-scale loss, upsample guidance."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from kexue import diffusion as D

torch.set_num_threads(1)
FAST = settings(max_examples=30, deadline=None)
# diffusers' schedulers trip numpy 2 deprecation warnings thousands of times; they are not ours
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:diffusers.*",
                                        "ignore::DeprecationWarning:numpy.*")


def test_pool_and_upsample_match_torch():
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    assert torch.allclose(D.avg_pool(x, 2), torch.nn.functional.avg_pool2d(x, 2))
    y = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    assert torch.equal(D.nearest_upsample(y, 2), torch.nn.functional.interpolate(y, scale_factor=2, mode="nearest"))
    assert np.allclose(D.avg_pool(x.numpy(), 4), torch.nn.functional.avg_pool2d(x, 4).numpy())


@FAST
@given(st.sampled_from([1, 2, 4]), st.integers(0, 1000))
def test_pool_of_upsample_is_identity(s, seed):
    y = np.random.default_rng(seed).standard_normal((3, 4, 4))
    assert np.allclose(D.avg_pool(D.nearest_upsample(y, s), s), y)


def test_pooled_noise_variance_is_one_over_s_squared():
    e = np.random.default_rng(0).standard_normal((500, 32, 32))
    for s in (2, 4):
        assert abs(D.avg_pool(e, s).var() * s * s - 1) < 0.03


def test_multiscale_loss_expectation_for_zero_prediction():
    e = np.random.default_rng(4).standard_normal((200, 16, 16))
    total, terms = D.multiscale_loss(e, np.zeros_like(e), scales=(1, 2, 4))
    assert np.allclose(terms, [1, 1 / 4, 1 / 16], rtol=0.05)
    t_total, _ = D.multiscale_loss(torch.tensor(e), torch.zeros(e.shape, dtype=torch.float64))
    assert np.isclose(float(t_total), total)


def test_upsample_guidance_identities(gp_pair):
    _, Pl = gp_pair
    lo = D.gp_lowres_model(Pl)
    x = np.random.default_rng(3).standard_normal((2, 16, 16))
    t = 0.6
    e = lo(x, t)
    assert np.array_equal(D.upsample_guidance_eps(lo, x, t, 2, -1.0), e)
    a, b = math.cos(math.pi * t / 2), math.sin(math.pi * t / 2)
    low = lo(D.avg_pool(x, 2) / float(D.ug_rho(a, b, 2)), float(D.snr_match_time(t, 2))) / 2
    assert np.allclose(D.avg_pool(D.upsample_guidance_eps(lo, x, t, 2, 0.0), 2), low, atol=1e-13)
    d = [g - D.nearest_upsample(D.avg_pool(g, 2), 2) for g in
         (D.upsample_guidance_eps(lo, x, t, 2, w) for w in (-1.0, 0.0, 0.7))]
    assert np.allclose(d[0], d[1], atol=1e-13) and np.allclose(d[0], d[2], atol=1e-13)


@FAST
@given(st.floats(0.01, 0.99), st.floats(1.0, 16.0))
def test_tau_rho_make_the_pooled_input_unit_norm(t, s):
    a, b = math.cos(math.pi * t / 2), math.sin(math.pi * t / 2)
    tau, rho = float(D.snr_match_time(t, s)), float(D.ug_rho(a, b, s))
    assert tau <= t + 1e-15
    assert math.isclose(math.cos(math.pi * tau / 2), a / rho, rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(math.sin(math.pi * tau / 2), b / (s * rho), rel_tol=1e-12, abs_tol=1e-12)


def test_ug_coarse_dynamics_close_under_ddim(gp_pair):
    _, Pl = gp_pair
    lo = D.gp_lowres_model(Pl)
    ts = np.linspace(0.95, 0.0, 11)
    xT = np.random.default_rng(4).standard_normal((4, 16, 16))
    x_hi = D.ddim_sample(lambda x, t: D.upsample_guidance_eps(lo, x, t, 2, 0.0), xT, ts)
    rho0 = float(D.ug_rho(math.cos(math.pi * 0.95 / 2), math.sin(math.pi * 0.95 / 2), 2))
    x_lo = D.ddim_sample(lo, D.avg_pool(xT, 2) / rho0, D.snr_match_time(ts, 2))
    assert np.allclose(D.avg_pool(x_hi, 2), x_lo, atol=1e-10)      # rho at t = 0 is 1


def test_ug_bad_input(gp_pair):
    P, Pl = gp_pair
    with pytest.raises(ValueError, match="s"):
        D.gp_ug_samples(P, 0, 0.0, np.zeros((1, 16, 16)), [0.9, 0.0])
    with pytest.raises(ValueError, match="w"):
        D.upsample_guidance_eps(D.gp_lowres_model(Pl), np.zeros((16, 16)), 0.5, 2, float("nan"))


def test_ug_weight_switches_off_after_the_window():
    assert D.ug_weight(0.95, 0.3, 0.1) == 0.3
    assert D.ug_weight(0.85, 0.3, 0.1) == -1.0
    assert D.ug_weight(0.0, 0.3, 1.0) == 0.3


def test_remaining_bad_input():
    with pytest.raises(ValueError, match="s"):
        D.avg_pool(np.zeros((6, 6)), 4)
    with pytest.raises(ValueError, match="x"):
        D.avg_pool(np.zeros(6), 2)
    with pytest.raises(ValueError, match="s"):
        D.nearest_upsample(np.zeros((2, 2)), 0)
    with pytest.raises(ValueError, match="eps_hat"):
        D.multiscale_loss(np.zeros((4, 4)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="weights"):
        D.multiscale_loss(np.zeros((4, 4)), np.zeros((4, 4)), scales=(1, 2), weights=[1.0])
    with pytest.raises(ValueError, match="s"):
        D.ug_rho(0.5, 0.5, 0.0)
    with pytest.raises(ValueError, match="alpha_bar"):
        D.ug_rho(-0.5, 0.5, 2.0)
    with pytest.raises(ValueError, match="eta"):
        D.ug_weight(0.5, 0.2, 1.5)
    with pytest.raises(ValueError, match="t"):
        D.ug_weight(2.0, 0.2, 0.5)


def test_committed_ug_digit_sweep_reproduces_its_first_samples():
    # the committed run of ug_digit_sweep: re-run the first 8 paired noises at the first and the
    # third weight and compare the classifier's top probabilities sample by sample
    run = D.load_ug_digit_sweep()
    assert run["n"] >= 256 and run["ws"][0] == 0.0 and len(run["fd_diff_ci"]) == len(run["ws"]) - 1
    x_T = np.random.default_rng(run["seed"]).standard_normal((8, 16, 16))
    _, clf = D.digit_features()
    for j in (0, 2):
        y = np.clip(D.avg_pool(D.ug_digit_samples(x_T, run["ws"][j], run["steps"]), 2), -1, 1)
        top = clf.predict_proba(y.reshape(8, 64)).max(1)
        assert np.allclose(top, run["head_top_prob"][j], atol=1e-4)
    for lo, hi in run["fd_diff_ci"] + run["top_prob_diff_ci"]:
        assert lo <= hi


def test_ug_digit_sweep_runs_small_and_is_paired():
    r = D.ug_digit_sweep(n=8, ws=(0.0, 0.0), steps=2, n_boot=10)
    assert r["fd"][0] == r["fd"][1] and r["fd_diff_ci"] == [[0.0, 0.0]]
    assert len(r["head_top_prob"][0]) == 8


def test_ug_digit_bad_input():
    with pytest.raises(ValueError, match="x_T"):
        D.ug_digit_samples(np.zeros((2, 8, 8)), 0.0)
    with pytest.raises(ValueError, match="steps"):
        D.ug_digit_samples(np.zeros((2, 16, 16)), 0.0, steps=0)
    with pytest.raises(ValueError, match="ws"):
        D.ug_digit_sweep(n=8, ws=(0.0,))
    with pytest.raises(ValueError, match="n"):
        D.ug_digit_sweep(n=2)


def test_upsample_helpers_check_their_inputs():
    eps = D.gp_lowres_model(D.gp_spectrum(4))
    x = np.zeros((2, 8, 8))
    for bad in ("bad", None):
        with pytest.raises(ValueError, match="eps_model"):
            D.upsample_guidance_eps(bad, x, 0.5, 2, 0.5)
    for bad in (np.full_like(x, np.nan), "bad", None):
        with pytest.raises(ValueError, match="x_t"):
            D.upsample_guidance_eps(eps, bad, 0.5, 2, 0.5)
        with pytest.raises(ValueError, match="x_T"):
            D.gp_ug_samples(D.gp_spectrum(8), 2, 0.5, bad, np.array([0.9, 0.5]))
    for bad in ((3,), (0,), 2, None, "bad"):
        with pytest.raises(ValueError, match="scales"):
            D.multiscale_loss(x, x, scales=bad)
