"""Explorers of chapter diffusion/sid-distillation-1: the SiD identities on a Gaussian student.

No mathematics here: the closed forms and the Monte Carlo estimates come from
:mod:`kexue.diffusion.sid`; this module lays them out as frames.
"""
from __future__ import annotations

import math

import numpy as np

from kexue import diffusion as D
from kexue._validate import check_seed
from kexue.widgets import PALETTE, Explorer, Slider, bars, frame, hline, line, panel, vline

#: Data N(MU, S^2 I) and the student's offset B: the chapter's Gaussian example.
MU, S, B = (1.0, -0.5), 0.7, (0.2, 0.4)
LOSS_NAMES = ("L1", "L2", "L3", "L4")


def identities(seed: int = 0) -> Explorer:
    """Left: Monte Carlo estimates of the four equal-valued losses minus the closed-form L1, with
    +-2 standard errors, for the affine student a z + b at time t with N samples. Middle: the
    closed-form L1 against the scale a. Right: the two derivatives of E|psi*|^2 (psi* following
    the student, or frozen) against a."""
    seed = check_seed(seed)
    a_grid = np.linspace(0.2, 2.0, 46)

    def compute(a: float, t: float, n: int) -> dict:
        alpha, beta = math.cos(math.pi * t / 2), math.sin(math.pi * t / 2)
        mc = D.gaussian_sid_mc(a, B, MU, S, alpha, beta, n=int(n), seed=seed)
        cf = D.gaussian_sid_L1(a, B, MU, S, alpha, beta)
        diff = [mc[k] - cf for k in LOSS_NAMES]
        err = [2 * mc["se_" + k] for k in LOSS_NAMES]
        left = panel(f"Do the rewrites estimate the same number? (N = {int(n):,})", "loss",
                     "Monte Carlo minus closed-form L1",
                     series=[bars([0, 1, 2, 3], diff, "MC - closed form", color=PALETTE[0])]
                     + [line([i, i], [d - e, d + e], "±2 standard errors" if i == 0 else "", color=PALETTE[3])
                        for i, (d, e) in enumerate(zip(diff, err))],
                     hlines=[hline(0.0, "", color=PALETTE[7])],
                     xticks=([0, 1, 2, 3], list(LOSS_NAMES)))
        L1 = [D.gaussian_sid_L1(x, B, MU, S, alpha, beta) for x in a_grid]
        gr = np.array([D.gaussian_psi_sq_grads(x, alpha, beta, 2) for x in a_grid])
        middle = panel("L1 against the student's scale", "student scale a", "L1 (closed form)",
                       series=[line(a_grid, L1, "L1", color=PALETTE[0])],
                       vlines=[vline(a, f"a = {a:.2f}"), vline(S, "data std", color=PALETTE[5])])
        right = panel("Which way does the |psi|^2 term push a?", "student scale a", "d/da E|psi|^2",
                      series=[line(a_grid, gr[:, 0], "psi follows the student", color=PALETTE[2]),
                              line(a_grid, gr[:, 1], "psi frozen", color=PALETTE[3], dash=True)],
                      vlines=[vline(a, f"a = {a:.2f}")], hlines=[hline(0.0, "", color=PALETTE[7])])
        text = (f"closed-form L1 = {cf:.4f};  MC: " + ", ".join(f"{k} = {mc[k]:.4f}" for k in LOSS_NAMES)
                + f";  E|psi|^2 = {mc['psi_sq']:.4f}, E<psi, eps> = {mc['cross']:.4f}")
        return frame(left, middle, right, text=text)

    return Explorer([Slider("a", [0.3, 0.7, 1.0, 1.3, 2.0], 1.3, "student scale a", fmt="{:.1f}"),
                     Slider("t", [0.1, 0.3, 0.5, 0.7, 0.9], 0.5, "time t", fmt="{:.1f}"),
                     Slider("n", [100, 1000, 10000], 10000, "Monte Carlo N", fmt="{:,}")],
                    compute, name="sid-distillation-1-identities")


EXPLORERS = (identities,)
