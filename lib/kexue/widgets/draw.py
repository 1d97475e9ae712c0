"""Drawing a frame with matplotlib (live widget, PNG fallback) and timing it (benchmarks)."""
from __future__ import annotations

import itertools
import math
import time
from typing import Sequence

import numpy as np

from .frames import PALETTE


def display_figure(fig) -> None:
    """Display a matplotlib figure as PNG in the current output area."""
    from IPython.display import display
    display(fig)


def _log_ok(values: Sequence[float]) -> bool:
    return all(v > 0 for v in values)


def draw_frame(fr: dict):
    """Draw a frame with matplotlib; returns the Figure (one axes per panel)."""
    import matplotlib.pyplot as plt

    panels = fr["panels"]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.6), squeeze=False)
    for ax, p in zip(axes[0], panels):
        _draw_panel(ax, p)
    # fixed margins in inches (tight_layout would double the time of a live update)
    width, height = fig.get_size_inches()
    text = fr.get("text", "")
    lines = math.ceil(len(text) / (14 * width)) if text else 0      # about 14 characters an inch
    if lines > 1:
        height += 0.16 * (lines - 1)
        fig.set_size_inches(width, height)
    bottom = 0.55 + 0.12 + 0.16 * lines if text else 0.55
    fig.subplots_adjust(left=0.7 / width, right=1 - 0.2 / width, top=1 - 0.4 / height,
                        bottom=bottom / height, wspace=0.38)
    if fr.get("text"):
        fig.text(0.5, 0.01, text, ha="center", va="bottom", fontsize=9, wrap=True)
    return fig


def _draw_panel(ax, p: dict) -> None:
    hm = p.get("heatmap")
    if hm is not None:
        z = np.asarray(hm["z"], dtype=float)
        mesh = ax.pcolormesh(hm["x"], hm["y"], z, cmap=hm.get("cmap", "viridis"), vmin=hm.get("vmin"),
                             vmax=hm.get("vmax"), shading="flat")
        cb = ax.figure.colorbar(mesh, ax=ax)
        cb.set_label(hm.get("label", ""))
    for s in p["series"]:
        color = s.get("color", PALETTE[0])
        ls = "--" if s.get("dash") else "-"
        if s["kind"] == "bar":
            width = s.get("width", 0.8)
            if s.get("fill", True):
                ax.bar(s["x"], s["y"], width=width, color=color, label=s.get("label"), alpha=0.85)
            else:
                ax.bar(s["x"], s["y"], width=width, fill=False, edgecolor=color, linewidth=1.6,
                       linestyle=ls, label=s.get("label"))
        elif s["kind"] == "line":
            ax.plot(s["x"], s["y"], ls, color=color, label=s.get("label"), lw=1.8)
        else:
            ax.plot(s["x"], s["y"], "o", color=color, label=s.get("label"), ms=4)
    for v in p.get("vlines", []):
        ax.axvline(v["x"], color=v.get("color", "#555555"), ls="--" if v.get("dash", True) else "-",
                   lw=1.2, label=v.get("label"))
    for h in p.get("hlines", []):
        ax.axhline(h["y"], color=h.get("color", "#555555"), ls="--" if h.get("dash", True) else "-",
                   lw=1.2, label=h.get("label"))
    ax.set_xscale(p.get("xscale", "linear"))
    ax.set_yscale(p.get("yscale", "linear"))
    if "xlim" in p:
        ax.set_xlim(*p["xlim"])
    if "ylim" in p:
        ax.set_ylim(*p["ylim"])
    if "xticks" in p:
        ax.set_xticks(p["xticks"][0], p["xticks"][1])
    ax.set_title(p["title"])
    ax.set_xlabel(p["xlabel"])
    ax.set_ylabel(p["ylabel"])
    labelled = [s for s in p["series"] if s.get("label")] + [
        v for v in p.get("vlines", []) + p.get("hlines", []) if v.get("label")]
    if p.get("legend", True) and labelled:
        ax.legend(fontsize=8)


def time_updates(explorer, samples: int = 20) -> dict:
    """For scripts/bench.py: time the live update (compute + matplotlib drawing) at up to
    `samples` states spread over the grid; p50/p95 in milliseconds."""
    import matplotlib.pyplot as plt
    grids = [list(c.options) for c in explorer.controls]
    combos = list(itertools.product(*grids))
    picks = sorted({round(i * (len(combos) - 1) / max(samples - 1, 1)) for i in range(samples)})
    times = []
    for i in picks:
        params = dict(zip([c.name for c in explorer.controls], combos[i]))
        t0 = time.perf_counter()
        fig = explorer.figure(**params)
        fig.canvas.draw()
        times.append(1000 * (time.perf_counter() - t0))
        plt.close(fig)
    return {"explorer": explorer.name, "states": len(combos),
            "update_p50_ms": float(np.percentile(times, 50)),
            "update_p95_ms": float(np.percentile(times, 95))}
