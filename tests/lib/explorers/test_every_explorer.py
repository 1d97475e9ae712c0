"""Every chapter's explorers, by the same rules: each factory builds with no argument, its
default frame is a checked frame, and every control changes what is drawn."""
from __future__ import annotations

import importlib

import pytest

from kexue import explorers
from kexue.widgets import Explorer, check_frame

FACTORIES = [(name, f) for name in explorers.MODULES
             for f in getattr(importlib.import_module(f"kexue.explorers.{name}"), "EXPLORERS", ())]


def test_every_chapter_module_declares_its_explorers():
    for name in explorers.MODULES:
        mod = importlib.import_module(f"kexue.explorers.{name}")
        assert getattr(mod, "EXPLORERS", ()), f"kexue.explorers.{name} has no EXPLORERS"


@pytest.mark.parametrize("name, factory", FACTORIES, ids=lambda v: getattr(v, "__name__", v))
def test_every_control_changes_the_frame(name, factory):
    ex = factory()
    assert isinstance(ex, Explorer)
    base = ex.update()
    check_frame(base)
    # a control may matter only for some choices of a dropdown (alpha only for entmax): try each
    settings = [{}] + [{d.name: o} for d in ex.controls if not hasattr(d, "values") for o in d.options]
    for c in ex.controls:
        others = [o for o in c.options if o != c.default]
        assert any(ex.update(**{**st, c.name: o}) != ex.update(**st) for st in settings
                   if c.name not in st for o in others[:3]), f"{name}: control {c.name} changes nothing"
