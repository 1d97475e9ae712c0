"""The reader's and teacher's pages of the built book, in headless Chromium (Playwright).

The library reference (every public function, its formula, the chapters that call it, and from
each chapter the functions it calls), the chapter map on the front page (generated from the
chapters' ``kexue:`` metadata) with its reading orders, numbered chapters and equations,
citation previews on hover, the notation and glossary pages, the footer's library versions, and
the student edition (``make book-student``: no solutions, in the pages or in the downloads).

Reads the book at $KEXUE_BOOK_HTML (default _build/html) and the student edition at
$KEXUE_STUDENT_HTML (default _build/student). Screenshots of each page (desktop and
phone, light and dark) go to $KEXUE_SITE_SHOTS when it is set.
"""
from __future__ import annotations

import importlib
import inspect
import json
import os
import re
from importlib import metadata
from pathlib import Path

import pytest
import yaml

import booktoc

from bookbrowser import DESKTOP, HTML, PHONE, ROOT, assert_clean, launched_browser, open_page

STUDENT = Path(os.environ.get("KEXUE_STUDENT_HTML", ROOT / "_build" / "student"))
SHOTS = os.environ.get("KEXUE_SITE_SHOTS")
PARTS = [("probability", "P"), ("attention", "A"), ("codes", "C"), ("diffusion", "D"),
         ("training", "T"), ("moe", "E"), ("matrices", "M"), ("text", "S"), ("mathematics", "Z")]
CHAPTERS = [p for p in booktoc.pages() if p.count("/") == 2]
site = pytest.mark.site


def chapter_meta(doc: str) -> dict:
    text = (ROOT / f"{doc}.md").read_text(encoding="utf-8")
    return (yaml.safe_load(text[4:text.index("\n---", 4)]) or {}).get("kexue") or {}


def public_callables(part: str) -> list[str]:
    mod = importlib.import_module(f"kexue.{part}")
    names = getattr(mod, "__all__", None) or [n for n in dir(mod) if not n.startswith("_")]
    return sorted(n for n in names
                  if (inspect.isfunction(getattr(mod, n, None)) or inspect.isclass(getattr(mod, n, None)))
                  and getattr(getattr(mod, n), "__module__", "").startswith(f"kexue.{part}"))


def chapter_calls(doc: str) -> set[str]:
    """'A.name' of every public function a chapter's text names through its part alias."""
    text = (ROOT / f"{doc}.md").read_text(encoding="utf-8")
    out = set()
    for part, alias in PARTS:
        if re.search(rf"from kexue import (?:[\w ,]+, )?{part} as {alias}\b", text):
            known = set(public_callables(part))
            out |= {f"{alias}.{n}" for n in re.findall(rf"(?<![\w.]){alias}\.([A-Za-z]\w*)", text)
                    if n in known}
    return out


@pytest.fixture(scope="module")
def browser():
    yield from launched_browser(HTML)


def shots(browser, url: str, name: str, locator: str | None = None) -> None:
    """Desktop and phone, light and dark (the theme's data-theme attribute)."""
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    for screen, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page, log = open_page(browser, url, size)
        try:
            if locator:
                page.locator(locator).first.scroll_into_view_if_needed()
            for mode in ("light", "dark"):
                page.evaluate(f"() => {{ document.documentElement.dataset.theme = '{mode}';"
                              f" document.documentElement.dataset.mode = '{mode}'; }}")
                page.wait_for_timeout(150)
                page.screenshot(path=str(Path(SHOTS) / f"{name}-{screen}-{mode}.png"))
            assert_clean(log)
        finally:
            page.close()


# --- the library reference -------------------------------------------------------------------

