"""Probability maps: softmax and its relatives, and smooth approximations of Top-k.

Chapters: ``probability/smooth-topk`` (kexue.fm/archives/10373) and
``probability/softmax-alternatives`` (kexue.fm/archives/10145).

Conventions. Every map acts on the last axis. A function that takes "numpy or torch" returns the
kind it was given: numpy in, numpy out (float64); a torch tensor in, a tensor out, differentiable
by autograd (custom backward where the forward is a root-finder). Temperature is applied first,
as ``x / tau``, and any threshold lambda is reported on that scaled axis.
"""
from __future__ import annotations

import itertools
import math
import warnings
from typing import Any, Callable

import numpy as np
import torch

from ._validate import (as_float_array, check_choice, check_int_in, check_positive)
from . import widgets as _w

# ----------------------------------------------------------------------------------------------
# small pieces shared by the maps
# ----------------------------------------------------------------------------------------------


def _to_torch(x: Any, name: str, min_ndim: int = 1):
    """(tensor, was_numpy): validate x and compute in float64 torch either way."""
    arr, is_torch = as_float_array(x, name=name, min_ndim=min_ndim)
    if is_torch:
        return arr, False
    return torch.from_numpy(np.ascontiguousarray(arr)), True


def _topk_args(x: Any, k: int, tau: float):
    """The checks every smooth Top-k map starts with: (tensor, was_numpy, n, k, tau)."""
    t, was_np = _to_torch(x, "x")
    n = t.shape[-1]
    return t, was_np, n, check_int_in(k, 1, n, name="k"), check_positive(tau, name="tau")


def _back(t: torch.Tensor, was_numpy: bool):
    return t.detach().numpy() if was_numpy else t


def softmax(x: Any, tau: float = 1.0):
    """softmax(x / tau)_i = exp(x_i / tau) / sum_j exp(x_j / tau) on the last axis.

    numpy or torch (returns the kind it was given). The smooth Top-1: every Top-k map of
    chapter smooth-topk reduces to it at k = 1 (eq. "softmax is ST_1").
    """
    t, was_np = _to_torch(x, "x")
    tau = check_positive(tau, name="tau")
    return _back(torch.softmax(t / tau, dim=-1), was_np)


def logsumexp(x: Any, tau: float = 1.0):
    """tau * log sum_i exp(x_i / tau): the smooth maximum (kexue.fm/archives/3290)."""
    t, was_np = _to_torch(x, "x")
    tau = check_positive(tau, name="tau")
    return _back(tau * torch.logsumexp(t / tau, dim=-1), was_np)


# ----------------------------------------------------------------------------------------------
# hard Top-k and the problem statement
# ----------------------------------------------------------------------------------------------


def hard_topk(x: Any, k: int, warn_ties: bool = True):
    """T_k(x): the 0/1 mask of the k largest entries on the last axis (eq. T_k).

    numpy or torch (returns the kind it was given, float). With ties at the k-th place the set
    Omega_k is ambiguous: the earlier index wins and a RuntimeWarning says so.
    """
    t, was_np = _to_torch(x, "x")
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
    return _back(mask, was_np)


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
    t, was_np = _to_torch(x, "x")
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
    return _back(E[..., k], was_np)


def _log_esp_brute(t: torch.Tensor, k: int) -> torch.Tensor:
    n = t.shape[-1]
    if math.comb(n, k) > 200_000:
        raise ValueError(f"k: brute force over C({n}, {k}) = {math.comb(n, k)} subsets is too "
                         "many (limit 200000); use method='dp'")
    idx = torch.tensor(list(itertools.combinations(range(n), k)), dtype=torch.long)  # (C, k)
    sums = t[..., idx].sum(-1)                                                        # (..., C)
    return torch.logsumexp(sums, dim=-1)


