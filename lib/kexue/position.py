"""Position encodings: RoPE in one, two and three dimensions, and what attention does without one.

Chapters: ``multimodal-rope`` (kexue.fm 10352: RoPE-1D/2D/3D, the text-image-text layouts
RoPE-Tie, RoPE-TV and Qwen2-VL's M-RoPE) and ``why-position-encoding`` (kexue.fm 10347: the
permutation symmetry of attention and the position that causal attention leaks through the
variance of its output). ``mha-to-mla`` imports :func:`apply_rope`.

RoPE in the post's convention: the pair ``(x[2i], x[2i+1])`` of a d-dimensional vector at
position ``n`` is rotated by the angle ``n * theta_i`` with ``theta_i = base**(-2i/d)``, so that
``(R_m q) . (R_n k) = q . R_{n-m} k`` depends on ``n - m`` only. Multi-axis positions choose,
for every pair ``i``, which coordinate drives it (the ``scheme`` of :func:`rope_angles`).

:func:`apply_rope` and :func:`apply_rope_angles` take numpy or torch and return the kind they
were given (torch keeps autograd); everything else is numpy.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from ._validate import (as_float_array, check_choice, check_int_in, check_positive, check_real,
                        is_tensor)

try:
    import torch
except ImportError:  # pragma: no cover - torch is pinned
    torch = None  # type: ignore[assignment]

SCHEMES = ("1d", "alternate", "tied", "sections")
LAYOUTS = ("interleaved", "half")

# ---------------------------------------------------------------------------------------------
# frequencies and angles
# ---------------------------------------------------------------------------------------------


def rope_frequencies(d: int, base: float = 10000.0) -> np.ndarray:
    """theta_i = base**(-2i/d), i = 0 .. d/2 - 1 (RoFE eq. for R_n; chapter multimodal-rope). numpy."""
    d = check_int_in(d, 2, None, name="d")
    if d % 2:
        raise ValueError(f"d must be even, got {d}")
    base = check_positive(base, name="base")
    if base <= 1:
        raise ValueError(f"base must be > 1, got {base!r}")
    return base ** (-np.arange(0, d, 2, dtype=np.float64) / d)          # (d/2,)


def _pair_axes_and_freqs(d: int, base: float, k: int, scheme: str,
                         sections: Sequence[int] | None) -> tuple[np.ndarray, np.ndarray]:
    """For each of the d/2 pairs: the coordinate (0..k-1) that drives it and its frequency."""
    theta = rope_frequencies(d, base)
    half = d // 2
    idx = np.arange(half)
    if scheme == "1d":
        if k != 1:
            raise ValueError(f"positions must have 1 coordinate for scheme '1d', got {k}")
        return np.zeros(half, dtype=int), theta
    if scheme == "alternate":      # pair i follows axis i mod k, keeps theta_i: R_{n,..,n} = R_n
        return idx % k, theta
    if scheme == "tied":           # k consecutive pairs share one frequency: theta_{k*floor(i/k)}
        return idx % k, theta[(idx // k) * k]
    # "sections": contiguous blocks of pairs per axis (Qwen2-VL M-RoPE; axis 0 gets the fastest)
    if sections is None:
        raise ValueError("sections must be given for scheme 'sections'")
    secs = [check_int_in(s, 0, half, name="sections") for s in sections]
    if sum(secs) != half:
        raise ValueError(f"sections must sum to d/2 = {half}, got {list(sections)} (sum {sum(secs)})")
    if len(secs) != k:
        raise ValueError(f"positions must have {len(secs)} coordinates for these sections, got {k}")
    return np.repeat(np.arange(k), secs), theta


def rope_angles(positions: Any, d: int, base: float = 10000.0, scheme: str = "1d",
                sections: Sequence[int] | None = None) -> np.ndarray:
    """Rotation angles (N, d/2): angle[n, i] = positions[n, axis_i] * freq_i. numpy.

    ``positions``: (N,) for RoPE-1D or (N, k) real-valued coordinates. ``scheme``:
    ``"1d"``; ``"alternate"`` (pair i follows coordinate i mod k with theta_i: the compatible
    RoPE-2D/3D of the post); ``"tied"`` (k consecutive pairs share theta_{k*floor(i/k)});
    ``"sections"`` (``sections[a]`` consecutive pairs follow coordinate a: M-RoPE).
    Chapter multimodal-rope.
    """
    check_choice(scheme, SCHEMES, name="scheme")
    pos, _ = as_float_array(positions.detach().cpu().numpy() if is_tensor(positions) else positions,
                            name="positions", min_ndim=1, max_ndim=2, allow_empty=True)
    if pos.ndim == 1:
        pos = pos[:, None]
    if pos.shape[1] == 0:
        raise ValueError(f"positions must have at least one coordinate, got shape {pos.shape}")
    axes, freqs = _pair_axes_and_freqs(d, base, pos.shape[1], scheme, sections)
    return pos[:, axes] * freqs                                           # (N, d/2)


def rope_matrix(angles_row: Any) -> np.ndarray:
    """Block-diagonal rotation R (d, d) for one row of angles (interleaved pairs). numpy.

    R[2i:2i+2, 2i:2i+2] = [[cos a_i, -sin a_i], [sin a_i, cos a_i]]; apply_rope(x) = R x.
    """
    a, _ = as_float_array(angles_row, name="angles_row", min_ndim=1, max_ndim=1)
    d = 2 * a.size
    R = np.zeros((d, d))
    c, s = np.cos(a), np.sin(a)
    i = np.arange(a.size)
    R[2 * i, 2 * i], R[2 * i, 2 * i + 1] = c, -s
    R[2 * i + 1, 2 * i], R[2 * i + 1, 2 * i + 1] = s, c
    return R


def apply_rope_angles(x: Any, angles: Any, layout: str = "interleaved"):
    """Rotate x (..., n, d) by angles (n, d/2); numpy in -> numpy out, torch in -> torch out.

    ``layout="interleaved"`` pairs (x[2i], x[2i+1]) (the post, RoFormer); ``"half"`` pairs
    (x[i], x[i + d/2]) (Llama / Qwen "rotate_half"). Both rotate by +angle:
    (a, b) -> (a cos - b sin, a sin + b cos). Chapter multimodal-rope.
    """
    check_choice(layout, LAYOUTS, name="layout")
    xa, xt = as_float_array(x, name="x", min_ndim=2)
    n, d = xa.shape[-2], xa.shape[-1]
    if d % 2:
        raise ValueError(f"x must have an even last dimension d, got {d}")
    ang, at = as_float_array(angles, name="angles", min_ndim=2, max_ndim=2, allow_empty=True)
    if tuple(ang.shape) != (n, d // 2):
        raise ValueError(f"angles must have shape ({n}, {d // 2}), got {tuple(ang.shape)}")
    if xt:
        ang = (ang if at else torch.as_tensor(ang)).to(dtype=xa.dtype, device=xa.device)
        cos, sin = torch.cos(ang), torch.sin(ang)
    else:
        ang = ang.detach().cpu().numpy().astype(np.float64) if at else ang
        cos, sin = np.cos(ang), np.sin(ang)
    if layout == "interleaved":
        a, b = xa[..., 0::2], xa[..., 1::2]
    else:
        a, b = xa[..., : d // 2], xa[..., d // 2:]
    ra, rb = a * cos - b * sin, a * sin + b * cos
    if layout == "half":
        return torch.cat([ra, rb], dim=-1) if xt else np.concatenate([ra, rb], axis=-1)
    if xt:
        return torch.stack([ra, rb], dim=-1).reshape(xa.shape)
    return np.stack([ra, rb], axis=-1).reshape(xa.shape)


def apply_rope(x: Any, positions: Any, base: float = 10000.0):
    """RoPE-1D: rotate pair (x[..., j, 2i], x[..., j, 2i+1]) by positions[j] * base**(-2i/d).

    x: (..., n, d) with d even (numpy or torch; the same kind is returned, torch keeps
    autograd); positions: (n,) real. Then (R_m q).(R_n k) = q.R_{n-m} k (RoFormer; chapters
    multimodal-rope and mha-to-mla). For 2-D/3-D positions use :func:`apply_rope_nd`.
    """
    pos = positions.detach().cpu().numpy() if is_tensor(positions) else positions
    as_float_array(pos, name="positions", min_ndim=1, max_ndim=1, allow_empty=True)
    return apply_rope_nd(x, positions, base, scheme="1d")


def apply_rope_nd(x: Any, positions: Any, base: float = 10000.0, scheme: str = "alternate",
                  sections: Sequence[int] | None = None, layout: str = "interleaved"):
    """Multi-axis RoPE: x (..., n, d), positions (n, k); see :func:`rope_angles` for schemes.

    ``scheme="alternate"`` with k = 2 is the post's RoPE-2D (R_{n,n} = R_n);
    ``scheme="sections", sections=[16, 24, 24], layout="half"`` is Qwen2-VL's M-RoPE.
    Chapter multimodal-rope.
    """
    xa, _ = as_float_array(x, name="x", min_ndim=2)
    pos = positions.detach().cpu().numpy() if is_tensor(positions) else positions
    pos, _ = as_float_array(pos, name="positions", min_ndim=1, max_ndim=2, allow_empty=True)
    if pos.shape[0] != xa.shape[-2]:
        raise ValueError(f"positions must have {xa.shape[-2]} rows to match x, got {pos.shape[0]}")
    if xa.shape[-1] % 2:
        raise ValueError(f"x must have an even last dimension d, got {xa.shape[-1]}")
    return apply_rope_angles(x, rope_angles(pos, xa.shape[-1], base, scheme, sections), layout)


# ---------------------------------------------------------------------------------------------
# text-image-video layouts (chapter multimodal-rope)
# ---------------------------------------------------------------------------------------------


class Layout(NamedTuple):
    """Positions (N, k) of a mixed sequence, a modality label and a segment index per row."""
    positions: np.ndarray
    labels: np.ndarray
    segment: np.ndarray


_SEG_ARITY = {"text": 1, "image": 2, "video": 3}


def _segments(segments: Any) -> list[tuple[str, tuple[int, ...]]]:
    """Validate [("text", n), ("image", h, w), ("video", t, h, w)] -> [(kind, dims)]."""
    if not isinstance(segments, (list, tuple)) or len(segments) == 0:
        raise ValueError(f"segments must be a non-empty list of tuples, got {segments!r}")
    out = []
    for s in segments:
        if not isinstance(s, (list, tuple)) or len(s) == 0 or s[0] not in _SEG_ARITY:
            raise ValueError(f"segments: each entry must start with one of {list(_SEG_ARITY)}, got {s!r}")
        kind = s[0]
        if len(s) != 1 + _SEG_ARITY[kind]:
            raise ValueError(f"segments: a {kind!r} entry needs {_SEG_ARITY[kind]} sizes, got {s!r}")
        dims = tuple(check_int_in(v, 1, None, name=f"segments ({kind} size)") for v in s[1:])
        out.append((kind, dims))
    return out


def _grid(dims: tuple[int, ...]) -> np.ndarray:
    """1-based grid indices, row-major: (prod(dims), len(dims))."""
    mesh = np.meshgrid(*[np.arange(1, n + 1, dtype=float) for n in dims], indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def _visual_dims(kind: str, dims: tuple[int, ...], k: int) -> tuple[int, ...]:
    """An image is a one-frame video when the layout is 3-D: (h, w) -> (1, h, w)."""
    if kind == "image" and k == 3:
        return (1,) + dims
    if kind == "video" and k == 2:
        raise ValueError("ndim must be 3 when segments contain a video")
    return dims


def _layout_ndim(segs, ndim: int | None) -> int:
    need = 3 if any(kind == "video" for kind, _ in segs) else 2
    if ndim is None:
        return need
    ndim = check_int_in(ndim, 2, 3, name="ndim")
    if ndim < need:
        raise ValueError(f"ndim must be 3 when segments contain a video, got {ndim}")
    return ndim


def _build(segs, k: int, place) -> Layout:
    """Walk the segments; `place(cursor, kind, dims)` -> (block positions, new cursor)."""
    rows, labels, seg_ids = [], [], []
    cursor = 0.0                       # position of the last text token so far (0: none yet)
    for si, (kind, dims) in enumerate(segs):
        if kind == "text":
            n = dims[0]
            p = cursor + np.arange(1, n + 1, dtype=float)
            block = np.repeat(p[:, None], k, axis=1)
            cursor = float(p[-1])
        else:
            block, cursor = place(cursor, kind, _visual_dims(kind, dims, k))
        rows.append(block)
        labels += [kind] * block.shape[0]
        seg_ids += [si] * block.shape[0]
    return Layout(np.concatenate(rows, axis=0), np.array(labels), np.array(seg_ids))


def positions_flat(segments: Any) -> Layout:
    """Everything flattened to RoPE-1D: token number 1..N in reading order, shape (N, 1)."""
    segs = _segments(segments)
    n = sum(int(np.prod(d)) for _, d in segs)
    lay = _build([("text", (n,))], 1, None)
    labels = np.concatenate([[kind] * int(np.prod(d)) for kind, d in segs])
    seg = np.concatenate([[i] * int(np.prod(d)) for i, (_, d) in enumerate(segs)])
    return Layout(lay.positions, labels, seg)


def positions_rope_tv(segments: Any, ndim: int | None = None) -> Layout:
    """RoPE-TV (RoPE-Tie-v2), 1-based: text n -> (n, .., n); patch g -> beta + g (unit strides).

    beta_k = L + (prod(dims) - dims_k) / 2 with L the last text position, and the next text
    starts at L + prod(dims) + 1: the visual block counts as prod(dims) tokens (equivalence)
    and the gaps before and after it are equal (symmetry). Chapter multimodal-rope.
    """
    segs = _segments(segments)
    k = _layout_ndim(segs, ndim)

    def place(L, kind, dims):
        size = float(np.prod(dims))
        beta = L + (size - np.array(dims, dtype=float)) / 2
        return beta + _grid(dims), L + size
    return _build(segs, k, place)


def positions_rope_tie(segments: Any, integer: bool = True, ndim: int | None = None) -> Layout:
    """RoPE-Tie (kexue.fm 10040), 1-based: patch g -> L + g * gamma, next text at L + S.

    integer=True: S = prod(dims_k + 1), gamma_k = S / (dims_k + 1) (for an image: row stride
    w + 1, column stride h + 1; the image counts as (h+1)(w+1) - 1 tokens). integer=False:
    S = prod(dims) + 1, gamma_k = S / (dims_k + 1), which restores equivalence.
    The 3-D case is our generalisation (the post defines RoPE-Tie for images).
    """
    segs = _segments(segments)
    k = _layout_ndim(segs, ndim)

    def place(L, kind, dims):
        dd = np.array(dims, dtype=float)
        S = float(np.prod(dd + 1)) if integer else float(np.prod(dd)) + 1.0
        gamma = S / (dd + 1)
        return L + _grid(dims) * gamma, L + S - 1.0
    lay = _build(segs, k, place)
    return lay


MROPE_NEXT_TEXT = ("max", "spatial")


def positions_mrope(segments: Any, zero_based: bool = True, next_text: str = "max") -> Layout:
    """Qwen2-VL M-RoPE positions (t, h, w), as in Hugging Face's get_rope_index.

    A visual block starting at s gets (s + t_idx, s + h_idx, s + w_idx) with 0-based grid
    indices (an image is t = 1); text gets (n, n, n). next_text="max": the next text starts at
    (largest id so far) + 1, as in the Qwen2-VL release (transformers 4.45, the code the post
    read); next_text="spatial": it starts at s + max(h, w), as in transformers 5.x, which
    ignores t. Grid sizes are those after the 2x2 spatial merge. zero_based=False adds 1.
    Chapter multimodal-rope.
    """
    segs = _segments(segments)
    check_choice(next_text, MROPE_NEXT_TEXT, name="next_text")
    rows, labels, seg_ids = [], [], []
    nxt = 0.0                          # next free id
    for si, (kind, dims) in enumerate(segs):
        if kind == "text":
            p = nxt + np.arange(dims[0], dtype=float)
            block = np.repeat(p[:, None], 3, axis=1)
            nxt = float(block.max()) + 1.0
        else:
            vd = _visual_dims(kind, dims, 3)
            block = nxt + _grid(vd) - 1.0
            nxt = float(block.max()) + 1.0 if next_text == "max" else nxt + max(vd[1], vd[2])
        rows.append(block)
        labels += [kind] * block.shape[0]
        seg_ids += [si] * block.shape[0]
    pos = np.concatenate(rows, axis=0) + (0.0 if zero_based else 1.0)
    return Layout(pos, np.array(labels), np.array(seg_ids))


def modality_gaps(layout: Layout) -> list[dict]:
    """For each visual segment: gap vectors before/after it and its equivalent token count.

    before = first visual position - last text position before it; after = first text
    position after it - last visual position; equivalent_tokens = (next text - previous text)
    - 1 on the first axis (wh for RoPE-TV; (w+1)(h+1) - 1 for integer RoPE-Tie).
    Missing neighbours give None. Chapter multimodal-rope.
    """
    pos, labels, seg = layout.positions, layout.labels, layout.segment
    out = []
    for s in np.unique(seg):
        rows = np.nonzero(seg == s)[0]
        if labels[rows[0]] == "text":
            continue
        first, last = rows[0], rows[-1]
        prev = first - 1 if first > 0 and labels[first - 1] == "text" else None
        nxt = last + 1 if last + 1 < len(labels) and labels[last + 1] == "text" else None
        before = None if prev is None else pos[first] - pos[prev]
        after = None if nxt is None else pos[nxt] - pos[last]
        eq = None if prev is None or nxt is None else float(pos[nxt, 0] - pos[prev, 0] - 1)
        out.append({"segment": int(s), "kind": str(labels[first]), "before": before,
                    "after": after, "equivalent_tokens": eq, "tokens": int(rows.size)})
    return out


def score_matrix(q: Any, k: Any, positions: Any, base: float = 10000.0, scheme: str = "alternate",
                 sections: Sequence[int] | None = None, layout: str = "interleaved") -> np.ndarray:
    """scores[a, b] = (R_{p_a} q_a) . (R_{p_b} k_b) for positions (N, k); numpy (N, N).

    q, k: (d,) (the same vector at every position, so the map shows position alone) or (N, d).
    Chapter multimodal-rope (score heatmap, relative-position checks).
    """
    pos, _ = as_float_array(positions, name="positions", min_ndim=1, max_ndim=2)
    N = pos.shape[0]
    qa, _ = as_float_array(q, name="q", min_ndim=1, max_ndim=2)
    ka, _ = as_float_array(k, name="k", min_ndim=1, max_ndim=2)
    qa = np.broadcast_to(qa, (N, qa.shape[-1])) if qa.ndim == 1 else qa
    ka = np.broadcast_to(ka, (N, ka.shape[-1])) if ka.ndim == 1 else ka
    if qa.shape[0] != N or ka.shape != qa.shape:
        raise ValueError(f"k must match q in shape and both have {N} rows, got {qa.shape}, {ka.shape}")
    if pos.ndim == 1 and scheme != "1d":
        pos = pos[:, None]
    sch = "1d" if pos.ndim == 2 and pos.shape[1] == 1 and scheme in ("alternate", "tied") else scheme
    ang = rope_angles(pos, qa.shape[-1], base, sch, sections)
    rq = apply_rope_angles(np.ascontiguousarray(qa), ang, layout)
    rk = apply_rope_angles(np.ascontiguousarray(ka), ang, layout)
    return rq @ rk.T


# ---------------------------------------------------------------------------------------------
# attention without position encoding (chapter why-position-encoding)
# ---------------------------------------------------------------------------------------------


def self_attention(x: Any, Wq: Any, Wk: Any, Wv: Any, causal: bool = False,
                   scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """NoPE self-attention y = softmax(x Wq (x Wk)^T * scale [+ causal mask]) x Wv; (y, A). numpy.

    Chapter why-position-encoding, eqs. (bi-att) and (uni-att) (biases omitted).
    """
    from .attention import softmax_attention
    xa, _ = as_float_array(x, name="x", min_ndim=2, max_ndim=2)
    mats = []
    for name, W in (("Wq", Wq), ("Wk", Wk), ("Wv", Wv)):
        Wa, _ = as_float_array(W, name=name, min_ndim=2, max_ndim=2)
        if Wa.shape[0] != xa.shape[1]:
            raise ValueError(f"{name} must have {xa.shape[1]} rows to match x, got shape {Wa.shape}")
        mats.append(Wa)
    return softmax_attention(xa @ mats[0], xa @ mats[1], xa @ mats[2], causal=causal, scale=scale)


def permute_check(x: Any, perm: Any, Wq: Any, Wk: Any, Wv: Any, causal: bool = False) -> float:
    """max |f(P x) - P f(x)| for self-attention f: 0 (to rounding) means permutation-equivariant.

    Checks *equivariance* (shuffling the inputs shuffles the outputs the same way). numpy.
    Chapter why-position-encoding.
    """
    xa, _ = as_float_array(x, name="x", min_ndim=2, max_ndim=2)
    p = np.asarray(perm)
    if p.ndim != 1 or p.size != xa.shape[0] or not np.issubdtype(p.dtype, np.integer) or \
            not np.array_equal(np.sort(p), np.arange(xa.shape[0])):
        raise ValueError(f"perm must be a permutation of 0..{xa.shape[0] - 1}, got {perm!r}")
    y = self_attention(xa, Wq, Wk, Wv, causal)[0]
    yp = self_attention(xa[p], Wq, Wk, Wv, causal)[0]
    return float(np.abs(yp - y[p]).max())


def uniform_causal_weights(L: int) -> np.ndarray:
    """A[n, m] = 1/n for m <= n (1-based): the post's toy attention matrix. numpy (L, L)."""
    L = check_int_in(L, 1, None, name="L")
    return np.tril(np.ones((L, L))) / np.arange(1, L + 1)[:, None]


