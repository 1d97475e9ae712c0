"""AMED: per-step constants of the mean-value step fitted against a teacher; trajectory geometry.

Chapter amed-ode-sampling. :func:`fit_amed` distils the (r, c) of
:func:`kexue.diffusion.samplers.sample_amed`; :func:`trajectory_pca` and :func:`chord_deviation`
measure how straight the ODE paths are (why one slope per step can suffice). numpy.
"""
from __future__ import annotations

import numpy as np

from .._validate import as_float_array, as_float_ndarray, check_int_in, check_positive
from .samplers import Denoiser, afs_slope, reference_solution, sigma_grid, slope

__all__ = ["fit_amed", "trajectory_pca", "chord_deviation"]


def fit_amed(denoiser: Denoiser, x_train, sigmas, *, substeps: int = 200, r_grid: int = 49,
             c_bounds: tuple[float, float] = (0.9, 1.1), afs: bool = True):
    """Distil per-step AMED constants (r_n, c_n) against a teacher trajectory (numpy).

    Chapter amed-ode-sampling. Greedy, step by step: from the student's own state x_n, for each r on
    a grid in (0, 1) the best c is closed-form least squares,
    c = <h d_mid, x*_{n+1} - x_n> / ||h d_mid||^2, clipped to ``c_bounds``; keep the (r, c) with the
    smallest error to the teacher state x*_{n+1} (``substeps`` Heun steps per interval).
    Returns arrays (r, c) of length len(sigmas) - 1.
    """
    sigmas = sigma_grid(sigmas)
    x_train = as_float_ndarray(x_train, name="x_train", min_ndim=2)
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
        d = afs_slope(x, s) if (afs and i == 0) else slope(denoiser, x, s)
        target = teacher[i + 1] - x
        if s_next == 0:
            r_out.append(0.5), c_out.append(1.0)
            x = x + (s_next - s) * d
            continue
        best = None
        for r in rs:
            s_mid = s_next ** r * s ** (1 - r)
            step = (s_next - s) * slope(denoiser, x + (s_mid - s) * d, s_mid)
            c = float(np.clip((step * target).sum() / max((step * step).sum(), 1e-300), lo, hi))
            err = float(((c * step - target) ** 2).sum())
            if best is None or err < best[0]:
                best = (err, r, c, step)
        _, r, c, step = best
        r_out.append(float(r)), c_out.append(c)
        x = x + c * step
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
