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


def test_affine_nonlinearity_is_zero_for_affine_maps_and_invariant():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((300, 5))
    assert D.affine_nonlinearity(z, z @ rng.standard_normal((5, 2)) - 3.0) < 1e-20
    y = np.tanh(2 * z[:, :2]) + z[:, 2:4] ** 2
    share = D.affine_nonlinearity(z, y)
    assert 0.3 < share < 1
    # an invertible affine change of the inputs does not change the best affine fit
    M = rng.standard_normal((5, 5)) + 3 * np.eye(5)
    assert D.affine_nonlinearity(z @ M + 1.0, y) == pytest.approx(share, rel=1e-9)
    # against a direct computation with sklearn's LinearRegression
    from sklearn.linear_model import LinearRegression
    resid = y - LinearRegression().fit(z, y).predict(z)
    assert share == pytest.approx((resid ** 2).sum() / ((y - y.mean(0)) ** 2).sum(), rel=1e-9)


def test_affine_nonlinearity_bad_input():
    with pytest.raises(ValueError, match="inputs"):
        D.affine_nonlinearity(np.zeros((5, 4)), np.zeros((5, 1)))          # too few rows
    with pytest.raises(ValueError, match="inputs"):
        D.affine_nonlinearity(np.zeros((5, 1)), np.zeros((6, 1)))
    with pytest.raises(ValueError, match="outputs"):
        D.affine_nonlinearity(np.random.default_rng(0).standard_normal((20, 2)), np.ones((20, 1)))


def test_laplacian_energy_of_linear_and_checkerboard_images():
    i, j = np.mgrid[:6, :6]
    assert D.laplacian_energy(2.0 * i - j + 1.0) == 0                     # an affine image has no curvature
    board = (-1.0) ** (i + j)
    assert D.laplacian_energy(board) == pytest.approx(64.0)                # |L| = 8 at every interior pixel
    assert D.laplacian_energy(torch.from_numpy(board)[None]) == pytest.approx(64.0)
    with pytest.raises(ValueError, match="x"):
        D.laplacian_energy(np.zeros((2, 2)))


def test_paired_interval_against_scipy():
    from scipy import stats
    d = np.array([0.3, -0.1, 0.5, 0.2])
    m, lo, hi = D.paired_interval(d, 0.9)
    ref = stats.t.interval(0.9, 3, loc=d.mean(), scale=stats.sem(d))
    assert m == pytest.approx(d.mean()) and (lo, hi) == pytest.approx(ref)
    with pytest.raises(ValueError, match="diffs"):
        D.paired_interval([1.0])
    with pytest.raises(ValueError, match="level"):
        D.paired_interval([1.0, 2.0], level=1.0)


def test_near_best_uses_paired_differences():
    # a seed offset shared by every rho: the raw spread is large, the paired differences are not
    fd = {("s", 1.0): [10.0, 20.0, 30.0], ("s", 2.0): [9.0, 19.1, 28.9], ("s", 3.0): [9.5, 18.5, 29.4],
          ("s", 4.0): [12.0, 22.0, 32.0]}
    best, near = D.near_best(fd, "s", [1.0, 2.0, 3.0, 4.0])
    assert best == 2.0 and 3.0 in near and 1.0 not in near and 4.0 not in near
    with pytest.raises(ValueError, match="rhos"):
        D.near_best(fd, "s", [])


def test_folding_refuses_a_groupnorm_unet():
    d = D.EDMDenoiser(D.TinyUNet(channels=8, levels=2, emb_dim=8, norm=True))
    with pytest.raises(ValueError, match="GroupNorm"):
        D.fold_skip_scales(d)


def test_sweep_records_tv_per_seed_and_the_committed_sweeps_have_it(den):
    sw = D.skip_sweep(den, [1.0], samplers=["euler3"], n=20, seeds=[0, 1])
    one = D.skip_sweep(den, [1.0], samplers=["euler3"], n=20, seed=1)
    assert sw["tv_seeds"][("euler3", 1.0)][1] == one["tv"][("euler3", 1.0)]
    assert all(len(r["tv_seeds"]) == 2 for r in D.sweep_to_json(sw, 20)["rows"])
    for norm in (False, True):
        c = D.load_sweep(norm=norm)
        grid = D.SWEEP_RHOS_GN if norm else D.SWEEP_RHOS
        assert set(c["fd"]) == {(sm, r) for sm in D.SAMPLERS for r in grid}
        assert all(len(v) == 3 for v in c["tv_seeds"].values())
    fd, tv = D.load_top_sweep(with_tv=True)
    assert set(fd) == set(tv) == {(sm, r) for sm in D.SAMPLERS for r in D.TOP_RHOS}
    with pytest.raises(ValueError, match="norm"):
        D.load_sweep(norm="yes")