@site
def test_the_reference_lists_every_public_function_with_its_callers(browser):
    page, log = open_page(browser, (HTML / "book/api.html").as_uri())
    try:
        ids = set(page.locator(".kx-api-entry").evaluate_all("es => es.map(e => e.id)"))
        want = {f"api-{a}-{n}" for p, a in PARTS for n in public_callables(p)}
        assert want <= ids, f"missing: {sorted(want - ids)[:10]}"
        assert len(want) > 300
        # signatures are there, formulas are typeset
        sig = page.locator("#api-P-softmax .kx-api-sig").inner_text()
        assert sig.startswith("P.softmax(x") and "tau" in sig, sig
        assert page.locator("#api-P-softmax .kx-api-eq mjx-container").count() == 1
        typeset = page.locator(".kx-api-eq mjx-container").count()
        assert typeset >= 60, f"only {typeset} formulas set as math"
        assert page.locator(".kx-api-eq mjx-container [data-mjx-error], mjx-merror").count() == 0
        # each function's callers are exactly the chapters whose text calls it
        called = {}
        for doc in CHAPTERS:
            for name in chapter_calls(doc):
                called.setdefault(name, set()).add(doc.removeprefix("book/") + ".html")
        assert called, "no chapter calls the library through its alias"
        for name, docs in called.items():
            alias, fn = name.split(".")
            hrefs = page.locator(f"#api-{alias}-{fn} .kx-api-used a").evaluate_all(
                "as => as.map(a => a.getAttribute('href').split('#')[0])")
            assert set(hrefs) == docs, (name, hrefs, docs)
        link = page.locator("#api-P-smooth_topk .kx-api-used a").first
        link.click()
        page.wait_for_load_state("load")
        assert "smooth-topk.html" in page.url
        assert_clean(log)
    finally:
        page.close()
    shots(browser, (HTML / "book/api.html").as_uri(), "api", "#api-P-softmax")


@site
@pytest.mark.parametrize("doc", CHAPTERS)
def test_each_chapter_links_the_functions_it_calls(browser, doc):
    want = chapter_calls(doc)
    page, log = open_page(browser, (HTML / f"{doc}.html").as_uri())
    try:
        links = page.locator(".kx-used-box a")
        got = {a.split("#")[1] for a in links.evaluate_all("as => as.map(a => a.getAttribute('href'))")}
        assert got == {f"api-{n.replace('.', '-')}" for n in want}
        if want:
            assert page.locator(".kx-used-box").inner_text().startswith("Library functions used")
            first = links.first
            target = first.get_attribute("href").split("#")[1]
            first.click()
            page.wait_for_load_state("load")
            assert page.url.endswith(f"api.html#{target}")
            assert page.locator(f"[id='{target}']").count() == 1
        assert log["pageerror"] == [] and log["foreign"] == []   # the rest: test_site.py
    finally:
        page.close()


# --- the chapter map -------------------------------------------------------------------------

@site
def test_the_front_page_map_follows_the_chapter_metadata(browser):
    page, log = open_page(browser, (HTML / "book/intro.html").as_uri())
    try:
        nodes = page.locator(".kx-map-svg a.kx-map-node")
        assert nodes.evaluate_all("as => as.map(a => a.dataset.slug)") == [d.split("/")[-1] for d in CHAPTERS]
        edges = page.locator(".kx-map-svg path.kx-map-edge title").evaluate_all(
            "ts => ts.map(t => t.textContent)")
        want = {f"{d.split('/')[-1]} builds on {r}" for d in CHAPTERS for r in chapter_meta(d).get("requires", [])}
        assert set(edges) == want and len(want) >= 15
        series = {chapter_meta(d).get("series") for d in CHAPTERS} - {None}
        text = page.locator(".kx-map-text").inner_text()
        assert len(series) >= 5 and all(s in text for s in series)
        # reading orders: every chapter comes after the chapters it requires, and they are there
        courses = page.locator(".kx-map-text ol > li")
        assert 2 <= courses.count() <= 3
        for i in range(courses.count()):
            hrefs = courses.nth(i).locator("a").evaluate_all("as => as.map(a => a.getAttribute('href'))")
            slugs = [h.split("/")[-1].removesuffix(".html") for h in hrefs]
            for k, s in enumerate(slugs):
                doc = next(d for d in CHAPTERS if d.endswith("/" + s))
                assert set(chapter_meta(doc).get("requires", [])) <= set(slugs[:k]), (s, slugs)
        nodes.nth(3).click()
        page.wait_for_load_state("load")
        assert page.url.endswith(f"{CHAPTERS[3]}.html")
        assert_clean(log)
    finally:
        page.close()
    shots(browser, (HTML / "book/intro.html").as_uri(), "map", ".kx-map")


