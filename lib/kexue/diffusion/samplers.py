"""The diffusion toolkit: exact teachers, noise schedules, samplers, AMED, upsample guidance.

Shared by every chapter of the part "Diffusion". No pretrained network can be downloaded, so the
book studies diffusion with *exact teachers*: data whose optimal denoiser E[x0 | x_t] is closed
form, so that solver, schedule and guidance errors are measured against the truth.

Conventions
-----------
* **VE / EDM form** (chapters amed-ode-sampling, skip-tuning): x_sigma = x0 + sigma * eps. A
  *denoiser* is a callable ``denoiser(x, sigma) -> D`` returning E[x0 | x_sigma = x]; the
  probability-flow ODE is dx/dsigma = (x - D(x, sigma)) / sigma.
* **VP form** (chapters snr-high-res-1/2): x_t = alpha_t x0 + beta_t eps with alpha^2 + beta^2 = 1;
  log-SNR l = log(alpha^2 / beta^2). The two forms are linked by x_VE = x_VP / alpha,
  sigma = beta / alpha (:func:`vp_to_ve`).
* numpy everywhere except where stated; the samplers only use ``+``, ``*`` and the denoiser, so
  they run unchanged on torch tensors (the skip-tuning chapter samples a torch U-Net with them)
  and return the kind they were given.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from ._validate import (as_float_array, check_choice, check_finite_result, check_in_range,
                        check_int_in, check_positive, check_real, is_tensor)

Denoiser = Callable[[object, float], object]

__all__ = [
    # teachers
    "GaussianMixture", "IsotropicGaussian", "ring_mixture", "random_mixture", "vp_to_ve",
    # grids and samplers
    "karras_sigmas", "sample_euler", "sample_heun", "sample_midpoint", "sample_amed",
    "reference_solution", "fit_amed", "nfe", "trajectory_pca", "chord_deviation",
    "rms_error", "afs_slope",
    # schedules
    "logsnr_cosine", "alpha_sigma_from_logsnr", "shift_logsnr", "shifted_cosine",
    "linear_beta_alphas_cumprod", "cosine_alphas_cumprod", "logsnr_from_alphas_cumprod",
    "shift_alphas_cumprod", "rf_shift_sigmas", "rf_unshift_sigmas", "snr_match_time",
    # images
    "avg_pool", "nearest_upsample", "gp_spectrum", "sample_gp", "pooled_variance_fraction",
    "pooled_spectrum", "coarse_mmse", "multiscale_loss", "wiener_eps", "radial_power_spectrum",
    # VP samplers and upsample guidance
    "ddim_sample", "ddpm_sample", "ug_rho", "upsample_guidance_eps", "ug_weight",
    "lowres_kernel_on_highres", "gp_lowres_model", "gp_highres_model", "band_log_ratio", "gp_ug_samples",
    # widgets
    "solve_at_budget", "amed_explorer", "base_logsnr", "snr_schedule_explorer", "upsample_guidance_explorer",
]


# ============================================================================================
# Exact teachers
# ============================================================================================

def _check_sigma(sigma, name: str = "sigma") -> float:
    return check_positive(float(sigma) if isinstance(sigma, np.floating) else sigma, name=name)


class GaussianMixture:
    """Isotropic Gaussian mixture  p(x0) = sum_k w_k N(mu_k, s_k^2 I)  with an exact denoiser.

    Chapter amed-ode-sampling. In VE form x_sigma = x0 + sigma eps, component k of x_sigma is
    N(mu_k, (s_k^2 + sigma^2) I), so the posterior responsibilities gamma_k(x) are a softmax of
    log w_k - d/2 log(s_k^2 + sigma^2) - |x - mu_k|^2 / (2 (s_k^2 + sigma^2)) and

        D(x, sigma) = E[x0 | x_sigma = x] = sum_k gamma_k (mu_k + s_k^2 / (s_k^2 + sigma^2) (x - mu_k)).

    numpy (float64). ``means`` (K, d); ``stds`` a scalar or (K,); ``weights`` (K,) or None.
    """

    def __init__(self, means, stds, weights=None):
        mu, _ = as_float_array(means, name="means", min_ndim=2, max_ndim=2)
        if is_tensor(mu):
            raise ValueError("means must be a numpy array or list (GaussianMixture is numpy)")
        k = mu.shape[0]
        s, _ = as_float_array(np.broadcast_to(np.asarray(stds, dtype=float), (k,)) if np.ndim(stds) == 0
                              else stds, name="stds", min_ndim=1, max_ndim=1)
        if s.shape[0] != k:
            raise ValueError(f"stds must have shape ({k},) to match means, got {s.shape}")
        if (s <= 0).any():
            raise ValueError("stds must be > 0")
        if weights is None:
            w = np.full(k, 1.0 / k)
        else:
            w, _ = as_float_array(weights, name="weights", min_ndim=1, max_ndim=1)
            if w.shape[0] != k:
                raise ValueError(f"weights must have shape ({k},) to match means, got {w.shape}")
            if (w < 0).any() or abs(w.sum() - 1) > 1e-9:
                raise ValueError("weights must be >= 0 and sum to 1")
        self.means, self.stds, self.weights = mu.copy(), np.array(s, dtype=float), np.array(w, dtype=float)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def _x(self, x):
        arr, torch_in = as_float_array(x, name="x", min_ndim=1)
        if torch_in:
            raise ValueError("x must be a numpy array (GaussianMixture is numpy)")
        if arr.shape[-1] != self.dim:
            raise ValueError(f"x must have last axis {self.dim}, got shape {arr.shape}")
        return arr

    def responsibilities(self, x, sigma: float) -> np.ndarray:
        """Posterior component probabilities gamma_k(x) at noise level sigma; shape (..., K)."""
        return self._resp(self._x(x), _check_sigma(sigma))

    def _resp(self, x: np.ndarray, sigma: float) -> np.ndarray:
        var = self.stds ** 2 + sigma ** 2                                    # (K,)
        # |x - mu_k|^2 = |x|^2 - 2 x.mu_k + |mu_k|^2, as one matmul
        sq = (x * x).sum(-1, keepdims=True) - 2 * x @ self.means.T + (self.means ** 2).sum(-1)
        logit = np.log(np.maximum(self.weights, 1e-300)) - 0.5 * self.dim * np.log(var) - sq / (2 * var)
        logit -= logit.max(-1, keepdims=True)                                 # log-sum-exp shift
        g = np.exp(logit)
        return g / g.sum(-1, keepdims=True)

    def denoise(self, x, sigma: float) -> np.ndarray:
        """E[x0 | x_sigma = x] (VE form), shape of x."""
        x = self._x(x)
        sigma = _check_sigma(sigma)
        g = self._resp(x, sigma)                                              # (..., K)
        shrink = self.stds ** 2 / (self.stds ** 2 + sigma ** 2)               # (K,)
        # sum_k g_k (mu_k (1 - shrink_k) + shrink_k x)
        return (g * (1 - shrink)) @ self.means + (g @ shrink)[..., None] * x

    __call__ = denoise

    def velocity(self, x, sigma: float) -> np.ndarray:
        """Probability-flow ODE slope dx/dsigma = (x - D(x, sigma)) / sigma."""
        return (self._x(x) - self.denoise(x, sigma)) / _check_sigma(sigma)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n draws of x0, shape (n, d)."""
        n = check_int_in(n, 1, None, name="n")
        comp = rng.choice(len(self.weights), size=n, p=self.weights)
        return self.means[comp] + self.stds[comp, None] * rng.standard_normal((n, self.dim))


