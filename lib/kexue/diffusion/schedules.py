"""Noise schedules: the VE <-> VP conversion, the cosine schedule, log-SNR and its shifts, grids.

Conventions of the part "Diffusion" (one home for each of them):

* **VE / EDM form** (chapters amed-ode-sampling, skip-tuning): x_sigma = x0 + sigma eps. A
  *denoiser* is a callable ``denoiser(x, sigma) -> D`` returning E[x0 | x_sigma = x]; the
  probability-flow ODE is dx/dsigma = (x - D(x, sigma)) / sigma.
* **VP form** (chapters snr-high-res-1/2): x_t = alpha_t x0 + beta_t eps with alpha^2 + beta^2 = 1;
  log-SNR l = log(alpha^2 / beta^2). An *eps-model* is a callable ``eps(x, t)``. The two forms
  are linked by x_VE = x_VP / alpha, sigma = beta / alpha (:func:`vp_to_ve`), and the VE slope
  (x_VE - D) / sigma *is* the VP eps-prediction (:func:`eps_from_denoiser`).

numpy (float64) throughout, except :func:`eps_from_denoiser`, which only uses ``+``, ``*`` and
the denoiser and so runs on whatever the denoiser takes.
"""
from __future__ import annotations

import math
import numbers
from typing import Callable

import numpy as np
import torch

from .._validate import (as_float_ndarray, check_choice, check_in_range, check_instance,
                         check_int_in, check_positive, check_real, check_values_in)
from ..probability import sigmoid

__all__ = ["Denoiser", "EpsModel", "Schedule", "cosine_alpha_beta", "vp_to_ve", "eps_from_denoiser",
           "karras_sigmas", "logsnr_cosine", "alpha_sigma_from_logsnr", "shift_logsnr",
           "shifted_cosine", "base_logsnr", "linear_beta_alphas_cumprod", "cosine_alphas_cumprod",
           "logsnr_from_alphas_cumprod", "shift_alphas_cumprod", "rf_shift_sigmas",
           "rf_unshift_sigmas", "snr_match_time"]

Denoiser = Callable[[object, float], object]      # D(x, sigma), VE form
EpsModel = Callable[[object, float], object]      # eps(x_t, t), VP form
Schedule = Callable[[float], tuple]               # t -> (alpha_t, beta_t)


# ============================================================================================
# The cosine schedule and the VE <-> VP conversion
# ============================================================================================

def cosine_alpha_beta(t, s: float = 1.0):
    """(alpha_t, beta_t) of the cosine schedule alpha = cos(pi t / 2), shifted by a factor s.

    Chapters snr-high-res-1 (the shift) and snr-high-res-2 (the sampler's default schedule).
    With s = 1: (cos(pi t/2), sin(pi t/2)). With s > 1 the log-SNR moves by -2 log s,
    SNR = cot^2(pi t/2) / s^2, hence

        alpha^2 = cos^2 / (cos^2 + s^2 sin^2),   beta^2 = s^2 sin^2 / (cos^2 + s^2 sin^2),

    written without tan, so t = 0 and t = 1 are fine. A number t gives floats, an array gives
    arrays. numpy.
    """
    tt = check_values_in(as_float_ndarray(t, name="t", min_ndim=0), 0, 1, name="t")
    s = check_positive(s, name="s")
    c, si = np.cos(np.pi * tt / 2), np.sin(np.pi * tt / 2)
    if s != 1.0:
        norm = np.sqrt(c * c + s * s * si * si)
        c, si = c / norm, s * si / norm
    if tt.ndim == 0:
        return float(c), float(si)
    return c, si


def vp_to_ve(x_t, alpha: float, beta: float):
    """The VE state of a VP state: x_VE = x_t / alpha at sigma = beta / alpha. Returns (x_VE, sigma).

    x_t = alpha x0 + beta eps  <=>  x_t / alpha = x0 + (beta / alpha) eps. Any array kind.
    """
    alpha = check_positive(alpha, name="alpha")
    beta = check_positive(beta, name="beta")
    check_instance(x_t, (np.ndarray, torch.Tensor, numbers.Real), name="x_t")   # no NaN scan: hot path
    return x_t / alpha, beta / alpha


def eps_from_denoiser(denoiser: Denoiser, schedule: Schedule | None = None) -> EpsModel:
    """A VE denoiser D(x, sigma) as a VP eps-model eps(x_t, t) for ``schedule`` (default cosine).

    Chapter snr-high-res-2: with (x_VE, sigma) = :func:`vp_to_ve`, eps = (x_VE - D(x_VE, sigma)) / sigma,
    the slope of the VE probability-flow ODE. Runs on whatever the denoiser accepts.
    """
    check_instance(denoiser, Callable, name="denoiser")
    sched = schedule or cosine_alpha_beta

    def eps(x, t: float):
        t = check_in_range(t, 0, 1, name="t", lo_open=True, hi_open=True)
        a, b = sched(t)
        x_ve, sigma = vp_to_ve(x, a, b)
        return (x_ve - denoiser(x_ve, sigma)) / sigma
    return eps


