"""Tests of kexue.widgets.live_comm: the kernel side of the HTML book's live explorers."""
from __future__ import annotations

import json

import pytest

from kexue.explorers import integral_test
from kexue.widgets import live_comm as L


def open_data(**over) -> dict:
    ex = integral_test.rectangles()
    data = {"module": "integral_test", "name": ex.name, "spec": ex.spec(),
            "index": {c["name"]: c["default"] for c in ex.spec()["controls"]}}
    return {**data, **over}


def test_the_channel_finds_the_explorer_and_answers_each_position_with_its_frame():
    ex = integral_test.rectangles()
    ch = L.ExplorerChannel(json.loads(json.dumps(open_data())))      # as it arrives: JSON
    first = ch.opened()
    assert first["ready"] is True and first["frame_seq"] == 0 and first["error"] == ""
    assert first["frame"] == ex.update()
    # the last position of every control: the frame Explorer.update computes there
    last = {c.name: len(c.options) - 1 for c in ex.controls}
    got = ch.handle({"index": last, "seq": 7})
    assert got["frame_seq"] == 7 and got["error"] == ""
    assert got["frame"] == ex.update(**{c.name: list(c.options)[-1] for c in ex.controls})
    assert got["frame"] != first["frame"]
    json.dumps(got)                                      # what the comm sends is plain JSON
    # a control the message leaves out goes back to its default
    part = ch.handle({"index": {ex.controls[0].name: 0}, "seq": 8})
    assert part["frame"] == ex.update(**{ex.controls[0].name: ex.controls[0].options[0]})


def test_find_explorer_keeps_what_it_built():
    a = L.find_explorer("integral_test", "integral-test-rectangles")
    assert a is L.find_explorer("integral_test", "integral-test-rectangles")


def test_a_compute_error_is_sent_to_the_figure_not_raised():
    ch = L.ExplorerChannel(open_data())

    def boom(**_):
        raise RuntimeError("no")
    ch.explorer = type(ch.explorer)(ch.explorer.controls, boom, name=ch.explorer.name)
    got = ch.handle({"index": {}, "seq": 1})
    assert got["frame"] == {} and got["error"] == "RuntimeError: no"


class FakeComm:
    def __init__(self):
        self.sent, self.handler = [], None

    def send(self, data):
        self.sent.append(data)

    def on_msg(self, f):
        self.handler = f


class FakeManager:
    def __init__(self):
        self.targets = {}

    def register_target(self, name, f):
        self.targets[name] = f


def test_register_wires_the_target_to_a_comm():
    m = FakeManager()
    assert L.register(m) == L.TARGET == "kexue.explorer"
    comm = FakeComm()
    m.targets[L.TARGET](comm, {"content": {"data": open_data()}})
    assert comm.sent[0]["ready"] is True
    comm.handler({"content": {"data": {"index": {"N": 0}, "seq": 3}}})
    assert comm.sent[1]["frame_seq"] == 3 and comm.sent[1]["error"] == ""
    comm.handler({"content": {"data": {"index": {"N": 99}, "seq": 4}}})      # a bad position
    assert comm.sent[2]["frame_seq"] == -1 and "index of 'N'" in comm.sent[2]["error"]
    bad = FakeComm()
    m.targets[L.TARGET](bad, {"content": {"data": open_data(name="nope")}})
    assert bad.sent == [{"ready": False, "error": bad.sent[0]["error"]}] and "nope" in bad.sent[0]["error"]
    assert bad.handler is None


@pytest.mark.parametrize("call, name", [
    (lambda: L.find_explorer("Integral-Test", "x"), "module"),
    (lambda: L.find_explorer("no_such_chapter", "x"), "module"),
    (lambda: L.find_explorer("integral_test", ""), "name"),
    (lambda: L.find_explorer("integral_test", "other"), "name"),
    (lambda: L.ExplorerChannel("x"), "data"),
    (lambda: L.ExplorerChannel(open_data(spec={"controls": []})), "spec"),
    (lambda: L.ExplorerChannel(open_data(index={"N": -1})), "index"),
    (lambda: L.ExplorerChannel(open_data(index={"M": 0})), "index"),
    (lambda: L.ExplorerChannel(open_data(index=[1])), "index"),
    (lambda: L.ExplorerChannel(open_data()).handle({"index": {}, "seq": -2}), "seq"),
    (lambda: L.ExplorerChannel(open_data()).handle([]), "data"),
    (lambda: L.register(object()), "manager"),
])
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()
