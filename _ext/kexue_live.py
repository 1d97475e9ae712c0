"""Live code from the page (a local Sphinx extension named in _config.yml).

Every chapter page gets _static/kexue-live.js (from _assets/) and two meta tags that it reads:
``kexue-live-path``, the folder the chapter's kernel starts in (relative to book/, the root of the
server `make live` starts), and ``kexue-live-explorers``, the chapter's explorers module (from its
set-up cell, ``from kexue.explorers import <module> as X``), whose explorers the page asks the
kernel for by name. The script adds a "Run live" button: with a server (its address and token
come in the URL fragment that `make live` prints, never in the pages) the page's code cells run in
a kernel there and its explorers draw frames the kernel computes; without one it says how to start
one and the page keeps its kernel-free explorers. No address, port or token is written into the
built book: scripts/live.py starts the server, kexue.widgets.live_comm answers the explorers.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

EXPLORERS = re.compile(r"^\s*from\s+kexue\.explorers\s+import\s+([a-z][a-z0-9_]*)\s+as\s+X\b", re.M)


def chapter_meta(docname: str, source: Path) -> dict[str, str] | None:
    """The live-mode meta tags of a page: None unless it is a chapter notebook with code."""
    parts = docname.split("/")
    if len(parts) != 3 or parts[0] != "book" or source.suffix != ".ipynb" or not source.exists():
        return None
    nb = json.loads(source.read_text(encoding="utf-8"))
    code = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    if not code:
        return None
    meta = {"kexue-live-path": parts[1]}
    for src in code:
        m = EXPLORERS.search(src)
        if m:
            meta["kexue-live-explorers"] = m.group(1)
            break
    return meta


def _page_meta(app, pagename, templatename, context, doctree):
    if doctree is None or pagename not in app.env.all_docs:
        return
    meta = chapter_meta(pagename, Path(app.env.doc2path(pagename)))
    if meta:
        tags = "".join(f'<meta name="{k}" content="{html.escape(v)}" />\n' for k, v in meta.items())
        context["metatags"] = context.get("metatags", "") + tags


def setup(app):
    app.add_js_file("kexue-live.js")
    app.connect("html-page-context", _page_meta)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
