"""Explorers of the chapter attention-scale: the mean-field and Monte-Carlo objectives against the
scale, and the attention weights at that scale. The numbers come from :mod:`kexue.attention.scale`."""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from kexue import attention as A
from kexue._validate import check_grid, check_int_in, check_positive, check_seed
from kexue.widgets import PALETTE, Dropdown, Explorer, Slider, bars, frame, hline, line, panel, vline

__all__ = ["EXPLORERS", "SCORE_CHOICES", "scale"]

#: the explorer's score distributions: key -> (label, dist, d)
SCORE_CHOICES = {"normal": ("Gaussian scores", "normal", None),
                 "cos32": ("cosine, d = 32", "cosine", 32),
                 "cos64": ("cosine, d = 64", "cosine", 64),
                 "cos128": ("cosine, d = 128", "cosine", 128),
                 "cos256": ("cosine, d = 256", "cosine", 256)}


@lru_cache(maxsize=64)
def _curves(key: str, n: int, n_alpha: int, budget: int, seed: int):
    """alpha*, the alpha grid, the mean-field curve and the Monte-Carlo curve (cached per state)."""
    _, dist, d = SCORE_CHOICES[key]
    a_star = A.optimal_scale(n, dist, d)
    grid = np.linspace(0.0, 4.0 * a_star, n_alpha)
    approx = A.approx_objective(grid, n, dist, d)
    trials = max(16, budget // n)
    mc, se = A.mc_objective(grid, n, dist, d, trials=trials, seed=seed)
    return a_star, grid, approx, mc, se, trials


def scale(n_values: Sequence[int] = (64, 256, 1024, 4096, 16384),
          ratios: Sequence[float] = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0), *,
          n_alpha: int = 33, budget: int = 1 << 16, seed: int = 0) -> Explorer:
    """The attention-scale explorer: score distribution (Gaussian / cosine with d), n and alpha.

    Left panel: the mean-field objective (:func:`kexue.attention.approx_objective`) and the
    Monte-Carlo exact objective (:func:`kexue.attention.mc_objective`, +-2 standard errors)
    against alpha, with alpha* and the current alpha marked. Right panel: the 20 largest p_i of
    one sampled score vector at the current alpha (uniform -> peaked -> one-hot). alpha is set
    as a multiple of alpha*(n), so one slider serves both distributions.
    """
    ns = [check_int_in(v, 2, None, name="n_values") for v in check_grid(n_values, name="n_values")]
    rs = [check_positive(r, name="ratios") for r in check_grid(ratios, name="ratios")]
    n_alpha = check_int_in(n_alpha, 2, None, name="n_alpha")
    budget = check_int_in(budget, 1, None, name="budget")
    seed = check_seed(seed)

    def compute(dist: str, n: int, ratio: float) -> dict:
        label, kind, d = SCORE_CHOICES[dist]
        a_star, grid, approx, mc, se, trials = _curves(dist, n, n_alpha, budget, seed)
        alpha = ratio * a_star
        s = A.sample_scores(n, kind, d, trials=1, seed=seed + 1)[0]
        p = np.sort(A.scaled_softmax(s, alpha))[::-1]
        top = p[:20]
        top_y = float(max(mc.max(), approx.max()))
        lo = -0.5 * top_y                      # the mean field dives far below 0: clip the plot
        curves = panel(
            f"Is alpha* = {a_star:.3g} the best scale? ({label}, n = {n})",
            "alpha (multiplies the score)", "0.5 ||dp/ds||_1",
            series=[line(grid, np.maximum(approx, lo), "mean-field approximation (clipped below)",
                         color=PALETTE[0]),
                    line(grid, mc, f"Monte Carlo ({trials} draws)", color=PALETTE[3]),
                    line(grid, mc + 2 * se, "MC +-2 s.e.", color=PALETTE[3], dash=True),
                    line(grid, np.maximum(mc - 2 * se, lo), "", color=PALETTE[3], dash=True)],
            vlines=[vline(a_star, "alpha* (mean field)", color=PALETTE[0]),
                    vline(alpha, "current alpha", color="#555555", dash=False)],
            hlines=[hline(0.0, "", color="#999999", dash=False)],
            ylim=[lo, 1.15 * top_y])
        weights = panel(f"softmax(alpha s) at alpha = {alpha:.3g}: the 20 largest p_i",
                        "rank of the score", "p_i",
                        series=[bars(range(1, top.size + 1), top, "p_i (one draw)", color=PALETTE[2])],
                        hlines=[hline(1.0 / n, "uniform 1/n", color="#555555")], ylim=[0, 1.05])
        eff = f" · effective scale on q·k: {alpha:.3g}/√d" if kind == "normal" else \
            f" · scale on cos(q, k): {alpha:.3g}"
        mean_field = float(A.approx_objective(alpha, n, kind, d))
        text = (f"alpha = {alpha:.3g} ({ratio:g} alpha*) · mean field {mean_field:.4g}"
                f" · this draw: sum p² = {float(A.collision_probability(p)):.3f}, max p = {p[0]:.3f}{eff}")
        return frame(curves, weights, text=text)

    controls = [Dropdown("dist", list(SCORE_CHOICES), "normal", label="scores",
                         names=[v[0] for v in SCORE_CHOICES.values()]),
                Slider("n", ns, ns[len(ns) // 2], label="n (keys)", fmt="{:d}"),
                Slider("ratio", rs, 1.0 if 1.0 in rs else rs[0], label="alpha / alpha*", fmt="{:g}")]
    return Explorer(controls, compute, name="attention scale")


EXPLORERS = (scale,)
