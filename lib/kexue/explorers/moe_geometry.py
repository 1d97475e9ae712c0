"""Explorers of the chapter moe-geometry: when is "keep the largest norms" the best k experts?

No mathematics here: the numbers come from :mod:`kexue.moe.geometry`.
"""
from __future__ import annotations

import numpy as np

from kexue._validate import check_grid, check_int_in, check_seed
from kexue.moe import geometry as G
from kexue.widgets import PALETTE, Dropdown, Explorer, Slider, bars, frame, line, panel, scatter

N_TOY = 8


def norm_rule(dims=(2, 3, 8, 32, 128), seeds=(0, 1, 2, 3, 4)) -> Explorer:
    """Eight random experts in R^d: which k does the norm rule keep, which k are best?"""
    dims = [check_int_in(d, 1, None, name="dims") for d in check_grid(dims, name="dims")]
    seeds = [check_seed(s, name="seeds") for s in check_grid(seeds, name="seeds")]
    if 2 not in dims or 0 not in seeds:        # the sliders' defaults
        raise ValueError(f"dims must contain 2 and seeds 0 (the defaults), got {dims} and {seeds}")
    def compute(d: int, k: int, seed: int) -> dict:
        V = G.random_experts(1, N_TOY, int(d), seed=int(seed))[0]               # (8, d)
        norms = np.linalg.norm(V, axis=1)
        rule = G.topk_by_norm(V, int(k))
        best, e_best = G.best_subset(V, int(k))
        e_rule = float(G.subset_error(V, rule))
        xs = np.arange(N_TOY)
        in_rule = np.isin(xs, rule).astype(float)
        in_best = np.isin(xs, best).astype(float)
        ks = np.arange(1, N_TOY + 1)
        err_rule = [float(G.subset_error(V, G.topk_by_norm(V, j))) for j in ks]
        err_best = [float(G.best_subset(V, j)[1]) for j in ks]
        err_rand = [float(G.subset_error(np.repeat(V[None], 64, 0),
                                         G.random_subsets(N_TOY, j, 64, seed=int(seed))).mean())
                    for j in ks]
        p1 = panel(f"Which {k} of 8 experts to keep? (d = {d})", "expert i", "norm |v_i|",
                   series=[bars(xs, norms, "all experts", color="#999999"),
                           bars(xs, norms * in_rule, "kept by the norm rule", color=PALETTE[0]),
                           bars(xs, norms * in_best, "best subset (outline)", color=PALETTE[3],
                                fill=False)])
        p2 = panel("Relative error of keeping k experts", "k", "|kept sum - full sum| / |full sum|",
                   series=[line(ks, err_rule, "largest norms", color=PALETTE[0]),
                           line(ks, err_best, "best subset (brute force)", color=PALETTE[3], dash=True),
                           line(ks, err_rand, "random k (mean of 64)", color=PALETTE[1]),
                           scatter([k], [e_rule], "this k", color=PALETTE[0])],
                   ylim=(0, 1.05 * max(1.0, max(err_rand), max(err_rule))))
        mean_cos = float(np.abs(G.pairwise_cosines(V)).mean())
        text = (f"k = {k}: norm rule error {e_rule:.3f}, best {float(e_best):.3f} "
                f"(ratio {e_rule / max(float(e_best), 1e-12):.2f}); mean |cos| between experts "
                f"{mean_cos:.2f}")
        return frame(p1, p2, text=text)
    return Explorer([Slider("d", list(dims), 2, label="dimension d"),
                     Slider("k", list(range(1, N_TOY)), 3, label="experts kept k"),
                     Slider("seed", list(seeds), 0, label="draw")],
                    compute, name="moe-geometry-norm-rule")


def digits_errors(ns=(4, 8, 16)) -> Explorer:
    """The trained digits FFN split into n experts: error of k experts by oracle, router, random."""
    studies = {int(n): G.digits_expert_study(int(n)) for n in ns}

    def compute(n: int) -> dict:
        s = studies[int(n)]
        ks = s["ks"]
        ok = np.isfinite(s["best"])
        p = panel(f"Keeping k of n = {n} experts of a trained FFN", "experts kept k",
                  "mean relative error",
                  series=[line(ks, s["random"], "random k", color=PALETTE[1]),
                          line(ks, s["oracle"], "true largest norms", color=PALETTE[0]),
                          line(ks, s["router"], "linear router's top k", color=PALETTE[2],
                               dash=True),
                          line(ks, s["orthogonal_prediction"], "largest norms if orthogonal",
                               color=PALETTE[4], dash=True),
                          scatter(ks[ok], s["oracle_best_rows"][ok],
                                  f"largest norms, first {s['n_best_rows']} rows", color=PALETTE[0]),
                          scatter(ks[ok], s["best"][ok], f"best subset, same rows",
                                  color=PALETTE[3])],
                  ylim=(0, 1.0))
        text = (f"n = {n}: mean |cos| between experts {s['mean_abs_cos']:.2f}; router's top-1 "
                f"right on {s['router_top1_agreement']:.0%} of rows; at k = n/2 error "
                f"{s['oracle'][len(ks) // 2 - 1]:.2f} (largest norms) vs "
                f"{s['random'][len(ks) // 2 - 1]:.2f} (random)")
        return frame(p, text=text)
    return Explorer([Dropdown("n", list(ns), 16 if 16 in ns else ns[-1], label="experts n")], compute,
                    name="moe-geometry-digits")


EXPLORERS = (norm_rule, digits_errors)