@site
def test_the_map_scrolls_on_a_phone_and_fits_the_page(browser):
    page, log = open_page(browser, (HTML / "book/intro.html").as_uri(), PHONE)
    try:
        box = page.locator(".kx-map-scroll")
        box.scroll_into_view_if_needed()
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the page scrolls sideways by {overflow}px"
        assert box.evaluate("e => e.scrollWidth > e.clientWidth")       # the map scrolls inside
        assert_clean(log)
    finally:
        page.close()


# --- numbering, citations, footer ------------------------------------------------------------

@site
def test_chapters_and_labelled_equations_are_numbered(browser):
    numbers = []
    for doc in CHAPTERS:
        html = (HTML / f"{doc}.html").read_text(encoding="utf-8")
        m = re.search(r'<h1>\s*<span class="section-number">(\d+)\.\s*</span>', html)
        assert m, f"{doc}: the title has no chapter number"
        numbers.append(int(m.group(1)))
        for eq in re.findall(r'class="eqno">\(([^)]*)\)', html):
            assert re.fullmatch(rf"{m.group(1)}\.\d+", eq), f"{doc}: equation ({eq})"
    assert numbers == list(range(1, len(CHAPTERS) + 1))
    labelled = sum(len(re.findall(r"^\$\$.*\(\w[\w-]*\)\s*$", (ROOT / f"{d}.md").read_text(), re.M))
                   for d in CHAPTERS)
    shown = sum((HTML / f"{d}.html").read_text().count('class="eqno"') for d in CHAPTERS)
    assert shown >= labelled > 0


@site
def test_a_citation_shows_its_reference_on_hover_and_focus(browser):
    page, log = open_page(browser, (HTML / "book/probability/smooth-topk.html").as_uri())
    try:
        cite = page.locator("a.kx-cite").first
        assert page.locator("a.kx-cite").count() >= 5
        assert cite.get_attribute("title") is None          # no second, native tooltip
        cite.scroll_into_view_if_needed()
        cite.hover()
        pop = page.locator(".kx-cite-pop")
        pop.wait_for(state="visible", timeout=2_000)
        assert "Su" in pop.inner_text() and "kexue.fm" in pop.inner_text()
        box, anchor = pop.bounding_box(), cite.bounding_box()
        assert box["y"] >= anchor["y"] + anchor["height"] - 1
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(SHOTS) / "cite-desktop-light.png"))
        page.mouse.move(0, 0)
        page.wait_for_timeout(100)
        assert not pop.is_visible()
        cite.focus()
        assert pop.is_visible()
        assert_clean(log)
    finally:
        page.close()


@site
def test_every_page_names_the_library_versions_in_its_footer():
    want = [f"{d} {metadata.version(d)}" for d in ("numpy", "torch", "kexue")]
    for doc in booktoc.pages():
        name = "book/intro.html" if doc == booktoc.pages()[0] else f"{doc}.html"
        html = (HTML / name).read_text(encoding="utf-8")
        foot = re.search(r'<p class="kx-versions">(.*?)</p>', html)
        assert foot and all(w in foot.group(1) for w in want), (doc, foot and foot.group(1))


# --- notation and glossary -------------------------------------------------------------------

MACRO_DEF = re.compile(r"\\(?:newcommand|renewcommand|providecommand|def|DeclareMathOperator)\b")


def test_no_chapter_defines_a_macro_of_its_own():
    """A macro defined in one chapter would mean nothing on the next page: the book's macros
    are those of the notation page (kexue.notebook.MACROS, repeated in _config.yml)."""
    offenders = [f"{p.relative_to(ROOT)}:{i + 1}" for p in sorted(ROOT.glob("book/*/*.md"))
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines())
                 if MACRO_DEF.search(line)]
    assert offenders == [], f"local macro definitions: {offenders}"