def grad_topk(x: Any, k: int, tau: float = 1.0, method: str = "dp"):
    """GradTopK: [ST_k(x)]_i = d log Z_k / d x_i = Z_{k,i} / Z_k, with x -> x / tau first.

    numpy or torch (returns the kind it was given; a tensor result is differentiable, second
    derivatives included). ``method="dp"``: autograd through :func:`log_esp` (stable, O(n k));
    ``"brute"``: logsumexp over all C(n, k) subsets (a reference for small n). The post's own
    recurrence is :func:`naive_grad_topk_recurrence`, kept apart because it breaks down.
    Chapter smooth-topk, eq. (GradTopK).
    """
    t, was_np, n, k, tau = _topk_args(x, k, tau)
    check_choice(method, ["dp", "brute"], name="method")
    if k == n:
        return _back(torch.ones_like(t), was_np)
    keep_graph = t.requires_grad
    with torch.enable_grad():
        xin = t if keep_graph else t.detach().requires_grad_(True)
        z = xin / tau
        logz = log_esp(z, k) if method == "dp" else _log_esp_brute(z, k)
        (p,) = torch.autograd.grad(logz.sum(), xin, create_graph=keep_graph)
    p = p * tau                                      # d logZ(x/tau) / d(x/tau)
    return _back(p if keep_graph else p.detach(), was_np)


def naive_grad_topk_recurrence(x: Any, k: int, tau: float = 1.0,
                               clamp: float | None = None) -> np.ndarray:
    """UNSTABLE, kept to show the post's failure: GradTopK by the recurrence of the post.

    log Z_{1,i} = x_i;  log Z_{j,i} = x_i + log(Z_{j-1} - Z_{j-1,i});  log Z_j = lse_i(log Z_{j,i}) - log j.
    The difference of two nearly equal numbers loses every digit when x is spread out or k is
    large, and the log of a difference that rounds to <= 0 gives NaN or -inf: that is what
    chapter smooth-topk demonstrates. ``clamp=c`` replaces the difference by max(difference, c)
    before the log, as the post's reference code does (c = 1e-12): the NaN then becomes a finite
    but wrong answer. numpy only; it may return NaN (this function alone).
    """
    arr, is_torch = as_float_array(x, name="x")
    if is_torch:
        raise ValueError("x must be a numpy array for naive_grad_topk_recurrence, got a tensor")
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
    tt, was_np = _to_torch(t, "t", min_ndim=0)
    check_choice(f, THRESHOLD_FS, name="f")
    return _back(_f(tt, f), was_np)


def threshold_f_prime(t: Any, f: str):
    """f'(t) for :func:`threshold_f` (one-sided where f has a kink: 0 at t = 0 for "exp")."""
    tt, was_np = _to_torch(t, "t", min_ndim=0)
    check_choice(f, THRESHOLD_FS, name="f")
    return _back(_fprime(tt, f), was_np)


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
    t, was_np, n, k, tau = _topk_args(x, k, tau)
    check_choice(f, THRESHOLD_FS, name="f")
    if k == n:
        if return_lambda:
            raise ValueError(f"return_lambda: lambda is -inf when k = n = {n}; ask for k < n")
        return _back(torch.ones_like(t) + 0 * t, was_np)
    # lambda(z + c) = lambda(z) + c: solve on z - max(z) so that ties and huge scores keep every
    # digit (x / tau = 1e10 has an ulp of 2e-6); the detached shift leaves the gradients exact.
    z = t / tau
    shift = z.detach().max(-1, keepdim=True).values
    p, lam = ThreTopK.apply(z - shift, k, f)
    lam = lam + shift.squeeze(-1)
    if return_lambda:
        return _back(p, was_np), _back(lam, was_np)
    return _back(p, was_np)


def thre_topk_lambda(x: Any, k: int, f: str = "exp", tau: float = 1.0):
    """The threshold lambda of :func:`thre_topk` (on the scaled axis x / tau)."""
    return thre_topk(x, k, f=f, tau=tau, return_lambda=True)[1]


def thre_topk_lambda_grad(x: Any, k: int, f: str = "exp", tau: float = 1.0):
    """d lambda / d x by implicit differentiation: f'(z_j - lambda) / (tau sum_i f'(z_i - lambda)),
    z = x / tau (0 where every f' vanishes). numpy or torch (the kind it was given, no graph).
    Chapter smooth-topk, eq. (implicit gradient)."""
    t, was_np = _to_torch(x, "x")
    p, lam = thre_topk(t.detach(), k, f=f, tau=tau, return_lambda=True)
    d = _fprime(t.detach() / tau - lam.unsqueeze(-1), f)
    s = d.sum(-1, keepdim=True)
    g = torch.where(s > 0, d / (tau * s.clamp(min=1e-300)), torch.zeros_like(d))
    return _back(g, was_np)


