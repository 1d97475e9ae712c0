"""RoPE in one, two and three dimensions, and the layouts of text-image-video sequences.

Chapter multimodal-rope (kexue.fm 10352: RoPE-1D/2D/3D, the text-image-text layouts RoPE-Tie,
RoPE-TV and Qwen2-VL's M-RoPE); chapter mha-to-mla uses :func:`apply_rope` for MLA's decoupled
RoPE.

RoPE in the post's convention: the pair ``(x[2i], x[2i+1])`` of a d-dimensional vector at
position ``n`` is rotated by the angle ``n * theta_i`` with ``theta_i = base**(-2i/d)``, so that
``(R_m q) . (R_n k) = q . R_{n-m} k`` depends on ``n - m`` only. Multi-axis positions choose,
for every pair ``i``, which coordinate drives it (the ``scheme`` of :func:`rope_angles`).

:func:`apply_rope`, :func:`apply_rope_nd` and :func:`apply_rope_angles` take numpy or torch and
return the kind they were given (torch keeps autograd); everything else is numpy.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np
import torch

from .._validate import as_float_array, check_choice, check_instance, check_int_in, check_positive, is_tensor

__all__ = ["SCHEMES", "LAYOUTS", "MROPE_NEXT_TEXT", "MROPE_SECTIONS", "LAYOUT_SCHEMES", "Layout",
           "rope_frequencies", "rope_angles", "rope_matrix", "apply_rope_angles", "apply_rope",
           "apply_rope_nd", "positions_flat", "positions_rope_tv", "positions_rope_tie",
           "positions_mrope", "modality_gaps", "score_matrix", "layout_positions",
           "layout_scores"]

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
    check_instance(layout, Layout, name="layout")
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
        raise ValueError(f"k must match q in shape and both have one row per row of positions ({N}), "
                         f"got {qa.shape}, {ka.shape}")
    if pos.ndim == 1 and scheme != "1d":
        pos = pos[:, None]
    sch = "1d" if pos.ndim == 2 and pos.shape[1] == 1 and scheme in ("alternate", "tied") else scheme
    ang = rope_angles(pos, qa.shape[-1], base, sch, sections)
    rq = apply_rope_angles(np.ascontiguousarray(qa), ang, layout)
    rk = apply_rope_angles(np.ascontiguousarray(ka), ang, layout)
    return rq @ rk.T


# ---------------------------------------------------------------------------------------------
# the layouts by name, and their score maps (chapter multimodal-rope)
# ---------------------------------------------------------------------------------------------

#: flattened RoPE-1D, integer RoPE-Tie, non-integer RoPE-Tie, RoPE-TV, Qwen2-VL's M-RoPE
LAYOUT_SCHEMES = ("flat", "rope_tie", "rope_tie_real", "rope_tv", "mrope")
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
    check_instance(layout, Layout, name="layout")
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

