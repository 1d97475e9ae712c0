"""Explorers of chapter matrices/ssm-hippo: what a HiPPO memory remembers of a signal.

No mathematics here: the matrices, the ODE solver, the projections and the reconstructions
come from :mod:`kexue.matrices` (module ``hippo``); this module only lays them out as frames.
"""
from __future__ import annotations

import numpy as np

from kexue import matrices as M
from kexue._validate import check_int_in
from kexue.widgets import PALETTE, Dropdown, Explorer, Slider, bars, frame, line, panel, vline


def signal(t):
    """The chapter's test signal u(t) = sin 3t + 0.5 cos 7t + 0.3 t."""
    t = np.asarray(t, dtype=float)
    return np.sin(3 * t) + 0.5 * np.cos(7 * t) + 0.3 * t


#: (dropdown value, label, measure, scaling/boundary)
MEMORIES = (("legt", "LegT (window w)", "legt", "post"),
            ("legs", "LegS (all history)", "legs", "post"),
            ("fourier", "Fourier window (the post's)", "fourier", "post"),
            ("fourier-mean", "Fourier window (mean boundary)", "fourier", "mean"))
T_GRID = (1.5, 3.0, 4.5, 6.0, 8.0)
LEGS_T0 = 1e-3


def _shown(c) -> np.ndarray:
    """|c_n| with rounding-level entries (below 1e-8) shown as 0, so frames match on any CPU."""
    a = np.abs(np.asarray(c))
    return np.where(a < 1e-8, 0.0, a)


def memory(n_points: int = 60) -> Explorer:
    """Measure, state size N, window w and time T: the signal and what the memory's state
    reconstructs of it, next to the state's coefficients against the exact projections.

    The memory runs from t = 0 (LegS from 1e-3, with its exact state there) with u = 0 before 0.
    For the Fourier windows N is rounded to frequencies |n| <= N // 2 (state size 2(N//2)+1).
    """
    n_points = check_int_in(n_points, 2, None, name="n_points")
    kind = {v: (m, sc) for v, _, m, sc in MEMORIES}
    cache: dict = {}

    def states(memory_name: str, N: int, w: float):
        measure, scaling = kind[memory_name]
        size = N // 2 if measure == "fourier" else N
        key = (memory_name, N, None if measure == "legs" else w)
        if key not in cache:
            u = (lambda t: np.where(np.asarray(t) >= 0, signal(t), 0.0))
            if measure == "legs":
                X = M.simulate("legs", u, LEGS_T0, list(T_GRID), size)
            else:
                d = 2 * size + 1 if measure == "fourier" else size
                X = M.simulate(measure, u, 0.0, list(T_GRID), size, w, scaling, x0=np.zeros(d))
            cache[key] = (X, u, size)
        return cache[key]

    def compute(memory: str, N: int, w: float, T: float) -> dict:
        measure, _ = kind[memory]
        X, u, size = states(memory, N, w)
        x = X[list(T_GRID).index(T)]
        lo, hi = (0.0, 1.0) if measure == "fourier" else (-1.0, 1.0)
        s = np.linspace(lo, hi, n_points)
        t = M.window_map(measure, s, T, w)
        u_hat = M.reconstruct(x, s, measure)
        truth = u(t)
        err = float(np.sqrt(np.mean((u_hat - truth) ** 2)) / max(np.sqrt(np.mean(truth ** 2)), 1e-12))
        exact = M.project(u, T, size, measure, w)
        drift = float(np.abs(x - exact).max())
        drift_txt = "< 1e-8" if drift < 1e-8 else f"{drift:.2e}"      # rounding level: the bound
        label = dict((v, lab) for v, lab, _, _ in MEMORIES)[memory]
        left = panel(f"What does {label} remember at T = {T:g}?", "time t", "u(t)",
                     series=[line(t, truth, "signal u", color=PALETTE[7]),
                             line(t, u_hat, "reconstruction from the state", color=PALETTE[0],
                                  dash=True)],
                     vlines=[vline(T, "now", color=PALETTE[3])])
        idx = np.arange(x.size) - (size if measure == "fourier" else 0)
        right = panel("Is the state the exact projection?", "coefficient index n", "|c_n|",
                      series=[bars(idx, _shown(exact), "exact projection", color=PALETTE[1],
                                   fill=False),
                              bars(idx, _shown(x), "memory state", color=PALETTE[0], width=0.45)])
        text = (f"state size {x.size} · window [{t[0]:.2f}, {T:g}] · relative L2 error of the "
                f"reconstruction {err:.3f} · max |state − exact projection| {drift_txt}")
        return frame(left, right, text=text)

    controls = [Dropdown("memory", [v for v, _, _, _ in MEMORIES], "legt", label="memory",
                         names=[lab for _, lab, _, _ in MEMORIES]),
                Slider("N", [4, 8, 16, 32], 8, label="N", fmt="{:d}"),
                Slider("w", [0.5, 1.0, 2.0], 1.0, label="window w", fmt="{:g}"),
                Slider("T", list(T_GRID), 6.0, label="time T", fmt="{:g}")]
    return Explorer(controls, compute, name="ssm-hippo memory")


EXPLORERS = (memory,)
