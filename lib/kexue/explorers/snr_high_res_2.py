"""Explorers of chapter diffusion/snr-high-res-2: upsample guidance on the Gaussian-process teacher.

No mathematics here: the teacher, the samplers, the guided predictor and the spectra come from
:mod:`kexue.diffusion`; this module only lays their numbers out as frames.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from kexue import diffusion as D
from kexue._validate import check_grid, check_int_in, check_real, check_seed
from kexue.widgets import PALETTE, Explorer, Slider, frame, heatmap, line, panel, vline

METHODS = {"naive": "naive (low-res model at high res)", "upsampled": "low-res sample, upsampled",
           "ug": "upsample guidance"}


def upsample_guidance(n: int = 32, ws: Sequence[float] = (-1.0, -0.5, 0.0, 0.2, 0.5, 1.0),
                      factors: Sequence[int] = (2, 4), n_samples: int = 40, steps: int = 20,
                      seed: int = 0) -> Explorer:
    """The same noise sampled naively, by upsampling, and with upsample guidance (weight w).

    GP teacher with a band-pass spectrum on N^2; the low-resolution model lives on (N/s)^2.
    Panels: one sample of each method (same initial noise) and the radial power spectra of
    ``n_samples`` samples against the truth. Readout: mean |log power ratio| in the coarse band
    (k <= N/(2s)) and the fine band.
    """
    n = check_int_in(n, 8, 128, name="n")
    ws = [check_real(v, name="ws") for v in check_grid(ws, name="ws")]
    factors = [check_int_in(f, 2, n // 2, name="factors") for f in check_grid(factors, name="factors")]
    for f in factors:
        if n % f:
            raise ValueError(f"factors must divide n = {n}, got {f}")
    n_samples = check_int_in(n_samples, 1, 5000, name="n_samples")
    steps = check_int_in(steps, 2, 1000, name="steps")
    P = D.gp_spectrum(n, "bandpass", k0=2.0, width=0.6)
    x_T = np.random.default_rng(check_seed(seed)).standard_normal((n_samples, n, n))
    ts = np.linspace(0.98, 0.0, steps + 1)
    k, truth = D.radial_spectrum(P)
    edges = np.arange(n + 1)
    cache: dict = {}

    def compute(w: float, s: int) -> dict:
        if (s, w) not in cache:
            cache[(s, w)] = D.gp_ug_samples(P, s, w, x_T, ts)
        res = cache[(s, w)]
        names = {**METHODS, "ug": f"upsample guidance, w = {w:g}"}
        pans = [panel(names[key], "x", "y", heatmap=heatmap(np.round(res[key][0], 3), edges, edges,
                                                            vmin=-3.0, vmax=3.0, cmap="gray",
                                                            aspect="equal"))
                for key in METHODS]
        series = [line(k[1:], truth[1:], "truth", color="#000000")]
        for i, key in enumerate(METHODS):
            series.append(line(k[1:], D.radial_power_spectrum(res[key])[1][1:], names[key],
                               color=PALETTE[i], dash=key != "ug"))
        pans.append(panel("Radial power spectrum", "wave number |k|", "power", series=series,
                          yscale="log", vlines=[vline(n / (2 * s), "", color="#999999")]))
        ratios = {key: D.band_log_ratio(res[key], P, n / (2 * s)) for key in METHODS}
        txt = " · ".join(f"{key}: coarse {c:.2f}, fine {f:.2f}" for key, (c, f) in ratios.items())
        return frame(*pans, text=f"s = {s}, w = {w:g} · mean |log power ratio| to the truth: {txt}")

    controls = [Slider("w", ws, 0.0 if 0.0 in ws else ws[0], label="guidance w"),
                Slider("s", factors, factors[0], label="resolution factor s", fmt="{:d}")]
    return Explorer(controls, compute, name="upsample-guidance")


EXPLORERS = (upsample_guidance,)
