"""The HTML book's live mode: its explorers' frames computed by a kernel, on demand.

`make live` starts a local Jupyter server; a chapter page switched live starts a kernel there,
runs ``from kexue.widgets import live_comm; live_comm.register()`` and then opens, for each
explorer on the page, a comm to the target :data:`TARGET` with the explorer's identity (the
chapter's explorers module and the explorer's name) and the positions of its controls. The kernel
finds the explorer among the module's ``EXPLORERS`` factories, checks that its controls are the
ones the page shows, and answers every new position with the frame :meth:`Explorer.update`
computes; the page draws it with the same renderer (``kexue-explorer.js``) as JupyterLab's live
widget. Messages (plain JSON):

* page -> kernel, on open: ``{"module": "integral_test", "name": "...", "spec": {...},
  "index": {control: position}}``; kernel -> page: ``{"ready": true, "frame": ..., "frame_seq": 0,
  "error": ""}`` or ``{"ready": false, "error": "..."}`` (the page then keeps its precomputed frames);
* page -> kernel: ``{"index": {...}, "seq": n}``; kernel -> page: ``{"frame": ..., "frame_seq": n,
  "frame_index": {...}, "error": ""}`` (``frame_index``: the positions the frame is of; ``error``
  is compute's error, shown in the figure, and ``frame`` is then empty).

numpy only (no mathematics here).
"""
from __future__ import annotations

import importlib
import re
from typing import Any, Callable

import comm

from .explorer import Explorer

__all__ = ["TARGET", "ExplorerChannel", "find_explorer", "register"]

#: The comm target the page opens (one comm per explorer on the page).
TARGET = "kexue.explorer"
_MODULE = re.compile(r"[a-z][a-z0-9_]*")
_FOUND: dict[tuple[str, str], Explorer] = {}


def find_explorer(module: str, name: str) -> Explorer:
    """The explorer called `name` among the factories ``EXPLORERS`` of
    ``kexue.explorers.<module>`` (each factory is called once; the explorer is kept for the next
    page that asks)."""
    if not isinstance(module, str) or not _MODULE.fullmatch(module):
        raise ValueError(f"module must name a chapter's explorers module (like 'smooth_topk'), got {module!r}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be an explorer's name, got {name!r}")
    key = (module, name)
    if key in _FOUND:
        return _FOUND[key]
    try:
        mod = importlib.import_module(f"kexue.explorers.{module}")
    except ModuleNotFoundError:
        raise ValueError(f"module: there is no kexue.explorers.{module}") from None
    names = []
    for factory in getattr(mod, "EXPLORERS", ()):
        ex = factory()
        _FOUND[(module, ex.name)] = ex
        names.append(ex.name)
        if ex.name == name:
            return ex
    raise ValueError(f"name: kexue.explorers.{module} has no explorer {name!r} (it has {names})")


class ExplorerChannel:
    """One explorer of a page, seen from the kernel: the page's open message in, frames out.

    ``ExplorerChannel(open_data).opened()`` is the answer to the open message;
    ``handle({"index": ..., "seq": n})`` the answer to each new position. Raises ValueError when
    the page asks for an explorer this kernel does not have, or one whose controls differ from
    the page's (the page keeps its precomputed frames then)."""

    def __init__(self, data: dict):
        if not isinstance(data, dict):
            raise ValueError(f"data must be the page's open message (a dict), got {type(data).__name__}")
        self.explorer = find_explorer(data.get("module"), data.get("name"))
        spec = data.get("spec")
        if spec is not None and spec.get("controls") != self.explorer.spec()["controls"]:
            raise ValueError(f"spec: the page's controls of {self.explorer.name!r} are not this "
                             "kernel's (the page was built from another version of the book)")
        self.index = self._checked(data.get("index") or {})

    def _checked(self, index: Any) -> dict:
        if not isinstance(index, dict):
            raise ValueError(f"index must map control names to positions, got {index!r:.80}")
        out = {}
        for c in self.explorer.controls:
            i = index.get(c.name, list(c.options).index(c.default))
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(c.options):
                raise ValueError(f"index of {c.name!r} must be in [0, {len(c.options) - 1}], got {i!r}")
            out[c.name] = i
        unknown = set(index) - set(out)
        if unknown:
            raise ValueError(f"index must name only {list(out)}, got {sorted(unknown)}")
        return out

    def frame(self, seq: int) -> dict:
        """The frame of the current positions as the page's renderer reads it (compute's error,
        if any, in ``error``)."""
        values = {c.name: list(c.options)[self.index[c.name]] for c in self.explorer.controls}
        try:
            fr, err = self.explorer.update(**values), ""
        except Exception as exc:        # shown in the figure, as the live widget shows it
            fr, err = {}, f"{type(exc).__name__}: {exc}"
        return {"frame": fr, "frame_seq": seq, "error": err, "frame_index": dict(self.index)}

    def opened(self) -> dict:
        return {"ready": True, **self.frame(0)}

    def handle(self, data: dict) -> dict:
        if not isinstance(data, dict):
            raise ValueError(f"data must be a message with index and seq, got {type(data).__name__}")
        seq = data.get("seq", 0)
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise ValueError(f"seq must be an integer >= 0, got {seq!r}")
        self.index = self._checked(data.get("index") or {})
        return self.frame(seq)


def _on_open(comm: Any, msg: dict) -> None:
    try:
        channel = ExplorerChannel(msg["content"]["data"])
    except Exception as exc:
        comm.send({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return

    def on_msg(m: dict) -> None:
        try:
            comm.send(channel.handle(m["content"]["data"]))
        except Exception as exc:
            comm.send({"frame": {}, "frame_seq": -1, "error": f"{type(exc).__name__}: {exc}"})

    comm.on_msg(on_msg)
    comm.send(channel.opened())


def register(manager: Any = None) -> str:
    """Register :data:`TARGET` with the kernel's comm manager (``comm.get_comm_manager()``
    unless given); returns the target's name."""
    if manager is None:
        manager = comm.get_comm_manager()
    if not callable(getattr(manager, "register_target", None)):
        raise ValueError(f"manager must be a comm manager, got {type(manager).__name__}")
    handler: Callable[[Any, dict], None] = _on_open
    manager.register_target(TARGET, handler)
    return TARGET
