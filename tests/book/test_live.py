"""Live code from the page: `make live`'s servers and a chapter switched live in Chromium.

scripts/live.py is started as `make live` starts it (the built book on 127.0.0.1:<port>, a
Jupyter server on 127.0.0.1:<port> with a random token that accepts the book's origin only).
Checked over plain HTTP: without the token the server refuses (403), from another origin it
refuses the REST API (404) and a kernel's websocket (403) even with the token, and it sends no
`Access-Control-Allow-Origin` but the book's; it offers no terminal. In Chromium, with real clicks and a real mouse drag:
a page opened without the server's address says how to start one (`make live`), requests nothing
from the server and keeps its kernel-free explorer; the address `make live` prints (the front
page) switches the tab's live mode on (the token leaves the address bar) for the pages the tab
opens next; "Run live" starts a kernel, "Run all" runs
every cell and their text outputs equal the stored ones; the explorer's slider, dragged, is
answered by frames the kernel computes (comm messages over the kernel's websocket) and its figure
changes; "Stop live" shuts the kernel down. No console error. The token is in no file of the
built book. About 40-60 s on 2 idle cores (most of it the kernel importing kexue and running the
chapter).

Needs `make book` first and Chromium at $CHROMIUM (default /usr/bin/chromium); KEXUE_LIVE_SHOTS
names a folder for screenshots; KEXUE_LIVE_CHAPTER=<part>/<slug> another chapter.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import secrets
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import labbook
import live
from bookbrowser import HTML, launched_browser, shot

pytestmark = pytest.mark.site

SHOTS = os.environ.get("KEXUE_LIVE_SHOTS")
# a fast chapter with a live explorer (a dropdown and a slider) and text outputs
CHAPTER = os.environ.get("KEXUE_LIVE_CHAPTER", "mathematics/integral-test")
PAGE = f"book/{CHAPTER}.html"


def _status(url: str, token: str | None = None, origin: str | None = None) -> tuple[int, str | None]:
    """(HTTP status, Access-Control-Allow-Origin) of a GET."""
    headers = {}
    if token:
        headers["Authorization"] = f"token {token}"
    if origin:
        headers["Origin"] = origin
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, r.headers.get("Access-Control-Allow-Origin")
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Access-Control-Allow-Origin")


def _websocket_status(port: int, path: str, origin: str) -> int:
    """Status of a websocket handshake (101: accepted)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": base64.b64encode(secrets.token_bytes(16)).decode(), "Origin": origin})
        return conn.getresponse().status
    finally:
        conn.close()



@pytest.fixture(scope="module")
def browser():
    yield from launched_browser(HTML)


