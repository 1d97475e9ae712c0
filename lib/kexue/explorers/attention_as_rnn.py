"""Explorers of the chapter attention-as-rnn: the key-by-key scan, the cost of decoding with and
without a KV cache, and the post's "RAM" against the context. The numbers come from
:mod:`kexue.attention.rnn`, :mod:`kexue.attention.core` and :mod:`kexue.attention.kv_cache`."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from kexue import attention as A
from kexue._validate import check_grid, check_int_in, check_positive
from kexue.notebook import below
from kexue.widgets import (PALETTE, Dropdown, Explorer, Slider, bars, frame, hline, line, panel,
                           vline)

__all__ = ["EXPLORERS", "SCAN_MODES", "SCAN_NAMES", "scan", "cost", "ram_disk"]

SCAN_MODES = ("stable", "naive", "stable_boost", "naive_boost")
SCAN_NAMES = ("running max (stable)", "as written (naive)", "running max, q x 200",
              "as written, q x 200")


def scan(T: int = 10, d: int = 16, seed: int = 0, boost: float = 200.0) -> Explorer:
    """Causal attention for query i computed as an RNN scanning keys i, i-1, ..., 1.

    Sliders: the query position i and the scan step t; dropdown: the running-max recurrence
    or the post's raw one, at ordinary scale or with q multiplied by ``boost`` (scores in the
    thousands: the raw e^{q.k} overflows). Left: the first two coordinates of the partial
    output y^(t)/z^(t) against t (:func:`kexue.attention.scan_partials`), converging to o_i
    (dashed, :func:`kexue.attention.attention`). Right: the weight each key holds after t steps
    (keys not yet scanned hold 0; the exact softmax weights as outlines). The post's Figure 3.
    """
    T = check_int_in(T, 2, 64, name="T")
    d = check_int_in(d, 1, None, name="d")
    rng = np.random.default_rng(check_int_in(seed, 0, None, name="seed"))
    boost = check_positive(boost, name="boost")
    q, k, v = rng.normal(size=(3, T, d))

    def compute(i: int, t: int, mode: str) -> dict:
        stable = mode.startswith("stable")
        qi = q[i - 1] * (boost if mode.endswith("boost") else 1.0)
        K, V = k[:i], v[:i]
        s = K @ qi                                                    # the scores, for the readout
        o_exact, w_exact = A.attention(qi[None], K, V, scale=1.0, return_weights=True)
        o_exact, w_exact = o_exact[0], w_exact[0]
        parts, over = A.scan_partials(qi, K, V, stable)
        steps = min(t, i)
        done = min(steps, parts.shape[0])
        xs = list(range(1, done + 1))
        n_coord = min(2, V.shape[1])
        series = [line(xs, parts[:done, c], f"partial output, coordinate {c + 1}", color=PALETTE[c])
                  for c in range(n_coord)]
        hl = [hline(float(o_exact[c]), f"o_i, coordinate {c + 1}", color=PALETTE[c])
              for c in range(n_coord)]
        vl = [vline(float(steps), "current step", color="#555555")]
        if over is not None:
            vl.append(vline(float(over[0]), f"raw recurrence: {over[1]}", color=PALETTE[3]))
        p1 = panel(f"Does the scan reach o_{i}? ({SCAN_NAMES[SCAN_MODES.index(mode)]})",
                   "scan step t (key i - t + 1)", "partial y/z", series=series, hlines=hl,
                   vlines=vl, xlim=(0.5, T + 0.5))
        # weights held after `done` steps: keys i, i-1, ..., i-done+1 scanned
        held = np.zeros(i)
        if done:
            held[i - done:] = A.attention(qi[None], K[i - done:], V[i - done:], scale=1.0,
                                          return_weights=True)[1][0]
        keys = list(range(1, i + 1))
        p2 = panel("Which keys has the scan read?", "key position j", "weight on v_j",
                   series=[bars(keys, held, f"after {done} step(s)", color=PALETTE[2]),
                           bars(keys, w_exact, "final softmax weights", color="#555555", fill=False)],
                   xlim=(0.5, T + 0.5), ylim=(0, 1.05))
        if over is not None and steps >= over[0] and over[1] == "overflow":
            text = (f"raw recurrence overflows at step {over[0]}: the score {s[i - over[0]]:.0f} "
                    f"exceeds log(max float64) = {A.LOG_MAX_FLOAT64:.1f}, so y and z become inf and y/z = nan")
        elif over is not None and steps >= over[0]:
            text = (f"raw recurrence underflows at step {over[0]}: every score read so far is "
                    f"below -745 (largest {s[i - over[0]:].max():.0f}), so y = z = 0 and "
                    f"y/z = 0/0 = nan")
        elif done:
            err = float(np.abs(parts[done - 1] - o_exact).max())
            text = (f"step {done} of {i}: max score so far {s[i - done:].max():.2f}; |partial - o_i| "
                    f"{below(err, 1e-12) if err < 1e-12 else f'= {err:.3g}'}")
            if done == i:
                text += " (the scan is complete: exact to rounding)"
        else:
            text = "no key read yet"
        return frame(p1, p2, text=text)

    steps = list(range(1, T + 1))
    return Explorer([Slider("i", steps, T // 2, "query position i", fmt="{:.0f}"),
                     Slider("t", steps, T // 4, "scan step t", fmt="{:.0f}"),
                     Dropdown("mode", list(SCAN_MODES), "stable", "recurrence", list(SCAN_NAMES))],
                    compute, name="attention-as-rnn-scan")


def cost(layers: Sequence[int] = (1, 2, 3), lengths: Sequence[int] = (8, 16, 32, 64),
         d: int = 16) -> Explorer:
    """Per-token cost and stored floats of KV-cache vs recompute decoding.

    Sliders: N layers and the longest length T. Left (log-log): score evaluations for the
    token at position t, N t for the KV cache and C_N(t) (:func:`kexue.attention.recompute_cost`)
    for recompute decoding, with least-squares slopes over t in [T/2, T]. Right (log-log):
    stored floats, the cache's 2 N d t (:func:`kexue.attention.kv_cache_elements`) against the
    recompute decoder's constant peak (:func:`kexue.attention.recompute_peak_floats`).
    """
    d = check_int_in(d, 1, None, name="d")
    Ns = [check_int_in(n, 1, 6, name="layers") for n in check_grid(layers, name="layers")]
    Ts = [check_int_in(T, 4, 4096, name="lengths") for T in check_grid(lengths, name="lengths")]

    def compute(N: int, T: int) -> dict:
        ts = np.arange(1, T + 1)
        kv = N * ts
        rc = np.array([A.recompute_cost(N, int(t)) for t in ts], dtype=float)
        tail = ts >= T // 2
        s_kv, s_rc = A.loglog_slope(ts[tail], kv[tail]), A.loglog_slope(ts[tail], rc[tail])
        p1 = panel(f"Score evaluations per token, N = {N}", "position t", "evaluations",
                   series=[line(ts, kv, f"KV cache: N t (slope {s_kv:.2f})", color=PALETTE[0]),
                           line(ts, rc, f"recompute: C_N(t) (slope {s_rc:.2f})", color=PALETTE[3])],
                   xscale="log", yscale="log")
        per_token = A.kv_cache_elements("mha", n_layers=N, n_heads=1, head_dim=d)   # 2 N d
        cache = per_token * ts.astype(float)
        peak = float(A.recompute_peak_floats(N, d))
        p2 = panel(f"Stored floats, d = {d}", "position t", "floats",
                   series=[line(ts, cache, "KV cache: 2 N d t", color=PALETTE[0]),
                           line(ts, [peak] * T, "recompute: peak working floats", color=PALETTE[3])],
                   xscale="log", yscale="log")
        ratio = A.recompute_cost(N, T) / A.recompute_cost(N, T // 2)
        total = sum(A.recompute_cost(N, int(t)) for t in ts)
        text = (f"C_{N}({T}) = {A.recompute_cost(N, T)}; C_{N}({T})/C_{N}({T // 2}) = {ratio:.2f} "
                f"(tends to 2^{N} = {2 ** N}); whole sequence: {total} evaluations vs "
                f"{int(kv.sum())} with a cache; cache {int(cache[-1])} floats at t = {T} vs "
                f"{int(peak)} floats")
        return frame(p1, p2, text=text)

    return Explorer([Slider("N", Ns, Ns[min(1, len(Ns) - 1)], "layers N", fmt="{:.0f}"),
                     Slider("T", Ts, Ts[-1], "longest position T", fmt="{:.0f}")],
                    compute, name="attention-as-rnn-cost")


def ram_disk(contexts: Sequence[int] = (1_024, 8_192, 32_768, 131_072, 1_048_576,
                                        10_485_760)) -> Explorer:
    """The post's "RAM" (2 N hidden numbers) against the "disk" (context tokens).

    Dropdown: a published model (:data:`kexue.attention.MODEL_CONFIGS`); slider: the context
    length. One log-log panel: tokens on the disk grow with the context, the RAM
    (:func:`kexue.attention.config_ram_floats`) is flat; they cross at a context of that many
    tokens, where the post expects the fixed state to start limiting the model.
    """
    ctx = [check_int_in(c, 1, None, name="contexts") for c in check_grid(contexts, name="contexts")]

    def compute(model: str, t: int) -> dict:
        c = A.MODEL_CONFIGS[model]
        label, n, h = c["label"], c["n_layers"], c["d_model"]
        ram = A.config_ram_floats(model)
        xs = np.logspace(0, math.log10(max(ctx) * 10), 60)
        p = panel(f"When does the context outgrow the RAM? ({label})", "context length (tokens)",
                  "numbers", series=[
                      line(xs, xs, "disk: token ids in the context", color=PALETTE[0]),
                      line(xs, np.full_like(xs, ram), f"RAM: 2 x {n} layers x {h} = {ram:,}",
                           color=PALETTE[3])],
                  vlines=[vline(float(t), f"context {t:,}", color="#555555")],
                  xscale="log", yscale="log")
        ratio = t / ram
        kv = A.config_cache_elements(model) * t
        text = (f"{label}: RAM {ram:,} numbers; a context of {t:,} tokens is {ratio:.3g} x the RAM "
                f"({'beyond' if ratio > 1 else 'within'} the fixed state); its KV cache would hold "
                f"{kv:,} numbers")
        return frame(p, text=text)

    return Explorer([Dropdown("model", list(A.MODEL_CONFIGS), "llama2-70b", "model",
                              [c["label"] for c in A.MODEL_CONFIGS.values()]),
                     Slider("t", ctx, ctx[min(4, len(ctx) - 1)], "context length", fmt="{:,.0f}")],
                    compute, name="attention-as-rnn-ram")


EXPLORERS = (scan, cost, ram_disk)