# ----------------------------------------------------------------------------------------------
# the iterative constructions (Su 2019, and the weighted-softmax variant that is wrong)
# ----------------------------------------------------------------------------------------------


def su_iteration(x: Any, k: int, tau: float = 1.0):
    """Su's 2019 soft-k-max: z = x/tau - min(x/tau); p = 0; k times p <- p + softmax((1 - p) * z).

    numpy or torch (returns the kind it was given). Sums to k; entries can leave [0, 1]
    (chapter smooth-topk shows one). kexue.fm/archives/6620.
    """
    t, was_np, n, k, tau = _topk_args(x, k, tau)
    z = t / tau
    z = z - z.min(-1, keepdim=True).values
    p = torch.zeros_like(z)
    for _ in range(k):
        p = p + torch.softmax((1 - p) * z, dim=-1)
    return _back(p, was_np)


def weighted_softmax_iteration(x: Any, k: int, tau: float = 1.0):
    """The Stack Exchange variant: k times p <- p + softmax(x/tau; w = 1 - p), where
    softmax(z; w)_i = w_i e^{z_i} / sum_j w_j e^{z_j}.

    WRONG as a Top-k approximation (kept to show it): for k = 2 its tau -> 0 limit is 1.5 on the
    maximum and 0.5 on the runner-up, because 1 - p_max is of the order of e^{-z_max}. It stays
    finite: weights w = 1 - p are clamped at 0 and the normaliser is positive while k < n.
    numpy or torch (returns the kind it was given).
    """
    t, was_np, n, k, tau = _topk_args(x, k, tau)
    z = t / tau
    z = z - z.max(-1, keepdim=True).values
    p = torch.zeros_like(z)
    for _ in range(k):
        w = torch.clamp(1 - p, min=0.0)
        # softmax(z; w) computed as softmax(z + log w): stable for any scale of z
        logw = torch.where(w > 0, torch.log(w.clamp(min=1e-300)), torch.full_like(w, -math.inf))
        p = p + torch.softmax(z + logw, dim=-1)
    return _back(p, was_np)


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
_METHOD_F = {"ThreTopK-exp": "exp", "ThreTopK-sigmoid": "sigmoid", "ThreTopK-smooth": "smooth",
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


def topk_explorer(x: Any, taus: Any | None = None) -> _w.Explorer:
    """The chapter's temperature slider: method, k and tau over a fixed score vector x.

    Frame: bars of ST_k(x / tau) over the entries sorted by x (descending), the hard Top-k mask
    outlined, a dashed line where the threshold lambda falls among the sorted scores (threshold
    methods), and readouts sum(p), ||p - T_k(x)||_1 and lambda.
    """
    xs, _ = as_float_array(x, name="x", max_ndim=1)
    n = xs.size
    if n < 3:
        raise ValueError(f"x must have at least 3 entries for the explorer, got {n}")
    grid = np.round(np.logspace(-2, 1, 16), 4) if taus is None else np.asarray(taus, float)
    order = np.argsort(-xs, kind="stable")
    xsorted = xs[order]
    names = list(TOPK_METHODS)

    tau_list = [float(t) for t in grid]
    cache: dict = {}

    def over_grid(method: str, k: int):
        """Every tau of the grid in one batched call: rows of p and lambda (or None)."""
        if (method, k) not in cache:
            batch = xs[None, :] / np.asarray(tau_list)[:, None]             # (T, n)
            if method in _METHOD_F:
                p, lam = thre_topk(batch, k, _METHOD_F[method], return_lambda=True)
            else:
                p, lam = smooth_topk(batch, k, 1.0, method), None
            cache[(method, k)] = (np.asarray(p), lam)
        return cache[(method, k)]

    def compute(method: str, k: int, tau: float) -> dict:
        if tau in tau_list:
            rows, lams = over_grid(method, k)
            p = rows[tau_list.index(tau)][order]
            lam = None if lams is None else float(lams[tau_list.index(tau)])
        else:
            p = np.asarray(smooth_topk(xs, k, tau, method))[order]
            lam = float(thre_topk_lambda(xs, k, _METHOD_F[method], tau)) if method in _METHOD_F else None
        hard = hard_topk(xs, k, warn_ties=False)[order]
        pos = list(range(1, n + 1))
        vlines, lam_txt = [], ""
        if lam is not None:
            zs = xsorted / tau
            above = int((zs > lam).sum())           # entries left of the line have x/tau > lambda
            vlines = [{"x": above + 0.5, "label": "λ falls here", "color": "#555555", "dash": True}]
            lam_txt = f" · λ = {lam:.3f}"
        text = (f"Σp = {p.sum():.4f} · ‖p − T_k‖₁ = {np.abs(p - hard).sum():.4f} · "
                f"max p = {p.max():.4f}{lam_txt}")
        pan = _w.panel(f"{method}, k = {k}, τ = {tau:g}", "entries sorted by score (1 = largest)",
                       "p_i", series=[
                           {"kind": "bar", "x": pos, "y": p, "label": "smooth p",
                            "color": _w.PALETTE[0]},
                           {"kind": "bar", "x": pos, "y": hard, "label": "hard Top-k",
                            "color": _w.PALETTE[3], "fill": False}],
                       vlines=vlines, ylim=[0, max(1.1, float(p.max()) * 1.05)])
        return _w.frame(pan, text=text)

    controls = [
        _w.Dropdown("method", names, "GradTopK", label="method"),
        _w.Slider("k", list(range(1, n)), min(2, n - 1), label="k", fmt="{:d}"),
        _w.Slider("tau", [float(t) for t in grid], float(grid[len(grid) // 2]), label="τ",
                  fmt="{:.3g}"),
    ]
    return _w.Explorer(controls, compute, name="smooth-topk temperature")


# ----------------------------------------------------------------------------------------------
# --- softmax and its substitutes (chapter softmax-alternatives) ---
# ----------------------------------------------------------------------------------------------
# kexue.fm/archives/10145. Maps R^n -> simplex on the last axis; numpy in -> numpy out, torch in
# -> torch out (differentiable). Sparse maps are written as relu(.)^{1/beta} of a threshold that
# carries its own gradient, so autograd gives the exact Jacobian of each map.

from ._validate import check_in_range, check_real  # noqa: E402  (this section's extra checks)

ZOO_MAPS = ("softmax", "taylor", "sparse_softmax", "perturb_normal", "sparsemax", "entmax")


def softmax_jacobian(p: Any) -> np.ndarray:
    """J = diag(p) - p p^T, the Jacobian dp/dx of p = softmax(x), from p of shape (n,). numpy.

    Chapter softmax-alternatives (and attention-scale, times the scale). ``p`` must be a
    probability vector (entries >= 0 summing to 1 within 1e-9).
    """
    arr, is_torch = as_float_array(p, name="p", min_ndim=1, max_ndim=1)
    arr = arr.detach().cpu().numpy().astype(np.float64) if is_torch else arr
    if (arr < 0).any() or abs(arr.sum() - 1) > 1e-9:
        raise ValueError("p must be a probability vector: entries >= 0 summing to 1 (within 1e-9)")
    return np.diag(arr) - np.outer(arr, arr)


def taylor_softmax(x: Any, k: int = 2):
    """p_i proportional to f_k(x_i) = sum_{m<=k} x_i^m / m!, k even (so f_k > 0). numpy or torch.

    Chapter softmax-alternatives, Taylor softmax. Heavier-tailed than softmax; neither monotone
    (f_2 decreases for x < -1) nor shift invariant.
    """
    k = check_int_in(k, 2, None, name="k")
    if k % 2:
        raise ValueError(f"k must be a positive even integer (f_k > 0 only then), got {k}")
    t, was_np = _to_torch(x, "x")
    f = sum(t ** m / math.factorial(m) for m in range(k + 1))
    return _back(f / f.sum(-1, keepdim=True), was_np)


def _check_target(target: Any, n: int, batch_shape) -> torch.Tensor:
    tt = torch.as_tensor(target)
    if tt.is_floating_point() or tt.shape != tuple(batch_shape):
        raise ValueError(f"target must be integer class indices of shape {tuple(batch_shape)}")
    if tt.numel() and (int(tt.min()) < 0 or int(tt.max()) >= n):
        raise ValueError(f"target must lie in [0, {n}), got {tt.tolist()}")
    return tt.long()


def sparse_softmax(x: Any, k: int):
    """Softmax restricted to the k largest logits (zero elsewhere). numpy or torch.

    Chapter softmax-alternatives, Sparse Softmax (arXiv:2405.10512 / kexue.fm/archives/7915).
    Ties at the k-th value are broken by position.
    """
    t, was_np = _to_torch(x, "x")
    k = check_int_in(k, 1, t.shape[-1], name="k")
    idx = t.topk(k, dim=-1).indices
    mask = torch.zeros_like(t, dtype=torch.bool).scatter(-1, idx, True)
    return _back(torch.softmax(t.masked_fill(~mask, float("-inf")), -1), was_np)


def sparse_softmax_loss(x: Any, target: Any, k: int):
    """lse over the top-k logits minus x_t (the target's logit). numpy or torch.

    Chapter softmax-alternatives: the Sparse Softmax cross-entropy; logits outside the top k get
    no gradient. If the target is outside the top k, it is added to the set (the loss stays
    finite, as in the paper's training code).
    """
    t, was_np = _to_torch(x, "x")
    k = check_int_in(k, 1, t.shape[-1], name="k")
    tt = _check_target(target, t.shape[-1], t.shape[:-1])
    idx = t.topk(k, dim=-1).indices
    mask = torch.zeros_like(t, dtype=torch.bool).scatter(-1, idx, True)
    mask = mask.scatter(-1, tt.unsqueeze(-1), True)
    lse = torch.logsumexp(t.masked_fill(~mask, float("-inf")), -1)
    return _back(lse - t.gather(-1, tt.unsqueeze(-1)).squeeze(-1), was_np)


_NOISES = ("gumbel", "normal")


def _noise_dist(noise: str):
    from scipy import stats
    check_choice(noise, _NOISES, name="noise")
    return stats.gumbel_r if noise == "gumbel" else stats.norm


def perturb_max(x: Any, noise: str = "normal", n_nodes: int = 20001) -> np.ndarray:
    """p_i = P[argmax_j (x_j + eps_j) = i] = E_eps[prod_{j != i} Phi(x_i - x_j + eps)]. numpy.

    Chapter softmax-alternatives, perturb-max. Evaluated by inverse-CDF quadrature: the midpoint
    rule on u in (0, 1) with eps = Phi^{-1}(u). noise="gumbel" reproduces softmax, "normal" gives
    a new monotone, shift-invariant map (n = 2: Phi((x_1 - x_2) / sqrt 2)). x of shape (n,).
    """
    arr, is_torch = as_float_array(x, name="x", min_ndim=1, max_ndim=1)
    if is_torch:
        raise ValueError("x must be a numpy array or a list (perturb_max is numpy-only)")
    dist = _noise_dist(noise)
    n_nodes = check_int_in(n_nodes, 10, None, name="n_nodes")
    eps = dist.ppf((np.arange(n_nodes) + 0.5) / n_nodes)                     # (N,)
    diff = arr[:, None] - arr[None, :]                                        # x_i - x_j
    logcdf = dist.logcdf(diff[:, :, None] + eps[None, None, :])               # (n, n, N)
    idx = np.arange(arr.size)
    logcdf[idx, idx, :] = 0.0                                                 # leave out j = i
    return np.exp(logcdf.sum(axis=1)).mean(axis=1)


def perturb_max_mc(x: Any, noise: str = "normal", n_samples: int = 100_000,
                   seed: int | None = None) -> np.ndarray:
    """Monte-Carlo frequencies of argmax_j (x_j + eps_j), eps iid from ``noise``. numpy."""
    arr, is_torch = as_float_array(x, name="x", min_ndim=1, max_ndim=1)
    if is_torch:
        raise ValueError("x must be a numpy array or a list (perturb_max_mc is numpy-only)")
    _noise_dist(noise)
    n_samples = check_int_in(n_samples, 1, None, name="n_samples")
    rng = np.random.default_rng(seed)
    eps = rng.gumbel(size=(n_samples, arr.size)) if noise == "gumbel" else \
        rng.standard_normal((n_samples, arr.size))
    win = (arr[None, :] + eps).argmax(axis=1)
    return np.bincount(win, minlength=arr.size) / n_samples


def _sparsemax_lambda(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Threshold lambda (with its gradient) and support size of sparsemax, last axis."""
    zs = t.sort(dim=-1, descending=True).values
    ks = torch.arange(1, t.shape[-1] + 1, dtype=t.dtype)
    lam_k = (zs.cumsum(-1) - 1) / ks
    size = (zs > lam_k).sum(-1, keepdim=True)                   # the largest k with z_k > lambda_k
    mask = (t > lam_k.detach().gather(-1, size - 1)).to(t.dtype)   # the support, no gradient
    lam = ((t * mask).sum(-1, keepdim=True) - 1) / size.to(t.dtype)
    return lam, size.squeeze(-1)


def sparsemax(x: Any):
    """relu(x - lambda(x)): the Euclidean projection of x onto the simplex. numpy or torch.

    Chapter softmax-alternatives, eq. (sparsemax): lambda_k = (sum_{i<=k} x_(i) - 1)/k on the
    sorted logits, with the largest k such that x_(k) > lambda_k. Differentiable: on the support S
    the Jacobian is I - 1 1^T / |S|.
    """
    t, was_np = _to_torch(x, "x")
    lam, _ = _sparsemax_lambda(t)
    return _back(torch.relu(t - lam), was_np)


def sparsemax_threshold(x: Any) -> tuple[Any, Any]:
    """(lambda, support size) of :func:`sparsemax`; numpy in -> numpy/int out, torch -> tensors."""
    t, was_np = _to_torch(x, "x")
    lam, size = _sparsemax_lambda(t)
    lam = lam.squeeze(-1)
    if was_np:
        lam, size = lam.detach().numpy(), size.numpy()
        return (float(lam), int(size)) if lam.ndim == 0 else (lam, size)
    return lam, size


def naive_sparsemax_post(x: Any) -> np.ndarray:
    """Sparsemax exactly as the post's snippet picks the support: ``(x_sort >= lamb).argmin() - 1``.

    Kept for the demonstration (chapter softmax-alternatives): with full support ``argmin``
    returns 0 and the index wraps to -1, which happens to be the right k. numpy, 1-D.
    """
    arr, _ = as_float_array(x, name="x", min_ndim=1, max_ndim=1)
    xs = np.sort(arr)[::-1]
    lamb = (np.cumsum(xs) - 1) / np.arange(1, arr.size + 1)
    k = (xs >= lamb).argmin() - 1
    return np.maximum(arr - lamb[k], 0.0)


def sparsemax_loss(x: Any, target: Any):
    """L_t = 1/2 - x_t + 1/2 sum_{i in S} (x_i^2 - lambda^2) >= 0; its gradient is p - onehot(t).

    Chapter softmax-alternatives (the sparsemax loss of Martins & Astudillo). numpy or torch.
    """
    t, was_np = _to_torch(x, "x")
    tt = _check_target(target, t.shape[-1], t.shape[:-1])
    lam, _ = _sparsemax_lambda(t)
    mask = (t > lam).to(t.dtype)
    quad = 0.5 * ((t ** 2 - lam ** 2) * mask).sum(-1)
    return _back(0.5 - t.gather(-1, tt.unsqueeze(-1)).squeeze(-1) + quad, was_np)


def entmax15(x: Any):
    """Entmax with alpha = 1.5 in closed form: relu(x/2 - lambda)^2. numpy or torch.

    Chapter softmax-alternatives: with z = x/2 sorted, lambda_k = mu_k - sqrt(1/k - sigma_k^2)
    (mean and variance of the k largest), taking the k with z_(k) >= lambda_k >= z_(k+1).
    """
    t, was_np = _to_torch(x, "x")
    z = t / 2
    zs = z.sort(dim=-1, descending=True).values
    n = t.shape[-1]
    ks = torch.arange(1, n + 1, dtype=t.dtype)
    mu = zs.cumsum(-1) / ks
    var = (zs ** 2).cumsum(-1) / ks - mu ** 2
    lam_k = mu - torch.sqrt(torch.clamp(1 / ks - var, min=0.0))
    nxt = torch.cat([zs[..., 1:], torch.full_like(zs[..., :1], -math.inf)], -1)
    ok = (zs >= lam_k) & (lam_k >= nxt) & (1 / ks - var >= 0)
    # the valid k (ties can make two valid, they give the same lambda): take the largest
    size = torch.where(ok, ks.expand_as(zs), torch.zeros_like(zs)).amax(-1, keepdim=True).long()
    size = torch.clamp(size, min=1)
    mask = (z >= lam_k.detach().gather(-1, size - 1)).to(t.dtype)
    kf = size.to(t.dtype)
    mu_s = (z * mask).sum(-1, keepdim=True) / kf
    var_s = (z ** 2 * mask).sum(-1, keepdim=True) / kf - mu_s ** 2
    lam = mu_s - torch.sqrt(torch.clamp(1 / kf - var_s, min=0.0))
    return _back(torch.relu(z - lam) ** 2, was_np)


def entmax_bisect(x: Any, alpha: float = 1.5, n_iter: int = 100):
    """Entmax-alpha, relu((alpha-1) x - lambda)^{1/(alpha-1)}, lambda by bisection. numpy or torch.

    Chapter softmax-alternatives: the post's relu^{1/beta}(beta x - lambda) with alpha = 1 + beta,
    1 <= alpha <= 2 (alpha = 1 is softmax, alpha = 2 sparsemax). lambda lies in
    [beta max x - 1, beta max x - n^{-beta}]; the returned lambda carries the implicit-function
    gradient (one Newton correction whose value is ~0), so autograd gives the exact Jacobian.
    """
    t, was_np = _to_torch(x, "x")
    alpha = check_in_range(alpha, 1.0, 2.0, name="alpha")
    n_iter = check_int_in(n_iter, 1, None, name="n_iter")
    if alpha == 1.0:
        return _back(torch.softmax(t, -1), was_np)
    beta = alpha - 1.0
    z = beta * t
    top = z.detach().amax(-1, keepdim=True)
    lo, hi = top - 1.0, top - t.shape[-1] ** (-beta)

    def mass(lam):
        return (torch.relu(z.detach() - lam) ** (1 / beta)).sum(-1, keepdim=True)

    for _ in range(n_iter):
        mid = 0.5 * (lo + hi)
        big = mass(mid) >= 1.0
        lo, hi = torch.where(big, mid, lo), torch.where(big, hi, mid)
    lam0 = 0.5 * (lo + hi)
    # implicit function: F(z, lam) = sum relu(z - lam)^{1/beta} - 1 = 0, dF/dlam = -sum s_i / beta
    r = torch.relu(z - lam0)
    F = (r ** (1 / beta)).sum(-1, keepdim=True) - 1.0
    rd = r.detach()
    dF = torch.where(rd > 0, rd ** (1 / beta - 1), torch.zeros_like(rd)).sum(-1, keepdim=True) / beta
    lam = lam0 + F / dF
    return _back(torch.relu(z - lam) ** (1 / beta), was_np)


def relu_exp_gap(beta: float, lo: float = -3.0, hi: float = 1.0, n: int = 40001) -> float:
    """max over t in [lo, hi] of |relu(1 + beta t)^{1/beta} - e^t|: the approximation ladder. numpy.

    Chapter softmax-alternatives: beta = 1 is sparsemax's relu(1 + t), beta -> 0 recovers e^t.
    """
    beta = check_in_range(beta, 0.0, 1.0, name="beta", lo_open=True)
    t = np.linspace(check_real(lo, name="lo"), check_real(hi, name="hi"), n)
    return float(np.abs(np.maximum(1 + beta * t, 0.0) ** (1 / beta) - np.exp(t)).max())


def stopgrad_surrogate_loss(p: torch.Tensor, x: torch.Tensor, target: Any) -> torch.Tensor:
    """sg(p - onehot(t)) . x: a loss whose gradient in x is exactly p - onehot(t). torch.

    Chapter softmax-alternatives. Its value means nothing (track accuracy or cross-entropy
    instead). The post prints (p - onehot(t)) . sg(x), whose gradient is something else (see
    :func:`naive_stopgrad_loss_post`).
    """
    p, x = _surrogate_inputs(p, x)
    tt = _check_target(target, x.shape[-1], x.shape[:-1])
    onehot = torch.nn.functional.one_hot(tt, x.shape[-1]).to(x.dtype)
    return ((p - onehot).detach() * x).sum(-1)


def naive_stopgrad_loss_post(p: torch.Tensor, x: torch.Tensor, target: Any) -> torch.Tensor:
    """(p - onehot(t)) . sg(x), as printed in the post: its gradient flows through p, not x.

    Kept for the demonstration (chapter softmax-alternatives erratum); do not train with it.
    """
    p, x = _surrogate_inputs(p, x)
    tt = _check_target(target, x.shape[-1], x.shape[:-1])
    onehot = torch.nn.functional.one_hot(tt, x.shape[-1]).to(x.dtype)
    return ((p - onehot) * x.detach()).sum(-1)


def _surrogate_inputs(p, x):
    if not (torch.is_tensor(p) and torch.is_tensor(x)):
        raise ValueError("p and x must be torch tensors (the surrogate is for autograd)")
    as_float_array(x, name="x")
    as_float_array(p, name="p")
    if p.shape != x.shape:
        raise ValueError(f"p must have the shape of x {tuple(x.shape)}, got {tuple(p.shape)}")
    return p, x


def zoo_map(x: Any, name: str, tau: float = 1.0, alpha: float = 1.5, k: int = 3) -> np.ndarray:
    """One of the chapter's maps applied to x / tau (numpy): softmax, taylor (order 2k' = 2),
    sparse_softmax (top k), perturb_normal, sparsemax, entmax (alpha). Chapter softmax-alternatives."""
    check_choice(name, ZOO_MAPS, name="name")
    tau = check_positive(tau, name="tau")
    z = np.asarray(as_float_array(x, name="x", min_ndim=1, max_ndim=1)[0]) / tau
    if name == "softmax":
        return softmax(z)
    if name == "taylor":
        return taylor_softmax(z, 2)
    if name == "sparse_softmax":
        return sparse_softmax(z, k)
    if name == "perturb_normal":
        return perturb_max(z, "normal", n_nodes=4001)
    if name == "sparsemax":
        return sparsemax(z)
    return entmax_bisect(z, alpha)


def distribution_zoo(x: Any = (2.0, 1.4, 1.0, 0.6, 0.2, -0.3, -0.8, -1.5),
                     taus: Any = (0.25, 0.5, 1.0, 2.0, 4.0),
                     alphas: Any = (1.25, 1.5, 1.75, 2.0), ks: Any = (2, 3, 5)) -> _w.Explorer:
    """The "distribution zoo" widget: map, tau, alpha, k -> bars with support size and entropy.

    Chapter softmax-alternatives. alpha only matters for entmax, k only for Sparse Softmax; the
    bars are the map of x / tau, with softmax's as outlines for comparison. numpy.
    """
    xs, _ = as_float_array(x, name="x", min_ndim=1, max_ndim=1)
    xs = np.sort(np.asarray(xs))[::-1]
    taus = [check_positive(float(t), name="taus") for t in taus]
    alphas = [check_in_range(float(a), 1.0, 2.0, name="alphas") for a in alphas]
    ks = [check_int_in(int(k), 1, xs.size, name="ks") for k in ks]
    labels = {"softmax": "softmax", "taylor": "Taylor softmax (k=2)",
              "sparse_softmax": "Sparse Softmax (top k)", "perturb_normal": "Gaussian perturb-max",
              "sparsemax": "sparsemax", "entmax": "entmax-α"}

    def compute(name: str, tau: float, alpha: float, k: int) -> dict:
        p = zoo_map(xs, name, tau, alpha, k)
        ref = softmax(xs / tau)
        pos = list(range(1, xs.size + 1))
        nz = p[p > 0]
        ent = float(-(nz * np.log(nz)).sum())
        pan = _w.panel(f"{labels[name]} of x/τ, τ = {tau:g}", "logit rank (x sorted, largest first)",
                       "p_i", series=[
                           {"kind": "bar", "x": pos, "y": p, "label": labels[name],
                            "color": _w.PALETTE[0]},
                           {"kind": "bar", "x": pos, "y": ref, "label": "softmax",
                            "color": _w.PALETTE[3], "fill": False}], ylim=[0, 1.02])
        text = (f"support {int((p > 0).sum())} of {xs.size} · entropy {ent:.3f} · "
                f"1 − Σp² = {1 - float((p ** 2).sum()):.3f} · max p = {p.max():.3f}")
        return _w.frame(pan, text=text)

    controls = [_w.Dropdown("name", list(ZOO_MAPS), "sparsemax", label="map",
                            names=[labels[m] for m in ZOO_MAPS]),
                _w.Slider("tau", taus, 1.0 if 1.0 in taus else taus[0], label="τ", fmt="{:g}"),
                _w.Slider("alpha", alphas, alphas[len(alphas) // 2], label="α (entmax)", fmt="{:g}"),
                _w.Slider("k", ks, ks[len(ks) // 2], label="k (Sparse Softmax)", fmt="{:d}")]
    return _w.Explorer(controls, compute, name="distribution zoo")
