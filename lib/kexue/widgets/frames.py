"""Frames: the plain data an explorer's ``compute`` returns, built only with checked helpers.

A frame is one or more panels side by side and a line of readouts. A panel holds series
(:func:`line`, :func:`scatter`, :func:`bars`), at most one :func:`heatmap`, reference lines
(:func:`vline`, :func:`hline`), axis scales, limits and ticks. Every helper checks its keys and
lengths, so a misspelt key or a ragged series raises here instead of being ignored by a
renderer. The same dictionaries are drawn by matplotlib (:mod:`kexue.widgets.draw`) and by the
book's JavaScript renderer. numpy only.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .._validate import check_choice

#: Okabe-Ito palette: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

SERIES_KEYS = {"kind", "x", "y", "label", "color", "dash", "fill", "width"}
HEATMAP_KEYS = {"z", "x", "y", "vmin", "vmax", "label", "cmap"}
CMAPS = ("viridis", "gray", "gray_r")   # gray_r: high values dark, as ink on paper (digit images)
VLINE_KEYS = {"x", "label", "color", "dash"}
HLINE_KEYS = {"y", "label", "color", "dash"}
PANEL_KEYS = {"title", "xlabel", "ylabel", "xscale", "yscale", "series", "legend", "heatmap",
              "vlines", "hlines", "xlim", "ylim", "xticks"}
FRAME_KEYS = {"panels", "text"}


def _check_keys(d: dict, allowed: set, *, what: str) -> dict:
    extra = set(d) - allowed
    if extra:
        raise ValueError(f"{what} has unknown keys {sorted(extra)}; allowed: {sorted(allowed)}")
    return d


def _numbers(v: Any, *, name: str) -> list:
    arr = np.asarray(v, dtype=float).ravel()
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must contain only finite numbers")
    return arr.tolist()


def _series(kind: str, x, y, label: str, color: str | None, dash: bool, **extra) -> dict:
    xs, ys = _numbers(x, name="x"), _numbers(y, name="y")
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
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width!r}")
    return _series("bar", x, y, label, color, dash, fill=bool(fill), width=float(width))


def heatmap(z, x_edges, y_edges, label: str = "", *, vmin: float | None = None,
            vmax: float | None = None, cmap: str = "viridis") -> dict:
    """A colour map of z (rows along y, columns along x) over cell edges; `label` names the
    colour scale. Edges: len(x_edges) = ncols + 1, len(y_edges) = nrows + 1. `cmap`: one of
    :data:`CMAPS` ("gray_r" for images such as digits: ink dark on a light page)."""
    if cmap not in CMAPS:
        raise ValueError(f"cmap must be one of {list(CMAPS)}, got {cmap!r}")
    zz = np.asarray(z, dtype=float)
    if zz.ndim != 2 or not np.isfinite(zz).all():
        raise ValueError(f"z must be a finite 2-D array, got shape {zz.shape}")
    xe, ye = _numbers(x_edges, name="x_edges"), _numbers(y_edges, name="y_edges")
    if len(xe) != zz.shape[1] + 1 or len(ye) != zz.shape[0] + 1:
        raise ValueError(f"x_edges and y_edges must have ncols+1 and nrows+1 entries for z of shape "
                         f"{zz.shape}, got {len(xe)} and {len(ye)}")
    out = {"z": zz.tolist(), "x": xe, "y": ye, "label": label}
    if cmap != "viridis":
        out["cmap"] = cmap
    if vmin is not None:
        out["vmin"] = float(vmin)
    if vmax is not None:
        out["vmax"] = float(vmax)
    return out


def vline(x: float, label: str = "", *, color: str | None = None, dash: bool = True) -> dict:
    """A vertical reference line."""
    out = {"x": _numbers([x], name="x")[0], "label": label, "dash": bool(dash)}
    if color is not None:
        out["color"] = color
    return out


def hline(y: float, label: str = "", *, color: str | None = None, dash: bool = True) -> dict:
    """A horizontal reference line."""
    out = {"y": _numbers([y], name="y")[0], "label": label, "dash": bool(dash)}
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
        pos, labels = list(xticks[0]), [str(t) for t in xticks[1]]
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
    return {"panels": list(panels), "text": text}


def check_frame(fr: dict) -> dict:
    """Validate a frame built elsewhere (what an explorer's compute returned)."""
    if not isinstance(fr, dict):
        raise ValueError(f"compute must return a frame (a dict from frame()), got {type(fr).__name__}")
    _check_keys(fr, FRAME_KEYS, what="frame")
    frame(*fr.get("panels", []), text=fr.get("text", ""))
    for p_ in fr["panels"]:
        panel(p_["title"], p_["xlabel"], p_["ylabel"], series=p_["series"],
              heatmap=p_.get("heatmap"), vlines=p_.get("vlines", ()), hlines=p_.get("hlines", ()),
              xscale=p_.get("xscale", "linear"), yscale=p_.get("yscale", "linear"),
              xlim=p_.get("xlim"), ylim=p_.get("ylim"),
              xticks=tuple(p_["xticks"]) if "xticks" in p_ else None, legend=p_.get("legend", True))
    return fr
