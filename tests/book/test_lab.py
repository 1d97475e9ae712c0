"""JupyterLab in a real browser (headless Chromium driven by Playwright), as `make lab` sets it up.

JupyterLab is started with `make lab`'s configuration (scripts/lab/jupyter_lab_config.py,
scripts/labbook.py) on 127.0.0.1, a free port and a random token, on a temporary copy of one part
of the book, with empty settings/workspace folders. A reader's path is followed with real input:
the part's folder lists one entry per chapter; double-clicking the chapter's text notebook opens it
as a notebook; Run > Run All Cells runs it; then the MyST is checked (an erratum is a rendered
admonition, citations read as in the HTML book, solutions and their computed cells are folded,
glued numbers show as numbers), no cell has an error, the console has no error, and a live
explorer's slider dragged with the mouse redraws its figure from the kernel. Opening and running the chapter leaves `git status` as it was
and writes nothing (no autosave).

Needs Chromium at $CHROMIUM (default /usr/bin/chromium). KEXUE_LAB_SHOTS names a folder for
screenshots (none are kept when it is unset); KEXUE_LAB_CHAPTER=<part>/<slug> another chapter.
About a minute on 2 idle cores.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

import labbook
from bookbrowser import CHROMIUM, FLAGS, ROOT, shot

SHOTS = os.environ.get("KEXUE_LAB_SHOTS")
# a fast chapter with an erratum, citations, glue, solutions and a live explorer (KEXUE_LAB_CHAPTER: another)
PART, SLUG = os.environ.get("KEXUE_LAB_CHAPTER", "mathematics/integral-test").split("/")
NUMBER = re.compile(r"^[<>≤≥~−+-]?\s*\d[\d.,]*(e[+-]?\d+)?%?$")


def test_every_glued_number_and_citation_of_every_chapter_shows_in_jupyterlab():
    """Each {glue:text} role of each chapter is replaced by its stored value when JupyterLab opens
    the chapter (formatted as the HTML book formats it), each {cite:p}/{cite:t} by author-year
    text from references.bib; saving restores the text exactly."""
    import nbformat
    bib = labbook.read_bib(ROOT / "book" / "references.bib")
    missing, totals = [], [0, 0]
    for ipynb in sorted((ROOT / "book").glob("*/*.ipynb")):
        nb = nbformat.read(ipynb, as_version=4)
        before = [c.source for c in nb.cells]
        md = [c.source for c in nb.cells if c.cell_type == "markdown"]
        glues = sum(len(labbook.GLUE_ROLE.findall(s)) for s in md)
        cites = sum(len(labbook.CITE_ROLE.findall(s)) for s in md)
        totals[0] += glues
        totals[1] += cites
        n_glue, n_cite = labbook.glue_in(nb), labbook.cite_in(nb, bib)
        assert labbook.macros_in(nb), f"{ipynb}: no markdown cell for the macros' frontmatter"
        if (n_glue, n_cite) != (glues, cites):
            missing.append(f"{ipynb.relative_to(ROOT)}: glue {n_glue} of {glues}, cite {n_cite} of {cites}")
        meta = [json.dumps(c.metadata, sort_keys=True) for c in nb.cells]
        labbook.fold_in(nb)
        back = labbook.macros_out(labbook.fold_out(labbook.cite_out(labbook.glue_out(nb))))
        assert [c["source"] for c in back["cells"]] == before, ipynb
        assert [json.dumps(c["metadata"], sort_keys=True) for c in back["cells"]] == meta, ipynb
    assert totals[0] > 0 and totals[1] > 0
    assert missing == [], f"roles JupyterLab would show raw: {missing}"


def test_glue_text_formats_as_myst_nb():
    vals = {"a": "0.5772161649", "b": "'yes'", "c": "3"}
    assert labbook.glue_text(vals, "a") == "0.5772161649"
    assert labbook.glue_text(vals, "a:.3f") == "0.577"
    assert labbook.glue_text(vals, "a:.1%") == "57.7%"
    assert labbook.glue_text(vals, "b") == "yes"
    assert labbook.glue_text(vals, "c:d") == "3"
    assert labbook.glue_text(vals, "zzz") is None
    nb = {"cells": [{"cell_type": "markdown", "source": "x {glue:text}`a:.2f` and {glue:text}`zzz`."},
                    {"cell_type": "code", "source": "", "outputs": [
                        {"output_type": "display_data", "metadata": {"scrapbook": {
                            "name": "a", "mime_prefix": labbook.GLUE_PREFIX}},
                         "data": {labbook.GLUE_PREFIX + "text/plain": "0.5772161649"}}]}]}
    assert labbook.glue_in(nb) == 1
    assert nb["cells"][0]["source"] == "x {abbr}`0.58 (glue: a:.2f)` and {glue:text}`zzz`."
    assert labbook.glue_out(nb)["cells"][0]["source"] == "x {glue:text}`a:.2f` and {glue:text}`zzz`."
    bib = {"k1": {"label": "Graham et al.", "year": "1994", "ref": "Graham, Knuth. Concrete. 1994."},
           "k2": {"label": "Su", "year": "2009", "ref": "Su. Test. 2009."}}
    nb = {"cells": [{"cell_type": "markdown", "source": "a {cite:p}`k1,k2`, {cite:t}`k2` {cite:p}`zz`"}]}
    assert labbook.cite_in(nb, bib) == 2
    assert nb["cells"][0]["source"].startswith("a {abbr}`[Graham et al., 1994; Su, 2009] (cite:p k1,k2: ")
    assert "{abbr}`Su [2009] (cite:t k2: Su. Test. 2009.)` {cite:p}`zz`" in nb["cells"][0]["source"]
    assert labbook.cite_out(nb)["cells"][0]["source"] == "a {cite:p}`k1,k2`, {cite:t}`k2` {cite:p}`zz`"


def test_the_book_macros_reach_jupyterlab_myst_as_frontmatter():
    """kexue.notebook.MACROS become the `math:` frontmatter of the first markdown cell (where
    jupyterlab-myst reads it), and saving takes it off again."""
    import yaml
    from kexue.notebook import MACROS
    block = labbook.macros_frontmatter()
    assert block.startswith("---\n") and block.endswith("\n---\n")
    math = yaml.safe_load(block.strip().strip("-"))["math"]
    assert math == {"\\" + name: body for name, (body, _) in MACROS.items()}
    assert math[r"\topk"] == r"\mathcal{T}_{#1}" and math[r"\E"] == r"\mathbb{E}"
    nb = {"cells": [{"cell_type": "code", "source": "x = 1"},
                    {"cell_type": "markdown", "source": "# Title"},
                    {"cell_type": "markdown", "source": r"$\E[x]$"}]}
    assert labbook.macros_in(nb)
    assert nb["cells"][1]["source"] == block + "# Title"
    assert [c["source"] for c in nb["cells"][::2]] == ["x = 1", r"$\E[x]$"]
    assert [c["source"] for c in labbook.macros_out(nb)["cells"]] == ["x = 1", "# Title", r"$\E[x]$"]
    own = {"cells": [{"cell_type": "markdown", "source": "---\ntitle: x\n---\n# T"}]}
    assert not labbook.macros_in(own) and own["cells"][0]["source"] == "---\ntitle: x\n---\n# T"
    assert not labbook.macros_in({"cells": [{"cell_type": "code", "source": ""}]})


def _git_status() -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout


def _digest(folder: Path) -> dict[str, str]:
    """Hashes of the files under folder, but JupyterLab's revert points (.ipynb_checkpoints/,
    created when a document is opened; git-ignored)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and ".ipynb_checkpoints" not in p.relative_to(folder).parts}



