"""Muon: the matrix sign, Newton-Schulz, the update, RMS matching and the weight-decay bound.

Chapter: muon (Su Jianlin, kexue.fm/archives/10739, on "Muon is Scalable for LLM Training").

* argmin_{||dW||_2 <= eta} Tr(G^T dW) = -eta msign(G), msign(G) = U_r V_r^T (G = U S V^T, rank r);
* RMS(msign G) = sqrt(r / (n m)), so 0.2 sqrt(max(n, m)) msign(G) has RMS 0.2 at full rank;
* with decoupled decay W_t = W_{t-1} - eta (Phi_t + lam W_{t-1}) and eta lam <= 1:
  ||W_t|| <= max(||W_{t-1}||, ||Phi_t|| / lam) in any norm;
* Newton-Schulz (Keller Jordan's quintic) approximates msign with singular values in a band.

torch where an optimiser or autograd is involved (:func:`newton_schulz`, :func:`muon_update`,
:class:`MuonLite`); the matrix helpers take numpy or torch and hand back what came in.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from .._validate import (as_float_array, check_choice, check_in_range, check_int_in,
                         check_nonnegative, check_positive, check_tensor, is_tensor, like_input)

__all__ = ["KELLER_COEFFS", "CUBIC_COEFFS", "msign", "rms", "sv_entropy", "ns_scalar_map",
           "ns_band", "newton_schulz", "rms_matched_scale", "muon_update", "MuonLite",
           "ChainedOptimizer", "norm_bound_path"]

#: Keller Jordan's quintic Newton-Schulz coefficients (a, b, c): p(x) = a x + b x^3 + c x^5.
KELLER_COEFFS = (3.4445, -4.7750, 2.0315)
#: The classical cubic Newton-Schulz iteration p(x) = 1.5 x - 0.5 x^3 (converges to 1).
CUBIC_COEFFS = (1.5, -0.5, 0.0)

_DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16}


def _matrix(G: Any, name: str = "G") -> tuple[torch.Tensor, bool]:
    arr, is_torch = as_float_array(G, name=name, min_ndim=2, max_ndim=2)
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must have at least one row, got shape {tuple(arr.shape)}")
    return (arr if is_torch else torch.from_numpy(arr)), is_torch


def msign(G: Any, *, rtol: float | None = None):
    """The matrix sign msign(G) = U_r V_r^T from a full SVD (exact; any shape).

    Singular values below rtol * s_1 count as zero (default rtol = max(n, m) * machine eps), so
    msign of a rank-r matrix is the rank-r partial isometry. The zero matrix maps to zero.
    numpy or torch in, the same out.
    """
    Gt, is_torch = _matrix(G)
    U, S, Vh = torch.linalg.svd(Gt.detach(), full_matrices=False)
    tol = (max(Gt.shape) * torch.finfo(Gt.dtype).eps) if rtol is None else check_nonnegative(rtol, name="rtol")
    keep = S > tol * S[0] if S[0] > 0 else torch.zeros_like(S, dtype=torch.bool)
    # msign(G) = sum_{k <= r} u_k v_k^T
    out = (U[:, keep]) @ Vh[keep]
    return like_input(out, is_torch, Gt)


def rms(W: Any) -> float:
    """RMS(W) = ||W||_F / sqrt(n m), the root mean square of the entries. numpy or torch in."""
    arr, is_torch = as_float_array(W, name="W", min_ndim=1)
    a = arr.detach().to(torch.float64) if is_torch else torch.from_numpy(np.asarray(arr))
    return float(torch.sqrt((a ** 2).mean()))


def sv_entropy(W: Any, *, from_singular_values: bool = False) -> float:
    """Normalised singular-value entropy H = -(1/log k) sum_i p_i log p_i, p_i = s_i^2 / sum s_j^2,
    over the k = min(n, m) singular values (1 for a flat spectrum, 0 for rank one; k = 1 gives 0).

    from_singular_values: W is already the vector of singular values. Raises for the zero
    matrix (p undefined). numpy or torch in; returns a float.
    """
    if from_singular_values:
        s, is_torch = as_float_array(W, name="W", max_ndim=1)
        s = torch.as_tensor(np.asarray(s.detach() if is_torch else s, dtype=float))
        if (s < 0).any():
            raise ValueError("W must hold non-negative singular values")
    else:
        Wt, _ = _matrix(W, "W")
        s = torch.linalg.svdvals(Wt.detach().to(torch.float64))
    total = (s ** 2).sum()
    if total == 0:
        raise ValueError("W must not be zero (its singular-value distribution is undefined)")
    if s.numel() == 1:
        return 0.0
    p = s ** 2 / total
    p = p[p > 0]
    return float(-(p * torch.log(p)).sum() / math.log(s.numel()))


def _coeffs(coeffs: Sequence[float]) -> tuple[float, float, float]:
    arr, _ = as_float_array(coeffs, name="coeffs", max_ndim=1)
    if arr.shape != (3,):
        raise ValueError(f"coeffs must be three numbers (a, b, c), got {coeffs!r}")
    return tuple(float(c) for c in coeffs)  # type: ignore[return-value]


def ns_scalar_map(x: Any, steps: int = 5, coeffs: Sequence[float] = KELLER_COEFFS) -> np.ndarray:
    """What `steps` Newton-Schulz iterations do to one singular value: x -> p(p(...p(x))),
    p(x) = a x + b x^3 + c x^5. numpy only (float64)."""
    xs, _ = as_float_array(x, name="x", min_ndim=0)
    xs = np.asarray(xs, dtype=float)
    check_int_in(steps, 0, None, name="steps")
    a, b, c = _coeffs(coeffs)
    for _ in range(steps):
        x2 = xs * xs
        xs = xs * (a + x2 * (b + c * x2))
    return xs


def ns_band(steps: int = 5, coeffs: Sequence[float] = KELLER_COEFFS, lo: float = 1e-3,
            n_grid: int = 200_001) -> tuple[float, float]:
    """(min, max) of the scalar Newton-Schulz map over [lo, 1] on a fine grid: the band into
    which `steps` iterations put every singular value of a Frobenius-normalised matrix whose
    singular values are at least lo. numpy only."""
    check_in_range(lo, 0.0, 1.0, name="lo", lo_open=True, hi_open=True)
    check_int_in(n_grid, 100, None, name="n_grid")
    y = ns_scalar_map(np.linspace(lo, 1.0, n_grid), steps, coeffs)
    return float(y.min()), float(y.max())


def newton_schulz(G: torch.Tensor, steps: int = 5, coeffs: Sequence[float] = KELLER_COEFFS,
                  eps: float = 1e-7, dtype: str = "float64") -> torch.Tensor:
    """Approximate msign(G) by Newton-Schulz: X_0 = G / max(||G||_F, eps) (the short side first),
    X <- a X + (b A + c A^2) X with A = X X^T, `steps` times.

    dtype: the arithmetic ("float64", "float32" or "bfloat16", as the reference implementations
    use); the result is returned in G's dtype. torch only (2-D tensor).
    """
    check_tensor(G, name="G")
    Gt, _ = _matrix(G)
    check_int_in(steps, 0, 100, name="steps")
    check_positive(eps, name="eps")
    check_choice(dtype, list(_DTYPES), name="dtype")
    a, b, c = _coeffs(coeffs)
    X = Gt.detach().to(_DTYPES[dtype])
    tall = X.shape[0] > X.shape[1]
    if tall:
        X = X.T                                            # iterate on the short side: A is small
    X = X / X.norm().clamp(min=eps)                        # all singular values now <= 1
    for _ in range(steps):
        A = X @ X.T
        B = torch.addmm(A, A, A, beta=b, alpha=c)          # b A + c A^2
        X = torch.addmm(X, B, X, beta=a)                   # a X + B X
    if tall:
        X = X.T
    return X.to(Gt.dtype)


def rms_matched_scale(shape: Sequence[int], rule: str = "match_rms_adamw") -> float:
    """Scale applied to an orthogonalised update of a (n, m) matrix.

    "match_rms_adamw": 0.2 sqrt(max(n, m)), Moonlight's rule, giving RMS 0.2 for a full-rank
    msign; "original": sqrt(max(1, n / m)) (Keller Jordan's and torch's default); "none": 1.
    """
    check_choice(rule, ["match_rms_adamw", "original", "none"], name="rule")
    if not isinstance(shape, (tuple, list, torch.Size)) or len(shape) != 2:
        raise ValueError(f"shape must be (n, m), got {shape!r}")
    n, m = (check_int_in(int(s), 1, None, name="shape") for s in shape)
    if rule == "match_rms_adamw":
        return 0.2 * math.sqrt(max(n, m))
    if rule == "original":
        return math.sqrt(max(1.0, n / m))
    return 1.0


def muon_update(grad: torch.Tensor, buf: torch.Tensor, momentum: float = 0.95,
                nesterov: bool = True, ortho: str = "ns", ns_steps: int = 5,
                ns_dtype: str = "float64", rule: str = "original") -> torch.Tensor:
    """Muon's update direction (to be multiplied by -lr): scale * O, O = NS(M) or msign(M).

    Momentum as in torch.optim.Muon and Keller Jordan's code: buf <- momentum buf + (1 -
    momentum) grad (mutated in place); M = (1 - momentum) grad + momentum buf if nesterov
    else buf. `grad` is not modified. torch only.
    """
    check_tensor(grad, name="grad")
    check_tensor(buf, name="buf")
    if grad.shape != buf.shape or grad.ndim != 2:
        raise ValueError(f"grad and buf must be 2-D of one shape, got {tuple(grad.shape)} and {tuple(buf.shape)}")
    check_in_range(momentum, 0.0, 1.0, name="momentum", hi_open=True)
    check_choice(ortho, ["ns", "svd"], name="ortho")
    as_float_array(grad, name="grad", min_ndim=2, max_ndim=2)
    as_float_array(buf, name="buf", min_ndim=2, max_ndim=2)
    check_int_in(ns_steps, 0, 100, name="ns_steps")
    check_choice(ns_dtype, ["float64", "float32", "bfloat16"], name="ns_dtype")
    buf.lerp_(grad, 1 - momentum)
    M = grad.lerp(buf, momentum) if nesterov else buf.clone()
    O = newton_schulz(M, ns_steps, dtype=ns_dtype) if ortho == "ns" else msign(M)
    return O * rms_matched_scale(tuple(grad.shape), rule)


def closure_loss(closure) -> Any:
    """An optimiser step's optional closure, evaluated with gradients on (the loss, or None).
    Shared by the chapters' optimisers (Muon here, spectral weight decay). torch only."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


