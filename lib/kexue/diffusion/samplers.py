"""ODE and SDE samplers: Euler, Heun, midpoints and the AMED step (VE form), DDIM and DDPM (VP form).

Chapters amed-ode-sampling (VE samplers, call budgets), skip-tuning (the same samplers on a torch
U-Net) and snr-high-res-2 (DDIM / DDPM). The VE samplers only use ``+``, ``*`` and the denoiser,
so they run unchanged on torch tensors and return the kind they were given; the grids are numpy.
Every VE sampler returns ``(x_end, nfe)`` (and the trajectory if asked).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch

from .._validate import (as_float_array, check_choice, check_decreasing, check_finite_result,
                         check_instance, check_int_in, check_nonnegative, check_positive, check_values_in, is_tensor)
from .schedules import Denoiser, EpsModel, Schedule, cosine_alpha_beta, karras_sigmas

__all__ = ["slope", "afs_slope", "sample_euler", "sample_heun", "sample_midpoint", "sample_amed",
           "sample_euler_ancestral", "nfe",
           "reference_solution", "SOLVERS", "SOLVER_NAMES", "solve_at_budget", "ddim_sample",
           "ddpm_sample"]


def sigma_grid(sigmas) -> np.ndarray:
    """A VE grid as float64 numpy: strictly decreasing, > 0 except a last 0 (tensors accepted)."""
    s, torch_in = as_float_array(sigmas, name="sigmas", min_ndim=1, max_ndim=1)
    s = s.detach().double().cpu().numpy() if torch_in else s
    check_decreasing(s, name="sigmas")
    return check_values_in(s, 0, math.inf, name="sigmas")


def _inputs(fn, x, fn_name: str = "denoiser") -> None:
    """The checks every sampler makes once at its entry: a callable model and a finite x."""
    check_instance(fn, Callable, name=fn_name)
    as_float_array(x, name="x")


def slope(denoiser: Denoiser, x, sigma: float):
    """The probability-flow slope d(x, sigma) = dx/dsigma = (x - D(x, sigma)) / sigma (any array kind)."""
    _inputs(denoiser, x)
    return _slope(denoiser, x, check_positive(sigma, name="sigma"))


def _slope(denoiser: Denoiser, x, sigma: float):
    """:func:`slope` without the checks: the samplers' inner loops (checked once at entry)."""
    return (x - denoiser(x, sigma)) / sigma


def afs_slope(x, sigma: float):
    """Analytical first step (AFS): the slope at sigma_max replaced by x / sqrt(1 + sigma^2).

    Chapter amed-ode-sampling. Saves one model call: at large sigma, D(x, sigma) ~ E[x0] ~ 0.
    """
    as_float_array(x, name="x")
    return x / math.sqrt(1.0 + check_positive(sigma, name="sigma") ** 2)


def _run(step, x, sigmas: np.ndarray, return_trajectory: bool):
    traj = [x] if return_trajectory else None
    calls = 0
    for i in range(len(sigmas) - 1):
        x, c = step(i, x, float(sigmas[i]), float(sigmas[i + 1]))
        calls += c
        if return_trajectory:
            traj.append(x)
    check_finite_result(x, what="sampler output")
    if return_trajectory:
        stacked = torch.stack(traj) if is_tensor(x) else np.stack(traj)
        return x, calls, stacked
    return x, calls


def sample_euler(denoiser: Denoiser, x, sigmas, *, return_trajectory: bool = False):
    """Euler (= DDIM) on the probability-flow ODE: x_next = x + (sigma_next - sigma) d(x, sigma).

    Chapter amed-ode-sampling, eq. (Euler). First order, one call per step. Returns
    ``(x_end, nfe)`` (and the trajectory (steps+1, ...) if asked). numpy or torch.
    """
    _inputs(denoiser, x)
    sigmas = sigma_grid(sigmas)

    def step(i, x, s, s_next):
        return x + (s_next - s) * _slope(denoiser, x, s), 1
    return _run(step, x, sigmas, return_trajectory)


def sample_heun(denoiser: Denoiser, x, sigmas, *, return_trajectory: bool = False):
    """Heun (EDM Alg. 1): average the slopes at both ends, the far end Euler-predicted.

    Chapter amed-ode-sampling, eq. (Heun). Second order, two calls per step; a step to sigma = 0
    is a plain Euler step (as in EDM / k-diffusion).
    """
    _inputs(denoiser, x)
    sigmas = sigma_grid(sigmas)

    def step(i, x, s, s_next):
        d = _slope(denoiser, x, s)
        x_e = x + (s_next - s) * d
        if s_next == 0:
            return x_e, 1
        d2 = _slope(denoiser, x_e, s_next)
        return x + (s_next - s) * 0.5 * (d + d2), 2
    return _run(step, x, sigmas, return_trajectory)


