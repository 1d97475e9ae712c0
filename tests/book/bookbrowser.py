"""What the browser tests of the book share: where Chromium and the built book are, the flags
Chromium runs with here, a module-scoped browser, and a page opener that records console errors,
page errors, failed requests and requests that leave the book's own files."""
from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("KEXUE_BOOK_HTML", ROOT / "_build" / "html"))
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        raise AssertionError(f"Chromium not found at {CHROMIUM}: `make chromium` (as root) or set CHROMIUM")


def launched_browser(html: Path = HTML):
    """Yield a headless Chromium (for a module-scoped fixture); fail if the book is not built."""
    if not (html / "index.html").exists():
        raise AssertionError(f"the HTML book is not built at {html}: run `make book` (make test does it)")
    need_chromium()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def open_page(browser, url: str, viewport: dict | None = None):
    """Open url; return (page, log) with console errors, page errors, failed and foreign requests.
    A request is foreign unless it goes to the book's own files (file://, or the origin of an
    http url). Waits until MathJax (on pages with math) has typeset the page."""
    page = browser.new_page(viewport=viewport or {"width": 1280, "height": 900})
    own = ("file://", "data:", "blob:", "about:")
    if url.startswith("http://"):
        parts = urllib.parse.urlsplit(url)
        own += (f"{parts.scheme}://{parts.netloc}/",)
    log = {"console": [], "pageerror": [], "failed": [], "foreign": []}
    page.on("console", lambda m: log["console"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: log["pageerror"].append(str(e)))
    page.on("requestfailed", lambda r: log["failed"].append(f"{r.url} ({r.failure})"))
    page.on("request", lambda r: None if r.url.startswith(own) else log["foreign"].append(r.url))
    page.goto(url, wait_until="load")
    page.wait_for_function("() => !document.querySelector('script[src*=\"mathjax\"]') || "
                           "(window.MathJax && MathJax.startup && MathJax.startup.promise)",
                           timeout=30_000)
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
    page.wait_for_timeout(400)          # the explorers render after load
    return page, log


def assert_clean(log) -> None:
    for k in ("pageerror", "console", "failed", "foreign"):
        assert log[k] == [], (k, log[k][:5])


def shot(page, name: str, folder: str | None) -> None:
    """A screenshot of page as <folder>/<name>.png, when a folder is given (the tests' *_SHOTS
    environment variables); nothing otherwise."""
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))
