"""Explorers: a few controls over a fixed grid and a ``compute(**params)`` returning a frame.

The same frame is drawn live with a kernel (:meth:`Explorer.widget`, ipywidgets + matplotlib)
and without one (:meth:`Explorer.static`: every frame of the grid precomputed as JSON, drawn by
the book's renderer ``_static/kexue-explorer.js``, with a PNG of the default state first).
Tests drive :meth:`Explorer.update` and check the numbers of the frame; latency is measured in
``scripts/bench.py`` (:func:`kexue.widgets.draw.time_updates`), never in a test. numpy only.
"""
from __future__ import annotations

import html
import itertools
import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .._validate import check_choice, check_int_in
from ..datasets import rounded
from .draw import display_figure, draw_frame
from .frames import check_frame

MAX_STATIC_BYTES = 1_200_000     # one explorer's JSON; keeps an executed notebook under 2 MB


def _check_control(kind: str, name: str, field: str, options: Sequence[Any], default: Any,
                   at_least: int) -> None:
    """A control's grid has at least `at_least` entries and contains its default."""
    if len(options) < at_least:
        raise ValueError(f"{field} of {kind} {name!r} must have at least {at_least} "
                         f"entr{'ies' if at_least > 1 else 'y'}, got {len(options)}")
    check_choice(default, list(options), name=f"default of {kind} {name!r}")


@dataclass(frozen=True)
class Slider:
    """A slider over a fixed grid of numbers (the same grid live and kernel-free)."""
    name: str
    values: Sequence[float]
    default: float
    label: str = ""
    fmt: str = "{:.3g}"

    def __post_init__(self):
        _check_control("slider", self.name, "values", self.values, self.default, at_least=2)

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
        _check_control("dropdown", self.name, "options", self.options, self.default, at_least=1)
        if self.names is not None and len(self.names) != len(self.options):
            raise ValueError(f"names of dropdown {self.name!r} must match its options in length")

    def labels(self) -> list[str]:
        return [str(n) for n in (self.names if self.names is not None else self.options)]


def round_frame(obj: Any, digits: int = 4) -> Any:
    """Round every float of a frame to `digits` significant digits (JSON stays small and
    deterministic); :func:`kexue.datasets.rounded` does the work."""
    try:
        return rounded(obj, digits)
    except ValueError as err:
        raise ValueError(f"frame contains a non-finite number ({err}); compute must not emit one") from None


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
        self.last = round_frame(check_frame(self.compute(**full)), self.digits)
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
            out.append(round_frame(check_frame(self.compute(**dict(zip([c.name for c in self.controls], combo)))),
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
        if len(data) > max_bytes:
            raise ValueError(f"max_bytes: this explorer's data is {len(data)} bytes > {max_bytes}; "
                             "use a coarser grid or fewer controls")
        return StaticExplorer(self, data)


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


