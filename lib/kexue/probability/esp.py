"""Elementary symmetric polynomials in log space and the GradTopK programmes.

Chapter ``probability/smooth-topk`` (kexue.fm/archives/10373): log Z_k = log e_k(exp(x)) and its
gradient, GradTopK (the public map is :func:`kexue.probability.topk.grad_topk`). torch (numpy
accepted where said); every map acts on the last axis.
"""
from __future__ import annotations

import itertools
import math
from typing import Any

import torch

from .._validate import as_float_tensor, check_int_in, like_input

__all__ = ["log_esp", "log_esp_brute"]

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
    if _linear_ok(z, k):
        return _grad_topk_linear(z, k, v, p)
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


def _close_gaps(z: torch.Tensor, gap: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows z (B, n) with every gap wider than ``gap`` between consecutive sorted entries narrowed
    to ``gap`` and their maximum moved to 0: (z + off, off), off the amount each entry moved (0 in rows
    whose range is within ``gap``: those are returned as they are, and no sort is paid for).

    The saturating maps of chapter smooth-topk cannot see such a gap: across it every weight is
    below e^{-gap} relative to 1, so with ``gap`` past float64's smallest number (e^{-745})
    their output and gradient do not change, while the rows come back to a scale where float64 resolves the
    threshold (at scores of 1e30 the ulp is 1e14 and f(z - lambda) could only be 0, 1 or f(0)).
    Order and ties are kept. torch, no gradient.
    """
    off = torch.zeros_like(z)
    lo, hi = torch.aminmax(z, dim=-1)
    wide = (hi - lo) > gap
    if not bool(wide.any()):
        return z, off
    v, idx = z[wide].sort(-1, descending=True)
    d = v[:, :-1] - v[:, 1:]
    # a cluster starts after each wide gap; its entries keep their (exact) distance to its first
    # entry, and the first entries are placed from the narrowed gaps alone: no 1e30 - 1e30 anywhere
    pos = torch.arange(v.shape[-1]).expand_as(v)
    starts = torch.where(torch.cat([torch.ones_like(d[:, :1], dtype=torch.bool), d > gap], -1), pos, 0)
    anchor = starts.cummax(-1).values
    placed = torch.cat([torch.zeros_like(v[:, :1]), -d.clamp(max=gap).cumsum(-1)], -1)
    new = v - v.gather(-1, anchor) + placed.gather(-1, anchor)
    zw = torch.empty_like(v).scatter_(-1, idx, new)
    out = z.clone()
    out[wide] = zw
    off[wide] = zw - z[wide]
    return out, off


def _gap_gradtopk(n: int, k: int) -> float:
    """A gap past which GradTopK cannot see: every subset that crosses it weighs less than
    e^{-gap} C(n, k) <= e^{-800} relative to the dominant ones, below float64's smallest
    number (e^{-745}), so not even a tiny p_i changes."""
    return 800.0 + math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _grad_topk_linear(z: torch.Tensor, k: int, v: torch.Tensor | None = None,
                      p: torch.Tensor | None = None, chunk: int = 32) -> torch.Tensor:
    """:func:`_grad_topk_dp` in linear space, for rows where nothing can under- or overflow
    (:func:`_linear_ok`): with w_i = e^{z_i} <= 1, F_{i+1}[j] = F_i[j] + F_i[j-1] w_i (one fused
    multiply-add per position), R likewise from the end, e_{k-1}(z without z_i) =
    sum_j F_i[j] R_i[k-1-j], Z_{k,i} = w_i e_{k-1}(z without z_i) and Z_k = sum_i Z_{k,i} / k.
    Additions of positive numbers only (nothing cancels); the tangents (for H v) are carried the
    same way, d log e_{k-1}(without i) = dL_i / L_i. Memory O((n / chunk + chunk) B k): the
    forward programme keeps one slab per ``chunk`` positions and recomputes a chunk's slabs when
    the reverse pass reaches it (checkpointing: one more multiply-add per position).
    """
    B, n = z.shape
    tan = v is not None
    w = torch.exp(z).t().contiguous()                                   # (n, B), <= 1
    vt = v.t().contiguous() if tan else None
    chunk = min(chunk, n)
    n_ck = -(-n // chunk)

    def step(cur, nxt, dcur, dnxt, i):
        """F_{i+1} (and its tangent) from F_i: e_j <- e_j + e_{j-1} w_i,
        d e_j <- d e_j + (d e_{j-1} + e_{j-1} v_i) w_i (column 0 stays 1, resp. 0)."""
        wi = w[i].unsqueeze(-1)
        if tan:
            torch.addcmul(dcur[:, 1:], torch.addcmul(dcur[:, :-1], cur[:, :-1], vt[i].unsqueeze(-1)), wi,
                          out=dnxt[:, 1:])
        torch.addcmul(cur[:, 1:], cur[:, :-1], wi, out=nxt[:, 1:])

    def back(cur, nxt, dcur, dnxt, i):
        """The suffix state with z_i added: R[a] <- R[a] + R[a+1] w_i (column k-1 stays 1)."""
        wi = w[i].unsqueeze(-1)
        if tan:
            torch.addcmul(dcur[:, :-1], torch.addcmul(dcur[:, 1:], cur[:, 1:], vt[i].unsqueeze(-1)), wi,
                          out=dnxt[:, :-1])
        torch.addcmul(cur[:, :-1], cur[:, 1:], wi, out=nxt[:, :-1])

    Fck = z.new_empty((n_ck, B, k))                                     # F at positions c * chunk
    dFck = z.new_empty((n_ck, B, k)) if tan else None
    Fc = z.new_zeros((chunk + 1, B, k))                                 # a chunk's slabs
    dFc = z.new_zeros((chunk + 1, B, k)) if tan else None
    Fc[:, :, 0] = 1.0                                                   # e_0 = 1, d e_0 = 0
    for i in range(n):
        j = i % chunk
        if j == 0:
            Fck[i // chunk] = Fc[0]
            if tan:
                dFck[i // chunk] = dFc[0]
        step(Fc[j], Fc[j + 1], dFc[j] if tan else None, dFc[j + 1] if tan else None, i)
        if j == chunk - 1:
            Fc[0] = Fc[chunk]
            if tan:
                dFc[0] = dFc[chunk]
    L = z.new_empty((n, B))
    dL = z.new_empty((n, B)) if tan else None
    Rc = z.new_zeros((chunk + 1, B, k))                                 # R[a] = e_{k-1-a}(suffix)
    dRc = z.new_zeros((chunk + 1, B, k)) if tan else None
    Rc[:, :, k - 1] = 1.0                                               # the suffix state after z_n
    for c in range(n_ck - 1, -1, -1):
        s0, s1 = c * chunk, min((c + 1) * chunk, n)
        m = s1 - s0
        Fc[0] = Fck[c]
        if tan:
            dFc[0] = dFck[c]
        for i in range(s0, s1 - 1):
            step(Fc[i - s0], Fc[i - s0 + 1], dFc[i - s0] if tan else None,
                 dFc[i - s0 + 1] if tan else None, i)
        Rc[m - 1] = Rc[chunk]                                           # carried from the chunk after
        if tan:
            dRc[m - 1] = dRc[chunk]
        for i in range(s1 - 1, s0, -1):
            back(Rc[i - s0], Rc[i - s0 - 1], dRc[i - s0] if tan else None, dRc[i - s0 - 1] if tan else None, i)
        back(Rc[0], Rc[chunk], dRc[0] if tan else None, dRc[chunk] if tan else None, s0)
        # L_i = sum_a F_i[a] R_i[a] as batched dot products (no (chunk, B, k) temporary)
        f2, r2 = Fc[:m].reshape(m * B, 1, k), Rc[:m].reshape(m * B, k, 1)
        L[s0:s1] = torch.bmm(f2, r2).reshape(m, B)
        if tan:
            df2, dr2 = dFc[:m].reshape(m * B, 1, k), dRc[:m].reshape(m * B, k, 1)
            dL[s0:s1] = (torch.bmm(df2, r2) + torch.bmm(f2, dr2)).reshape(m, B)
    wl = w * L                                                          # (n, B): Z_{k,i}
    zk = wl.sum(0) / k
    if not tan:
        return (wl / zk).t()
    return p * (v + (dL / L).t() - (p * v).sum(-1, keepdim=True))


def _poly_mul_into(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, acc: bool = False) -> None:
    """out (+)= a(t) b(t) truncated at degree d = len(out) - 1, coefficients on dim 0:
    c_q = sum_u a_u b_{q-u}, q = 0..d (one fused multiply-add per coefficient of the shorter)."""
    if a.shape[0] > b.shape[0]:
        a, b = b, a
    d = out.shape[0] - 1
    m = min(b.shape[0], d + 1)
    if not acc:
        torch.mul(b[:m], a[0], out=out[:m])
        out[m:] = 0.0
    else:
        out[:m].addcmul_(b[:m], a[0])
    for u in range(1, min(a.shape[0] - 1, d) + 1):
        m = min(b.shape[0], d + 1 - u)
        out[u:u + m].addcmul_(b[:m], a[u])


def _poly_corr_into(out: torch.Tensor, A: torch.Tensor, b: torch.Tensor, acc: bool = False) -> None:
    """out (+)= the correlation out_j = sum_u A_{j+u} b_u, j = 0..len(out) - 1 <= len(A) - 1: the
    adjoint of a factor a of the truncated product c = a b, given the adjoint A of c."""
    d = out.shape[0] - 1
    if not acc:
        torch.mul(A[:d + 1], b[0], out=out)
    else:
        out.addcmul_(A[:d + 1], b[0])
    for u in range(1, min(b.shape[0] - 1, A.shape[0] - 1) + 1):
        m = min(d + 1, A.shape[0] - u)
        out[:m].addcmul_(A[u:u + m], b[u])


def _esp_tree(w: torch.Tensor, k: int, dw: torch.Tensor | None = None,
              levels: list | None = None) -> list:
    """The levels of a balanced product tree of prod_i (1 + w_i t), truncated at degree k, for
    columns w (n, B), from the leaves up: [(M, P, dP), ...], P (d + 1, M', B) the coefficients
    e_0..e_d of the M nodes of a level (M' = M, or M + 1 with the factor 1 appended when M is
    odd), dP their tangents along dw (None without dw). Node m of the next level is the product
    of nodes m and m + M' / 2, so every operand is a contiguous block. ``levels`` (from an
    earlier call) are reused: only the tangents are then computed."""
    if levels is None:
        levels, P = [], torch.stack([torch.ones_like(w), w])    # the leaves 1 + w_i t
        while P.shape[1] > 1:
            M = P.shape[1]
            if M % 2:
                P = torch.cat([P, torch.zeros_like(P[:, :1])], 1)
                P[0, M] = 1.0
            levels.append((M, P, None))
            h, d = P.shape[1] // 2, min(2 * (P.shape[0] - 1), k)
            nxt = P.new_empty((d + 1, h, P.shape[2]))
            _poly_mul_into(nxt, P[:, :h], P[:, h:])
            P = nxt
    if dw is None:
        return [(M, P, None) for M, P, _ in levels]
    dP, out = torch.stack([torch.zeros_like(dw), dw]), []
    for M, P, _ in levels:
        if dP.shape[1] < P.shape[1]:
            dP = torch.cat([dP, torch.zeros_like(dP[:, :1])], 1)
        out.append((M, P, dP))
        h, d = P.shape[1] // 2, min(2 * (P.shape[0] - 1), k)
        # (a + eps da)(b + eps db) = a b + eps (da b + a db)
        nxt = P.new_empty((d + 1, h, P.shape[2]))
        _poly_mul_into(nxt, dP[:, :h], P[:, h:])
        _poly_mul_into(nxt, P[:, :h], dP[:, h:], acc=True)
        dP = nxt
    return out


def _grad_topk_tree(z: torch.Tensor, k: int, v: torch.Tensor | None = None,
                    p: torch.Tensor | None = None, levels: list | None = None):
    """GradTopK p = Z_{k,i} / Z_k of rows z (B, n), max-shifted with :func:`_linear_ok` true, by a
    balanced product tree instead of a loop over the n positions: ~log2(n) batched levels.

    Up: the truncated polynomials prod_{i in node} (1 + w_i t), w_i = e^{z_i}, pairwise
    (:func:`_esp_tree`); the root's coefficient k is Z_k = e_k(w). Down (reverse mode): the
    adjoint of a node's coefficients, A_j = d e_k / d(coefficient j) = e_{k-j}(the entries outside
    the node), j >= 1 (A_0 is never used), goes to each child as the correlation of the parent's
    adjoint with the sibling's polynomial; at a leaf 1 + w_i t, A_1 = e_{k-1}(w without w_i) = L_i
    and Z_{k,i} = w_i L_i. Products and sums of positive numbers only (nothing cancels), O(n k)
    multiply-adds per row and pass, in about k (2 + log2(n / k)) torch operations (a loop over
    the positions, :func:`_grad_topk_linear`, takes a few per position). Given v (and that p),
    the product H v with the Jacobian of p, by tangents (dw = w v) carried through both passes,
    as in :func:`_grad_topk_dp`: (H v)_i = p_i (v_i + dL_i / L_i - p . v). Returns
    (p or H v, levels): the levels [(M, P, A), ...] of the call without v, which a call with v
    reuses instead of recomputing them (and empties as it goes: they serve once).
    """
    # (n, B), <= 1: the leaves' coefficient 1 when the levels are given (z is then not used)
    w = torch.exp(z).t().contiguous() if levels is None else levels[0][1][1, :levels[0][0]]
    tan = v is not None
    dw = w * v.t() if tan else None
    up = _esp_tree(w, k, dw, None if levels is None else [(M, P, None) for M, P, _ in levels])
    M_top, P_top, _ = up[-1]
    h, B = P_top.shape[1] // 2, P_top.shape[2]
    root = P_top.new_empty((k + 1, 1, B))
    _poly_mul_into(root, P_top[:, :h], P_top[:, h:])
    zk = root[k, 0]                                             # Z_k = e_k(w), (B,)
    A = P_top.new_zeros((k, 1, B))                              # rows j = 1..k of the adjoint
    A[k - 1] = 1.0                                              # d e_k / d(root coefficients)
    dA, As = None, []
    for depth in range(len(up) - 1, -1, -1):
        M, P, dP = up[depth]
        h, d = P.shape[1] // 2, P.shape[0] - 1
        a, b = P[:, :h], P[:, h:]
        if levels is None:
            # A_j(first half) = sum_u A_{j+u}(parent) b_u: the halves are each other's siblings
            nA = P.new_empty((d, 2 * h, B))
            _poly_corr_into(nA[:, :h], A, b)
            _poly_corr_into(nA[:, h:], A, a)
            nA = nA[:, :M]
            if not tan:
                As.append(nA)
        else:
            nA = levels[depth][2]
        if tan:
            # d A(child) = corr(d A(parent), sibling) + corr(A(parent), d sibling)
            ndA = P.new_empty((d, 2 * h, B))
            _poly_corr_into(ndA[:, :h], A, dP[:, h:])
            _poly_corr_into(ndA[:, h:], A, dP[:, :h])
            if dA is not None:
                _poly_corr_into(ndA[:, :h], dA, b, acc=True)
                _poly_corr_into(ndA[:, h:], dA, a, acc=True)
            dA = ndA[:, :M]
            # spent: this level's polynomials and the parent's adjoint (memory, not time)
            up[depth] = None
            if levels is not None and depth + 1 < len(levels):
                levels[depth + 1] = None
        A = nA
    L = A[0]                                                    # (n, B): e_{k-1}(w without w_i)
    if not tan:
        # p_i = Z_{k,i} / Z_k = w_i L_i / Z_k
        return (w * L / zk).t().contiguous(), [(M, P, a) for (M, P, _), a in zip(up, reversed(As))]
    return p * (v + (dA[0] / L).t() - (p * v).sum(-1, keepdim=True)), None


def _log_comb_max(n: int, k: int) -> float:
    """log max_{j <= k} C(n, j) = log C(n, min(k, n // 2)): the largest e_j, j <= k, of n weights
    <= 1 (with k > n / 2 the middle ones, e.g. C(4096, 2048) = e^{1415}, exceed C(n, k))."""
    j = min(k, n // 2)
    return math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1)


def _linear_ok(z: torch.Tensor, k: int) -> bool:
    """True when every product of up to k weights e^{z_i} (z <= 0, rows max-shifted) is above
    e^{-600} and every e_j, j <= k, below max_j C(n, j) <= e^{600}: the linear-space programme is
    then exact to rounding (float64 holds e^{+-708})."""
    return _log_comb_max(z.shape[-1], k) <= 600.0 and k * float(-z.min()) <= 600.0


def _linear_rows(z: torch.Tensor, k: int) -> torch.Tensor:
    """:func:`_linear_ok` row by row, for max-shifted rows z (B, n): a (B,) bool mask."""
    n = z.shape[-1]
    if n < 2 or _log_comb_max(n, k) > 600.0:
        return torch.zeros(z.shape[0], dtype=torch.bool, device=z.device)
    return k * -z.amin(-1) <= 600.0


def _grad_topk_split(z: torch.Tensor, k: int, ok: torch.Tensor, v: torch.Tensor | None = None,
                     p: torch.Tensor | None = None, levels: list | None = None):
    """p (or H v) of rows z (B, n): :func:`_grad_topk_tree` on the rows ``ok``, the log-space
    :func:`_grad_topk_dp` on the others (z may be None when every row is ``ok`` and the tree's
    ``levels`` are given). Returns (result, the tree's levels or None)."""
    n_ok = int(ok.sum())
    if n_ok == ok.shape[0]:
        return _grad_topk_tree(z, k, v, p, levels)
    out = torch.empty_like(z)
    for rows, solve in ((ok, _grad_topk_tree), (~ok, _grad_topk_dp)):
        if bool(rows.any()):
            vr, pr = (None, None) if v is None else (v[rows], p[rows])
            if solve is _grad_topk_tree:
                out[rows], levels = _grad_topk_tree(z[rows], k, vr, pr, levels)
            else:
                out[rows] = _grad_topk_dp(z[rows], k, vr, pr)
    return out, levels


def _dp_rows(z: torch.Tensor, k: int) -> torch.Tensor:
    """z as rows (B, n) minus their maximum, in float64 at least, gaps wider than
    :func:`_gap_gradtopk` closed (:func:`_close_gaps`): log Z_k is of the size of the scores
    (k x 1e10 at x = 1e4, tau = 1e-6), and p_i = e^{z_i + L_i - log Z_k} needs its difference to
    well below 1, which float32 (ulp 1e3 there), or float64 at 1e30 (ulp 1e14), cannot give."""
    z2 = z.detach().reshape(-1, z.shape[-1])
    if z2.dtype != torch.float64:
        z2 = z2.double()
    lo, hi = torch.aminmax(z2, dim=-1, keepdim=True)
    gap = _gap_gradtopk(z2.shape[-1], k)
    if bool(((hi - lo) > gap).any()):                   # else no sort and no copy are paid for
        z2 = _close_gaps(z2, gap)[0]
        hi = z2.amax(-1, keepdim=True)
    return z2 - hi


class GradTopK(torch.autograd.Function):
    """GradTopK p = d log Z_k / d z as an autograd Function (chapter smooth-topk).

    Forward: :func:`_grad_topk_tree` (a balanced product tree in linear space, ~log2(n) batched
    levels, O(n k) per row) on the rows whose range allows linear arithmetic
    (:func:`_linear_rows`), :func:`_grad_topk_dp` (a programme in log space over the n positions)
    on the others; no graph. Backward: g -> H g, H = dp/dz (the Hessian of log Z_k, symmetric),
    by forward-mode derivatives carried through the same computation (the tree's levels are kept
    from the forward). When a graph of the backward is asked for (``create_graph=True``: third
    derivatives of log Z_k), the product is taken by double autograd through :func:`log_esp`
    instead, which is slower. ``z`` has shape (..., n) and is used with its row maximum
    subtracted (p is shift invariant), in float64 whatever its dtype (see :func:`_dp_rows`); the
    result has the dtype of ``z``.
    """

    @staticmethod
    def forward(ctx, z: torch.Tensor, k: int):
        z2 = _dp_rows(z, k)
        ok = _linear_rows(z2, k)
        p, levels = _grad_topk_split(z2, k, ok)
        ctx.save_for_backward(z)
        ctx.k, ctx.p64, ctx.ok = k, p, ok                 # p in float64, for the backward
        ctx.levels = levels if ctx.needs_input_grad[0] else None
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
        ok, levels = ctx.ok, ctx.levels
        ctx.levels = None                                 # spent by the product (retain_graph: recomputed)
        z2 = None if levels is not None and bool(ok.all()) else _dp_rows(z, k)    # else in the levels
        gv = g.reshape(-1, z.shape[-1]).to(torch.float64)
        hv, _ = _grad_topk_split(z2, k, ok, gv, ctx.p64, levels)
        return hv.reshape(z.shape).to(z.dtype), None
