"""Explorers of chapter codes/fsq: the FSQ grid and the codebook-utilisation dashboard.

No mathematics here: the quantisers and statistics come from :mod:`kexue.codes`, the saved
digits runs from :func:`kexue.codes.runs_by_key`; this module only lays them out as frames.
"""
from __future__ import annotations

import numpy as np

from kexue import codes as C
from kexue._validate import check_int_in
from kexue.widgets import (PALETTE, Dropdown, Explorer, Slider, bars, frame, heatmap, hline,
                           panel, scatter, vline)

#: The runs the dashboard shows by default and their display names.
DASHBOARD_NAMES = {"fsq": "FSQ [8,6,5]", "vq-randn-ste": "VQ, N(0,1) init",
                   "vq-data-ste": "VQ, data init", "vq-small-ste": "VQ, small init"}


def fsq_grid(n: int = 2000, n_show: int = 150, seed: int = 0) -> Explorer:
    """FSQ grid explorer (d = 2, sigmoid bound): sliders L1, L2 and the latent scale s.

    Frame: n_show of n Gaussian latents z ~ N(0, s^2 I) over the cell edges logit((k+1/2)/(L-1))
    of both channels; the sorted code-usage histogram of all n latents with the uniform level
    1/K; readouts K, used codes, utilisation and perplexity.
    """
    n = check_int_in(n, 10, 10 ** 6, name="n")
    n_show = check_int_in(n_show, 1, n, name="n_show")
    rng = np.random.default_rng(check_int_in(seed, 0, None, name="seed"))
    base = rng.standard_normal((n, 2))

    def compute(L1: int, L2: int, scale: float) -> dict:
        lv = [int(L1), int(L2)]
        z = scale * base
        idx = C.levels_to_indices(C.fsq_round(z, lv), lv)
        K = lv[0] * lv[1]
        use = C.codebook_usage(idx, K)
        counts = np.sort(use["counts"])[::-1] / n
        lim = 4.0
        e1, e2 = C.fsq_level_edges(lv[0]), C.fsq_level_edges(lv[1])
        left = panel(f"levels [{L1}, {L2}], z ~ N(0, {scale:g}² I)", "z₁", "z₂",
                     series=[scatter(np.clip(z[:n_show, 0], -lim, lim),
                                     np.clip(z[:n_show, 1], -lim, lim), "latents",
                                     color=PALETTE[0])],
                     vlines=[vline(float(v), color="#777777") for v in e1],
                     hlines=[hline(float(v), color="#777777") for v in e2],
                     xlim=[-lim, lim], ylim=[-lim, lim])
        right = panel("How evenly are the K codes used?", "code rank (most used first)",
                      "share of latents",
                      series=[bars(list(range(1, K + 1)), counts, "code usage", color=PALETTE[1])],
                      hlines=[hline(1.0 / K, "uniform 1/K", color=PALETTE[3])])
        text = (f"K = {K} · used {use['used']}/{K} = {100 * use['utilization']:.1f}% · "
                f"perplexity {use['perplexity']:.1f} · dead {use['dead']}")
        return frame(left, right, text=text)

    Ls = [2, 3, 4, 5, 6, 8]
    controls = [Slider("L1", Ls, 5, label="L₁", fmt="{:d}"),
                Slider("L2", Ls, 5, label="L₂", fmt="{:d}"),
                Slider("scale", [0.3, 0.5, 1.0, 2.0, 3.0], 1.0, label="latent scale s")]
    return Explorer(controls, compute, name="fsq-grid")


def montage(imgs: np.ndarray, recon: np.ndarray, per_row: int = 4) -> np.ndarray:
    """Pairs of 8x8 digits, original above its reconstruction, ``per_row`` pairs per row.

    1-pixel gaps inside a pair and 2-pixel gaps between pairs; rows are flipped because heatmap
    rows go upward, so the picture reads top to bottom. Layout only (numpy).
    """
    per_row = check_int_in(per_row, 1, None, name="per_row")
    imgs, recon = np.asarray(imgs, float), np.asarray(recon, float)
    if imgs.ndim != 2 or imgs.shape[1] != 64 or recon.shape != imgs.shape:
        raise ValueError(f"imgs and recon must both be (n, 64), got {imgs.shape} and {recon.shape}")
    n = imgs.shape[0]
    rows = -(-n // per_row)
    out = np.zeros((rows * 19 - 2, per_row * 10 - 2))
    for i in range(n):
        r, c = divmod(i, per_row)
        y, x = 19 * r, 10 * c
        out[y:y + 8, x:x + 8] = np.clip(imgs[i].reshape(8, 8), 0, 1)
        out[y + 9:y + 17, x:x + 8] = np.clip(recon[i].reshape(8, 8), 0, 1)
    return out[::-1]


def usage_dashboard(runs: dict | None = None, names: dict | None = None) -> Explorer:
    """Codebook-utilisation dashboard over finished runs.

    ``runs``: {(method_key, seed): result of :func:`kexue.codes.train_digits_autoencoder` (or
    the same dict loaded from JSON)}; by default the committed runs of :data:`DASHBOARD_NAMES`.
    Controls: method dropdown and seed. Frame: sorted usage histogram (dead codes flat at zero),
    originals over reconstructions, readouts utilisation, perplexity, MSE.
    """
    if runs is None:
        runs = {k: r for k, r in C.runs_by_key().items() if k[0] in DASHBOARD_NAMES}
        names = DASHBOARD_NAMES if names is None else names
    if not runs:
        raise ValueError("runs must not be empty")
    keys = list(dict.fromkeys(k for k, _ in runs))
    seeds = sorted({s for _, s in runs})
    names = names or {}

    def compute(method: str, seed: int) -> dict:
        r = runs[(method, seed)]
        counts = np.sort(np.asarray(r["counts"], float))[::-1]
        K = counts.size
        share = counts / counts.sum()
        hist = panel(f"{names.get(method, method)}: code usage, seed {seed}",
                     "code rank (most used first)", "share of images",
                     series=[bars(list(range(1, K + 1)), share, "usage", color=PALETTE[0])],
                     hlines=[hline(1.0 / K, "uniform 1/K", color=PALETTE[3])])
        m = montage(np.asarray(r["x"]), np.asarray(r["recon"]))
        rec = panel("each digit above its reconstruction", "", "",
                    heatmap=heatmap(m, range(m.shape[1] + 1), range(m.shape[0] + 1), "pixel",
                                    vmin=0, vmax=1, cmap="gray_r", aspect="equal"), legend=False)
        used = int((counts > 0).sum())
        text = (f"used {used}/{K} = {100 * used / K:.1f}% · perplexity {r['perplexity']:.1f} · "
                f"recon MSE {r['mse']:.4f}")
        return frame(hist, rec, text=text)

    controls = [Dropdown("method", keys, keys[0], label="method",
                         names=[names.get(k, k) for k in keys]),
                Slider("seed", seeds, seeds[0], label="seed", fmt="{:d}") if len(seeds) > 1
                else Dropdown("seed", seeds, seeds[0], label="seed")]
    return Explorer(controls, compute, name="codebook-usage")


EXPLORERS = (fsq_grid, usage_dashboard)
