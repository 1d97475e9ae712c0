"""Smooth approximations of Top-k: GradTopK, ThreTopK, the iterative constructions.

Chapter ``probability/smooth-topk`` (kexue.fm/archives/10373).

Conventions. Every map acts on the last axis. A function that takes "numpy or torch" returns the
kind it was given (:func:`kexue._validate.like_input`): numpy in, numpy out (float64); a torch
tensor in, a tensor out, differentiable by autograd (custom backward where the forward is a
root-finder). Temperature is applied first, as ``x / tau``, and any threshold lambda is reported
on that scaled axis.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import numpy as np
import torch

from .._validate import (as_float_array, as_float_ndarray, as_float_tensor, check_choice,
                         check_int_in, check_positive, like_input)
from .esp import GradTopK, _close_gaps, log_esp_brute

__all__ = ["hard_topk", "grad_topk", "naive_grad_topk_recurrence",
           "THRESHOLD_FS", "threshold_f", "threshold_f_prime", "ThreTopK", "thre_topk",
           "thre_topk_lambda", "thre_topk_lambda_grad", "su_iteration",
           "weighted_softmax_iteration", "TOPK_METHODS", "METHOD_F", "smooth_topk",
           "topk_l1_distance"]


def _topk_args(x: Any, k: int, tau: float):
    """The checks every smooth Top-k map starts with: (tensor, is_torch, n, k, tau)."""
    t, is_torch = as_float_tensor(x, name="x")
    n = t.shape[-1]
    return t, is_torch, n, check_int_in(k, 1, n, name="k"), check_positive(tau, name="tau")


# ----------------------------------------------------------------------------------------------
# hard Top-k and the problem statement
# ----------------------------------------------------------------------------------------------


def hard_topk(x: Any, k: int, warn_ties: bool = True):
    """T_k(x): the 0/1 mask of the k largest entries on the last axis (eq. T_k).

    numpy or torch (returns the kind it was given, float). With ties at the k-th place the set
    Omega_k is ambiguous: the earlier index wins and a RuntimeWarning says so.
    """
    t, is_torch = as_float_tensor(x, name="x")
    n = t.shape[-1]
    k = check_int_in(k, 1, n, name="k")
    td = t.detach()
    order = torch.sort(td, dim=-1, descending=True, stable=True)
    mask = torch.zeros_like(td)
    mask.scatter_(-1, order.indices[..., :k], 1.0)
    if warn_ties and k < n:
        kth, nxt = order.values[..., k - 1], order.values[..., k]
        if bool((kth == nxt).any()):
            warnings.warn("hard_topk: ties at the k-th largest entry; the earlier index was chosen",
                          RuntimeWarning, stacklevel=2)
    return like_input(mask, is_torch)


# ----------------------------------------------------------------------------------------------
# GradTopK: the gradient of log Z_k, Z_k = e_k(exp(x)) (elementary symmetric polynomial)
# ----------------------------------------------------------------------------------------------


def grad_topk(x: Any, k: int, tau: float = 1.0, method: str = "dp"):
    """GradTopK: [ST_k(x)]_i = d log Z_k / d x_i = Z_{k,i} / Z_k, with x -> x / tau first.

    numpy or torch (returns the kind it was given; a tensor result is differentiable, second
    derivatives included). ``method="dp"``: :class:`GradTopK` (a balanced product tree of the
    polynomials 1 + e^{x_i} t in linear space where the row's range allows it, a programme in log
    space elsewhere: additions of positive numbers only, stable at any scale and temperature,
    O(n k); its backward is the Hessian-vector product;
    k = 1 is softmax itself, Z_1 = sum_i e^{x_i});
    ``"brute"``: logsumexp over all C(n, k) subsets (a reference for small n). The post's own
    recurrence is :func:`naive_grad_topk_recurrence`, kept apart because it breaks down.
    Chapter smooth-topk, eq. (GradTopK).
    """
    t, is_torch, n, k, tau = _topk_args(x, k, tau)
    check_choice(method, ["dp", "brute"], name="method")
    if k == n:
        return like_input(torch.ones_like(t), is_torch)
    if method == "dp" and k == 1:                    # Z_1 = sum_i e^{x_i}: GradTopK is softmax
        return like_input(torch.softmax(t / tau, dim=-1), is_torch)
    if method == "dp":
        return like_input(GradTopK.apply(t / tau, k), is_torch)
    keep_graph = t.requires_grad
    with torch.enable_grad():
        xin = t if keep_graph else t.detach().requires_grad_(True)
        z = xin / tau
        logz = log_esp_brute(z, k)
        (p,) = torch.autograd.grad(logz.sum(), xin, create_graph=keep_graph)
    p = p * tau                                      # d logZ(x/tau) / d(x/tau)
    return like_input(p if keep_graph else p.detach(), is_torch)


def naive_grad_topk_recurrence(x: Any, k: int, tau: float = 1.0,
                               clamp: float | None = None) -> np.ndarray:
    """UNSTABLE, kept to show the post's failure: GradTopK by the recurrence of the post.

    log Z_{1,i} = x_i;  log Z_{j,i} = x_i + log(Z_{j-1} - Z_{j-1,i});  log Z_j = lse_i(log Z_{j,i}) - log j.
    The difference of two nearly equal numbers loses every digit when x is spread out or k is
    large, and the log of a difference that rounds to <= 0 gives NaN or -inf: that is what
    chapter smooth-topk demonstrates. ``clamp=c`` replaces the difference by max(difference, c)
    before the log, as the code in the post's English translation does (c = 1e-12; the original
    post's code has no floor): the NaN then becomes a finite but wrong answer. numpy only; it may
    return NaN (this function alone).
    """
    arr = as_float_ndarray(x, name="x")
    n = arr.shape[-1]
    k = check_int_in(k, 1, n, name="k")
    tau = check_positive(tau, name="tau")
    if clamp is not None:
        check_positive(clamp, name="clamp")
    z = arr / tau
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_zi = z.copy()
        log_z = np.logaddexp.reduce(log_zi, axis=-1, keepdims=True)
        for j in range(2, k + 1):
            diff = np.exp(log_z) - np.exp(log_zi)
            if clamp is not None:
                diff = np.maximum(diff, clamp)
            log_zi = z + np.log(diff)
            log_z = np.logaddexp.reduce(log_zi, axis=-1, keepdims=True) - np.log(j)
        return np.exp(log_zi - log_z)


# ----------------------------------------------------------------------------------------------
# ThreTopK: p = f(x - lambda(x)) with sum_i f(x_i - lambda) = k
# ----------------------------------------------------------------------------------------------

THRESHOLD_FS = ("exp", "sigmoid", "smooth", "clip")


def threshold_f(t: Any, f: str):
    """The squashing functions of ThreTopK, f: R -> [0, 1], increasing from 0 to 1.

    "exp": min(1, e^t);  "sigmoid": 1 / (1 + e^-t);  "smooth": 1 - e^-t / 2 (t >= 0), e^t / 2 (t < 0)
    (Su's C^1 choice);  "clip": clip(t, 0, 1). numpy or torch, returns the kind it was given.
    """
    tt, is_torch = as_float_tensor(t, name="t", min_ndim=0)
    check_choice(f, THRESHOLD_FS, name="f")
    return like_input(_f(tt, f), is_torch)


def threshold_f_prime(t: Any, f: str):
    """f'(t) for :func:`threshold_f` (one-sided where f has a kink: 0 at t = 0 for "exp")."""
    tt, is_torch = as_float_tensor(t, name="t", min_ndim=0)
    check_choice(f, THRESHOLD_FS, name="f")
    return like_input(_fprime(tt, f), is_torch)


def _f(t: torch.Tensor, f: str) -> torch.Tensor:
    if f == "exp":
        return torch.exp(torch.clamp(t, max=0.0))
    if f == "sigmoid":
        return torch.sigmoid(t)
    if f == "smooth":
        e = torch.exp(-t.abs())
        return torch.where(t >= 0, 1 - 0.5 * e, 0.5 * e)
    return torch.clamp(t, 0.0, 1.0)


def _fprime(t: torch.Tensor, f: str) -> torch.Tensor:
    if f == "exp":
        return torch.where(t < 0, torch.exp(torch.clamp(t, max=0.0)), torch.zeros_like(t))
    if f == "sigmoid":
        s = torch.sigmoid(t)
        return s * (1 - s)
    if f == "smooth":
        return 0.5 * torch.exp(-t.abs())
    return ((t > 0) & (t < 1)).to(t.dtype)


def _f_and_prime(t: torch.Tensor, f: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(f(t), f'(t)) in one pass where the two share their exponential."""
    if f == "exp":
        e = torch.exp(torch.clamp(t, max=0.0))
        return e, e.masked_fill(t >= 0, 0.0)
    if f == "sigmoid":
        s = torch.sigmoid(t)
        return s, s * torch.sigmoid(-t)
    if f == "smooth":
        e = 0.5 * torch.exp(-t.abs())
        return torch.where(t >= 0, 1 - e, e), e
    return torch.clamp(t, 0.0, 1.0), ((t > 0) & (t < 1)).to(t.dtype)


def _piece_step(t: torch.Tensor, k: int, f: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(F, step) at the current threshold, t = z - lambda (overwritten): F = sum_i f(t_i) - k,
    and the step to the root of the piece of F that holds lambda (saturated entries fixed).

    exp:  m entries above (t > 0), A = sum_{t<=0} e^{t_i}:  m + A e^{-s} = k,  s = log A - log(k - m);
    smooth (Su's C^1 f): m above (t >= 0), s1 = sum_{above} e^{-t}, s2 = sum_{below} e^{t}, c = k - m:
          s = log s2 - log(c + sqrt(c^2 + s1 s2))  (c >= 0),  log(|c| + sqrt(c^2 + s1 s2)) - log s1  (c < 0);
    clip: F is linear on the piece, s = F / #free (Newton's step, exact there);
    sigmoid: Newton's step on log sum_i f(t_i) - log k, s = (log S - log k) S / sum_i f'(t_i).
    Every exponent is <= 0 (no overflow) and no sum subtracts; a sum that underflows to 0 gives
    a step of -inf, which the caller replaces by bisection.
    """
    if f == "exp":
        sat = t > 0
        m = sat.sum(-1).to(t.dtype)
        a = t.clamp_(max=0.0).exp_().masked_fill_(sat, 0.0).sum(-1)          # A
        return m + a - k, torch.log(a) - torch.log(k - m)
    if f == "smooth":
        above = t >= 0
        m = above.sum(-1).to(t.dtype)
        e = t.abs_().neg_().exp_()                                           # e^{-|t|}
        s1 = torch.where(above, e, 0.0).sum(-1)
        s2 = e.masked_fill_(above, 0.0).sum(-1)
        c = k - m
        root = torch.sqrt(c * c + s1 * s2)
        F = m - 0.5 * s1 + 0.5 * s2 - k
        return F, torch.where(c >= 0, torch.log(s2) - torch.log(c + root),
                              torch.log(root - c) - torch.log(s1))
    if f == "sigmoid":
        s = t.sigmoid_()
        S = s.sum(-1)
        D = S - torch.linalg.vecdot(s, s)                                  # sum s (1 - s)
        return S - k, (torch.log(S) - math.log(k)) * S / D
    F = t.clamp(0.0, 1.0).sum(-1) - k
    free = t.sub_(0.5).abs_() < 0.5                                         # 0 < t < 1
    return F, F / free.sum(-1).to(t.dtype)


#: c_f with f(t) <= e^{t - c_f}: sum_i f(z_i - lambda) <= k at lambda = lse(z) - c_f - log k
_EXP_BOUND = {"exp": 0.0, "sigmoid": 0.0, "smooth": math.log(2.0), "clip": 1.0}


def _kth_estimate(z: torch.Tensor, k: int, sample: int = 8) -> torch.Tensor:
    """An estimate of the k-th largest entry of each row z (B, n): the ceil(k / s)-th largest of
    every s-th entry, s = max(1, k // ``sample``) (exact for k < 2 ``sample``), so that it costs
    a Top-``sample`` of n / s columns whatever k is. A starting point only (it can be off by
    about 1 / sqrt(sample) of k in rank): :func:`_newton_lambda` keeps its bracket regardless."""
    s = max(1, k // sample)
    cols = z[:, ::s]
    return torch.topk(cols, min(-(-k // s), cols.shape[-1]), dim=-1, sorted=False).values.amin(-1)


def _newton_lambda(z: torch.Tensor, k: int, f: str, minmax: tuple | None = None,
                   max_iter: int = 300) -> torch.Tensor:
    """Root lambda of F(lambda) = sum_i f(z_i - lambda) - k (decreasing) for rows z (B, n).

    Safeguarded Newton: start at the upper bound lse(z) - c_f - log k (see ``_EXP_BOUND``), or for
    "clip" half a unit below an estimate of the k-th largest entry (:func:`_kth_estimate`; the
    root lies within one unit below the k-th largest), take the steps of :func:`_piece_step`,
    keep a bracket [lo, hi] with F(lo) >= 0 >= F(hi) (at first lo = z_min - f^{-1}(k/n), where
    every f(z_i - lo) >= k/n, and hi = z_max - f^{-1}(k/n) or the bound above), and bisect
    instead whenever a step leaves the bracket or |F| has not halved in three steps. A row stops
    when F = 0, when its step or its bracket is below 2 ulp of lambda, or when |F| is at rounding
    level (then p has every digit even where lambda itself is ill-determined: f' ~ 0 around the
    root). Finished rows leave the working set, so the last iterations cost only the rows still
    moving.
    ``minmax``: the rows' (min, max), when the caller has them.
    """
    n = z.shape[-1]
    q = k / n
    a = {"exp": math.log(q), "sigmoid": math.log(q / (1 - q)), "clip": q,
         "smooth": math.log(2 * q) if q < 0.5 else -math.log(2 * (1 - q))}[f]    # f^{-1}(k/n)
    zmin, zmax = torch.aminmax(z, dim=-1) if minmax is None else minmax       # given, or computed
    lo = zmin - a
    hi = zmax - a
    if f != "clip":
        hi = torch.minimum(torch.logsumexp(z, -1) - _EXP_BOUND[f] - math.log(k), hi)
    # clip starts near the k-th largest entry (its steps from far above meet pieces with no free
    # entry, and bisect); the other f take their exact or log-space steps well from the bound
    lam = hi.clone() if f != "clip" else torch.minimum(torch.maximum(_kth_estimate(z, k) - 0.5, lo), hi)
    out = torch.empty_like(lam)
    rows = torch.arange(z.shape[0])
    eps = torch.finfo(z.dtype).eps
    tol, tol_f = 2 * eps, 4 * eps * k
    f_ref, since = torch.full_like(lam, math.inf), torch.zeros_like(lam)
    buf = torch.empty_like(z)
    for _ in range(max_iter):
        t = torch.sub(z, lam.unsqueeze(-1), out=buf[:z.shape[0]])
        F, step = _piece_step(t, k, f)
        lo, hi = torch.where(F > 0, lam, lo), torch.where(F < 0, lam, hi)
        new = lam + step
        bad = ~torch.isfinite(new) | (new < lo) | (new > hi)
        fa = F.abs()
        done = ((F == 0) | (step.abs() <= tol * (1 + lam.abs())) | (fa <= tol_f)
                | (hi - lo <= tol * (1 + hi.abs())))
        bisect = (bad | ((since >= 3) & (fa > 0.5 * f_ref))) & ~done
        lam = torch.where(bisect, 0.5 * (lo + hi), torch.where(done & bad, lam, new))
        reset = bisect | (fa <= 0.5 * f_ref)
        f_ref, since = torch.where(reset, fa, f_ref), torch.where(reset, 0.0, since + 1)
        if bool(done.any()):
            out[rows[done]] = lam[done]
            go = ~done
            if not bool(go.any()):
                return out
            rows, z, lam, lo, hi, f_ref, since = (v[go] for v in (rows, z, lam, lo, hi, f_ref, since))
    raise FloatingPointError("thre_topk: the threshold did not converge; please report x")


def _clip_flat_midpoint(z: torch.Tensor, lam: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """For f = clip: where no entry lies strictly inside (lambda, lambda + 1) (every f' = 0 in
    ``d``), exactly k entries are 1, F is flat around the root, and every lambda between the
    largest entry at 0 and the smallest entry at 1 minus 1 gives the same p: report the midpoint
    of that interval, so that lambda does not depend on the solver's path. z (B, n), lam (B, 1)."""
    flat = d.sum(-1) == 0
    if not bool(flat.any()):
        return lam
    zf, lf = z[flat], lam[flat]
    below = torch.where(zf <= lf, zf, -math.inf).amax(-1, keepdim=True)
    above = torch.where(zf >= lf + 1, zf, math.inf).amin(-1, keepdim=True) - 1
    lam = lam.clone()
    lam[flat] = 0.5 * (below + above)
    return lam


class ThreTopK(torch.autograd.Function):
    """p = f(z - lambda(z)) with the implicit gradient of lambda (chapter smooth-topk).

    Forward: :func:`_newton_lambda` on z minus its row maximum (lambda(z + c) = lambda(z) + c;
    the shift keeps every digit of ties and huge scores), no graph. Backward: differentiating
    sum_i f(z_i - lambda) = k gives d lambda / d z_j = f'_j / sum_i f'_i, hence the
    vector-Jacobian product g -> f' * (g - (f' . g) / sum_i f'_i) (+ g_lambda f' / sum_i f'_i for
    lambda's own gradient). Where every f'_i = 0 (a saturated "clip" or "exp" solution) lambda
    does not move and the product is f' * g = 0. Returns (p, lambda), lambda on z's axis; where
    "clip" leaves lambda undetermined (an interval of roots), its midpoint
    (:func:`_clip_flat_midpoint`).
    """

    @staticmethod
    def forward(ctx, z: torch.Tensor, k: int, f: str):
        n = z.shape[-1]
        # f saturates across a gap of 2 (760 + log n): beyond it every f(t) or 1 - f(t) is below
        # float64's smallest number, so closing it changes no digit of p
        z2, gap = z.detach().reshape(-1, n), 2 * (760.0 + math.log(n))
        zmin, zmax = torch.aminmax(z2, dim=-1)
        wide = bool(((zmax - zmin) > gap).any())
        zc, off = _close_gaps(z2, gap) if wide else (z2, None)
        top = zc.amax(-1, keepdim=True) if wide else zmax.unsqueeze(-1)
        zs = zc - top
        lam = _newton_lambda(zs, k, f, None if wide else (zmin - zmax, torch.zeros_like(zmax))).unsqueeze(-1)
        t = zs - lam
        p, d = _f_and_prime(t, f)
        if f == "clip":
            lam = _clip_flat_midpoint(zs, lam, d)
        # lambda on z's axis: undo the move of the entry nearest to it (p is unchanged)
        lam = lam + top - (off.gather(-1, (zs - lam).abs().argmin(-1, keepdim=True)) if wide else 0.0)
        ctx.save_for_backward(d.reshape(z.shape))
        return p.reshape(z.shape), lam.reshape(z.shape[:-1])

    @staticmethod
    def backward(ctx, g_p, g_lam):
        (d,) = ctx.saved_tensors
        s = d.sum(-1, keepdim=True)
        dg = d * g_p if g_p is not None else torch.zeros_like(d)
        # grad = f' g - f' (f'.g - g_lambda) / sum f'  (0 where sum f' = 0)
        num = dg.sum(-1, keepdim=True) - (g_lam.unsqueeze(-1) if g_lam is not None else 0.0)
        coef = torch.where(s > 0, num / s.clamp(min=1e-300), torch.zeros_like(s))
        return dg.addcmul_(d, coef, value=-1.0), None, None


def thre_topk(x: Any, k: int, f: str = "exp", tau: float = 1.0, return_lambda: bool = False):
    """ThreTopK: [ST_k(x)]_i = f(x_i / tau - lambda) with sum_i f(x_i / tau - lambda) = k.

    f in {"exp", "sigmoid", "smooth", "clip"} (see :func:`threshold_f`). lambda by a safeguarded
    Newton solve (:func:`_newton_lambda`: exact steps on each piece for "exp", "smooth" and "clip",
    Newton on log sum f for "sigmoid", a bracket and bisection as the fallback). numpy or torch
    (returns the kind it was given; a tensor result carries the implicit gradient of
    :class:`ThreTopK`). k = n gives ones (lambda = -inf is then not returned: return_lambda
    raises). Chapter smooth-topk, eq. (ThreTopK).
    """
    t, is_torch, n, k, tau = _topk_args(x, k, tau)
    check_choice(f, THRESHOLD_FS, name="f")
    if k == n:
        if return_lambda:
            raise ValueError(f"return_lambda: lambda is -inf when k = n = {n}; ask for k < n")
        return like_input(torch.ones_like(t) + 0 * t, is_torch)
    # Solved in float64 whatever the dtype: in float32 the ulp of 1e10 is 1e3, and lambda's
    # log 2 (two equal entries sharing one unit) would vanish. p and lambda keep x's dtype.
    z = t if t.dtype == torch.float64 else t.double()
    p, lam = ThreTopK.apply(z if tau == 1.0 else z / tau, k, f)
    if t.dtype != torch.float64:
        p, lam = p.to(t.dtype), lam.to(t.dtype)
    if return_lambda:
        return like_input(p, is_torch), like_input(lam, is_torch)
    return like_input(p, is_torch)


def thre_topk_lambda(x: Any, k: int, f: str = "exp", tau: float = 1.0):
    """The threshold lambda of :func:`thre_topk` (on the scaled axis x / tau)."""
    return thre_topk(x, k, f=f, tau=tau, return_lambda=True)[1]


def thre_topk_lambda_grad(x: Any, k: int, f: str = "exp", tau: float = 1.0):
    """d lambda / d x by implicit differentiation: f'(z_j - lambda) / (tau sum_i f'(z_i - lambda)),
    z = x / tau (0 where every f' vanishes). numpy or torch (the kind it was given, no graph).
    Chapter smooth-topk, eq. (implicit gradient)."""
    t, is_torch = as_float_tensor(x, name="x")
    p, lam = thre_topk(t.detach(), k, f=f, tau=tau, return_lambda=True)
    d = _fprime(t.detach() / tau - lam.unsqueeze(-1), f)
    s = d.sum(-1, keepdim=True)
    g = torch.where(s > 0, d / (tau * s.clamp(min=1e-300)), torch.zeros_like(d))
    return like_input(g, is_torch)


# ----------------------------------------------------------------------------------------------
# the iterative constructions (Su 2019, and the weighted-softmax variant that is wrong)
# ----------------------------------------------------------------------------------------------


#: The widest spread of x / tau at which :func:`su_iteration` returns a float32 gradient.
SU_FLOAT32_SPREAD = 1e18


def su_iteration(x: Any, k: int, tau: float = 1.0):
    """Su's 2019 soft-k-max: z = x/tau - min(x/tau); p = 0; k times p <- p + softmax((1 - p) * z).

    numpy or torch (returns the kind it was given). Sums to k; entries can leave [0, 1]
    (chapter smooth-topk shows one). kexue.fm/archives/6620. Computed in float64 whatever the
    dtype (the result keeps it). Its gradient grows with the spread of the scores: a float32
    tensor that requires a gradient and spreads over more than ``SU_FLOAT32_SPREAD`` raises.
    """
    t, is_torch, n, k, tau = _topk_args(x, k, tau)
    z = (t if t.dtype == torch.float64 else t.double()) / tau
    z = z - z.min(-1, keepdim=True).values
    if t.requires_grad and t.dtype != torch.float64 and float(z.detach().max()) > SU_FLOAT32_SPREAD:
        raise ValueError(f"x: scores x / tau spread over {float(z.detach().max()):.3g} > "
                         f"{SU_FLOAT32_SPREAD:.0e}: the gradient of the iteration (of the size of the "
                         "spread) overflows float32; pass float64 scores")
    p = torch.zeros_like(z)
    for _ in range(k):
        p = p + torch.softmax((1 - p) * z, dim=-1)
    return like_input(p.to(t.dtype), is_torch)


def weighted_softmax_iteration(x: Any, k: int, tau: float = 1.0):
    """The Stack Exchange variant: k times p <- p + softmax(x/tau; w = 1 - p), where
    softmax(z; w)_i = w_i e^{z_i} / sum_j w_j e^{z_j}.

    WRONG as a Top-k approximation (kept to show it): for k = 2 its tau -> 0 limit is 1.5 on the
    maximum and 0.5 on the runner-up, because 1 - p_max is of the order of e^{-z_max}. It stays
    finite: weights w = 1 - p are clamped at 0 and the normaliser is positive while k < n.
    numpy or torch (returns the kind it was given).
    """
    t, is_torch, n, k, tau = _topk_args(x, k, tau)
    z = t / tau
    z = z - z.max(-1, keepdim=True).values
    p = torch.zeros_like(z)
    # the floor under log w: 1e-300 rounds to 0 in float32 (log 0 = -inf, a NaN gradient)
    floor = max(1e-300, torch.finfo(z.dtype).tiny)
    for _ in range(k):
        w = torch.clamp(1 - p, min=0.0)
        # softmax(z; w) computed as softmax(z + log w): stable for any scale of z
        logw = torch.where(w > 0, torch.log(w.clamp(min=floor)), torch.full_like(w, -math.inf))
        p = p + torch.softmax(z + logw, dim=-1)
    return like_input(p, is_torch)


# ----------------------------------------------------------------------------------------------
# every method under one name (for the chapter's comparisons and its widget)
# ----------------------------------------------------------------------------------------------

TOPK_METHODS: dict[str, Callable[..., Any]] = {
    "GradTopK": lambda x, k, tau: grad_topk(x, k, tau),
    "ThreTopK-exp": lambda x, k, tau: thre_topk(x, k, "exp", tau),
    "ThreTopK-sigmoid": lambda x, k, tau: thre_topk(x, k, "sigmoid", tau),
    "ThreTopK-smooth": lambda x, k, tau: thre_topk(x, k, "smooth", tau),
    "ThreTopK-clip": lambda x, k, tau: thre_topk(x, k, "clip", tau),
    "Su iteration": lambda x, k, tau: su_iteration(x, k, tau),
    "weighted iteration": lambda x, k, tau: weighted_softmax_iteration(x, k, tau),
}
#: The ThreTopK methods of TOPK_METHODS and their squashing function f.
METHOD_F = {"ThreTopK-exp": "exp", "ThreTopK-sigmoid": "sigmoid", "ThreTopK-smooth": "smooth",
            "ThreTopK-clip": "clip"}


def smooth_topk(x: Any, k: int, tau: float = 1.0, method: str = "GradTopK"):
    """Any of the chapter's smooth Top-k maps by name (see ``TOPK_METHODS``)."""
    check_choice(method, list(TOPK_METHODS), name="method")
    return TOPK_METHODS[method](x, k, tau)


def topk_l1_distance(x: Any, k: int, taus: Any, method: str) -> np.ndarray:
    """|| ST_k(x / tau) - T_k(x) ||_1 for each tau (numpy; the convergence figure)."""
    xs, _ = as_float_array(x, name="x", max_ndim=1)
    ts, _ = as_float_array(taus, name="taus", max_ndim=1)
    for tau in ts:
        check_positive(float(tau), name="taus")
    hard = hard_topk(xs, k)
    return np.array([np.abs(smooth_topk(xs, k, float(tau), method) - hard).sum() for tau in ts])


