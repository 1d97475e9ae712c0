"""Explorers of the chapter why-position-encoding: shuffling the tokens of NoPE self-attention, and
the position carried by the mean square of causal outputs. The numbers come from
:mod:`kexue.attention.position`."""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from kexue import attention as A
from kexue._validate import check_grid, check_int_in
from kexue.notebook import below
from kexue.widgets import PALETTE, Dropdown, Explorer, Slider, bars, frame, line, panel, scatter, vline

__all__ = ["EXPLORERS", "WEIGHT_NAMES", "shuffle", "variance"]

WEIGHT_NAMES = ("uniform causal (1/n)", "softmax causal (random q, k)",
                "softmax bidirectional (random q, k)")


def shuffle(L: int = 10, d: int = 16, shuffles: int = 5, seed: int = 0) -> Explorer:
    """Shuffle the input tokens and compare NoPE self-attention outputs.

    Slider: which shuffle (0 = identity, then fixed random permutations); dropdown:
    bidirectional or causal attention. Left: coordinate 1 of the output each token gets,
    before (line) and after shuffling (points, drawn at the token's original place): they
    coincide for bidirectional attention (permutation equivariance) and not for causal.
    Right: |f(Px) - P f(x)| per token (:func:`kexue.attention.self_attention`).
    """
    L = check_int_in(L, 2, 64, name="L")
    d = check_int_in(d, 1, None, name="d")
    shuffles = check_int_in(shuffles, 1, 20, name="shuffles")
    rng = np.random.default_rng(check_int_in(seed, 0, None, name="seed"))
    x = rng.normal(size=(L, d))
    Ws = [rng.normal(size=(d, d)) / np.sqrt(d) for _ in range(3)]
    perms = [np.arange(L)] + [rng.permutation(L) for _ in range(shuffles)]

    def compute(shuffle: int, mode: str) -> dict:
        causal = mode == "causal"
        p = perms[shuffle]
        y = A.self_attention(x, *Ws, causal=causal)[0]
        yp = A.self_attention(x[p], *Ws, causal=causal)[0]
        back = np.empty_like(yp)
        back[p] = yp                                   # output of token p[r] sits at row r
        dev = np.abs(back - y).max(axis=1)
        dev = np.where(dev < 1e-12, 0.0, dev)          # rounding noise is drawn as 0
        tok = list(range(1, L + 1))
        p1 = panel(f"Does token j keep its output after shuffling? ({mode})", "token j",
                   "coordinate 1 of its output",
                   series=[line(tok, y[:, 0], "original order", color=PALETTE[0]),
                           scatter(tok, back[:, 0], "shuffled order", color=PALETTE[3])])
        p2 = panel("Change of each token's output", "token j", "max |change|",
                   series=[bars(tok, dev, "|f(Px) - P f(x)|", color=PALETTE[2])],
                   ylim=(0, max(1.0, float(dev.max()) * 1.1)))
        order = " ".join(str(int(i) + 1) for i in p)
        largest = below(dev.max(), 1e-12) if dev.max() < 1e-12 else f"{dev.max():.3f}"
        return frame(p1, p2, text=f"reading order: {order}; largest change {largest}")

    return Explorer([Slider("shuffle", list(range(shuffles + 1)), 1, "shuffle (0 = none)", fmt="{:.0f}"),
                     Dropdown("mode", ["bidirectional", "causal"], "bidirectional", "attention")],
                    compute, name="why-position-encoding-shuffle")


