"""Explorers of the chapter low-rank-cr: how the overlap of the outer products decides whether
keeping the largest ones is optimal, and what a better core buys. The numbers come from
:mod:`kexue.matrices.lowrank_cr`; nothing is computed here but the layout."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from kexue.matrices import lowrank_cr as CR
from kexue.widgets import Dropdown, Explorer, Slider, bars, frame, line, panel, vline, PALETTE

SHAPE = (20, 12, 15)                       # X is 20 x 12, Y is 12 x 15: l = 12 outer products
COHERENCES = (0.0, 0.3, 0.5, 0.7, 0.85, 0.95)
RANKS = tuple(range(1, SHAPE[1]))


@lru_cache(maxsize=None)
def coherence_curves(coherence: float, signs: str = "equal", seed: int = 0) -> dict:
    """Relative errors ||.||_F / ||XY||_F for r = 1..l-1 (cached per coherence and signs)."""
    n, l, m = SHAPE
    X, Y = CR.coherent_factors(n, l, m, coherence, seed=seed, mixed_signs=(signs == "mixed"))
    ref = float(np.linalg.norm(X @ Y))
    p = CR.cr_sampling_probs(X, Y, "optimal")
    out = {"X": X, "Y": Y, "norms": CR.cr_outer_norms(X, Y), "best": {}, "top": {},
           "curves": {k: [] for k in ("optimum", "top-norm", "top-norm, diagonal core",
                                      "top-norm, full core", "sampled (expected)", "SVD floor")}}
    for r in RANKS:
        top = CR.cr_select_topnorm(X, Y, r)
        best, err = CR.cr_bruteforce(X, Y, r)
        out["best"][r], out["top"][r] = best, top
        c = out["curves"]
        c["optimum"].append(err / ref)
        c["top-norm"].append(CR.cr_error(X, Y, top) / ref)
        c["top-norm, diagonal core"].append(CR.cr_error(X, Y, top, "diag") / ref)
        c["top-norm, full core"].append(CR.cr_error(X, Y, top, "full") / ref)
        c["sampled (expected)"].append(np.sqrt(CR.cr_expected_sq_error(X, Y, p, r)) / ref)
        c["SVD floor"].append(CR.svd_floor(X @ Y, r) / ref)
    return out


def coherence() -> Explorer:
    """Error against r for every selection and core, as the outer products overlap more."""
    def compute(signs: str, coherence: float, r: int) -> dict:
        d = coherence_curves(coherence, signs)
        dashes = {"sampled (expected)": True, "SVD floor": True}
        series = [line(RANKS, ys, name, color=PALETTE[i], dash=dashes.get(name, False))
                  for i, (name, ys) in enumerate(d["curves"].items())]
        left = panel("Is keeping the largest outer products optimal?", "r (outer products kept)",
                     "‖CΛR − XY‖ / ‖XY‖", series=series, yscale="log", vlines=[vline(r, f"r = {r}")])
        idx = np.arange(SHAPE[1])
        kept = np.isin(idx, d["top"][r])
        best = np.isin(idx, d["best"][r])
        right = panel("Which outer products are kept?", "index i", "‖x_i‖ ‖y_i‖",
                      series=[bars(idx[kept], d["norms"][kept], "kept by top-norm", color=PALETTE[0]),
                              bars(idx[~kept], d["norms"][~kept], "dropped", color=PALETTE[5]),
                              bars(idx[best], d["norms"][best], "the optimum keeps", color=PALETTE[3],
                                   fill=False)])
        k = RANKS.index(r)
        c = d["curves"]
        same = bool(np.array_equal(d["top"][r], d["best"][r]))
        cos = f"{coherence ** 4:.3f}" if signs == "equal" else f"±{coherence ** 4:.3f}"
        text = (f"cos(v_i, v_j) = {cos} for i ≠ j; r = {r}: optimum {c['optimum'][k]:.3f}, "
                f"top-norm {c['top-norm'][k]:.3f} ({'the same set' if same else 'a different set'}), "
                f"diagonal core {c['top-norm, diagonal core'][k]:.3f}, full core {c['top-norm, full core'][k]:.3f}, "
                f"SVD floor {c['SVD floor'][k]:.3f}")
        return frame(left, right, text=text)

    return Explorer([Dropdown("signs", ["equal", "mixed"], "mixed", label="overlaps",
                              names=["all of one sign", "mixed signs"]),
                     Slider("coherence", COHERENCES, 0.5, label="coherence c", fmt="{:.2f}"),
                     Slider("r", RANKS, 4, label="r", fmt="{:d}")], compute, name="low-rank-cr-coherence")


EXPLORERS = (coherence,)
