"""Explorers of the chapter muon: the band Newton-Schulz maps singular values into, and the
weight-decay bound on ||W_t||_2. Numbers come from :mod:`kexue.training.muon`."""
from __future__ import annotations

import numpy as np

from kexue.training import muon as MU
from kexue.widgets import PALETTE, Dropdown, Explorer, Slider, frame, hline, line, panel

COEFFS = {"Keller's quintic (3.4445, −4.7750, 2.0315)": MU.KELLER_COEFFS,
          "cubic (1.5, −0.5, 0)": MU.CUBIC_COEFFS}


def ns_band() -> Explorer:
    """x -> p^k(x) on a log grid of [1e-3, 1] for k Newton-Schulz steps, with the band
    [min, max] over [0.01, 1] and the target msign value 1."""
    xs = np.logspace(-3, 0, 241)

    def compute(steps: int, coeffs: str) -> dict:
        c = COEFFS[coeffs]
        y = MU.ns_scalar_map(xs, steps, c)
        lo, hi = MU.ns_band(steps, c, lo=0.01, n_grid=20_001)
        p = panel(f"Where do {steps} Newton–Schulz steps send a singular value?",
                  "singular value of G/‖G‖_F (log)", "after the iteration",
                  series=[line(xs, y, f"p∘…∘p ({steps}×)", color=PALETTE[0]),
                          line(xs, np.ones_like(xs), "msign (exact)", color=PALETTE[7], dash=True)],
                  hlines=[hline(lo, "band minimum on [0.01, 1]", color=PALETTE[2]),
                          hline(hi, "band maximum on [0.01, 1]", color=PALETTE[3])],
                  xscale="log", ylim=[0, 1.3])
        return frame(p, text=f"band on [0.01, 1]: [{lo:.4f}, {hi:.4f}] · p^k(0.001) = {y[0]:.4f}")

    return Explorer([Slider("steps", [1, 2, 3, 4, 5, 6, 7, 8], 5, label="steps", fmt="{:d}"),
                     Dropdown("coeffs", list(COEFFS), list(COEFFS)[0], label="coefficients")],
                    compute, name="muon-ns-band")


MODES = {"constant update": ("constant", "svd"), "random updates": ("random", "svd"),
         "constant, Newton–Schulz": ("constant", "ns")}


def decay_bound() -> Explorer:
    """||W_t||_2 under W_t = W_{t-1} - eta (Phi_t + lam W_{t-1}) with ||Phi_t||_2 = 1 (msign) or
    Newton-Schulz, against the bound max(||W_0||_2, 1/lam); eta lam > 1 breaks the bound."""
    W0 = 0.05 * np.random.default_rng(0).normal(size=(8, 12))
    steps = 100
    ts = np.arange(steps + 1)

    def compute(lam: float, eta: float, mode: str) -> dict:
        kind, ortho = MODES[mode]
        path = MU.norm_bound_path(W0, eta, lam, steps, kind, seed=1, ortho=ortho)
        bound = max(path[0], 1.0 / lam)
        p = panel("Does weight decay keep ‖W_t‖₂ below max(‖W₀‖₂, 1/λ)?", "step t", "‖W_t‖₂",
                  series=[line(ts, path, "‖W_t‖₂", color=PALETTE[0])],
                  hlines=[hline(bound, "post's bound", color=PALETTE[3])], yscale="log")
        return frame(p, text=f"ηλ = {eta * lam:.3g} · max_t ‖W_t‖₂ = {path.max():.4g} · "
                             f"bound {bound:.4g} · {'holds' if path.max() <= bound * (1 + 1e-9) else 'violated'}")

    return Explorer([Slider("lam", [0.5, 1.0, 2.0, 5.0], 1.0, label="λ"),
                     Slider("eta", [0.02, 0.1, 0.5], 0.1, label="η"),
                     Dropdown("mode", list(MODES), "constant update", label="updates Φ_t")],
                    compute, name="muon-decay-bound")


EXPLORERS = (ns_band, decay_bound)
