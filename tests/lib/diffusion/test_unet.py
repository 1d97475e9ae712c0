"""Tests of kexue.diffusion.unet: the digit U-Net, EDM preconditioning and loss, float64 loading, the VP eps-model."""
import numpy as np
import pytest
import torch
from hypothesis import settings

from kexue import diffusion as D
import kexue.datasets

torch.set_num_threads(1)
FAST = settings(max_examples=30, deadline=None)


def test_signed_digit_images_span_minus_one_to_one():
    x = torch.from_numpy(kexue.datasets.digits("signed", as_images=True, dtype="float32")[0])[:, None]
    assert x.shape == (1797, 1, 8, 8) and x.min() == -1 and x.max() == 1


def test_edm_denoiser_gradcheck_in_float64():
    torch.manual_seed(2)
    d = D.EDMDenoiser(D.TinyUNet(channels=2, levels=1, emb_dim=4)).double()
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
    out, calls = D.sample_heun(den, x, D.karras_sigmas(4))
    assert out.shape == x.shape and calls == 6 and torch.isfinite(out).all()


def test_committed_weights_load_and_are_small():
    assert D.WEIGHTS.stat().st_size < 500_000
    d, meta = D.load_pretrained()
    assert meta["parameters"] == sum(p.numel() for p in d.parameters())
    assert all(p.dtype == torch.float64 for p in d.parameters())          # float64 by default
    # the trained denoiser beats the trivial one (D = c_skip x) at sigma = 0.5
    x0 = torch.from_numpy(kexue.datasets.digits("signed", as_images=True)[0])[:, None][:500]
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0)).double()
    sig = torch.full((500,), 0.5, dtype=torch.float64)
    with torch.no_grad():
        trained = D.edm_loss(d, x0, sig, noise, weighted=False)
    trivial = (((0.25 / (0.25 + 0.25)) * (x0 + 0.5 * noise) - x0) ** 2).mean()
    assert trained < 0.5 * trivial


def test_unet_bad_input(den):
    with pytest.raises(ValueError, match="channels"):
        D.TinyUNet(channels=0)
    with pytest.raises(ValueError, match="levels"):
        D.TinyUNet(levels=4)
    with pytest.raises(ValueError, match="emb_dim"):
        D.TinyUNet(emb_dim=7)
    with pytest.raises(ValueError, match="x"):
        den.net(torch.zeros(2, 1, 6, 6), torch.zeros(2))
    with pytest.raises(ValueError, match="sigma"):
        den(torch.zeros(2, 1, 8, 8), 0.0)
    with pytest.raises(ValueError, match="sigma_data"):
        D.EDMDenoiser(D.TinyUNet(4), sigma_data=-1)
    with pytest.raises(ValueError, match="n_skips"):
        D.skip_scale_schedule(0, 0.5)
    with pytest.raises(ValueError, match="rho_bottom"):
        D.skip_scale_schedule(2, -0.1)
    with pytest.raises(ValueError, match="model"):
        D.fold_skip_scales(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="steps"):
        D.train_digits_unet(0)
    with pytest.raises(ValueError, match="B"):
        D.frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="x"):
        D.total_variation(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="x"):
        D.digit_features()[0](np.zeros((2, 4, 4)))


def test_edm_loss_weighting():
    """The EDM weight makes the loss of the trivial denoiser D = c_skip x equal to 1 in expectation."""
    class Zero(torch.nn.Module):
        def forward(self, x, c):
            return torch.zeros_like(x)
    d = D.EDMDenoiser(D.TinyUNet(2, 1, 4))
    d.net = Zero()
    g = torch.Generator().manual_seed(0)
    x0 = 0.5 * torch.randn(20000, 1, 2, 2, generator=g)          # data with std sigma_data
    for s in [0.1, 1.0, 10.0]:
        loss = D.edm_loss(d, x0, torch.full((20000,), s), torch.randn(x0.shape, generator=g))
        assert float(loss) == pytest.approx(1.0, rel=0.03)


