"""Explorers of chapter diffusion/sid-distillation-2: SiD's weight lambda seen through gradients.

No mathematics here: the closed-form gradients, the time-averaged scale field and the critical
lambda come from :mod:`kexue.diffusion.sid_lambda`; this module lays them out as frames.
"""
from __future__ import annotations

import math

import numpy as np

from kexue import diffusion as D
from kexue.widgets import PALETTE, Explorer, Slider, bars, frame, hline, line, panel, vline

#: The chapter's Gaussian example: data N(MU, S^2 I), student offset B, one noise level.
MU, S, B, ALPHA, BETA = (1.0, -0.5), 0.7, (0.2, 0.4), 0.8, 0.6
COMPONENTS = ("d/da", "d/db1", "d/db2")
LAMS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.1, 1.2, 1.35, 1.5, 2.0)


def lambda_gradients() -> Explorer:
    """Left: the true gradient of L1 against 2 x grad(L2sg - lam L1sg) for the affine student a z + B
    at one noise level (they coincide at lam = 1/2). Middle: the cosine between the two against lam.
    Right: the scale component of the expected gradient, averaged over t ~ U[0.02, 0.98], against
    the student's scale; where it is negative, descent makes the student wider."""
    lam_grid = np.linspace(0.0, 2.0, 81)
    a_grid = np.linspace(0.3, 4.0, 75)

    def compute(lam: float, a: float) -> dict:
        g = D.gaussian_sid_grads(a, B, MU, S, ALPHA, BETA)
        sur = 2 * D.lambda_grad(g, lam)
        x = np.arange(3.0)
        left = panel(f"Is 2 grad(L2sg - {lam:g} L1sg) the true gradient? (a = {a:g})", "component",
                     "gradient", series=[bars(x - 0.2, g["L1"], "true grad L1", color=PALETTE[0], width=0.38),
                                         bars(x + 0.2, sur, f"2 grad(L2sg - {lam:g} L1sg)", color=PALETTE[3],
                                              width=0.38)],
                     hlines=[hline(0.0, "", color=PALETTE[7])], xticks=(list(x), list(COMPONENTS)))
        cos = [D.lambda_cosine(g, v) for v in lam_grid]
        middle = panel("Which lambda points where the true gradient does?", "lambda",
                       "cosine with the true gradient",
                       series=[line(lam_grid, cos, "cosine", color=PALETTE[0])],
                       vlines=[vline(lam, f"lambda = {lam:g}"), vline(0.5, "FGM: 1/2", color=PALETTE[2])])
        field = [D.scale_field(v, S, lam) for v in a_grid]
        lam_c = D.critical_lambda(a, S)
        vl = [vline(S, "data std", color=PALETTE[5]), vline(a, f"a = {a:g}")]
        right = panel(f"Does descent pull the scale back? (lambda = {lam:g})", "student scale a",
                      "E_t d/da (L2sg - lambda L1sg) per dim",
                      series=[line(a_grid, field, "expected scale gradient", color=PALETTE[0])],
                      vlines=vl, hlines=[hline(0.0, "", color=PALETTE[7])])
        lc = "none (a <= data std)" if math.isinf(lam_c) else f"{lam_c:.3f}"
        text = (f"true grad L1 = [{', '.join(f'{v:.4f}' for v in g['L1'])}];  "
                f"2 grad(L2sg - lam L1sg) = [{', '.join(f'{v:.4f}' for v in sur)}];  "
                f"cosine {D.lambda_cosine(g, lam):.4f};  largest lambda that pulls scale {a:g} back: {lc}")
        return frame(left, middle, right, text=text)

    return Explorer([Slider("lam", list(LAMS), 1.0, "lambda", fmt="{:g}"),
                     Slider("a", [0.5, 0.7, 1.0, 1.3, 2.0, 3.0], 1.3, "student scale a", fmt="{:g}")],
                    compute, name="sid-distillation-2-lambda")


EXPLORERS = (lambda_gradients,)
