"""Consistency models on the ReFlow path: the exact consistency map, CD / CT losses, samplers.

Chapter consistency-models. Time runs as in ReFlow: x_t = (1 - t) x0 + t x1 with x1 ~ N(0, I)
the noise at t = 1. For a Gaussian-mixture teacher (:class:`kexue.diffusion.GaussianMixture`) the
denoiser E[x0 | x_t] is closed form on this path, so is the velocity v = (x - E[x0 | x_t]) / t,
and the *exact consistency map* f*(x, t) (where the ODE dx/dt = v started at (x, t) lands at
t = 0) is a numerically solved ODE; for one 1-D Gaussian it is closed form. The teacher functions
are numpy (float64); the network, the losses and the training are torch (float64).
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from .._validate import (as_float_ndarray, check_choice, check_finite_result, check_in_range,
                         check_int_in, check_last_dim, check_positive, check_tensor)
from .mixture import GaussianMixture

__all__ = ["reflow_path", "reflow_denoise", "reflow_velocity", "gaussian_consistency_map",
           "ode_consistency_map", "ConsistencyMLP", "ema_update", "consistency_targets",
           "consistency_loss", "train_consistency", "consistency_sample",
           "exact_map_loss", "telescoping_sum", "edm_boundary_scalings"]


def _time(t, name: str = "t") -> float:
    return check_in_range(t, 0.0, 1.0, name=name, lo_open=True)


def _times(t, x: np.ndarray) -> np.ndarray:
    """t as an array (..., 1) against points x (..., d), every entry in (0, 1]."""
    if np.ndim(t) == 0:
        return np.full(x.shape[:-1] + (1,), _time(t))
    ta = as_float_ndarray(t, name="t")
    if ta.shape != x.shape[:-1]:
        raise ValueError(f"t must be a number or have shape {x.shape[:-1]}, got {ta.shape}")
    if (ta <= 0).any() or (ta > 1).any():
        raise ValueError("t must be in (0, 1]")
    return ta[..., None]


def reflow_path(x0, x1, t: float) -> np.ndarray:
    """x_t = (1 - t) x0 + t x1, the straight ReFlow interpolation (numpy; t in [0, 1])."""
    a = as_float_ndarray(x0, name="x0")
    b = as_float_ndarray(x1, name="x1")
    if a.shape != b.shape:
        raise ValueError(f"x1 must have the shape of x0 {a.shape}, got {b.shape}")
    t = check_in_range(t, 0.0, 1.0, name="t")
    return (1 - t) * a + t * b


def reflow_denoise(teacher: GaussianMixture, x, t) -> np.ndarray:
    """E[x0 | x_t = x] for a Gaussian mixture on the ReFlow path (numpy, t in (0, 1]).

    ``t`` is a number or an array of shape x.shape[:-1] (one time per point).

    Component k of x_t is N((1 - t) mu_k, v_k I) with v_k = (1 - t)^2 s_k^2 + t^2, and inside it
    E[x0 | x_t, k] = mu_k + (1 - t) s_k^2 / v_k (x - (1 - t) mu_k). At t = 1 the responsibilities
    are the weights and the denoiser returns the data mean for every x ("regression to the mean").
    """
    if not isinstance(teacher, GaussianMixture):
        raise ValueError(f"teacher must be a GaussianMixture, got {type(teacher).__name__}")
    x = as_float_ndarray(x, name="x")
    check_last_dim(x, teacher.dim, name="x")
    t = _times(t, x)                                                          # (..., 1)
    mu, s2, d = teacher.means, teacher.stds ** 2, teacher.dim
    v = (1 - t) ** 2 * s2 + t ** 2                                           # (..., K)
    # |x - (1 - t) mu_k|^2
    sq = (x * x).sum(-1, keepdims=True) - 2 * (1 - t) * (x @ mu.T) + (1 - t) ** 2 * (mu * mu).sum(-1)
    logit = np.log(np.maximum(teacher.weights, 1e-300)) - 0.5 * d * np.log(v) - sq / (2 * v)
    g = np.exp(logit - logit.max(-1, keepdims=True))
    g /= g.sum(-1, keepdims=True)                                            # (..., K)
    gain = (1 - t) * s2 / v                                                  # (..., K)
    # sum_k g_k (mu_k - gain_k (1 - t) mu_k + gain_k x)
    return g @ mu - (g * gain * (1 - t)) @ mu + (g * gain).sum(-1, keepdims=True) * x


def reflow_velocity(teacher: GaussianMixture, x, t) -> np.ndarray:
    """The exact ReFlow velocity v*(x, t) = E[x1 - x0 | x_t = x] = (x - E[x0 | x_t = x]) / t (numpy).

    ``t`` is a number or an array of shape x.shape[:-1].
    """
    x = as_float_ndarray(x, name="x")
    return (x - reflow_denoise(teacher, x, t)) / _times(t, x)


def gaussian_consistency_map(x, t: float, m: float, s: float) -> np.ndarray:
    """Closed-form consistency map of 1-D data N(m, s^2) on the ReFlow path (numpy).

        f*(x, t) = m + s (x - (1 - t) m) / sqrt((1 - t)^2 s^2 + t^2).

    The ODE moves x_t monotonically and keeps its standardised value z = (x - (1 - t) m) / sd_t
    fixed, so at t = 0 it lands at m + s z. f*(x, 0) = x and f*(x, 1) = m + s x.
    """
    x = as_float_ndarray(x, name="x", min_ndim=0)
    t = check_in_range(t, 0.0, 1.0, name="t")
    m = check_in_range(m, -1e6, 1e6, name="m")
    s = check_positive(s, name="s")
    sd = math.sqrt((1 - t) ** 2 * s * s + t * t)
    return m + s * (x - (1 - t) * m) / sd


def ode_consistency_map(teacher: GaussianMixture, x, t: float = 1.0, steps: int = 100,
                        return_trajectory: bool = False):
    """f*(x, t): integrate dx/dt = v*(x, t) from t down to 0 with Heun steps (numpy).

    The grid t_i = t (1 - i / steps)^2 is denser near t = 0, where the path bends. Heun's
    corrector is skipped on the last step into t = 0 (v* is singular there); that Euler step
    x - t_last v* = E[x0 | x_{t_last}] is the denoiser. With ``return_trajectory`` also returns
    (times (steps+1,), states (steps+1, ...)).
    """
    if not isinstance(teacher, GaussianMixture):
        raise ValueError(f"teacher must be a GaussianMixture, got {type(teacher).__name__}")
    x = as_float_ndarray(x, name="x")
    check_last_dim(x, teacher.dim, name="x")
    t = _time(t)
    steps = check_int_in(steps, 1, 100_000, name="steps")
    ts = t * (1 - np.arange(steps + 1) / steps) ** 2
    traj = [x]
    for i in range(steps):
        a, b = float(ts[i]), float(ts[i + 1])
        d = reflow_velocity(teacher, x, a)
        if b == 0.0:
            x = x + (b - a) * d
        else:                                               # Heun: average both end slopes
            x_e = x + (b - a) * d
            x = x + (b - a) * 0.5 * (d + reflow_velocity(teacher, x_e, b))
        traj.append(x)
    check_finite_result(x, what="ODE solution")
    return (x, ts, np.stack(traj)) if return_trajectory else x


class ConsistencyMLP(nn.Module):
    """f_theta(x, t) = x - t F_theta(x, t): the post's parameterisation, f_theta(x, 0) = x exactly.

    F is an MLP on the concatenation (x, t) with SiLU activations (torch, float64 by default).
    """

    def __init__(self, dim: int = 2, hidden: int = 64, depth: int = 3, seed: int = 0):
        super().__init__()
        dim = check_int_in(dim, 1, 4096, name="dim")
        hidden = check_int_in(hidden, 1, 4096, name="hidden")
        depth = check_int_in(depth, 1, 16, name="depth")
        g = torch.Generator().manual_seed(check_int_in(seed, 0, None, name="seed"))
        layers, width = [], dim + 1
        for _ in range(depth):
            layers += [nn.Linear(width, hidden, dtype=torch.float64), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, dim, dtype=torch.float64))
        self.net = nn.Sequential(*layers)
        with torch.no_grad():                                # seeded init, independent of global RNG
            for p in self.parameters():
                bound = 1 / math.sqrt(p.shape[-1]) if p.ndim == 2 else 0.05
                p.uniform_(-bound, bound, generator=g)
        self.dim = dim

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        check_tensor(x, name="x")
        if x.shape[-1] != self.dim:
            raise ValueError(f"x must have last dimension {self.dim}, got {tuple(x.shape)}")
        tt = torch.as_tensor(t, dtype=x.dtype).expand(x.shape[:-1]).unsqueeze(-1) if (
            not torch.is_tensor(t) or t.ndim == 0) else t.to(x.dtype).reshape(*x.shape[:-1], 1)
        # f = x - t F(x, t)
        return x - tt * self.net(torch.cat([x, tt], -1))


def ema_update(target: nn.Module, online: nn.Module, decay: float) -> None:
    """theta_bar <- decay theta_bar + (1 - decay) theta, in place (torch)."""
    decay = check_in_range(decay, 0.0, 1.0, name="decay")
    with torch.no_grad():
        for pt, po in zip(target.parameters(), online.parameters()):
            pt.mul_(decay).add_(po, alpha=1 - decay)


def consistency_targets(target_f, x0: torch.Tensor, x1: torch.Tensor, k: torch.Tensor, n: int,
                        teacher: GaussianMixture | None = None):
    """(x_{t_k}, t_k, target) of one batch, t_k = k / n (torch, no gradient through the target).

    CT (teacher None): target = f_bar(x_{t_{k-1}}, t_{k-1}) on the same straight line (x0, x1).
    CD: target = f_bar(x_hat, t_{k-1}) with one Euler step of the teacher's exact ODE,
    x_hat = x_{t_k} - (t_k - t_{k-1}) v*(x_{t_k}, t_k).
    """
    n = check_int_in(n, 1, 100_000, name="n")
    check_tensor(x0, name="x0")
    check_tensor(x1, name="x1")
    if x0.shape != x1.shape:
        raise ValueError(f"x1 must have the shape of x0 {tuple(x0.shape)}, got {tuple(x1.shape)}")
    if k.shape != x0.shape[:-1] or int(k.min()) < 1 or int(k.max()) > n:
        raise ValueError(f"k must hold integers in [1, {n}] of shape {tuple(x0.shape[:-1])}")
    t = (k.to(x0.dtype) / n).unsqueeze(-1)
    tp = ((k - 1).to(x0.dtype) / n).unsqueeze(-1)
    xt = (1 - t) * x0 + t * x1
    with torch.no_grad():
        if teacher is None:
            xp = (1 - tp) * x0 + tp * x1
        else:
            v = reflow_velocity(teacher, xt.numpy(), t.squeeze(-1).numpy())
            xp = xt - (t - tp) * torch.from_numpy(v)
        target = target_f(xp, tp.squeeze(-1))
    return xt, t.squeeze(-1), target


def consistency_loss(f, target_f, x0, x1, k, n: int, teacher: GaussianMixture | None = None):
    """Mean over the batch of |f(x_{t_k}, t_k) - target|^2 (weight w~ = 1): CT or CD (torch)."""
    xt, t, target = consistency_targets(target_f, x0, x1, k, n, teacher)
    return ((f(xt, t) - target) ** 2).sum(-1).mean()


def train_consistency(teacher: GaussianMixture, mode: str = "cd", n: int = 18, steps: int = 1500,
                      batch: int = 256, lr: float = 1e-3, decay: float = 0.99, hidden: int = 64,
                      seed: int = 0):
    """Train f_theta by consistency distillation ("cd") or consistency training ("ct") (torch).

    Data x0 are drawn from ``teacher`` (CT uses nothing else; CD also takes one Euler step of the
    teacher's exact ODE). Adam, float64, one batch of (x0, x1, k ~ U{1..n}) per step, and the
    target network is the EMA of the online one (decay ``decay``). Returns
    ``(model, ema_model, losses)`` with the per-step losses as a numpy array.
    """
    mode = check_choice(mode, ("cd", "ct"), name="mode")
    n = check_int_in(n, 1, 10_000, name="n")
    steps = check_int_in(steps, 1, 1_000_000, name="steps")
    batch = check_int_in(batch, 1, 1_000_000, name="batch")
    lr = check_positive(lr, name="lr")
    decay = check_in_range(decay, 0.0, 1.0, name="decay")
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    model = ConsistencyMLP(teacher.dim, hidden, seed=seed)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = np.empty(steps)
    for i in range(steps):
        x0 = torch.from_numpy(teacher.sample(batch, rng))
        x1 = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
        k = torch.randint(1, n + 1, (batch,), generator=gen)
        loss = consistency_loss(model, ema, x0, x1, k, n, teacher if mode == "cd" else None)
        opt.zero_grad()
        loss.backward()
        opt.step()
        ema_update(ema, model, decay)
        losses[i] = loss.item()
    check_finite_result(losses, what="training loss")
    return model, ema, losses


def consistency_sample(f, x1, ts=(1.0,), seed: int = 0) -> np.ndarray:
    """Consistency sampling (numpy in and out, the model run in float64 without gradient).

    x0 <- f(x1, ts[0]); then for each later t in ``ts`` (decreasing, in (0, 1)): draw z, re-noise
    x_t = (1 - t) x0 + t z and set x0 <- f(x_t, t). ``ts=(1.0,)`` is one-step generation.
    """
    x = as_float_ndarray(x1, name="x1", min_ndim=2, max_ndim=2)
    ts = [check_in_range(v, 0.0, 1.0, name="ts", lo_open=True) for v in ts]
    if not ts or any(b >= a for a, b in zip(ts, ts[1:])):
        raise ValueError(f"ts must be a non-empty strictly decreasing sequence, got {ts}")
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        x0 = f(torch.from_numpy(x.copy()), ts[0])
        for t in ts[1:]:
            z = torch.from_numpy(rng.standard_normal(x.shape))
            x0 = f((1 - t) * x0 + t * z, t)
    out = x0.numpy()
    check_finite_result(out, what="consistency samples")
    return out


def exact_map_loss(m: float, s: float, n: int, mode: str = "cd", samples: int = 200_000,
                   seed: int = 0) -> float:
    """Monte Carlo CT / CD loss of the exact consistency map of 1-D N(m, s^2) (numpy).

    E_{k, x0, x1} |f*(x_{t_k}, t_k) - f*(y, t_{k-1})|^2 with y = x_{t_{k-1}} on the same line (CT)
    or y = one exact-teacher Euler step from x_{t_k} (CD). A perfect CD target makes it 0 up to
    the Euler step's local error; a CT target is a noisy one, so the loss stays O(1 / n^2).
    """
    s = check_positive(s, name="s")
    n = check_int_in(n, 1, 100_000, name="n")
    mode = check_choice(mode, ("cd", "ct"), name="mode")
    samples = check_int_in(samples, 1, 10_000_000, name="samples")
    rng = np.random.default_rng(seed)
    teacher = GaussianMixture([[m]], s)
    k = rng.integers(1, n + 1, samples)
    x0 = m + s * rng.standard_normal(samples)
    x1 = rng.standard_normal(samples)
    total = 0.0
    for kk in range(1, n + 1):
        sel = k == kk
        t, tp = kk / n, (kk - 1) / n
        xt = (1 - t) * x0[sel] + t * x1[sel]
        if mode == "ct":
            y = (1 - tp) * x0[sel] + tp * x1[sel]
        else:
            y = xt - (t - tp) * reflow_velocity(teacher, xt[:, None], t)[:, 0]
        total += ((gaussian_consistency_map(xt, t, m, s) - gaussian_consistency_map(y, tp, m, s)) ** 2).sum()
    return float(total / samples)


def telescoping_sum(f, x0, x1, n: int) -> np.ndarray:
    """Per pair: sum_k |f(x_{t_k}, t_k) - f(x_{t_{k-1}}, t_{k-1})| along the straight line (numpy).

    ``f(x, t)`` maps numpy (N, d) to numpy (N, d). The triangle inequality bounds
    |f(x1, 1) - f(x0, 0)| by this sum (the post's upper bound on the one-step error).
    """
    a = as_float_ndarray(x0, name="x0", min_ndim=2, max_ndim=2)
    b = as_float_ndarray(x1, name="x1", min_ndim=2, max_ndim=2)
    if a.shape != b.shape:
        raise ValueError(f"x1 must have the shape of x0 {a.shape}, got {b.shape}")
    n = check_int_in(n, 1, 100_000, name="n")
    prev = f(a, 0.0)
    total = np.zeros(len(a))
    for kk in range(1, n + 1):
        t = kk / n
        cur = f((1 - t) * a + t * b, t)
        total += np.linalg.norm(cur - prev, axis=-1)
        prev = cur
    return total


def edm_boundary_scalings(sigma, sigma_data: float = 0.5, sigma_min: float = 0.002):
    """(c_skip, c_out) of the consistency-model paper's EDM parameterisation (numpy).

    f(x, sigma) = c_skip x + c_out F(x, sigma) with c_skip = sigma_data^2 / ((sigma - sigma_min)^2
    + sigma_data^2) and c_out = (sigma - sigma_min) sigma_data / sqrt(sigma^2 + sigma_data^2),
    so that f(x, sigma_min) = x: the paper's version of the post's f = x - t F.
    """
    sg = as_float_ndarray(sigma, name="sigma", min_ndim=0)
    sigma_data = check_positive(sigma_data, name="sigma_data")
    sigma_min = check_positive(sigma_min, name="sigma_min")
    if (sg < sigma_min).any():
        raise ValueError(f"sigma must be >= sigma_min = {sigma_min}")
    c_skip = sigma_data ** 2 / ((sg - sigma_min) ** 2 + sigma_data ** 2)
    c_out = (sg - sigma_min) * sigma_data / np.sqrt(sg ** 2 + sigma_data ** 2)
    return c_skip, c_out
