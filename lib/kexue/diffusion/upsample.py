"""Pooling, upsampling, the multi-scale loss and upsample guidance.

Chapters snr-high-res-1 (average pooling raises the SNR; the multi-scale loss) and
snr-high-res-2 (upsample guidance, Hwang et al. 2024, as Su writes it). D is s x s average
pooling, U nearest upsampling (D U = I). numpy or torch where stated.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .._validate import (as_float_array, check_in_range, check_instance, check_int_in, check_positive,
                         check_real)
from ..datasets import digits, load_run
from .gp import gp_lowres_model, pooled_spectrum, spectrum
from .metrics import digit_features, frechet_distance
from .samplers import ddim_sample
from .schedules import EpsModel, cosine_alpha_beta, snr_match_time
from .unet import load_pretrained, vp_eps_model

__all__ = ["avg_pool", "nearest_upsample", "multiscale_loss", "ug_rho", "upsample_guidance_eps",
           "ug_weight", "gp_ug_samples", "ug_digit_samples", "ug_digit_sweep", "load_ug_digit_sweep",
           "UG_SWEEP"]

#: Name of the committed output of :func:`ug_digit_sweep` (kexue/data/ug_digit_sweep.json).
UG_SWEEP = "ug_digit_sweep"


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
    if not isinstance(scales, (list, tuple)) or len(scales) == 0:
        raise ValueError(f"scales must be a non-empty list of pooling factors, got {scales!r}")
    for s in scales:
        check_int_in(s, 1, min(e.shape[-2:]), name="scales")
        if e.shape[-1] % s or e.shape[-2] % s:
            raise ValueError(f"scales must divide the image size {tuple(e.shape[-2:])}, got {s}")
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
    check_instance(eps_model, Callable, name="eps_model")
    as_float_array(x_t, name="x_t", min_ndim=2)
    return _ug_eps(eps_model, x_t, t, s, w)


def _ug_eps(eps_model: EpsModel, x_t, t: float, s: int, w: float):
    """:func:`upsample_guidance_eps` with x_t unchecked: the samplers' inner loop."""
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
    as_float_array(x_T, name="x_T", min_ndim=2)
    lo = gp_lowres_model(pooled_spectrum(P, s))
    out = {"naive": ddim_sample(lo, x_T, ts),
           "upsampled": nearest_upsample(ddim_sample(lo, s * avg_pool(x_T, s), ts), s),
           "ug": ddim_sample(lambda x, t: _ug_eps(lo, x, t, s, w), x_T, ts)}
    return out


def ug_digit_samples(x_T, w: float, steps: int = 20) -> np.ndarray:
    """Upsample-guided DDIM samples of the pretrained 8 x 8 digit U-Net at 16 x 16 (s = 2).

    Chapter snr-high-res-2. ``x_T`` (n, 16, 16) unit noise; cosine schedule, ``steps`` DDIM steps
    from t = 0.98 to 0; the model (trained in float32) runs in float64. Returns (n, 16, 16). numpy.
    """
    x = as_float_array(x_T, name="x_T", min_ndim=3)[0]
    if x.ndim != 3 or x.shape[1:] != (16, 16):
        raise ValueError(f"x_T must have shape (n, 16, 16), got {x.shape}")
    w = check_real(w, name="w")
    steps = check_int_in(steps, 1, 1000, name="steps")
    eps = vp_eps_model(load_pretrained()[0])
    ts = np.linspace(0.98, 0.0, steps + 1)
    return ddim_sample(lambda z, t: _ug_eps(eps, z, t, 2, w), x, ts)


def ug_digit_sweep(n: int = 512, ws: Sequence[float] = (0.0, 0.1, 0.2, 0.4), steps: int = 20,
                   seed: int = 4, n_boot: int = 200) -> dict:
    """Guidance weight w on the digit U-Net (8 x 8 -> 16 x 16), n paired initial noises per w.

    Chapter snr-high-res-2 (does w ~ 0.2 beat w = 0?). Every w starts from the same n noises
    (seed ``seed``); the samples are pooled back to 8 x 8 and clipped to [-1, 1], then scored by
    the digit classifier of :func:`digit_features`: Frechet distance of its features to all
    1797 real digits, and its mean top probability. Paired bootstrap (``n_boot`` resamples of
    the noises, seed 0) gives 95% intervals of FD(w) - FD(ws[0]) and of the difference in mean
    top probability. ``head_top_prob``: per-sample top probabilities of the first 8 noises
    (what a test re-runs). Takes minutes; its output is committed (:func:`load_ug_digit_sweep`).
    numpy.
    """
    n = check_int_in(n, 8, 100000, name="n")
    ws = [check_real(w, name="ws") for w in ws]
    if len(ws) < 2:
        raise ValueError(f"ws must hold at least two weights, got {ws}")
    n_boot = check_int_in(n_boot, 10, 100000, name="n_boot")
    feats, clf = digit_features()
    f_real = feats(digits("signed", as_images=True)[0])
    x_T = np.random.default_rng(seed).standard_normal((n, 16, 16))
    F, top = [], []
    for w in ws:
        y = np.clip(avg_pool(ug_digit_samples(x_T, w, steps), 2), -1, 1)
        F.append(feats(y))
        top.append(clf.predict_proba(y.reshape(n, 64)).max(1))
    idx = np.random.default_rng(0).integers(0, n, (n_boot, n))
    fd_ci, top_ci = [], []
    for j in range(1, len(ws)):
        d_fd = [frechet_distance(F[j][i], f_real) - frechet_distance(F[0][i], f_real) for i in idx]
        d_top = [(top[j][i] - top[0][i]).mean() for i in idx]
        fd_ci.append(np.percentile(d_fd, [2.5, 97.5]).tolist())
        top_ci.append(np.percentile(d_top, [2.5, 97.5]).tolist())
    return {"n": n, "ws": ws, "steps": steps, "seed": seed,
            "fd": [frechet_distance(f, f_real) for f in F], "top_prob": [float(t.mean()) for t in top],
            "fd_diff_ci": fd_ci, "top_prob_diff_ci": top_ci,
            "head_top_prob": [t[:8].tolist() for t in top]}


def load_ug_digit_sweep() -> dict:
    """The committed output of :func:`ug_digit_sweep` with its defaults (chapter snr-high-res-2)."""
    return load_run(UG_SWEEP)