def ring_mixture(k: int = 8, radius: float = 1.0, std: float = 0.1) -> GaussianMixture:
    """k equal components on a circle in 2-D: the picture-friendly teacher."""
    k = check_int_in(k, 1, None, name="k")
    radius, std = check_positive(radius, name="radius"), check_positive(std, name="std")
    ang = 2 * np.pi * np.arange(k) / k
    return GaussianMixture(radius * np.stack([np.cos(ang), np.sin(ang)], 1), std)


def random_mixture(k: int = 8, dim: int = 16, std: float = 0.2, seed: int = 0) -> GaussianMixture:
    """k equal components with random unit-norm means in dim dimensions (seeded)."""
    k, dim = check_int_in(k, 1, None, name="k"), check_int_in(dim, 1, None, name="dim")
    std = check_positive(std, name="std")
    mu = np.random.default_rng(seed).standard_normal((k, dim))
    return GaussianMixture(mu / np.linalg.norm(mu, axis=1, keepdims=True), std)


class IsotropicGaussian:
    """x0 ~ N(0, c^2 I): the one teacher whose whole ODE trajectory is closed-form.

    Chapter amed-ode-sampling, eq. (exact MVT time). D(x, sigma) = c^2 / (c^2 + sigma^2) x, the ODE
    dx/dsigma = sigma x / (c^2 + sigma^2) gives x(sigma) proportional to sqrt(c^2 + sigma^2).
    """

    def __init__(self, c: float = 1.0):
        self.c = check_positive(c, name="c")

    def denoise(self, x, sigma: float):
        sigma = _check_sigma(sigma)
        return self.c ** 2 / (self.c ** 2 + sigma ** 2) * x

    __call__ = denoise

    def trajectory(self, x, sigma_from: float, sigma_to: float):
        """Exact ODE solution x(sigma_to) from x(sigma_from) = x."""
        a = check_in_range(sigma_from, 0, math.inf, name="sigma_from")
        b = check_in_range(sigma_to, 0, math.inf, name="sigma_to")
        return x * math.sqrt(self.c ** 2 + b ** 2) / math.sqrt(self.c ** 2 + a ** 2)

    def mvt_time(self, sigma_a: float, sigma_b: float) -> float:
        """The s* in (sigma_b, sigma_a) where the slope equals the interval's mean slope.

        m = (sqrt(c^2 + sigma_a^2) - sqrt(c^2 + sigma_b^2)) / (sigma_a - sigma_b), s* = c m / sqrt(1 - m^2).
        """
        a = check_positive(sigma_a, name="sigma_a")
        b = check_in_range(sigma_b, 0, a, name="sigma_b", hi_open=True)
        c = self.c
        # m via a cancellation-free form: (A - B)/(a - b) = (a + b) / (A + B)
        m = (a + b) / (math.sqrt(c * c + a * a) + math.sqrt(c * c + b * b))
        return c * m / math.sqrt((1 - m) * (1 + m))


def vp_to_ve(denoiser: Denoiser) -> Callable:
    """Turn a VE denoiser D(x, sigma) into a VP one D(x_t, alpha, beta) = D(x_t / alpha, beta / alpha)."""
    def den_vp(x_t, alpha: float, beta: float):
        alpha = check_positive(alpha, name="alpha")
        beta = check_positive(beta, name="beta")
        return denoiser(x_t / alpha, beta / alpha)
    return den_vp


# ============================================================================================
# Time grid and ODE samplers (VE / EDM form)
# ============================================================================================

def karras_sigmas(n: int, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0,
                  append_zero: bool = False) -> np.ndarray:
    """EDM grid sigma_i = (sigma_max^(1/rho) + i/(n-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho.

    Chapter amed-ode-sampling, eq. (EDM grid); decreasing from sigma_max to sigma_min (then 0 if
    ``append_zero``). numpy.
    """
    n = check_int_in(n, 2, None, name="n")
    sigma_min = check_positive(sigma_min, name="sigma_min")
    sigma_max = check_positive(sigma_max, name="sigma_max")
    if sigma_min >= sigma_max:
        raise ValueError(f"sigma_min must be < sigma_max, got {sigma_min} >= {sigma_max}")
    rho = check_positive(rho, name="rho")
    ramp = np.linspace(0, 1, n)
    hi, lo = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    s = (hi + ramp * (lo - hi)) ** rho
    s[0], s[-1] = sigma_max, sigma_min
    return np.append(s, 0.0) if append_zero else s


def _check_sigmas(sigmas) -> np.ndarray:
    s, torch_in = as_float_array(sigmas, name="sigmas", min_ndim=1, max_ndim=1)
    if torch_in:
        s = s.detach().double().cpu().numpy()
    if s.size < 2:
        raise ValueError(f"sigmas must have at least 2 entries, got {s.size}")
    if (s[:-1] <= 0).any() or s[-1] < 0:
        raise ValueError("sigmas must be > 0 (the last may be 0)")
    if not (np.diff(s) < 0).all():
        raise ValueError("sigmas must be strictly decreasing")
    return s


def _slope(denoiser: Denoiser, x, sigma: float):
    return (x - denoiser(x, sigma)) / sigma


def afs_slope(x, sigma: float):
    """Analytical first step (AFS): the slope at sigma_max replaced by x / sqrt(1 + sigma^2).

    Chapter amed-ode-sampling. Saves one model call: at large sigma, D(x, sigma) ~ E[x0] ~ 0.
    """
    return x / math.sqrt(1.0 + _check_sigma(sigma) ** 2)


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
        import torch  # local: numpy callers never pay for it
        stacked = torch.stack(traj) if is_tensor(x) else np.stack(traj)
        return x, calls, stacked
    return x, calls


def sample_euler(denoiser: Denoiser, x, sigmas, *, return_trajectory: bool = False):
    """Euler (= DDIM) on the probability-flow ODE: x_next = x + (sigma_next - sigma) d(x, sigma).

    Chapter amed-ode-sampling, eq. (Euler). First order, one call per step. Returns
    ``(x_end, nfe)`` (and the trajectory (steps+1, ...) if asked). numpy or torch.
    """
    sigmas = _check_sigmas(sigmas)

    def step(i, x, s, s_next):
        return x + (s_next - s) * _slope(denoiser, x, s), 1
    return _run(step, x, sigmas, return_trajectory)