def sample_euler_ancestral(denoiser: Denoiser, x, sigmas, *, seed: int = 0, eta: float = 1.0,
                           return_trajectory: bool = False):
    """Euler ancestral, an SDE sampler (k-diffusion ``sample_euler_ancestral``), VE form.

    Chapter skip-tuning (the SDE side of Su's sign rule):

        sigma_up = min(sigma_next, eta sqrt(sigma_next^2 (sigma^2 - sigma_next^2) / sigma^2)),
        sigma_down = sqrt(sigma_next^2 - sigma_up^2),
        x_next = x + (sigma_down - sigma) d(x, sigma) + sigma_up z,

    i.e. an Euler step of the ODE to sigma_down and fresh noise back up to sigma_next. eta = 0 is
    plain Euler. One call per step; z from a generator seeded by ``seed`` (torch in -> torch noise
    of x's dtype, numpy in -> numpy noise). Returns ``(x_end, nfe)`` (and the trajectory if asked).
    """
    _inputs(denoiser, x)
    sigmas = sigma_grid(sigmas)
    eta = check_nonnegative(eta, name="eta")
    seed = check_int_in(seed, 0, None, name="seed")
    if is_tensor(x):
        gen = torch.Generator().manual_seed(seed)

        def noise(shape):
            return torch.randn(shape, generator=gen, dtype=torch.float64).to(x.dtype)
    else:
        rng = np.random.default_rng(seed)

        def noise(shape):
            return rng.standard_normal(shape)

    def step(i, x, s, s_next):
        d = _slope(denoiser, x, s)
        if s_next == 0:
            return x + (s_next - s) * d, 1
        up = min(s_next, eta * math.sqrt(s_next ** 2 * (s ** 2 - s_next ** 2) / s ** 2))
        down = math.sqrt(s_next ** 2 - up ** 2)
        return x + (down - s) * d + up * noise(tuple(x.shape)), 1
    return _run(step, x, sigmas, return_trajectory)


def sample_midpoint(denoiser: Denoiser, x, sigmas, *, kind: str = "geometric", afs: bool = False,
                    return_trajectory: bool = False):
    """Midpoint solver: the slope at an interior time s_mid, Euler-predicted there.

    Chapter amed-ode-sampling. ``kind="geometric"`` (s_mid = sqrt(sigma sigma_next)) is
    DPM-Solver-2 / k-diffusion ``sample_dpm_2``; ``"arithmetic"`` uses the mean. Two calls per
    step (one less with ``afs``); a step to 0 is Euler.
    """
    check_choice(kind, ["geometric", "arithmetic"], name="kind")
    r = 0.5
    _inputs(denoiser, x)
    sigmas = sigma_grid(sigmas)
    n = len(sigmas) - 1
    if kind == "geometric":
        return sample_amed(denoiser, x, sigmas, [r] * n, [1.0] * n, afs=afs,
                           return_trajectory=return_trajectory)

    def step(i, x, s, s_next):
        d, c0 = (afs_slope(x, s), 0) if (afs and i == 0) else (_slope(denoiser, x, s), 1)
        if s_next == 0:
            return x + (s_next - s) * d, c0
        s_mid = 0.5 * (s + s_next)
        x_mid = x + (s_mid - s) * d
        return x + (s_next - s) * _slope(denoiser, x_mid, s_mid), c0 + 1
    return _run(step, x, sigmas, return_trajectory)


def sample_amed(denoiser: Denoiser, x, sigmas, r: Sequence[float], c: Sequence[float], *,
                afs: bool = False, return_trajectory: bool = False):
    """AMED step (approximate mean direction): one slope at a learned interior time.

        s_mid = sigma_next^r sigma^(1-r),  x_mid = x + (s_mid - sigma) d(x, sigma),
        x_next = x + c (sigma_next - sigma) d(x_mid, s_mid).

    Chapter amed-ode-sampling, eq. (AMED). r in (0, 1) per step (r = 1/2: DPM-Solver-2), c > 0 a
    learned scale. ``afs`` replaces the first slope by :func:`afs_slope`. A step to 0 is Euler.
    """
    _inputs(denoiser, x)
    sigmas = sigma_grid(sigmas)
    n = len(sigmas) - 1
    r_arr = np.asarray(as_float_array(r, name="r", max_ndim=1)[0], dtype=float)
    c_arr = np.asarray(as_float_array(c, name="c", max_ndim=1)[0], dtype=float)
    if r_arr.size != n:
        raise ValueError(f"r must have one entry per step ({n}), got {r_arr.size}")
    if c_arr.size != n:
        raise ValueError(f"c must have one entry per step ({n}), got {c_arr.size}")
    if not ((r_arr > 0) & (r_arr < 1)).all():
        raise ValueError("r must lie in (0, 1)")
    if not (np.isfinite(c_arr).all() and (c_arr > 0).all()):
        raise ValueError("c must be finite and > 0")

    return _run(_interior_step(denoiser, r_arr, c_arr, afs, plugin=False), x, sigmas, return_trajectory)


