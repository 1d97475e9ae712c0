"""The built HTML book in a real browser (headless Chromium driven by Playwright).

The book is opened the way the README tells readers to open it: the file _build/html/index.html
(and every page the table of contents lists), straight from disk, with no server and no network;
navigation and search are also tried over http (python -m http.server on 127.0.0.1).
Each page must load with no console error, no failed request and no request that leaves the
book's files; its math must be typeset by the book's own MathJax; its figures must be there; and
every kernel-free explorer must respond to its controls.

Needs `make book` first (`make test` does it) and Chromium at $CHROMIUM (default /usr/bin/chromium).
KEXUE_BOOK_HTML names another built book to test (default _build/html); KEXUE_SITE_SHOTS a folder
for the screenshots of the navigation and search tests (none are kept when it is unset).
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

import booktoc
import yaml

from bookbrowser import DESKTOP, HTML, PHONE, ROOT, assert_clean, launched_browser, open_page, shot

SHOTS = os.environ.get("KEXUE_SITE_SHOTS")

pytestmark = pytest.mark.site


def toc_pages() -> list[str]:
    return booktoc.pages()


CHAPTERS = [p for p in toc_pages() if p.count("/") == 2]


@pytest.fixture(scope="module")
def browser():
    yield from launched_browser(HTML)


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
            assert root.locator(".kx-error").count() == 0, root.locator(".kx-error").first.inner_text()
            # readable: controls and figure on one 1280x800 screen, a colour bar on every
            # heatmap, no negative zero in the readout, controls that stay put while a slider moves
            height = root.bounding_box()["height"]
            assert height <= 760, f"explorer {i} is {height:.0f} px tall: it does not fit 1280x800"
            assert root.locator("g.kx-heatmap").count() == root.locator("g.kx-colorbar").count()
            assert not re.search(r"(?<![\w.])-0(\.0+)?(?![\d.])", root.locator(".kx-readout").inner_text())
            if ranges.count():
                where = "el => [...el.querySelectorAll('input, select')].map(c => c.getBoundingClientRect().x)"
                x0 = root.evaluate(where)
                r = ranges.first
                for v in range(int(r.get_attribute("max")) + 1):
                    r.fill(str(v))
                    assert root.evaluate(where) == x0, f"explorer {i}: a control moved while sliding"
        assert log["pageerror"] == [] and log["console"] == [], log
    finally:
        page.close()


def test_the_book_serves_the_packages_renderer():
    """_static/kexue-explorer.js is the classic-script copy of kexue/widgets/kexue-explorer.js,
    the file JupyterLab's live explorers load: one renderer for both."""
    from kexue.widgets import renderer_script
    assert (HTML / "_static" / "kexue-explorer.js").read_text(encoding="utf-8") == renderer_script()


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


# --- navigation and search, with real clicks, on a desktop and a phone screen ---------------


