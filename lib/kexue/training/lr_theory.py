"""Learning-rate theory from one step of a second-order model of the loss.

Chapters: batch-size-lr (Su, kexue.fm/archives/10542: noise scale, SGD's and SignSGD's optimal
learning rate against the batch size, the surge, steps against data) and adam-epsilon
(kexue.fm/archives/10563: SoftSign, the clip approximation, how epsilon removes the surge).

Everything is one step from a fixed point theta, with a minibatch gradient g_B ~ N(g, Sigma/B)
and the loss expanded to second order with Hessian H:

    E[L(theta - eta u)] = L - eta E[u]^T g + (eta^2 / 2) tr(E[u u^T] H),
    eta* = E[u]^T g / tr(E[u u^T] H).

numpy + scipy.special throughout (no gradients are needed).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import integrate, special

from .._validate import (as_float_array, check_choice, check_int_in, check_nonnegative,
                         check_ndarray, check_positive, check_real)

__all__ = ["sample_minibatch_gradients", "noise_scales", "sgd_optimal_lr", "sgd_loss_decrease", "steps_data_tradeoff",
           "sign_mean", "signsgd_moments", "signsgd_optimal_lr", "signsgd_loss_decrease",
           "surge_params", "coupled_hessian", "optimal_lr_from_moments",
           "monte_carlo_step_moments", "sgd_stationary_variance", "simulate_sgd_quadratic_1d",
           "softsign", "adam_sign", "clip_mean", "clip_second_moment", "softsign_moments",
           "adam_eps_optimal_lr", "surge_condition", "critical_eps_isotropic"]


# --------------------------------------------------------------------------------- checks
def _vector(x, name: str) -> np.ndarray:
    arr, is_torch = as_float_array(x, name=name, min_ndim=1, max_ndim=1)
    if is_torch:
        raise ValueError(f"{name} must be a numpy array or a list (this module is numpy-only)")
    return arr


def _hessian(H, d: int) -> np.ndarray:
    H, is_torch = as_float_array(H, name="H", min_ndim=2, max_ndim=2)
    if is_torch or H.shape != (d, d):
        raise ValueError(f"H must be a numpy array of shape ({d}, {d}), got {tuple(H.shape)}")
    if not np.allclose(H, H.T, rtol=1e-10, atol=1e-12):
        raise ValueError("H must be symmetric")
    return H


def _sigma_matrix(Sigma, d: int) -> np.ndarray:
    """Sigma as a (d, d) covariance; a (d,) vector is read as its diagonal (variances)."""
    S, _ = as_float_array(Sigma, name="Sigma", min_ndim=1, max_ndim=2)
    S = np.asarray(S)
    if S.ndim == 1:
        if S.shape != (d,) or (S < 0).any():
            raise ValueError(f"Sigma must be {d} variances >= 0 or a ({d}, {d}) matrix")
        return np.diag(S)
    if S.shape != (d, d) or not np.allclose(S, S.T, atol=1e-12):
        raise ValueError(f"Sigma must be a symmetric ({d}, {d}) matrix, got shape {S.shape}")
    return S


def _batch(B) -> np.ndarray:
    b, _ = as_float_array(B, name="B", min_ndim=0, max_ndim=1)
    b = np.asarray(b)
    if not (b > 0).all():
        raise ValueError(f"B must be > 0, got {B!r}")
    return b


def _positive_vector(x, d: int, name: str) -> np.ndarray:
    try:
        np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number or a vector of them, "
                         f"got {x!r}") from None
    v = _vector(np.broadcast_to(np.asarray(x, dtype=float), (d,)) if np.ndim(x) == 0 else x, name)
    if v.shape != (d,) or not (v > 0).all():
        raise ValueError(f"{name} must be > 0 with {d} entries, got shape {v.shape}")
    return v


def coupled_hessian(d: int, rho: float) -> np.ndarray:
    """H = (1 - rho) I + rho 1 1^T: unit diagonal, every off-diagonal entry rho (positive
    definite for -1/(d-1) < rho < 1). The chapters' example of a Hessian whose off-diagonal part
    matters."""
    d = check_int_in(d, 1, None, name="d")
    rho = check_nonnegative(rho, name="rho")
    if rho >= 1:
        raise ValueError(f"rho must be in [0, 1), got {rho!r}")
    return (1 - rho) * np.eye(d) + rho * np.ones((d, d))


# ------------------------------------------------------------------------------------ SGD
def sample_minibatch_gradients(per_example, B: int, n: int, *, seed: int = 0) -> np.ndarray:
    """n minibatch gradients g_B = (1/B) sum of B per-example gradients drawn with replacement
    (so E g_B = g and Cov g_B = Sigma / B exactly). Drawn as multinomial counts, so B can be
    large. per_example: (N, d) -> (n, d). numpy."""
    G = np.asarray(check_ndarray(per_example, name="per_example"), dtype=float)
    if G.ndim != 2 or not np.isfinite(G).all():
        raise ValueError(f"per_example must be a finite (N, d) array, got shape {G.shape}")
    B = check_int_in(B, 1, None, name="B")
    n = check_int_in(n, 1, None, name="n")
    rng = np.random.default_rng(check_int_in(seed, 0, None, name="seed"))
    counts = rng.multinomial(B, np.full(G.shape[0], 1 / G.shape[0]), size=n)   # (n, N)
    return counts @ G / B


def noise_scales(g, H, Sigma) -> dict:
    """eta_max = g^T g / g^T H g, B_noise = tr(Sigma H) / g^T H g, B_simple = tr(Sigma) / g^T g
    (the last one is B_noise when H is a multiple of I). Raises if g^T H g <= 0."""
    g = _vector(g, "g")
    H = _hessian(H, g.size)
    S = _sigma_matrix(Sigma, g.size)
    gHg = float(g @ H @ g)
    if not gHg > 0:
        raise ValueError("H must be positive along g (g^T H g > 0), else eta* is undefined")
    gg = float(g @ g)
    return {"eta_max": gg / gHg, "B_noise": float(np.trace(S @ H)) / gHg,
            "B_simple": float(np.trace(S)) / gg}


def sgd_optimal_lr(g, H, Sigma, B):
    """eta*(B) = g^T g / (g^T H g + tr(Sigma H) / B) = eta_max / (1 + B_noise / B); B may be an
    array."""
    s = noise_scales(g, H, Sigma)
    b = _batch(B)
    out = s["eta_max"] / (1 + s["B_noise"] / b)
    return out[()] if out.ndim == 0 else out


def sgd_loss_decrease(g, H, Sigma, B):
    """Expected decrease at eta*: dL = dL_max / (1 + B_noise / B), dL_max = (g^T g)^2 / 2 g^T H g."""
    g = _vector(g, "g")
    s = noise_scales(g, H, Sigma)
    b = _batch(B)
    out = 0.5 * float(g @ g) * s["eta_max"] / (1 + s["B_noise"] / b)
    return out[()] if out.ndim == 0 else out


def steps_data_tradeoff(B, B_noise: float, S_min: float):
    """S = (1 + B_noise / B) S_min steps and E = B S examples; they satisfy
    (S / S_min - 1)(E / E_min - 1) = 1 with E_min = B_noise S_min. Returns (S, E)."""
    b = _batch(B)
    B_noise = check_positive(B_noise, name="B_noise")
    S_min = check_positive(S_min, name="S_min")
    S = (1 + B_noise / b) * S_min
    return (S[()], (b * S)[()]) if S.ndim == 0 else (S, b * S)


def sgd_stationary_variance(eta, h: float, sigma2: float, B):
    """Stationary variance of theta_{t+1} = theta_t - eta (h theta_t + xi_t), Var xi = sigma2/B:
    eta sigma2 / (B h (2 - eta h)) (needs 0 < eta h < 2). ~ eta sigma2 / (2 h B) for small eta,
    which depends on eta / B only: the linear scaling rule."""
    e, _ = as_float_array(eta, name="eta", min_ndim=0, max_ndim=1)
    h = check_positive(h, name="h")
    sigma2 = check_positive(sigma2, name="sigma2")
    b = _batch(B)
    e = np.asarray(e)
    if not ((e * h > 0) & (e * h < 2)).all():
        raise ValueError("eta must satisfy 0 < eta h < 2 (a stable step)")
    out = e * sigma2 / (b * h * (2 - e * h))
    return out[()] if out.ndim == 0 else out


def simulate_sgd_quadratic_1d(eta: float, h: float, sigma2: float, B: float, *, steps: int,
                              chains: int = 1000, seed: int = 0, burn: int | None = None) -> float:
    """Monte Carlo of the same iteration from theta_0 = 0 (noise ~ N(0, sigma2/B)): the variance
    of theta over chains and the last steps - burn time steps. numpy."""
    eta = check_positive(eta, name="eta")
    h = check_positive(h, name="h")
    sigma2 = check_positive(sigma2, name="sigma2")
    B = check_positive(B, name="B")
    steps = check_int_in(steps, 2, None, name="steps")
    chains = check_int_in(chains, 2, None, name="chains")
    burn = steps // 2 if burn is None else check_int_in(burn, 0, steps - 1, name="burn")
    rng = np.random.default_rng(check_int_in(seed, 0, None, name="seed"))
    theta = np.zeros(chains)
    acc, count = 0.0, 0
    sd = math.sqrt(sigma2 / B)
    for t in range(steps):
        theta = theta - eta * (h * theta + sd * rng.standard_normal(chains))
        if t >= burn:
            acc += float((theta ** 2).mean())
            count += 1
    return acc / count


# --------------------------------------------------------------------- SignSGD (Adam, eps=0)
def sign_mean(g, sigma, B, approx: bool = False):
    """E[sign(g + sigma z / sqrt(B))] = erf((g / sigma) sqrt(B / 2)); with `approx`, the post's
    elementary stand-in x / sqrt(x^2 + pi/4) at x = (g / sigma) sqrt(B / 2), i.e.
    (g/sigma) / sqrt((g/sigma)^2 + pi / 2B). Broadcasts numpy arrays."""
    g, _ = as_float_array(g, name="g", min_ndim=0)
    s, _ = as_float_array(sigma, name="sigma", min_ndim=0)
    if not (np.asarray(s) > 0).all():
        raise ValueError("sigma must be > 0")
    b = _batch(B)
    x = np.asarray(g) / np.asarray(s) * np.sqrt(b / 2)
    return x / np.sqrt(x ** 2 + math.pi / 4) if approx else special.erf(x)


def signsgd_moments(g, sigma, B, mode: str = "exact", kappa2: float | None = None):
    """(E[u], E[u u^T]) for u = sign(g_B), independent coordinates, one batch size B.

    mode "exact": E[u_i] = erf; "approx": the x / sqrt(x^2 + pi/4) stand-in; "meanfield":
    E[u_i] = sign(g_i) beta, beta = (1 + pi kappa2 / 2B)^(-1/2) with kappa2 an average of
    (sigma_i / g_i)^2 (default sum sigma_i^2 / sum g_i^2). E[u_i^2] = 1 in every mode.
    """
    g = _vector(g, "g")
    sig = _positive_vector(sigma, g.size, "sigma")
    check_choice(mode, ["exact", "approx", "meanfield"], name="mode")
    b = float(check_positive(B, name="B"))
    if mode == "meanfield":
        k2 = float((sig ** 2).sum() / (g ** 2).sum()) if kappa2 is None else check_positive(kappa2, name="kappa2")
        mu = np.sign(g) / math.sqrt(1 + math.pi * k2 / (2 * b))
    else:
        mu = sign_mean(g, sig, b, approx=(mode == "approx"))
    M2 = np.outer(mu, mu)
    np.fill_diagonal(M2, 1.0)
    return mu, M2


def optimal_lr_from_moments(g, H, m1, m2):
    """eta* = E[u]^T g / tr(E[u u^T] H) and the decrease it buys, (E[u]^T g)^2 / 2 tr(E[u u^T] H).
    Raises unless tr(E[u u^T] H) > 0."""
    g = _vector(g, "g")
    H = _hessian(H, g.size)
    m1 = _vector(m1, "m1")
    m2, _ = as_float_array(m2, name="m2", min_ndim=2, max_ndim=2)
    den = float(np.sum(np.asarray(m2) * H))             # tr(M2 H) for symmetric H
    if not den > 0:
        raise ValueError("m2 and H must give tr(E[u u^T] H) > 0")
    num = float(m1 @ g)
    return num / den, 0.5 * num * num / den


def signsgd_optimal_lr(g, H, sigma, B, mode: str = "exact", kappa2: float | None = None):
    """Adam-as-SignSGD's eta*(B) = sum_i mu_i g_i / (sum_i H_ii + sum_{i != j} mu_i mu_j H_ij);
    B may be an array (one eta* per entry)."""
    b = _batch(B)
    out = np.array([optimal_lr_from_moments(g, H, *signsgd_moments(g, sigma, float(v), mode, kappa2))[0]
                    for v in np.atleast_1d(b)])
    return out[0] if b.ndim == 0 else out


def signsgd_loss_decrease(g, H, sigma, B, mode: str = "exact", kappa2: float | None = None):
    """Expected decrease at eta*: (sum mu_i g_i)^2 / 2 tr(E[u u^T] H); B may be an array."""
    b = _batch(B)
    out = np.array([optimal_lr_from_moments(g, H, *signsgd_moments(g, sigma, float(v), mode, kappa2))[1]
                    for v in np.atleast_1d(b)])
    return out[0] if b.ndim == 0 else out


def surge_params(g, H, kappa2: float) -> dict:
    """The mean-field surge: with D = sum H_ii and O = sum_{i != j} sign(g_i g_j) H_ij,
    eta* = eta_max / [(beta_n / beta + beta / beta_n) / 2], beta_n = sqrt(D / O),
    eta_max = sum|g_i| / 2 sqrt(D O); peak at B_noise = pi kappa2 beta_n^2 / 2(1 - beta_n^2);
    dL = dL_max / (1 + B_noise2 / B), dL_max = (sum|g_i|)^2 / 2(D + O),
    B_noise2 = pi kappa2 beta_n^2 / 2(1 + beta_n^2). No surge (B_noise = inf, eta_max = nan
    replaced by the B -> inf value) when O <= D, i.e. beta_n >= 1."""
    g = _vector(g, "g")
    H = _hessian(H, g.size)
    k2 = check_positive(kappa2, name="kappa2")
    s = np.sign(g)
    D = float(np.trace(H))
    O = float(s @ H @ s) - float(np.sum(np.diag(H) * s * s))
    G = float(np.abs(g).sum())
    if not D > 0 or not D + O > 0:
        raise ValueError("H must have a positive trace and sign(g)^T H sign(g) > 0")
    out = {"D": D, "O": O, "dL_max": G * G / (2 * (D + O)), "eta_inf": G / (D + O)}
    if O > D:
        bn = math.sqrt(D / O)
        out.update(beta_noise=bn, eta_max=G / (2 * math.sqrt(D * O)),
                   B_noise=math.pi * k2 * bn ** 2 / (2 * (1 - bn ** 2)),
                   B_noise2=math.pi * k2 * bn ** 2 / (2 * (1 + bn ** 2)))
    else:
        bn = math.sqrt(D / O) if O > 0 else math.inf
        out.update(beta_noise=bn, eta_max=G / (D + O), B_noise=math.inf,
                   B_noise2=math.pi * k2 * D / (2 * (D + O)))
    return out


def monte_carlo_step_moments(g, sigma, B, update, *, n: int = 20_000, seed: int = 0):
    """Monte Carlo (E[u], E[u u^T]) for u = update(g + sigma z / sqrt(B)), z ~ N(0, I):
    `update` maps an (n, d) array of noisy gradients to updates (np.sign for SignSGD)."""
    g = _vector(g, "g")
    sig = _positive_vector(sigma, g.size, "sigma")
    b = check_positive(B, name="B")
    n = check_int_in(n, 2, None, name="n")
    if not callable(update):
        raise ValueError(f"update must be a callable (n, d) -> (n, d), got {type(update).__name__}")
    rng = np.random.default_rng(check_int_in(seed, 0, None, name="seed"))
    gb = g + sig * rng.standard_normal((n, g.size)) / math.sqrt(b)
    u = np.asarray(update(gb), dtype=float)
    if u.shape != gb.shape:
        raise ValueError(f"update must return shape {gb.shape}, got {u.shape}")
    return u.mean(0), u.T @ u / n


# ------------------------------------------------------------------ SoftSign (Adam with eps)
def softsign(x, eps: float):
    """softsign(x, eps) = x / sqrt(x^2 + eps^2): Adam's update with eps inside the square root
    (torch.optim.Adam puts it outside: x / (|x| + eps)). eps = 0 gives sign(x) (0 at 0); as
    eps -> inf, eps * softsign(x, eps) -> x (SGD)."""
    x, _ = as_float_array(x, name="x", min_ndim=0)
    eps = check_nonnegative(eps, name="eps")
    x = np.asarray(x)
    if eps == 0:
        return np.sign(x)
    return x / np.hypot(x, eps)


def _clip_moment_args(a, b):
    """Validated, broadcast (a, b), the mask b < 1e-3 where the closed forms cancel (series
    used there), and b with those entries replaced by 1 so the closed form stays finite."""
    a, _ = as_float_array(a, name="a", min_ndim=0)
    b, _ = as_float_array(b, name="b", min_ndim=0)
    a, b = np.broadcast_arrays(np.asarray(a), np.asarray(b))
    if (b < 0).any():
        raise ValueError("b must be >= 0")
    small = b < 1e-3
    return a, b, small, np.where(small, 1.0, b)


def clip_mean(a, b):
    """E[clip((a + z) / b, -1, 1)], z ~ N(0, 1), in closed form (the post's first moment with
    a = g sqrt(B) / sigma, b = eps sqrt(B) / sigma):
    (1/2)[erf((a+b)/sqrt2) + erf((a-b)/sqrt2)] + (a / 2b)[erf((a+b)/sqrt2) - erf((a-b)/sqrt2)]
      + (exp(-(a+b)^2/2) - exp(-(a-b)^2/2)) / (b sqrt(2 pi)).
    Below b = 1e-3, where the formula cancels (rounding ~1e-16 / b), the series
    erf(a / sqrt2) - a b^2 phi(a) / 3 + O(b^4) is used instead."""
    a, b, small, bs = _clip_moment_args(a, b)
    ep, em = special.erf((a + bs) / math.sqrt(2)), special.erf((a - bs) / math.sqrt(2))
    val = 0.5 * (ep + em) + a / (2 * bs) * (ep - em) + (
        np.exp(-(a + bs) ** 2 / 2) - np.exp(-(a - bs) ** 2 / 2)) / (bs * math.sqrt(2 * math.pi))
    phi_a = np.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    out = np.where(small, special.erf(a / math.sqrt(2)) - a * b * b * phi_a / 3, val)
    return out[()] if out.ndim == 0 else out


def clip_second_moment(a, b):
    """E[clip((a + z) / b, -1, 1)^2], z ~ N(0, 1), in closed form (the post leaves it to
    Mathematica): with lo = -b - a, hi = b - a, Phi the normal CDF and phi its density,
    P(|a + z| >= b) + [(a^2 + 1)(Phi(hi) - Phi(lo)) + 2a(phi(lo) - phi(hi))
                       + lo phi(lo) - hi phi(hi)] / b^2.
    Below b = 1e-3 (where the 1/b^2 term cancels) the series
    1 - phi(a) (4b/3 + 2 (a^2 - 1) b^3 / 15) + O(b^5) is used; b -> 0 gives 1."""
    a, b, small, bs = _clip_moment_args(a, b)
    # z ranges: (a + z)/b in [-1, 1]  <=>  z in [-b - a, b - a] = [lo, hi]
    lo, hi = -bs - a, bs - a
    Phi, phi = special.ndtr, lambda t: np.exp(-t * t / 2) / math.sqrt(2 * math.pi)
    inside = Phi(hi) - Phi(lo)
    # int (a + z)^2 phi dz over [lo, hi] = (a^2 + 1) inside + 2a (phi(lo) - phi(hi)) + (lo phi(lo) - hi phi(hi))
    quad = (a * a + 1) * inside + 2 * a * (phi(lo) - phi(hi)) + (lo * phi(lo) - hi * phi(hi))
    val = (1 - inside) + quad / (bs * bs)
    series = 1 - phi(a) * (4 * b / 3 + 2 * (a * a - 1) * b ** 3 / 15)
    out = np.where(small, series, val)
    return out[()] if out.ndim == 0 else out


def adam_sign(x, eps: float):
    """torch.optim.Adam's direction with beta1 = beta2 = 0: x / (|x| + eps) (eps outside the
    square root). Same limits as :func:`softsign`: sign(x) as eps -> 0, x / eps as eps -> inf."""
    x, _ = as_float_array(x, name="x", min_ndim=0)
    eps = check_nonnegative(eps, name="eps")
    x = np.asarray(x)
    if eps == 0:
        return np.sign(x)
    return x / (np.abs(x) + eps)


def softsign_moments(g, sigma, B, eps: float, method: str = "quad", placement: str = "inside"):
    """(E[s], E[s^2]) for s = softsign(g + sigma z / sqrt(B), eps), one coordinate (scalars).

    method "quad": Gauss quadrature (scipy.integrate.quad) of the exact integrals;
    "clip": the closed forms for clip(x / eps) (the post's tractable stand-in, same slope 1/eps
    at 0); "approx": the post's elementary fits a / sqrt(a^2 + b^2 + pi/2) and
    1 - b^2 / (a^2 + b^2 + pi/2) with a = g sqrt(B)/sigma, b = eps sqrt(B)/sigma.
    placement "outside" (quad only) uses Adam's x / (|x| + eps) instead of softsign."""
    g = float(as_float_array(g, name="g", min_ndim=0, max_ndim=0)[0])
    sigma = check_positive(sigma, name="sigma")
    B = check_positive(B, name="B")
    eps = check_nonnegative(eps, name="eps")
    check_choice(method, ["quad", "clip", "approx"], name="method")
    check_choice(placement, ["inside", "outside"], name="placement")
    if placement == "outside" and method != "quad":
        raise ValueError("placement 'outside' needs method 'quad'")
    a, b = g * math.sqrt(B) / sigma, eps * math.sqrt(B) / sigma
    if method == "clip":
        return float(clip_mean(a, b)), float(clip_second_moment(a, b))
    if method == "approx":
        c = a * a + b * b + math.pi / 2
        return a / math.sqrt(c), 1 - b * b / c
    if eps == 0:
        return float(special.erf(a / math.sqrt(2))), 1.0
    # x = a + z in units sigma/sqrt(B): softsign(x sigma/sqrt(B), eps) = x / sqrt(x^2 + b^2)
    dens = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    if placement == "inside":
        f1 = lambda z: (a + z) / math.hypot(a + z, b) * dens(z)
        f2 = lambda z: (a + z) ** 2 / ((a + z) ** 2 + b * b) * dens(z)
    else:
        f1 = lambda z: (a + z) / (abs(a + z) + b) * dens(z)
        f2 = lambda z: ((a + z) / (abs(a + z) + b)) ** 2 * dens(z)
    opts = dict(points=[-a], limit=200, epsabs=1e-13, epsrel=1e-12)
    m1 = integrate.quad(f1, -40.0, 40.0, **opts)[0]
    m2 = integrate.quad(f2, -40.0, 40.0, **opts)[0]
    return m1, m2


