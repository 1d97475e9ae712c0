"""Interactive figures that work with a kernel *and* without one.

Every chapter's widget is an :class:`Explorer`: a few controls (:class:`Slider`, :class:`Dropdown`)
over a fixed grid of values and a ``compute(**params)`` function that returns a *frame*, a small
plain-data description of the figure (numbers, labels, colours; see :func:`panel`). The same
frame is drawn two ways:

* with a kernel (JupyterLab), :meth:`Explorer.widget` gives live ipywidgets controls whose
  callback redraws the frame with matplotlib (:func:`draw_frame`);
* without a kernel (the HTML book), :meth:`Explorer.static` precomputes the frame at every point
  of the control grid, embeds the numbers as JSON and lets the book's small renderer
  ``_static/kexue-explorer.js`` draw them as SVG when the reader moves a control. A PNG of the
  default state is shown first, so the figure is there even where no script runs.

Tests drive :meth:`Explorer.update` (or the live controls) and check the numbers of the frame;
update latency is measured in ``scripts/bench.py``, never in a test. numpy only.
"""
from __future__ import annotations

import html
import itertools
import json
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ._validate import check_choice, check_int_in

#: Okabe–Ito palette: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
MAX_STATIC_BYTES = 1_200_000     # one explorer's JSON; keeps an executed notebook under 2 MB


@dataclass(frozen=True)
class Slider:
    """A slider over a fixed grid of numbers (the same grid live and kernel-free)."""
    name: str
    values: Sequence[float]
    default: float
    label: str = ""
    fmt: str = "{:.3g}"

    def __post_init__(self):
        if len(self.values) < 2:
            raise ValueError(f"values of slider {self.name!r} must have at least 2 entries")
        if self.default not in list(self.values):
            raise ValueError(f"default of slider {self.name!r} must be one of its values, "
                             f"got {self.default!r}")

    @property
    def options(self) -> list:
        return list(self.values)

    def labels(self) -> list[str]:
        return [self.fmt.format(v) for v in self.values]


@dataclass(frozen=True)
class Dropdown:
    """A choice among named options; ``options`` are the values passed to compute."""
    name: str
    options: Sequence[Any]
    default: Any
    label: str = ""
    names: Sequence[str] | None = None

    def __post_init__(self):
        if len(self.options) < 1:
            raise ValueError(f"options of dropdown {self.name!r} must not be empty")
        check_choice(self.default, list(self.options), name=f"default of dropdown {self.name!r}")
        if self.names is not None and len(self.names) != len(self.options):
            raise ValueError(f"names of dropdown {self.name!r} must match its options in length")

    def labels(self) -> list[str]:
        return [str(n) for n in (self.names if self.names is not None else self.options)]


def panel(title: str, xlabel: str, ylabel: str, *, series: Sequence[dict] = (),
          heatmap: dict | None = None, vlines: Sequence[dict] = (), hlines: Sequence[dict] = (),
          xscale: str = "linear", yscale: str = "linear", xlim: Sequence[float] | None = None,
          ylim: Sequence[float] | None = None, xticks: tuple[Sequence[float], Sequence[str]] | None = None,
          legend: bool = True) -> dict:
    """One axes of a frame, as plain data.

    ``series`` entries: ``{"kind": "bar"|"line"|"scatter", "x": [...], "y": [...], "label": str,
    "color": "#rrggbb", "dash": bool, "fill": bool (bars: False draws outlines), "width": float}``;
    ``heatmap``: ``{"z": 2-D list, "x": column edges, "y": row edges, "vmin", "vmax", "label"}``;
    ``vlines``/``hlines``: ``{"x" or "y": float, "label": str, "color": str, "dash": bool}``.
    """
    check_choice(xscale, ["linear", "log"], name="xscale")
    check_choice(yscale, ["linear", "log"], name="yscale")
    out: dict = {"title": title, "xlabel": xlabel, "ylabel": ylabel, "xscale": xscale,
                 "yscale": yscale, "series": [dict(s) for s in series], "legend": legend}
    for s in out["series"]:
        check_choice(s.get("kind"), ["bar", "line", "scatter"], name="series kind")
        if len(s["x"]) != len(s["y"]):
            raise ValueError(f"series {s.get('label', '')!r}: x and y must have equal lengths")
    if heatmap is not None:
        out["heatmap"] = dict(heatmap)
    if vlines:
        out["vlines"] = [dict(v) for v in vlines]
    if hlines:
        out["hlines"] = [dict(h) for h in hlines]
    if xlim is not None:
        out["xlim"] = list(xlim)
    if ylim is not None:
        out["ylim"] = list(ylim)
    if xticks is not None:
        out["xticks"] = [list(xticks[0]), [str(t) for t in xticks[1]]]
    return out


