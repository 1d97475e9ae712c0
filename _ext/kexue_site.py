"""The book's navigation and search helpers (a local Sphinx extension named in _config.yml).

* Titles in plain text. A chapter title with inline math (``Smooth Top-k: from softmax to $k$
  winners``) would otherwise reach the tab title, the sidebar, the previous/next links and the
  search results as raw TeX (``\\(k\\)``): those places are not typeset. The page's own heading
  keeps its math; the copies Sphinx keeps of it (env.titles, env.longtitles, env.tocs) get the
  plain reading of the formula (``k``).
* ``kexue-chapters``: a directive for the front page that lists the parts and their chapters,
  generated from _toc.yml at build time, so a reader on a phone has a way in
  from the page body itself.
* Search snippets without fetching pages. Sphinx's search page fetches every result page to cut
  a snippet from it; a browser refuses that over file:// (how the README opens the book). The
  build writes the plain text of every page into _static/kexue-search-text.js, which the search
  page loads with a script tag; _assets/kexue-search.js cuts the snippets from it
  (``html_show_search_summary = False`` switches Sphinx's fetches off).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import booktoc  # noqa: E402  (the one reader of _toc.yml)
GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "theta": "θ",
         "lambda": "λ", "mu": "μ", "sigma": "σ", "tau": "τ", "pi": "π", "Sigma": "Σ",
         "infty": "∞", "to": "→", "le": "≤", "ge": "≥", "times": "×", "cdot": "·",
         "approx": "≈", "sqrt": "√", "ell": "ℓ", "top": "⊤", "in": "∈"}


def tex_to_text(tex: str) -> str:
    """A plain-text reading of a short inline formula: ``\\mathcal{T}_k`` -> ``T_k``."""
    s = re.sub(r"\\(?:operatorname|mathrm|mathcal|mathbb|mathbf|text|boldsymbol)\s*\{([^{}]*)\}",
               r"\1", tex)
    s = re.sub(r"\\([A-Za-z]+)", lambda m: GREEK.get(m.group(1), m.group(1)), s)
    s = re.sub(r"\\[,;:! ]", " ", s)
    return re.sub(r"\s+", " ", s.replace("{", "").replace("}", "")).strip()


def _plain_math(node: nodes.Node) -> None:
    """Replace every math node under node by its plain reading (in place)."""
    for m in list(node.findall(nodes.math)):
        m.replace_self(nodes.Text(tex_to_text(m.astext())))


def _plain_titles(app, doctree) -> None:
    env, doc = app.env, app.env.docname
    for store in (env.titles, env.longtitles, env.tocs):
        if doc in store:
            _plain_math(store[doc])


SKIP = ("literal_block", "cell_input", "raw", "comment", "script")


def _page_text(doctree) -> str:
    """The readable text of a page: prose, headings, admonitions; no code, math as plain text."""
    parts: list[str] = []

    def walk(n):
        if isinstance(n, nodes.Text):
            parts.append(str(n))
            return
        if isinstance(n, nodes.math):
            parts.append(tex_to_text(n.astext()))
            return
        if isinstance(n, nodes.math_block):
            parts.append(" " + tex_to_text(n.astext()) + " ")
            return
        if isinstance(n, (nodes.literal_block, nodes.raw, nodes.comment)) or \
                any(c in SKIP for c in n.get("classes", [])):
            return
        for c in n.children:
            walk(c)
        if isinstance(n, (nodes.paragraph, nodes.title, nodes.list_item, nodes.entry, nodes.label,
                          nodes.term, nodes.caption)):
            parts.append("\n")

    walk(doctree)
    return re.sub(r"[ \t]+", " ", re.sub(r"\s*\n\s*", " ", "".join(parts))).strip()


def _collect_text(app, doctree, docname) -> None:
    """After references are resolved (citations read as their authors, not their keys)."""
    if not hasattr(app, "kexue_text"):
        app.kexue_text = {}
    app.kexue_text[docname] = _page_text(doctree)[:60_000]


def _write_text(app, exception) -> None:
    if exception or app.builder.format != "html":
        return
    out = Path(app.outdir) / "_static" / "kexue-search-text.js"
    prefix = "window.KEXUE_SEARCH_TEXT = "
    data = {}
    if out.exists():            # an incremental build rewrites only some pages: keep the rest
        old = out.read_text(encoding="utf-8").strip()
        if old.startswith(prefix):
            data = json.loads(old[len(prefix):].rstrip(";"))
    data.update(getattr(app, "kexue_text", {}))
    data = {d: t for d, t in data.items() if d in app.env.found_docs}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(prefix + json.dumps(data, ensure_ascii=False, sort_keys=True) + ";\n",
                   encoding="utf-8")


class Chapters(SphinxDirective):
    """The parts and chapters of _toc.yml as a list of links (the front page's way in)."""

    def run(self):
        lines: list[str] = []
        for caption, files in booktoc.parts():
            lines += [f"**{caption}**", ""]
            lines += [f"* {{doc}}`/{f}`" for f in files]
            lines.append("")
        box = nodes.container(classes=["kx-chapters"])
        self.state.nested_parse(StringList(lines, source="_toc.yml"), self.content_offset, box)
        return [box]


def setup(app):
    app.add_directive("kexue-chapters", Chapters)
    app.connect("doctree-read", _plain_titles, priority=900)   # after the title/toc collectors
    app.connect("doctree-resolved", _collect_text)
    app.connect("build-finished", _write_text)
    return {"parallel_read_safe": True, "parallel_write_safe": False}
