"""Frames: the plain data an explorer's ``compute`` returns, built only with checked helpers.

A frame is one or more panels side by side and a line of readouts. A panel holds series
(:func:`line`, :func:`scatter`, :func:`bars`), at most one :func:`heatmap`, reference lines
(:func:`vline`, :func:`hline`), axis scales, limits and ticks. Every helper checks its keys and
lengths, so a misspelt key or a ragged series raises here instead of being ignored by a
renderer. The same dictionaries are drawn by matplotlib (:mod:`kexue.widgets.draw`) and by the
book's JavaScript renderer. numpy only.
"""
from __future__ import annotations

import math
import re
from typing import Any, Sequence

import numpy as np

from .._validate import as_float_array, check_choice, check_positive

#: Okabe-Ito palette: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

CMAPS = ("viridis", "gray", "gray_r")   # gray_r: high values dark, as ink on paper (digit images)

#: The one description of a frame, read by :func:`check_frame` and mirrored verbatim by the
#: renderer (``kexue-explorer.js``, between its ``kx-schema`` markers; a test keeps the two
#: equal). Each object type lists its keys with their types and the keys it requires. Types:
#: ``string``, ``boolean``, ``number``, ``color`` (a CSS colour string), ``ticks`` (positions
#: and their labels), an enum name from ``enums``, another object type, and ``T[]`` for a list.
SCHEMA: dict = {
    "frame": {"keys": {"panels": "panel[]", "text": "string"}, "required": ["panels", "text"]},
    "panel": {"keys": {"title": "string", "xlabel": "string", "ylabel": "string", "xscale": "scale",
                       "yscale": "scale", "series": "series[]", "legend": "boolean",
                       "heatmap": "heatmap", "vlines": "vline[]", "hlines": "hline[]",
                       "xlim": "number[]", "ylim": "number[]", "xticks": "ticks"},
              "required": ["title", "xlabel", "ylabel", "series"]},
    "series": {"keys": {"kind": "kind", "x": "number[]", "y": "number[]", "label": "string",
                        "color": "color", "dash": "boolean", "fill": "boolean", "width": "number"},
               "required": ["kind", "x", "y"]},
    "heatmap": {"keys": {"z": "number[][]", "x": "number[]", "y": "number[]", "vmin": "number",
                         "vmax": "number", "label": "string", "cmap": "cmap", "aspect": "aspect"},
                "required": ["z", "x", "y"]},
    "vline": {"keys": {"x": "number", "label": "string", "color": "color", "dash": "boolean"},
              "required": ["x"]},
    "hline": {"keys": {"y": "number", "label": "string", "color": "color", "dash": "boolean"},
              "required": ["y"]},
    "enums": {"scale": ["linear", "log"], "kind": ["bar", "line", "scatter"], "cmap": list(CMAPS),
              "aspect": ["auto", "equal"]},
}

SERIES_KEYS = set(SCHEMA["series"]["keys"])
HEATMAP_KEYS = set(SCHEMA["heatmap"]["keys"])
VLINE_KEYS = set(SCHEMA["vline"]["keys"])
HLINE_KEYS = set(SCHEMA["hline"]["keys"])
PANEL_KEYS = set(SCHEMA["panel"]["keys"])
FRAME_KEYS = set(SCHEMA["frame"]["keys"])
_NEG_ZERO = re.compile(r"(?<![\w.])-(0(?:\.0*)?)(?![\d.])")


def no_negative_zero(s: str) -> str:
    """``"-0.000"`` -> ``"0.000"`` in a readout (a rounded tiny negative number is zero);
    ``"-0.001"`` and ``"x-0"`` are kept."""
    return _NEG_ZERO.sub(r"\1", _text(s, name="s"))


def _check_keys(d: dict, allowed: set, *, what: str) -> dict:
    extra = set(d) - allowed
    if extra:
        raise ValueError(f"{what} has unknown keys {sorted(extra)}; allowed: {sorted(allowed)}")
    return d