def frame(*panels: dict, text: str = "") -> dict:
    """A frame: one or more panels side by side and a line of readouts below them."""
    if not panels:
        raise ValueError("panels must contain at least one panel")
    return {"panels": list(panels), "text": text}


def _rounded(obj: Any, digits: int = 4) -> Any:
    """Round every float to `digits` significant digits (JSON stays small and deterministic)."""
    if isinstance(obj, dict):
        return {k: _rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_rounded(v, digits) for v in obj]
    if isinstance(obj, np.ndarray):
        return _rounded(obj.tolist(), digits)
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        if not math.isfinite(v):
            raise ValueError(f"frame contains a non-finite number ({v}); compute must not emit one")
        return float(f"{v:.{digits}g}")
    return obj


class Explorer:
    """Controls over a grid + a frame function, drawn live (ipywidgets) or kernel-free (HTML)."""

    def __init__(self, controls: Sequence[Slider | Dropdown], compute: Callable[..., dict], *,
                 name: str, digits: int = 4):
        if not controls:
            raise ValueError("controls must contain at least one control")
        names = [c.name for c in controls]
        if len(set(names)) != len(names):
            raise ValueError(f"controls must have distinct names, got {names}")
        self.controls = list(controls)
        self.compute = compute
        self.name = name
        self.digits = check_int_in(digits, 2, 12, name="digits")
        self.last: dict | None = None

    # -- the one computation both versions share ------------------------------------------
    def defaults(self) -> dict:
        return {c.name: c.default for c in self.controls}

    def update(self, **params) -> dict:
        """Frame for the given control values (others at their defaults); kept in ``self.last``."""
        unknown = set(params) - {c.name for c in self.controls}
        if unknown:
            raise ValueError(f"params must be among {[c.name for c in self.controls]}, got {sorted(unknown)}")
        full = {**self.defaults(), **params}
        self.last = _rounded(self.compute(**full), self.digits)
        return self.last

    def figure(self, **params):
        """A matplotlib Figure of one state (the default unless params say otherwise)."""
        return draw_frame(self.update(**params))

    # -- with a kernel ---------------------------------------------------------------------
    def widget(self):
        """Live ipywidgets version: controls + an Output redrawn by :meth:`update`.

        The returned VBox has ``.controls`` (name -> ipywidget) and ``.output`` attributes so a
        test can set a control and read ``explorer.last``.
        """
        import ipywidgets as W
        import matplotlib.pyplot as plt

        ctrls = {}
        for c in self.controls:
            desc = c.label or c.name
            if isinstance(c, Slider):
                w = W.SelectionSlider(options=list(zip(c.labels(), c.options)), value=c.default,
                                      description=desc, continuous_update=False,
                                      style={"description_width": "initial"})
            else:
                w = W.Dropdown(options=list(zip(c.labels(), c.options)), value=c.default,
                               description=desc, style={"description_width": "initial"})
            ctrls[c.name] = w
        out = W.Output()

        def redraw(*_):
            params = {k: w.value for k, w in ctrls.items()}
            fig = draw_frame(self.update(**params))
            out.clear_output(wait=True)
            with out:
                display_figure(fig)
            plt.close(fig)

        for w in ctrls.values():
            w.observe(redraw, names="value")
        redraw()
        box = W.VBox([W.HBox(list(ctrls.values())), out])
        box.controls, box.output = ctrls, out
        return box

    # -- without a kernel ------------------------------------------------------------------
    def frames(self) -> list[dict]:
        """Every frame over the control grid, row-major in the order of ``controls``."""
        grids = [list(c.options) for c in self.controls]
        out = []
        for combo in itertools.product(*grids):
            out.append(_rounded(self.compute(**dict(zip([c.name for c in self.controls], combo))),
                                self.digits))
        return out

    def payload(self) -> dict:
        """The JSON the browser renderer reads: controls, default indices and all frames."""
        ctrl = []
        for c in self.controls:
            kind = "slider" if isinstance(c, Slider) else "dropdown"
            ctrl.append({"name": c.name, "label": c.label or c.name, "kind": kind,
                         "labels": c.labels(), "default": list(c.options).index(c.default)})
        return {"name": self.name, "controls": ctrl, "frames": self.frames()}

    def static(self, max_bytes: int = MAX_STATIC_BYTES) -> "StaticExplorer":
        """Kernel-free version: a PNG of the default state, then the HTML explorer."""
        data = json.dumps(self.payload(), separators=(",", ":"), sort_keys=True)
        if os.environ.get("KEXUE_WIDGET_TIMINGS"):
            self._record_latency(os.environ["KEXUE_WIDGET_TIMINGS"], len(data))
        if len(data) > max_bytes:
            raise ValueError(f"max_bytes: this explorer's data is {len(data)} bytes > {max_bytes}; "
                             "use a coarser grid or fewer controls")
        return StaticExplorer(self, data)


    def _record_latency(self, path: str, nbytes: int, samples: int = 20) -> None:
        """For scripts/bench.py: time the live update (compute + matplotlib drawing) at up to
        `samples` states spread over the grid and append p50/p95 (ms) as a JSON line to `path`."""
        import matplotlib.pyplot as plt
        grids = [list(c.options) for c in self.controls]
        combos = list(itertools.product(*grids))
        picks = sorted({round(i * (len(combos) - 1) / max(samples - 1, 1)) for i in range(samples)})
        times = []
        for i in picks:
            params = dict(zip([c.name for c in self.controls], combos[i]))
            t0 = time.perf_counter()
            fig = self.figure(**params)
            fig.canvas.draw()
            times.append(1000 * (time.perf_counter() - t0))
            plt.close(fig)
        row = {"explorer": self.name, "states": len(combos), "json_bytes": nbytes,
               "update_p50_ms": float(np.percentile(times, 50)),
               "update_p95_ms": float(np.percentile(times, 95))}
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")


