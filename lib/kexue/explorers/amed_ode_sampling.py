"""Explorers of chapter diffusion/amed-ode-sampling: solver and call budget on a 2-D teacher.

No mathematics here: the teacher, the solvers, the AMED fit and the errors come from
:mod:`kexue.diffusion`; this module only lays their numbers out as frames.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from kexue import diffusion as D
from kexue._validate import check_grid, check_int_in, check_seed
from kexue.widgets import (PALETTE, Dropdown, Explorer, Slider, frame, line, panel, scatter,
                           vline)


def solvers(n_samples: int = 150, n_paths: int = 6,
            budgets: Sequence[int] = (3, 4, 5, 6, 8, 10, 16), seed: int = 0) -> Explorer:
    """Solver and call budget on the 2-D ring-of-8 teacher.

    Left: samples of the chosen solver (held-out noise) over the exact ODE endpoints. Middle: a
    few trajectories in scaled coordinates x / sqrt(1 + sigma^2) (so the start is a unit
    Gaussian), exact path vs the solver's polyline. Right: RMS endpoint error of every solver
    against the budget. AMED's constants are fitted per budget on separate training noises.
    """
    n_samples = check_int_in(n_samples, 10, 2000, name="n_samples")
    n_paths = check_int_in(n_paths, 1, 20, name="n_paths")
    budgets = [check_int_in(b, 3, 60, name="budgets") for b in check_grid(budgets, name="budgets")]
    gm = D.ring_mixture(8, 1.0, 0.1)
    rng = np.random.default_rng(check_seed(seed))
    x_train = 80 * rng.standard_normal((300, 2))
    x_test = 80 * rng.standard_normal((n_samples, 2))
    fine = D.karras_sigmas(61)                    # 61 display points per exact path (small JSON)
    ref_end, ref_traj = D.reference_solution(gm, x_test, fine, substeps=20, return_trajectory=True)
    scale = 1 / np.sqrt(1 + fine ** 2)
    fits: dict = {}
    errors: dict = {}

    def params(b):
        if b not in fits:
            fits[b] = D.fit_amed(gm, x_train, D.karras_sigmas((b + 1) // 2 + 1), substeps=50, r_grid=25)
        return fits[b]

    def run(solver, b):
        return D.solve_at_budget(gm, x_test, b, solver, amed_params=params(b) if solver == "amed" else None,
                                 return_trajectory=True)

    def err(solver, b):
        if (solver, b) not in errors:
            errors[(solver, b)] = D.rms_error(run(solver, b)[0], ref_end)
        return errors[(solver, b)]

    def compute(solver: str, budget: int) -> dict:
        x_end, calls, traj = run(solver, budget)
        grid = {"euler": D.karras_sigmas(budget + 1), "heun": D.karras_sigmas(budget // 2 + 1)}.get(
            solver, D.karras_sigmas((budget + 1) // 2 + 1))
        sc = 1 / np.sqrt(1 + grid ** 2)
        paths = []
        for j in range(n_paths):
            color = PALETTE[j % len(PALETTE)]
            paths += [line(ref_traj[:, j, 0] * scale, ref_traj[:, j, 1] * scale,
                           "exact path" if j == 0 else "", color="#bbbbbb"),
                      line(traj[:, j, 0] * sc, traj[:, j, 1] * sc, "solver" if j == 0 else "",
                           color=color, dash=True),
                      scatter(traj[:, j, 0] * sc, traj[:, j, 1] * sc, "", color=color)]
        name = D.SOLVER_NAMES[solver]
        left = panel(f"{name}: {calls} model calls", "x₁", "x₂", series=[
            scatter(ref_end[:, 0], ref_end[:, 1], "exact ODE endpoints", color="#999999"),
            scatter(x_end[:, 0], x_end[:, 1], "solver", color=PALETTE[0])], xlim=[-2, 2], ylim=[-2, 2])
        curves = []
        for i, sv in enumerate(D.SOLVERS):
            bs = [b for b in budgets if not (sv == "heun" and b < 4)]
            curves.append(line(bs, [err(sv, b) for b in bs], D.SOLVER_NAMES[sv], color=PALETTE[i],
                               dash=sv != solver))
        right = panel("RMS endpoint error vs call budget", "model calls (budget)", "RMS error",
                      series=curves, vlines=[vline(budget, "", color="#555555")],
                      xscale="log", yscale="log", xticks=(budgets, [str(b) for b in budgets]))
        mid = panel("Trajectories, scaled x/√(1+σ²)", "x₁ / √(1+σ²)", "x₂ / √(1+σ²)",
                    series=paths, xlim=[-2.5, 2.5], ylim=[-2.5, 2.5])
        return frame(left, mid, right, text=f"{name} · {calls} calls · RMS error to the exact endpoint "
                                            f"{err(solver, budget):.3f}")

    controls = [Dropdown("solver", list(D.SOLVERS), "amed", label="solver",
                         names=[D.SOLVER_NAMES[s] for s in D.SOLVERS]),
                Slider("budget", budgets, 5 if 5 in budgets else budgets[0], label="model calls",
                       fmt="{:d}")]
    return Explorer(controls, compute, name="amed-solvers")


EXPLORERS = (solvers,)