def random_softmax_weights(L: int, d_head: int = 64, causal: bool = True,
                           seed: int | None = None) -> np.ndarray:
    """Attention weights of random q, k ~ N(0, I_d), scores q.k / sqrt(d): (L, L). numpy.

    Weights at initialisation; they do not depend on the values (the assumption of the
    variance argument). Chapter why-position-encoding.
    """
    from .attention import softmax_attention
    L = check_int_in(L, 1, None, name="L")
    d_head = check_int_in(d_head, 1, None, name="d_head")
    rng = np.random.default_rng(seed)
    q, k = rng.normal(size=(2, L, d_head))
    return softmax_attention(q, k, np.zeros((L, 1)), causal=causal)[1]


def mean_square(y: Any) -> np.ndarray:
    """MS(y_n) = (1/d) sum_i y_{n,i}^2 over the last axis (the "MS" of RMSNorm). numpy."""
    ya, _ = as_float_array(y, name="y", min_ndim=1)
    return (np.asarray(ya) ** 2).mean(axis=-1)


def expected_mean_square(A: Any, sigma2: float = 1.0) -> np.ndarray:
    """E[y_{n,i}^2] = sigma^2 sum_m A_{nm}^2 for y = A v, v iid mean 0, variance sigma^2. numpy.

    A must be square with rows summing to 1 (within 1e-9) and must not depend on v.
    The uniform causal A gives sigma^2 / n. Chapter why-position-encoding.
    """
    Aa, _ = as_float_array(A, name="A", min_ndim=2, max_ndim=2)
    if Aa.shape[0] != Aa.shape[1]:
        raise ValueError(f"A must be square, got shape {Aa.shape}")
    if np.abs(Aa.sum(axis=1) - 1).max() > 1e-9:
        raise ValueError("A must have rows summing to 1 (attention weights)")
    sigma2 = check_positive(sigma2, name="sigma2")
    return sigma2 * (Aa ** 2).sum(axis=1)


