"""Fixtures the diffusion tests share: a small random Gaussian mixture (exact teacher), a tiny
untrained U-Net denoiser, and a band-pass Gaussian-process spectrum with its pooled version."""
import pytest
import torch

from kexue import diffusion as D


@pytest.fixture(scope="module")
def gm():
    return D.random_mixture(8, 4, 0.2, seed=0)


@pytest.fixture(scope="module")
def den():
    torch.manual_seed(0)
    return D.EDMDenoiser(D.TinyUNet(channels=4, levels=2, emb_dim=8)).eval()


@pytest.fixture(scope="module")
def gp_pair():
    P = D.gp_spectrum(16, "bandpass", k0=2.0, width=0.6)
    return P, D.pooled_spectrum(P, 2)
