"""Exact teachers in VE form: Gaussian-mixture data and its closed-form denoiser.

Shared by every chapter of the part "Diffusion". No pretrained network can be downloaded, so the
book studies diffusion with data whose optimal denoiser E[x0 | x_sigma] is closed form, and
measures solver, schedule and guidance errors against the truth. A teacher is called like any
denoiser, ``teacher(x, sigma)`` (x_sigma = x0 + sigma eps, :mod:`kexue.diffusion.schedules`).
numpy (float64).
"""
from __future__ import annotations

import math

import numpy as np

from .._validate import (as_float_ndarray, check_in_range, check_int_in, check_last_dim,
                         check_positive, check_seed)

__all__ = ["GaussianMixture", "IsotropicGaussian", "ring_mixture", "random_mixture"]


class GaussianMixture:
    """Isotropic Gaussian mixture  p(x0) = sum_k w_k N(mu_k, s_k^2 I)  with an exact denoiser.

    Chapter amed-ode-sampling. In VE form x_sigma = x0 + sigma eps, component k of x_sigma is
    N(mu_k, (s_k^2 + sigma^2) I), so the posterior responsibilities gamma_k(x) are a softmax of
    log w_k - d/2 log(s_k^2 + sigma^2) - |x - mu_k|^2 / (2 (s_k^2 + sigma^2)) and

        D(x, sigma) = E[x0 | x_sigma = x] = sum_k gamma_k (mu_k + s_k^2 / (s_k^2 + sigma^2) (x - mu_k)).

    numpy (float64). ``means`` (K, d); ``stds`` a scalar or (K,); ``weights`` (K,) or None.
    """

    def __init__(self, means, stds, weights=None):
        mu = as_float_ndarray(means, name="means", min_ndim=2, max_ndim=2)
        k = mu.shape[0]
        s = as_float_ndarray(stds, name="stds", min_ndim=0, max_ndim=1)   # a scalar: one std for all
        s = np.broadcast_to(s, (k,)) if s.ndim == 0 else s
        if s.shape[0] != k:
            raise ValueError(f"stds must have shape ({k},) to match means, got {s.shape}")
        if (s <= 0).any():
            raise ValueError("stds must be > 0")
        if weights is None:
            w = np.full(k, 1.0 / k)
        else:
            w = as_float_ndarray(weights, name="weights", min_ndim=1, max_ndim=1)
            if w.shape[0] != k:
                raise ValueError(f"weights must have shape ({k},) to match means, got {w.shape}")
            if (w < 0).any() or abs(w.sum() - 1) > 1e-9:
                raise ValueError("weights must be >= 0 and sum to 1")
        self.means, self.stds, self.weights = mu.copy(), np.array(s, dtype=float), np.array(w, dtype=float)

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def _x(self, x):
        arr = as_float_ndarray(x, name="x", min_ndim=1)
        check_last_dim(arr, self.dim, name="x")
        return arr

    def responsibilities(self, x, sigma: float) -> np.ndarray:
        """Posterior component probabilities gamma_k(x) at noise level sigma; shape (..., K)."""
        return self._resp(self._x(x), check_positive(sigma, name="sigma"))

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
        sigma = check_positive(sigma, name="sigma")
        g = self._resp(x, sigma)                                              # (..., K)
        shrink = self.stds ** 2 / (self.stds ** 2 + sigma ** 2)               # (K,)
        # sum_k g_k (mu_k (1 - shrink_k) + shrink_k x)
        return (g * (1 - shrink)) @ self.means + (g @ shrink)[..., None] * x

    __call__ = denoise

    def velocity(self, x, sigma: float) -> np.ndarray:
        """Probability-flow ODE slope dx/dsigma = (x - D(x, sigma)) / sigma."""
        return (self._x(x) - self.denoise(x, sigma)) / check_positive(sigma, name="sigma")

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
    mu = np.random.default_rng(check_seed(seed)).standard_normal((k, dim))
    return GaussianMixture(mu / np.linalg.norm(mu, axis=1, keepdims=True), std)


class IsotropicGaussian:
    """x0 ~ N(0, c^2 I): the one teacher whose whole ODE trajectory is closed-form.

    Chapter amed-ode-sampling, eq. (exact MVT time). D(x, sigma) = c^2 / (c^2 + sigma^2) x, the ODE
    dx/dsigma = sigma x / (c^2 + sigma^2) gives x(sigma) proportional to sqrt(c^2 + sigma^2).
    """

    def __init__(self, c: float = 1.0):
        self.c = check_positive(c, name="c")

    def denoise(self, x, sigma: float):
        sigma = check_positive(sigma, name="sigma")
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
