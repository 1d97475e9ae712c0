"""Explorers of the chapter multimodal-rope: where each scheme puts the tokens of text + image (or
video) + text, and the RoPE score maps. The numbers come from :mod:`kexue.attention.rope`."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from kexue import attention as A
from kexue._validate import check_grid, check_int_in
from kexue.widgets import PALETTE, Dropdown, Explorer, Slider, bars, frame, heatmap, hline, panel, scatter, vline

__all__ = ["EXPLORERS", "LAYOUT_NAMES", "layout", "score_map"]

#: display names of :data:`kexue.attention.LAYOUT_SCHEMES`, in the same order
LAYOUT_NAMES = ("flatten (RoPE-1D)", "RoPE-Tie (integer)", "RoPE-Tie (non-integer)", "RoPE-TV",
                "Qwen2-VL M-RoPE")
AXIS_NAMES = {1: ["position"], 2: ["row (x)", "column (y)"], 3: ["time", "row", "column"]}


def _tuple(v) -> str:
    return "(" + ", ".join(f"{x:g}" for x in v) + ")"


def layout(Ls: Sequence[int] = (2, 5), sizes: Sequence[int] = (1, 2, 3, 4),
           frames: Sequence[int] = (1, 2, 3), right: int = 3) -> Explorer:
    """text(L) + image h x w (or video t x h x w) + text(right) under five schemes.

    Left: every coordinate against token index (text, then patches, then text;
    :func:`kexue.attention.layout_positions`). Right: RoPE score between the last left-text token
    and every token (:func:`kexue.attention.layout_scores`). Readout: the gaps before and after
    the visual block and its equivalent token count (:func:`kexue.attention.modality_gaps`).
    """
    Ls = [check_int_in(v, 1, None, name="Ls") for v in check_grid(Ls, name="Ls")]
    sizes = [check_int_in(v, 1, None, name="sizes") for v in check_grid(sizes, name="sizes")]
    frames = [check_int_in(v, 1, None, name="frames") for v in check_grid(frames, name="frames")]
    right = check_int_in(right, 1, None, name="right")
    def compute(L, h, w, t, scheme):
        vis = ("image", h, w) if t == 1 else ("video", t, h, w)
        lay = A.layout_positions([("text", L), vis, ("text", right)], scheme)
        pos, labels = lay.positions, lay.labels
        idx = np.arange(1, len(labels) + 1)
        series = [scatter(idx, pos[:, a], AXIS_NAMES[pos.shape[1]][a], color=PALETTE[a])
                  for a in range(pos.shape[1])]
        vis_rows = np.nonzero(labels != "text")[0]
        p1 = panel(f"{LAYOUT_NAMES[A.LAYOUT_SCHEMES.index(scheme)]}: coordinates per token",
                   "token index (text | visual | text)", "coordinate", series=series,
                   vlines=[vline(float(vis_rows[0]) + 0.5, "visual block"),
                           vline(float(vis_rows[-1]) + 1.5)])
        sc = A.layout_scores(lay, scheme)[L - 1]
        p2 = panel("score of the last left-text query", "key token index",
                   "RoPE score (1 = same position)",
                   series=[bars(idx, sc, "q = k = uniform pairs", color=PALETTE[2])],
                   ylim=(-0.4, 1.05))
        g = A.modality_gaps(lay)[0]
        text = (f"gap before {_tuple(g['before'])}, gap after {_tuple(g['after'])}; "
                f"{g['tokens']} visual tokens count as {g['equivalent_tokens']:g}")
        return frame(p1, p2, text=text)

    return Explorer([Slider("L", list(Ls), Ls[0], "left text L"),
                     Slider("h", list(sizes), 2 if 2 in sizes else sizes[0], "rows h"),
                     Slider("w", list(sizes), 3 if 3 in sizes else sizes[0], "columns w"),
                     Slider("t", list(frames), frames[0], "frames t (1 = image)"),
                     Dropdown("scheme", list(A.LAYOUT_SCHEMES), "rope_tv", "scheme", list(LAYOUT_NAMES))],
                    compute, name="multimodal-rope-layout")


def score_map(sizes: Sequence[int] = (2, 3, 4), text: int = 3) -> Explorer:
    """The (N, N) RoPE score map of text + n x n image + text, per scheme
    (:func:`kexue.attention.layout_scores`)."""
    sizes = [check_int_in(v, 1, None, name="sizes") for v in check_grid(sizes, name="sizes", min_len=2)]
    text = check_int_in(text, 1, None, name="text")
    def compute(n, scheme):
        lay = A.layout_positions([("text", text), ("image", n, n), ("text", text)], scheme)
        S = A.layout_scores(lay, scheme)
        edges = np.arange(S.shape[0] + 1) + 0.5
        p = panel(f"{LAYOUT_NAMES[A.LAYOUT_SCHEMES.index(scheme)]}: score map",
                  "key token index", "query token index",
                  heatmap=heatmap(S, edges, edges, "RoPE score", vmin=-0.4, vmax=1.0),
                  vlines=[vline(text + 0.5), vline(text + n * n + 0.5)],
                  hlines=[hline(text + 0.5), hline(text + n * n + 0.5)], legend=False)
        cross = S[:text, text:text + n * n]
        return frame(p, text=f"mean text->image score {cross.mean():.3f}; max {cross.max():.3f}")

    return Explorer([Slider("n", list(sizes), sizes[1], "image side n"),
                     Dropdown("scheme", list(A.LAYOUT_SCHEMES), "rope_tv", "scheme", list(LAYOUT_NAMES))],
                    compute, name="multimodal-rope-scores")


EXPLORERS = (layout, score_map)
