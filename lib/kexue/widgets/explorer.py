"""Explorers: a few controls over a fixed grid and a ``compute(**params)`` returning a frame.

One renderer, ``kexue-explorer.js`` next to this module, draws every frame as SVG: live with a
kernel (:meth:`Explorer.widget`: an anywidget whose model carries the controls, their positions
and the current frame, computed on demand) and without one (:meth:`Explorer.static`: every frame
of the grid precomputed as JSON in the page, which the book's copy of the same file draws; a PNG
of the default state, drawn by matplotlib, comes first for viewers that run no script).
Tests drive :meth:`Explorer.update` (or :meth:`LiveExplorer.set`) and check the numbers of the
frame; latency is measured in ``scripts/bench.py``, never in a test. numpy only.
"""
from __future__ import annotations

import asyncio
import html
import itertools
import json
import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import anywidget
import numpy as np
import traitlets

from .._validate import as_float_array, check_choice, check_int_in
from ..datasets import rounded
from .draw import display_figure, draw_frame
from .frames import check_frame, no_negative_zero

MAX_STATIC_BYTES = 1_200_000     # one explorer's JSON; keeps an executed notebook under 2 MB
AHEAD_RADIUS = 3                 # live: positions computed ahead, per control and direction
AHEAD_CACHE = 256                # live: frames kept by the kernel per widget
#: The one renderer (an ES module for anywidget; the book's Sphinx extension serves a classic-script
#: copy of it as _static/kexue-explorer.js).
RENDERER = Path(__file__).with_name("kexue-explorer.js")
_EXPORT = "export default { render: render };"


def renderer_script() -> str:
    """The renderer as a classic script for the HTML book (what the Sphinx extension writes to
    _static/kexue-explorer.js): the module's one ``export`` line becomes a call of ``bootPage()``
    and the whole is wrapped in a function, so it runs from file:// as well as over http, where
    Chromium refuses to import an ES module from a file:// page."""
    src = RENDERER.read_text(encoding="utf-8")
    if src.count(_EXPORT) != 1:
        raise ValueError(f"renderer: expected one line {_EXPORT!r} in {RENDERER.name}")
    body = src.replace(_EXPORT, "bootPage();")
    return ("/* kexue explorers: classic-script copy of kexue/widgets/kexue-explorer.js "
            "(written by the book's Sphinx extension; edit the package's file). */\n"
            "(function () {\n" + body + "})();\n")


def _check_control(kind: str, name: str, field: str, options: Sequence[Any], default: Any,
                   at_least: int, label: str = "") -> None:
    """A control's grid has at least `at_least` entries and contains its default."""
    for nm, v in (("name", name), ("label", label)):
        if not isinstance(v, str):
            raise ValueError(f"{nm} of a {kind} must be a string, got {type(v).__name__}")
    if not isinstance(options, (list, tuple, np.ndarray)):
        raise ValueError(f"{field} of {kind} {name!r} must be a list, got {type(options).__name__}")
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
        as_float_array(self.values, name="values", min_ndim=1, max_ndim=1, allow_empty=True)
        _check_control("slider", self.name, "values", self.values, self.default, at_least=2,
                       label=self.label)
        try:
            ok = isinstance(self.fmt, str) and self.fmt.format(self.values[0]) != self.fmt
        except (ValueError, IndexError, KeyError, TypeError):
            ok = False
        if not ok:
            raise ValueError(f"fmt must be a format string with one field such as '{{:.3g}}', got {self.fmt!r}")

    @property
    def options(self) -> list:
        return list(self.values)

    def labels(self) -> list[str]:
        return [no_negative_zero(self.fmt.format(v)) for v in self.values]