def variance(ds: Sequence[int] = (16, 64, 256, 1024, 4096), heads: Sequence[int] = (1, 4, 16),
             ns: Sequence[int] = (4, 16, 64), L: int = 128, draws: int = 4,
             hist_draws: int = 200) -> Explorer:
    """The mean square of causal NoPE outputs against position, and its resolution.

    Controls: d (value dimension), the number of pooled heads H, the weights (uniform causal,
    random softmax causal, random softmax bidirectional) and a position n. Left (log-log):
    MS(y_n) averaged over `draws` independent draws against n (:func:`kexue.attention.nope_ms_curve`),
    with sigma^2/n. Right: the histograms of n_hat = 1/MS at positions n and n+1 over
    `hist_draws` independent draws (:func:`kexue.attention.row_square_sums`,
    :func:`kexue.attention.estimates_from_row_square_sums`): where they overlap, the two
    positions cannot be told apart.
    """
    ds = [check_int_in(v, 1, None, name="ds") for v in check_grid(ds, name="ds")]
    heads = [check_int_in(v, 1, None, name="heads") for v in check_grid(heads, name="heads")]
    ns = [check_int_in(v, 1, None, name="ns") for v in check_grid(ns, name="ns")]
    draws = check_int_in(draws, 1, None, name="draws")
    hist_draws = check_int_in(hist_draws, 1, None, name="hist_draws")
    L = check_int_in(L, 4, None, name="L")
    h_max = max(heads)

    @lru_cache(maxsize=None)
    def curve(d, weights):
        return A.nope_ms_curve(L, d, weights, draws=draws, seed=1)

    @lru_cache(maxsize=None)
    def row_sq(n, weights, seed):                  # the weights' part: shared by every d and H
        return A.row_square_sums(n, weights, heads=h_max, draws=hist_draws, d_head=64, L=L, rng=seed)

    def estimates(n, d, weights, H, seed):
        return A.estimates_from_row_square_sums(row_sq(n, weights, seed)[:, :H], d, rng=seed + 100)

    def compute(d: int, H: int, weights: str, n: int) -> dict:
        nn, ms = curve(d, weights)
        slope = A.loglog_slope(nn, ms)
        p1 = panel(f"Does MS(y_n) carry the position? ({WEIGHT_NAMES[A.NOPE_WEIGHTS.index(weights)]})",
                   "position n", "mean square of y_n",
                   series=[line(nn, ms, f"measured, d = {d} (slope {slope:.2f})", color=PALETTE[0]),
                           line(nn, 1.0 / nn, "sigma^2 / n", color=PALETTE[1], dash=True)],
                   vlines=[vline(float(n), f"n = {n}", color="#555555")],
                   xscale="log", yscale="log")
        a, b = estimates(n, d, weights, H, 2), estimates(n + 1, d, weights, H, 3)
        lo, hi = np.percentile(np.concatenate([a, b]), [0.5, 99.5])
        edges = np.linspace(lo, hi, 31)
        mids = 0.5 * (edges[1:] + edges[:-1])
        ha = np.histogram(np.clip(a, lo, hi), edges)[0] / a.size
        hb = np.histogram(np.clip(b, lo, hi), edges)[0] / b.size
        p2 = panel(f"Can n = {n} be told from n + 1? (H = {H} head(s))", "n_hat = 1 / MS",
                   "fraction of draws",
                   series=[bars(mids, ha, f"position {n}", color=PALETTE[0], width=float(edges[1] - edges[0])),
                           bars(mids, hb, f"position {n + 1}", color=PALETTE[3], fill=False,
                                width=float(edges[1] - edges[0]))],
                   vlines=[vline(float(n), color=PALETTE[0]), vline(float(n + 1), color=PALETTE[3])])
        text = f"log-log slope {slope:.3f}; n_hat at n = {n}: mean {a.mean():.1f}, " \
               f"relative spread {a.std() / a.mean():.3f}"
        if weights == "uniform":
            text += (f"; best threshold test n vs n+1: accuracy "
                     f"{A.adjacent_position_accuracy(n, d, heads=H):.3f}")
        return frame(p1, p2, text=text)

    return Explorer([Slider("d", list(ds), 256 if 256 in ds else ds[0], "value dimension d", fmt="{:.0f}"),
                     Slider("H", list(heads), heads[0], "heads pooled H", fmt="{:.0f}"),
                     Dropdown("weights", list(A.NOPE_WEIGHTS), "uniform", "attention weights",
                              list(WEIGHT_NAMES)),
                     Slider("n", list(ns), ns[1] if len(ns) > 1 else ns[0], "position n", fmt="{:.0f}")],
                    compute, name="why-position-encoding-variance")


EXPLORERS = (shuffle, variance)
