"""Explorers of chapter probability/smooth-topk: the temperature slider over a score vector.

No mathematics here: the maps come from :mod:`kexue.probability`; this module only lays their
numbers out as frames.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from kexue import probability as P
from kexue._validate import as_float_array, check_positive
from kexue.widgets import PALETTE, Dropdown, Explorer, Slider, bars, frame, panel, vline

#: The chapter's score vector: ten standard-normal draws (seed 7).
SCORES = np.random.default_rng(7).normal(size=10)


def temperature(x: Any = SCORES, taus: Any | None = None) -> Explorer:
    """Method, k and tau over a fixed score vector x.

    Frame: bars of ST_k(x / tau) over the entries sorted by x (descending), the hard Top-k mask
    outlined, a dashed line where the threshold lambda falls among the sorted scores (threshold
    methods), and readouts sum(p), ||p - T_k(x)||_1 and lambda.
    """
    xs, _ = as_float_array(x, name="x", max_ndim=1)
    n = xs.size
    if n < 3:
        raise ValueError(f"x must have at least 3 entries for the explorer, got {n}")
    grid = np.round(np.logspace(-2, 1, 16), 4) if taus is None else np.asarray(taus, float)
    tau_list = [check_positive(float(t), name="taus") for t in grid]
    order = np.argsort(-xs, kind="stable")
    xsorted = xs[order]
    cache: dict = {}

    def over_grid(method: str, k: int):
        """Every tau of the grid in one batched call: rows of p and lambda (or None)."""
        if (method, k) not in cache:
            batch = xs[None, :] / np.asarray(tau_list)[:, None]             # (T, n)
            if method in P.METHOD_F:
                p, lam = P.thre_topk(batch, k, P.METHOD_F[method], return_lambda=True)
            else:
                p, lam = P.smooth_topk(batch, k, 1.0, method), None
            cache[(method, k)] = (np.asarray(p), lam)
        return cache[(method, k)]

    def compute(method: str, k: int, tau: float) -> dict:
        if tau in tau_list:
            rows, lams = over_grid(method, k)
            p = rows[tau_list.index(tau)][order]
            lam = None if lams is None else float(lams[tau_list.index(tau)])
        else:
            p = np.asarray(P.smooth_topk(xs, k, tau, method))[order]
            lam = (float(P.thre_topk_lambda(xs, k, P.METHOD_F[method], tau))
                   if method in P.METHOD_F else None)
        hard = P.hard_topk(xs, k, warn_ties=False)[order]
        pos = list(range(1, n + 1))
        vlines, lam_txt = [], ""
        if lam is not None:
            above = int((xsorted / tau > lam).sum())   # entries left of the line: x/tau > lambda
            vlines = [vline(above + 0.5, "λ falls here", color="#555555")]
            lam_txt = f" · λ = {lam:.3f}"
        text = (f"Σp = {p.sum():.4f} · ‖p − T_k‖₁ = {np.abs(p - hard).sum():.4f} · "
                f"max p = {p.max():.4f}{lam_txt}")
        pan = panel(f"{method}, k = {k}, τ = {tau:g}", "entries sorted by score (1 = largest)",
                    "p_i", series=[bars(pos, p, "smooth p", color=PALETTE[0]),
                                   bars(pos, hard, "hard Top-k", color=PALETTE[3], fill=False)],
                    vlines=vlines, ylim=[0, max(1.1, float(p.max()) * 1.05)])
        return frame(pan, text=text)

    controls = [
        Dropdown("method", list(P.TOPK_METHODS), "GradTopK", label="method"),
        Slider("k", list(range(1, n)), min(2, n - 1), label="k", fmt="{:d}"),
        Slider("tau", tau_list, tau_list[len(tau_list) // 2], label="τ", fmt="{:.3g}"),
    ]
    return Explorer(controls, compute, name="smooth-topk temperature")


EXPLORERS = (temperature,)
