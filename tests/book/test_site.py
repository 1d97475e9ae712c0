"""The built HTML book in a real browser (headless Chromium driven by Playwright).

The book is opened the way the README tells readers to open it: the file _build/html/index.html
(and every page the table of contents lists), straight from disk, with no server and no network.
Each page must load with no console error, no failed request and no request that leaves the
book's files; its math must be typeset by the book's own MathJax; its figures must be there; and
every kernel-free explorer must respond to its controls.

Needs `make book` first (`make test` does it) and Chromium at $CHROMIUM (default /usr/bin/chromium).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import booktoc
import yaml

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = pytest.mark.site


def toc_pages() -> list[str]:
    return booktoc.pages()


CHAPTERS = [p for p in toc_pages() if p.count("/") == 2]


@pytest.fixture(scope="module")
def browser():
    if not (HTML / "index.html").exists():
        pytest.fail("the HTML book is not built: run `make book` (make test does it first)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make chromium` (as root) or set CHROMIUM")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def open_page(browser, url: str):
    """Open url; return (page, log) with console errors, page errors, failed and foreign requests."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log = {"console": [], "pageerror": [], "failed": [], "foreign": []}
    page.on("console", lambda m: log["console"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: log["pageerror"].append(str(e)))
    page.on("requestfailed", lambda r: log["failed"].append(f"{r.url} ({r.failure})"))
    page.on("request", lambda r: None if r.url.startswith(("file://", "data:", "blob:", "about:"))
            else log["foreign"].append(r.url))
    page.goto(url, wait_until="load")
    # MathJax 3 (on pages with math) resolves startup.promise once the page is typeset
    page.wait_for_function("() => !document.querySelector('script[src*=\"mathjax\"]') || "
                           "(window.MathJax && MathJax.startup && MathJax.startup.promise)",
                           timeout=30_000)
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
    page.wait_for_timeout(400)          # the widget manager renders after load
    return page, log


VISIBLE_TEXT = """() => {
  const body = document.querySelector('main') || document.body;
  const c = body.cloneNode(true);
  c.querySelectorAll('pre, code, script, style, mjx-container, .highlight, .kx-data, textarea')
   .forEach(e => e.remove());
  return c.innerText;
}"""


@pytest.mark.parametrize("doc", toc_pages())
def test_page_loads_clean_and_offline(browser, doc):
    url = (HTML / "index.html").as_uri() if doc == toc_pages()[0] else (HTML / f"{doc}.html").as_uri()
    page, log = open_page(browser, url)
    try:
        assert log["pageerror"] == [], log["pageerror"]
        assert log["console"] == [], log["console"]
        assert log["failed"] == [], log["failed"]
        assert log["foreign"] == [], f"requests left the book: {log['foreign'][:5]}"
        text = page.evaluate(VISIBLE_TEXT)
        raw = [t for t in ("$$", "\\(", "\\[", "\\begin{", "\\frac") if t in text]
        assert not raw, f"raw TeX left on the page: {raw}"
        assert not re.search(r"\$[^$\n]{0,80}\\[A-Za-z]+[^$\n]{0,80}\$", text), "raw inline TeX"
        broken = page.evaluate("() => [...document.images].filter(i => !(i.complete && "
                               "i.naturalWidth > 0)).map(i => i.src)")
        assert broken == [], f"images that did not load: {broken[:3]}"
        if doc in CHAPTERS:
            assert page.locator("mjx-container").count() > 0, "no typeset math"
            figures = page.locator(".cell_output img, .kx-explorer svg").count()
            assert figures > 0, "no figure"
            assert page.locator("table.kx-claims").count() == 1, "no claims-checked table"
            assert page.locator("a.download-ipynb-button, a[href$='.ipynb']").count() > 0, \
                "no download of the executed notebook"
    finally:
        page.close()


@pytest.mark.parametrize("doc", CHAPTERS)
def test_every_explorer_responds_without_a_kernel(browser, doc):
    page, log = open_page(browser, (HTML / f"{doc}.html").as_uri())
    try:
        roots = page.locator(".kx-explorer")
        n = roots.count()
        assert n > 0, "a chapter has at least one kernel-free explorer"
        for i in range(n):
            root = roots.nth(i)
            assert root.get_attribute("data-kx-ready") == "1", f"explorer {i} did not start"
            assert root.locator("svg").count() > 0
            ranges, selects = root.locator("input[type=range]"), root.locator("select")
            assert ranges.count() + selects.count() > 0, f"explorer {i} has no control"
            before = (root.get_attribute("data-kx-frame"), root.locator("svg").first.inner_html())
            if ranges.count():
                r = ranges.first
                lo, hi = int(r.get_attribute("min")), int(r.get_attribute("max"))
                val = int(r.input_value())
                r.fill(str(lo if val != lo else hi))
            else:
                s = selects.first
                opts = s.locator("option")
                cur = s.input_value()
                other = next(opts.nth(j).get_attribute("value") for j in range(opts.count())
                             if opts.nth(j).get_attribute("value") != cur)
                s.select_option(other)
            page.wait_for_timeout(50)
            after = (root.get_attribute("data-kx-frame"), root.locator("svg").first.inner_html())
            assert after[0] != before[0], f"explorer {i}: the frame index did not change"
            assert after[1] != before[1], f"explorer {i}: the figure did not change"
        assert log["pageerror"] == [] and log["console"] == [], log
    finally:
        page.close()


def test_smooth_topk_temperature_slider_changes_the_bars(browser, tmp_path):
    """The chapter's temperature slider, moved in the kernel-free page: the bars change height
    and the readout changes; a screenshot is kept for the record (bench-results/)."""
    page, _ = open_page(browser, (HTML / "book/probability/smooth-topk.html").as_uri())
    try:
        root = page.locator(".kx-explorer").first
        slider = root.locator("input[type=range]").last            # tau is the last control
        heights = "el => [...el.querySelectorAll('svg rect.kx-bar')].map(r => r.getAttribute('height'))"
        readout = root.locator(".kx-readout")
        before, text0 = root.evaluate(heights), readout.inner_text()
        slider.fill("0")                                        # coldest temperature
        page.wait_for_timeout(50)
        cold, text1 = root.evaluate(heights), readout.inner_text()
        slider.fill(slider.get_attribute("max"))                # hottest
        page.wait_for_timeout(50)
        hot = root.evaluate(heights)
        assert len(before) > 0 and before != cold and cold != hot and text0 != text1
        root.scroll_into_view_if_needed()
        out = ROOT / "bench-results"
        out.mkdir(exist_ok=True)
        page.screenshot(path=str(out / "smooth-topk-explorer.png"))
    finally:
        page.close()


@pytest.mark.parametrize("doc", CHAPTERS)
def test_solutions_are_folded_and_verdicts_are_words(browser, doc):
    """Below the Exercises heading nothing a solution computes shows until the reader unfolds
    it; the claims table shows a worded verdict on every row, never a bare tick."""
    page, _ = open_page(browser, (HTML / f"{doc}.html").as_uri())
    try:
        visible = page.evaluate("""() => {
          const sec = document.querySelector('section#exercises');
          if (!sec) return null;
          return [...sec.querySelectorAll('.cell_output')].filter(o => o.checkVisibility() && !o.closest('details:not([open])')).length;
        }""")
        assert visible is not None, "no Exercises section"
        assert visible == 0, f"{visible} solution output(s) visible without unfolding"
        verdicts = page.locator("table.kx-claims td.kx-verdict").all_inner_texts()
        allowed = {"reproduced", "partly reproduced", "not reproduced", "the post is wrong",
                   "derivation shown, not tested"}
        assert verdicts and set(verdicts) <= allowed, set(verdicts) - allowed
        assert "✔" not in page.locator("table.kx-claims").inner_text()
    finally:
        page.close()