def adam_eps_optimal_lr(g, H, sigma, B, eps: float, mode: str = "quad",
                        kappa2: float | None = None, placement: str = "inside"):
    """eta*(B) for u = softsign(g_B, eps), independent coordinates.

    mode "quad"/"clip"/"approx": per-coordinate moments from :func:`softsign_moments`, then
    eta* = sum_i E[u_i] g_i / (sum_i E[u_i^2] H_ii + sum_{i != j} E[u_i] E[u_j] H_ij);
    mode "meanfield": the post's closed form
    eta* = beta sum_i u_i g_i / (beta^2 sum_ij u_i u_j H_ij + (1 - beta^2) sum_i H_ii),
    u_i = softsign(g_i, eps), beta = (1 + pi kappa2 / 2B)^(-1/2), kappa2 an average of
    sigma_i^2 / (g_i^2 + eps^2) (default: sum sigma_i^2 / sum (g_i^2 + eps^2)). B may be an array.
    placement "outside" (mode "quad" only): Adam's x / (|x| + eps) instead of softsign.
    """
    g = _vector(g, "g")
    sig = _positive_vector(sigma, g.size, "sigma")
    H = _hessian(H, g.size)
    eps = check_nonnegative(eps, name="eps")
    check_choice(mode, ["quad", "clip", "approx", "meanfield"], name="mode")
    check_choice(placement, ["inside", "outside"], name="placement")
    if placement == "outside" and mode != "quad":
        raise ValueError("placement 'outside' needs mode 'quad'")
    b = _batch(B)
    out = []
    for v in np.atleast_1d(b):
        if mode == "meanfield":
            k2 = float((sig ** 2).sum() / (g ** 2 + eps ** 2).sum()) if kappa2 is None else \
                check_positive(kappa2, name="kappa2")
            beta2 = 1 / (1 + math.pi * k2 / (2 * v))
            u = softsign(g, eps)
            den = beta2 * float(u @ H @ u) + (1 - beta2) * float(np.trace(H))
            out.append(math.sqrt(beta2) * float(u @ g) / den)
            continue
        cache: dict = {}
        m1, m2 = np.empty(g.size), np.empty(g.size)
        for i in range(g.size):            # coordinates with equal (g, sigma) share one integral
            key = (g[i], sig[i])
            if key not in cache:
                cache[key] = softsign_moments(g[i], sig[i], v, eps, method=mode, placement=placement)
            m1[i], m2[i] = cache[key]
        M2 = np.outer(m1, m1)
        np.fill_diagonal(M2, m2)
        out.append(optimal_lr_from_moments(g, H, m1, M2)[0])
    out = np.array(out)
    return out[0] if b.ndim == 0 else out