def loglog_slope(n: Any, ms: Any, n_min: float = 1) -> float:
    """Least-squares slope of log ms against log n over n >= n_min. numpy."""
    na, _ = as_float_array(n, name="n", min_ndim=1, max_ndim=1)
    ma, _ = as_float_array(ms, name="ms", min_ndim=1, max_ndim=1)
    if na.shape != ma.shape:
        raise ValueError(f"ms must have the shape of n {na.shape}, got {ma.shape}")
    if (na <= 0).any() or (ma <= 0).any():
        raise ValueError("n and ms must be > 0 for a log-log fit")
    keep = na >= check_real(n_min, name="n_min")
    if keep.sum() < 2:
        raise ValueError(f"n_min must leave at least 2 points, got {n_min!r}")
    return float(np.polyfit(np.log(na[keep]), np.log(ma[keep]), 1)[0])


def position_from_ms(ms: Any, sigma2: float = 1.0) -> np.ndarray:
    """n_hat = sigma^2 / MS: reading the position back from the variance (uniform model). numpy."""
    ma, _ = as_float_array(ms, name="ms", min_ndim=0)
    if (ma <= 0).any():
        raise ValueError("ms must be > 0")
    return check_positive(sigma2, name="sigma2") / ma


def adjacent_position_accuracy(n: int, d: int, heads: int = 1, method: str = "exact",
                               trials: int = 2000, seed: int | None = None) -> float:
    """Accuracy of the best threshold test telling position n from n+1 by the MS of y_n.

    Uniform causal weights, v ~ N(0, sigma^2): n d MS_n / sigma^2 ~ chi^2_d, and H independent
    heads pool to D = H d components. The two scaled chi-square densities cross at
    MS = sigma^2 log(1 + 1/n), the optimal threshold, so (equal priors)
    accuracy = (P[chi^2_D > D n c] + P[chi^2_D < D (n+1) c]) / 2 with c = log(1 + 1/n).
    method="simulate" draws `trials` pairs instead. scipy / numpy.
    Chapter why-position-encoding (weakness 2: resolution fades with n).
    """
    from scipy import stats
    n = check_int_in(n, 1, None, name="n")
    d = check_int_in(d, 1, None, name="d")
    heads = check_int_in(heads, 1, None, name="heads")
    check_choice(method, ["exact", "simulate"], name="method")
    D = d * heads
    c = np.log1p(1.0 / n)
    if method == "exact":
        return float(0.5 * (stats.chi2.sf(D * n * c, D) + stats.chi2.cdf(D * (n + 1) * c, D)))
    trials = check_int_in(trials, 1, None, name="trials")
    rng = np.random.default_rng(seed)
    ms_n = rng.chisquare(D, size=trials) / (D * n)
    ms_n1 = rng.chisquare(D, size=trials) / (D * (n + 1))
    return float(0.5 * ((ms_n > c).mean() + (ms_n1 <= c).mean()))