# ============================================================================================
# Grids and log-SNR
# ============================================================================================

def karras_sigmas(n: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0,
                  append_zero: bool = False) -> np.ndarray:
    """EDM grid sigma_i = (sigma_max^(1/rho) + i/(n-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho.

    Chapter amed-ode-sampling, eq. (EDM grid); decreasing from sigma_max to sigma_min (then 0 if
    ``append_zero``). numpy.
    """
    n = check_int_in(n, 2, None, name="n")
    sigma_min = check_positive(sigma_min, name="sigma_min")
    sigma_max = check_positive(sigma_max, name="sigma_max")
    if sigma_min >= sigma_max:
        raise ValueError(f"sigma_min must be < sigma_max, got {sigma_min} >= {sigma_max}")
    rho = check_positive(rho, name="rho")
    ramp = np.linspace(0, 1, n)
    hi, lo = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    s = (hi + ramp * (lo - hi)) ** rho
    s[0], s[-1] = sigma_max, sigma_min
    return np.append(s, 0.0) if append_zero else s


def logsnr_cosine(t, logsnr_min: float = -15.0, logsnr_max: float = 15.0):
    """Cosine schedule alpha = cos(pi t / 2) as log-SNR = -2 log tan(pi t / 2), clipped.

    Chapter snr-high-res-1, eq. (cosine). As in simple diffusion, the angle is mapped linearly onto
    [atan(exp(-logsnr_max / 2)), atan(exp(-logsnr_min / 2))] so that log-SNR runs from logsnr_max
    (t = 0) to logsnr_min (t = 1); t = 1/2 stays at log-SNR 0 when the range is symmetric. numpy.
    """
    t = check_values_in(as_float_ndarray(t, name="t", min_ndim=0), 0, 1, name="t")
    lmin, lmax = check_real(logsnr_min, name="logsnr_min"), check_real(logsnr_max, name="logsnr_max")
    if lmin >= lmax:
        raise ValueError(f"logsnr_min must be < logsnr_max, got {lmin} >= {lmax}")
    a0, a1 = math.atan(math.exp(-0.5 * lmax)), math.atan(math.exp(-0.5 * lmin))
    return -2.0 * np.log(np.tan(a0 + t * (a1 - a0)))


def alpha_sigma_from_logsnr(logsnr):
    """(alpha, beta) with alpha^2 = sigmoid(l), beta^2 = sigmoid(-l): alpha^2 + beta^2 = 1 (numpy)."""
    lam = as_float_ndarray(logsnr, name="logsnr", min_ndim=0)
    # reshape: a 0-d input gives 0-d outputs (sigmoid returns at least 1-d for a 0-d array)
    return np.sqrt(sigmoid(lam)).reshape(lam.shape), np.sqrt(sigmoid(-lam)).reshape(lam.shape)


def shift_logsnr(logsnr, s: float):
    """High-resolution log-SNR aligned with a low-resolution one: l_hi = l_lo - 2 log s.

    Chapter snr-high-res-1, eq. (shift). s is the per-side resolution factor (s x s pooling).
    """
    lam = as_float_ndarray(logsnr, name="logsnr", min_ndim=0)
    return lam - 2.0 * math.log(check_positive(s, name="s"))


def shifted_cosine(t, s: float, logsnr_min: float = -15.0, logsnr_max: float = 15.0):
    """Shifted cosine log-SNR (simple diffusion): logsnr_cosine(t) - 2 log s."""
    return shift_logsnr(logsnr_cosine(t, logsnr_min, logsnr_max), s)


def base_logsnr(t, base: str = "cosine"):
    """log-SNR of a base schedule at continuous t in [0, 1] (numpy).

    Chapter snr-high-res-1. ``"cosine"``: :func:`logsnr_cosine` (clipped to [-15, 15]);
    ``"linear"``: DDPM's linear-beta schedule with T = 1000, step i at t = i / 999, linearly
    interpolated in log-SNR.
    """
    t = check_values_in(as_float_ndarray(t, name="t", min_ndim=0), 0, 1, name="t")
    check_choice(base, ["cosine", "linear"], name="base")
    if base == "cosine":
        return logsnr_cosine(t)
    lam = logsnr_from_alphas_cumprod(linear_beta_alphas_cumprod(1000))
    return np.interp(t, np.linspace(0, 1, lam.size), lam)


