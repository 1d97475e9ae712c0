"""Smooth approximations of Top-k: GradTopK, ThreTopK, the iterative constructions.

Chapter ``probability/smooth-topk`` (kexue.fm/archives/10373).

Conventions. Every map acts on the last axis. A function that takes "numpy or torch" returns the
kind it was given (:func:`kexue._validate.like_input`): numpy in, numpy out (float64); a torch
tensor in, a tensor out, differentiable by autograd (custom backward where the forward is a
root-finder). Temperature is applied first, as ``x / tau``, and any threshold lambda is reported
on that scaled axis.
"""
from __future__ import annotations

import itertools
import math
import warnings
from typing import Any, Callable

import numpy as np
import torch

from .._validate import (as_float_array, as_float_ndarray, as_float_tensor, check_choice,
                         check_int_in, check_positive, like_input)

__all__ = ["hard_topk", "log_esp", "log_esp_brute", "grad_topk", "naive_grad_topk_recurrence",
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


def log_esp(x: Any, k: int):
    """log e_k(exp(x_1), ..., exp(x_n)) = log sum_{|S|=k} exp(sum_{i in S} x_i) = log Z_k.

    torch (numpy accepted, numpy returned). Dynamic programme over the entries, in log space and
    with additions only: E_j <- logaddexp(E_j, E_{j-1} + x_i), E_0 = 0, so it never subtracts and
    stays finite at any scale; O(n k) time. Differentiable by autograd; its gradient is GradTopK.
    Chapter smooth-topk, eq. (log Z_k).
    """
    t, is_torch = as_float_tensor(x, name="x")
    n = t.shape[-1]
    k = check_int_in(k, 1, n, name="k")
    batch = t.shape[:-1]
    # E[..., j] = log e_j(first i entries); entries j > i are -inf and never enter logaddexp
    # (its first and second derivatives at -inf are NaN): E_{i+1} is first set by an addition.
    E = torch.full((*batch, k + 1), -math.inf, dtype=t.dtype, device=t.device)
    E = torch.cat([torch.zeros((*batch, 1), dtype=t.dtype, device=t.device), E[..., 1:]], -1)
    for i in range(n):
        xi = t[..., i:i + 1]
        m = min(i, k)                                     # E_0..E_m are finite before step i
        parts = [E[..., :1], torch.logaddexp(E[..., 1:m + 1], E[..., :m] + xi)]
        if i + 1 <= k:                                    # first finite value of E_{i+1}
            parts.append(E[..., i:i + 1] + xi)
        parts.append(E[..., m + 1 + (i + 1 <= k):])
        E = torch.cat(parts, dim=-1)
    return like_input(E[..., k], is_torch)


def log_esp_brute(x: Any, k: int):
    """log Z_k = logsumexp over all C(n, k) subsets S of sum_{i in S} x_i: the reference for
    :func:`log_esp` at small n (chapter smooth-topk). numpy or torch (the kind it was given,
    differentiable); refuses more than 200,000 subsets."""
    t, is_torch = as_float_tensor(x, name="x")
    n = t.shape[-1]
    k = check_int_in(k, 1, n, name="k")
    if math.comb(n, k) > 200_000:
        raise ValueError(f"k: brute force over C({n}, {k}) = {math.comb(n, k)} subsets is too "
                         "many (limit 200000); use method='dp'")
    idx = torch.tensor(list(itertools.combinations(range(n), k)), dtype=torch.long)  # (C, k)
    sums = t[..., idx].sum(-1)                                                        # (..., C)
    return like_input(torch.logsumexp(sums, dim=-1), is_torch)


def _grad_topk_dp(z: torch.Tensor, k: int, v: torch.Tensor | None = None,
                  p: torch.Tensor | None = None, chunk: int = 128) -> torch.Tensor:
    """GradTopK p = Z_{k,i} / Z_k of rows z (B, n), 1 <= k < n; or, given v (B, n) and that p,
    the product H v of the Jacobian dp/dz (symmetric: the Hessian of log Z_k) with v.

    Two dynamic programmes in log space, with additions only (nothing cancels):
    forward  F_i[j] = log e_j(z_1..z_{i-1}), j < k   (stored, one (B, k) slab per i);
    reverse  R_i[a] = log e_{k-1-a}(z_{i+1}..z_n)   (running, reversed index; kept for a chunk
    of positions at a time), then L_i = lse_a(F_i[a] + R_i[a]) = log e_{k-1}(z without z_i) and
    p_i = exp(z_i + L_i - log Z_k), since Z_{k,i} = e^{z_i} e_{k-1}(z without z_i).
    With v, both programmes carry their directional derivatives (forward mode): the derivative
    of logaddexp(a, b) is (1 - w) da + w db with w = e^{b - logaddexp(a, b)}, and
    (H v)_i = p_i (v_i + sum_a s_a (dF_i[a] + dR_i[a]) - p . v), s = softmax_a(F_i + R_i).
    Entries still -inf (e_j of fewer than j numbers) never enter logaddexp: the first finite
    value of each is set by an addition, so no -inf - -inf appears anywhere. Buffers are
    allocated once; O(n k) time, O(n k) memory per row.
    """
    B, n = z.shape
    tan = v is not None
    zt = z.t().contiguous()                                    # (n, B): rows by position
    vt = v.t().contiguous() if tan else None
    F = z.new_empty((n, B, k))
    dF = z.new_empty((n, B, k)) if tan else None
    E = z.new_full((B, k + 1), -math.inf)
    E[:, 0] = 0.0
    dE = z.new_zeros((B, k + 1)) if tan else None
    for i in range(n):
        F[i] = E[:, :k]
        if tan:
            dF[i] = dE[:, :k]
        m = min(i, k)                                          # E_0..E_m finite before step i
        if i + 1 <= k:                                         # first finite value of E_{i+1}
            E[:, i + 1] = E[:, i] + zt[i]
            if tan:
                dE[:, i + 1] = dE[:, i] + vt[i]
        if m >= 1:
            a, b = E[:, 1:m + 1], E[:, :m] + zt[i].unsqueeze(-1)
            new = torch.logaddexp(a, b)
            if tan:
                w = torch.exp(b - new)
                dE[:, 1:m + 1] += w * (dE[:, :m] + vt[i].unsqueeze(-1) - dE[:, 1:m + 1])
            E[:, 1:m + 1] = new
    log_z = E[:, k]
    chunk = min(chunk, n)
    L = z.new_empty((n, B))
    dL = z.new_empty((n, B)) if tan else None
    Rc = z.new_empty((chunk, B, k))
    dRc = z.new_empty((chunk, B, k)) if tan else None
    R = z.new_full((B, k), -math.inf)
    R[:, k - 1] = 0.0
    dR = z.new_zeros((B, k)) if tan else None
    for i in range(n - 1, -1, -1):
        s0 = (i // chunk) * chunk
        Rc[i - s0] = R
        if tan:
            dRc[i - s0] = dR
        if i == s0:                                            # a chunk of positions is complete
            s1 = min(s0 + chunk, n)
            c = F[s0:s1] + Rc[:s1 - s0]                        # (len, B, k)
            L[s0:s1] = torch.logsumexp(c, -1)
            if tan:
                sa = torch.exp(c - L[s0:s1].unsqueeze(-1))
                dL[s0:s1] = (sa * (dF[s0:s1] + dRc[:s1 - s0])).sum(-1)
        sz = n - 1 - i                                         # size of the suffix
        m = min(sz, k - 1)                                     # e_0..e_m of the suffix finite
        if sz + 1 <= k - 1:                                    # first finite e_{sz+1}
            a0 = k - 2 - sz
            R[:, a0] = R[:, a0 + 1] + zt[i]
            if tan:
                dR[:, a0] = dR[:, a0 + 1] + vt[i]
        if m >= 1:
            lo = k - 1 - m
            a, b = R[:, lo:k - 1], R[:, lo + 1:k] + zt[i].unsqueeze(-1)
            new = torch.logaddexp(a, b)
            if tan:
                w = torch.exp(b - new)
                dR[:, lo:k - 1] += w * (dR[:, lo + 1:k] + vt[i].unsqueeze(-1) - dR[:, lo:k - 1])
            R[:, lo:k - 1] = new
    if not tan:
        return torch.exp(torch.clamp(z + L.t() - log_z.unsqueeze(-1), max=0.0))
    return p * (v + dL.t() - (p * v).sum(-1, keepdim=True))


def _dp_rows(z: torch.Tensor) -> torch.Tensor:
    """z as rows (B, n) minus their maximum, in float64 at least: log Z_k is of the size of the
    scores (k x 1e10 at x = 1e4, tau = 1e-6), and p_i = e^{z_i + L_i - log Z_k} needs its
    difference to well below 1, which float32 (ulp 1e3 there) cannot give."""
    z2 = z.detach().reshape(-1, z.shape[-1])
    if z2.dtype != torch.float64:
        z2 = z2.double()
    return z2 - z2.amax(-1, keepdim=True)


class GradTopK(torch.autograd.Function):
    """GradTopK p = d log Z_k / d z as an autograd Function (chapter smooth-topk).

    Forward: :func:`_grad_topk_dp` (two log-space programmes into preallocated buffers, O(n k)
    time, O(n k) memory, no graph). Backward: g -> H g, H = dp/dz (the Hessian of log Z_k,
    symmetric), by forward-mode derivatives carried through the same programmes. When a graph
    of the backward is asked for (``create_graph=True``: third derivatives of log Z_k), the
    product is taken by double autograd through :func:`log_esp` instead, which is slower.
    ``z`` has shape (..., n) and is used with its row maximum subtracted (p is shift invariant),
    in float64 whatever its dtype (see :func:`_dp_rows`); the result has the dtype of ``z``.
    """

    @staticmethod
    def forward(ctx, z: torch.Tensor, k: int):
        p = _grad_topk_dp(_dp_rows(z), k)
        ctx.save_for_backward(z)
        ctx.k, ctx.p64 = k, p                             # p in float64, for the backward
        return p.reshape(z.shape).to(z.dtype)

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        (z,) = ctx.saved_tensors
        k = ctx.k
        if torch.is_grad_enabled():                       # a graph of the backward was asked for
            with torch.enable_grad():
                zz = z if z.requires_grad else z.detach().requires_grad_(True)
                (p,) = torch.autograd.grad(log_esp(zz, k).sum(), zz, create_graph=True)
                (hg,) = torch.autograd.grad(p, zz, g, create_graph=True)
            return hg, None
        z2 = _dp_rows(z)
        hv = _grad_topk_dp(z2, k, g.reshape(-1, z.shape[-1]).to(z2.dtype), ctx.p64)
        return hv.reshape(z.shape).to(z.dtype), None


def grad_topk(x: Any, k: int, tau: float = 1.0, method: str = "dp"):
    """GradTopK: [ST_k(x)]_i = d log Z_k / d x_i = Z_{k,i} / Z_k, with x -> x / tau first.

    numpy or torch (returns the kind it was given; a tensor result is differentiable, second
    derivatives included). ``method="dp"``: :class:`GradTopK` (two log-space programmes, stable
    at any scale and temperature, O(n k); its backward is the Hessian-vector product);
    ``"brute"``: logsumexp over all C(n, k) subsets (a reference for small n). The post's own
    recurrence is :func:`naive_grad_topk_recurrence`, kept apart because it breaks down.
    Chapter smooth-topk, eq. (GradTopK).
    """
    t, is_torch, n, k, tau = _topk_args(x, k, tau)
    check_choice(method, ["dp", "brute"], name="method")
    if k == n:
        return like_input(torch.ones_like(t), is_torch)
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


def _lambda_exp(z: torch.Tensor, k: int) -> torch.Tensor:
    """min(1, e^t): lambda = log sum_{i>m} e^{z_(i)} - log(k - m) for the m in 0..k-1 that
    satisfies z_(m) >= lambda >= z_(m+1) (sorted descending, z_(0) = +inf)."""
    zs = torch.sort(z, dim=-1, descending=True).values                     # (..., n)
    tail = torch.logcumsumexp(zs.flip(-1), dim=-1).flip(-1)                # lse of z_(i..n)
    m = torch.arange(k, dtype=z.dtype)
    cand = tail[..., :k] - torch.log(k - m)                                # (..., k): m saturated
    upper = torch.cat([torch.full_like(zs[..., :1], math.inf), zs[..., :k - 1]], -1)
    lower = zs[..., :k]
    return _pick_candidate(cand, upper, lower)


def _lambda_smooth(z: torch.Tensor, k: int) -> torch.Tensor:
    """Su's C^1 f: with m entries above lambda, S1 = sum_{i<=m} e^{-z_(i)}, S2 = sum_{i>m} e^{z_(i)},
    c = k - m:  lambda = log S2 - log(c + sqrt(c^2 + S1 S2));  m = n (every entry above lambda,
    possible when k > n/2) gives lambda = log(2 (n - k)) - log S1. All in log space."""
    n = z.shape[-1]
    zs = torch.sort(z, dim=-1, descending=True).values
    ninf = torch.full_like(zs[..., :1], -math.inf)
    log_s2 = torch.cat([torch.logcumsumexp(zs.flip(-1), -1).flip(-1), ninf], -1)   # m = 0..n
    log_s1 = torch.cat([ninf, torch.logcumsumexp(-zs, -1)], -1)                    # m = 0..n
    c = k - torch.arange(n + 1, dtype=z.dtype)                                      # (n+1,)
    log_p = log_s1 + log_s2                                                         # log S1 S2
    abs_c = c.abs().expand_as(log_p)
    log_c2 = torch.where(abs_c > 0, 2 * torch.log(abs_c), torch.full_like(log_p, -math.inf))
    log_root = 0.5 * torch.logaddexp(log_c2, log_p)                                # log sqrt(c^2+P)
    pos = c >= 0
    # c >= 0: log S2 - log(c + root);  c < 0: -log S1 + log(root + |c|)  (no cancellation)
    log_c = torch.where(abs_c > 0, torch.log(abs_c), torch.full_like(log_p, -math.inf))
    sum_log = torch.logaddexp(log_c, log_root)
    cand = torch.where(pos, log_s2 - sum_log, -log_s1 + sum_log)
    m_n = math.log(2 * (n - k)) - log_s1[..., n] if k < n else None
    if m_n is not None:
        cand = torch.cat([cand[..., :n], m_n.unsqueeze(-1)], -1)
    upper = torch.cat([torch.full_like(zs[..., :1], math.inf), zs], -1)              # z_(m)
    lower = torch.cat([zs, torch.full_like(zs[..., :1], -math.inf)], -1)            # z_(m+1)
    return _pick_candidate(cand, upper, lower)


def _pick_candidate(cand: torch.Tensor, upper: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
    """The candidate lambda that lies in its own interval [lower, upper].

    In exact arithmetic one candidate does (several, equal, at ties); in floating point take the
    one that misses its interval by the least, so no tolerance has to match the scale of z.
    """
    miss = torch.relu(cand - upper) + torch.relu(lower - cand)
    miss = torch.where(torch.isfinite(cand), miss, torch.full_like(miss, math.inf))
    best = miss.argmin(-1, keepdim=True)
    worst_miss = torch.gather(miss, -1, best)
    if not bool((worst_miss <= 1e-6 * (1 + torch.gather(cand, -1, best).abs())).all()):
        raise FloatingPointError("no threshold candidate satisfied its interval; please report x")
    return torch.gather(cand, -1, best).squeeze(-1)


def _lambda_bisect(z: torch.Tensor, k: int, f: str, iters: int = 200) -> torch.Tensor:
    """Root of F(lambda) = sum_i f(z_i - lambda) - k, F decreasing, by bisection.

    Bracket (sigmoid): [z_min - logit(k/n), z_max - logit(k/n)] (the post's interval); for
    "clip", [z_min - 1, z_max]; then, for "clip", the exact root on the identified linear piece.
    """
    n = z.shape[-1]
    zmin, zmax = z.min(-1).values, z.max(-1).values
    if f == "sigmoid":
        logit = math.log(k / (n - k))
        lo, hi = zmin - logit, zmax - logit
    else:
        lo, hi = zmin - 1.0, zmax
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        big = _f(z - mid.unsqueeze(-1), f).sum(-1) > k
        lo = torch.where(big, mid, lo)
        hi = torch.where(big, hi, mid)
        if bool(((hi - lo) <= 1e-15 * (1 + hi.abs())).all()):
            break
    lam = 0.5 * (lo + hi)
    if f == "clip":
        t = z - lam.unsqueeze(-1)
        free = (t > 0) & (t < 1)
        ones = (t >= 1).to(z.dtype).sum(-1)
        nfree = free.to(z.dtype).sum(-1)
        exact = ((z * free).sum(-1) - (k - ones)) / nfree.clamp(min=1)
        lam = torch.where(nfree > 0, exact, lam)
    return lam


def _solve_lambda(z: torch.Tensor, k: int, f: str) -> torch.Tensor:
    if f == "exp":
        return _lambda_exp(z, k)
    if f == "smooth":
        return _lambda_smooth(z, k)
    return _lambda_bisect(z, k, f)


class ThreTopK(torch.autograd.Function):
    """p = f(z - lambda(z)) with the implicit gradient of lambda (chapter smooth-topk).

    Differentiating sum_i f(z_i - lambda) = k gives d lambda / d z_j = f'_j / sum_i f'_i, hence
    the vector-Jacobian product  g -> f' * (g - (f' . g) / sum_i f'_i). Where every f'_i = 0
    (a saturated "clip" or "exp" solution) lambda does not move and the product is f' * g = 0.
    """

    @staticmethod
    def forward(ctx, z: torch.Tensor, k: int, f: str):
        lam = _solve_lambda(z.detach(), k, f)
        t = z.detach() - lam.unsqueeze(-1)
        ctx.save_for_backward(t)
        ctx.f = f
        return _f(t, f), lam

    @staticmethod
    def backward(ctx, g_p, g_lam):
        (t,) = ctx.saved_tensors
        d = _fprime(t, ctx.f)
        s = d.sum(-1, keepdim=True)
        dl = torch.where(s > 0, d / s.clamp(min=1e-300), torch.zeros_like(d))   # d lambda / dz
        gp = g_p if g_p is not None else torch.zeros_like(t)
        grad = d * gp - dl * (d * gp).sum(-1, keepdim=True)      # f' g - (f'.g) dlambda/dz
        if g_lam is not None:
            grad = grad + g_lam.unsqueeze(-1) * dl
        return grad, None, None


def thre_topk(x: Any, k: int, f: str = "exp", tau: float = 1.0, return_lambda: bool = False):
    """ThreTopK: [ST_k(x)]_i = f(x_i / tau - lambda) with sum_i f(x_i / tau - lambda) = k.

    f in {"exp", "sigmoid", "smooth", "clip"} (see :func:`threshold_f`). lambda: closed form for
    "exp" and "smooth" (scan over the number m of entries above it), bisection for "sigmoid" and
    "clip" (exact on the final linear piece for "clip"). numpy or torch (returns the kind it was
    given; a tensor result carries the implicit gradient of :class:`ThreTopK`). k = n gives ones
    (lambda = -inf is then not returned: return_lambda raises). Chapter smooth-topk, eq. (ThreTopK).
    """
    t, is_torch, n, k, tau = _topk_args(x, k, tau)
    check_choice(f, THRESHOLD_FS, name="f")
    if k == n:
        if return_lambda:
            raise ValueError(f"return_lambda: lambda is -inf when k = n = {n}; ask for k < n")
        return like_input(torch.ones_like(t) + 0 * t, is_torch)
    # lambda(z + c) = lambda(z) + c: solve on z - max(z) so that ties and huge scores keep every
    # digit (x / tau = 1e10 has an ulp of 2e-6); the detached shift leaves the gradients exact.
    # Solved in float64 whatever the dtype: in float32 the ulp of 1e10 is 1e3, and lambda's
    # log 2 (two equal entries sharing one unit) would vanish. p and lambda keep x's dtype.
    z = (t if t.dtype == torch.float64 else t.double()) / tau
    shift = z.detach().max(-1, keepdim=True).values
    p, lam = ThreTopK.apply(z - shift, k, f)
    p, lam = p.to(t.dtype), (lam + shift.squeeze(-1)).to(t.dtype)
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


def su_iteration(x: Any, k: int, tau: float = 1.0):
    """Su's 2019 soft-k-max: z = x/tau - min(x/tau); p = 0; k times p <- p + softmax((1 - p) * z).

    numpy or torch (returns the kind it was given). Sums to k; entries can leave [0, 1]
    (chapter smooth-topk shows one). kexue.fm/archives/6620.
    """
    t, is_torch, n, k, tau = _topk_args(x, k, tau)
    z = t / tau
    z = z - z.min(-1, keepdim=True).values
    p = torch.zeros_like(z)
    for _ in range(k):
        p = p + torch.softmax((1 - p) * z, dim=-1)
    return like_input(p, is_torch)


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