def _page(browser, log_into: dict):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.on("console", lambda m: log_into["console"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: log_into["pageerror"].append(str(e)))
    page.on("request", lambda r: log_into["requests"].append(r.url))
    return ctx, page


STORED_TEXT = """() => [...document.querySelectorAll('main div.cell')].map(c => {
  const o = c.querySelector('.cell_output:not(.kx-live-output)');
  return o ? [...o.querySelectorAll('.output.stream pre, .output.text_plain pre')].map(p => p.textContent).join('') : '';
})"""
LIVE_TEXT = """() => [...document.querySelectorAll('main div.cell')].map(c => {
  const o = c.querySelector('.kx-live-output');
  return o ? [...o.querySelectorAll('pre.kx-stream, pre.kx-text')].map(p => p.textContent).join('') : null;
})"""


def test_a_chapter_runs_live_against_make_lives_servers(browser):
    t0 = time.monotonic()
    log = {"console": [], "pageerror": [], "requests": []}
    server_log = Path(tempfile.mkdtemp(prefix="kexue-live-")) / "server.log"
    with live.Live(HTML, log=server_log, one_thread=True) as srv:
        api = f"{srv.server}/api/kernels"
        # the server: the token is required, and the book's origin is the only one accepted
        assert _status(api)[0] == 403, "a request without the token was answered"
        assert _status(api, token="not-the-token")[0] == 403
        assert _status(api, srv.token, origin="http://127.0.0.1:9")[0] == 404, "another origin was answered"
        assert _status(api, srv.token, origin="https://example.org")[0] == 404
        code, allow = _status(api, srv.token, origin=srv.origin)
        assert code == 200 and allow == srv.origin, (code, allow)
        assert _status(f"{srv.server}/api/terminals", srv.token)[0] == 404, "a shell is on offer"
        assert _status(srv.url(PAGE, with_token=False))[0] == 200          # the book itself

        # without the server's address: the page says how to start one and stays kernel-free
        ctx, page = _page(browser, log)
        page.goto(srv.url(PAGE, with_token=False), wait_until="load")
        bar = page.locator(".kx-live-bar")
        bar.locator("button.kx-live-toggle").click()
        assert bar.get_attribute("data-kx-live") == "no-server"
        assert "make live" in bar.locator(".kx-live-status").inner_text()
        root = page.locator(".kx-explorer[data-kx-ready='1']").first
        before = root.get_attribute("data-kx-frame")
        slider = root.locator("input[type=range]").first
        n = int(slider.get_attribute("max")) + 1
        target = n - 1 if int(slider.input_value()) < n - 1 else 0
        labbook.drag_range(page, slider, target)
        assert root.get_attribute("data-kx-frame") != before, "the kernel-free explorer did not respond"
        assert not [u for u in log["requests"] if u.startswith(srv.server)], "it asked the server"
        shot(page, "live-1-no-server", SHOTS)
        ctx.close()

        # the address make live prints: the tab goes live
        ctx, page = _page(browser, log)
        received: list = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda f: received.append(f)))
        page.goto(srv.url(), wait_until="load")                # the front page, as printed
        assert "kexue-token" not in page.url, "the token stayed in the address bar"
        page.goto(srv.url(PAGE, with_token=False), wait_until="load")    # same tab: still known
        bar = page.locator(".kx-live-bar")
        bar.locator("button.kx-live-toggle").click()
        page.wait_for_selector(".kx-live-bar[data-kx-live='on']", timeout=60_000)
        t_live = time.monotonic() - t0
        root = page.locator(".kx-live-host .kx-explorer.kx-live[data-kx-ready='1']").first
        root.wait_for(timeout=30_000)
        assert page.locator(".kx-explorer[data-kx-live-state='live']").count() == \
            page.locator(".kx-explorer:not(.kx-live)").count(), "an explorer did not go live"
        shot(page, "live-2-on", SHOTS)

        # run every cell; the text outputs are the stored ones
        bar.locator("button.kx-run-all").click()
        page.wait_for_selector(".kx-live-bar[data-kx-run-all]", timeout=120_000)
        assert bar.get_attribute("data-kx-run-all") == "ok", page.locator(".kx-traceback").all_inner_texts()[:1]
        t_run = time.monotonic() - t0 - t_live
        assert page.locator(".kx-live-output pre.kx-traceback").count() == 0
        stored, got = page.evaluate(STORED_TEXT), page.evaluate(LIVE_TEXT)
        compared = [(s, g) for s, g in zip(stored, got) if s.strip() and g is not None]
        assert len(compared) >= 3, compared
        assert all(s.strip() == g.strip() for s, g in compared), \
            [(s[:200], g[:200]) for s, g in compared if s.strip() != g.strip()][:2]
        shot(page, "live-3-ran", SHOTS)

        # the live explorer: drag its slider with the mouse; frames come from the kernel
        root = page.locator(".kx-live-host .kx-explorer.kx-live").first
        svg_before = root.locator("svg.kx-panel").first.inner_html()
        frames_before = sum("frame_seq" in str(f) for f in received)
        labbook.drag_live_slider(page, root, ".kx-live-host .kx-explorer.kx-live", 0)
        assert root.locator("svg.kx-panel").first.inner_html() != svg_before, "the figure did not change"
        assert root.locator(".kx-error").count() == 0
        assert sum("frame_seq" in str(f) for f in received) > frames_before, "no frame came from the kernel"
        shot(page, "live-4-slider", SHOTS)

        # the page's kernel refuses another origin's websocket, and one without the token
        (kernel,) = _kernels(srv)
        ws = f"/api/kernels/{kernel}/channels"
        assert _websocket_status(srv.server_port, f"{ws}?token={srv.token}", srv.origin) == 101
        assert _websocket_status(srv.server_port, f"{ws}?token={srv.token}", "http://127.0.0.1:9") == 403
        assert _websocket_status(srv.server_port, ws, srv.origin) == 403

        # "Stop live" shuts the kernel down; the page comes back kernel-free
        with page.expect_navigation():
            bar.locator("button.kx-live-toggle").click()
        page.wait_for_selector(".kx-explorer[data-kx-ready='1']")
        assert _kernels(srv) == []
        ctx.close()
        assert log["pageerror"] == [], log["pageerror"]
        assert log["console"] == [], log["console"]
    # the token was never written into the built book, nor into any file of the repository
    tok = srv.token.encode()
    assert not [p for p in HTML.rglob("*") if p.is_file() and tok in p.read_bytes()]
    changed = [live.ROOT / line[3:].split(" -> ")[-1].strip('"') for line in _git_status().splitlines()]
    assert not [p for p in changed if p.is_file() and tok in p.read_bytes()]
    print(f"live after {t_live:.1f} s, run all {t_run:.1f} s, whole test {time.monotonic() - t0:.1f} s")


def _git_status() -> str:
    try:
        return subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=live.ROOT,
                              capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return ""                 # not a git checkout: the built book was checked above


def _kernels(srv) -> list[str]:
    req = urllib.request.Request(f"{srv.server}/api/kernels", headers={"Authorization": f"token {srv.token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return [k["id"] for k in json.load(r)]


def test_live_mode_meta_names_the_chapters_explorers_module():
    """Every chapter page gets the folder its kernel starts in and its explorers module."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("kexue_live", live.ROOT / "_ext" / "kexue_live.py")
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    root = live.ROOT
    chapters = sorted((root / "book").glob("*/*.ipynb"))
    assert chapters
    for nb in chapters:
        doc = str(nb.relative_to(root).with_suffix(""))
        meta = ext.chapter_meta(doc, nb)
        assert meta and meta["kexue-live-path"] == nb.parent.name, doc
        mod = meta.get("kexue-live-explorers")
        assert mod and (root / "lib" / "kexue" / "explorers" / f"{mod}.py").exists(), (doc, mod)
    assert ext.chapter_meta("book/intro", root / "book" / "intro.md") is None
