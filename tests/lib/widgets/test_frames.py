"""Tests of kexue.widgets.frames: the checked builders every explorer's frame is made of."""
from __future__ import annotations

import json
import re

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
    with pytest.raises(ValueError, match="unknown key 'legnd'"):
        W.check_frame({"panels": [dict(W.panel("t", "x", "y"), legnd=False)], "text": ""})


@pytest.mark.parametrize("where, bad", [
    ("frame", lambda fr: fr.update(txt="")),
    ("panels[0]", lambda fr: fr["panels"][0].update(xlimits=[0, 1])),
    ("series[0]", lambda fr: fr["panels"][0]["series"][0].update(colour="#000000")),
    ("heatmap", lambda fr: fr["panels"][0]["heatmap"].update(colormap="jet")),
    ("vlines[0]", lambda fr: fr["panels"][0]["vlines"][0].update(lable="v")),
    ("hlines[0]", lambda fr: fr["panels"][0]["hlines"][0].update(dashed=True)),
])
def test_check_frame_names_an_unknown_key_anywhere(where, bad):
    fr = W.frame(W.panel("t", "x", "y", series=[W.line([0, 1], [0, 1], "l")],
                         heatmap=W.heatmap([[1.0]], [0, 1], [0, 1]), vlines=[W.vline(0.5, "v")],
                         hlines=[W.hline(0.5)]))
    assert W.check_frame(fr) is fr
    bad(fr)
    with pytest.raises(ValueError, match=rf"{re.escape(where)}: unknown key '\w+'"):
        W.check_frame(fr)


@pytest.mark.parametrize("bad, match", [
    (lambda fr: fr["panels"][0].update(xscale="symlog"), r"xscale must be one of"),
    (lambda fr: fr["panels"][0]["series"][0].update(x=[0, "a"]), r"series\[0\]\.x\[1\] must be a finite number"),
    (lambda fr: fr["panels"][0]["series"][0].update(y=[0.0]), r"x and y must have equal lengths"),
    (lambda fr: fr["panels"][0]["series"][0].pop("kind"), r"lacks the key 'kind'"),
    (lambda fr: fr["panels"][0].update(legend=1), r"legend must be true or false"),
    (lambda fr: fr["panels"][0].update(heatmap={"z": [[1.0, 2.0]], "x": [0, 1], "y": [0, 1]}), r"heatmap: z must be"),
    (lambda fr: fr["panels"][0].update(ylim=[1.0, 0.0]), r"ylim must be"),
    (lambda fr: fr.update(text=None), r"text must be a string"),
    (lambda fr: fr.update(panels=[]), r"^panels"),
])
def test_check_frame_refuses_wrong_types_and_shapes(bad, match):
    fr = W.frame(W.panel("t", "x", "y", series=[W.line([0, 1], [0, 1], "l")]))
    bad(fr)
    with pytest.raises(ValueError, match=match):
        W.check_frame(fr)


def test_the_renderer_mirrors_the_schema_verbatim():
    js = W.RENDERER.read_text()
    block = re.search(r"/\* kx-schema-begin \*/\s*var SCHEMA = (.*?);\s*/\* kx-schema-end \*/", js, re.S)
    assert block, "the renderer has no kx-schema block"
    assert json.loads(block.group(1)) == json.loads(json.dumps(W.SCHEMA)), \
        "kexue-explorer.js's SCHEMA differs from kexue.widgets.SCHEMA: paste json.dumps(SCHEMA, sort_keys=True)"
    for typ, spec in W.SCHEMA.items():              # every key type is one the checkers know
        for t in (spec.values() if typ == "enums" else spec["keys"].values()):
            if isinstance(t, str):
                base = t.rstrip("[]")
                assert base in {"string", "color", "boolean", "number", "ticks"} | set(W.SCHEMA) | \
                    set(W.SCHEMA["enums"]), t


def test_readouts_and_labels_never_show_negative_zero():
    assert W.no_negative_zero("entropy -0.000, x = -0, y = -0.001, a-0.0, -0.5, -0.000e+00") == \
        "entropy 0.000, x = 0, y = -0.001, a-0.0, -0.5, 0.000e+00"
    assert W.frame(W.panel("t", "x", "y"), text=f"H = {-1e-9:.3f}")["text"] == "H = 0.000"
    assert W.Slider("s", [-1e-9, 1.0], 1.0, fmt="{:.2f}").labels() == ["0.00", "1.00"]


def test_aspect_is_carried_only_for_images():
    assert W.heatmap([[0.0]], [0, 1], [0, 1], aspect="equal")["aspect"] == "equal"
    assert "aspect" not in W.heatmap([[0.0]], [0, 1], [0, 1])
    with pytest.raises(ValueError, match="^aspect"):
        W.heatmap([[0.0]], [0, 1], [0, 1], aspect="square")


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
    (lambda: W.check_frame([1]), "fr"),
])
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()


def test_heatmap_colour_maps_reach_both_renderers():
    """A grey map for images is carried in the frame (only when not the default), refused when
    unknown, drawn by matplotlib and named in the kernel-free renderer."""
    import matplotlib
    matplotlib.use("Agg")
    from kexue.widgets.draw import draw_frame
    hm = W.heatmap([[0.0, 1.0]], [0, 1, 2], [0, 1], cmap="gray_r")
    assert hm["cmap"] == "gray_r" and "cmap" not in W.heatmap([[0.0, 1.0]], [0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="^cmap"):
        W.heatmap([[0.0]], [0, 1], [0, 1], cmap="jet")
    fig = draw_frame(W.frame(W.panel("t", "x", "y", heatmap=hm)))
    assert fig.axes[0].collections[0].get_cmap().name == "gray_r"
    js = W.RENDERER.read_text()
    assert all(f'"{c}"' in js for c in W.CMAPS if c != "viridis")