def _interior_step(denoiser, r_arr: np.ndarray, c_arr: np.ndarray, afs: bool, plugin: bool):
    """One step through the learned interior point s_mid = sigma_next^r sigma^(1-r): the AMED
    solver moves the whole step along d(x_mid, s_mid) from x; AMED-Plugin on Euler (``plugin``)
    moves only the rest of the step, from x_mid. A step to 0 is Euler. Returns (x_next, calls)."""
    def step(i, x, s, s_next):
        d, c0 = (afs_slope(x, s), 0) if (afs and i == 0) else (_slope(denoiser, x, s), 1)
        if s_next == 0:
            return x + (s_next - s) * d, c0
        s_mid = s_next ** r_arr[i] * s ** (1 - r_arr[i])
        x_mid = x + (s_mid - s) * d
        start, length = (x_mid, s_next - s_mid) if plugin else (x, s_next - s)
        return start + float(c_arr[i]) * length * _slope(denoiser, x_mid, s_mid), c0 + 1
    return step


def nfe(method: str, steps: int, afs: bool = False, to_zero: bool = False) -> int:
    """Model calls of a solver: Euler 1 per step, Heun/midpoint/AMED 2 (a last step to 0: 1; AFS: -1)."""
    check_choice(method, ["euler", "heun", "midpoint", "dpm2", "amed"], name="method")
    steps = check_int_in(steps, 1, None, name="steps")
    if method == "euler":
        return steps - (1 if afs else 0)
    total = 2 * steps - (1 if to_zero else 0) - (1 if afs else 0)
    return total


def reference_solution(denoiser: Denoiser, x, sigmas, substeps: int = 200,
                       return_trajectory: bool = False):
    """Near-exact ODE solution: ``substeps`` Heun steps inside every interval of ``sigmas``.

    Chapter amed-ode-sampling. The sub-grid is geometric in sigma within each interval (an interval
    ending at 0 gets an Euler step from its last sub-point, as in EDM). With return_trajectory the
    states at the points of ``sigmas`` are returned (len(sigmas), ...).
    """
    _inputs(denoiser, x)
    sigmas = sigma_grid(sigmas)
    substeps = check_int_in(substeps, 1, None, name="substeps")
    out = [x]
    for i in range(len(sigmas) - 1):
        a, b = float(sigmas[i]), float(sigmas[i + 1])
        if b > 0:
            sub = np.geomspace(a, b, substeps + 1)
        else:
            sub = np.append(np.geomspace(a, 1e-3 * a, substeps), 0.0)
        x, _ = sample_heun(denoiser, x, sub)
        out.append(x)
    if return_trajectory:
        return x, (torch.stack(out) if is_tensor(x) else np.stack(out))
    return x


SOLVERS = ("euler", "heun", "dpm2", "amed")


SOLVER_NAMES = {"euler": "Euler (DDIM)", "heun": "Heun (EDM)", "dpm2": "DPM-Solver-2 + AFS",
                 "amed": "AMED + AFS"}


