"""Denoising Diffusion Codebook Models: DDPM whose noise comes from finite, fixed codebooks.

Chapter diffusion/ddcm (Su Jianlin, kexue.fm/archives/10711; Ohayon et al. 2025). numpy
(float64) throughout; nothing here needs a gradient.

Notation of the post (square-rooted schedule): x_t = abar_t x0 + bbar_t eps with
abar_t^2 + bbar_t^2 = 1, and one step t-1 -> t multiplies by alpha_t with alpha_t^2 + beta_t^2 = 1.
So ``abar_t^2`` is diffusers' ``alphas_cumprod`` and ``beta_t^2`` is diffusers' ``betas``. The
ancestral DDPM step with a clean-sample prediction xhat0(x_t) is

    x_{t-1} = c_x x_t + c_0 xhat0(x_t) + sigma_t eps,
    c_x = alpha_t bbar_{t-1}^2 / bbar_t^2,  c_0 = abar_{t-1} beta_t^2 / bbar_t^2,
    sigma_t = bbar_{t-1} beta_t / bbar_t                                     (sigma_1 = 0).

DDCM draws eps from a codebook C_t of K fixed N(0, I) vectors; encoding picks the codeword
that steers toward a given x0 (:func:`select_noise`), decoding replays the indices.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .._validate import (as_float_ndarray, as_int_array, check_choice, check_in_range,
                         check_int_in, check_last_dim, check_positive, check_shape)
from ..datasets import digits
from .schedules import linear_beta_alphas_cumprod

__all__ = ["DDCMSchedule", "ddcm_schedule", "FullCovGMM", "digits_gmm", "Codebooks",
           "ddcm_step", "RULES", "select_noise", "ddcm_generate", "ddcm_encode", "ddcm_decode",
           "code_bits", "pack_code", "unpack_code", "post_weights", "corrected_weights",
           "weighted_moments", "psnr", "rate_distortion", "rule_diagnostics",
           "uniform_quantise"]

VPDenoiser = Callable[[np.ndarray, float, float], np.ndarray]   # xhat0(x_t, abar_t, bbar_t)
RULES = ("argmax", "argmin", "post", "corrected")


# ============================================================================================
# The discrete schedule and one DDPM step
# ============================================================================================

@dataclass(frozen=True)
class DDCMSchedule:
    """A discrete DDPM schedule in the post's notation, steps t = 1..T (index 0 is clean data).

    ``alphas_cumprod[t]`` = abar_t^2 with ``alphas_cumprod[0] = 1``; ``timesteps[t-1]`` is the
    0-based training timestep (diffusers' numbering) that Su's step t uses.
    """
    alphas_cumprod: np.ndarray
    timesteps: np.ndarray

    @property
    def steps(self) -> int:
        return self.alphas_cumprod.size - 1

    @property
    def alpha_bar(self) -> np.ndarray:
        return np.sqrt(self.alphas_cumprod)

    @property
    def beta_bar(self) -> np.ndarray:
        return np.sqrt(1.0 - self.alphas_cumprod)

    def coefs(self, t: int) -> tuple[float, float, float]:
        """(c_x, c_0, sigma_t) of step t (1-based), the posterior q(x_{t-1} | x_t, x0) above."""
        t = check_int_in(t, 1, self.steps, name="t")
        ac, ac_prev = self.alphas_cumprod[t], self.alphas_cumprod[t - 1]
        alpha2 = ac / ac_prev                         # alpha_t^2
        beta2 = 1.0 - alpha2                          # beta_t^2
        bb2, bb2_prev = 1.0 - ac, 1.0 - ac_prev       # bbar_t^2, bbar_{t-1}^2
        c_x = math.sqrt(alpha2) * bb2_prev / bb2
        c_0 = math.sqrt(ac_prev) * beta2 / bb2
        sigma = math.sqrt(bb2_prev * beta2 / bb2)
        return float(c_x), float(c_0), float(sigma)


def ddcm_schedule(steps: int = 1000, T: int = 1000, beta_start: float = 1e-4,
                  beta_end: float = 0.02) -> DDCMSchedule:
    """DDPM's linear-beta schedule with T training steps, sampled on ``steps`` of them.

    The grid is diffusers' "leading" spacing: timesteps 0, r, 2r, ..., (steps-1) r with
    r = T // steps, so steps = T is plain DDPM and a smaller count is a respaced DDPM whose
    per-step alpha_t^2 = abar_t^2 / abar_{t-1}^2 (numpy).
    """
    T = check_int_in(T, 2, None, name="T")
    steps = check_int_in(steps, 2, T, name="steps")
    ac_full = linear_beta_alphas_cumprod(T, beta_start, beta_end)
    ts = np.arange(steps) * (T // steps)
    return DDCMSchedule(np.concatenate([[1.0], ac_full[ts]]), ts)


def ddcm_step(x_t, x0_hat, t: int, schedule: DDCMSchedule, noise) -> np.ndarray:
    """x_{t-1} = c_x x_t + c_0 xhat0 + sigma_t eps: one DDPM step with given noise (numpy)."""
    c_x, c_0, sigma = schedule.coefs(t)
    return c_x * x_t + c_0 * x0_hat + sigma * noise


# ============================================================================================
# The exact teacher: a full-covariance Gaussian mixture
# ============================================================================================

class FullCovGMM:
    """p(x0) = sum_k w_k N(mu_k, Sigma_k) with the exact VP denoiser E[x0 | x_t].

    Chapter ddcm. With x_t = a x0 + b eps, component k of x_t is N(a mu_k, a^2 Sigma_k + b^2 I).
    In the eigenbasis Sigma_k = U_k diag(lam_k) U_k^T, with y = U_k^T (x_t - a mu_k) and
    v = a^2 lam_k + b^2,

        log r_k = log w_k - 1/2 sum log v - 1/2 sum y^2 / v   (+ const),
        E[x0 | x_t, k] = mu_k + U_k (a lam_k / v * y),   E[x0 | x_t] = sum_k r_k E[x0 | x_t, k].

    numpy (float64).
    """

    def __init__(self, weights, means, covs):
        mu = as_float_ndarray(means, name="means", min_ndim=2, max_ndim=2)
        k, d = mu.shape
        w = as_float_ndarray(weights, name="weights", min_ndim=1, max_ndim=1)
        check_shape(w, (k,), name="weights")
        if (w < 0).any() or abs(w.sum() - 1) > 1e-9:
            raise ValueError("weights must be >= 0 and sum to 1")
        c = as_float_ndarray(covs, name="covs", min_ndim=3, max_ndim=3)
        check_shape(c, (k, d, d), name="covs")
        if not np.allclose(c, np.swapaxes(c, 1, 2), atol=1e-12):
            raise ValueError("covs must be symmetric")
        lam, U = np.linalg.eigh(c)                                       # (k, d), (k, d, d)
        if (lam <= 0).any():
            raise ValueError("covs must be positive definite")
        self.weights, self.means, self.covs = w.copy(), mu.copy(), c.copy()
        self.lam, self.U = lam, U

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def _x(self, x) -> np.ndarray:
        arr = as_float_ndarray(x, name="x", min_ndim=2, max_ndim=2)
        check_last_dim(arr, self.dim, name="x")
        return arr

    def _parts(self, x: np.ndarray, a: float, b: float):
        y = (x[None] - a * self.means[:, None]) @ self.U                 # (k, n, d) eigen-coords
        v = a * a * self.lam + b * b                                     # (k, d)
        logit = (np.log(np.maximum(self.weights, 1e-300))[:, None] - 0.5 * np.log(v).sum(1)[:, None]
                 - 0.5 * (y * y / v[:, None]).sum(-1))                   # (k, n)
        logit -= logit.max(0, keepdims=True)
        r = np.exp(logit)
        return y, v, r / r.sum(0, keepdims=True)

    def responsibilities(self, x, alpha_bar: float, beta_bar: float) -> np.ndarray:
        """Posterior component probabilities r_k(x_t), shape (n, K)."""
        a = check_in_range(alpha_bar, 0, 1, name="alpha_bar")
        b = check_in_range(beta_bar, 0, 1, name="beta_bar")
        return self._parts(self._x(x), a, b)[2].T

    def denoise(self, x, alpha_bar: float, beta_bar: float) -> np.ndarray:
        """E[x0 | x_t = x] for x_t = alpha_bar x0 + beta_bar eps, shape (n, d)."""
        x = self._x(x)
        a = check_in_range(alpha_bar, 0, 1, name="alpha_bar")
        b = check_in_range(beta_bar, 0, 1, name="beta_bar")
        if a * a + b * b < 1e-300 or (b == 0 and a == 0):
            raise ValueError("alpha_bar and beta_bar must not both be 0")
        y, v, r = self._parts(x, a, b)
        shrink = (a * self.lam / v)[:, None] * y                         # (k, n, d)
        cond = self.means[:, None] + shrink @ np.swapaxes(self.U, 1, 2)  # E[x0 | x_t, k]
        return (r[..., None] * cond).sum(0)

    __call__ = denoise

    def log_density(self, x) -> np.ndarray:
        """log p(x0) of the clean mixture, shape (n,)."""
        x = self._x(x)
        y = (x[None] - self.means[:, None]) @ self.U
        comp = (-0.5 * (y * y / self.lam[:, None]).sum(-1) - 0.5 * np.log(self.lam).sum(1)[:, None]
                - 0.5 * self.dim * math.log(2 * math.pi) + np.log(np.maximum(self.weights, 1e-300))[:, None])
        m = comp.max(0)
        return m + np.log(np.exp(comp - m).sum(0))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n draws of x0, shape (n, d)."""
        n = check_int_in(n, 1, None, name="n")
        comp = rng.choice(self.weights.size, size=n, p=self.weights)
        z = rng.standard_normal((n, self.dim)) * np.sqrt(self.lam[comp])
        return self.means[comp] + np.einsum("nij,nj->ni", self.U[comp], z)


def digits_gmm(reg: float = 1e-2, train_rows: int = 1500) -> FullCovGMM:
    """The digits teacher: one Gaussian per digit class, fitted by maximum likelihood.

    Chapter ddcm. Rows 0..train_rows-1 of the 8x8 digits in [-1, 1] (64-D); component k has
    the class frequency, the class mean and the class covariance plus ``reg`` I (closed form, no
    EM, so the fit is the same on every machine). Rows from ``train_rows`` on stay held out.
    """
    reg = check_positive(reg, name="reg")
    train_rows = check_int_in(train_rows, 100, 1797, name="train_rows")
    X, y = digits("signed")
    X, y = X[:train_rows], y[:train_rows]
    classes = np.unique(y)
    w = np.array([(y == c).mean() for c in classes])
    mu = np.stack([X[y == c].mean(0) for c in classes])
    cov = np.stack([np.cov(X[y == c], rowvar=False, bias=True) + reg * np.eye(64) for c in classes])
    return FullCovGMM(w, mu, (cov + np.swapaxes(cov, 1, 2)) / 2)


# ============================================================================================
# Codebooks and the three uses: generate, encode, decode
# ============================================================================================

class Codebooks:
    """Fixed codebooks C_1..C_{T+1} of K standard-normal vectors in R^dim, made on demand.

    C_t comes from ``numpy.random.default_rng([seed, t])``, so encoder and decoder rebuild the same
    vectors from (seed, t) without storing (T+1) K dim numbers. ``shared=True``: one codebook for
    every step (the variant the post found to need a much larger K). ``centred=True`` (K >= 2):
    each codebook minus its own mean, times sqrt(K / (K - 1)), so that a uniform draw from it has
    mean exactly 0 and covariance I on average (a plain codebook's mean is a random N(0, I/K)
    offset that every sample drawn with it shares).
    """

    def __init__(self, K: int, dim: int, seed: int = 0, shared: bool = False, centred: bool = False):
        self.K = check_int_in(K, 2 if centred else 1, 1 << 20, name="K")
        self.dim = check_int_in(dim, 1, None, name="dim")
        self.seed = check_int_in(seed, 0, None, name="seed")
        self.shared, self.centred = bool(shared), bool(centred)
        self._shared = self._make(0) if shared else None

    def _make(self, t: int) -> np.ndarray:
        C = np.random.default_rng([self.seed, t]).standard_normal((self.K, self.dim))
        if self.centred:
            # E over codebooks of (1/K) sum_i (c_i - cbar)(c_i - cbar)^T = (K - 1)/K I
            C = (C - C.mean(0)) * math.sqrt(self.K / (self.K - 1))
        return C

    def __call__(self, t: int) -> np.ndarray:
        t = check_int_in(t, 1, None, name="t")
        return self._shared if self.shared else self._make(t)


def select_noise(codebook, residual, coefs: tuple[float, float, float], rule: str = "argmax",
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """Indices (n,) of the codewords that steer x_{t-1} toward x0. r = x0 - xhat0(x_t).

    * ``argmax``: argmax_eps eps . r                  (DDCM, the post's eq. ddcm-eg)
    * ``argmin``: argmin_eps |c_0 r - sigma eps|      (the post's eq. ddcm-eps0)
    * ``post``: sample with p(eps) ∝ exp(-|eps - m|^2 / 2), m = c_0 r / sigma (the post's eq. ddcm-p)
    * ``corrected``: sample with p(eps) ∝ exp(eps . m), the importance weight N(eps; m, I) / N(eps; 0, I)
      of codewords drawn from N(0, I); its mode is ``argmax``.

    The sampling rules need ``rng``. numpy.
    """
    C = as_float_ndarray(codebook, name="codebook", min_ndim=2, max_ndim=2)
    r = as_float_ndarray(residual, name="residual", min_ndim=2, max_ndim=2)
    check_last_dim(r, C.shape[1], name="residual")
    check_choice(rule, list(RULES), name="rule")
    _, c_0, sigma = coefs
    if rule == "argmax":
        return np.argmax(r @ C.T, axis=1)
    if rule == "argmin":
        # |c_0 r - sigma eps|^2 = const - 2 c_0 sigma eps.r + sigma^2 |eps|^2
        return np.argmin(sigma * sigma * (C * C).sum(1) - 2 * c_0 * sigma * (r @ C.T), axis=1)
    if rng is None:
        raise ValueError(f"rng must be a numpy Generator for the sampling rule {rule!r}")
    if sigma <= 0:
        raise ValueError("coefs must have sigma > 0 for a sampling rule")
    m = c_0 / sigma * r                                                   # (n, d)
    w = post_weights(C, m) if rule == "post" else corrected_weights(C, m)
    u = rng.random((w.shape[0], 1))
    return np.minimum((np.cumsum(w, axis=1) < u).sum(1), C.shape[0] - 1)  # inverse-CDF draw


def _run(x_T: np.ndarray, denoiser: VPDenoiser, schedule: DDCMSchedule, noise_at) -> np.ndarray:
    """The DDPM chain from x_T; ``noise_at(t, x_t, x0_hat)`` returns the noise of step t (t >= 2)."""
    ab, bb = schedule.alpha_bar, schedule.beta_bar
    x = x_T
    for t in range(schedule.steps, 0, -1):
        x0_hat = denoiser(x, float(ab[t]), float(bb[t]))
        if t == 1:                                   # sigma_1 = 0 and c_x = 0: x_0 = xhat0(x_1)
            return ddcm_step(x, x0_hat, 1, schedule, 0.0)
        x = ddcm_step(x, x0_hat, t, schedule, noise_at(t, x, x0_hat))
    return x  # pragma: no cover - the loop returns at t = 1


def ddcm_generate(n: int, denoiser: VPDenoiser, schedule: DDCMSchedule, codebooks: Codebooks | None,
                  rng: np.random.Generator) -> np.ndarray:
    """n samples of DDPM (``codebooks=None``: Gaussian noise) or DDCM (uniform codeword indices).

    x_T is drawn from C_{T+1} (or N(0, I)); every step t >= 2 draws its noise the same way. numpy.
    """
    n = check_int_in(n, 1, None, name="n")
    if codebooks is None:
        d = denoiser.dim if hasattr(denoiser, "dim") else None
        if d is None:
            raise ValueError("codebooks=None needs a denoiser with a .dim attribute")
        x_T = rng.standard_normal((n, d))
        return _run(x_T, denoiser, schedule, lambda t, x, x0: rng.standard_normal(x.shape))
    K = codebooks.K
    x_T = codebooks(schedule.steps + 1)[rng.integers(K, size=n)]
    return _run(x_T, denoiser, schedule, lambda t, x, x0: codebooks(t)[rng.integers(K, size=n)])


def ddcm_encode(x0, denoiser: VPDenoiser, schedule: DDCMSchedule, codebooks: Codebooks,
                rule: str = "argmax", rng: np.random.Generator | None = None):
    """Encode x0 (n, d) as (indices (n, T-1), x_rec (n, d)) by guided DDCM generation.

    From the fixed x_T = C_{T+1}[0], step t = T..2 picks eps_t in C_t by :func:`select_noise`
    with r = x0 - xhat0(x_t); column j of the indices belongs to step t = T - j. The last step
    (sigma_1 = 0) carries no index; x_rec is what :func:`ddcm_decode` rebuilds. numpy.
    """
    x0 = as_float_ndarray(x0, name="x0", min_ndim=2, max_ndim=2)
    check_last_dim(x0, codebooks.dim, name="x0")
    check_choice(rule, list(RULES), name="rule")
    if rule in ("post", "corrected") and rng is None:
        raise ValueError(f"rng must be a numpy Generator for the sampling rule {rule!r}")
    cols = []

    def noise_at(t, x, x0_hat):
        C = codebooks(t)
        idx = select_noise(C, x0 - x0_hat, schedule.coefs(t), rule, rng)
        cols.append(idx)
        return C[idx]

    x_T = np.broadcast_to(codebooks(schedule.steps + 1)[0], x0.shape)
    x_rec = _run(x_T, denoiser, schedule, noise_at)
    return np.stack(cols, 1), x_rec


def ddcm_decode(indices, denoiser: VPDenoiser, schedule: DDCMSchedule, codebooks: Codebooks) -> np.ndarray:
    """Replay the indices (n, T-1) of :func:`ddcm_encode`: the same chain, no x0 needed (numpy)."""
    idx, _ = as_int_array(indices, name="indices")
    if idx.ndim != 2 or idx.shape[1] != schedule.steps - 1:
        raise ValueError(f"indices must have shape (n, {schedule.steps - 1}), got {idx.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= codebooks.K):
        raise ValueError(f"indices must lie in [0, {codebooks.K - 1}]")
    x_T = np.broadcast_to(codebooks(schedule.steps + 1)[0], (idx.shape[0], codebooks.dim))
    return _run(x_T, denoiser, schedule, lambda t, x, x0: codebooks(t)[idx[:, schedule.steps - t]])


# ============================================================================================
# The rate, counted by packing the indices into one message
# ============================================================================================

def code_bits(steps: int, K: int) -> int:
    """Bits of the longest message: ceil((T - 1) log2 K), exactly, as the bit length of K^(T-1) - 1."""
    steps = check_int_in(steps, 2, None, name="steps")
    K = check_int_in(K, 1, None, name="K")
    return (K ** (steps - 1) - 1).bit_length()


def pack_code(indices, K: int) -> bytes:
    """One row of indices in [0, K) as the mixed-radix integer sum_j i_j K^j, in bytes (big-endian).

    Its length in bits is at most :func:`code_bits`; :func:`unpack_code` inverts it.
    """
    K = check_int_in(K, 1, None, name="K")
    idx, _ = as_int_array(indices, name="indices")
    if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= K)):
        raise ValueError(f"indices must be a 1-D array of integers in [0, {K - 1}]")
    value = 0
    for i in idx[::-1].tolist():
        value = value * K + i
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def unpack_code(data: bytes, K: int, length: int) -> np.ndarray:
    """The indices that :func:`pack_code` turned into ``data``."""
    K = check_int_in(K, 1, None, name="K")
    length = check_int_in(length, 1, None, name="length")
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"data must be bytes, got {type(data).__name__}")
    value = int.from_bytes(data, "big")
    out = []
    for _ in range(length):
        value, i = divmod(value, K) if K > 1 else (value, 0)
        out.append(i)
    if value:
        raise ValueError(f"data holds more than {length} indices in base {K}")
    return np.array(out, dtype=np.int64)


