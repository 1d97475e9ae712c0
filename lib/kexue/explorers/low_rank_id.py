"""Explorers of the chapter low-rank-id: which digit images make a good skeleton for all 1,797,
and how the column-selection rules compare with the SVD floor. The numbers come from
:mod:`kexue.matrices.interpolative`; nothing is computed here but the layout."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from kexue.datasets import digits
from kexue.matrices import interpolative as ID
from kexue.matrices import lowrank_cr as CR
from kexue.widgets import Dropdown, Explorer, Slider, frame, heatmap, line, panel, vline, PALETTE

RANKS = (1, 2, 3, 5, 8, 12, 20)
METHODS = ("cpqr", "greedy", "sampling", "sketch", "random")
NAMES = ("pivoted QR", "greedy min-residual", "column sampling (k = 3r)", "Gaussian sketch (d = 2r)",
         "uniform random columns")
SHOWN = (0, 1, 2, 3, 4, 5)          # digits whose reconstructions are shown (first of each class)


@lru_cache(maxsize=1)
def digit_columns() -> tuple[np.ndarray, np.ndarray]:
    """M = D^T (64 x 1797): every column one image, pixels in [0, 1]; and the labels."""
    D, y = digits()
    return np.ascontiguousarray(D.T), y


def select(method: str, r: int, seed: int = 0) -> np.ndarray:
    """The skeleton indices of one method (seeded for the random ones)."""
    M, _ = digit_columns()
    if method == "cpqr":
        return _nested("cpqr")[:r]
    if method == "greedy":
        return _nested("greedy")[:r]
    if method == "sampling":
        return ID.id_column_sampling(M, r, 3 * r, seed=seed)[0]
    if method == "sketch":
        return ID.id_random_projection(M, r, 2 * r, seed=seed)[0]
    return np.random.default_rng(seed).choice(M.shape[1], size=r, replace=False)


@lru_cache(maxsize=None)
def _nested(method: str) -> np.ndarray:
    # both greedy rules choose one column after another: the first r of a run to 20 are the r-run
    M, _ = digit_columns()
    fn = ID.id_cpqr if method == "cpqr" else ID.id_greedy_min_residual
    return fn(M, max(RANKS))[0]


@lru_cache(maxsize=None)
def error_curves() -> dict:
    """||M - C C^+ M|| / SVD floor for every method and rank (random methods: mean of 5 seeds)."""
    M, _ = digit_columns()
    out = {}
    for method in METHODS:
        seeds = (0,) if method in ("cpqr", "greedy") else range(5)
        out[method] = [float(np.mean([ID.id_error(M, select(method, r, s)) for s in seeds])) / CR.svd_floor(M, r)
                       for r in RANKS]
    return out


def _mosaic(images: np.ndarray, per_row: int) -> np.ndarray:
    """Tile 8x8 images (k, 64) into one array with a one-pixel gap (NaN-free: gaps are 0)."""
    k = len(images)
    rows = int(np.ceil(k / per_row))
    out = np.zeros((rows * 9 - 1, per_row * 9 - 1))
    for t, img in enumerate(images):
        i, j = divmod(t, per_row)
        out[i * 9:i * 9 + 8, j * 9:j * 9 + 8] = img.reshape(8, 8)
    return out[::-1]                                   # row 0 at the bottom of a heatmap


def skeleton() -> Explorer:
    """The chosen skeleton images, reconstructions of six other digits, and error against r."""
    def compute(method: str, r: int) -> dict:
        M, y = digit_columns()
        idx = select(method, r)
        Z = ID.id_coefficients(M, idx)
        shown = [int(np.flatnonzero(y == c)[0]) for c in SHOWN]
        recon = np.clip((M[:, idx] @ Z[:, shown]).T, 0, 1)
        tiles = _mosaic(M[:, idx].T, per_row=int(np.ceil(np.sqrt(1.5 * r))))
        pairs = np.vstack([M[:, shown[:3]].T, recon[:3], M[:, shown[3:]].T, recon[3:]])
        both = _mosaic(pairs, per_row=3)             # rows: digits, C Z, digits, C Z
        ph, pw = tiles.shape
        no_ticks = ([], [])
        left = panel(f"The {r} skeleton image{'s' if r > 1 else ''}", "", "", xticks=no_ticks,
                     heatmap=heatmap(tiles, np.arange(pw + 1), np.arange(ph + 1), "ink", vmin=0, vmax=1,
                                     cmap="gray_r", aspect="equal"),
                     legend=False)
        bh, bw = both.shape
        mid = panel("Six digits (rows 1, 3) and C Z (rows 2, 4)", "", "", xticks=no_ticks,
                    heatmap=heatmap(both, np.arange(bw + 1), np.arange(bh + 1), "ink", vmin=0, vmax=1,
                                    cmap="gray_r", aspect="equal"),
                    legend=False)
        curves = error_curves()
        right = panel("How close to the best rank-r error?", "r (columns kept)", "ID error / SVD floor",
                      series=[line(RANKS, curves[m], n, color=PALETTE[i], dash=(m == "random"))
                              for i, (m, n) in enumerate(zip(METHODS, NAMES))],
                      vlines=[vline(r, f"r = {r}")], xscale="log")
        mask = np.ones(M.shape[1], dtype=bool)
        mask[idx] = False
        err = ID.id_error(M, idx)
        text = (f"{NAMES[METHODS.index(method)]}, r = {r}: ‖M − CZ‖ = {err:.2f}, {err / CR.svd_floor(M, r):.3f} × the SVD floor; "
                f"max |z| over the other columns {np.abs(Z[:, mask]).max():.2f}; skeleton labels {sorted(y[idx].tolist())}")
        return frame(left, mid, right, text=text)

    return Explorer([Dropdown("method", list(METHODS), "cpqr", label="column choice", names=list(NAMES)),
                     Slider("r", RANKS, 5, label="r", fmt="{:d}")], compute, name="low-rank-id-skeleton")


EXPLORERS = (skeleton,)