@dataclass(frozen=True)
class Dropdown:
    """A choice among named options; ``options`` are the values passed to compute."""
    name: str
    options: Sequence[Any]
    default: Any
    label: str = ""
    names: Sequence[str] | None = None

    def __post_init__(self):
        _check_control("dropdown", self.name, "options", self.options, self.default, at_least=1,
                       label=self.label)
        if self.names is not None and len(self.names) != len(self.options):
            raise ValueError(f"names of dropdown {self.name!r} must match its options in length")

    def labels(self) -> list[str]:
        return [str(n) for n in (self.names if self.names is not None else self.options)]


def round_frame(obj: Any, digits: int = 4) -> Any:
    """Round every float of a frame to `digits` significant digits (JSON stays small and
    deterministic): the same numbers as :func:`kexue.datasets.rounded`, computed faster."""
    digits = check_int_in(digits, 1, 17, name="digits")
    try:
        return _round_fast(obj, digits, f".{digits}g")
    except ValueError as err:
        raise ValueError(f"obj: the frame contains a non-finite number ({err}); compute must not "
                         "emit one") from None


def _round_fast(obj: Any, digits: int, spec: str) -> Any:
    """:func:`kexue.datasets.rounded` with the same results, faster on what frames hold: lists
    of Python floats are rounded in one comprehension instead of one recursive call each."""
    if type(obj) is dict:
        return {str(k): _round_fast(v, digits, spec) for k, v in obj.items()}
    if type(obj) is list:
        if obj and all(type(v) is float for v in obj):
            out = [float(format(v, spec)) + 0.0 for v in obj]
            if not all(map(math.isfinite, out)):
                raise ValueError(f"values must be finite, got {next(v for v in out if not math.isfinite(v))}")
            return out
        return [_round_fast(v, digits, spec) for v in obj]
    return rounded(obj, digits)


class Explorer:
    """Controls over a grid + a frame function, drawn by one renderer: live (anywidget) or
    kernel-free (HTML)."""

    def __init__(self, controls: Sequence[Slider | Dropdown], compute: Callable[..., dict], *,
                 name: str, digits: int = 4):
        if not isinstance(controls, (list, tuple)) or not controls or \
                not all(isinstance(c, (Slider, Dropdown)) for c in controls):
            raise ValueError(f"controls must be a non-empty list of Slider and Dropdown, got {controls!r:.80}")
        if not callable(compute):
            raise ValueError(f"compute must be a function of the controls' values, got {type(compute).__name__}")
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
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
        self.last = round_frame(check_frame(self._computed(full)), self.digits)
        return self.last

    def _computed(self, params: dict) -> dict:
        fr = self.compute(**params)
        if not isinstance(fr, dict):
            raise ValueError(f"compute must return a frame (a dict from frame()), got {type(fr).__name__}")
        return fr

    def figure(self, **params):
        """A matplotlib Figure of one state (the default unless params say otherwise)."""
        return draw_frame(self.update(**params))

    # -- with a kernel ---------------------------------------------------------------------
    def widget(self) -> "LiveExplorer":
        """Live version in JupyterLab: the renderer as an anywidget; the kernel computes the frame
        of every new control position (see :class:`LiveExplorer`)."""
        return LiveExplorer(self)

    def spec(self) -> dict:
        """The controls as the renderer reads them: name, label, kind, value labels, default index."""
        ctrl = []
        for c in self.controls:
            kind = "slider" if isinstance(c, Slider) else "dropdown"
            ctrl.append({"name": c.name, "label": c.label or c.name, "kind": kind,
                         "labels": c.labels(), "default": list(c.options).index(c.default)})
        return {"name": self.name, "controls": ctrl}

    # -- without a kernel ------------------------------------------------------------------
    def frames(self) -> list[dict]:
        """Every frame over the control grid, row-major in the order of ``controls``."""
        grids = [list(c.options) for c in self.controls]
        out = []
        for combo in itertools.product(*grids):
            params = dict(zip([c.name for c in self.controls], combo))
            out.append(round_frame(check_frame(self._computed(params)), self.digits))
        return out

    def payload(self) -> dict:
        """The JSON the browser renderer reads: controls, default indices and all frames."""
        return {**self.spec(), "frames": self.frames()}

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
        if not isinstance(explorer, Explorer):
            raise ValueError(f"explorer must be an Explorer, got {type(explorer).__name__}")
        try:
            ok = isinstance(json.loads(data)["frames"], list)
        except (TypeError, ValueError, KeyError):
            ok = False
        if not ok:
            raise ValueError("data must be the JSON of Explorer.payload() (controls and frames)")
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


