"""Explorers of chapter diffusion/ddcm: the digit codec's rate-distortion trade-off.

No mathematics here: the teacher, the codec and the bit count come from
:mod:`kexue.diffusion.ddcm`; this module lays the numbers out as frames.
"""
from __future__ import annotations

import numpy as np

from kexue import diffusion as D
from kexue.datasets import digits
from kexue.widgets import PALETTE, Explorer, Slider, frame, heatmap, line, panel, scatter

HELD_OUT = slice(1500, 1520)          # 20 digits the teacher was not fitted on
SHOWN = 5                             # how many of them the figure shows
LEVELS = (2, 3, 5, 9, 17)             # the scalar-quantisation baseline


def held_out_digits() -> np.ndarray:
    """The 20 held-out digits (rows 1500..1519 of the 8x8 digits, in [-1, 1]), shape (20, 64)."""
    return digits("signed")[0][HELD_OUT]


def _strip(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Originals over reconstructions, 8x8 images separated by a mid-grey line, rows flipped for y up."""
    n = len(top)
    out = np.full((17, n * 9 - 1), -1.0)          # gaps at the background value
    for j in range(n):
        out[0:8, j * 9:j * 9 + 8] = top[j].reshape(8, 8)
        out[9:17, j * 9:j * 9 + 8] = bottom[j].reshape(8, 8)
    return out[::-1]


def codec(rd: dict | None = None) -> Explorer:
    """Bits against error for every codebook size K and step count T, and what the digits look like.

    ``rd`` is a result of :func:`kexue.diffusion.rate_distortion` on :func:`held_out_digits`
    (computed here when None). Left: MSE against bits per digit, one curve per T, and rounding
    every pixel to a few levels as the baseline; the chosen (K, T) is marked. Right: five originals (top) over their reconstructions (bottom).
    """
    x0 = held_out_digits()
    if rd is None:
        rd = D.rate_distortion(x0, D.digits_gmm())
    Ks, steps = list(rd["Ks"]), list(rd["steps"])

    def compute(K: int, T: int) -> dict:
        i, j = steps.index(T), Ks.index(K)
        series = [line(rd["bits"][a], rd["mse"][a], f"T = {s}", color=PALETTE[a % len(PALETTE)])
                  for a, s in enumerate(steps)]
        sq = [D.uniform_quantise(x0, L) for L in LEVELS]
        series.append(line([b for _, b in sq[:-1]], [float(((r - x0) ** 2).mean()) for r, _ in sq[:-1]],
                           "pixel quantisation (2-9 levels)", color="#555555", dash=True))
        series.append(scatter([rd["bits"][i, j]], [rd["mse"][i, j]], f"K = {K}, T = {T}", color="#000000"))
        left = panel("How much error does each bit buy?", "bits per digit", "MSE per pixel",
                     series=series, xscale="log", yscale="log")
        img = _strip(x0[:SHOWN], rd["rec"][i, j][:SHOWN])
        right = panel(f"Top: held-out digits; bottom: decoded from {int(rd['bits'][i, j])} bits",
                      "", "", heatmap=heatmap(img, np.arange(img.shape[1] + 1), np.arange(18),
                                              "pixel", vmin=-1, vmax=1, cmap="gray_r",
                                              aspect="equal"), legend=False,
                      xticks=([], []))
        mse = float(rd["mse"][i, j])
        return frame(left, right, text=f"K = {K}, T = {T}: {T - 1} tokens, {int(rd['bits'][i, j])} bits, "
                                       f"MSE {mse:.4f}, PSNR {10 * np.log10(4 / mse):.1f} dB")

    controls = [Slider("K", Ks, Ks[2] if len(Ks) > 2 else Ks[0], label="codebook size K", fmt="{:d}"),
                Slider("T", steps, steps[-1], label="steps T", fmt="{:d}")]
    return Explorer(controls, compute, name="ddcm-codec")


EXPLORERS = (codec,)