class MuonLite(torch.optim.Optimizer):
    """Muon for 2-D parameters: W <- W (1 - lr wd) - lr * muon_update(grad).

    adjust_lr_fn: "original" (sqrt(max(1, n/m))), "match_rms_adamw" (0.2 sqrt(max(n, m))) or
    "none"; ortho "ns" (Newton-Schulz in `ns_dtype`) or "svd" (exact msign). The decay uses the
    unadjusted lr, as torch.optim.Muon does. torch only.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, weight_decay: float = 0.0,
                 momentum: float = 0.95, nesterov: bool = True, ns_steps: int = 5,
                 adjust_lr_fn: str = "original", ortho: str = "ns", ns_dtype: str = "float64"):
        check_positive(lr, name="lr")
        check_nonnegative(weight_decay, name="weight_decay")
        check_in_range(momentum, 0.0, 1.0, name="momentum", hi_open=True)
        check_int_in(ns_steps, 0, 100, name="ns_steps")
        check_choice(adjust_lr_fn, ["original", "match_rms_adamw", "none"], name="adjust_lr_fn")
        check_choice(ortho, ["ns", "svd"], name="ortho")
        check_choice(ns_dtype, list(_DTYPES), name="ns_dtype")
        params = _param_list(params)
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum,
                                      nesterov=nesterov, ns_steps=ns_steps,
                                      adjust_lr_fn=adjust_lr_fn, ortho=ortho, ns_dtype=ns_dtype))
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError(f"params must be 2-D matrices for Muon, got shape {tuple(p.shape)}")

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure_loss(closure)
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p.grad)
                O = muon_update(p.grad, state["momentum_buffer"], g["momentum"], g["nesterov"],
                                g["ortho"], g["ns_steps"], g["ns_dtype"], "none")
                # W <- W (1 - lr wd) - (lr * scale) O   (the scale folded into the step size)
                p.mul_(1 - g["lr"] * g["weight_decay"])
                p.add_(O.to(p.dtype), alpha=-g["lr"] * rms_matched_scale(tuple(p.shape), g["adjust_lr_fn"]))
        return loss


def _param_list(params) -> list:
    """The optimiser's parameters as a list (a generator is consumed once); ValueError naming
    `params` for None, a number or an empty list (torch's own errors name nothing)."""
    if params is None or isinstance(params, (str, bytes, numbers.Number)) or is_tensor(params):
        raise ValueError(f"params must be an iterable of tensors or of param groups, "
                         f"got {params!r}")
    params = list(params)
    if not params:
        raise ValueError("params must not be empty")
    return params


class ChainedOptimizer:
    """Several optimisers over disjoint parameter sets (Muon for hidden matrices, AdamW for the
    rest) driven as one: zero_grad() and step() call each. torch only."""

    def __init__(self, *optimizers: torch.optim.Optimizer):
        if not optimizers:
            raise ValueError("optimizers must contain at least one optimizer")
        seen: set[int] = set()
        for o in optimizers:
            if not isinstance(o, torch.optim.Optimizer):
                raise ValueError(f"optimizers must be torch optimizers, got {type(o).__name__}")
            ids = {id(p) for g in o.param_groups for p in g["params"]}
            if ids & seen:
                raise ValueError("optimizers must own disjoint parameter sets")
            seen |= ids
        self.optimizers = optimizers

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.optimizers:
            o.zero_grad(set_to_none=set_to_none)

    def step(self, closure=None):
        for o in self.optimizers:
            o.step()


def norm_bound_path(W0: Any, eta: float, lam: float, steps: int, mode: str = "random", *,
                    scale: float = 1.0, seed: int = 0, ortho: str = "svd") -> np.ndarray:
    """||W_t||_2 for t = 0..steps under W_t = W_{t-1} - eta (Phi_t + lam W_{t-1}).

    Phi_t = scale * msign(G_t) (ortho "svd") or scale * NS5(G_t) (ortho "ns", float64), with G_t a
    fresh Gaussian matrix each step (mode "random") or G_0 every step (mode "constant"). The
    post's bound: ||W_t||_2 <= max(||W_0||_2, scale / lam) when eta lam <= 1 and ortho="svd".
    numpy or torch in; numpy float64 out.
    """
    Wt, _ = _matrix(W0, "W0")
    W = Wt.detach().to(torch.float64).clone()
    check_positive(eta, name="eta")
    check_positive(lam, name="lam")
    check_int_in(steps, 0, None, name="steps")
    check_choice(mode, ["random", "constant"], name="mode")
    check_positive(scale, name="scale")
    check_choice(ortho, ["svd", "ns"], name="ortho")
    gen = torch.Generator().manual_seed(check_int_in(seed, 0, None, name="seed"))
    G0 = torch.randn(W.shape, generator=gen, dtype=torch.float64)
    out = [float(torch.linalg.matrix_norm(W, ord=2))]
    for _ in range(steps):
        G = G0 if mode == "constant" else torch.randn(W.shape, generator=gen, dtype=torch.float64)
        Phi = scale * (msign(G) if ortho == "svd" else newton_schulz(G))
        W = W - eta * (Phi + lam * W)
        out.append(float(torch.linalg.matrix_norm(W, ord=2)))
    return np.asarray(out)