def sample_heun(denoiser: Denoiser, x, sigmas, *, return_trajectory: bool = False):
    """Heun (EDM Alg. 1): average the slopes at both ends, the far end Euler-predicted.

    Chapter amed-ode-sampling, eq. (Heun). Second order, two calls per step; a step to sigma = 0
    is a plain Euler step (as in EDM / k-diffusion).
    """
    sigmas = _check_sigmas(sigmas)

    def step(i, x, s, s_next):
        d = _slope(denoiser, x, s)
        x_e = x + (s_next - s) * d
        if s_next == 0:
            return x_e, 1
        d2 = _slope(denoiser, x_e, s_next)
        return x + (s_next - s) * 0.5 * (d + d2), 2
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
    sigmas = _check_sigmas(sigmas)
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
    sigmas = _check_sigmas(sigmas)
    n = len(sigmas) - 1
    r_arr = np.asarray(r, dtype=float).reshape(-1)
    c_arr = np.asarray(c, dtype=float).reshape(-1)
    if r_arr.size != n:
        raise ValueError(f"r must have one entry per step ({n}), got {r_arr.size}")
    if c_arr.size != n:
        raise ValueError(f"c must have one entry per step ({n}), got {c_arr.size}")
    if not ((r_arr > 0) & (r_arr < 1)).all():
        raise ValueError("r must lie in (0, 1)")
    if not (np.isfinite(c_arr).all() and (c_arr > 0).all()):
        raise ValueError("c must be finite and > 0")

    def step(i, x, s, s_next):
        d, c0 = (afs_slope(x, s), 0) if (afs and i == 0) else (_slope(denoiser, x, s), 1)
        if s_next == 0:
            return x + (s_next - s) * d, c0
        s_mid = s_next ** r_arr[i] * s ** (1 - r_arr[i])
        x_mid = x + (s_mid - s) * d
        return x + float(c_arr[i]) * (s_next - s) * _slope(denoiser, x_mid, s_mid), c0 + 1
    return _run(step, x, sigmas, return_trajectory)


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
    sigmas = _check_sigmas(sigmas)
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
        import torch
        return x, (torch.stack(out) if is_tensor(x) else np.stack(out))
    return x


def rms_error(x, y) -> float:
    """Root-mean-square over samples of the Euclidean endpoint error ||x - y|| (numpy)."""
    x, _ = as_float_array(x, name="x", min_ndim=1)
    y, _ = as_float_array(y, name="y", min_ndim=1)
    if x.shape != y.shape:
        raise ValueError(f"y must have the shape of x {x.shape}, got {y.shape}")
    return float(np.sqrt(((x - y) ** 2).sum(-1).mean()))


def fit_amed(denoiser: Denoiser, x_train, sigmas, *, substeps: int = 200, r_grid: int = 49,
             c_bounds: tuple[float, float] = (0.9, 1.1), afs: bool = True):
    """Distil per-step AMED constants (r_n, c_n) against a teacher trajectory (numpy).

    Chapter amed-ode-sampling. Greedy, step by step: from the student's own state x_n, for each r on
    a grid in (0, 1) the best c is closed-form least squares,
    c = <h d_mid, x*_{n+1} - x_n> / ||h d_mid||^2, clipped to ``c_bounds``; keep the (r, c) with the
    smallest error to the teacher state x*_{n+1} (``substeps`` Heun steps per interval).
    Returns arrays (r, c) of length len(sigmas) - 1.
    """
    sigmas = _check_sigmas(sigmas)
    x_train, torch_in = as_float_array(x_train, name="x_train", min_ndim=2)
    if torch_in:
        raise ValueError("x_train must be a numpy array")
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
            step = (s_next - s) * _slope(denoiser, x + (s_mid - s) * d, s_mid)
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


# ============================================================================================
# Noise schedules and log-SNR (VP form)
# ============================================================================================

def _t_array(t, name: str = "t") -> np.ndarray:
    arr, torch_in = as_float_array(t, name=name, min_ndim=0)
    if torch_in:
        raise ValueError(f"{name} must be a number or numpy array")
    if ((arr < 0) | (arr > 1)).any():
        raise ValueError(f"{name} must lie in [0, 1]")
    return arr


def _sigmoid(z):
    return np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))


def logsnr_cosine(t, logsnr_min: float = -15.0, logsnr_max: float = 15.0):
    """Cosine schedule alpha = cos(pi t / 2) as log-SNR = -2 log tan(pi t / 2), clipped.

    Chapter snr-high-res-1, eq. (cosine). As in simple diffusion, the angle is mapped linearly onto
    [atan(exp(-logsnr_max / 2)), atan(exp(-logsnr_min / 2))] so that log-SNR runs from logsnr_max
    (t = 0) to logsnr_min (t = 1); t = 1/2 stays at log-SNR 0 when the range is symmetric. numpy.
    """
    t = _t_array(t)
    lmin, lmax = check_real(logsnr_min, name="logsnr_min"), check_real(logsnr_max, name="logsnr_max")
    if lmin >= lmax:
        raise ValueError(f"logsnr_min must be < logsnr_max, got {lmin} >= {lmax}")
    a0, a1 = math.atan(math.exp(-0.5 * lmax)), math.atan(math.exp(-0.5 * lmin))
    return -2.0 * np.log(np.tan(a0 + t * (a1 - a0)))


def alpha_sigma_from_logsnr(logsnr):
    """(alpha, beta) with alpha^2 = sigmoid(l), beta^2 = sigmoid(-l): alpha^2 + beta^2 = 1 (numpy)."""
    lam, torch_in = as_float_array(logsnr, name="logsnr", min_ndim=0)
    if torch_in:
        raise ValueError("logsnr must be a number or numpy array")
    return np.sqrt(_sigmoid(lam)), np.sqrt(_sigmoid(-lam))


def shift_logsnr(logsnr, s: float):
    """High-resolution log-SNR aligned with a low-resolution one: l_hi = l_lo - 2 log s.

    Chapter snr-high-res-1, eq. (shift). s is the per-side resolution factor (s x s pooling).
    """
    lam, torch_in = as_float_array(logsnr, name="logsnr", min_ndim=0)
    if torch_in:
        raise ValueError("logsnr must be a number or numpy array")
    return lam - 2.0 * math.log(check_positive(s, name="s"))


def shifted_cosine(t, s: float, logsnr_min: float = -15.0, logsnr_max: float = 15.0):
    """Shifted cosine log-SNR (simple diffusion): logsnr_cosine(t) - 2 log s."""
    return shift_logsnr(logsnr_cosine(t, logsnr_min, logsnr_max), s)