# ============================================================================================
# Importance weights on a codebook, and the metrics
# ============================================================================================

def _softmax_rows(logit: np.ndarray) -> np.ndarray:
    logit = logit - logit.max(-1, keepdims=True)
    w = np.exp(logit)
    return w / w.sum(-1, keepdims=True)


def post_weights(codebook, m) -> np.ndarray:
    """The post's weights on C: softmax_eps(-|eps - m|^2 / 2), rows for each m (n, K) (numpy).

    With eps ~ N(0, I) in the codebook, these resample the product N(0, I) N(m, I), i.e.
    N(m/2, I/2) as K grows, not the target N(m, I).
    """
    C = as_float_ndarray(codebook, name="codebook", min_ndim=2, max_ndim=2)
    mm = as_float_ndarray(m, name="m", min_ndim=1, max_ndim=2)
    check_last_dim(mm, C.shape[1], name="m")
    m2 = np.atleast_2d(mm)
    w = _softmax_rows(-0.5 * (((C[None] - m2[:, None]) ** 2).sum(-1)))
    return w[0] if mm.ndim == 1 else w


def corrected_weights(codebook, m) -> np.ndarray:
    """Self-normalised importance weights N(eps; m, I) / N(eps; 0, I) ∝ exp(eps . m) on C (numpy).

    They resample codewords drawn from N(0, I) toward N(m, I) as K grows; their largest weight
    sits on argmax_eps eps . m, the DDCM rule.
    """
    C = as_float_ndarray(codebook, name="codebook", min_ndim=2, max_ndim=2)
    mm = as_float_ndarray(m, name="m", min_ndim=1, max_ndim=2)
    check_last_dim(mm, C.shape[1], name="m")
    w = _softmax_rows(np.atleast_2d(mm) @ C.T)
    return w[0] if mm.ndim == 1 else w


