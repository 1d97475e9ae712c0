"""AMED: per-step constants of the mean-value step fitted against a teacher; trajectory geometry.

Chapter amed-ode-sampling. :func:`fit_amed` distils the (r, c) of
:func:`kexue.diffusion.samplers.sample_amed`; :func:`trajectory_pca` and :func:`chord_deviation`
measure how straight the ODE paths are (why one slope per step can suffice). numpy.
"""
from __future__ import annotations

import numpy as np

from .._validate import as_float_array, as_float_ndarray, check_choice, check_int_in, check_positive
from .samplers import Denoiser, _inputs, _interior_step, _run, _slope, afs_slope, reference_solution, sigma_grid

__all__ = ["fit_amed", "sample_amed_plugin", "trajectory_pca", "chord_deviation"]


def sample_amed_plugin(denoiser: Denoiser, x, sigmas, r, c, *, afs: bool = False,
                       return_trajectory: bool = False):
    """AMED-Plugin on Euler: a learned extra grid point inside every step, two Euler steps.

        s_mid = sigma_next^r sigma^(1-r),  x_mid = x + (s_mid - sigma) d(x, sigma),
        x_next = x_mid + c (sigma_next - s_mid) d(x_mid, s_mid).

    Chapter amed-ode-sampling (the authors' ``euler_sampler`` with a predictor). Where the AMED
    solver uses the interior slope for the *whole* step from x, the plugin keeps the base solver
    (here Euler) and only learns where to put its extra point, and a scale c. Two calls per step
    (one less with ``afs``); a step to 0 is one Euler step. numpy or torch. Returns (x, nfe).
    """
    sigmas = sigma_grid(sigmas)
    n = len(sigmas) - 1
    r_arr = np.asarray(r, dtype=float).reshape(-1)
    c_arr = np.asarray(c, dtype=float).reshape(-1)
    if r_arr.size != n or not ((r_arr > 0) & (r_arr < 1)).all():
        raise ValueError(f"r must hold {n} values in (0, 1), got {r_arr.size}")
    if c_arr.size != n or not (np.isfinite(c_arr).all() and (c_arr > 0).all()):
        raise ValueError(f"c must hold {n} finite values > 0, got {c_arr.size}")

    return _run(_interior_step(denoiser, r_arr, c_arr, afs, plugin=True), x, sigmas, return_trajectory)


def fit_amed(denoiser: Denoiser, x_train, sigmas, *, substeps: int = 200, r_grid: int = 49,
             c_bounds: tuple[float, float] = (0.9, 1.1), afs: bool = True, kind: str = "solver"):
    """Distil per-step AMED constants (r_n, c_n) against a teacher trajectory (numpy).

    Chapter amed-ode-sampling. Greedy, step by step: from the student's own state x_n, for each r on
    a grid in (0, 1) the best c is closed-form least squares,
    c = <h d_mid, x*_{n+1} - x_n> / ||h d_mid||^2, clipped to ``c_bounds``; keep the (r, c) with the
    smallest error to the teacher state x*_{n+1} (``substeps`` Heun steps per interval).
    ``kind="plugin"`` fits :func:`sample_amed_plugin` instead (there c scales only the second
    Euler step: c = <g, x* - x_mid> / ||g||^2 with g = (sigma_next - s_mid) d_mid).
    Returns arrays (r, c) of length len(sigmas) - 1.
    """
    check_choice(kind, ["solver", "plugin"], name="kind")
    sigmas = sigma_grid(sigmas)
    x_train = as_float_ndarray(x_train, name="x_train", min_ndim=2)
    _inputs(denoiser, x_train, "denoiser")
    if not isinstance(c_bounds, (tuple, list)) or len(c_bounds) != 2:
        raise ValueError(f"c_bounds must be a pair (low, high), got {c_bounds!r}")
    r_grid = check_int_in(r_grid, 1, None, name="r_grid")
    lo, hi = (check_positive(c_bounds[0], name="c_bounds"), check_positive(c_bounds[1], name="c_bounds"))
    if lo > hi:
        raise ValueError(f"c_bounds must be (low, high) with low <= high, got {c_bounds}")
    _, teacher = reference_solution(denoiser, x_train, sigmas, substeps, return_trajectory=True)
    rs = (np.arange(r_grid) + 0.5) / r_grid
    x = x_train
    r_out, c_out = [], []
    for i in range(len(sigmas) - 1):
        s, s_next = float(sigmas[i]), float(sigmas[i + 1])
        d = afs_slope(x, s) if (afs and i == 0) else _slope(denoiser, x, s)
        target = teacher[i + 1] - x
        if s_next == 0:
            r_out.append(0.5), c_out.append(1.0)
            x = x + (s_next - s) * d
            continue
        best = None
        for r in rs:
            s_mid = s_next ** r * s ** (1 - r)
            x_mid = x + (s_mid - s) * d
            if kind == "solver":
                base, step = 0.0, (s_next - s) * _slope(denoiser, x_mid, s_mid)
            else:
                base, step = x_mid - x, (s_next - s_mid) * _slope(denoiser, x_mid, s_mid)
            resid = target - base
            c = float(np.clip((step * resid).sum() / max((step * step).sum(), 1e-300), lo, hi))
            err = float(((base + c * step - target) ** 2).sum())
            if best is None or err < best[0]:
                best = (err, r, c, base + c * step)
        _, r, c, move = best
        r_out.append(float(r)), c_out.append(c)
        x = x + move
    return np.array(r_out), np.array(c_out)


def trajectory_pca(traj) -> np.ndarray:
    """Explained-variance ratios (descending) of the points of a trajectory (T, d) (numpy).

    A batch (n, T, d) gives (n, d): one row per trajectory. Eigenvalues of the d x d scatter
    matrix of the centred points.
    """
    t, _ = as_float_array(traj, name="traj", min_ndim=2, max_ndim=3)
    if t.shape[-2] < 2:
        raise ValueError(f"traj must have at least 2 points, got shape {t.shape}")
    c = t - t.mean(-2, keepdims=True)
    var = np.clip(np.linalg.eigvalsh(np.swapaxes(c, -1, -2) @ c), 0, None)[..., ::-1]
    return var / np.maximum(var.sum(-1, keepdims=True), 1e-300)


def chord_deviation(traj) -> float:
    """Max distance of a trajectory (T, d) from the chord between its ends, over the chord length."""
    t, _ = as_float_array(traj, name="traj", min_ndim=2, max_ndim=2)
    a, b = t[0], t[-1]
    u = b - a
    length = float(np.linalg.norm(u))
    if length == 0:
        raise ValueError("traj must have distinct end points")
    u = u / length
    rel = t - a
    perp = rel - (rel @ u)[:, None] * u
    return float(np.linalg.norm(perp, axis=1).max() / length)
