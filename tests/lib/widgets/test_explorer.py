"""Tests of kexue.widgets.explorer: controls over a grid, the live widget and the static export."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from kexue import widgets as W


def line_explorer():
    """y = a x^p over a grid: the frame's numbers can be checked by hand."""
    xs = np.linspace(0, 1, 5)

    def compute(a, p):
        return W.frame(W.panel(f"a={a}", "x", "y", series=[W.line(xs, a * xs ** p, "a x^p")]),
                       text=f"max = {a:.2f}")
    return W.Explorer([W.Slider("a", [0.5, 1.0, 2.0], 1.0, "a"),
                       W.Dropdown("p", [1, 2], 1, "power", names=["linear", "square"])],
                      compute, name="line")


def test_update_drives_the_computation_and_keeps_the_last_frame():
    ex = line_explorer()
    fr = ex.update(a=2.0, p=2)
    assert fr["panels"][0]["series"][0]["y"] == [0.0, 0.125, 0.5, 1.125, 2.0]
    assert fr["text"] == "max = 2.00" and ex.last is fr
    assert ex.update()["panels"][0]["series"][0]["y"] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_frames_cover_the_grid_in_row_major_order():
    ex = line_explorer()
    frames = ex.frames()
    assert len(frames) == 3 * 2
    # index = i_a * 2 + i_p: a = 2.0, p = 2 is the last frame
    assert frames[-1]["panels"][0]["series"][0]["y"][-1] == 2.0
    assert frames[1]["panels"][0]["title"] == "a=0.5"
    payload = ex.payload()
    assert [c["default"] for c in payload["controls"]] == [1, 0]
    assert payload["controls"][1]["labels"] == ["linear", "square"]


def test_static_html_embeds_parseable_json_and_respects_the_size_cap():
    ex = line_explorer()
    st = ex.static()
    html = st.html()
    data = re.search(r'<script type="application/json" class="kx-data">(.*?)</script>', html).group(1)
    assert json.loads(data.replace("<\\/", "</"))["name"] == "line"
    assert "6 precomputed states" in html
    with pytest.raises(ValueError, match="^max_bytes"):
        ex.static(max_bytes=100)


def test_live_widget_redraws_when_a_control_moves():
    ex = line_explorer()
    box = ex.widget()
    assert ex.last["text"] == "max = 1.00"
    box.controls["a"].value = 0.5
    assert ex.last["text"] == "max = 0.50"
    box.controls["p"].value = 2
    assert ex.last["panels"][0]["series"][0]["y"][2] == 0.125


def test_rounding_is_deterministic_and_refuses_non_finite_numbers():
    assert W.round_frame({"a": [np.float64(1 / 3), np.int64(2), True]}) == {"a": [0.3333, 2, True]}
    with pytest.raises(ValueError, match="non-finite"):
        W.round_frame([1.0, float("nan")])


@pytest.mark.parametrize("call, name", [
    (lambda: W.Slider("s", [1.0], 1.0), "values"),
    (lambda: W.Slider("s", [1.0, 2.0], 3.0), "default"),
    (lambda: W.Dropdown("d", [], None), "options"),
    (lambda: W.Dropdown("d", ["a"], "b"), "default"),
    (lambda: W.Explorer([], lambda: None, name="e"), "controls"),
    (lambda: line_explorer().update(b=1), "params"),
    (lambda: W.Explorer([W.Slider("a", [1, 2], 1)], lambda a: {"panels": []}, name="e").update(), "panels"),
    (lambda: W.Explorer([W.Slider("a", [1, 2], 1)], lambda a: None, name="e").update(), "compute"),
])
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()
