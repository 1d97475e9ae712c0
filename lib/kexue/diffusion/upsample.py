"""Pooling, upsampling, the multi-scale loss and upsample guidance.

Chapters snr-high-res-1 (average pooling raises the SNR; the multi-scale loss) and
snr-high-res-2 (upsample guidance, Hwang et al. 2024, as Su writes it). D is s x s average
pooling, U nearest upsampling (D U = I). numpy or torch where stated.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .._validate import as_float_array, check_in_range, check_int_in, check_positive, check_real
from .gp import gp_lowres_model, pooled_spectrum, spectrum
from .samplers import ddim_sample
from .schedules import EpsModel, cosine_alpha_beta, snr_match_time

__all__ = ["avg_pool", "nearest_upsample", "multiscale_loss", "ug_rho", "upsample_guidance_eps",
           "ug_weight", "gp_ug_samples"]


def avg_pool(x, s: int):
    """s x s average pooling D on (..., H, W) (numpy or torch; returns the kind it was given)."""
    arr, torch_in = as_float_array(x, name="x", min_ndim=2)
    s = check_int_in(s, 1, None, name="s")
    h, w = arr.shape[-2:]
    if h % s or w % s:
        raise ValueError(f"s must divide the image size {h}x{w}, got {s}")
    r = arr.reshape(*arr.shape[:-2], h // s, s, w // s, s)
    return r.mean(dim=(-3, -1)) if torch_in else r.mean(axis=(-3, -1))


def nearest_upsample(y, s: int):
    """Nearest-neighbour upsampling U by s on (..., h, w): each pixel becomes an s x s block; D U = I."""
    arr, torch_in = as_float_array(y, name="y", min_ndim=2)
    s = check_int_in(s, 1, None, name="s")
    if torch_in:
        return arr.repeat_interleave(s, dim=-2).repeat_interleave(s, dim=-1)
    return np.repeat(np.repeat(arr, s, axis=-2), s, axis=-1)


def multiscale_loss(eps, eps_hat, scales: Sequence[int] = (1, 2, 4), weights: Sequence[float] | None = None):
    """Multi-scale loss of simple diffusion: sum_s w_s mean(|D_s[eps] - D_s[eps_hat]|^2).

    Chapter snr-high-res-1. Each term is a per-pixel mean at its own resolution, so for
    eps_hat = 0 its expectation is 1/s^2. Returns (total, list of per-scale terms). numpy or torch.
    """
    e, torch_e = as_float_array(eps, name="eps", min_ndim=2)
    eh, torch_h = as_float_array(eps_hat, name="eps_hat", min_ndim=2)
    if torch_e != torch_h or tuple(e.shape) != tuple(eh.shape):
        raise ValueError("eps_hat must match eps in kind and shape")
    if len(scales) == 0:
        raise ValueError("scales must not be empty")
    w = [1.0 / len(scales)] * len(scales) if weights is None else list(weights)
    if len(w) != len(scales) or any((not np.isfinite(v)) or v < 0 for v in w):
        raise ValueError("weights must be one finite non-negative number per scale")
    terms = []
    for s in scales:
        diff = avg_pool(e, s) - avg_pool(eh, s)
        terms.append((diff ** 2).mean())
    total = sum(wi * ti for wi, ti in zip(w, terms))
    return total, terms


def ug_rho(alpha_bar, beta_bar, s: float):
    """rho_t = sqrt(alpha^2 + beta^2 / s^2): D[x_t] / rho_t has unit-norm coefficients again."""
    a, _ = as_float_array(alpha_bar, name="alpha_bar", min_ndim=0)
    b, _ = as_float_array(beta_bar, name="beta_bar", min_ndim=0)
    s = check_positive(s, name="s")
    if (a < 0).any() or (b < 0).any():
        raise ValueError("alpha_bar and beta_bar must be >= 0")
    return np.sqrt(a ** 2 + b ** 2 / s ** 2)


def upsample_guidance_eps(eps_model: EpsModel, x_t, t: float, s: int, w: float):
    """Upsample guidance (Hwang et al. 2024, as Su writes it), cosine schedule.

        eps~ = eps(x_t, t) + (1 + w) U[ eps(D[x_t] / rho_t, tau) / s - D[eps(x_t, t)] ].

    Chapter snr-high-res-2. ``eps_model(x, t)`` must accept any spatial size; w = -1 returns the
    plain model, w = 0 the "approximate ideal" predictor. numpy or torch.
    """
    t = float(check_in_range(t, 0, 1, name="t", lo_open=True, hi_open=True))
    s = check_int_in(s, 1, None, name="s")
    w = check_real(w, name="w")
    e = eps_model(x_t, t)
    if w == -1:
        return e
    a, b = cosine_alpha_beta(t)
    rho = float(ug_rho(a, b, s))
    tau = float(snr_match_time(t, s))
    low = eps_model(avg_pool(x_t, s) / rho, tau)
    return e + (1 + w) * nearest_upsample(low / s - avg_pool(e, s), s)


def ug_weight(t: float, w: float, eta: float) -> float:
    """Guidance weight for latent models: w for the first eta of the (high-noise) steps, then -1."""
    t = check_in_range(t, 0, 1, name="t")
    w = check_real(w, name="w")
    eta = check_in_range(eta, 0, 1, name="eta")
    return w if t >= 1 - eta else -1.0


def gp_ug_samples(P_high, s: int, w: float, x_T, ts) -> dict:
    """DDIM samples on the GP teacher from the same noise: naive, upsampled low-res, upsample-guided.

    Chapter snr-high-res-2. ``x_T`` (n, N, N) unit noise; the low-resolution model is the exact
    Wiener predictor for the pooled spectrum (N/s)^2, run at N^2 as a convolution for "naive" and
    inside :func:`upsample_guidance_eps` for "ug"; "upsampled" samples at (N/s)^2 from
    s D[x_T] (unit variance again) and upsamples U. numpy.
    """
    P = spectrum(P_high, "P_high")
    s = check_int_in(s, 1, P.shape[0], name="s")
    lo = gp_lowres_model(pooled_spectrum(P, s))
    out = {"naive": ddim_sample(lo, x_T, ts),
           "upsampled": nearest_upsample(ddim_sample(lo, s * avg_pool(x_T, s), ts), s),
           "ug": ddim_sample(lambda x, t: upsample_guidance_eps(lo, x, t, s, w), x_T, ts)}
    return out
