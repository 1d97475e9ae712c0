"""Explorers of chapter diffusion/consistency-models: straight pairs, ODE paths, few-step maps.

No mathematics here: the teacher, its exact velocity, the consistency map and the Euler steps
come from :mod:`kexue.diffusion`; this module only lays their numbers out as frames.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from kexue import diffusion as D
from kexue._validate import check_grid, check_in_range, check_int_in, check_seed
from kexue.widgets import PALETTE, Explorer, Slider, frame, line, panel, scatter, vline


def crossing(n_paths: int = 10, times: Sequence[float] = (1.0, 0.8, 0.6, 0.4, 0.2),
             steps: Sequence[int] = (1, 2, 4, 8, 16), seed: int = 0) -> Explorer:
    """Straight pairs cross in (t, x), ODE paths do not; one exact jump vs Euler steps (1-D).

    Teacher: the two-mode 1-D mixture 0.5 N(-1, 0.2^2) + 0.5 N(1, 0.2^2). Left: in the (t, x) plane,
    the straight lines (1 - t) x0 + t x1 between noises x1 and independent data x0 (CT's targets
    sit on them; they meet at equal (t, x) with different ends: "one input, many targets") and the
    exact ODE paths from the same x1 (CD's targets follow them; they never meet). Right: the map
    from x1 to the data point, exact (the consistency map f*(., 1)) and by the teacher's Euler
    steps started at the ODE state at time t; the readout is their mean distance.
    """
    times = [check_in_range(t, 0.0, 1.0, name="times", lo_open=True) for t in check_grid(times, name="times")]
    steps = [check_int_in(k, 1, None, name="steps") for k in check_grid(steps, name="steps")]
    seed = check_seed(seed)
    n_paths = check_int_in(n_paths, 1, 40, name="n_paths")
    teacher = D.GaussianMixture([[-1.0], [1.0]], 0.2)
    rng = np.random.default_rng(seed)
    x1 = np.sort(rng.standard_normal(n_paths))[:, None]                    # (P, 1)
    x0 = teacher.sample(n_paths, rng)                                       # independent partners
    grid_x1 = np.linspace(-2.5, 2.5, 41)[:, None]
    both = np.concatenate([x1, grid_x1])
    exact, ts, traj = D.ode_consistency_map(teacher, both, 1.0, 60, return_trajectory=True)
    cache: dict = {}

    def euler(t, n):
        if (t, n) not in cache:
            i = int(np.argmin(np.abs(ts - t)))
            x = traj[i]
            grid = np.linspace(ts[i], 0.0, n + 1)
            for a, b in zip(grid[:-1], grid[1:]):
                x = x + (b - a) * D.reflow_velocity(teacher, x, a)
            cache[(t, n)] = (x, float(ts[i]))
        return cache[(t, n)]

    def compute(t: float, steps: int) -> dict:
        s = np.linspace(0.0, 1.0, 21)
        series = []
        for j in range(n_paths):
            lp = (1 - s) * x0[j, 0] + s * x1[j, 0]
            series += [line(s, lp, "straight pair (CT targets)" if j == 0 else "", color=PALETTE[1], dash=True),
                       line(ts, traj[:, j, 0], "ODE path (CD targets)" if j == 0 else "", color=PALETTE[0])]
        x_eu, t_start = euler(t, steps)
        n_steps = f"{steps} Euler step" + ("s" if steps > 1 else "")
        left = panel("Straight pairs meet at equal (t, x); ODE paths never do", "time t", "x",
                     series=series, vlines=[vline(t_start, f"t = {t_start:.2f}", color="#555555")],
                     xlim=[0, 1], ylim=[-3, 3])
        g = slice(n_paths, None)
        right = panel(f"x1 to data: the exact map vs {n_steps} from t = {t_start:.2f}", "noise x1", "data x0",
                      series=[line(grid_x1[:, 0], exact[g, 0], "consistency map f*(x1, 1)", color=PALETTE[0]),
                              scatter(grid_x1[:, 0], x_eu[g, 0], n_steps, color=PALETTE[2])],
                      xlim=[-2.5, 2.5], ylim=[-2, 2])
        gap = float(np.abs(x_eu[g, 0] - exact[g, 0]).mean())
        return frame(left, right, text=f"{n_steps} from t = {t_start:.2f}: mean |Euler − exact map| = {gap:.3f}")

    controls = [Slider("t", list(times), times[0], label="start time t", fmt="{:.1f}"),
                Slider("steps", list(steps), steps[0], label="Euler steps", fmt="{:d}")]
    return Explorer(controls, compute, name="consistency-crossing")


EXPLORERS = (crossing,)
