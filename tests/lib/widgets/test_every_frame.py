"""Every frame of every chapter's explorer (the full grid that ``static()`` precomputes) is
checked against the one frame schema, in Python, and every default frame also by the
renderer's own checker (run in node where node is installed)."""
from __future__ import annotations

import importlib
import json
import shutil
import subprocess

import pytest
import torch

from kexue import explorers
from kexue.widgets import RENDERER, check_frame

torch.set_num_threads(1)

FACTORIES = [(name, f) for name in explorers.MODULES
             for f in getattr(importlib.import_module(f"kexue.explorers.{name}"), "EXPLORERS", ())]
NODE = shutil.which("node")


def run_js_checker(frames: list) -> list:
    """The renderer's checkFrame on each frame: None where it passes, else the error message."""
    src = RENDERER.read_text().replace("export default { render: render };", "")
    prog = ("const fs = require('fs');\n"
            "const lib = new Function(" + json.dumps(src + "\nreturn { checkFrame: checkFrame };") + ")();\n"
            "const frames = JSON.parse(fs.readFileSync(0, 'utf8'));\n"
            "console.log(JSON.stringify(frames.map(f => { try { lib.checkFrame(f); return null; }"
            " catch (e) { return e.message; } })));\n")
    out = subprocess.run([NODE, "-e", prog], input=json.dumps(frames), capture_output=True, text=True,
                         check=True, timeout=60)
    return json.loads(out.stdout)


@pytest.mark.parametrize("name, factory", FACTORIES, ids=lambda v: getattr(v, "__name__", v))
def test_every_frame_of_the_grid_matches_the_schema(name, factory):
    frames = factory().frames()          # frames() checks each one; check again, explicitly
    assert frames and all(check_frame(fr) is fr for fr in frames)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_renderer_accepts_every_default_frame_and_refuses_unknown_keys():
    defaults = [factory().update() for _, factory in FACTORIES]
    assert run_js_checker(defaults) == [None] * len(defaults)
    fr = json.loads(json.dumps(defaults[0]))
    fr["panels"][0]["colour"] = "#000000"
    bad_series = {"panels": [{"title": "t", "xlabel": "", "ylabel": "",
                              "series": [{"kind": "line", "x": [0], "y": [0], "lable": "a"}]}], "text": ""}
    bad_enum = {"panels": [{"title": "t", "xlabel": "", "ylabel": "", "series": [], "yscale": "symlog"}],
                "text": ""}
    errors = run_js_checker([fr, bad_series, bad_enum])
    assert "frame.panels[0]: unknown key 'colour'" in errors[0]
    assert "frame.panels[0].series[0]: unknown key 'lable'" in errors[1]
    assert "frame.panels[0].yscale must be one of" in errors[2]