def linear_beta_alphas_cumprod(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
    """DDPM's linear beta schedule: alphas_cumprod_i = prod_{j<=i} (1 - beta_j), beta linear (numpy)."""
    T = check_int_in(T, 1, None, name="T")
    b0 = check_in_range(beta_start, 0, 1, name="beta_start", lo_open=True, hi_open=True)
    b1 = check_in_range(beta_end, 0, 1, name="beta_end", lo_open=True, hi_open=True)
    return np.cumprod(1.0 - np.linspace(b0, b1, T))


def cosine_alphas_cumprod(T: int = 1000, offset: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """Improved-DDPM cosine schedule (diffusers ``squaredcos_cap_v2``) as alphas_cumprod.

    f(t) = cos((t + offset)/(1 + offset) pi/2)^2, beta_i = min(1 - f((i+1)/T)/f(i/T), max_beta).
    Not exactly cos(pi t / 2): the offset and the clip differ (numpy).
    """
    T = check_int_in(T, 1, None, name="T")
    offset = check_in_range(offset, 0, 1, name="offset")
    max_beta = check_in_range(max_beta, 0, 1, name="max_beta", lo_open=True)
    f = lambda u: np.cos((u + offset) / (1 + offset) * np.pi / 2) ** 2  # noqa: E731
    i = np.arange(T)
    betas = np.minimum(1 - f((i + 1) / T) / f(i / T), max_beta)
    return np.cumprod(1.0 - betas)


def logsnr_from_alphas_cumprod(alphas_cumprod) -> np.ndarray:
    """log-SNR of a discrete schedule: log(abar / (1 - abar)) (numpy)."""
    a = check_values_in(as_float_ndarray(alphas_cumprod, name="alphas_cumprod", max_ndim=1),
                        0, 1, name="alphas_cumprod", lo_open=True, hi_open=True)
    return np.log(a) - np.log1p(-a)


def shift_alphas_cumprod(alphas_cumprod, s: float) -> np.ndarray:
    """Discrete schedule with log-SNR shifted by -2 log s: abar' = sigmoid(logit(abar) - 2 log s)."""
    lam = shift_logsnr(logsnr_from_alphas_cumprod(alphas_cumprod), s)
    return sigmoid(lam).reshape(lam.shape)


def rf_shift_sigmas(sigma, shift: float):
    """Rectified-flow timestep shift sigma' = shift sigma / (1 + (shift - 1) sigma) (SD3).

    Chapter snr-high-res-1. For x_t = (1 - sigma) x0 + sigma eps this divides the SNR by shift^2,
    i.e. it is the log-SNR shift with s = shift. numpy.
    """
    sig = check_values_in(as_float_ndarray(sigma, name="sigma", min_ndim=0), 0, 1, name="sigma")
    s = check_positive(shift, name="shift")
    return s * sig / (1 + (s - 1) * sig)


def rf_unshift_sigmas(sigma_shifted, shift: float):
    """Inverse of :func:`rf_shift_sigmas`: sigma = sigma' / (shift - (shift - 1) sigma')."""
    sig = check_values_in(as_float_ndarray(sigma_shifted, name="sigma_shifted", min_ndim=0), 0, 1,
                          name="sigma_shifted")
    s = check_positive(shift, name="shift")
    return sig / (s - (s - 1) * sig)


def snr_match_time(t, s: float, schedule: str | np.ndarray = "cosine"):
    """The time tau whose SNR is s^2 times the SNR at t (pooling s x s raises the SNR by s^2).

    Chapter snr-high-res-2, eq. (tau). ``schedule="cosine"`` (alpha = cos(pi t/2), unclipped):
    tau = 2/pi atan(tan(pi t/2) / s). For a discrete schedule pass its alphas_cumprod (index
    i <-> t = i/(T-1)); tau is found by monotone interpolation of its log-SNR. numpy.
    """
    t = check_values_in(as_float_ndarray(t, name="t", min_ndim=0), 0, 1, name="t")
    s = check_positive(s, name="s")
    if s < 1:
        raise ValueError(f"s must be >= 1, got {s}")
    if isinstance(schedule, str):
        check_choice(schedule, ["cosine"], name="schedule")
        return 2 / np.pi * np.arctan(np.tan(np.pi * t / 2) / s)
    if not isinstance(schedule, (np.ndarray, list, tuple)):
        raise ValueError(f"schedule must be 'cosine' or an array of alphas_cumprod, got {schedule!r}")
    lam = logsnr_from_alphas_cumprod(schedule)                      # decreasing in the index
    grid = np.linspace(0, 1, lam.size)
    lam_t = np.interp(t, grid, lam)
    target = np.clip(lam_t + 2 * math.log(s), lam[-1], lam[0])
    return np.interp(target, lam[::-1], grid[::-1])