def surge_condition(g, H, eps: float) -> bool:
    """The post's necessary condition for a surge at this eps: sum_ij u_i u_j H_ij > sum_i H_ii
    with u_i = softsign(g_i, eps) (the mean-field denominator then falls as beta grows)."""
    g = _vector(g, "g")
    H = _hessian(H, g.size)
    u = softsign(g, check_nonnegative(eps, name="eps"))
    return bool(float(u @ H @ u) > float(np.trace(H)))


def critical_eps_isotropic(g: float, d: int, rho: float, condition: str = "necessary",
                           placement: str = "inside") -> float:
    """Threshold eps* below which a surge appears, for g_i = g (all equal), sigma_i = sigma and
    H = coupled_hessian(d, rho); q = (d - 1) rho, u = softsign(g, eps).

    * "necessary": the post's mean-field condition U = sum_ij u_i u_j H_ij > D = sum_i H_ii,
      i.e. u^2 (1 + q) > 1: eps < |g| sqrt(q);
    * "peak": the mean-field eta*(beta) = beta N / (D + beta^2 (U - D)) peaks at
      beta^2 = D / (U - D), inside beta < 1 only if U > 2D: eps < |g| sqrt((q - 1) / 2);
    * "exact": with the exact softsign moments, eta*(B) = g m1 / (m2 + q m1^2) approaches its
      B -> inf limit from above (so it has a peak) iff -s''/2s - s'^2 / (s^2 (1 + q)) > 0 at g,
      from m1 = s + s'' sigma^2/2B, m2 = s^2 + (s'^2 + s s'') sigma^2/B: eps < |g| sqrt(3 (1 + q) / 2).
      (Chapter adam-epsilon; the bisection there measures the same number.) With Adam's
      placement s = g / (|g| + eps) the same expansion gives eps < |g| (1 + q).
    Returns 0.0 where no eps gives a surge."""
    g = abs(check_real(g, name="g"))
    if g == 0:
        raise ValueError("g must be non-zero")
    d = check_int_in(d, 2, None, name="d")
    rho = check_nonnegative(rho, name="rho")
    check_choice(condition, ["necessary", "peak", "exact"], name="condition")
    check_choice(placement, ["inside", "outside"], name="placement")
    q = (d - 1) * rho
    if placement == "outside":
        if condition != "exact":
            raise ValueError("placement 'outside' needs condition 'exact'")
        return g * (1 + q)
    k = {"necessary": q, "peak": (q - 1) / 2, "exact": 1.5 * (1 + q)}[condition]
    return g * math.sqrt(k) if k > 0 else 0.0
