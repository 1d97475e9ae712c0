"""Explorers of the chapter lora-plus: the width rules for eta_B / eta_A against a measured
gradient ratio, and the toy fine-tuning sweep. No math here: it calls kexue.training."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from kexue import training as T
from kexue.widgets import Dropdown, Explorer, Slider, frame, heatmap, hline, line, panel, scatter, vline

WIDTHS = (64, 256, 1024, 4096)
RANKS = (1, 4, 16, 64)
SWEEP_WIDTHS = (64, 256)
SWEEP_LRS = tuple(float(v) for v in 10 ** np.arange(-3.5, -0.74, 0.25))
SWEEP_RATIOS = tuple(float(v) for v in 2.0 ** np.arange(0, 9))


@lru_cache(maxsize=None)
def _measured(n: int, m: int, r: int) -> float:
    return T.random_contribution_ratio(n, m, r, b=16, seed=0)


def ratio_rules() -> Explorer:
    """eta_B / eta_A against the input width n: the three rules and the measured ||dA||_1/||dB||_1."""
    def compute(m: int, r: int, n: int) -> dict:
        ns = np.array(WIDTHS, dtype=float)
        rules = {rule: T.loraplus_ratio(ns, m, r, rule) for rule in T.RATIO_RULES}
        meas = [_measured(int(v), m, r) for v in WIDTHS]
        here = {rule: float(T.loraplus_ratio(n, m, r, rule)) for rule in T.RATIO_RULES}
        return frame(panel(
            f"Which width rule does the gradient ratio follow? (m = {m}, r = {r})",
            "input width n", "η_B / η_A  (= ‖∇A‖₁/‖∇B‖₁ when equalising)",
            series=[line(ns, rules["su"], "post: (n/m)√(n/r)"),
                    line(ns, rules["isotropic"], "n/√(mr)", dash=True),
                    line(ns, rules["paper"], "paper: n"),
                    scatter(ns, meas, "measured ‖∇A‖₁/‖∇B‖₁")],
            vlines=[vline(n, f"n = {n}")], hlines=[hline(16, "LoRA+ default 16")],
            xscale="log", yscale="log"),
            text=(f"n = {n}, m = {m}, r = {r}: post {here['su']:.3g}, n/√(mr) {here['isotropic']:.3g}, "
                  f"paper {here['paper']:.3g}, measured {_measured(n, m, r):.3g}"))
    return Explorer([Slider("m", WIDTHS, 1024, label="output width m", fmt="{:g}"),
                     Slider("r", RANKS, 4, label="rank r", fmt="{:g}"),
                     Slider("n", WIDTHS, 1024, label="input width n", fmt="{:g}")],
                    compute, name="lora-plus-ratio-rules")


def sweep_heatmap(results: dict | None = None) -> Explorer:
    """Final error of the toy fine-tuning over (eta_A, ratio) for each width; `results` maps
    n -> array (len(SWEEP_RATIOS), len(SWEEP_LRS)) as returned by T.lora_sweep (computed when
    None, seed 0)."""
    if results is None:
        results = {n: T.lora_sweep(n, 4, SWEEP_LRS, SWEEP_RATIOS, seed=0) for n in SWEEP_WIDTHS}
    x = np.log10(SWEEP_LRS)
    y = np.log2(SWEEP_RATIOS)
    xe = np.concatenate([x - 0.125, [x[-1] + 0.125]])
    ye = np.concatenate([y - 0.5, [y[-1] + 0.5]])

    def compute(n: int) -> dict:
        z = np.log10(np.minimum(np.asarray(results[n], dtype=float), 10.0))
        best = np.unravel_index(np.argmin(z), z.shape)
        per_ratio = z.min(axis=1)
        return frame(
            panel(f"Where does the toy LoRA train best? (n = m = {n}, r = 4, B = 0 start, seed 0)", "log₁₀ η_A",
                  "log₂ (η_B / η_A)",
                  heatmap=heatmap(z, xe, ye, "log₁₀ final relative error", vmin=-2, vmax=0),
                  series=[scatter([x[best[1]]], [y[best[0]]], "best cell")],
                  hlines=[hline(float(np.log2(np.sqrt(n / 4))), "√(n/r)")]),
            panel("Best over η_A, for each ratio", "log₂ (η_B / η_A)", "log₁₀ final relative error",
                  series=[line(y, per_ratio, f"n = {n}")], ylim=(-2, 0)),
            text=f"n = {n}: best ratio {SWEEP_RATIOS[best[0]]:g} at η_A = {SWEEP_LRS[best[1]]:.3g}, "
                 f"error {10 ** z[best]:.3g}")
    return Explorer([Dropdown("n", list(SWEEP_WIDTHS), SWEEP_WIDTHS[0], label="width n = m")],
                    compute, name="lora-plus-sweep")


EXPLORERS = (ratio_rules, sweep_heatmap)