def solve_at_budget(denoiser: Denoiser, x, budget: int, solver: str, *, sigma_min: float = 0.002,
                    sigma_max: float = 80.0, rho: float = 7.0, amed_params=None,
                    return_trajectory: bool = False):
    """Run a solver with at most ``budget`` model calls on the Karras grid; returns (x, nfe[, traj]).

    Chapter amed-ode-sampling. Euler takes ``budget`` steps; Heun ``budget // 2``; DPM-Solver-2 and
    AMED (both with AFS) ``(budget + 1) // 2`` steps, i.e. 2 steps - 1 calls. ``amed_params`` is the
    (r, c) pair from :func:`fit_amed` for that grid.
    """
    budget = check_int_in(budget, 1, None, name="budget")
    check_choice(solver, list(SOLVERS), name="solver")
    if solver == "euler":
        s = karras_sigmas(budget + 1, sigma_min, sigma_max, rho)
        return sample_euler(denoiser, x, s, return_trajectory=return_trajectory)
    if solver == "heun":
        if budget < 2:
            raise ValueError("budget must be >= 2 for heun")
        s = karras_sigmas(budget // 2 + 1, sigma_min, sigma_max, rho)
        return sample_heun(denoiser, x, s, return_trajectory=return_trajectory)
    steps = (budget + 1) // 2
    s = karras_sigmas(steps + 1, sigma_min, sigma_max, rho)
    if solver == "dpm2":
        return sample_midpoint(denoiser, x, s, afs=True, return_trajectory=return_trajectory)
    if amed_params is None:
        raise ValueError("amed_params must be given (r, c) for solver 'amed'")
    r, c = amed_params
    return sample_amed(denoiser, x, s, r, c, afs=True, return_trajectory=return_trajectory)


def time_grid(ts) -> np.ndarray:
    """A VP time grid as float64 numpy: strictly decreasing, in [0, 1], at least 2 points."""
    t = as_float_array(ts, name="ts", min_ndim=1, max_ndim=1)[0]
    t = t.detach().double().cpu().numpy() if is_tensor(t) else t
    return check_values_in(check_decreasing(t, name="ts"), 0, 1, name="ts")


def ddim_sample(eps_fn: EpsModel, x, ts, schedule: Schedule | None = None, *,
                return_trajectory: bool = False):
    """Deterministic DDIM: x_prev = alpha_prev x0_hat + beta_prev eps_hat (eta = 0).

    Chapter snr-high-res-2. ``eps_fn(x, t)`` predicts eps at continuous time t; ``schedule(t)`` gives
    (alpha_t, beta_t) (default: cosine). ``ts`` decreasing (e.g. from near 1 to 0). numpy or torch.
    """
    _inputs(eps_fn, x, "eps_fn")
    ts = time_grid(ts)
    sched = schedule or cosine_alpha_beta
    traj = [x]
    for t, t_prev in zip(ts[:-1], ts[1:]):
        a, b = sched(float(t))
        a_p, b_p = sched(float(t_prev))
        if a <= 0:
            raise ValueError("ts must avoid alpha_t = 0 (start the grid below t = 1 for cosine)")
        e = eps_fn(x, float(t))
        x0 = (x - b * e) / a
        x = a_p * x0 + b_p * e
        if return_trajectory:
            traj.append(x)
    check_finite_result(x, what="ddim_sample output")
    return (x, traj) if return_trajectory else x


def ddpm_sample(eps_fn: EpsModel, x, ts, rng: np.random.Generator | None = None,
                schedule: Schedule | None = None, *, noises: Sequence | None = None,
                variance: str = "posterior"):
    """Ancestral DDPM on a grid: x_prev = mean(x_t, x0_hat) + sigma z, z ~ N(0, I).

    Chapter snr-high-res-2. With the one-step forward kernel x_t = (a/a_p) x_prev + sqrt(v) z,
    v = b^2 - (a/a_p)^2 b_p^2, the posterior q(x_prev | x_t, x0_hat) has

        mean = a_p v / b^2 x0_hat + (a/a_p) b_p^2 / b^2 x_t,   sigma^2 = v b_p^2 / b^2  ("posterior"),

    the first of the two choices in Su's DDPM post; ``variance="upper"`` keeps the mean and uses
    sigma^2 = v, the other one. The noise z of step i is drawn from ``rng`` or, if ``noises`` is
    given, taken from ``noises[i]`` (one array per step, shaped like x): feeding a low-resolution
    run the pooled noise s D[z] of a high-resolution run is how the coarse closure is tested. numpy.
    """
    _inputs(eps_fn, x, "eps_fn")
    ts = time_grid(ts)
    check_choice(variance, ["posterior", "upper"], name="variance")
    if noises is None and rng is None:
        raise ValueError("rng must be a numpy Generator when noises is not given")
    if rng is not None:
        check_instance(rng, np.random.Generator, name="rng")
    if noises is not None and len(noises) != len(ts) - 1:
        raise ValueError(f"noises must hold one array per step ({len(ts) - 1}), got {len(noises)}")
    sched = schedule or cosine_alpha_beta
    for i, (t, t_prev) in enumerate(zip(ts[:-1], ts[1:])):
        a, b = sched(float(t))
        a_p, b_p = sched(float(t_prev))
        e = eps_fn(x, float(t))
        x0 = (x - b * e) / a
        # one-step forward kernel x_t = (a/a_p) x_prev + sqrt(b^2 - (a/a_p)^2 b_p^2) z
        ratio = a / a_p
        step_var = max(b * b - ratio * ratio * b_p * b_p, 0.0)
        post_var = step_var * b_p * b_p / (b * b) if variance == "posterior" else step_var
        mean = (a_p * step_var / (b * b)) * x0 + (ratio * b_p * b_p / (b * b)) * x
        if noises is None:
            z = rng.standard_normal(np.shape(x))
        else:
            z = np.asarray(noises[i], dtype=float)
            if z.shape != np.shape(x):
                raise ValueError(f"noises[{i}] must have the shape of x {np.shape(x)}, got {z.shape}")
        x = mean + math.sqrt(post_var) * z
    check_finite_result(x, what="ddpm_sample output")
    return x
