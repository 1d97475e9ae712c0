"""Softmax attention itself: the one attention function, the running-max merge, head sharing.

Every chapter of the attention part computes attention through :func:`attention`, which takes
numpy or torch and hands back the kind it was given (torch keeps autograd):

    o_i = sum_j softmax_j(scale * q_i . k_j  [j visible to i]) v_j

with an optional causal mask (query i of T sees keys j <= i + S - T, so the last T keys line up
with the queries and T = 1 is one decoding step), an optional boolean mask, and query heads that
share key/value heads in contiguous groups (GQA/MQA; chapter mha-to-mla).
:func:`merge_partials` is the running-max merge of partial softmax sums (m, y, z) that the
recurrent and blocked forms use (chapter attention-as-rnn; Rabe & Staats, FlashAttention).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from .._validate import (as_float_array, check_int_in, check_positive, check_tensor, is_tensor)

__all__ = ["attention", "causal_mask", "merge_partials", "gqa_head_to_group", "repeat_kv"]


def causal_mask(T: int, S: int) -> np.ndarray:
    """Boolean (T, S) mask, True where query i may read key j: j <= i + (S - T). numpy.

    The last T keys are the queries' own positions (T = S: the usual lower triangle; T = 1: one
    decoding step that reads every key). Chapters attention-as-rnn and mha-to-mla.
    """
    T = check_int_in(T, 1, None, name="T")
    S = check_int_in(S, T, None, name="S")
    return np.arange(S)[None, :] <= np.arange(T)[:, None] + (S - T)


def attention(q: Any, k: Any, v: Any, *, causal: bool = False, mask: Any = None,
              scale: float | None = None, return_weights: bool = False):
    """o = softmax(scale q k^T [masked]) v over the last two axes; numpy or torch.

    Shapes: q (..., T, D), k (..., S, D), v (..., S, D_v). With 3 or more axes, axis -3 is the
    head axis: when k and v have G heads and q has H, G must divide H and query head s reads
    key/value head floor(s G / H) (contiguous groups, as ``repeat_interleave`` and SDPA's
    ``enable_gqa``; G = 1 is MQA), without copying K and V. Leading axes broadcast.
    ``causal=True`` lets query i see keys j <= i + S - T (T <= S); ``mask`` (boolean,
    broadcastable to (..., T, S), True = visible) is combined with it. Every query must see at
    least one key. scale=None means 1/sqrt(D). The softmax is max-shifted (no overflow).

    numpy in (or lists) -> float64 numpy out; torch in -> torch out (autograd kept, any float
    dtype). Returns o (..., H, T, D_v), and (o, weights (..., H, T, S)) with return_weights.
    Chapters mha-to-mla (GQA, MLA), attention-as-rnn (the reference the recurrences are checked
    against) and why-position-encoding (bidirectional vs causal).
    """
    # torch: q, k, v are not scanned for NaN/inf up front (for one query that scan reads K and V
    # once more than the attention does); the scores and the output are non-finite whenever an
    # entry of q, k or v is, so they are summed, and only then are the inputs scanned (below)
    lazy = is_tensor(q)
    q, q_torch = as_float_array(q, name="q", min_ndim=2, check_finite=not lazy)
    k, k_torch = as_float_array(k, name="k", min_ndim=2, check_finite=not lazy)
    v, v_torch = as_float_array(v, name="v", min_ndim=2, check_finite=not lazy)
    if q_torch:
        check_tensor(k, name="k")
        check_tensor(v, name="v")
    elif k_torch or v_torch:
        raise ValueError("k and v must be numpy arrays (or lists) when q is one, not torch tensors")
    T, D, S = q.shape[-2], q.shape[-1], k.shape[-2]
    if k.shape[-1] != D:
        raise ValueError(f"k must have the feature size of q ({D}), got shape {tuple(k.shape)}")
    if v.shape[-2] != S or v.ndim != k.ndim or v.shape[:-2] != k.shape[:-2]:
        raise ValueError(f"v must have shape {tuple(k.shape[:-1])} + (D_v,), got {tuple(v.shape)}")
    H = q.shape[-3] if q.ndim >= 3 else 1
    G = k.shape[-3] if k.ndim >= 3 else 1
    if q.ndim >= 3 and k.ndim >= 3 and H % G:
        raise ValueError(f"k must have a number of heads dividing the {H} query heads, got {G}")
    if causal and T > S:
        raise ValueError(f"q must have at most as many positions as k ({S}) when causal, got {T}")
    scale = 1.0 / math.sqrt(D) if scale is None else check_positive(scale, name="scale")
    visible = causal_mask(T, S) if causal else None
    if mask is not None:
        m = np.asarray(mask.detach().cpu().numpy() if is_tensor(mask) else mask)
        if m.dtype != bool:
            raise ValueError(f"mask must be a boolean array (True = visible), got dtype {m.dtype}")
        try:
            np.broadcast_shapes(m.shape, (T, S))
        except ValueError:
            raise ValueError(f"mask must broadcast to (..., {T}, {S}), got shape {m.shape}") from None
        visible = m if visible is None else (m & visible)
    if visible is not None and not np.broadcast_to(visible, np.broadcast_shapes(visible.shape, (T, S))).any(-1).all():
        raise ValueError("mask must leave every query at least one visible key")

    grouped = q.ndim >= 3 and k.ndim >= 3 and G != H
    r = H // G if grouped else 1
    lead = q.shape[:-3]
    # the r query heads of a group share its K/V: stack them as extra query rows instead of
    # copying K/V r times (same result as repeat_kv, without materialising the copies)
    qg = q.reshape(*lead, G, r * T, D) if grouped else q
    kt = k.transpose(-1, -2) if q_torch else np.swapaxes(k, -1, -2)
    s = scale * (qg @ kt)                                              # (..., G, r T, S)
    scores_finite = not lazy or bool(torch.isfinite(s.detach().sum()))
    if grouped:
        s = s.reshape(*s.shape[:-2], r, T, S)                          # (..., G, r, T, S)
    if visible is not None:
        if q_torch:
            s = s.masked_fill(~torch.as_tensor(visible, device=s.device), float("-inf"))
        else:
            s = np.where(visible, s, -np.inf)
    if q_torch:
        w = torch.softmax(s, dim=-1)
    else:
        w = np.exp(s - s.max(axis=-1, keepdims=True))
        w /= w.sum(axis=-1, keepdims=True)
    if grouped:
        w = w.reshape(*w.shape[:-4], G, r * T, S)
    o = w @ v                                                          # (..., G, r T, D_v)
    if not (scores_finite and (not lazy or bool(torch.isfinite(o.detach().sum())))):
        for name, arr in (("q", q), ("k", k), ("v", v)):   # the NaN/inf test, naming the input
            as_float_array(arr, name=name, min_ndim=2)
    if grouped:
        o = o.reshape(*o.shape[:-3], H, T, v.shape[-1])
        w = w.reshape(*w.shape[:-3], H, T, S)
    return (o, w) if return_weights else o


def merge_partials(parts: Sequence[tuple[float, Any, float]]) -> tuple[float, Any, float]:
    """Merge partial softmax sums (m_b, y_b, z_b) into one: the running-max (FlashAttention) merge.

    Each triple holds a block's largest score m_b and its numerator y_b = sum_j e^{s_j - m_b} v_j
    and denominator z_b = sum_j e^{s_j - m_b}. With m = max_b m_b:
    y = sum_b e^{m_b - m} y_b, z = sum_b e^{m_b - m} z_b, and o = y / z. Every exponent is <= 0,
    and the merge is associative. A single key is the triple (s_j, v_j, 1). numpy (y any array
    or float). Chapter attention-as-rnn.
    """
    if not isinstance(parts, (list, tuple)) or len(parts) == 0:
        raise ValueError(f"parts must be a non-empty list of (m, y, z) triples, got {parts!r}")
    for p in parts:
        if not isinstance(p, (list, tuple)) or len(p) != 3:
            raise ValueError(f"parts must hold (m, y, z) triples, got {p!r}")
        if not math.isfinite(p[0]) or not p[2] > 0:
            raise ValueError(f"parts must have a finite m and z > 0, got m = {p[0]!r}, z = {p[2]!r}")
    m = max(p[0] for p in parts)
    y = sum(math.exp(p[0] - m) * p[1] for p in parts)
    z = sum(math.exp(p[0] - m) * p[2] for p in parts)
    return m, y, z


def gqa_head_to_group(n_heads: int, n_groups: int) -> torch.Tensor:
    """0-based K/V group of each query head: contiguous blocks, head s -> floor(s g / h).

    Chapter mha-to-mla: the post's ceil(s g / h) with 1-based s, the layout of
    ``repeat_interleave``, of SDPA's ``enable_gqa`` and of :func:`attention`. torch LongTensor (h,).
    """
    h = check_int_in(n_heads, 1, None, name="n_heads")
    g = check_int_in(n_groups, 1, h, name="n_groups")
    if h % g:
        raise ValueError(f"n_groups must divide n_heads = {h}, got {g}")
    return torch.arange(h) * g // h


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """(B, G, S, D) -> (B, G n_rep, S, D), each K/V head repeated n_rep times in a row. torch.

    Chapter mha-to-mla: what :func:`attention` does implicitly for grouped heads.
    """
    x, _ = as_float_array(check_tensor(x, name="x"), name="x", min_ndim=4, max_ndim=4)
    n_rep = check_int_in(n_rep, 1, None, name="n_rep")
    return x.repeat_interleave(n_rep, dim=1)