class LiveExplorer(anywidget.AnyWidget):
    """What :meth:`Explorer.widget` returns: the renderer ``kexue-explorer.js`` as an anywidget.

    Synced traits: ``spec`` (the controls), ``index`` (control name -> position in its grid, set
    by the browser on every ``input`` event, at most one request in flight), ``seq`` (the browser's
    request number), and from the kernel ``frame`` (the frame of ``index``), ``frame_seq`` (the
    request it answers), ``frame_index`` (the positions it is the frame of), ``rev`` (bumped on
    every new frame) and ``error`` (compute's error, shown in the figure). A test sets values with
    :meth:`set` (or ``w.values = {...}``) and reads the frame it returns, ``w.frame`` or
    ``explorer.last``.

    Frames ahead: after answering, the kernel computes (one per turn of its event loop, so that a
    new request is answered between two) the frames of the positions up to :data:`AHEAD_RADIUS`
    steps away along each control, nearest first and the direction of the last move first, and
    sends each to the browser as a custom message ``{"kx": "ahead", "index": [...], "frame": ...}``;
    the renderer draws a position it has a frame for at once, on the ``input`` event. Every frame
    is still computed by this kernel (a bounded cache of :data:`AHEAD_CACHE` frames). Nothing is
    computed ahead before a browser view says ``{"kx": "view"}`` (so not while a notebook is
    executed without a browser) nor outside a running event loop (tests, scripts).
    """
    _esm = RENDERER
    spec = traitlets.Dict().tag(sync=True)
    index = traitlets.Dict().tag(sync=True)
    seq = traitlets.Int(0).tag(sync=True)
    frame = traitlets.Dict().tag(sync=True)
    frame_seq = traitlets.Int(0).tag(sync=True)
    frame_index = traitlets.Dict().tag(sync=True)
    rev = traitlets.Int(0).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(self, explorer: Explorer):
        if not isinstance(explorer, Explorer):
            raise ValueError(f"explorer must be an Explorer, got {type(explorer).__name__}")
        spec = explorer.spec()
        super().__init__(spec=spec, index={c["name"]: c["default"] for c in spec["controls"]})
        self.explorer = explorer
        self._frames: OrderedDict = OrderedDict()    # position tuple -> frame (AHEAD_CACHE at most)
        self._sent: set = set()                      # positions whose frame the browser was sent
        self._ahead: list = []                       # positions still to compute ahead
        self._ahead_call = None                      # the scheduled step of the event loop
        self._last: tuple | None = None
        self._viewed = False                         # a browser view said hello: compute ahead
        self._redraw()
        self.observe(self._redraw, names="index")
        self.on_msg(self._on_custom)

    def _on_custom(self, _widget, content, _buffers) -> None:
        """A view's ``{"kx": "view"}`` (sent when the renderer draws it): from now on, frames are
        computed ahead (never for a widget no browser shows: an executed notebook, a test)."""
        if isinstance(content, dict) and content.get("kx") == "view":
            self._viewed = True
            self._sent.clear()                       # a new view has only the current frame
            if not self.error:
                self._sent.add(self._key(self.index))
            self._plan_ahead(self._key(self.index))

    @traitlets.validate("index")
    def _valid_index(self, proposal):
        ix = dict(proposal["value"])
        for c in self.explorer.controls if hasattr(self, "explorer") else ():
            i = ix.get(c.name, list(c.options).index(c.default))
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(c.options):
                raise traitlets.TraitError(f"index of {c.name!r} must be in [0, {len(c.options) - 1}], got {i!r}")
            ix[c.name] = i
        return ix

    @property
    def values(self) -> dict:
        """The controls' current values (name -> value passed to compute)."""
        return {c.name: list(c.options)[self.index[c.name]] for c in self.explorer.controls}

    @values.setter
    def values(self, params: dict) -> None:
        names = {c.name: c for c in self.explorer.controls}
        unknown = set(params) - set(names)
        if unknown:
            raise ValueError(f"params must be among {list(names)}, got {sorted(unknown)}")
        ix = dict(self.index)
        for k, v in params.items():
            opts = list(names[k].options)
            if v not in opts:
                raise ValueError(f"{k} must be one of {opts}, got {v!r}")
            ix[k] = opts.index(v)
        self.index = ix

    def set(self, **params) -> dict:
        """Move the controls to these values (others keep theirs) and return the new frame; a
        failing compute raises here (in the browser it is shown in the figure)."""
        self.values = params
        if self.error:
            raise ValueError(f"compute failed: {self.error}")
        return self.explorer.last

    def _key(self, index: dict) -> tuple:
        return tuple(index[c.name] for c in self.explorer.controls)

    def _frame_of(self, key: tuple) -> dict:
        """The frame of a position: from the cache, else computed (Explorer.update) and kept."""
        if key in self._frames:
            self._frames.move_to_end(key)
            self.explorer.last = self._frames[key]
            return self._frames[key]
        fr = self.explorer.update(**{c.name: list(c.options)[i] for c, i in zip(self.explorer.controls, key)})
        self._frames[key] = fr
        while len(self._frames) > AHEAD_CACHE:
            old, _ = self._frames.popitem(last=False)
            self._sent.discard(old)
        return fr

    def _redraw(self, *_) -> None:
        key = self._key(self.index)
        try:
            fr, err = self._frame_of(key), ""
        except Exception as exc:        # shown in the figure, as the renderer shows a bad frame
            fr, err = {}, f"{type(exc).__name__}: {exc}"
        with self.hold_sync():
            self.frame, self.error, self.frame_seq = fr, err, self.seq
            self.frame_index = dict(self.index)
            self.rev += 1
        if not err:
            self._sent.add(key)
        self._plan_ahead(key)

    def _plan_ahead(self, key: tuple) -> None:
        """Queue the positions around `key` (nearest first, the last move's direction first) and
        start computing them on the kernel's event loop; nothing happens without a running loop."""
        moved = [(ci, (1 if b > a else -1)) for ci, (a, b) in enumerate(zip(self._last or key, key)) if a != b]
        self._last = key
        order = moved + [(ci, 1) for ci in range(len(key)) if ci not in dict(moved)]
        sizes = [len(c.options) for c in self.explorer.controls]
        plan = []
        for d in range(1, AHEAD_RADIUS + 1):
            for ci, sign in order:
                for s in (sign, -sign):
                    k = list(key)
                    k[ci] += s * d
                    if 0 <= k[ci] < sizes[ci] and tuple(k) not in self._sent:
                        plan.append(tuple(k))
        self._ahead = plan if self._viewed else []
        if self._ahead_call is None and self._ahead:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:        # no kernel event loop (a test, a script): nothing ahead
                self._ahead = []
                return
            self._ahead_call = loop.call_soon(self._ahead_step)

    def _ahead_step(self) -> None:
        """Compute and send one frame ahead, then give the event loop back (a request waiting is
        answered before the next one)."""
        self._ahead_call = None
        while self._ahead:
            key = self._ahead.pop(0)
            if key in self._sent:
                continue
            last = self.explorer.last
            try:
                fr = self._frame_of(key)
            except Exception:           # noqa: BLE001  (shown if the reader moves there)
                continue
            finally:
                self.explorer.last = last
            self._sent.add(key)
            self.send({"kx": "ahead", "index": list(key), "frame": fr})
            break
        if self._ahead:
            self._ahead_call = asyncio.get_running_loop().call_soon(self._ahead_step)
