"""Tests of kexue.unet: the digit U-Net, skip tuning, EDM preconditioning, metrics, training script."""
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from kexue import diffusion as kd
from kexue import unet as U

torch.set_num_threads(1)
FAST = settings(max_examples=30, deadline=None)


@pytest.fixture(scope="module")
def den():
    torch.manual_seed(0)
    return U.EDMDenoiser(U.TinyUNet(channels=4, levels=2, emb_dim=8)).eval()


def test_digits_tensor_range_and_shape():
    x = U.load_digits_tensor()
    assert x.shape == (1797, 1, 8, 8) and x.min() == -1 and x.max() == 1


def test_skip_scale_schedule_is_linear_from_top_to_bottom():
    assert U.skip_scale_schedule(3, 0.7) == pytest.approx([1.0, 0.85, 0.7])
    assert U.skip_scale_schedule(4, 0.8, 0.8) == pytest.approx([0.8] * 4)
    assert U.skip_scale_schedule(1, 0.5) == [0.5]


@FAST
@given(st.integers(2, 12), st.floats(0, 2), st.floats(0, 2))
def test_skip_scale_schedule_endpoints_and_monotone(n, bottom, top):
    r = U.skip_scale_schedule(n, bottom, top)
    assert r[0] == pytest.approx(top) and r[-1] == pytest.approx(bottom)
    d = np.diff(r)
    assert (d <= 1e-12).all() or (d >= -1e-12).all()


def test_scale_one_is_the_identity(den):
    x = torch.randn(5, 1, 8, 8)
    plain = den(x, 0.7)
    with U.skip_tuning(den, 1.0):
        assert torch.equal(den(x, 0.7), plain)
    with U.skip_tuning(den, 0.5):
        assert not torch.equal(den(x, 0.7), plain)
    assert den.net.skip_scales == [1.0, 1.0]


def test_skip_tuning_restores_scales_after_an_error(den):
    with pytest.raises(RuntimeError):
        with U.skip_tuning(den, 0.3):
            raise RuntimeError("boom")
    assert den.net.skip_scales == [1.0, 1.0]


def test_folding_the_scales_into_the_weights_is_exact():
    torch.manual_seed(1)
    d = U.EDMDenoiser(U.TinyUNet(channels=4, levels=3, emb_dim=8)).double().eval()
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    d.net.skip_scales = [0.9, 0.6, 1.3]
    scaled = d(x, 0.4)
    U.fold_skip_scales(d)
    assert d.net.skip_scales == [1.0, 1.0, 1.0]
    assert torch.allclose(d(x, 0.4), scaled, atol=1e-12)


