"""Explorers of the chapter spectral-weight-decay: the spectrum sculptor (spectral against
ordinary weight decay) and the convergence of power iteration. Numbers come from
:mod:`kexue.training.spectral`; nothing is computed here beyond arranging them."""
from __future__ import annotations

import numpy as np

from kexue.training import spectral as SP
from kexue.widgets import (PALETTE, Dropdown, Explorer, Slider, bars, frame, hline, line,
                           panel, scatter)

#: The initial spectra of the sculptor (10 singular values each).
SPECTRA = {
    "linear": np.linspace(1.0, 0.1, 10),
    "geometric": 0.75 ** np.arange(10),
    "two near-equal tops": np.array([1.0, 0.98, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1]),
}


def sculptor() -> Explorer:
    """Singular values after `steps` decoupled decay steps of strength lam: exact spectral decay
    against ordinary decay, with the predicted flat-top level. (With power iterations instead
    of the exact v_1, the path after a few dozen steps depends on rounding: the top is nearly
    tied and the iterate's mix of the tied vectors is chaotic; such paths are not shown here.)"""
    steps_grid = [0, 5, 10, 20, 50, 100, 200, 400]
    cache: dict = {}

    def paths(spectrum: str, lam: float):
        key = (spectrum, lam)
        if key not in cache:
            W = SP.matrix_with_spectrum(SPECTRA[spectrum], 12, seed=0)
            cache[key] = (SP.decay_spectrum_path(W, lam, steps_grid[-1], "spectral", None),
                          SP.decay_spectrum_path(W, lam, steps_grid[-1], "frobenius"))
        return cache[key]

    def compute(spectrum: str, lam: float, steps: int) -> dict:
        spec, frob = paths(spectrum, lam)
        s0 = SPECTRA[spectrum]
        idx = np.arange(1, s0.size + 1)
        level = SP.flat_top_level(s0, lam, steps) if steps > 0 else float(s0[0])
        p = panel(f"Which singular values does decay remove? ({steps} steps, λ = {lam:g})",
                  "singular value index i", "σ_i",
                  series=[bars(idx, s0, "before", color=PALETTE[7], fill=False),
                          bars(idx, spec[steps], "spectral decay W − λσ₁u₁v₁ᵀ", color=PALETTE[0]),
                          scatter(idx, frob[steps], "ordinary decay (1 − λ)W", color=PALETTE[3])],
                  hlines=[hline(level, "predicted flat top (exact)", color=PALETTE[2])],
                  ylim=[0, 1.05])
        text = (f"spectral: σ₁ = {spec[steps][0]:.3f}, σ₁₀ = {spec[steps][-1]:.3f} · "
                f"ordinary: σ₁ = {frob[steps][0]:.4f}, σ₁₀ = {frob[steps][-1]:.4f} · "
                f"predicted level {level:.3f}")
        return frame(p, text=text)

    return Explorer([Dropdown("spectrum", list(SPECTRA), "linear", label="initial spectrum"),
                     Slider("lam", [0.01, 0.02, 0.05, 0.1], 0.05, label="λ"),
                     Slider("steps", steps_grid, 200, label="steps", fmt="{:d}")],
                    compute, name="spectral-weight-decay-sculptor")


STARTS = ("random", "all-ones")
FLOOR = 1e-8     # below this the measured angle is rounding noise: not drawn


def power_rate() -> Explorer:
    """sin angle(x_t, v_1) of power iteration against t (down to 1e-8), for a spectrum with
    ratio s_2/s_1 and two starting vectors, with the closed form of the post's proof."""
    iters = 60
    ts = np.arange(iters + 1)

    def compute(ratio: float, start: str) -> dict:
        sig = np.concatenate([[1.0], ratio * 0.9 ** np.arange(7)])         # s_2/s_1 = ratio
        m = sig.size
        W = SP.matrix_with_spectrum(sig, 10, seed=1)
        x0 = np.random.default_rng(2).normal(size=m) if start == "random" else np.ones(m)
        err = np.maximum(SP.power_iteration_errors(W, iters, x0), FLOOR)
        _, _, Vh = np.linalg.svd(W)
        c = Vh @ (x0 / np.linalg.norm(x0))
        series = [line(ts, err, "measured sin∠(x_t, v₁)", color=PALETTE[0])]
        tan = SP.power_iteration_tan_theory(sig, c, iters)
        series.append(line(ts, np.maximum(tan / np.sqrt(1 + tan**2), FLOOR),
                           "closed form of the proof", color=PALETTE[1], dash=True))
        series.append(line(ts, np.maximum(abs(c[1] / c[0]) * ratio ** (2 * ts), FLOOR),
                           "|c₂/c₁|(σ₂/σ₁)^{2t}", color=PALETTE[2], dash=True))
        p = panel("How fast does power iteration find v₁?", "iteration t", "sin∠(x_t, v₁)",
                  series=series, yscale="log", ylim=[FLOOR, 3])
        return frame(p, text=f"σ₂/σ₁ = {ratio:g} · c₁ = {c[0]:.3f} · after 10 iterations: "
                             f"sin∠ = {err[10]:.2e}")

    return Explorer([Slider("ratio", [0.5, 0.7, 0.8, 0.9, 0.95, 0.99], 0.9, label="σ₂/σ₁"),
                     Dropdown("start", list(STARTS), "all-ones", label="start x₀")],
                    compute, name="spectral-weight-decay-power", digits=3)


EXPLORERS = (sculptor, power_rate)
