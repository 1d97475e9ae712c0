"""The spectral norm, its gradient, power iteration and spectral weight decay.

Chapter: spectral-weight-decay (Su Jianlin, kexue.fm/archives/10648). For W in R^{n x m} with
SVD W = sum_i s_i u_i v_i^T (s_1 >= s_2 >= ...):

* ||W||_2 = s_1 = u_1^T W v_1 and, when s_1 > s_2, grad_W ||W||_2 = u_1 v_1^T;
* grad_W (1/2)||W||_2^2 = s_1 u_1 v_1^T = W v_1 v_1^T (the best rank-1 approximation of W);
* power iteration x <- W^T W x / ||W^T W x|| finds v_1 at the rate (s_2/s_1)^(2t);
* spectral weight decay replaces the decoupled step W <- W - lam W by W <- W - lam W v_1 v_1^T.

torch where a gradient or an optimiser is involved (:class:`SpectralAdamW`, the digits MLP); the
matrix functions accept numpy or torch and hand back what came in (float64 for numpy).
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import torch

from .._validate import (as_float_array, check_choice, check_class_indices, check_in_range,
                         check_instance, check_int_in, check_nonnegative, check_positive, check_shape,
                         check_tensor, like_input)
from .muon import ChainedOptimizer, _param_list, closure_loss

__all__ = ["spectral_norm_grad", "top_singular_triple", "power_iteration",
           "power_iteration_errors", "power_iteration_tan_theory", "spectral_decay_direction",
           "spectral_weight_decay_step", "frobenius_weight_decay_step", "matrix_with_spectrum",
           "decay_spectrum_path", "flat_top_level", "SpectralAdamW", "digits_mlp",
           "train_digits_mlp"]


def _matrix(W: Any, name: str = "W") -> tuple[torch.Tensor, bool]:
    """Validated 2-D float matrix as a torch tensor (float64 for numpy input) + is_torch."""
    arr, is_torch = as_float_array(W, name=name, min_ndim=2, max_ndim=2)
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must have at least one row, got shape {tuple(arr.shape)}")
    return (arr if is_torch else torch.from_numpy(arr)), is_torch


def top_singular_triple(W: Any, *, min_gap: float = 0.0):
    """(u_1, s_1, v_1) of W from a full SVD (torch.linalg.svd), signs fixed so that the
    largest-magnitude entry of v_1 is positive.

    min_gap: raise ValueError when (s_1 - s_2)/s_1 < min_gap (the top vector is then not
    determined). numpy or torch in, the same out.
    """
    Wt, is_torch = _matrix(W)
    check_nonnegative(min_gap, name="min_gap")
    U, S, Vh = torch.linalg.svd(Wt.detach(), full_matrices=False)
    if S[0] == 0:
        raise ValueError("W must not be the zero matrix (its top singular vectors are undefined)")
    if S.numel() > 1 and (S[0] - S[1]) / S[0] < min_gap:
        raise ValueError(f"W has a relative gap (s1 - s2)/s1 = {float((S[0] - S[1]) / S[0]):.3g} "
                         f"< min_gap = {min_gap}: the gradient of ||W||_2 is not defined there")
    u, v = U[:, 0], Vh[0]
    sign = torch.sign(v[torch.argmax(v.abs())])
    u, v = u * sign, v * sign
    return (like_input(u, is_torch, Wt), like_input(S[0], is_torch, Wt) if is_torch else float(S[0]),
            like_input(v, is_torch, Wt))


def spectral_norm_grad(W: Any, *, squared: bool = False, min_gap: float = 1e-8):
    """grad_W ||W||_2 = u_1 v_1^T, or with squared=True grad_W (1/2)||W||_2^2 = s_1 u_1 v_1^T.

    Chapter: spectral-weight-decay, eq. (grad). Exact (full SVD); defined only when s_1 > s_2,
    so a relative gap below `min_gap` raises ValueError. numpy or torch in, the same out.
    """
    Wt, is_torch = _matrix(W)
    u, s, v = top_singular_triple(Wt, min_gap=min_gap)
    # d||W||_2 = u_1^T dW v_1 = Tr((u_1 v_1^T)^T dW)
    g = torch.outer(u, v) * (s if squared else 1.0)
    return like_input(g, is_torch, Wt)


def power_iteration(W: Any, iters: int = 10, x0: Any = None, *, return_history: bool = False):
    """Power iteration on W^T W for the top right singular vector: returns (v, sigma_est).

    x_{t+1} = W^T W x_t / ||W^T W x_t||, started at x0 (default: the all-ones vector, as in the
    post's experiment); sigma_est = ||W x_t||. Converges to v_1 at the rate (s_2/s_1)^(2t)
    when x0 has a component along v_1. Raises ValueError when W^T W x_t = 0 (x0 orthogonal to
    the row space of W: e.g. the all-ones start for a W whose rows sum to zero).
    return_history: also return the (iters + 1, m) array of iterates. numpy or torch in.
    """
    Wt, is_torch = _matrix(W)
    check_int_in(iters, 0, None, name="iters")
    m = Wt.shape[1]
    if x0 is None:
        x = torch.ones(m, dtype=Wt.dtype)
    else:
        x0a, _ = as_float_array(x0, name="x0", max_ndim=1)
        x = torch.as_tensor(x0a, dtype=Wt.dtype).reshape(-1)
        if x.numel() != m:
            raise ValueError(f"x0 must have {m} entries (the columns of W), got {x.numel()}")
    Wd = Wt.detach()
    nx = torch.linalg.vector_norm(x)
    if nx == 0:
        raise ValueError("x0 must not be the zero vector")
    x = x / nx
    hist = [x]
    # W^T W x below rounding level: x has (numerically) no component in the row space of W
    floor = 64 * torch.finfo(Wd.dtype).eps * float(torch.linalg.matrix_norm(Wd)) ** 2
    for _ in range(iters):
        y = Wd.T @ (Wd @ x)                           # two matrix-vector products, O(nm)
        ny = torch.linalg.vector_norm(y)
        if ny <= floor:
            raise ValueError("x0 is orthogonal to the row space of W (W^T W x = 0); "
                             "start from another vector, e.g. a random one")
        x = y / ny
        hist.append(x)
    sigma = torch.linalg.vector_norm(Wd @ x)
    out_v = like_input(x, is_torch, Wt)
    out_s = like_input(sigma, is_torch, Wt) if is_torch else float(sigma)
    if return_history:
        return out_v, out_s, like_input(torch.stack(hist), is_torch, Wt)
    return out_v, out_s


def power_iteration_errors(W: Any, iters: int, x0: Any = None) -> np.ndarray:
    """sin of the angle between the power-iteration iterate x_t and the exact v_1 (from an SVD),
    t = 0..iters, as a float64 numpy array. numpy or torch in."""
    Wt, _ = _matrix(W)
    _, _, hist = power_iteration(Wt.detach().to(torch.float64), iters, x0, return_history=True)
    _, _, v1 = top_singular_triple(Wt.detach().to(torch.float64))
    # sin = norm of the part of x_t orthogonal to v_1 (no cancellation, unlike sqrt(1 - cos^2))
    return torch.linalg.vector_norm(hist - (hist @ v1)[:, None] * v1[None, :], dim=1).numpy()


def power_iteration_tan_theory(sigmas: Any, coeffs: Any, iters: int) -> np.ndarray:
    """Closed form of the post's proof: tan angle(x_t, v_1) =
    sqrt(sum_{i>=2} c_i^2 (s_i/s_1)^(4t)) / |c_1| for x_0 = sum_i c_i v_i, t = 0..iters.

    sigmas: the singular values in decreasing order; coeffs: x_0's coordinates c_i in the basis
    v_i (c_1 != 0). numpy only, float64.
    """
    s, _ = as_float_array(sigmas, name="sigmas", max_ndim=1)
    c, _ = as_float_array(coeffs, name="coeffs", max_ndim=1)
    s, c = np.asarray(s, dtype=float), np.asarray(c, dtype=float)
    check_int_in(iters, 0, None, name="iters")
    if c.size != s.size:
        raise ValueError(f"coeffs must have one entry per singular value ({s.size}), got {c.size}")
    if not (s[0] > 0 and np.all(np.diff(s) <= 0) and np.all(s >= 0)):
        raise ValueError("sigmas must be non-negative, decreasing, with sigmas[0] > 0")
    if c[0] == 0:
        raise ValueError("coeffs[0] must be non-zero (x_0 needs a component along v_1)")
    t = np.arange(iters + 1)[:, None]
    r = (s[1:] / s[0])[None, :] ** (4 * t)                  # (T, m - 1)
    return np.sqrt((c[1:] ** 2 * r).sum(axis=1)) / abs(c[0])


def spectral_decay_direction(W: Any, iters: int | None = 10, x0: Any = None):
    """W v v^T with v the top right singular vector: exactly s_1 u_1 v_1^T when iters=None (SVD),
    else v from `iters` power iterations started at x0 (default all ones).

    Chapter: spectral-weight-decay, eq. (W v1 v1^T). Works for any shape (no transpose needed).
    numpy or torch in, the same out.
    """
    Wt, is_torch = _matrix(W)
    if iters is None:
        _, _, v = top_singular_triple(Wt, min_gap=0.0)
        v = torch.as_tensor(v, dtype=Wt.dtype)
    else:
        v, _ = power_iteration(Wt, iters, x0)
        v = torch.as_tensor(v, dtype=Wt.dtype)
    # s_1 u_1 v_1^T = sum_i s_i u_i v_i^T v_1 v_1^T = W v_1 v_1^T
    return like_input(torch.outer(Wt @ v, v), is_torch, Wt)


def spectral_weight_decay_step(W: Any, lam: float, iters: int | None = 10, x0: Any = None):
    """One decoupled spectral decay step W <- W - lam W v v^T (v as in
    :func:`spectral_decay_direction`); lam in [0, 1). numpy or torch in, the same out."""
    check_in_range(lam, 0.0, 1.0, name="lam", hi_open=True)
    Wt, is_torch = _matrix(W)
    return like_input(Wt - lam * torch.as_tensor(spectral_decay_direction(Wt, iters, x0)),
                      is_torch, Wt)


def frobenius_weight_decay_step(W: Any, lam: float):
    """One ordinary decoupled decay step W <- W - lam W = (1 - lam) W, the gradient of
    (1/2)||W||_F^2; lam in [0, 1). numpy or torch in, the same out."""
    check_in_range(lam, 0.0, 1.0, name="lam", hi_open=True)
    Wt, is_torch = _matrix(W)
    return like_input((1.0 - lam) * Wt, is_torch, Wt)


def matrix_with_spectrum(sigmas: Any, n: int | None = None, *, seed: int = 0,
                         v1: Any = None) -> np.ndarray:
    """A random n x m matrix U diag(sigmas) V^T (Haar-random orthogonal U, V; m = len(sigmas),
    n >= m, default n = m). v1: prescribe the first right singular vector (normalised; the
    rest of V is completed at random). numpy only, float64."""
    s, _ = as_float_array(sigmas, name="sigmas", max_ndim=1)
    s = np.asarray(s, dtype=float)
    if np.any(s < 0):
        raise ValueError("sigmas must be non-negative")
    m = s.size
    n = m if n is None else check_int_in(n, m, None, name="n")
    check_int_in(seed, 0, None, name="seed")
    rng = np.random.default_rng(seed)

    def haar(k):
        q, r = np.linalg.qr(rng.normal(size=(k, k)))
        return q * np.sign(np.diag(r))
    U, V = haar(n)[:, :m], haar(m)
    if v1 is not None:
        a, _ = as_float_array(v1, name="v1", max_ndim=1)
        a = np.asarray(a, dtype=float)
        if a.size != m or not np.linalg.norm(a) > 0:
            raise ValueError(f"v1 must be a non-zero vector of length {m}")
        q, r = np.linalg.qr(np.column_stack([a, V[:, 1:]]))
        V = q * np.sign(np.diag(r))               # first column = v1 / ||v1||
    return (U * s) @ V.T


def decay_spectrum_path(W: Any, lam: float, steps: int, kind: str = "spectral",
                        iters: int | None = 10, x0: Any = None, *, warm: bool = False) -> np.ndarray:
    """Singular values (decreasing) of W after 0..steps decoupled decay steps, shape
    (steps + 1, min(n, m)): kind "spectral" (W - lam W v v^T, v by `iters` power iterations
    from x0, or exact with iters=None) or "frobenius" ((1 - lam) W). warm=True starts each
    step's power iteration from the previous step's v (x0 only for the first step), as
    persistent estimators do. numpy or torch in; numpy float64 out."""
    check_choice(kind, ["spectral", "frobenius"], name="kind")
    check_in_range(lam, 0.0, 1.0, name="lam", hi_open=True)
    check_int_in(steps, 0, None, name="steps")
    Wt, _ = _matrix(W)
    Wt = Wt.detach().to(torch.float64)
    out = [torch.linalg.svdvals(Wt)]
    start = x0
    for _ in range(steps):
        if kind == "spectral" and iters is not None:
            v, _ = power_iteration(Wt, iters, start)
            Wt = Wt - lam * torch.outer(Wt @ v, v)
            start = v if warm else x0
        elif kind == "spectral":
            Wt = Wt - lam * spectral_decay_direction(Wt, None)
        else:
            Wt = (1.0 - lam) * Wt
        out.append(torch.linalg.svdvals(Wt))
    return torch.stack(out).numpy()


def flat_top_level(sigmas: Any, lam: float, steps: int) -> float:
    """Where repeated exact spectral decay cuts the spectrum: the level L with
    sum_{s_i > L} log(s_i / L) = steps * log(1 / (1 - lam)) (each step takes log(1/(1-lam))
    off the current largest value), computed by bisection; the prediction ignores the
    granularity of one step (the top values end within a factor 1 - lam of L). numpy only."""
    s, _ = as_float_array(sigmas, name="sigmas", max_ndim=1)
    s = np.sort(np.asarray(s, dtype=float))[::-1]
    if not s[0] > 0:
        raise ValueError("sigmas must have a positive entry")
    check_in_range(lam, 0.0, 1.0, name="lam", lo_open=True, hi_open=True)
    check_int_in(steps, 0, None, name="steps")
    budget = steps * -math.log1p(-lam)
    pos = s[s > 0]

    def removed(L):
        return float(np.log(np.maximum(pos / L, 1.0)).sum())
    if removed(pos[-1]) < budget:     # the whole spectrum is cut flat and goes on shrinking
        return float(pos[-1] * math.exp(-(budget - removed(pos[-1])) / pos.size))
    lo, hi = float(pos[-1]), float(pos[0])
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if removed(mid) > budget else (lo, mid)
    return 0.5 * (lo + hi)


class SpectralAdamW(torch.optim.AdamW):
    """AdamW whose decoupled weight decay on 2-D parameters is spectral.

    Each step, before Adam's update (where AdamW decays): W <- W - lr * weight_decay * W v v^T,
    v from `power_iters` power iterations started at the all-ones vector (the post's recipe,
    `start="ones"`) or at a fixed random vector (`start="random"`, seeded by the shape).
    Parameters with fewer than 2 dimensions get AdamW's ordinary decay. torch only.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, power_iters: int = 10, start: str = "ones"):
        check_positive(lr, name="lr")
        check_nonnegative(weight_decay, name="weight_decay")
        check_int_in(power_iters, 1, None, name="power_iters")
        check_choice(start, ["ones", "random"], name="start")
        check_shape(as_float_array(betas, name="betas", max_ndim=1)[0], (2,), name="betas")
        check_in_range(betas[0], 0.0, 1.0, name="betas", hi_open=True)
        check_in_range(betas[1], 0.0, 1.0, name="betas", hi_open=True)
        check_positive(eps, name="eps")
        params = _param_list(params)
        self.power_iters, self.start = power_iters, start
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _x0(self, m: int):
        if self.start == "ones":
            return None
        return np.random.default_rng(m).normal(size=m)

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure_loss(closure)
        saved = []
        for group in self.param_groups:
            wd, lr = group["weight_decay"], group["lr"]
            for p in group["params"]:
                if p.grad is None or p.ndim != 2 or wd == 0:
                    continue
                p.sub_(lr * wd * spectral_decay_direction(p, self.power_iters, self._x0(p.shape[1])))
            saved.append(wd)
            # 2-D parameters were decayed above; AdamW decays the rest as usual
            group["weight_decay"] = 0.0
        try:
            for group, wd in zip(self.param_groups, saved):
                for p in group["params"]:
                    if p.grad is not None and p.ndim < 2 and wd != 0:
                        p.mul_(1 - group["lr"] * wd)
            super().step()
        finally:
            for group, wd in zip(self.param_groups, saved):
                group["weight_decay"] = wd
        return loss


def digits_mlp(sizes: tuple[int, ...] = (64, 128, 10), *, seed: int = 0,
               dtype: torch.dtype = torch.float64) -> torch.nn.Sequential:
    """A ReLU MLP (Linear layers of the given widths) with seeded default init. torch only."""
    check_choice(dtype, [torch.float64, torch.float32, torch.float16, torch.bfloat16], name="dtype")
    if not isinstance(sizes, (tuple, list)) or len(sizes) < 2:
        raise ValueError(f"sizes must list at least input and output width, got {sizes!r}")
    for k in sizes:
        check_int_in(k, 1, None, name="sizes")
    check_int_in(seed, 0, None, name="seed")
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    torch.random.set_rng_state(gen_state)
    return torch.nn.Sequential(*layers)


def train_digits_mlp(model: torch.nn.Module, optimizer: torch.optim.Optimizer, X: torch.Tensor,
                     y: torch.Tensor, *, steps: int = 300, batch: int | None = None,
                     seed: int = 0, watch: torch.Tensor | None = None):
    """Train with cross-entropy; returns the training loss per step (numpy float64).

    batch=None: full batch; else minibatches drawn with a seeded generator. watch: a parameter
    whose per-step change is recorded; then returns (losses, rms) with rms[t] the RMS of the
    change at step t divided by the first param group's lr. torch only.
    """
    check_int_in(steps, 1, None, name="steps")
    if batch is not None:
        check_int_in(batch, 1, X.shape[0], name="batch")
    check_int_in(seed, 0, None, name="seed")
    check_instance(model, torch.nn.Module, name="model")
    check_instance(optimizer, (torch.optim.Optimizer, ChainedOptimizer), name="optimizer")
    as_float_array(check_tensor(X, name="X"), name="X", min_ndim=2, max_ndim=2)
    check_tensor(y, name="y")
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise ValueError(f"X must be (N, d) and y (N,), got {tuple(X.shape)} and {tuple(y.shape)}")
    gen = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    changes: list[float] = []
    opts = getattr(optimizer, "optimizers", (optimizer,))
    lr0 = float(opts[0].param_groups[0]["lr"])
    for _ in range(steps):
        if batch is None:
            xb, yb = X, y
        else:
            idx = torch.randint(0, X.shape[0], (batch,), generator=gen)
            xb, yb = X[idx], y[idx]
        optimizer.zero_grad()
        logits = model(xb)
        if not losses:                     # the number of classes is the model's output width
            check_class_indices(y, logits.shape[-1], (X.shape[0],), name="y")
        loss = torch.nn.functional.cross_entropy(logits, yb)
        loss.backward()
        before = None if watch is None else watch.detach().clone()
        optimizer.step()
        losses.append(float(loss.detach()))
        if before is not None:
            changes.append(float(torch.sqrt(((watch.detach() - before) ** 2).mean())))
    if watch is None:
        return np.asarray(losses)
    return np.asarray(losses), np.asarray(changes) / lr0