def test_edm_denoiser_gradcheck_in_float64():
    torch.manual_seed(2)
    d = U.EDMDenoiser(U.TinyUNet(channels=2, levels=1, emb_dim=4)).double()
    x = torch.randn(2, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    sigma = torch.tensor([0.3, 2.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: d(a, b), (x, sigma))


def test_edm_preconditioning_limits(den):
    """sigma -> 0: D(x) -> x (c_skip -> 1, c_out -> 0); large sigma: D(x) ~ c_out F, bounded."""
    x = torch.randn(3, 1, 8, 8)
    assert torch.allclose(den(x, 1e-6), x, atol=1e-4)
    big = den(1e4 * x, 1e4)
    assert torch.isfinite(big).all() and big.abs().max() < 10


def test_samplers_of_the_diffusion_module_run_on_the_net(den):
    x = 80 * torch.randn(6, 1, 8, 8)
    out, calls = kd.sample_heun(den, x, kd.karras_sigmas(4))
    assert out.shape == x.shape and calls == 6 and torch.isfinite(out).all()


def test_frechet_distance_diagonal_closed_form():
    rng = np.random.default_rng(0)
    m1, m2 = rng.standard_normal(5), rng.standard_normal(5)
    c1, c2 = rng.uniform(0.5, 2, 5), rng.uniform(0.5, 2, 5)
    # samples with exactly these means and (diagonal) covariances: whiten a large sample
    z = rng.standard_normal((20000, 5))
    z = (z - z.mean(0)) / z.std(0, ddof=1)
    w = rng.standard_normal((20000, 5))
    w = (w - w.mean(0)) / w.std(0, ddof=1)
    A, B = m1 + z * np.sqrt(c1), m2 + w * np.sqrt(c2)
    ca, cb = np.cov(A, rowvar=False), np.cov(B, rowvar=False)
    closed = ((m1 - m2) ** 2).sum() + ((np.sqrt(np.diag(ca)) - np.sqrt(np.diag(cb))) ** 2).sum()
    # off-diagonal sample covariances are O(1/sqrt(n)): the closed form holds to that order
    assert abs(U.frechet_distance(A, B) - closed) < 0.02
    assert U.frechet_distance(A, A) == pytest.approx(0, abs=1e-6)


def test_frechet_distance_matches_pytorch_fid_optional():
    fid = pytest.importorskip("pytorch_fid.fid_score")   # imports torchvision: optional
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((200, 4)), rng.standard_normal((300, 4)) + 0.3
    ref = fid.calculate_frechet_distance(A.mean(0), np.cov(A, rowvar=False), B.mean(0), np.cov(B, rowvar=False))
    assert U.frechet_distance(A, B) == pytest.approx(ref, rel=1e-6)


def test_total_variation_of_a_checkerboard():
    board = np.indices((8, 8)).sum(0) % 2 * 2.0 - 1.0
    assert U.total_variation(board) == pytest.approx(2.0)
    assert U.total_variation(np.ones((8, 8))) == 0.0


def test_digit_features_separate_the_classes():
    feats, clf = U.digit_features()
    x = U.load_digits_tensor()
    f = feats(x)
    assert f.shape == (1797, 64) and (f >= 0).all()
    assert clf.score(x.reshape(-1, 64).numpy(), __import__("sklearn.datasets", fromlist=["x"]).load_digits().target) > 0.95


def test_committed_weights_load_and_are_small():
    assert U.WEIGHTS.stat().st_size < 500_000
    d, meta = U.load_pretrained()
    assert meta["parameters"] == sum(p.numel() for p in d.parameters())
    # the trained denoiser beats the trivial one (D = c_skip x) at sigma = 0.5
    x0 = U.load_digits_tensor()[:500]
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    sig = torch.full((500,), 0.5)
    with torch.no_grad():
        trained = U.edm_loss(d, x0, sig, noise, weighted=False)
    trivial = (((0.25 / (0.25 + 0.25)) * (x0 + 0.5 * noise) - x0) ** 2).mean()
    assert trained < 0.5 * trivial


def test_unet_bad_input(den):
    with pytest.raises(ValueError, match="channels"):
        U.TinyUNet(channels=0)
    with pytest.raises(ValueError, match="levels"):
        U.TinyUNet(levels=4)
    with pytest.raises(ValueError, match="emb_dim"):
        U.TinyUNet(emb_dim=7)
    with pytest.raises(ValueError, match="x"):
        den.net(torch.zeros(2, 1, 6, 6), torch.zeros(2))
    with pytest.raises(ValueError, match="sigma"):
        den(torch.zeros(2, 1, 8, 8), 0.0)
    with pytest.raises(ValueError, match="sigma_data"):
        U.EDMDenoiser(U.TinyUNet(4), sigma_data=-1)
    with pytest.raises(ValueError, match="n_skips"):
        U.skip_scale_schedule(0, 0.5)
    with pytest.raises(ValueError, match="rho_bottom"):
        U.skip_scale_schedule(2, -0.1)
    with pytest.raises(ValueError, match="model"):
        U.fold_skip_scales(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="steps"):
        U.train_digits_unet(0)
    with pytest.raises(ValueError, match="B"):
        U.frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="x"):
        U.total_variation(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="x"):
        U.digit_features()[0](np.zeros((2, 4, 4)))


def test_skip_sweep_tables_and_explorer(den):
    sw = U.skip_sweep(den, [0.5, 1.0], samplers=["euler3"], n=40)
    assert set(sw["fd"]) == {("euler3", 0.5), ("euler3", 1.0)}
    assert all(v >= 0 for v in sw["fd"].values()) and sw["real"]["fd_floor"] > 0
    js = U.sweep_to_json(sw, 40)
    assert len(js["rows"]) == 2 and js["n"] == 40
    sw["n"] = 40
    ex = U.skip_tuning_explorer(den, sw)
    fr = ex.update(sampler="euler3", rho=0.5)
    assert f"FD {sw['fd'][('euler3', 0.5)]:.2f}" in fr["text"]
    z = np.array(fr["panels"][0]["heatmap"]["z"])
    assert z.shape == (35, 35) and np.abs(z).max() <= 1


def test_committed_sweep_loads():
    sw = U.load_sweep()
    assert len(sw["fd"]) == len(U.SAMPLERS) * len(U.SWEEP_RHOS)
    assert sw["real"]["fd_floor"] < min(sw["fd"].values())


def test_sample_digits_bad_input(den):
    with pytest.raises(ValueError, match="sampler"):
        U.sample_digits(den, torch.zeros(2, 1, 8, 8), "rk4")
    with pytest.raises(ValueError, match="n"):
        U.skip_sweep(den, [1.0], n=1)
    with pytest.raises(ValueError, match="schedule_steps"):
        U.train_digits_unet(10, schedule_steps=5)


def test_remaining_unet_bad_input(den):
    with pytest.raises(ValueError, match="rho_bottom"):
        with U.skip_tuning(den, -1.0):
            pass
    assert den.net.skip_scales == [1.0, 1.0]
    with pytest.raises(ValueError, match="sigma"):
        den(torch.zeros(2, 1, 8, 8), -1.0)
    with pytest.raises(ValueError, match="model"):
        with U.skip_tuning(torch.nn.Linear(2, 2), 0.5):
            pass


def test_edm_loss_weighting():
    """The EDM weight makes the loss of the trivial denoiser D = c_skip x equal to 1 in expectation."""
    class Zero(torch.nn.Module):
        def forward(self, x, c):
            return torch.zeros_like(x)
    d = U.EDMDenoiser(U.TinyUNet(2, 1, 4))
    d.net = Zero()
    g = torch.Generator().manual_seed(0)
    x0 = 0.5 * torch.randn(20000, 1, 2, 2, generator=g)          # data with std sigma_data
    for s in [0.1, 1.0, 10.0]:
        loss = U.edm_loss(d, x0, torch.full((20000,), s), torch.randn(x0.shape, generator=g))
        assert float(loss) == pytest.approx(1.0, rel=0.03)


def test_vp_eps_model_inverts_the_forward_process(den):
    """eps(x_t) recovers eps exactly when D is exact; here check the algebra with a point-mass D."""
    class Zero(torch.nn.Module):
        def forward(self, x, c):
            return torch.zeros_like(x)
    d = U.EDMDenoiser(U.TinyUNet(2, 1, 4), sigma_data=1e-6)      # D(x) ~ 0: data is a point mass at 0
    d.net = Zero()
    eps = np.random.default_rng(0).standard_normal((3, 8, 8))
    t = 0.4
    x_t = np.sin(np.pi * t / 2) * eps                              # x0 = 0
    assert np.allclose(U.vp_eps_model(d)(x_t, t), eps, atol=1e-5)
    assert U.vp_eps_model(den)(np.zeros((2, 16, 16)), 0.5).shape == (2, 16, 16)
    with pytest.raises(ValueError, match="den"):
        U.vp_eps_model(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="t"):
        U.vp_eps_model(den)(np.zeros((2, 8, 8)), 1.0)
