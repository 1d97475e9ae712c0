"""Drawing a frame with matplotlib (the PNG of an explorer's default state, for viewers that run
no script) and timing compute + drawing (benchmarks)."""
from __future__ import annotations

import itertools
import math
import textwrap
import time
from typing import Sequence

import numpy as np

from .._validate import check_int_in
from .frames import PALETTE, check_frame


def display_figure(fig) -> None:
    """Display a matplotlib figure as PNG in the current output area."""
    from IPython.display import display
    if not hasattr(fig, "savefig"):
        raise ValueError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    display(fig)


def _log_ok(values: Sequence[float]) -> bool:
    return all(v > 0 for v in values)


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, columns) of the compact grid of n panels, as the renderer lays them out."""
    cols = n if n <= 2 else (2 if n <= 4 else 3)
    return -(-n // cols), cols


def draw_frame(fr: dict):
    """Draw a frame with matplotlib; returns the Figure (one axes per panel, in the renderer's
    grid: up to two panels in a row, a 2x2 grid for three or four, three columns beyond)."""
    import matplotlib.pyplot as plt

    panels = check_frame(fr)["panels"]
    rows, cols = grid_shape(len(panels))
    pw, ph = (5.2, 3.6) if len(panels) == 1 else (4.6, 3.3)
    fig, axes = plt.subplots(rows, cols, figsize=(pw * cols, ph * rows), squeeze=False)
    flat = list(axes.ravel())
    below = max([_draw_panel(ax, p) for ax, p in zip(flat, panels)])   # legend rows under axes
    for ax in flat[len(panels):]:
        fig.delaxes(ax)
    # fixed margins in inches (tight_layout would double the time of a live update)
    width, height = fig.get_size_inches()
    extra = 0.17 * below                      # room for legends placed under their axes
    text = textwrap.fill(fr.get("text", ""), width=int(12 * width))  # about 12 characters an inch
    lines = text.count("\n") + 1 if text else 0
    height += rows * extra + (0.16 * (lines - 1) if lines > 1 else 0)
    fig.set_size_inches(width, height)
    bottom = 0.55 + extra + (0.12 + 0.16 * lines if text else 0)
    gap = 0.9 + extra                         # inches between rows: title, ticks, label, legend
    axes_h = (height - bottom - 0.4 - (rows - 1) * gap) / rows
    fig.subplots_adjust(left=0.7 / width, right=1 - 0.2 / width, top=1 - 0.4 / height,
                        bottom=bottom / height, wspace=0.42, hspace=gap / axes_h)
    if text:
        fig.text(0.5, 0.01, text, ha="center", va="bottom", fontsize=9)
    return fig


def _draw_panel(ax, p: dict) -> int:
    """Draw one panel on `ax`; returns the number of legend rows placed under the axes."""
    hm = p.get("heatmap")
    if hm is not None:
        z = np.asarray(hm["z"], dtype=float)
        mesh = ax.pcolormesh(hm["x"], hm["y"], z, cmap=hm.get("cmap", "viridis"), vmin=hm.get("vmin"),
                             vmax=hm.get("vmax"), shading="flat")
        cb = ax.figure.colorbar(mesh, ax=ax)
        cb.set_label(hm.get("label", ""))
        if hm.get("aspect") == "equal":
            ax.set_aspect("equal")
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
    if not (p.get("legend", True) and labelled):
        return 0
    if hm is None and len(labelled) <= 2:     # small: the corner that covers the fewest points
        ax.legend(fontsize=8, loc="best", framealpha=0.9)
        return 0
    # a heatmap fills the axes, and a long legend covers data: put it under the axes
    ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, frameon=False,
              borderaxespad=0.0, handlelength=1.6, columnspacing=1.0)
    return math.ceil(len(labelled) / 2) + 1


def time_updates(explorer, samples: int = 20) -> dict:
    """For scripts/bench.py: time the live update (compute + matplotlib drawing) at up to
    `samples` states spread over the grid; p50/p95 in milliseconds."""
    import matplotlib.pyplot as plt
    if not all(hasattr(explorer, a) for a in ("controls", "figure", "name")):
        raise ValueError(f"explorer must be an Explorer, got {type(explorer).__name__}")
    samples = check_int_in(samples, 1, 100_000, name="samples")
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