def test_the_macro_finder_finds_a_local_definition(tmp_path):
    for line in (r"$\newcommand{\KL}{\operatorname{KL}}$", r"$$\def\x{y}$$",
                 r"\DeclareMathOperator{\Tr}{tr}"):
        assert MACRO_DEF.search(line)
    assert not MACRO_DEF.search(r"$\operatorname{KL}(p\|q)$ and \defeq")


@site
def test_the_notation_page_lists_the_macros(browser):
    from kexue.notebook import MACROS
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    cfg = config["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]
    assert set(cfg) == set(MACROS)
    page, log = open_page(browser, (HTML / "book/notation.html").as_uri())
    try:
        rows = page.locator("table.kx-macros tbody tr")
        assert rows.count() == len(MACROS)
        written = rows.locator("td:first-child").all_inner_texts()
        assert sorted(w.strip().split("{")[0] for w in written) == sorted("\\" + m for m in MACROS)
        assert page.locator("table.kx-macros mjx-container").count() >= 2 * len(MACROS)
        assert page.locator("mjx-merror").count() == 0
        assert_clean(log)
    finally:
        page.close()
    shots(browser, (HTML / "book/notation.html").as_uri(), "notation")


@site
def test_the_glossary_pairs_english_and_chinese_terms_with_chapters(browser):
    page, log = open_page(browser, (HTML / "book/glossary.html").as_uri())
    try:
        rows = page.locator("table.kx-glossary tbody tr")
        assert 30 <= rows.count() <= 60
        for i in range(rows.count()):
            cells = rows.nth(i).locator("td")
            assert re.search(r"[\u4e00-\u9fff]", cells.nth(1).inner_text()), cells.nth(0).inner_text()
            assert cells.nth(2).locator("a").count() >= 1, f"{cells.nth(0).inner_text()}: no chapter"
        english = rows.locator("td:first-child").all_inner_texts()
        assert english == sorted(english, key=str.lower)
        assert_clean(log)
    finally:
        page.close()
    shots(browser, (HTML / "book/glossary.html").as_uri(), "glossary")


# --- the student edition ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def student():
    if not (STUDENT / "index.html").exists():
        pytest.fail(f"the student edition is not built at {STUDENT}: run `make book-student`")
    return STUDENT


@site
@pytest.mark.parametrize("doc", CHAPTERS)
def test_the_student_edition_has_no_solutions(student, doc):
    page = (student / f"{doc}.html").read_text(encoding="utf-8")
    full = (HTML / f"{doc}.html").read_text(encoding="utf-8")
    ex = page[page.index('<section id="exercises">'):]
    assert "Solution" not in re.sub(r"<[^>]+>", "", ex.split("</section>")[0]).replace(
        "the solutions are left out", "")
    assert "tag_hide-cell" not in ex.split('<section id="claims-checked">')[0]
    assert re.search(r"<p class=\"admonition-title\">Solution", full), "the full edition keeps them"
    assert "Student edition" in page
    nb = json.loads((student / "_sources" / f"{doc}.ipynb").read_text(encoding="utf-8"))
    srcs = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"]]
    assert not any("{admonition} Solution" in s for s in srcs)
    k = next(i for i, s in enumerate(srcs) if re.search(r"^## Exercises", s, re.M))
    after = nb["cells"][k:]
    assert not any("hide-cell" in c.get("metadata", {}).get("tags", []) for c in after)
    assert any(re.search(r"^## Claims checked", s, re.M) for s in srcs), "the claims stay"


@site
def test_the_student_edition_in_the_browser(browser, student):
    doc = CHAPTERS[1]
    page, log = open_page(browser, (student / f"{doc}.html").as_uri())
    try:
        sec = page.locator("section#exercises")
        assert sec.locator("details, .dropdown").count() == 0
        assert "Student edition" in sec.inner_text()
        assert page.locator("table.kx-claims").count() == 1
        assert_clean(log)
    finally:
        page.close()
    shots(browser, (student / f"{doc}.html").as_uri(), "student", "section#exercises")