def _numbers(v: Any, *, name: str) -> list:
    """A finite 1-D list of floats (may be empty), errors naming the parameter."""
    return as_float_array(v, name=name, min_ndim=1, max_ndim=1, allow_empty=True)[0].tolist()


def _text(v: Any, *, name: str) -> str:
    if not isinstance(v, str):
        raise ValueError(f"{name} must be a string, got {type(v).__name__}")
    return v


def _dicts(v: Any, *, name: str) -> list:
    if not isinstance(v, (list, tuple)) or not all(isinstance(d, dict) for d in v):
        raise ValueError(f"{name} must be a list of dicts built by the frame helpers, got {v!r:.60}")
    return list(v)


def _series(kind: str, x, y, label: str, color: str | None, dash: bool, **extra) -> dict:
    xs, ys = _numbers(x, name="x"), _numbers(y, name="y")
    _text(label, name="label")
    if color is not None:
        _text(color, name="color")
    if len(xs) != len(ys):
        raise ValueError(f"x and y of series {label!r} must have equal lengths, got {len(xs)} and {len(ys)}")
    out = {"kind": kind, "x": xs, "y": ys, "label": label, "dash": bool(dash)}
    if color is not None:
        out["color"] = color
    out.update(extra)
    return out


def line(x, y, label: str = "", *, color: str | None = None, dash: bool = False) -> dict:
    """A polyline through (x_i, y_i)."""
    return _series("line", x, y, label, color, dash)


def scatter(x, y, label: str = "", *, color: str | None = None) -> dict:
    """Markers at (x_i, y_i)."""
    return _series("scatter", x, y, label, color, False)


def bars(x, y, label: str = "", *, color: str | None = None, fill: bool = True,
         width: float = 0.8, dash: bool = False) -> dict:
    """Bars of height y_i centred at x_i (fill=False draws outlines only)."""
    width = check_positive(width, name="width")
    return _series("bar", x, y, label, color, dash, fill=bool(fill), width=float(width))


def heatmap(z, x_edges, y_edges, label: str = "", *, vmin: float | None = None,
            vmax: float | None = None, cmap: str = "viridis", aspect: str = "auto") -> dict:
    """A colour map of z (rows along y, columns along x) over cell edges; `label` names the
    colour scale (both renderers draw a colour bar). Edges: len(x_edges) = ncols + 1,
    len(y_edges) = nrows + 1. `cmap`: one of :data:`CMAPS` ("gray_r" for images such as digits:
    ink dark on a light page). `aspect="equal"` for images: one unit on x is as long as one on y
    (square pixels)."""
    if cmap not in CMAPS:
        raise ValueError(f"cmap must be one of {list(CMAPS)}, got {cmap!r}")
    check_choice(aspect, SCHEMA["enums"]["aspect"], name="aspect")
    zz = as_float_array(z, name="z", min_ndim=2, max_ndim=2)[0]
    if zz.shape[0] == 0:
        raise ValueError(f"z must be a finite 2-D array with at least one row, got shape {zz.shape}")
    xe = as_float_array(x_edges, name="x_edges", min_ndim=1, max_ndim=1)[0].tolist()
    ye = as_float_array(y_edges, name="y_edges", min_ndim=1, max_ndim=1)[0].tolist()
    _text(label, name="label")
    if len(xe) != zz.shape[1] + 1 or len(ye) != zz.shape[0] + 1:
        raise ValueError(f"x_edges and y_edges must have ncols+1 and nrows+1 entries for z of shape "
                         f"{zz.shape}, got {len(xe)} and {len(ye)}")
    out = {"z": zz.tolist(), "x": xe, "y": ye, "label": label}
    if cmap != "viridis":
        out["cmap"] = cmap
    if aspect != "auto":
        out["aspect"] = aspect
    if vmin is not None:
        out["vmin"] = float(vmin)
    if vmax is not None:
        out["vmax"] = float(vmax)
    return out