def test_vp_eps_model_inverts_the_forward_process(den):
    """eps(x_t) recovers eps exactly when D is exact; here check the algebra with a point-mass D."""
    class Zero(torch.nn.Module):
        def forward(self, x, c):
            return torch.zeros_like(x)
    d = D.EDMDenoiser(D.TinyUNet(2, 1, 4), sigma_data=1e-6)      # D(x) ~ 0: data is a point mass at 0
    d.net = Zero()
    eps = np.random.default_rng(0).standard_normal((3, 8, 8))
    t = 0.4
    x_t = np.sin(np.pi * t / 2) * eps                              # x0 = 0
    assert np.allclose(D.vp_eps_model(d)(x_t, t), eps, atol=1e-5)
    assert D.vp_eps_model(den)(np.zeros((2, 16, 16)), 0.5).shape == (2, 16, 16)
    with pytest.raises(ValueError, match="den"):
        D.vp_eps_model(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="t"):
        D.vp_eps_model(den)(np.zeros((2, 8, 8)), 1.0)


def test_float64_network_is_the_float32_one_up_to_float32_rounding():
    """load_pretrained() converts the stored float32 weights exactly; the two precisions agree
    to float32 rounding, and the float64 outputs do not depend on the batch they come in."""
    d64, _ = D.load_pretrained()
    d32, _ = D.load_pretrained("float32")
    x = torch.randn(16, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    for s in [0.05, 1.0, 20.0]:
        y64, y32 = d64(x.double(), s), d32(x, s)
        assert y64.dtype == torch.float64 and y32.dtype == torch.float32
        assert torch.allclose(y64, y32.double(), atol=1e-4)
        assert torch.allclose(d64(x.double()[:3], s), y64[:3], atol=1e-12)
    with pytest.raises(ValueError, match="dtype"):
        D.load_pretrained("float16")


def test_groupnorm_decoder_removes_the_bottom_skip_scale_except_through_the_residual_path():
    """The bottom decoder block's groups hold only upsampled or only skip channels (32 + 32, 8
    groups), so with its 1x1 residual path zeroed (and GroupNorm's eps set to 0) a skip scale
    rho > 0 changes nothing; with the residual path it does change the output."""
    torch.manual_seed(0)
    d = D.EDMDenoiser(D.TinyUNet(channels=16, levels=2, emb_dim=8, norm=True)).double().eval()
    x = torch.randn(3, 1, 8, 8, dtype=torch.float64)
    base = d(x, 0.7)
    with D.skip_tuning(d, 2.0):
        assert (d(x, 0.7) - base).abs().max() > 1e-6
    with torch.no_grad():
        d.net.dec[1].res.weight.zero_()
    d.net.dec[1].norm1.eps = 0.0                  # GroupNorm's eps is the only other place rho enters
    base = d(x, 0.7)
    with D.skip_tuning(d, 2.0):
        assert torch.allclose(d(x, 0.7), base, atol=1e-10)
    with pytest.raises(ValueError, match="channels"):
        D.TinyUNet(channels=12, norm=True)


def test_groupnorm_variant_loads_and_beats_the_trivial_denoiser():
    d, meta = D.load_pretrained(norm=True)
    assert D.WEIGHTS_GN.stat().st_size < 500_000 and d.net.norm and meta["norm"]
    assert meta["parameters"] == sum(p.numel() for p in d.parameters())
    x0 = torch.from_numpy(kexue.datasets.digits("signed", as_images=True)[0])[:, None][:300]
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0)).double()
    sig = torch.full((300,), 0.5, dtype=torch.float64)
    with torch.no_grad():
        trained = D.edm_loss(d, x0, sig, noise, weighted=False)
    assert trained < 0.5 * (((0.5 * (x0 + 0.5 * noise)) - x0) ** 2).mean()
    with pytest.raises(ValueError, match="norm"):
        D.load_pretrained(norm="groupnorm")


def test_edm_loss_and_denoiser_check_their_inputs(den):
    """edm_loss returned NaN for a NaN x0 or sigma and TypeError for a string model."""
    x0 = torch.zeros(2, 1, 8, 8, dtype=next(den.parameters()).dtype)
    sigma = torch.tensor([0.5, 1.0], dtype=x0.dtype)
    for bad in ("bad", None):
        with pytest.raises(ValueError, match="den"):
            D.edm_loss(bad, x0, sigma)
        with pytest.raises(ValueError, match="net"):
            D.EDMDenoiser(bad)
    for bad in (x0.clone().fill_(float("nan")), x0[0], x0[:, :, :, :0], "bad"):
        with pytest.raises(ValueError, match="x0"):
            D.edm_loss(den, bad, sigma)
    for bad in (torch.tensor([0.5, float("inf")], dtype=x0.dtype), sigma[:1], -sigma, sigma[None]):
        with pytest.raises(ValueError, match="sigma"):
            D.edm_loss(den, x0, bad)
