"""Explorers of the chapter low-rank-cur: CUR of the digits matrix (64 pixels x 1797 images)
read as matrix completion (r full skeleton images, r pixels of every image), for each selection
rule and core. The numbers come from :mod:`kexue.matrices.lowrank_cur`; only layout here."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from kexue.datasets import digits
from kexue.matrices import lowrank_cr as CR
from kexue.matrices import lowrank_cur as CUR
from kexue.widgets import Dropdown, Explorer, Slider, frame, heatmap, line, panel, vline, PALETTE

RANKS = (2, 3, 5, 8, 12, 20)
METHODS = ("deim", "leverage", "norm", "uniform", "cpqr")
NAMES = ("DEIM", "leverage scores (top r)", "largest norms", "uniform random", "pivoted QR")
SHOWN = (0, 1, 2, 3, 4, 5)


@lru_cache(maxsize=1)
def digit_matrix() -> tuple[np.ndarray, np.ndarray]:
    """M = D^T (64 pixels x 1797 images) and the labels."""
    D, y = digits()
    return np.ascontiguousarray(D.T), y


@lru_cache(maxsize=None)
def selection(method: str, r: int) -> tuple[np.ndarray, np.ndarray]:
    """(columns = skeleton images, rows = pixels read) of one rule (seed 0 for the random one)."""
    M, _ = digit_matrix()
    return CUR.select_columns(M, r, method, seed=0), CUR.select_rows(M, r, method, seed=0)


@lru_cache(maxsize=None)
def error_curves(core: str) -> dict:
    """||M - CUR|| / ||M|| for every rule and rank, and the SVD floor."""
    M, _ = digit_matrix()
    ref = float(np.linalg.norm(M))
    out = {m: [CUR.cur_error(M, *selection(m, r), core) / ref for r in RANKS] for m in METHODS}
    out["SVD floor"] = [CR.svd_floor(M, r) / ref for r in RANKS]
    return out


def _mosaic(images: np.ndarray, per_row: int) -> np.ndarray:
    rows = int(np.ceil(len(images) / per_row))
    out = np.zeros((rows * 9 - 1, per_row * 9 - 1))
    for t, img in enumerate(images):
        i, j = divmod(t, per_row)
        out[i * 9:i * 9 + 8, j * 9:j * 9 + 8] = img.reshape(8, 8)
    return out[::-1]


def completion() -> Explorer:
    """Which pixels are read, how six digits come back from them, and the error of every rule."""
    def compute(method: str, core: str, r: int) -> dict:
        M, y = digit_matrix()
        cols, rows = selection(method, r)
        C, U, R = CUR.cur(M, cols, rows, core)
        shown = [int(np.flatnonzero(y == c)[0]) for c in SHOWN]
        recon = np.clip((C @ U @ R[:, shown]).T, 0, 1)           # shown clipped to the ink range
        mask = np.zeros(64)
        mask[rows] = 1.0
        no_ticks = ([], [])
        left = panel(f"The {r} pixels read from every image (rows R)", "", "", xticks=no_ticks, legend=False,
                     heatmap=heatmap(mask.reshape(8, 8)[::-1], np.arange(9), np.arange(9), "read", vmin=0, vmax=1,
                                             cmap="gray_r", aspect="equal"))
        pairs = np.vstack([M[:, shown[:3]].T, recon[:3], M[:, shown[3:]].T, recon[3:]])
        mos = _mosaic(pairs, 3)
        mid = panel("Six digits (rows 1, 3) and C U R (rows 2, 4)", "", "", xticks=no_ticks, legend=False,
                    heatmap=heatmap(mos, np.arange(mos.shape[1] + 1), np.arange(mos.shape[0] + 1),
                                    "ink (C U R clipped to [0, 1])", vmin=0, vmax=1, cmap="gray_r",
                                    aspect="equal"))
        curves = error_curves(core)
        series = [line(RANKS, curves[m], n, color=PALETTE[i]) for i, (m, n) in enumerate(zip(METHODS, NAMES))]
        series.append(line(RANKS, curves["SVD floor"], "SVD floor", color=PALETTE[7], dash=True))
        right = panel(f"Relative error, {core} core", "r (images and pixels kept)", "‖M − CUR‖ / ‖M‖",
                      series=series, vlines=[vline(r, f"r = {r}")], yscale="log")
        M_ref = float(np.linalg.norm(M))
        e_opt, e_cross = (CUR.cur_error(M, cols, rows, c) / M_ref for c in ("optimal", "cross"))
        cond = float(np.linalg.cond(M[np.ix_(rows, cols)]))
        text = (f"{NAMES[METHODS.index(method)]}, r = {r}: relative error {e_opt:.3f} with the optimal core, "
                f"{e_cross:.3f} with the cross core; condition number of the {r}×{r} intersection {cond:.3g}; "
                f"skeleton labels {sorted(y[cols].tolist())}")
        return frame(left, mid, right, text=text)

    return Explorer([Dropdown("method", list(METHODS), "deim", label="selection", names=list(NAMES)),
                     Dropdown("core", list(CUR.CUR_CORES), "optimal", label="core",
                              names=["optimal C⁺MR⁺", "cross (M[S₂,S₁])⁺"]),
                     Slider("r", RANKS, 8, label="r", fmt="{:d}")], compute, name="low-rank-cur-completion")


EXPLORERS = (completion,)
