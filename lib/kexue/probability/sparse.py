"""The sparse maps sparsemax and entmax-1.5, computed without sorting, with custom backwards.

Chapter ``probability/softmax-alternatives`` (kexue.fm/archives/10145). Both are
relu(z - lambda)^{1/beta} on the last axis with a threshold lambda that makes the row sum to 1;
lambda is found by Newton's method on that sum (monotone from the lower bound max z - 1, exact
once the support settles), or, with ``k``, by a partial sort of the k largest entries. The
backward is the closed-form Jacobian-vector product. numpy or torch (the contract of
:func:`kexue._validate.like_input`); the row maximum is subtracted first, so float32 logits of
any size lose no digits.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from .._validate import as_float_tensor, check_int_in, like_input

__all__ = ["sparsemax", "entmax15"]


def _sorted_top(zd: torch.Tensor, m: int | None) -> torch.Tensor:
    """The m largest entries of each row, descending (all of them, by a full sort, if m is None
    or m >= n; by torch.topk, a partial sort, otherwise)."""
    n = zd.shape[-1]
    if m is None or m >= n:
        return zd.sort(dim=-1, descending=True).values
    return zd.topk(m, dim=-1).values


def _minus_row_max(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(t - max_row(t), max_row(t)) with the max detached: the shift every sparse map and its
    loss is invariant to, taken first so that large logits lose no digits."""
    top = t.detach().amax(-1, keepdim=True)
    return t - top, top


#: Newton steps before the rows still undecided (exact ties at the threshold) are sorted.
_NEWTON_CAP = 60


def _relu_sums(z: torch.Tensor, lam: torch.Tensor, buf: torch.Tensor, squares: bool = False):
    """Per row of the (R, n) matrix z: a = sum relu(z - lam), [b = sum relu(z - lam)^2,] and the
    support size c = #{z > lam} (as z's dtype), in 4-5 passes over ``buf`` and no allocation of
    z's size; buf is overwritten (it ends as the 0/1 indicator of the support)."""
    torch.sub(z, lam, out=buf).clamp_(min=0)
    a = buf.sum(-1, keepdim=True)
    b = torch.linalg.vecdot(buf, buf).unsqueeze(-1) if squares else None
    c = buf.sign_().sum(-1, keepdim=True)
    return a, b, c