def attention_entropy(weights: Any) -> np.ndarray:
    """Entropy -sum_m A_{nm} log A_{nm} of each row (0 log 0 = 0). numpy."""
    Aa, _ = as_float_array(weights, name="weights", min_ndim=1)
    if (Aa < 0).any():
        raise ValueError("weights must be >= 0")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(Aa > 0, Aa * np.log(np.where(Aa > 0, Aa, 1.0)), 0.0)
    return -terms.sum(axis=-1)


NOPE_WEIGHTS = ("uniform", "softmax", "bidirectional")


def nope_ms_curve(L: int, d: int, weights: str = "uniform", draws: int = 20,
                  d_head: int = 64, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean MS(y_n) over `draws` independent draws of v ~ N(0, 1)^(L x d); returns (n, MS). numpy.

    weights: "uniform" (1/n causal), "softmax" (random q, k, causal) or "bidirectional"
    (random q, k, no mask). Each draw has fresh values (and fresh q, k). Chapter
    why-position-encoding.
    """
    L = check_int_in(L, 2, None, name="L")
    d = check_int_in(d, 1, None, name="d")
    check_choice(weights, NOPE_WEIGHTS, name="weights")
    draws = check_int_in(draws, 1, None, name="draws")
    rng = np.random.default_rng(seed)
    acc = np.zeros(L)
    for _ in range(draws):
        if weights == "uniform":
            A = uniform_causal_weights(L)
        else:
            A = random_softmax_weights(L, d_head, causal=(weights == "softmax"),
                                       seed=int(rng.integers(2 ** 31)))
        acc += mean_square(A @ rng.normal(size=(L, d)))
    return np.arange(1, L + 1, dtype=float), acc / draws


# ---------------------------------------------------------------------------------------------
# widgets
# ---------------------------------------------------------------------------------------------

LAYOUT_SCHEMES = ("flat", "rope_tie", "rope_tie_real", "rope_tv", "mrope")
LAYOUT_NAMES = ("flatten (RoPE-1D)", "RoPE-Tie (integer)", "RoPE-Tie (non-integer)", "RoPE-TV",
                "Qwen2-VL M-RoPE")
MROPE_SECTIONS = (16, 24, 24)      # Qwen2-VL: head dim 128, 64 frequency pairs as (t, h, w)


def layout_positions(segments: Any, scheme: str) -> Layout:
    """Dispatch to the position builders by name (see LAYOUT_SCHEMES). Chapter multimodal-rope."""
    check_choice(scheme, LAYOUT_SCHEMES, name="scheme")
    if scheme == "flat":
        return positions_flat(segments)
    if scheme == "rope_tie":
        return positions_rope_tie(segments)
    if scheme == "rope_tie_real":
        return positions_rope_tie(segments, integer=False)
    if scheme == "rope_tv":
        return positions_rope_tv(segments)
    return positions_mrope(segments)


def layout_scores(layout: Layout, scheme: str, d: int = 128, base: float = 10000.0) -> np.ndarray:
    """RoPE scores of the layout with q = k = (1, ..., 1) / sqrt(d): (N, N). numpy.

    With equal unit pairs the score is the mean over pairs of cos(theta_i * Delta_{axis(i)}):
    1 at zero offset, a function of the relative position only. flat uses RoPE-1D, RoPE-Tie /
    RoPE-TV the compatible alternating scheme, M-RoPE Qwen2-VL's sections (scaled to d).
    """
    check_choice(scheme, LAYOUT_SCHEMES, name="scheme")
    d = check_int_in(d, 2, None, name="d")
    q = np.ones(d) / np.sqrt(d)
    if scheme == "flat":
        return score_matrix(q, q, layout.positions[:, 0], base, "1d")
    if scheme == "mrope":
        if d % 8:
            raise ValueError(f"d must be a multiple of 8 for M-RoPE sections, got {d}")
        secs = [s * d // 128 for s in MROPE_SECTIONS]
        return score_matrix(q, q, layout.positions, base, "sections", secs, "half")
    return score_matrix(q, q, layout.positions, base, "alternate")


def layout_explorer(Ls: Sequence[int] = (2, 5), sizes: Sequence[int] = (1, 2, 3, 4),
                    frames: Sequence[int] = (1, 2, 3), right: int = 3):
    """Explorer: text(L) + image h x w (or video t x h x w) + text(right) under five schemes.

    Left: every coordinate against token index (text, then patches, then text). Right: RoPE
    score between the last left-text token and every token. Readout: the gaps before and
    after the visual block and its equivalent token count. Chapter multimodal-rope.
    """
    from . import widgets as W

    def compute(L, h, w, t, scheme):
        vis = ("image", h, w) if t == 1 else ("video", t, h, w)
        segs = [("text", L), vis, ("text", right)]
        lay = layout_positions(segs, scheme)
        pos, labels = lay.positions, lay.labels
        idx = np.arange(1, len(labels) + 1)
        axis_names = {1: ["position"], 2: ["row (x)", "column (y)"],
                      3: ["time", "row", "column"]}[pos.shape[1]]
        series = []
        for a in range(pos.shape[1]):
            series.append({"kind": "scatter", "x": idx.tolist(), "y": pos[:, a].tolist(),
                           "label": axis_names[a], "color": W.PALETTE[a]})
        vis_rows = np.nonzero(labels != "text")[0]
        p1 = W.panel(f"{LAYOUT_NAMES[LAYOUT_SCHEMES.index(scheme)]}: coordinates per token",
                     "token index (text | visual | text)", "coordinate", series=series,
                     vlines=[{"x": float(vis_rows[0]) + 0.5, "label": "visual block"},
                             {"x": float(vis_rows[-1]) + 1.5}])
        sc = layout_scores(lay, scheme)[L - 1]
        p2 = W.panel("score of the last left-text query", "key token index",
                     "RoPE score (1 = same position)",
                     series=[{"kind": "bar", "x": idx.tolist(), "y": sc.tolist(),
                              "label": "q = k = uniform pairs", "color": W.PALETTE[2]}],
                     ylim=(-0.4, 1.05))
        g = modality_gaps(lay)[0]
        fmt = lambda v: "(" + ", ".join(f"{x:g}" for x in v) + ")"
        text = (f"gap before {fmt(g['before'])}, gap after {fmt(g['after'])}; "
                f"{g['tokens']} visual tokens count as {g['equivalent_tokens']:g}")
        return W.frame(p1, p2, text=text)

    return W.Explorer([W.Slider("L", list(Ls), Ls[0], "left text L"),
                       W.Slider("h", list(sizes), 2 if 2 in sizes else sizes[0], "rows h"),
                       W.Slider("w", list(sizes), 3 if 3 in sizes else sizes[0], "columns w"),
                       W.Slider("t", list(frames), frames[0], "frames t (1 = image)"),
                       W.Dropdown("scheme", list(LAYOUT_SCHEMES), "rope_tv", "scheme",
                                  list(LAYOUT_NAMES))],
                      compute, name="multimodal-rope-layout")


def score_heatmap_explorer(sizes: Sequence[int] = (2, 3, 4), text: int = 3):
    """Explorer: the (N, N) RoPE score map of text + n x n image + text, per scheme."""
    from . import widgets as W

    def compute(n, scheme):
        lay = layout_positions([("text", text), ("image", n, n), ("text", text)], scheme)
        S = layout_scores(lay, scheme)
        N = S.shape[0]
        edges = (np.arange(N + 1) + 0.5).tolist()
        p = W.panel(f"{LAYOUT_NAMES[LAYOUT_SCHEMES.index(scheme)]}: score map",
                    "key token index", "query token index",
                    heatmap={"z": S.tolist(), "x": edges, "y": edges, "vmin": -0.4, "vmax": 1.0,
                             "label": "RoPE score"},
                    vlines=[{"x": text + 0.5}, {"x": text + n * n + 0.5}],
                    hlines=[{"y": text + 0.5}, {"y": text + n * n + 0.5}], legend=False)
        cross = S[:text, text:text + n * n]
        return W.frame(p, text=f"mean text->image score {cross.mean():.3f}; "
                               f"max {cross.max():.3f}")

    return W.Explorer([W.Slider("n", list(sizes), sizes[1], "image side n"),
                       W.Dropdown("scheme", list(LAYOUT_SCHEMES), "rope_tv", "scheme",
                                  list(LAYOUT_NAMES))],
                      compute, name="multimodal-rope-scores")


# ---------------------------------------------------------------------------------------------
# widgets of chapter why-position-encoding
# ---------------------------------------------------------------------------------------------

NOPE_WEIGHT_NAMES = ("uniform causal (1/n)", "softmax causal (random q, k)",
                     "softmax bidirectional (random q, k)")


def sample_position_estimates(n: int, d: int, weights: str = "uniform", heads: int = 1,
                              draws: int = 400, d_head: int = 64, L: int = 128,
                              seed: int | None = 0) -> np.ndarray:
    """n_hat = 1 / MS(y_n) over `draws` independent draws (sigma^2 = 1), H heads pooled. numpy.

    Given the weights A, y_{n,i} = sum_m A_{nm} v_{m,i} is N(0, sum_m A_{nm}^2) exactly, so
    H d MS_n ~ ||A_n||^2 chi^2_{H d} for uniform weights (the same A in every head), and
    for the softmax weights a mixture: fresh random (q, k) ~ N(0, I_{d_head}) per head and
    draw, so MS_n = (1/H) sum_h ||A^h_n||^2 chi^2_d / d. The causal row n sees keys 1..n;
    the bidirectional row sees all L keys of the sequence (L >= n), whatever n is.
    Chapter why-position-encoding (weakness 2: resolution).
    """
    n = check_int_in(n, 1, None, name="n")
    d = check_int_in(d, 1, None, name="d")
    check_choice(weights, NOPE_WEIGHTS, name="weights")
    heads = check_int_in(heads, 1, None, name="heads")
    draws = check_int_in(draws, 1, None, name="draws")
    d_head = check_int_in(d_head, 1, None, name="d_head")
    L = check_int_in(L, n, None, name="L")
    rng = np.random.default_rng(seed)
    return _estimates_from_row_sq(_row_sq(n, weights, heads, draws, d_head, L, rng), d, rng)


def _row_sq(n: int, weights: str, heads: int, draws: int, d_head: int, L: int,
            rng: np.random.Generator) -> np.ndarray:
    """sum_m A_{nm}^2 per draw and head, (draws, heads)."""
    if weights == "uniform":
        return np.full((draws, heads), 1.0 / n)                     # sum_m (1/n)^2 = 1/n
    return _softmax_row_sq(n if weights == "softmax" else L, d_head, draws, heads, rng)


def _estimates_from_row_sq(row2: np.ndarray, d: int, rng: np.random.Generator) -> np.ndarray:
    """n_hat = 1 / MS with MS = mean over heads of row2 * chi^2_d / d."""
    ms = (row2 * rng.chisquare(d, size=row2.shape) / d).mean(axis=1)
    return 1.0 / ms


def _softmax_row_sq(M: int, d_head: int, draws: int, heads: int,
                    rng: np.random.Generator) -> np.ndarray:
    """sum_m A_{nm}^2 of one row of random-(q, k) softmax weights over M keys, (draws, heads).

    Only that row is formed (the rest of A does not enter MS(y_n)). numpy.
    """
    out = np.empty((draws, heads))
    for h in range(heads):
        q = rng.normal(size=(draws, 1, d_head))
        k = rng.normal(size=(draws, M, d_head))
        s = (q * k).sum(-1) / np.sqrt(d_head)                       # (draws, M)
        w = np.exp(s - s.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        out[:, h] = (w ** 2).sum(axis=1)
    return out


def nope_variance_explorer(ds: Sequence[int] = (16, 64, 256, 1024, 4096),
                           heads: Sequence[int] = (1, 4, 16), ns: Sequence[int] = (4, 16, 64),
                           L: int = 128, draws: int = 4, hist_draws: int = 200):
    """Explorer: the mean square of causal NoPE outputs against position, and its resolution.

    Controls: d (value dimension), the number of pooled heads H, the weights (uniform causal,
    random softmax causal, random softmax bidirectional) and a position n. Left (log-log):
    MS(y_n) averaged over `draws` independent draws against n, with sigma^2/n. Right: the
    histograms of n_hat = 1/MS at positions n and n+1 over `hist_draws` independent draws:
    where they overlap, the two positions cannot be told apart. Chapter why-position-encoding.
    numpy.
    """
    from functools import lru_cache
    from . import widgets as W
    L = check_int_in(L, 4, None, name="L")

    @lru_cache(maxsize=None)
    def curve(d, weights):
        return nope_ms_curve(L, d, weights, draws=draws, seed=1)

    h_max = max(heads)

    @lru_cache(maxsize=None)
    def row_sq(n, weights, seed):                  # the weights' part: shared by every d and H
        return _row_sq(n, weights, h_max, hist_draws, 64, L, np.random.default_rng(seed))

    def estimates(n, d, weights, H, seed):
        return _estimates_from_row_sq(row_sq(n, weights, seed)[:, :H], d,
                                      np.random.default_rng(seed + 100))

    def compute(d, H, weights, n):
        nn, ms = curve(d, weights)
        slope = loglog_slope(nn, ms)
        p1 = W.panel(f"Does MS(y_n) carry the position? ({NOPE_WEIGHT_NAMES[NOPE_WEIGHTS.index(weights)]})",
                     "position n", "mean square of y_n",
                     series=[{"kind": "line", "x": nn.tolist(), "y": ms.tolist(),
                              "label": f"measured, d = {d} (slope {slope:.2f})",
                              "color": W.PALETTE[0]},
                             {"kind": "line", "x": nn.tolist(), "y": (1.0 / nn).tolist(),
                              "label": "sigma^2 / n", "color": W.PALETTE[1], "dash": True}],
                     vlines=[{"x": float(n), "label": f"n = {n}", "color": "#555555"}],
                     xscale="log", yscale="log")
        a, b = estimates(n, d, weights, H, 2), estimates(n + 1, d, weights, H, 3)
        lo, hi = np.percentile(np.concatenate([a, b]), [0.5, 99.5])
        edges = np.linspace(lo, hi, 31)
        mids = 0.5 * (edges[1:] + edges[:-1])
        ha = np.histogram(np.clip(a, lo, hi), edges)[0] / a.size
        hb = np.histogram(np.clip(b, lo, hi), edges)[0] / b.size
        p2 = W.panel(f"Can n = {n} be told from n + 1? (H = {H} head(s))", "n_hat = 1 / MS",
                     "fraction of draws",
                     series=[{"kind": "bar", "x": mids.tolist(), "y": ha.tolist(),
                              "label": f"position {n}", "color": W.PALETTE[0]},
                             {"kind": "bar", "x": mids.tolist(), "y": hb.tolist(),
                              "label": f"position {n + 1}", "color": W.PALETTE[3], "fill": False}],
                     vlines=[{"x": float(n), "color": W.PALETTE[0]},
                             {"x": float(n + 1), "color": W.PALETTE[3]}])
        text = f"log-log slope {slope:.3f}; n_hat at n = {n}: mean {a.mean():.1f}, " \
               f"relative spread {a.std() / a.mean():.3f}"
        if weights == "uniform":
            text += (f"; best threshold test n vs n+1: accuracy "
                     f"{adjacent_position_accuracy(n, d, heads=H):.3f}")
        return W.frame(p1, p2, text=text)

    return W.Explorer([W.Slider("d", list(ds), 256 if 256 in ds else ds[0], "value dimension d",
                                fmt="{:.0f}"),
                       W.Slider("H", list(heads), heads[0], "heads pooled H", fmt="{:.0f}"),
                       W.Dropdown("weights", list(NOPE_WEIGHTS), "uniform", "attention weights",
                                  list(NOPE_WEIGHT_NAMES)),
                       W.Slider("n", list(ns), ns[1] if len(ns) > 1 else ns[0], "position n",
                                fmt="{:.0f}")],
                      compute, name="why-position-encoding-variance")


def shuffle_explorer(L: int = 10, d: int = 16, shuffles: int = 5, seed: int = 0):
    """Explorer: shuffle the input tokens and compare NoPE self-attention outputs.

    Slider: which shuffle (0 = identity, then fixed random permutations); dropdown:
    bidirectional or causal attention. Left: coordinate 1 of the output each token gets,
    before (line) and after shuffling (points, drawn at the token's original place): they
    coincide for bidirectional attention (permutation equivariance) and not for causal.
    Right: |f(Px) - P f(x)| per token. Chapter why-position-encoding. numpy.
    """
    from . import widgets as W
    L = check_int_in(L, 2, 64, name="L")
    d = check_int_in(d, 1, None, name="d")
    shuffles = check_int_in(shuffles, 1, 20, name="shuffles")
    rng = np.random.default_rng(check_int_in(seed, 0, None, name="seed"))
    x = rng.normal(size=(L, d))
    Ws = [rng.normal(size=(d, d)) / np.sqrt(d) for _ in range(3)]
    perms = [np.arange(L)] + [rng.permutation(L) for _ in range(shuffles)]

    def compute(shuffle, mode):
        causal = mode == "causal"
        p = perms[shuffle]
        y = self_attention(x, *Ws, causal=causal)[0]
        yp = self_attention(x[p], *Ws, causal=causal)[0]
        back = np.empty_like(yp)
        back[p] = yp                                   # output of token p[r] sits at row r
        dev = np.abs(back - y).max(axis=1)
        dev = np.where(dev < 1e-12, 0.0, dev)          # rounding noise is drawn as 0
        tok = list(range(1, L + 1))
        p1 = W.panel(f"Does token j keep its output after shuffling? ({mode})", "token j",
                     "coordinate 1 of its output",
                     series=[{"kind": "line", "x": tok, "y": y[:, 0].tolist(),
                              "label": "original order", "color": W.PALETTE[0]},
                             {"kind": "scatter", "x": tok, "y": back[:, 0].tolist(),
                              "label": "shuffled order", "color": W.PALETTE[3]}])
        p2 = W.panel("Change of each token's output", "token j", "max |change|",
                     series=[{"kind": "bar", "x": tok, "y": dev.tolist(),
                              "label": "|f(Px) - P f(x)|", "color": W.PALETTE[2]}],
                     ylim=(0, max(1.0, float(dev.max()) * 1.1)))
        order = " ".join(str(int(i) + 1) for i in p)
        return W.frame(p1, p2, text=f"reading order: {order}; largest change "
                                    f"{'< 1e-12' if dev.max() < 1e-12 else f'{dev.max():.3f}'}")

    return W.Explorer([W.Slider("shuffle", list(range(shuffles + 1)), 1,
                                "shuffle (0 = none)", fmt="{:.0f}"),
                       W.Dropdown("mode", ["bidirectional", "causal"], "bidirectional",
                                  "attention")],
                      compute, name="why-position-encoding-shuffle")