def vline(x: float, label: str = "", *, color: str | None = None, dash: bool = True) -> dict:
    """A vertical reference line."""
    out = {"x": _numbers([x], name="x")[0], "label": _text(label, name="label"), "dash": bool(dash)}
    if color is not None:
        out["color"] = color
    return out


def hline(y: float, label: str = "", *, color: str | None = None, dash: bool = True) -> dict:
    """A horizontal reference line."""
    out = {"y": _numbers([y], name="y")[0], "label": _text(label, name="label"), "dash": bool(dash)}
    if color is not None:
        out["color"] = color
    return out


def panel(title: str, xlabel: str, ylabel: str, *, series: Sequence[dict] = (),
          heatmap: dict | None = None, vlines: Sequence[dict] = (), hlines: Sequence[dict] = (),
          xscale: str = "linear", yscale: str = "linear", xlim: Sequence[float] | None = None,
          ylim: Sequence[float] | None = None,
          xticks: tuple[Sequence[float], Sequence[str]] | None = None, legend: bool = True) -> dict:
    """One axes of a frame. Series come from :func:`line`, :func:`scatter`, :func:`bars`;
    the heatmap from :func:`heatmap`; reference lines from :func:`vline`, :func:`hline`."""
    check_choice(xscale, ["linear", "log"], name="xscale")
    check_choice(yscale, ["linear", "log"], name="yscale")
    for nm, v in (("title", title), ("xlabel", xlabel), ("ylabel", ylabel)):
        _text(v, name=nm)
    series, vlines, hlines = (_dicts(series, name="series"), _dicts(vlines, name="vlines"),
                              _dicts(hlines, name="hlines"))
    if heatmap is not None and not isinstance(heatmap, dict):
        raise ValueError(f"heatmap must be a dict from heatmap(), got {type(heatmap).__name__}")
    out: dict = {"title": title, "xlabel": xlabel, "ylabel": ylabel, "xscale": xscale,
                 "yscale": yscale, "series": [], "legend": bool(legend)}
    for s in series:
        _check_keys(s, SERIES_KEYS, what="series")
        check_choice(s.get("kind"), ["bar", "line", "scatter"], name="series kind")
        if len(s["x"]) != len(s["y"]):
            raise ValueError(f"series {s.get('label', '')!r}: x and y must have equal lengths")
        out["series"].append(dict(s))
    if heatmap is not None:
        out["heatmap"] = dict(_check_keys(heatmap, HEATMAP_KEYS, what="heatmap"))
    if vlines:
        out["vlines"] = [dict(_check_keys(v, VLINE_KEYS, what="vline")) for v in vlines]
    if hlines:
        out["hlines"] = [dict(_check_keys(h, HLINE_KEYS, what="hline")) for h in hlines]
    for nm, lim in (("xlim", xlim), ("ylim", ylim)):
        if lim is not None:
            vals = _numbers(lim, name=nm)
            if len(vals) != 2 or not vals[0] < vals[1]:
                raise ValueError(f"{nm} must be (low, high) with low < high, got {lim!r}")
            out[nm] = vals
    if xticks is not None:
        if not isinstance(xticks, (list, tuple)) or len(xticks) != 2:
            raise ValueError(f"xticks must be (positions, labels), got {xticks!r:.60}")
        pos, labels = _numbers(xticks[0], name="xticks"), [str(t) for t in xticks[1]]
        if len(pos) != len(labels):
            raise ValueError("xticks must pair each position with a label")
        out["xticks"] = [_numbers(pos, name="xticks"), labels]
    return out


def frame(*panels: dict, text: str = "") -> dict:
    """A frame: one or more panels side by side and a line of readouts below them."""
    if not panels:
        raise ValueError("panels must contain at least one panel")
    for p_ in panels:
        _check_keys(p_, PANEL_KEYS, what="panel")
        if "title" not in p_ or "series" not in p_:
            raise ValueError("panels must be built with panel()")
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {type(text).__name__}")
    return {"panels": list(panels), "text": no_negative_zero(text)}