MACRO_CELL = r"Macro check: $\E[X] + \topk{k}(x) + \sg(\softmax(x))$."

FOLDED = """() => window.jupyterapp.shell.currentWidget.content.widgets
  .filter(c => (c.model.getMetadata('tags') || []).includes('hide-cell'))
  .map(c => [c.inputHidden, c.outputHidden])"""

MYST = """() => {
  const md = [...document.querySelectorAll('.jp-MarkdownCell .myst')];
  const text = md.map(e => e.textContent).join('\\n');
  const admon = [...document.querySelectorAll('.jp-MarkdownCell aside.myst-admonition')];
  const details = [...document.querySelectorAll('.jp-MarkdownCell details')];
  return {
    rendered: md.length,
    raw: ['{cite', '{glue', ':::{', '{admonition}', ':class:', '{abbr}', 'math: {'].filter(t => text.includes(t)),
    errata: admon.filter(a => a.classList.contains('erratum')).map(a => a.querySelector('.myst-admonition-header-text').textContent),
    cites: [...document.querySelectorAll('.jp-MarkdownCell abbr[aria-label^="cite:"]')].map(a => a.textContent.trim()),
    solutions: details.filter(d => /Solution/.test(d.querySelector('summary').textContent)).map(d => d.open),
    glued: [...document.querySelectorAll('.jp-MarkdownCell abbr[aria-label^="glue: "]')]
             .map(a => [a.getAttribute('aria-label').slice(6), a.textContent.trim()]),
    macros: (cells => ({
      cells: cells.length,
      katex: cells.reduce((n, e) => n + e.querySelectorAll('.katex').length, 0),
      errors: cells.reduce((n, e) => n + e.querySelectorAll('.katex-error, .text-red-500').length, 0),
      raw: cells.some(e => [...e.querySelectorAll('.katex-html')].some(k => k.textContent.includes(String.fromCharCode(92)))),
    }))(md.filter(e => e.textContent.includes('Macro check'))),
  };
}"""


