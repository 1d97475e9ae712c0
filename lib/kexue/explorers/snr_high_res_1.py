"""Explorers of chapter diffusion/snr-high-res-1: base schedule and resolution factor.

No mathematics here: the schedules, their shift and the rectified-flow grid come from
:mod:`kexue.diffusion`; this module only lays their numbers out as frames.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from kexue import diffusion as D
from kexue._validate import check_grid, check_int_in
from kexue.widgets import PALETTE, Dropdown, Explorer, Slider, frame, hline, line, panel, scatter

BASE_NAMES = {"cosine": "cosine (clipped to ±15)", "linear": "linear β (DDPM, T = 1000)"}


def schedules(factors: Sequence[int] = (1, 2, 4, 8, 16), n_t: int = 201) -> Explorer:
    """Base schedule and resolution factor s -> shifted log-SNR and signal level.

    Panels: log-SNR(t) of the base and of the shifted schedule (l - 2 log s); the signal level
    alpha_t = sqrt(sigmoid(l)) of both; the rectified-flow (SD3) shifted sigma grid
    sigma' = s sigma / (1 + (s - 1) sigma) for 20 steps. Readout: where the shifted schedule
    reaches SNR 1.
    """
    factors = [check_int_in(f, 1, 1024, name="factors") for f in check_grid(factors, name="factors")]
    n_t = check_int_in(n_t, 11, 2001, name="n_t")
    t = np.linspace(0, 1, n_t)
    sig = np.linspace(1, 0, 21)
    steps = np.arange(21)

    def compute(base: str, s: int) -> dict:
        lam = D.base_logsnr(t, base)
        lam_s = D.shift_logsnr(lam, s)
        a, a_s = D.alpha_sigma_from_logsnr(lam)[0], D.alpha_sigma_from_logsnr(lam_s)[0]
        # log-SNR is exactly 0 at t = 1/2 (cosine); show 0, not a machine's 2e-16
        lam, lam_s = (np.where(np.abs(v) < 1e-9, 0.0, v) for v in (lam, lam_s))
        p1 = panel("log-SNR: the high-resolution schedule moves down by 2 log s", "t", "log-SNR",
                   series=[line(t, lam, f"base, {BASE_NAMES[base]}", color=PALETTE[0], dash=True),
                           line(t, lam_s, f"shifted, s = {s}", color=PALETTE[3])],
                   hlines=[hline(0.0, "", color="#999999")], ylim=[-25, 20])
        p2 = panel("Signal level ᾱ_t = √sigmoid(log-SNR)", "t", "ᾱ_t",
                   series=[line(t, a, "base", color=PALETTE[0], dash=True),
                           line(t, a_s, f"shifted, s = {s}", color=PALETTE[3])], ylim=[0, 1.02])
        p3 = panel("Rectified flow: SD3's shifted σ grid (20 steps)", "step", "σ",
                   series=[line(steps, sig, "uniform σ", color=PALETTE[0], dash=True),
                           scatter(steps, D.rf_shift_sigmas(sig, s), f"shift = {s}", color=PALETTE[3])],
                   ylim=[0, 1.02])
        half = float(np.interp(0.0, lam_s[::-1], t[::-1]))
        text = (f"{BASE_NAMES[base]}, s = {s}: log-SNR − 2 log s = log-SNR − {2 * math.log(s):.3f}; "
                f"the shifted schedule reaches SNR 1 at t = {half:.3f}")
        return frame(p1, p2, p3, text=text)

    controls = [Dropdown("base", ["cosine", "linear"], "cosine", label="base schedule",
                         names=[BASE_NAMES["cosine"], BASE_NAMES["linear"]]),
                Slider("s", factors, 4 if 4 in factors else factors[0], label="resolution factor s",
                       fmt="{:d}")]
    return Explorer(controls, compute, name="snr-schedules")


EXPLORERS = (schedules,)