def _sparsemax_tau_newton(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(lambda, support size, decided) for each row of the (R, n) matrix z (row max 0), sort-free.

    Newton's method on f(lam) = sum_i relu(z_i - lam) - 1 (convex, decreasing, piecewise linear)
    started from the lower bound lam = max z - 1 = -1: each step lam <- (sum_{z > lam} z - 1)/|S|
    (Michelot's) stays below the root and shrinks the support; once a step leaves the support
    unchanged, lam is the exact threshold. A row still moving after _NEWTON_CAP steps is
    reported undecided (the caller sorts it).
    """
    R = z.shape[0]
    lam = z.new_full((R, 1), -1.0)
    buf = torch.empty_like(z)
    c_prev = z.new_full((R, 1), -1.0)
    done = torch.zeros((R, 1), dtype=torch.bool)
    for _ in range(_NEWTON_CAP):
        a, _, c = _relu_sums(z, lam, buf)
        done |= c == c_prev                  # S(lam) = S(previous lam): lam is the fixed point
        if bool(done.all()):
            break
        # lam_new = lam + f(lam) / |S| = (sum_S z - 1) / |S|, never below lam
        lam = torch.where(done, lam, torch.maximum(lam, lam + (a - 1) / c))
        c_prev = c
    return lam, c, done


def _entmax15_tau_newton(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(lambda, support size, decided) of entmax-1.5 for each row of the (R, n) matrix z = x/2
    with row max 0, sort-free.

    f(lam) = sum_i relu(z_i - lam)^2 - 1 is convex and decreasing, so Newton's step
    lam - f/f' = lam + (b - 1)/(2a) (a, b: sums of relu and relu^2) is a lower bound of the root
    from either side. At a lower bound lam the support S(lam) contains the true one, and the
    closed form on S, lam_S = lam + mu - sqrt(1/|S| - sigma^2) (mean, variance of z - lam over S),
    is an upper bound; when S(lam_S) = S (or f(lam_S) >= 0) it is the exact threshold. The closed
    form is tried once a Newton step leaves the support unchanged. Undecided rows after
    _NEWTON_CAP evaluations are reported for the caller to sort.
    """
    R = z.shape[0]
    lo = z.new_full((R, 1), -1.0)            # lambda >= max z - 1 = -1
    at = lo.clone()                          # where f is evaluated next
    buf = torch.empty_like(z)
    c_lo = z.new_full((R, 1), -1.0)          # support size at the last lower-bound evaluation
    c_sup = z.new_full((R, 1), -1.0)         # ... at the lower bound the closed form came from
    trial = torch.zeros((R, 1), dtype=torch.bool)   # `at` is a closed-form candidate
    done = torch.zeros((R, 1), dtype=torch.bool)
    tol = 16 * torch.finfo(z.dtype).eps
    for _ in range(_NEWTON_CAP):
        a, b, c = _relu_sums(z, at, buf, squares=True)
        done |= trial & ((c == c_sup) | (b >= 1))
        if bool(done.all()):
            break
        lo = torch.where(done, at, torch.maximum(lo, at + (b - 1) / (2 * a)))
        mu = a / c
        disc = 1 / c - (b / c - mu * mu)
        try_cf = ~trial & ~done & (c == c_lo) & (disc >= -tol)
        cf = at + mu - torch.sqrt(disc.clamp(min=0))
        c_lo = torch.where(trial, -1.0, c)   # after a failed closed form, one more Newton step
        c_sup = torch.where(try_cf, c, c_sup)
        at = torch.where(done, at, torch.where(try_cf, cf, lo))
        trial = try_cf
    # one Newton step at the certified point (f there is rounding only): float32 keeps its digits
    return torch.where(done, at + (b - 1) / (2 * a), at), c, done


def _rows(t: torch.Tensor) -> torch.Tensor:
    """t as an (R, n) matrix over its last axis (a view when possible)."""
    return t.reshape(-1, t.shape[-1])


def _sparsemax_tau(z: torch.Tensor, k: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(lambda (R, 1), support size (R, 1) as z's dtype) of sparsemax on the (R, n) matrix z
    with row max 0. k None: sort-free Newton, sorting only undecided rows; k: the partial sort
    of the k largest, doubled for the rows whose support fills them (only those rows)."""
    if k is None:
        lam, size, done = _sparsemax_tau_newton(z)
        if bool(done.all()):
            return lam, size
        rows = (~done).squeeze(-1)
    else:
        lam, size = z.new_empty((z.shape[0], 1)), z.new_empty((z.shape[0], 1))
        rows = torch.ones(z.shape[0], dtype=torch.bool)
    n = z.shape[-1]
    idx = None if bool(rows.all()) else rows.nonzero().squeeze(-1)     # rows of zr in z
    zr = z if idx is None else z[idx]
    while zr.shape[0]:
        zs = _sorted_top(zr, k)
        m = zs.shape[-1]
        cs = zs.cumsum(-1).sub_(1)                      # sum_{i <= j} z_(i) - 1
        ks = torch.arange(1, m + 1, dtype=z.dtype)
        sz = (zs > cs / ks).sum(-1, keepdim=True).clamp(min=1)   # largest j with z_(j) > lambda_j
        at = slice(None) if idx is None else idx
        lam[at], size[at] = cs.gather(-1, sz - 1) / sz, sz.to(z.dtype)
        if m >= n:
            break
        full = (sz == m).squeeze(-1)                    # support may go on past the k largest
        idx = (torch.arange(z.shape[0]) if idx is None else idx)[full]
        zr, k = zr[full], 2 * m
    return lam, size


def _entmax15_tau(z: torch.Tensor, k: int | None) -> torch.Tensor:
    """lambda (R, 1) of entmax-1.5 on the (R, n) matrix z = x/2 with row max 0: sort-free Newton
    (k None; undecided rows sorted) or the partial sort of the k + 1 largest, doubled for the
    rows that find no valid support among them (only those rows)."""
    if k is None:
        lam, _, done = _entmax15_tau_newton(z)
        if bool(done.all()):
            return lam
        rows = (~done).squeeze(-1)
    else:
        lam = z.new_empty((z.shape[0], 1))
        rows = torch.ones(z.shape[0], dtype=torch.bool)
    n = z.shape[-1]
    idx = None if bool(rows.all()) else rows.nonzero().squeeze(-1)     # rows of zr in z
    zr = z if idx is None else z[idx]
    while zr.shape[0]:
        # the support lies in z >= lambda >= max z - 1 = -1: clamping below -2 changes no valid
        # k and keeps the cumulative sums of squares finite (float32 x = -1e30 squares to inf)
        top = _sorted_top(zr, None if k is None else k + 1).clamp_(min=-2.0)   # k + 1 largest
        m = top.shape[-1] if k is None or k >= n else k
        zs = top[..., :m]
        ks = torch.arange(1, m + 1, dtype=z.dtype)
        mu = zs.cumsum(-1) / ks
        var = (zs ** 2).cumsum(-1) / ks - mu ** 2
        lam_k = mu - torch.sqrt(torch.clamp(1 / ks - var, min=0.0))
        nxt = torch.cat([top[..., 1:m + 1], torch.full_like(zs[..., :m + 1 - top.shape[-1]], -math.inf)], -1)
        ok = (zs >= lam_k) & (lam_k >= nxt) & (1 / ks - var >= 0)
        # the valid k (ties can make two valid, they give the same lambda): take the largest
        size = torch.where(ok, ks.expand_as(zs), torch.zeros_like(zs)).amax(-1, keepdim=True).long()
        lam[slice(None) if idx is None else idx] = lam_k.gather(-1, size.clamp(min=1) - 1)
        if k is None or k >= n:
            break
        miss = (size == 0).squeeze(-1)                  # no valid k among the k largest
        idx = (torch.arange(z.shape[0]) if idx is None else idx)[miss]
        zr, k = zr[miss], 2 * k
    return lam


#: Entries per block of rows: a block's Newton passes, output and backward stay in cache (on a
#: machine whose memory bandwidth is shared, a pass over a 16 MB tensor costs 5-10x more).
_BLOCK = 2 ** 17


def _blocks(r: int, n: int, k: int | None = None) -> list[slice]:
    """Row blocks of about _BLOCK entries (one block for the partial sort, which sorts per row)."""
    b = r if k is not None else max(1, _BLOCK // n)
    return [slice(i, i + b) for i in range(0, r, b)]


class _Sparsemax(torch.autograd.Function):
    """sparsemax on the last axis with the lean backward J^T g = s (g - mean_S g), s = 1[p > 0]."""

    @staticmethod
    def forward(ctx: Any, t: torch.Tensor, k: int | None) -> torch.Tensor:
        x = _rows(t)
        p = torch.empty_like(x, memory_format=torch.contiguous_format)
        size = x.new_empty(x.shape[0], 1)
        for b in _blocks(*x.shape, k):
            z = torch.sub(x[b], x[b].amax(-1, keepdim=True), out=p[b])   # shift: lose no digits
            lam, size[b] = _sparsemax_tau(z, k)
            z.sub_(lam).clamp_(min=0)        # relu(z - lambda), in the output's memory
        p = p.view(t.shape)
        ctx.save_for_backward(p)
        ctx.size = size.view(*t.shape[:-1], 1)
        return p

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor):
        (p,) = ctx.saved_tensors
        if torch.is_grad_enabled():          # create_graph: differentiable operations only
            off = p == 0
            gs = g.masked_fill(off, 0.0)
            return gs - torch.where(off, 0.0, gs.sum(-1, keepdim=True) / ctx.size), None
        pr, gr, size = _rows(p), _rows(g), _rows(ctx.size)
        out = torch.empty(pr.shape, dtype=torch.result_type(g, p))
        for b in _blocks(*pr.shape):
            off = pr[b] == 0                 # off the support S
            o = out[b].copy_(gr[b]).masked_fill_(off, 0.0)
            o.sub_(o.sum(-1, keepdim=True) / size[b]).masked_fill_(off, 0.0)   # g - mean_S g on S
        return out.view(p.shape), None


class _Entmax15(torch.autograd.Function):
    """entmax-1.5 on the last axis with the backward J^T g = s g - s (s.g)/sum s, s = sqrt(p)."""

    @staticmethod
    def forward(ctx: Any, t: torch.Tensor, k: int | None) -> torch.Tensor:
        x = _rows(t)
        s = torch.empty_like(x, memory_format=torch.contiguous_format)
        grad = ctx.needs_input_grad[0]
        p = torch.empty_like(s) if grad else s
        for b in _blocks(*x.shape, k):
            z = torch.sub(x[b], x[b].amax(-1, keepdim=True), out=s[b]).mul_(0.5)   # z = x/2 - max
            lam = _entmax15_tau(z, k)
            torch.square(z.sub_(lam).clamp_(min=0), out=p[b])   # s = relu(z - lambda), p = s^2
        if grad:
            ctx.save_for_backward(t, s.view(t.shape))    # s = sqrt(p): the backward needs no root
        return p.view(t.shape)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor):
        t, s = ctx.saved_tensors
        if torch.is_grad_enabled():          # create_graph: s again, differentiably in x
            z = (t - t.detach().amax(-1, keepdim=True)) / 2
            on = s > 0                       # the support (no gradient)
            kf = on.sum(-1, keepdim=True).to(s.dtype)
            zm = torch.where(on, z, 0.0)
            mu = zm.sum(-1, keepdim=True) / kf
            lam = mu - torch.sqrt(torch.clamp(1 / kf - ((zm ** 2).sum(-1, keepdim=True) / kf - mu ** 2), min=0.0))
            s = torch.relu(z - lam)
            gs = g * s
            return gs - s * (gs.sum(-1, keepdim=True) / s.sum(-1, keepdim=True)), None
        sr, gr = _rows(s), _rows(g)
        out = torch.empty(sr.shape, dtype=torch.result_type(g, s))
        for b in _blocks(*sr.shape):
            o = torch.mul(gr[b], sr[b], out=out[b])
            o.addcmul_(sr[b], o.sum(-1, keepdim=True) / sr[b].sum(-1, keepdim=True), value=-1.0)
        return out.view(s.shape), None


def _in_float32_if_half(apply: Any, t: torch.Tensor, k: int | None) -> torch.Tensor:
    """apply(t, k), computed in float32 for float16/bfloat16 t (their sums of up to n ones and
    Newton steps would round; float16 counts are exact only to 2048), cast back."""
    if t.dtype not in (torch.float16, torch.bfloat16):
        return apply(t, k)
    return apply(t.float(), k).to(t.dtype)


def sparsemax(x: Any, k: int | None = None):
    """relu(x - lambda(x)): the Euclidean projection of x onto the simplex. numpy or torch.

    Chapter softmax-alternatives, eq. (sparsemax): lambda_k = (sum_{i<=k} x_(i) - 1)/k on the
    sorted logits, with the largest k such that x_(k) > lambda_k. Computed without a sort: Newton
    on sum relu(x - lambda) = 1 from lambda = max x - 1 is monotone and exact once the support
    stops changing (rows that do not settle, e.g. ties at the threshold, are sorted). ``k``
    (optional): sort only the k largest logits instead (a partial sort, for long rows with a
    small support), doubling k for the rows whose support fills all k; same result.
    Differentiable (custom backward): on the support S the Jacobian is I - 1 1^T / |S|.
    """
    t, is_torch = as_float_tensor(x, name="x")
    if k is not None:
        k = check_int_in(k, 1, None, name="k")
    return like_input(_in_float32_if_half(_Sparsemax.apply, t, k), is_torch)


def entmax15(x: Any, k: int | None = None):
    """Entmax with alpha = 1.5 in closed form: relu(x/2 - lambda)^2. numpy or torch.

    Chapter softmax-alternatives: with z = x/2 sorted, lambda_k = mu_k - sqrt(1/k - sigma_k^2)
    (mean and variance of the k largest), taking the k with z_(k) >= lambda_k >= z_(k+1).
    Computed without a sort: Newton steps on sum relu(z - lambda)^2 = 1 bound lambda from below,
    and the closed form on the current support, once it settles, is checked exactly (rows that
    do not settle are sorted). ``k`` (optional): sort only the k + 1 largest logits instead (a
    partial sort), doubling k for the rows that find no valid support among them; same result.
    Differentiable (custom backward): J = diag(s) - s s^T / sum(s), s = sqrt(p).
    """
    t, is_torch = as_float_tensor(x, name="x")
    if k is not None:
        k = check_int_in(k, 1, None, name="k")
    return like_input(_in_float32_if_half(_Entmax15.apply, t, k), is_torch)
