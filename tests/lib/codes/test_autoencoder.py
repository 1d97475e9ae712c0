"""Tests of kexue.codes.autoencoder: the digits autoencoder, its trainer and the gradient-ratio
probe (chapters codes/fsq and codes/vq-rotation-trick)."""
import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from kexue import codes as C

torch.set_num_threads(1)


def test_digits_tensor_is_the_bundled_digits_in_unit_scale():
    x = C.digits_tensor()
    assert x.shape == (1797, 64) and x.dtype == torch.float32
    ref = load_digits().data / 16.0                       # sklearn directly, not kexue.datasets
    assert np.array_equal(x.numpy(), ref.astype(np.float32))


def test_training_is_deterministic_and_finite():
    a = C.train_digits_autoencoder("vq", init="small", steps=12, seed=3, record_every=4)
    b = C.train_digits_autoencoder("vq", init="small", steps=12, seed=3, record_every=4)
    assert a["history"] == b["history"] and a["history"]["step"] == [0, 4, 8, 12]
    assert all(math.isfinite(v) for v in a["history"]["mse"])


def test_autoencoder_forward_shapes_for_fsq_and_vq():
    x = C.digits_tensor()[:5]
    for method in ("fsq", "vq"):
        out = C.build_digits_model(method, seed=0)(x)
        assert out["x_hat"].shape == (5, 64) and out["indices"].shape == (5,)
        assert out["aux"].ndim == 0 and (method == "vq" or float(out["aux"]) == 0.0)


def test_recon_grad_ratio_equals_norm_ratio():
    model = C.build_digits_model("vq", init="small", seed=0)
    x = C.digits_tensor()[:64]
    r = C.recon_grad_ratio(model, x)
    with torch.no_grad():
        z = model.encoder(x)
        q = model.quantizer.codebook[C.nearest_code(z, model.quantizer.codebook)]
    assert torch.allclose(r, q.norm(dim=-1) / z.norm(dim=-1), rtol=1e-4)


def test_encoder_gradient_norms_match_autograd_through_the_training_loss():
    # the reconstruction parts against autograd through the model's own forward pass (STE or
    # rotation), the commitment part against autograd of the VQ layer's aux loss with beta = 0
    x = C.digits_tensor()[:32]
    for grad in ("ste", "rotation"):
        model = C.build_digits_model("vq", init="small", grad=grad, beta=0.0, gamma=0.3, seed=1)
        n = C.encoder_gradient_norms(model, x)
        z = model.encoder(x).detach().requires_grad_(True)
        z_q, _, aux = model.quantizer(z)
        (g_rec,) = torch.autograd.grad(((model.decoder(z_q) - x) ** 2).mean(), z)
        (g_com,) = torch.autograd.grad(aux, z)
        assert torch.allclose(n[f"recon_{grad}"], g_rec.norm(dim=-1), rtol=1e-5)
        assert torch.allclose(n["commit"], g_com.norm(dim=-1), rtol=1e-5)
    r = n["recon_rotation"] / n["recon_ste"]
    assert torch.allclose(r, C.recon_grad_ratio(model, x), rtol=1e-5)
    assert r.median() < 0.5                      # small codebook: ||q|| << ||z|| at step 0


def test_training_records_the_median_norm_ratio_for_vq_only():
    vq = C.train_digits_autoencoder("vq", init="data", steps=2, seed=0, record_every=1)
    fsq = C.train_digits_autoencoder("fsq", steps=2, seed=0, record_every=1)
    assert "q_over_z" in vq["history"] and "q_over_z" not in fsq["history"]
    assert abs(vq["history"]["q_over_z"][0] - 1.0) < 1e-6     # codes copied from the encoder
    model = vq["model"]
    with torch.no_grad():
        z = model.encoder(C.digits_tensor().to(next(model.parameters()).dtype))
        q = model.quantizer.codebook[C.nearest_code(z, model.quantizer.codebook)]
    assert abs(vq["q_over_z"] - float((q.norm(dim=-1) / z.norm(dim=-1)).median())) < 1e-6


@pytest.mark.parametrize("call,name", [
    (lambda: C.DigitsAutoencoder(torch.nn.Identity()), "quantizer"),
    (lambda: C.encoder_gradient_norms(C.build_digits_model("fsq"), torch.zeros(2, 64)), "model"),
    (lambda: C.encoder_gradient_norms(C.build_digits_model("vq"), torch.zeros(64)), "x"),
    (lambda: C.build_digits_model("lfq"), "method"),
    (lambda: C.train_digits_autoencoder(steps=-1), "steps"),
    (lambda: C.train_digits_autoencoder(lr=0), "lr"),
    (lambda: C.recon_grad_ratio(C.build_digits_model("fsq"), torch.zeros(2, 64)), "model"),
])
def test_bad_input_raises_value_error_naming_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_build_digits_model_checks_every_argument_whatever_the_method():
    """An FSQ model ignores K, dim, init, grad, beta and gamma: they are checked all the same."""
    for kw, name in ((dict(K=0), "K"), (dict(K=1.5), "K"), (dict(dim=-1), "dim"),
                     (dict(init="bad"), "init"), (dict(grad="bad"), "grad"),
                     (dict(beta=np.nan), "beta"), (dict(gamma=-1.0), "gamma"),
                     (dict(levels=[1, 4]), "levels")):
        with pytest.raises(ValueError, match=name):
            C.build_digits_model("fsq", **kw)
        with pytest.raises(ValueError, match=name):
            C.build_digits_model("vq", **kw)
