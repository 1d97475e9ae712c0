"""Tests of kexue.diffusion.skip: skip-scale schedule, skip tuning as a weight edit, the sweep."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from kexue import diffusion as D

torch.set_num_threads(1)
FAST = settings(max_examples=30, deadline=None)


def test_skip_scale_schedule_is_linear_from_top_to_bottom():
    assert D.skip_scale_schedule(3, 0.7) == pytest.approx([1.0, 0.85, 0.7])
    assert D.skip_scale_schedule(4, 0.8, 0.8) == pytest.approx([0.8] * 4)
    assert D.skip_scale_schedule(1, 0.5) == [0.5]


@FAST
@given(st.integers(2, 12), st.floats(0, 2), st.floats(0, 2))
def test_skip_scale_schedule_endpoints_and_monotone(n, bottom, top):
    r = D.skip_scale_schedule(n, bottom, top)
    assert r[0] == pytest.approx(top) and r[-1] == pytest.approx(bottom)
    d = np.diff(r)
    assert (d <= 1e-12).all() or (d >= -1e-12).all()


def test_scale_one_is_the_identity(den):
    x = torch.randn(5, 1, 8, 8)
    plain = den(x, 0.7)
    with D.skip_tuning(den, 1.0):
        assert torch.equal(den(x, 0.7), plain)
    with D.skip_tuning(den, 0.5):
        assert not torch.equal(den(x, 0.7), plain)
    assert den.net.skip_scales == [1.0, 1.0]


def test_skip_tuning_restores_scales_after_an_error(den):
    with pytest.raises(RuntimeError):
        with D.skip_tuning(den, 0.3):
            raise RuntimeError("boom")
    assert den.net.skip_scales == [1.0, 1.0]


def test_folding_the_scales_into_the_weights_is_exact():
    torch.manual_seed(1)
    d = D.EDMDenoiser(D.TinyUNet(channels=4, levels=3, emb_dim=8)).double().eval()
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    d.net.skip_scales = [0.9, 0.6, 1.3]
    scaled = d(x, 0.4)
    D.fold_skip_scales(d)
    assert d.net.skip_scales == [1.0, 1.0, 1.0]
    assert torch.allclose(d(x, 0.4), scaled, atol=1e-12)


def test_skip_sweep_tables_and_explorer(den):
    sw = D.skip_sweep(den, [0.5, 1.0], samplers=["euler3"], n=40)
    assert set(sw["fd"]) == {("euler3", 0.5), ("euler3", 1.0)}
    assert all(v >= 0 for v in sw["fd"].values()) and sw["real"]["fd_floor"] > 0
    js = D.sweep_to_json(sw, 40)
    assert len(js["rows"]) == 2 and js["n"] == 40
    assert D.load_sweep.__doc__ and set(js["real"]) == {"fd_floor", "tv", "std"}


def test_committed_sweep_loads():
    sw = D.load_sweep()
    assert len(sw["fd"]) == len(D.SAMPLERS) * len(D.SWEEP_RHOS)
    assert sw["real"]["fd_floor"] < min(sw["fd"].values())


def test_sample_digits_bad_input(den):
    with pytest.raises(ValueError, match="sampler"):
        D.sample_digits(den, torch.zeros(2, 1, 8, 8), "rk4")
    with pytest.raises(ValueError, match="n"):
        D.skip_sweep(den, [1.0], n=1)
    with pytest.raises(ValueError, match="schedule_steps"):
        D.train_digits_unet(10, schedule_steps=5)


def test_remaining_unet_bad_input(den):
    with pytest.raises(ValueError, match="rho_bottom"):
        with D.skip_tuning(den, -1.0):
            pass
    assert den.net.skip_scales == [1.0, 1.0]
    with pytest.raises(ValueError, match="sigma"):
        den(torch.zeros(2, 1, 8, 8), -1.0)
    with pytest.raises(ValueError, match="model"):
        with D.skip_tuning(torch.nn.Linear(2, 2), 0.5):
            pass


def test_skip_sweep_over_seeds_averages_the_single_seed_runs(den):
    both = D.skip_sweep(den, [1.0], samplers=["euler3", "ancestral5"], n=20, seeds=[0, 1])
    one = [D.skip_sweep(den, [1.0], samplers=["euler3", "ancestral5"], n=20, seed=k) for k in (0, 1)]
    for key in both["fd"]:
        assert both["fd_seeds"][key] == [one[0]["fd"][key], one[1]["fd"][key]]
        assert abs(both["fd"][key] - (one[0]["fd"][key] + one[1]["fd"][key]) / 2) < 1e-12
    js = D.sweep_to_json(both, 20)
    assert all(len(r["fd_seeds"]) == 2 for r in js["rows"])
    with pytest.raises(ValueError, match="seeds"):
        D.skip_sweep(den, [1.0], n=20, seeds=[])


def test_ancestral_samples_depend_on_the_noise_seed_only_through_it(den):
    x = 80 * torch.randn((4, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    a = D.sample_digits(den, x, "ancestral5", noise_seed=3)
    b = D.sample_digits(den, x, "ancestral5", noise_seed=3)
    c = D.sample_digits(den, x, "ancestral5", noise_seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert set(D.ODE_SAMPLERS) | set(D.SDE_SAMPLERS) == set(D.SAMPLERS)


def test_top_skip_sweep_and_committed_top_sweep(den):
    top = D.top_skip_sweep(den, [0.8, 1.0], samplers=["euler3"], n=20, seeds=[0])
    with D.skip_tuning(den, 1.0, rho_top=1.0):
        pass
    plain = D.skip_sweep(den, [1.0], samplers=["euler3"], n=20, seed=0)["fd"][("euler3", 1.0)]
    assert abs(top["fd_seeds"][("euler3", 1.0)][0] - plain) < 1e-9       # rho_top = 1 is the plain run
    committed = D.load_top_sweep()
    assert {r for _, r in committed} == set(D.TOP_RHOS) and all(len(v) == 3 for v in committed.values())
    with pytest.raises(ValueError, match="seeds"):
        D.top_skip_sweep(den, [1.0], seeds=[])
