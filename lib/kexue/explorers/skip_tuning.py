"""Explorers of chapter diffusion/skip-tuning: rho_bottom and sampler over the committed sweep.

No mathematics here: the network (float64), the skip scaling, the samplers and the sweep come
from :mod:`kexue.diffusion`; this module only lays their numbers out as frames.
"""
from __future__ import annotations

import numpy as np
import torch

from kexue import diffusion as D
from kexue._validate import check_seed
from kexue.widgets import PALETTE, Dropdown, Explorer, Slider, frame, heatmap, hline, line, panel, scatter


def mosaic(x: np.ndarray, cols: int = 4) -> np.ndarray:
    """Tile images (n, 8, 8) into a grid with 1-pixel gaps, row 0 at the top (for a heatmap)."""
    rows = -(-len(x) // cols)
    out = np.full((9 * rows - 1, 9 * cols - 1), -1.0)            # gaps in the background value
    for k, im in enumerate(x):
        r, c = divmod(k, cols)
        out[9 * r:9 * r + 8, 9 * c:9 * c + 8] = im
    return out[::-1]


#: the samplers the explorer offers when the sweep has them (one of each kind and budget)
SHOWN = ("euler5", "euler10", "heun5", "ancestral10")


def skip_tuning(den: D.EDMDenoiser | None = None, sweep: dict | None = None, seed: int = 0) -> Explorer:
    """rho_bottom slider and sampler dropdown over a :func:`kexue.diffusion.skip_sweep` result.

    Left: the first 16 samples of the sweep's noise (the same for every rho), sampled here with
    the float64 network, as a 4 x 4 mosaic; right: FD against rho_bottom (the sweep's mean over
    its seeds) for the samplers in :data:`SHOWN` (all of the sweep's if it has none of them), the current point marked, and the real-vs-real floor. Defaults: the committed
    network (:func:`kexue.diffusion.load_pretrained`) and sweep (:func:`kexue.diffusion.load_sweep`).
    """
    seed = check_seed(seed)
    den = D.load_pretrained()[0] if den is None else den
    sweep = D.load_sweep() if sweep is None else sweep
    keys = list(sweep["fd"])
    samplers = list(dict.fromkeys(k[0] for k in keys))
    samplers = [sm for sm in SHOWN if sm in samplers] or samplers
    rhos = sorted(set(k[1] for k in keys))
    n = int(sweep.get("n", 1000))
    x_T = (80 * torch.randn((n, 1, 8, 8), generator=torch.Generator().manual_seed(seed)))[:16]
    edges = np.arange(36)

    def compute(sampler: str, rho: float) -> dict:
        with D.skip_tuning(den, rho):
            x = D.sample_digits(den, x_T, sampler)[:, 0].double().numpy()       # (16, 8, 8)
        name = D.SAMPLER_NAMES[sampler]
        left = panel(f"{name}, ρ_bottom = {rho:g}", "", "",
                     heatmap=heatmap(np.round(mosaic(x), 2), edges, edges, vmin=-1.0, vmax=1.0, cmap="gray_r",
                                     aspect="equal"),
                     legend=False)
        series = [line(rhos, [sweep["fd"][(sm, r)] for r in rhos], D.SAMPLER_NAMES[sm],
                       color=PALETTE[i], dash=sm != sampler) for i, sm in enumerate(samplers)]
        series.append(scatter([rho], [sweep["fd"][(sampler, rho)]], "", color="#000000"))
        right = panel("Fréchet distance (digit-classifier features) vs ρ_bottom", "ρ_bottom", "FD",
                      series=series, hlines=[hline(sweep["real"]["fd_floor"], "real vs real",
                                                   color="#999999")], yscale="log")
        txt = (f"{name}, ρ_bottom = {rho:g}: FD {sweep['fd'][(sampler, rho)]:.2f} "
               f"(real-vs-real floor {sweep['real']['fd_floor']:.2f}), TV {sweep['tv'][(sampler, rho)]:.3f} "
               f"(real {sweep['real']['tv']:.3f})")
        return frame(left, right, text=txt)

    controls = [Dropdown("sampler", samplers, samplers[0], label="sampler",
                         names=[D.SAMPLER_NAMES[s] for s in samplers]),
                Slider("rho", rhos, 1.0 if 1.0 in rhos else rhos[0], label="ρ_bottom", fmt="{:g}")]
    return Explorer(controls, compute, name="skip-tuning")


EXPLORERS = (skip_tuning,)