def linear_beta_alphas_cumprod(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> np.ndarray:
    """DDPM's linear beta schedule: alphas_cumprod_i = prod_{j<=i} (1 - beta_j), beta linear (numpy)."""
    T = check_int_in(T, 1, None, name="T")
    b0 = check_in_range(beta_start, 0, 1, name="beta_start", lo_open=True, hi_open=True)
    b1 = check_in_range(beta_end, 0, 1, name="beta_end", lo_open=True, hi_open=True)
    return np.cumprod(1.0 - np.linspace(b0, b1, T))


def cosine_alphas_cumprod(T: int = 1000, offset: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """Improved-DDPM cosine schedule (diffusers ``squaredcos_cap_v2``) as alphas_cumprod.

    f(t) = cos((t + offset)/(1 + offset) pi/2)^2, beta_i = min(1 - f((i+1)/T)/f(i/T), max_beta).
    Not exactly cos(pi t / 2): the offset and the clip differ (numpy).
    """
    T = check_int_in(T, 1, None, name="T")
    offset = check_in_range(offset, 0, 1, name="offset")
    max_beta = check_in_range(max_beta, 0, 1, name="max_beta", lo_open=True)
    f = lambda u: np.cos((u + offset) / (1 + offset) * np.pi / 2) ** 2  # noqa: E731
    i = np.arange(T)
    betas = np.minimum(1 - f((i + 1) / T) / f(i / T), max_beta)
    return np.cumprod(1.0 - betas)


def _check_ac(ac) -> np.ndarray:
    a, torch_in = as_float_array(ac, name="alphas_cumprod", min_ndim=1, max_ndim=1)
    if torch_in:
        a = a.detach().double().cpu().numpy()
    if ((a <= 0) | (a >= 1)).any():
        raise ValueError("alphas_cumprod must lie in (0, 1)")
    return a


def logsnr_from_alphas_cumprod(alphas_cumprod) -> np.ndarray:
    """log-SNR of a discrete schedule: log(abar / (1 - abar)) (numpy)."""
    a = _check_ac(alphas_cumprod)
    return np.log(a) - np.log1p(-a)


def shift_alphas_cumprod(alphas_cumprod, s: float) -> np.ndarray:
    """Discrete schedule with log-SNR shifted by -2 log s: abar' = sigmoid(logit(abar) - 2 log s)."""
    return _sigmoid(shift_logsnr(logsnr_from_alphas_cumprod(alphas_cumprod), s))


def rf_shift_sigmas(sigma, shift: float):
    """Rectified-flow timestep shift sigma' = shift sigma / (1 + (shift - 1) sigma) (SD3).

    Chapter snr-high-res-1. For x_t = (1 - sigma) x0 + sigma eps this divides the SNR by shift^2,
    i.e. it is the log-SNR shift with s = shift. numpy.
    """
    sig, torch_in = as_float_array(sigma, name="sigma", min_ndim=0)
    if torch_in:
        raise ValueError("sigma must be a number or numpy array")
    if ((sig < 0) | (sig > 1)).any():
        raise ValueError("sigma must lie in [0, 1]")
    s = check_positive(shift, name="shift")
    return s * sig / (1 + (s - 1) * sig)


def rf_unshift_sigmas(sigma_shifted, shift: float):
    """Inverse of :func:`rf_shift_sigmas`: sigma = sigma' / (shift - (shift - 1) sigma')."""
    sig, torch_in = as_float_array(sigma_shifted, name="sigma_shifted", min_ndim=0)
    if torch_in:
        raise ValueError("sigma_shifted must be a number or numpy array")
    if ((sig < 0) | (sig > 1)).any():
        raise ValueError("sigma_shifted must lie in [0, 1]")
    s = check_positive(shift, name="shift")
    return sig / (s - (s - 1) * sig)


def snr_match_time(t, s: float, schedule: str | np.ndarray = "cosine"):
    """The time tau whose SNR is s^2 times the SNR at t (pooling s x s raises the SNR by s^2).

    Chapter snr-high-res-2, eq. (tau). ``schedule="cosine"`` (alpha = cos(pi t/2), unclipped):
    tau = 2/pi atan(tan(pi t/2) / s). For a discrete schedule pass its alphas_cumprod (index
    i <-> t = i/(T-1)); tau is found by monotone interpolation of its log-SNR. numpy.
    """
    t = _t_array(t)
    s = check_positive(s, name="s")
    if s < 1:
        raise ValueError(f"s must be >= 1, got {s}")
    if isinstance(schedule, str):
        check_choice(schedule, ["cosine"], name="schedule")
        return 2 / np.pi * np.arctan(np.tan(np.pi * t / 2) / s)
    lam = logsnr_from_alphas_cumprod(schedule)                      # decreasing in the index
    grid = np.linspace(0, 1, lam.size)
    lam_t = np.interp(t, grid, lam)
    target = np.clip(lam_t + 2 * math.log(s), lam[-1], lam[0])
    return np.interp(target, lam[::-1], grid[::-1])


# ============================================================================================
# Images: pooling, Gaussian-process "images" with a known spectrum
# ============================================================================================

def _check_factor(x, s: int):
    s = check_int_in(s, 1, None, name="s")
    if x.ndim < 2:
        raise ValueError(f"x must have at least 2 dimensions (..., H, W), got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if h % s or w % s:
        raise ValueError(f"s must divide the image size {h}x{w}, got {s}")
    return s


def avg_pool(x, s: int):
    """s x s average pooling D on (..., H, W) (numpy or torch; returns the kind it was given)."""
    arr, torch_in = as_float_array(x, name="x", min_ndim=2)
    s = _check_factor(arr, s)
    h, w = arr.shape[-2:]
    r = arr.reshape(*arr.shape[:-2], h // s, s, w // s, s)
    return r.mean(dim=(-3, -1)) if torch_in else r.mean(axis=(-3, -1))


def nearest_upsample(y, s: int):
    """Nearest-neighbour upsampling U by s on (..., h, w): each pixel becomes an s x s block; D U = I."""
    arr, torch_in = as_float_array(y, name="y", min_ndim=2)
    s = check_int_in(s, 1, None, name="s")
    if torch_in:
        return arr.repeat_interleave(s, dim=-2).repeat_interleave(s, dim=-1)
    return np.repeat(np.repeat(arr, s, axis=-2), s, axis=-1)


def _freq_radius(n: int) -> np.ndarray:
    k = np.fft.fftfreq(n) * n                                     # integer wave numbers
    return np.sqrt(k[:, None] ** 2 + k[None, :] ** 2)


def gp_spectrum(n: int, kind: str = "powerlaw", *, alpha: float = 2.0, ell: float = 1.0,
                k0: float = 2.0, width: float = 0.6) -> np.ndarray:
    """Power spectrum P (n, n) of a stationary periodic Gaussian-process image, mean(P) = 1.

    Chapter snr-high-res-1. ``powerlaw``: P(k) ~ (1 + (|k| / ell)^2)^(-alpha/2);
    ``bandpass``: a log-normal bump around radius k0 (blobs of one size), P(0) = 0.
    Normalised so the pixel variance mean(P) is 1. numpy.
    """
    n = check_int_in(n, 2, None, name="n")
    check_choice(kind, ["powerlaw", "bandpass"], name="kind")
    kr = _freq_radius(n)
    if kind == "powerlaw":
        alpha, ell = check_positive(alpha, name="alpha"), check_positive(ell, name="ell")
        P = (1 + (kr / ell) ** 2) ** (-alpha / 2)
    else:
        k0, width = check_positive(k0, name="k0"), check_positive(width, name="width")
        with np.errstate(divide="ignore"):
            P = np.where(kr > 0, np.exp(-0.5 * (np.log(np.maximum(kr, 1e-12) / k0) / width) ** 2), 0.0)
    return P / P.mean()


def _check_spectrum(P, name: str = "P") -> np.ndarray:
    arr, torch_in = as_float_array(P, name=name, min_ndim=2, max_ndim=2)
    if torch_in or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be a square numpy array, got shape {tuple(arr.shape)}")
    if (arr < 0).any():
        raise ValueError(f"{name} must be >= 0")
    return arr


def sample_gp(P, n: int, rng: np.random.Generator) -> np.ndarray:
    """n images (n, N, N) with covariance diagonal in Fourier space with eigenvalues P (numpy)."""
    P = _check_spectrum(P)
    n = check_int_in(n, 1, None, name="n")
    w = rng.standard_normal((n,) + P.shape)
    return np.fft.ifft2(np.sqrt(P) * np.fft.fft2(w)).real


def _box_response(n: int, s: int) -> np.ndarray:
    """|H(k)|^2 of the s x s box average on an n x n periodic grid."""
    k = np.arange(n)
    h1 = np.exp(-2j * np.pi * np.outer(k, np.arange(s)) / n).mean(1)   # 1-D box response
    return np.abs(h1[:, None] * h1[None, :]) ** 2


def pooled_spectrum(P_high, s: int) -> np.ndarray:
    """Spectrum of D[x] on the (N/s)^2 grid: P_low(q) = sum over aliases k = q mod N/s of P(k) |H(k)|^2 / s^2.

    Chapter snr-high-res-1 (aliasing included). Pixel variance of D[x] = mean(P_low). numpy.
    """
    P = _check_spectrum(P_high, "P_high")
    n = P.shape[0]
    s = check_int_in(s, 1, None, name="s")
    if n % s:
        raise ValueError(f"s must divide the grid size {n}, got {s}")
    m = n // s
    filt = P * _box_response(n, s)
    # fold the n x n frequencies onto the m x m grid (k -> k mod m); the 1/s^2 turns the n^2-point
    # DFT normalisation into the m^2-point one
    return filt.reshape(s, m, s, m).sum(axis=(0, 2)) / s ** 2


def pooled_variance_fraction(P, s: int) -> float:
    """f_s = Var(D[x]) / Var(x): the fraction of pixel variance that survives s x s pooling."""
    P = _check_spectrum(P)
    return float(pooled_spectrum(P, s).mean() / P.mean())


def coarse_mmse(P_low, alpha, beta_eff):
    """Per-pixel MMSE of y ~ GP(P_low) from alpha y + beta_eff eps: mean_q P beta^2 / (alpha^2 P + beta^2).

    Chapter snr-high-res-1 (exact Wiener filter per Fourier mode). alpha, beta_eff: scalars or
    arrays of equal shape; returns their shape. numpy.
    """
    P = _check_spectrum(P_low, "P_low")
    a, _ = as_float_array(alpha, name="alpha", min_ndim=0)
    b, _ = as_float_array(beta_eff, name="beta_eff", min_ndim=0)
    if (a < 0).any():
        raise ValueError("alpha must be >= 0")
    if (b <= 0).any():
        raise ValueError("beta_eff must be > 0")
    a, b = np.broadcast_arrays(a, b)
    Pf = P.reshape(-1)
    num = Pf * b[..., None] ** 2
    return (num / (a[..., None] ** 2 * Pf + b[..., None] ** 2)).mean(-1)


def wiener_eps(x_t, alpha: float, beta: float, P) -> np.ndarray:
    """Exact eps-prediction E[eps | x_t] for x_t = alpha x0 + beta eps, x0 ~ GP(P) (per Fourier mode).

    Chapter snr-high-res-2: eps_hat = F^-1[ beta / (alpha^2 P + beta^2) F[x_t] ]. Works on (..., N, N).
    """
    P = _check_spectrum(P)
    x, torch_in = as_float_array(x_t, name="x_t", min_ndim=2)
    if torch_in:
        raise ValueError("x_t must be a numpy array")
    if x.shape[-2:] != P.shape:
        raise ValueError(f"x_t must end with the spectrum's shape {P.shape}, got {x.shape}")
    alpha = check_in_range(alpha, 0, 1, name="alpha")
    beta = check_in_range(beta, 0, 1, name="beta", lo_open=True)
    gain = beta / (alpha ** 2 * P + beta ** 2)
    return np.fft.ifft2(gain * np.fft.fft2(x)).real


def radial_power_spectrum(x) -> tuple[np.ndarray, np.ndarray]:
    """Mean power |F[x]|^2 / N^2 in integer radial bands, averaged over leading axes: (k, power)."""
    arr, torch_in = as_float_array(x, name="x", min_ndim=2)
    if torch_in:
        raise ValueError("x must be a numpy array")
    n = arr.shape[-1]
    if arr.shape[-2] != n:
        raise ValueError(f"x must be square images, got shape {arr.shape}")
    pw = (np.abs(np.fft.fft2(arr)) ** 2 / n ** 2).reshape(-1, n, n).mean(0)
    band = np.rint(_freq_radius(n)).astype(int)
    kmax = n // 2
    ks = np.arange(kmax + 1)
    power = np.array([pw[band == k].mean() for k in ks])
    return ks, power


def multiscale_loss(eps, eps_hat, scales: Sequence[int] = (1, 2, 4), weights: Sequence[float] | None = None):
    """Multi-scale loss of simple diffusion: sum_s w_s mean(|D_s[eps] - D_s[eps_hat]|^2).

    Chapter snr-high-res-1. Each term is a per-pixel mean at its own resolution, so for
    eps_hat = 0 its expectation is 1/s^2. Returns (total, list of per-scale terms). numpy or torch.
    """
    e, torch_e = as_float_array(eps, name="eps", min_ndim=2)
    eh, torch_h = as_float_array(eps_hat, name="eps_hat", min_ndim=2)
    if torch_e != torch_h or tuple(e.shape) != tuple(eh.shape):
        raise ValueError("eps_hat must match eps in kind and shape")
    if len(scales) == 0:
        raise ValueError("scales must not be empty")
    w = [1.0 / len(scales)] * len(scales) if weights is None else list(weights)
    if len(w) != len(scales) or any((not np.isfinite(v)) or v < 0 for v in w):
        raise ValueError("weights must be one finite non-negative number per scale")
    terms = []
    for s in scales:
        diff = avg_pool(e, s) - avg_pool(eh, s)
        terms.append((diff ** 2).mean())
    total = sum(wi * ti for wi, ti in zip(w, terms))
    return total, terms


# ============================================================================================
# VP samplers (DDIM / DDPM) and upsample guidance
# ============================================================================================

EpsModel = Callable[[object, float], object]
Schedule = Callable[[float], tuple]


def _cosine_ab(t: float):
    return math.cos(math.pi * t / 2), math.sin(math.pi * t / 2)


def _check_ts(ts) -> np.ndarray:
    t, _ = as_float_array(ts, name="ts", min_ndim=1, max_ndim=1)
    t = np.asarray(t, dtype=float)
    if t.size < 2 or not (np.diff(t) < 0).all() or t[0] > 1 or t[-1] < 0:
        raise ValueError("ts must be a strictly decreasing grid in [0, 1] with >= 2 points")
    return t


def ddim_sample(eps_fn: EpsModel, x, ts, schedule: Schedule | None = None, *,
                return_trajectory: bool = False):
    """Deterministic DDIM: x_prev = alpha_prev x0_hat + beta_prev eps_hat (eta = 0).

    Chapter snr-high-res-2. ``eps_fn(x, t)`` predicts eps at continuous time t; ``schedule(t)`` gives
    (alpha_t, beta_t) (default: cosine). ``ts`` decreasing (e.g. from near 1 to 0). numpy or torch.
    """
    ts = _check_ts(ts)
    sched = schedule or _cosine_ab
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


def ddpm_sample(eps_fn: EpsModel, x, ts, rng: np.random.Generator, schedule: Schedule | None = None):
    """Ancestral DDPM on a grid: sample x_prev ~ q(x_prev | x_t, x0_hat) (the posterior with x0_hat).

    Chapter snr-high-res-2. Mean a_p x0 + sqrt(b_p^2 - var) eps_hat-equivalent form; variance
    var = b_p^2 (1 - (a_t/a_p)^2 b_p^2 / b_t^2) ... written via the DDPM posterior. numpy.
    """
    ts = _check_ts(ts)
    sched = schedule or _cosine_ab
    for t, t_prev in zip(ts[:-1], ts[1:]):
        a, b = sched(float(t))
        a_p, b_p = sched(float(t_prev))
        e = eps_fn(x, float(t))
        x0 = (x - b * e) / a
        # one-step forward kernel x_t = (a/a_p) x_prev + sqrt(b^2 - (a/a_p)^2 b_p^2) z
        ratio = a / a_p
        step_var = max(b * b - ratio * ratio * b_p * b_p, 0.0)
        post_var = step_var * b_p * b_p / (b * b)
        mean = (a_p * step_var / (b * b)) * x0 + (ratio * b_p * b_p / (b * b)) * x
        x = mean + math.sqrt(post_var) * rng.standard_normal(np.shape(x))
    check_finite_result(x, what="ddpm_sample output")
    return x


def ug_rho(alpha_bar, beta_bar, s: float):
    """rho_t = sqrt(alpha^2 + beta^2 / s^2): D[x_t] / rho_t has unit-norm coefficients again."""
    a, _ = as_float_array(alpha_bar, name="alpha_bar", min_ndim=0)
    b, _ = as_float_array(beta_bar, name="beta_bar", min_ndim=0)
    s = check_positive(s, name="s")
    if (a < 0).any() or (b < 0).any():
        raise ValueError("alpha_bar and beta_bar must be >= 0")
    return np.sqrt(a ** 2 + b ** 2 / s ** 2)


def upsample_guidance_eps(eps_model: EpsModel, x_t, t: float, s: int, w: float):
    """Upsample guidance (Hwang et al. 2024, as Su writes it), cosine schedule.

        eps~ = eps(x_t, t) + (1 + w) U[ eps(D[x_t] / rho_t, tau) / s - D[eps(x_t, t)] ].

    Chapter snr-high-res-2. ``eps_model(x, t)`` must accept any spatial size; w = -1 returns the
    plain model, w = 0 the "approximate ideal" predictor. numpy or torch.
    """
    t = float(check_in_range(t, 0, 1, name="t", lo_open=True, hi_open=True))
    s = check_int_in(s, 1, None, name="s")
    w = check_real(w, name="w")
    e = eps_model(x_t, t)
    if w == -1:
        return e
    a, b = _cosine_ab(t)
    rho = float(ug_rho(a, b, s))
    tau = float(snr_match_time(t, s))
    low = eps_model(avg_pool(x_t, s) / rho, tau)
    return e + (1 + w) * nearest_upsample(low / s - avg_pool(e, s), s)


def ug_weight(t: float, w: float, eta: float) -> float:
    """Guidance weight for latent models: w for the first eta of the (high-noise) steps, then -1."""
    t = check_in_range(t, 0, 1, name="t")
    w = check_real(w, name="w")
    eta = check_in_range(eta, 0, 1, name="eta")
    return w if t >= 1 - eta else -1.0


# ============================================================================================
# Widgets
# ============================================================================================

SOLVERS = ("euler", "heun", "dpm2", "amed")
_SOLVER_NAMES = {"euler": "Euler (DDIM)", "heun": "Heun (EDM)", "dpm2": "DPM-Solver-2 + AFS",
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


def amed_explorer(n_samples: int = 150, n_paths: int = 6, budgets: Sequence[int] = (3, 4, 5, 6, 8, 10, 16),
                  seed: int = 0):
    """The chapter's widget: solver and call budget on the 2-D ring-of-8 teacher.

    Chapter amed-ode-sampling. Left: samples of the chosen solver (held-out noise) over the exact
    ODE endpoints. Right: a few trajectories in scaled coordinates x / sqrt(1 + sigma^2) (so the
    start is a unit Gaussian), exact path vs the solver's polyline. Readout: RMS endpoint error.
    """
    from . import widgets as W
    n_samples = check_int_in(n_samples, 10, 2000, name="n_samples")
    n_paths = check_int_in(n_paths, 1, 20, name="n_paths")
    budgets = [check_int_in(b, 3, 60, name="budgets") for b in budgets]
    gm = ring_mixture(8, 1.0, 0.1)
    rng = np.random.default_rng(seed)
    x_train = 80 * rng.standard_normal((300, 2))
    x_test = 80 * rng.standard_normal((n_samples, 2))
    fine = karras_sigmas(61)                      # 61 display points per exact path (small JSON)
    ref_end, ref_traj = reference_solution(gm, x_test, fine, substeps=20, return_trajectory=True)
    scale = 1 / np.sqrt(1 + fine ** 2)
    fits = {}

    def params(b):
        if b not in fits:
            s = karras_sigmas((b + 1) // 2 + 1)
            fits[b] = fit_amed(gm, x_train, s, substeps=50, r_grid=25)
        return fits[b]

    errors = {}

    def run(solver, b):
        return solve_at_budget(gm, x_test, b, solver, amed_params=params(b) if solver == "amed" else None,
                               return_trajectory=True)

    def err(solver, b):
        if (solver, b) not in errors:
            errors[(solver, b)] = rms_error(run(solver, b)[0], ref_end)
        return errors[(solver, b)]

    def compute(solver: str, budget: int) -> dict:
        x_end, calls, traj = run(solver, budget)
        grid = {"euler": karras_sigmas(budget + 1), "heun": karras_sigmas(budget // 2 + 1)}.get(
            solver, karras_sigmas((budget + 1) // 2 + 1))
        sc = 1 / np.sqrt(1 + grid ** 2)
        paths = []
        for j in range(n_paths):
            color = W.PALETTE[j % len(W.PALETTE)]
            paths.append({"kind": "line", "x": ref_traj[:, j, 0] * scale, "y": ref_traj[:, j, 1] * scale,
                          "color": "#bbbbbb", "width": 4, "label": "exact path" if j == 0 else ""})
            paths.append({"kind": "line", "x": traj[:, j, 0] * sc, "y": traj[:, j, 1] * sc,
                          "color": color, "dash": True, "label": "solver" if j == 0 else ""})
            paths.append({"kind": "scatter", "x": traj[:, j, 0] * sc, "y": traj[:, j, 1] * sc,
                          "color": color, "label": ""})
        left = W.panel(f"{_SOLVER_NAMES[solver]}: {calls} model calls", "x₁", "x₂", series=[
            {"kind": "scatter", "x": ref_end[:, 0], "y": ref_end[:, 1], "color": "#999999",
             "label": "exact ODE endpoints"},
            {"kind": "scatter", "x": x_end[:, 0], "y": x_end[:, 1], "color": W.PALETTE[0],
             "label": "solver"}], xlim=[-2, 2], ylim=[-2, 2])
        curves = []
        for i, sv in enumerate(SOLVERS):
            bs = [b for b in budgets if not (sv == "heun" and b < 4)]
            curves.append({"kind": "line", "x": bs, "y": [err(sv, b) for b in bs],
                           "color": W.PALETTE[i], "label": _SOLVER_NAMES[sv], "dash": sv != solver})
        right = W.panel("RMS endpoint error vs call budget", "model calls (budget)", "RMS error",
                        series=curves, vlines=[{"x": budget, "label": "", "color": "#555555"}],
                        xscale="log", yscale="log", xticks=(budgets, [str(b) for b in budgets]))
        mid = W.panel("Trajectories, scaled x/√(1+σ²)", "x₁ / √(1+σ²)", "x₂ / √(1+σ²)",
                      series=paths, xlim=[-2.5, 2.5], ylim=[-2.5, 2.5])
        return W.frame(left, mid, right,
                       text=f"{_SOLVER_NAMES[solver]} · {calls} calls · RMS error to the exact endpoint "
                            f"{err(solver, budget):.3f}")

    controls = [W.Dropdown("solver", list(SOLVERS), "amed", label="solver",
                           names=[_SOLVER_NAMES[s] for s in SOLVERS]),
                W.Slider("budget", budgets, 5 if 5 in budgets else budgets[0], label="model calls",
                         fmt="{:d}")]
    return W.Explorer(controls, compute, name="amed-solvers")


def base_logsnr(t, base: str = "cosine"):
    """log-SNR of a base schedule at continuous t in [0, 1] (numpy).

    Chapter snr-high-res-1. ``"cosine"``: :func:`logsnr_cosine` (clipped to [-15, 15]);
    ``"linear"``: DDPM's linear-beta schedule with T = 1000, step i at t = i / 999, linearly
    interpolated in log-SNR.
    """
    t = _t_array(t)
    check_choice(base, ["cosine", "linear"], name="base")
    if base == "cosine":
        return logsnr_cosine(t)
    lam = logsnr_from_alphas_cumprod(linear_beta_alphas_cumprod(1000))
    return np.interp(t, np.linspace(0, 1, lam.size), lam)


def snr_schedule_explorer(factors: Sequence[int] = (1, 2, 4, 8, 16), n_t: int = 201):
    """The chapter's widget: base schedule and resolution factor s -> shifted log-SNR and signal level.

    Chapter snr-high-res-1. Panels: log-SNR(t) of the base and of the shifted schedule
    (l - 2 log s); the signal level alpha_t = sqrt(sigmoid(l)) of both; the rectified-flow
    (SD3) shifted sigma grid sigma' = s sigma / (1 + (s - 1) sigma) for 20 steps.
    """
    from . import widgets as W
    factors = [check_int_in(f, 1, 1024, name="factors") for f in factors]
    n_t = check_int_in(n_t, 11, 2001, name="n_t")
    t = np.linspace(0, 1, n_t)
    names = {"cosine": "cosine (clipped to ±15)", "linear": "linear β (DDPM, T = 1000)"}

    def compute(base: str, s: int) -> dict:
        lam = base_logsnr(t, base)
        lam_s = shift_logsnr(lam, s)
        a, a_s = alpha_sigma_from_logsnr(lam)[0], alpha_sigma_from_logsnr(lam_s)[0]
        # log-SNR is exactly 0 at t = 1/2 (cosine); show 0, not a machine's 2e-16
        lam, lam_s = (np.where(np.abs(v) < 1e-9, 0.0, v) for v in (lam, lam_s))
        p1 = W.panel("log-SNR: the high-resolution schedule moves down by 2 log s", "t", "log-SNR",
                     series=[{"kind": "line", "x": t, "y": lam, "label": f"base, {names[base]}",
                              "color": W.PALETTE[0], "dash": True},
                             {"kind": "line", "x": t, "y": lam_s, "label": f"shifted, s = {s}",
                              "color": W.PALETTE[3]}],
                     hlines=[{"y": 0.0, "label": "", "color": "#999999", "dash": True}], ylim=[-25, 20])
        p2 = W.panel("Signal level ᾱ_t = √sigmoid(log-SNR)", "t", "ᾱ_t",
                     series=[{"kind": "line", "x": t, "y": a, "label": "base", "color": W.PALETTE[0], "dash": True},
                             {"kind": "line", "x": t, "y": a_s, "label": f"shifted, s = {s}", "color": W.PALETTE[3]}],
                     ylim=[0, 1.02])
        sig = np.linspace(1, 0, 21)
        p3 = W.panel("Rectified flow: SD3's shifted σ grid (20 steps)", "step", "σ",
                     series=[{"kind": "line", "x": np.arange(21), "y": sig, "label": "uniform σ",
                              "color": W.PALETTE[0], "dash": True},
                             {"kind": "scatter", "x": np.arange(21), "y": rf_shift_sigmas(sig, s),
                              "label": f"shift = {s}", "color": W.PALETTE[3]}], ylim=[0, 1.02])
        half = float(np.interp(0.0, lam_s[::-1], t[::-1]))
        text = (f"{names[base]}, s = {s}: log-SNR − 2 log s = log-SNR − {2 * math.log(s):.3f}; "
                f"the shifted schedule reaches SNR 1 at t = {half:.3f}")
        return W.frame(p1, p2, p3, text=text)

    controls = [W.Dropdown("base", ["cosine", "linear"], "cosine", label="base schedule",
                           names=[names["cosine"], names["linear"]]),
                W.Slider("s", factors, 4 if 4 in factors else factors[0], label="resolution factor s", fmt="{:d}")]
    return W.Explorer(controls, compute, name="snr-schedules")


# ============================================================================================
# Upsample guidance on the Gaussian-process teacher (chapter snr-high-res-2)
# ============================================================================================

def lowres_kernel_on_highres(P_low, alpha: float, beta: float, n_high: int) -> np.ndarray:
    """Transfer function on an n_high grid of the low-resolution Wiener eps-filter, run as a convolution.

    Chapter snr-high-res-2: the "naive" model. The exact low-resolution eps-predictor is the
    convolution with k = F^-1[beta / (alpha^2 P_low + beta^2)] on the m x m grid; a CNN with that
    kernel applied to an n_high x n_high image uses the same taps at the same pixel offsets
    (-m/2 .. m/2 - 1, wrapped periodically), i.e. the right filter at the wrong pixel scale.
    Returns the complex transfer function (n_high, n_high). numpy.
    """
    P = _check_spectrum(P_low, "P_low")
    m = P.shape[0]
    n_high = check_int_in(n_high, m, None, name="n_high")
    alpha = check_in_range(alpha, 0, 1, name="alpha")
    beta = check_in_range(beta, 0, 1, name="beta", lo_open=True)
    k = np.fft.ifft2(beta / (alpha ** 2 * P + beta ** 2)).real            # (m, m) periodic kernel
    off = (np.arange(m) + m // 2) % m - m // 2                              # offsets -m/2 .. m/2-1
    K = np.zeros((n_high, n_high))
    K[np.ix_(off % n_high, off % n_high)] = k
    return np.fft.fft2(K)


def gp_lowres_model(P_low) -> EpsModel:
    """A low-resolution eps-model eps(x, t) (cosine schedule) that accepts any image size.

    Chapter snr-high-res-2. On the m x m grid of ``P_low`` it is the exact Wiener predictor
    E[eps | x_t]; on a larger grid it is the same convolution kernel (:func:`lowres_kernel_on_highres`):
    translation-equivariant, like a CNN trained at low resolution and run at high resolution.
    numpy, input (..., N, N).
    """
    P = _check_spectrum(P_low, "P_low")
    m = P.shape[0]
    cache: dict = {}

    def eps(x, t: float):
        t = float(check_in_range(t, 0, 1, name="t", hi_open=True))
        arr, torch_in = as_float_array(x, name="x", min_ndim=2)
        if torch_in:
            raise ValueError("x must be a numpy array")
        n = arr.shape[-1]
        if arr.shape[-2] != n or n < m:
            raise ValueError(f"x must be square images of size >= {m}, got shape {arr.shape}")
        a, b = _cosine_ab(t)
        b = max(b, 1e-12)
        if n == m:
            return np.fft.ifft2(b / (a * a * P + b * b) * np.fft.fft2(arr)).real
        key = (round(t, 12), n)
        if key not in cache:
            cache[key] = lowres_kernel_on_highres(P, a, b, n)
        return np.fft.ifft2(cache[key] * np.fft.fft2(arr)).real
    return eps


def gp_highres_model(P_high) -> EpsModel:
    """The exact high-resolution eps-predictor E[eps | x_t] for GP(P_high), cosine schedule (numpy)."""
    P = _check_spectrum(P_high, "P_high")

    def eps(x, t: float):
        t = float(check_in_range(t, 0, 1, name="t", hi_open=True))
        a, b = _cosine_ab(t)
        return wiener_eps(x, a, max(b, 1e-12), P)
    return eps


def band_log_ratio(x, P, k_split: float) -> tuple[float, float]:
    """Mean |log(sample radial power / true radial power)| over the bands 1 <= k <= k_split and k > k_split.

    Chapter snr-high-res-2: how far a set of samples (n, N, N) is from the GP spectrum P, at
    coarse and at fine scales. numpy.
    """
    P = _check_spectrum(P)
    k, pw = radial_power_spectrum(x)
    if x.shape[-1] != P.shape[0]:
        raise ValueError(f"x must have the spectrum's size {P.shape}, got shape {x.shape}")
    band = np.rint(_freq_radius(P.shape[0])).astype(int)
    truth = np.array([P[band == kk].mean() for kk in k])          # E|F[x]|^2 / N^2 = P per mode
    k_split = check_positive(k_split, name="k_split")
    ok = (k >= 1) & (truth > 1e-12 * truth.max())
    lr = np.abs(np.log(np.maximum(pw, 1e-300) / np.where(ok, truth, 1.0)))
    low, high = ok & (k <= k_split), ok & (k > k_split)
    return float(lr[low].mean()), float(lr[high].mean())


def gp_ug_samples(P_high, s: int, w: float, x_T, ts) -> dict:
    """DDIM samples on the GP teacher from the same noise: naive, upsampled low-res, upsample-guided.

    Chapter snr-high-res-2. ``x_T`` (n, N, N) unit noise; the low-resolution model is the exact
    Wiener predictor for the pooled spectrum (N/s)^2, run at N^2 as a convolution for "naive" and
    inside :func:`upsample_guidance_eps` for "ug"; "upsampled" samples at (N/s)^2 from
    s D[x_T] (unit variance again) and upsamples U. numpy.
    """
    P = _check_spectrum(P_high, "P_high")
    s = check_int_in(s, 1, P.shape[0], name="s")
    lo = gp_lowres_model(pooled_spectrum(P, s))
    out = {"naive": ddim_sample(lo, x_T, ts),
           "upsampled": nearest_upsample(ddim_sample(lo, s * avg_pool(x_T, s), ts), s),
           "ug": ddim_sample(lambda x, t: upsample_guidance_eps(lo, x, t, s, w), x_T, ts)}
    return out


def upsample_guidance_explorer(n: int = 32, ws: Sequence[float] = (-1.0, -0.5, 0.0, 0.2, 0.5, 1.0),
                               factors: Sequence[int] = (2, 4), n_samples: int = 100, steps: int = 25,
                               seed: int = 0):
    """The chapter's widget: the same noise sampled naively, by upsampling, and with upsample guidance.

    Chapter snr-high-res-2. GP teacher with a band-pass spectrum on N^2; the low-resolution model
    lives on (N/s)^2. Panels: one sample of each method (same initial noise) and the radial power
    spectra of ``n_samples`` samples against the truth. Readout: mean |log power ratio| in the
    coarse band (k <= N/(2s)) and the fine band.
    """
    from . import widgets as W
    n = check_int_in(n, 8, 128, name="n")
    ws = [check_real(v, name="ws") for v in ws]
    factors = [check_int_in(f, 2, n // 2, name="factors") for f in factors]
    for f in factors:
        if n % f:
            raise ValueError(f"factors must divide n = {n}, got {f}")
    n_samples = check_int_in(n_samples, 1, 5000, name="n_samples")
    steps = check_int_in(steps, 2, 1000, name="steps")
    P = gp_spectrum(n, "bandpass", k0=2.0, width=0.6)
    x_T = np.random.default_rng(seed).standard_normal((n_samples, n, n))
    ts = np.linspace(0.98, 0.0, steps + 1)
    k, truth = radial_power_spectrum(sample_gp(P, 1, np.random.default_rng(seed)))  # k grid only
    band = np.rint(_freq_radius(n)).astype(int)
    truth = np.array([P[band == kk].mean() for kk in k])
    cache: dict = {}

    def compute(w: float, s: int) -> dict:
        if (s, w) not in cache:
            cache[(s, w)] = gp_ug_samples(P, s, w, x_T, ts)
        res = cache[(s, w)]
        edges = list(range(n + 1))
        lim = 3.0
        names = {"naive": "naive (low-res model at high res)", "upsampled": "low-res sample, upsampled",
                 "ug": f"upsample guidance, w = {w:g}"}
        pans = [W.panel(names[key], "x", "y", heatmap={"z": np.round(res[key][0], 3).tolist(), "x": edges,
                                                       "y": edges, "vmin": -lim, "vmax": lim, "label": ""})
                for key in ["naive", "upsampled", "ug"]]
        series = [{"kind": "line", "x": k[1:], "y": truth[1:], "label": "truth", "color": "#000000"}]
        for i, key in enumerate(["naive", "upsampled", "ug"]):
            series.append({"kind": "line", "x": k[1:], "y": radial_power_spectrum(res[key])[1][1:],
                           "label": names[key], "color": W.PALETTE[i], "dash": key != "ug"})
        pans.append(W.panel("Radial power spectrum", "wave number |k|", "power", series=series,
                            yscale="log", vlines=[{"x": n / (2 * s), "label": "", "color": "#999999"}]))
        txt = " · ".join(f"{key}: coarse {band_log_ratio(res[key], P, n / (2 * s))[0]:.2f}, "
                         f"fine {band_log_ratio(res[key], P, n / (2 * s))[1]:.2f}"
                         for key in ["naive", "upsampled", "ug"])
        return W.frame(*pans, text=f"s = {s}, w = {w:g} · mean |log power ratio| to the truth: {txt}")

    controls = [W.Slider("w", ws, 0.0 if 0.0 in ws else ws[0], label="guidance w"),
                W.Slider("s", factors, factors[0], label="resolution factor s", fmt="{:d}")]
    return W.Explorer(controls, compute, name="upsample-guidance")
