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


def test_live_widget_is_the_renderer_as_an_anywidget():
    import anywidget
    ex = line_explorer()
    w = ex.widget()
    assert isinstance(w, anywidget.AnyWidget) and isinstance(w, W.LiveExplorer)
    assert "export default" in str(w._esm) and "kx-schema-begin" in str(w._esm)
    assert w.spec == {"name": "line", "controls": ex.payload()["controls"]}
    assert w.index == {"a": 1, "p": 0} and w.values == {"a": 1.0, "p": 1}
    assert w.frame == ex.last and w.frame["text"] == "max = 1.00" and w.rev == 1 and w.error == ""


def test_live_widget_computes_a_frame_when_the_values_change():
    ex = line_explorer()
    w = ex.widget()
    fr = w.set(a=0.5)
    assert fr["text"] == "max = 0.50" and w.frame == fr == ex.last and w.rev == 2
    w.values = {"p": 2}
    assert ex.last["panels"][0]["series"][0]["y"][2] == 0.125 and w.values == {"a": 0.5, "p": 2}
    # what the browser does: new positions with its request number, answered with that number
    w.set_state({"index": {"a": 2, "p": 1}, "seq": 7})
    assert w.frame["text"] == "max = 2.00" and w.frame_seq == 7 and w.rev == 4


def test_live_widget_refuses_bad_values_and_shows_compute_errors():
    w = line_explorer().widget()
    with pytest.raises(ValueError, match="^a must be one of"):
        w.set(a=3.0)
    with pytest.raises(ValueError, match="^params"):
        w.set(b=1)
    import traitlets
    with pytest.raises(traitlets.TraitError, match="index of 'a'"):
        w.index = {"a": 5, "p": 0}

    def compute(a):
        if a > 1:
            raise RuntimeError("too large")
        return W.frame(W.panel("t", "x", "y", series=[W.line([0, 1], [0, a])]))
    w = W.Explorer([W.Slider("a", [1, 2], 1)], compute, name="e").widget()
    with pytest.raises(ValueError, match="compute failed: RuntimeError: too large"):
        w.set(a=2)
    assert w.frame == {} and "too large" in w.error
    w.set(a=1)
    assert w.error == "" and w.frame["panels"][0]["series"][0]["y"] == [0.0, 1.0]
    with pytest.raises(ValueError, match="^explorer"):
        W.LiveExplorer("not an explorer")


def test_renderer_script_is_a_classic_script_that_boots_the_page():
    js = W.renderer_script()
    assert "\nexport " not in js and js.count("bootPage();") == 1    # where the export was
    assert js.startswith("/*") and "(function () {" in js and js.rstrip().endswith("})();")
    module = W.RENDERER.read_text()
    assert module.count("export default { render: render };") == 1


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


def test_the_book_drops_live_explorers_from_the_widget_state():
    """The executed notebooks store the live explorers' models (module "anywidget"); the book
    has no kernel and no anywidget front end, so its Sphinx extension removes them."""
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[3] / "_ext" / "kexue_sphinx.py"
    spec = importlib.util.spec_from_file_location("kexue_sphinx", path)
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    w = line_explorer().widget()
    assert w._model_module == "anywidget"
    layout = {"model_module": "@jupyter-widgets/base", "model_name": "LayoutModel", "state": {}}
    live = {"model_module": w._model_module, "model_name": w._model_name, "state": {"x": "</script>"}}
    slider = {"model_module": "@jupyter-widgets/controls", "model_name": "IntSliderModel",
              "state": {"description": "</b>"}}
    body = json.dumps({"version_major": 2, "version_minor": 0, "state": {"L": layout, "A": live, "S": slider}})
    kept = json.loads(ext.strip_live_widgets(body))
    assert kept["state"] == {"L": layout, "S": slider} and kept["version_major"] == 2
    assert "</" not in ext.strip_live_widgets(body)
    # nothing to render once the live models are gone (their layouts alone): no state, and then
    # the page loads neither require.js nor the widget manager
    assert ext.strip_live_widgets(json.dumps({"state": {"A": live}})) is None
    assert ext.strip_live_widgets(json.dumps({"state": {"L": layout, "A": live}})) is None


def test_live_widget_computes_the_positions_around_ahead_inside_a_kernel_loop():
    """In a running event loop (the kernel's) the widget sends, one per turn of the loop, the
    frames of the positions around the current one (nearest first, the last move's direction
    first), each the frame Explorer.update computes there; outside a loop it computes nothing
    ahead. A position seen before is answered from the cache."""
    import asyncio
    calls = []

    def compute(a, b):
        calls.append((a, b))
        return W.frame(W.panel("t", "x", "y", series=[W.line([0, 1], [a, b])]))
    ex = W.Explorer([W.Slider("a", [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 3.0),
                     W.Slider("b", [0.0, 1.0, 2.0], 1.0)], compute, name="grid")
    w = ex.widget()
    assert w._ahead == [] and len(calls) == 1 and w.frame_index == {"a": 3, "b": 1}
    sent = []
    w.send = lambda content, buffers=None: sent.append(content)

    async def move():
        w.set_state({"index": {"a": 3, "b": 2}, "seq": 1})       # no view yet: nothing ahead
        for _ in range(5):
            await asyncio.sleep(0)
        assert sent == [] and w._ahead == []
        w.set_state({"index": {"a": 3, "b": 1}, "seq": 2})
        w._on_custom(w, {"kx": "view"}, [])                       # what the renderer sends
        w.set_state({"index": {"a": 4, "b": 1}, "seq": 3})       # one step right
        for _ in range(40):
            await asyncio.sleep(0)
    asyncio.run(move())
    assert w.frame_seq == 3 and w.frame_index == {"a": 4, "b": 1}
    order = [tuple(m["index"]) for m in sent]
    # distance 1 before 2 before 3; the moved control a first, right before left; (3, 1) was drawn
    assert order[:5] == [(5, 1), (4, 2), (4, 0), (6, 1), (2, 1)], order
    assert (3, 1) not in order and set(order) == {(5, 1), (6, 1), (7, 1), (2, 1), (1, 1), (4, 2), (4, 0)}
    for m in sent:
        a, b = m["index"]
        assert m["kx"] == "ahead" and m["frame"] == ex.update(a=float(a), b=float(b))
    n = len(calls)
    assert w.set(a=5.0, b=1.0)["panels"][0]["series"][0]["y"] == [5.0, 1.0] and len(calls) == n
    assert ex.last == w.frame