@pytest.mark.parametrize("norm", [False, True])
def test_committed_sweep_retraces_one_slice(norm):
    """Re-run one (sampler, rho, seed) of `train_unet --sweep-only` on the committed float32 weights."""
    den, _ = D.load_pretrained("float32", norm=norm)
    c = D.load_sweep(norm=norm)
    got = D.skip_sweep(den, [2.0], samplers=["euler3"], n=c["n"], seed=1)
    assert got["fd"][("euler3", 2.0)] == pytest.approx(c["fd_seeds"][("euler3", 2.0)][1], rel=2e-3)
    assert got["tv"][("euler3", 2.0)] == pytest.approx(c["tv_seeds"][("euler3", 2.0)][1], abs=2e-4)


def test_settings_sweep_matches_the_other_sweeps_and_eta_zero_is_euler(den):
    st = D.settings_sweep(den, [("euler3", 0.5, 1.0, 1.0), ("euler3", 1.0, 0.8, 1.0)], n=20, seeds=[0])
    plain = D.skip_sweep(den, [0.5], samplers=["euler3"], n=20, seed=0)
    top = D.top_skip_sweep(den, [0.8], samplers=["euler3"], n=20, seeds=[0])
    assert st["fd_seeds"][("euler3", 0.5, 1.0, 1.0)][0] == pytest.approx(plain["fd"][("euler3", 0.5)], abs=1e-9)
    assert st["fd_seeds"][("euler3", 1.0, 0.8, 1.0)][0] == pytest.approx(top["fd_seeds"][("euler3", 0.8)][0], abs=1e-9)
    x = 80 * torch.randn((4, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(D.sample_digits(den, x, "ancestral5", eta=0.0), D.sample_digits(den, x, "euler5"))
    with pytest.raises(ValueError, match="settings"):
        D.settings_sweep(den, [("euler3", 1.0)], n=20, seeds=[0])
    with pytest.raises(ValueError, match="eta"):
        D.sample_digits(den, x, "ancestral5", eta=-1.0)


def test_committed_settings_sweep_agrees_with_the_committed_sweeps():
    """The settings sweep was run separately; where its settings coincide with the other sweeps
    (same seeds and noise), the numbers agree."""
    fd, tv = D.load_settings_sweep()
    assert set(fd) == set(tv) == set(D.EXTRA_SETTINGS)
    sw, top = D.load_sweep(), D.load_top_sweep()
    assert fd[("euler5", 2.0, 1.0, 1.0)] == pytest.approx(sw["fd_seeds"][("euler5", 2.0)], rel=1e-3)
    assert fd[("euler5", 1.0, 0.8, 1.0)] == pytest.approx(top[("euler5", 0.8)], rel=1e-3)
    assert fd[("ancestral5", 2.5, 1.0, 1.0)] == pytest.approx(sw["fd_seeds"][("ancestral5", 2.5)], rel=1e-3)
    assert fd[("ancestral5", 1.0, 1.0, 0.0)] == pytest.approx(sw["fd_seeds"][("euler5", 1.0)], rel=1e-3)   # eta = 0 is Euler


def test_skip_functions_check_their_arguments_at_the_call(den):
    """skip_tuning checked nothing until the with block; sample_digits blamed itself for a NaN
    x_T ("this is a bug"); skip_sweep and sweep_to_json took anything."""
    x_T = torch.zeros(2, 1, 8, 8, dtype=next(den.parameters()).dtype)
    for bad in (np.nan, -1.0, "a"):
        with pytest.raises(ValueError, match="rho_bottom"):
            D.skip_tuning(den, bad)                      # no `with` needed
    with pytest.raises(ValueError, match="model"):
        D.skip_tuning("bad", 1.0)
    for bad in (x_T.clone().fill_(float("inf")), x_T[0], "bad"):
        with pytest.raises(ValueError, match="x_T"):
            D.sample_digits(den, bad, "euler3")
    with pytest.raises(ValueError, match="den"):
        D.sample_digits("bad", x_T, "euler3")
    with pytest.raises(ValueError, match="noise_seed"):
        D.sample_digits(den, x_T, "ancestral5", noise_seed=-1)
    for kw, name in ((dict(rhos=1.0), "rhos"), (dict(rhos=[]), "rhos"), (dict(samplers=[]), "samplers"),
                     (dict(samplers=["bad"]), "samplers"), (dict(seed=-1), "seed")):
        with pytest.raises(ValueError, match=name):
            D.skip_sweep(den, **{"rhos": [1.0], "samplers": ("euler3",), "n": 4, **kw})
    with pytest.raises(ValueError, match="sweep"):
        D.sweep_to_json("bad", 4)
    with pytest.raises(ValueError, match="n"):
        D.sweep_to_json({"fd": {}, "tv": {}, "std": {}, "real": {}}, 0)
