"""Tests of kexue.widgets.frames: the checked builders every explorer's frame is made of."""
from __future__ import annotations

import numpy as np
import pytest

from kexue import widgets as W


def test_builders_make_the_renderers_format():
    s = W.line(np.arange(3), np.arange(3) ** 2, "sq", color="#000000", dash=True)
    assert s == {"kind": "line", "x": [0.0, 1.0, 2.0], "y": [0.0, 1.0, 4.0], "label": "sq",
                 "dash": True, "color": "#000000"}
    b = W.bars([1, 2], [3, 4], "b", fill=False, width=0.5)
    assert b["kind"] == "bar" and b["fill"] is False and b["width"] == 0.5
    assert W.scatter([1], [2])["kind"] == "scatter"
    h = W.heatmap([[0, 1, 2]], [0, 1, 2, 3], [0, 1], "z", vmin=0, vmax=2)
    assert h["z"] == [[0.0, 1.0, 2.0]] and h["vmax"] == 2.0
    assert W.vline(1.5, "v") == {"x": 1.5, "label": "v", "dash": True}
    assert W.hline(2, "h", dash=False)["dash"] is False


def test_panel_and_frame_keep_every_piece():
    p = W.panel("t", "x", "y", series=[W.line([0, 1], [1, 0])], vlines=[W.vline(0.5)],
                hlines=[W.hline(0.2)], heatmap=W.heatmap([[1.0]], [0, 1], [0, 1]),
                xlim=(0, 1), ylim=(-1, 2), xticks=([0, 1], ["a", "b"]), yscale="log")
    assert p["xlim"] == [0.0, 1.0] and p["xticks"] == [[0.0, 1.0], ["a", "b"]]
    assert p["yscale"] == "log" and len(p["vlines"]) == len(p["hlines"]) == 1
    fr = W.frame(p, text="readout")
    assert W.check_frame(fr) is fr


def test_a_misspelt_key_is_refused_not_ignored():
    bad = dict(W.line([0, 1], [0, 1]), colour="#ff0000")
    with pytest.raises(ValueError, match="unknown keys.*colour"):
        W.panel("t", "x", "y", series=[bad])
    with pytest.raises(ValueError, match="unknown keys.*lable"):
        W.panel("t", "x", "y", vlines=[{"x": 1, "lable": "v"}])
    with pytest.raises(ValueError, match="unknown keys.*colormap"):
        W.panel("t", "x", "y", heatmap=dict(W.heatmap([[1.0]], [0, 1], [0, 1]), colormap="jet"))
    with pytest.raises(ValueError, match="unknown keys.*legnd"):
        W.check_frame({"panels": [dict(W.panel("t", "x", "y"), legnd=False)], "text": ""})


@pytest.mark.parametrize("call, name", [
    (lambda: W.line([0, 1], [0]), "x and y"),
    (lambda: W.line([0, np.nan], [0, 1]), "x"),
    (lambda: W.bars([0], [1], width=0), "width"),
    (lambda: W.heatmap([1, 2], [0, 1], [0, 1]), "z"),
    (lambda: W.heatmap([[1, 2]], [0, 1], [0, 1]), "x_edges"),
    (lambda: W.vline(float("inf")), "x"),
    (lambda: W.panel("t", "x", "y", xscale="symlog"), "xscale"),
    (lambda: W.panel("t", "x", "y", series=[{"kind": "pie", "x": [], "y": []}]), "series kind"),
    (lambda: W.panel("t", "x", "y", xlim=(1, 0)), "xlim"),
    (lambda: W.panel("t", "x", "y", series=[{"kind": "line", "x": [0, 1], "y": [0]}]), "series"),
    (lambda: W.panel("t", "x", "y", xticks=([0, 1], ["a"])), "xticks"),
    (lambda: W.frame(), "panels"),
    (lambda: W.frame({"title": "t"}), "panels"),
    (lambda: W.frame(W.panel("t", "x", "y"), text=3), "text"),
    (lambda: W.check_frame([1]), "compute"),
])
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()


def test_heatmap_colour_maps_reach_both_renderers():
    """A grey map for images is carried in the frame (only when not the default), refused when
    unknown, drawn by matplotlib and named in the kernel-free renderer."""
    from pathlib import Path
    import matplotlib
    matplotlib.use("Agg")
    from kexue.widgets.draw import draw_frame
    hm = W.heatmap([[0.0, 1.0]], [0, 1, 2], [0, 1], cmap="gray_r")
    assert hm["cmap"] == "gray_r" and "cmap" not in W.heatmap([[0.0, 1.0]], [0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="^cmap"):
        W.heatmap([[0.0]], [0, 1], [0, 1], cmap="jet")
    fig = draw_frame(W.frame(W.panel("t", "x", "y", heatmap=hm)))
    assert fig.axes[0].collections[0].get_cmap().name == "gray_r"
    js = (Path(__file__).resolve().parents[3] / "_assets" / "kexue-explorer.js").read_text()
    assert all(f'"{c}"' in js for c in W.CMAPS if c != "viridis")