@pytest.mark.lab
def test_a_chapter_opens_runs_and_renders_in_jupyterlab():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make chromium` (as root) or set CHROMIUM")
    from playwright.sync_api import sync_playwright
    t_start = time.monotonic()
    status_before = _git_status()
    with labbook.Lab(parts=[PART]) as lab, sync_playwright() as pw:
        # one extra markdown cell (the second) that uses the book's macros: it renders only if
        # the macros reach jupyterlab-myst (a KaTeX error is logged to the console otherwise)
        md = lab.book / PART / f"{SLUG}.md"
        text = md.read_text()
        cut = text.index("\n```{code-cell}") + 1           # the end of the first markdown cell
        md.write_text(text[:cut] + "+++\n\n" + MACRO_CELL + "\n\n" + text[cut:])
        files_before = _digest(lab.book)
        # what the reader gets from make lab's settings (scripts/lab/overrides.json)
        doc = lab.api("lab/api/settings/@jupyterlab/docmanager-extension:plugin")["schema"]["properties"]
        assert doc["autosave"]["default"] is False, "autosave would rewrite the committed chapter"
        assert doc["defaultViewers"]["default"]["markdown"] == "Jupytext Notebook"
        news = lab.api("lab/api/settings/@jupyterlab/apputils-extension:notification")["schema"]["properties"]
        assert news["fetchNews"]["default"] == "false" and news["checkForUpdates"]["default"] is False

        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        log = {"console": [], "pageerror": []}
        page.on("console", lambda m: log["console"].append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: log["pageerror"].append(str(e)))
        try:
            # the part's folder: one entry per chapter (the .ipynb of a pair is hidden)
            page.goto(lab.url(f"lab/tree/{PART}"))
            item = page.locator(f".jp-DirListing-item[title*='{SLUG}.md']")
            item.wait_for(timeout=60_000)
            names = page.locator(".jp-DirListing-item .jp-DirListing-itemText").all_inner_texts()
            chapters = sorted(p.name for p in (lab.book / PART).glob("*.md"))
            assert sorted(names) == chapters and f"{SLUG}.md" in names, names
            shot(page, "lab-1-listing", SHOTS)
            item.dblclick()
            page.wait_for_selector(".jp-NotebookPanel .jp-MarkdownCell .myst", timeout=60_000)
            page.wait_for_function(labbook.JS_KERNEL_IDLE, timeout=60_000, polling=200)
            shot(page, "lab-2-opened", SHOTS)
            # computed solutions (hide-cell) open folded, input and output, as in the HTML book
            # (running a cell shows its new output: JupyterLab unfolds what it runs)
            folded = page.evaluate(FOLDED)
            assert folded and all(i and o for i, o in folded), f"solutions not folded: {folded}"

            seconds = labbook.run_all(page, timeout_s=120)
            outputs = page.evaluate(labbook.JS_OUTPUTS)
            errors = [o for o in outputs if o["type"] == "error"]
            assert errors == [], f"cells failed: {errors}"
            stderr = [o for o in outputs if o["type"] == "stream" and o["name"] == "stderr"]
            assert stderr == [], f"cells wrote to stderr: {stderr}"
            # after running, markdown cells are rendered again: check MyST on what the reader sees
            m = page.evaluate(MYST)
            assert m["rendered"] > 10, m["rendered"]
            assert m["raw"] == [], f"raw MyST in the rendered text: {m['raw']}"
            assert m["errata"] and all(e.strip() == "Erratum" for e in m["errata"]), m["errata"]
            assert len(m["cites"]) >= 2 and all(re.fullmatch(r"\[.+, \d{4}\]|.+ \[\d{4}\]", c)
                                                for c in m["cites"]), m["cites"]
            assert len(m["solutions"]) >= 3 and not any(m["solutions"]), f"solutions open: {m['solutions']}"
            stored = labbook.glue_values(json.loads((lab.book / PART / f"{SLUG}.ipynb").read_text()))
            assert len(m["glued"]) >= 5, m["glued"]
            for key, shown in m["glued"]:
                assert shown == labbook.glue_text(stored, key), (key, shown)
                assert re.search(r"\d", shown) and key.split(":")[0] not in shown, (key, shown)
            assert any(NUMBER.match(shown) for _, shown in m["glued"]), m["glued"]
            assert m["macros"] == {"cells": 1, "katex": 1, "errors": 0, "raw": False}, m["macros"]
            if SHOTS:
                for sel, name in (("aside.myst-admonition.erratum", "lab-3-erratum"),
                                  ("abbr[aria-label^='glue: ']", "lab-3-glue"),
                                  ("abbr[aria-label^='cite:']", "lab-3-cite"),
                                  ("details.myst-admonition", "lab-3-solution")):
                    el = page.locator(f".jp-MarkdownCell {sel}").first
                    for _ in range(3):            # cells off screen are laid out as they come in
                        el.evaluate("e => e.scrollIntoView({block: 'center'})")
                        page.wait_for_timeout(300)
                    shot(page, name, SHOTS)

            # the live explorer: drag its slider with the mouse, the kernel redraws the figure
            root = page.locator(".kx-explorer.kx-live[data-kx-ready='1']").first
            root.wait_for(timeout=30_000)
            slider = root.locator("input[type=range]").first
            slider.scroll_into_view_if_needed()
            shot(page, "lab-3-explorer-before", SHOTS)
            svg_before = root.locator("svg.kx-panel").first.inner_html()
            labbook.drag_live_slider(page, root, ".kx-explorer.kx-live", 0)
            svg_after = root.locator("svg.kx-panel").first.inner_html()
            assert svg_after != svg_before, "the figure did not change"
            assert root.locator(".kx-error").count() == 0
            shot(page, "lab-4-explorer-after", SHOTS)

            toasts = page.locator(".jp-toast-message, .Toastify__toast").all_inner_texts()
            assert not [t for t in toasts if "news" in t.lower()], toasts
            assert log["pageerror"] == [], log["pageerror"]
            assert log["console"] == [], log["console"]
        except Exception:
            shot(page, "lab-failed", SHOTS)
            raise
        finally:
            browser.close()
        # nothing was written: no autosave over the chapter, no stray files
        assert _digest(lab.book) == files_before, "JupyterLab wrote into the book"
    assert _git_status() == status_before, "opening and running a chapter changed git status"
    print(f"run all: {seconds:.1f} s; whole test {time.monotonic() - t_start:.1f} s")