def weighted_moments(codebook, weights) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and covariance (d, d) of the codewords under weights (K,) summing to 1 (numpy)."""
    C = as_float_ndarray(codebook, name="codebook", min_ndim=2, max_ndim=2)
    w = as_float_ndarray(weights, name="weights", min_ndim=1, max_ndim=1)
    check_shape(w, (C.shape[0],), name="weights")
    if (w < 0).any() or abs(w.sum() - 1) > 1e-9:
        raise ValueError("weights must be >= 0 and sum to 1")
    mean = w @ C
    D = C - mean
    return mean, (w[:, None] * D).T @ D


def psnr(x, y, peak: float = 2.0) -> float:
    """10 log10(peak^2 / MSE) in dB; peak 2 for images in [-1, 1] (numpy)."""
    a = as_float_ndarray(x, name="x", min_ndim=1)
    b = as_float_ndarray(y, name="y", min_ndim=1)
    check_shape(b, a.shape, name="y")
    peak = check_positive(peak, name="peak")
    mse = float(((a - b) ** 2).mean())
    if mse == 0:
        raise ValueError("y must differ from x (PSNR is infinite at MSE 0)")
    return 10 * math.log10(peak * peak / mse)


def rate_distortion(x0, denoiser: VPDenoiser, Ks=(2, 4, 16, 64, 256), steps=(50, 100, 250, 1000),
                    seed: int = 0, rule: str = "argmax") -> dict:
    """Encode x0 at every (steps, K): bits (nT, nK), MSE per pixel (nT, nK), reconstructions.

    Returns ``{"Ks", "steps", "bits", "mse", "rec" (nT, nK, n, d), "idx" {(steps, K): (n, steps-1)}}``.

    Chapter ddcm, the rate-distortion curves. Codebooks seeded by ``seed``; the greedy rules only
    (``argmax`` or ``argmin``), so the result is deterministic. numpy.
    """
    x0 = as_float_ndarray(x0, name="x0", min_ndim=2, max_ndim=2)
    check_choice(rule, ["argmax", "argmin"], name="rule")
    Ks = [check_int_in(k, 2, 1 << 16, name="Ks") for k in Ks]
    steps = [check_int_in(s, 2, 1000, name="steps") for s in steps]
    bits = np.zeros((len(steps), len(Ks)), dtype=np.int64)
    mse = np.zeros((len(steps), len(Ks)))
    rec = np.zeros((len(steps), len(Ks)) + x0.shape)
    codes = {}
    for i, s in enumerate(steps):
        sch = ddcm_schedule(s)
        for j, K in enumerate(Ks):
            codes[(s, K)], x_rec = ddcm_encode(x0, denoiser, sch, Codebooks(K, x0.shape[1], seed), rule)
            bits[i, j] = code_bits(s, K)
            mse[i, j] = float(((x_rec - x0) ** 2).mean())
            rec[i, j] = x_rec
    return {"Ks": Ks, "steps": steps, "bits": bits, "mse": mse, "rec": rec, "idx": codes}


def rule_diagnostics(x0, denoiser: VPDenoiser, schedule: DDCMSchedule, codebooks: Codebooks) -> dict:
    """Along the argmax encoding chain of x0, how the other rules would have chosen, per step.

    Chapter ddcm. For each step t = T..2 (arrays of length T - 1, in that order): ``agree``, the
    share of images where the argmin rule picks the argmax codeword; ``top_post`` and
    ``top_corrected``, the mean largest weight of :func:`post_weights` and
    :func:`corrected_weights` (1 = one-hot); ``m_norm``, the mean |m_t| with
    m_t = c_0 (x0 - xhat0) / sigma_t. numpy.
    """
    x0 = as_float_ndarray(x0, name="x0", min_ndim=2, max_ndim=2)
    check_last_dim(x0, codebooks.dim, name="x0")
    out: dict = {"t": [], "agree": [], "top_post": [], "top_corrected": [], "m_norm": []}

    def noise_at(t, x, x0_hat):
        C, coefs = codebooks(t), schedule.coefs(t)
        r = x0 - x0_hat
        best = select_noise(C, r, coefs, "argmax")
        m = coefs[1] / coefs[2] * r
        out["t"].append(t)
        out["agree"].append(float((select_noise(C, r, coefs, "argmin") == best).mean()))
        out["top_post"].append(float(post_weights(C, m).max(1).mean()))
        out["top_corrected"].append(float(corrected_weights(C, m).max(1).mean()))
        out["m_norm"].append(float(np.linalg.norm(m, axis=1).mean()))
        return C[best]

    x_T = np.broadcast_to(codebooks(schedule.steps + 1)[0], x0.shape)
    _run(x_T, denoiser, schedule, noise_at)
    return {k: np.array(v) for k, v in out.items()}


def uniform_quantise(x, levels: int, lo: float = -1.0, hi: float = 1.0) -> tuple[np.ndarray, int]:
    """Scalar baseline codec: every pixel rounded to the nearest of ``levels`` equally spaced values
    in [lo, hi]. Returns (reconstruction, bits per row), bits = ceil(d log2 levels) exactly for a
    fixed-length code of the d pixels of a row (chapter ddcm, the rate-distortion baseline). numpy.
    """
    a = as_float_ndarray(x, name="x", min_ndim=2, max_ndim=2)
    levels = check_int_in(levels, 2, 1 << 16, name="levels")
    lo, hi = float(lo), float(hi)
    if not hi > lo:
        raise ValueError(f"hi must be > lo, got lo={lo}, hi={hi}")
    step = (hi - lo) / (levels - 1)
    q = np.clip(np.round((a - lo) / step), 0, levels - 1)
    return lo + q * step, (levels ** a.shape[1] - 1).bit_length()
