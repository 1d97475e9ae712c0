"""Explorers of chapter probability/softmax-alternatives: the distribution zoo.

No mathematics here: the maps come from :mod:`kexue.probability` (``zoo_map``); this module
only lays their numbers out as frames.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from kexue import probability as P
from kexue._validate import as_float_array, check_grid, check_in_range, check_int_in, check_positive
from kexue.widgets import PALETTE, Dropdown, Explorer, Slider, bars, frame, panel

#: Display names of the maps of :data:`kexue.probability.ZOO_MAPS`.
LABELS = {"softmax": "softmax", "taylor": "Taylor softmax (k=2)",
          "sparse_softmax": "Sparse Softmax (top k)", "perturb_normal": "Gaussian perturb-max",
          "sparsemax": "sparsemax", "entmax": "entmax-α"}


def distribution_zoo(x: Any = (2.0, 1.4, 1.0, 0.6, 0.2, -0.3, -0.8, -1.5),
                     taus: Any = (0.25, 0.5, 1.0, 2.0, 4.0),
                     alphas: Any = (1.25, 1.5, 1.75, 2.0), ks: Any = (2, 3, 5)) -> Explorer:
    """Map, tau, alpha, k -> bars with support size and entropy.

    alpha only matters for entmax, k only for Sparse Softmax; the bars are the map of x / tau,
    with softmax's as outlines for comparison.
    """
    xs, _ = as_float_array(x, name="x", min_ndim=1, max_ndim=1)
    xs = np.sort(np.asarray(xs))[::-1]
    taus = [check_positive(t, name="taus") for t in check_grid(taus, name="taus")]
    alphas = [check_in_range(a, 1.0, 2.0, name="alphas") for a in check_grid(alphas, name="alphas")]
    ks = [check_int_in(k, 1, xs.size, name="ks") for k in check_grid(ks, name="ks")]

    def compute(name: str, tau: float, alpha: float, k: int) -> dict:
        p = P.zoo_map(xs, name, tau, alpha, k)
        ref = P.softmax(xs / tau)
        pos = list(range(1, xs.size + 1))
        nz = p[p > 0]
        ent = float(-(nz * np.log(nz)).sum())
        pan = panel(f"{LABELS[name]} of x/τ, τ = {tau:g}", "logit rank (x sorted, largest first)",
                    "p_i", series=[bars(pos, p, LABELS[name], color=PALETTE[0]),
                                   bars(pos, ref, "softmax", color=PALETTE[3], fill=False)],
                    ylim=[0, 1.02])
        text = (f"support {int((p > 0).sum())} of {xs.size} · entropy {ent:.3f} · "
                f"1 − Σp² = {1 - float((p ** 2).sum()):.3f} · max p = {p.max():.3f}")
        return frame(pan, text=text)

    controls = [Dropdown("name", list(P.ZOO_MAPS), "sparsemax", label="map",
                         names=[LABELS[m] for m in P.ZOO_MAPS]),
                Slider("tau", taus, 1.0 if 1.0 in taus else taus[0], label="τ", fmt="{:g}"),
                Slider("alpha", alphas, alphas[len(alphas) // 2], label="α (entmax)", fmt="{:g}"),
                Slider("k", ks, ks[len(ks) // 2], label="k (Sparse Softmax)", fmt="{:d}")]
    return Explorer(controls, compute, name="distribution zoo")


EXPLORERS = (distribution_zoo,)