def _check_value(v: Any, typ: str, path: str) -> None:
    """`v` has schema type `typ`; errors name the path of the offending key."""
    if typ == "number[]" and type(v) is list and all(type(x) is float for x in v) \
            and all(map(math.isfinite, v)):
        return                  # the common case in one pass (frames hold thousands of numbers)
    if typ.endswith("[]"):
        if not isinstance(v, (list, tuple)):
            raise ValueError(f"{path} must be a list ({typ}), got {type(v).__name__}")
        for i, item in enumerate(v):
            _check_value(item, typ[:-2], f"{path}[{i}]")
    elif typ in ("string", "color"):
        if not isinstance(v, str):
            raise ValueError(f"{path} must be a string, got {type(v).__name__}")
    elif typ == "boolean":
        if not isinstance(v, bool):
            raise ValueError(f"{path} must be true or false, got {v!r}")
    elif typ == "number":
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not math.isfinite(v):
            raise ValueError(f"{path} must be a finite number, got {v!r}")
    elif typ == "ticks":
        if not isinstance(v, (list, tuple)) or len(v) != 2:
            raise ValueError(f"{path} must be [positions, labels], got {v!r}")
        _check_value(v[0], "number[]", f"{path}[0]")
        _check_value(v[1], "string[]", f"{path}[1]")
    elif typ in SCHEMA["enums"]:
        if v not in SCHEMA["enums"][typ]:
            raise ValueError(f"{path} must be one of {SCHEMA['enums'][typ]}, got {v!r}")
    else:
        _check_object(v, typ, path)


def _check_object(d: Any, typ: str, path: str) -> None:
    spec = SCHEMA[typ]
    if not isinstance(d, dict):
        raise ValueError(f"{path} must be a {typ} (a dict), got {type(d).__name__}")
    for key in d:
        if key not in spec["keys"]:
            raise ValueError(f"{path}: unknown key {key!r} in a {typ}; allowed: {sorted(spec['keys'])}")
    for key in spec["required"]:
        if key not in d:
            raise ValueError(f"{path}: the {typ} lacks the key {key!r}")
    for key, v in d.items():
        _check_value(v, spec["keys"][key], f"{path}.{key}")


def check_frame(fr: dict) -> dict:
    """Validate a frame built elsewhere (what an explorer's compute returned) against
    :data:`SCHEMA`: an unknown or misspelt key, a missing key or a value of the wrong type
    raises a ValueError naming the key; then the shapes (x and y of equal length, heatmap
    edges, limits, tick labels). Returns the frame."""
    if not isinstance(fr, dict):
        raise ValueError(f"fr must be a frame (a dict from frame()), got {type(fr).__name__}")
    if fr.get("panels") == []:
        raise ValueError("panels must contain at least one panel")
    _check_object(fr, "frame", "frame")
    for i, p_ in enumerate(fr["panels"]):
        where = f"frame.panels[{i}]"
        for j, s in enumerate(p_["series"]):
            if len(s["x"]) != len(s["y"]):
                raise ValueError(f"{where}.series[{j}]: x and y must have equal lengths")
        hm = p_.get("heatmap")
        if hm is not None:
            rows = len(hm["z"])
            cols = {len(r) for r in hm["z"]}
            if rows == 0 or len(cols) != 1 or len(hm["x"]) != cols.pop() + 1 or len(hm["y"]) != rows + 1:
                raise ValueError(f"{where}.heatmap: z must be rectangular with len(x) = ncols + 1 "
                                 f"and len(y) = nrows + 1")
        for nm in ("xlim", "ylim"):
            if nm in p_ and (len(p_[nm]) != 2 or not p_[nm][0] < p_[nm][1]):
                raise ValueError(f"{where}.{nm} must be (low, high) with low < high, got {p_[nm]!r}")
        if "xticks" in p_ and len(p_["xticks"][0]) != len(p_["xticks"][1]):
            raise ValueError(f"{where}.xticks must pair each position with a label")
    return fr