def display_figure(fig) -> None:
    """Display a matplotlib figure as PNG in the current output area."""
    from IPython.display import display
    display(fig)


class StaticExplorer:
    """What :meth:`Explorer.static` returns; displaying it shows the PNG and the HTML."""

    def __init__(self, explorer: Explorer, data: str):
        self.explorer = explorer
        self.data = data

    @property
    def nbytes(self) -> int:
        return len(self.data)

    def html(self) -> str:
        n = len(json.loads(self.data)["frames"])
        safe = self.data.replace("</", "<\\/")      # keep the JSON inside its script element
        return (f'<div class="kx-explorer" data-name="{html.escape(self.explorer.name)}">'
                f'<script type="application/json" class="kx-data">{safe}</script>'
                f'<p class="kx-fallback"><em>Interactive figure ({n} precomputed states): it '
                f'responds in the HTML book; in JupyterLab run the live widget above.</em></p>'
                f'</div>')

    def _ipython_display_(self):
        import matplotlib.pyplot as plt
        from IPython.display import HTML, display
        fig = self.explorer.figure()
        display_figure(fig)
        plt.close(fig)
        display(HTML(self.html()))


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
        mesh = ax.pcolormesh(hm["x"], hm["y"], z, cmap="viridis", vmin=hm.get("vmin"),
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