@pytest.fixture(scope="module")
def http_book():
    """The built book served by `python -m http.server` on 127.0.0.1 (a free port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(HTML)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(10)


def book_url(where: str, doc: str, http_book_url: str | None) -> str:
    if where == "http":
        return http_book_url + doc
    return (HTML / doc).as_uri()


def visible_toggle(page, kind: str):
    """The one button of that kind the reader sees (the theme keeps a hidden copy)."""
    buttons = page.locator(f"button.{kind}-toggle")
    seen = [buttons.nth(i) for i in range(buttons.count()) if buttons.nth(i).is_visible()]
    assert len(seen) == 1, f"{len(seen)} visible {kind} toggles"
    return seen[0]


def chapter_link(container, doc: str):
    return container.locator(f"a[href$='{doc.split('/')[-1]}.html']").first


@pytest.mark.parametrize("where", ["file", "http"])
@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_the_chapter_list_opens_from_the_toggle(browser, request, screen, where):
    """The sidebar button in the article header works at both widths: on a desktop it folds the
    chapter list away and brings it back; on a phone (where the list is off screen) it opens the
    list; a click on a chapter there goes to the chapter."""
    base = request.getfixturevalue("http_book") if where == "http" else None
    start, target = CHAPTERS[0], CHAPTERS[-1]
    page, log = open_page(browser, book_url(where, f"{start}.html", base),
                          DESKTOP if screen == "desktop" else PHONE)
    try:
        sidebar = page.locator("#pst-primary-sidebar")
        toggle = visible_toggle(page, "primary")
        if screen == "desktop":
            assert sidebar.is_visible() and sidebar.bounding_box()["x"] >= 0
            toggle.click()
            page.wait_for_timeout(200)
            assert not sidebar.is_visible(), "the toggle did not fold the chapter list away"
            shot(page, f"nav-{screen}-{where}-folded", SHOTS)
            toggle.click()
            page.wait_for_timeout(200)
            assert sidebar.is_visible(), "the toggle did not bring the chapter list back"
            links = sidebar
        else:
            box = sidebar.bounding_box()
            assert box is None or box["x"] + box["width"] <= 0 or not sidebar.is_visible(), \
                "on a phone the chapter list starts off screen"
            toggle.click()
            dialog = page.locator("#pst-primary-sidebar-modal")
            dialog.wait_for(state="visible", timeout=5_000)
            assert page.evaluate("() => document.getElementById('pst-primary-sidebar-modal').open")
            links = dialog
        link = chapter_link(links, target)
        assert link.is_visible(), f"{target} is not in the opened chapter list"
        shot(page, f"nav-{screen}-{where}-open", SHOTS)
        link.click()
        page.wait_for_load_state("load")
        assert page.url.split("#")[0].endswith(f"{target}.html"), page.url
        assert_clean(log)
    finally:
        page.close()


def test_the_page_contents_button_works_on_a_phone(browser):
    """At phone width the 'on this page' button opens the page's contents; a click on one of
    its headings scrolls there."""
    page, log = open_page(browser, (HTML / f"{CHAPTERS[0]}.html").as_uri(), PHONE)
    try:
        visible_toggle(page, "secondary").click()
        dialog = page.locator("#pst-secondary-sidebar-modal")
        dialog.wait_for(state="visible", timeout=5_000)
        entry = dialog.locator("a[href='#exercises']")
        assert entry.is_visible(), "no Exercises entry in the page contents"
        shot(page, "contents-phone", SHOTS)
        entry.click()
        page.wait_for_timeout(300)
        assert page.url.endswith("#exercises")
        assert_clean(log)
    finally:
        page.close()


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_the_front_page_lists_every_chapter(browser, screen):
    """The front page's body lists every page of _toc.yml (a way in without the sidebar), and a
    click on one opens it."""
    page, log = open_page(browser, (HTML / "index.html").as_uri(),
                          DESKTOP if screen == "desktop" else PHONE)
    try:
        page.wait_for_url("**/intro.html", timeout=10_000)       # index.html redirects there
        page.locator(".kx-chapters").wait_for(timeout=10_000)
        hrefs = page.locator(".kx-chapters a").evaluate_all("as => as.map(a => a.getAttribute('href'))")
        want = [f"{d.removeprefix('book/')}.html" for d in toc_pages()[1:]]
        assert [h.split("#")[0] for h in hrefs] == want
        text = page.locator(".kx-chapters").inner_text()
        assert "\\(" not in text and "$" not in text
        link = chapter_link(page.locator(".kx-chapters"), CHAPTERS[1])
        link.scroll_into_view_if_needed()
        shot(page, f"front-{screen}", SHOTS)
        link.click()
        page.wait_for_load_state("load")
        assert page.url.endswith(f"{CHAPTERS[1]}.html")
        assert_clean(log)
    finally:
        page.close()


SEARCHES = {                      # query -> a page it must find
    "sparsemax": "book/probability/softmax-alternatives",
    "KV cache": "book/attention/mha-to-mla",
    "BM25": "book/text/bm25-search",
    "rotation trick": "book/codes/vq-rotation-trick",
}


@pytest.mark.parametrize("where", ["file", "http"])
@pytest.mark.parametrize("query", list(SEARCHES))
def test_search_finds_the_chapter_with_a_snippet(browser, request, query, where):
    """The search page, opened from the file or from a server: the query finds its chapter,
    every result carries a snippet with the query's words highlighted, no title or snippet
    shows TeX, and no page is fetched (a browser refuses that over file://)."""
    target = SEARCHES[query]
    if target not in toc_pages():
        pytest.skip(f"{target} is not in the book")
    base = request.getfixturevalue("http_book") if where == "http" else None
    url = book_url(where, "search.html", base) + "?q=" + urllib.parse.quote(query)
    page, log = open_page(browser, url)
    fetched = []
    page.on("request", lambda r: fetched.append(r.url) if r.resource_type in ("fetch", "xhr") else None)
    try:
        page.wait_for_function("() => document.querySelector('#search-results p.search-summary')"
                               " && /found|did not match/i.test(document.querySelector("
                               "'#search-results p.search-summary').innerText)", timeout=20_000)
        page.wait_for_timeout(200)
        items = page.locator("#search-results ul.search > li")
        n = items.count()
        assert n > 0, "no result"
        hrefs = [items.nth(i).locator("a").first.get_attribute("href") for i in range(n)]
        assert any(h.split("#")[0] == f"{target}.html" for h in hrefs), (query, hrefs)
        for i in range(n):
            snip = items.nth(i).locator("p.kx-snippet")
            assert snip.count() == 1 and len(snip.inner_text()) > 40, f"result {hrefs[i]} has no snippet"
        mine = items.nth(next(i for i, h in enumerate(hrefs) if h.split("#")[0] == f"{target}.html"))
        marks = mine.locator("p.kx-snippet .highlighted").all_inner_texts()
        assert {m.lower() for m in marks} & {w.lower() for w in query.split()}, marks
        text = page.locator("#search-results").inner_text()
        assert "\\(" not in text and "\\[" not in text and "$" not in text, "TeX in the results"
        assert fetched == [], f"pages fetched: {fetched[:3]}"
        shot(page, f"search-{where}-{query.replace(' ', '_')}", SHOTS)
        assert_clean(log)
    finally:
        page.close()


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_search_from_the_search_button(browser, screen):
    """The reader's way: the search button in the header, a query typed and Enter, over file://;
    then a click on a result opens the chapter."""
    page, log = open_page(browser, (HTML / f"{CHAPTERS[0]}.html").as_uri(),
                          DESKTOP if screen == "desktop" else PHONE)
    try:
        buttons = page.locator("button.search-button__button")
        button = next(buttons.nth(i) for i in range(buttons.count()) if buttons.nth(i).is_visible())
        button.click()
        box = page.locator("#pst-search-dialog input[name=q]")
        box.wait_for(state="visible", timeout=5_000)
        box.fill("sparsemax")
        box.press("Enter")
        page.wait_for_load_state("load")
        assert "search.html" in page.url
        page.locator("#search-results p.kx-snippet").first.wait_for(timeout=20_000)
        shot(page, f"search-button-{screen}", SHOTS)
        target = SEARCHES["sparsemax"]
        page.locator(f"#search-results a[href^='{target}.html']").first.click()
        page.wait_for_load_state("load")
        assert page.url.split("?")[0].split("#")[0].endswith(f"{target}.html")
        assert_clean(log)
    finally:
        page.close()


def test_no_raw_tex_in_titles_sidebar_or_links():
    """The places MathJax does not typeset (tab title, chapter list, previous/next links, the
    search index's titles) read in plain text on every page of the book."""
    bad = []
    for f in sorted(HTML.rglob("*.html")):
        if "_static" in f.parts or "_sources" in f.parts:
            continue
        html = f.read_text(encoding="utf-8")
        title = re.search(r"<title>(.*?)</title>", html, re.S)
        nav = re.search(r'<nav class="bd-docs-nav.*?</nav>', html, re.S)
        prevnext = re.search(r'<div class="prev-next-area">.*?</div>\s*</footer>', html, re.S)
        for where, m in (("title", title), ("sidebar", nav), ("prev/next", prevnext)):
            if m and re.search(r"\\\(|\\\[|\$", m.group(0)):
                bad.append(f"{f.relative_to(HTML)}: {where}")
    index = (HTML / "searchindex.js").read_text(encoding="utf-8")
    titles = re.search(r'"titles":\s*(\[.*?\])', index, re.S).group(1)
    if "\\\\(" in titles:
        bad.append("searchindex.js: titles")
    assert bad == [], bad[:10]
