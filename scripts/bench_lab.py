"""Live explorer latency as a reader feels it (`python scripts/bench.py --only lab`).

For each chapter with explorers: JupyterLab is started as `make lab` starts it (scripts/labbook.py,
on a temporary copy of the book), the chapter's text notebook is opened in headless Chromium and
run (Run > Run All Cells; with --quick only its code cells up to the last widget cell), and every
control of every live explorer is moved through all its values with real input events (a slider
is dragged with the mouse one position at a time, a dropdown is stepped with the arrow keys).
Measured in the page, per input event: the time from the event to the redraw that shows its
position (the renderer's `data-kx-shown` reaching that input's number: the frame of that position,
computed by the kernel, is drawn as SVG), and to the next animation frame after it (painted).

The renderer draws a position at once when the kernel has already sent its frame (the kernel
computes the frames around the current position ahead, see kexue.widgets.LiveExplorer); each row
says how many moves were drawn so ("ahead") and the latency of the others (a kernel round trip).

One chapter never stops the run: each explorer's sweep stops after EXPLORER_TIMEOUT_S, each move
waits MOVE_TIMEOUT_S at most, and a watchdog kills the browser if a chapter (open, run, sweeps,
kernel-free page) takes longer than CHAPTER_TIMEOUT_S; its explorers are reported "timed out".

Also, over the same control values: `compute` alone (Explorer.update timed in Python, this
process, one torch thread) and the kernel-free renderer (the chapter's built HTML page when the
book was built with the current renderer, else a standalone page with the same renderer and the
explorer's precomputed frames), driven with the same events.
"""
from __future__ import annotations

import contextlib
import importlib
import json
import os
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import labbook

ROOT = labbook.ROOT
HTML = ROOT / "_build" / "html"
GOAL_MS = 100.0
MOVE_TIMEOUT_S = 20.0         # one input -> its redraw
EXPLORER_TIMEOUT_S = 240.0    # all the moves of one explorer
CHAPTER_TIMEOUT_S = 600.0     # open + run + every sweep + the kernel-free page, then the browser is killed
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

# In the page: time from an input event on an explorer's control to the redraw answering it.
PROBE = """() => {
  if (window.__kx) return;
  const kx = window.__kx = {lat: [], cur: null};
  document.addEventListener('input', e => {
    const root = e.target.closest && e.target.closest('.kx-explorer');
    if (!root) return;
    const live = root.classList.contains('kx-live');
    // capture phase: runs before the renderer's own listener, so data-kx-inputs is not yet bumped
    kx.cur = {root, t0: performance.now(), expect: live ? +(root.getAttribute('data-kx-inputs') || 0) + 1 : 0,
              ahead: +(root.getAttribute('data-kx-ahead') || 0)};
  }, true);
  const obs = new MutationObserver(recs => {
    const c = kx.cur; if (!c) return;
    for (const r of recs) {
      if (r.target !== c.root) continue;
      const live = c.root.classList.contains('kx-live');
      if (live && !(+c.root.getAttribute('data-kx-shown') >= c.expect)) continue;
      if (c.root.querySelector('.kx-error')) { kx.lat.push({error: c.root.querySelector('.kx-error').textContent}); kx.cur = null; return; }
      const t1 = performance.now(); kx.cur = null;
      const ahead = live && +(c.root.getAttribute('data-kx-ahead') || 0) > c.ahead;
      requestAnimationFrame(() => kx.lat.push({dom: t1 - c.t0, paint: performance.now() - c.t0, ahead}));
      return;
    }
  });
  const watch = () => document.querySelectorAll('.kx-explorer').forEach(r => {
    if (!r.__kxWatched) { r.__kxWatched = true;
      obs.observe(r, {attributes: true, attributeFilter: ['data-kx-shown', 'data-kx-frame']}); } });
  watch(); kx.watch = watch;
}"""


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def _summary(xs: list[float]) -> dict:
    return {"n": len(xs), "p50_ms": _pct(xs, 0.5), "p95_ms": _pct(xs, 0.95),
            "max_ms": max(xs) if xs else None}


def _plan(root) -> list[tuple[int, str, int, int]]:
    """(control position, kind, number of values, default index) of an explorer's controls."""
    out = []
    for ci, el in enumerate(root.locator("[data-kx-control]").all()):
        tag = el.evaluate("e => e.tagName.toLowerCase()")
        if tag == "input":
            out.append((ci, "slider", int(el.get_attribute("max")) + 1, int(el.input_value())))
        else:
            out.append((ci, "dropdown", el.locator("option").count(), int(el.input_value())))
    return out


def _sequence(n: int, default: int) -> list[int]:
    """Every value of a control once, one step at a time where it can: default -> 0 -> n-1 -> default."""
    seq = list(range(default - 1, -1, -1)) + list(range(1, n)) + list(range(n - 2, default - 1, -1))
    return seq if n > 1 else []


def sweep(page, root, timeout_ms: int = int(MOVE_TIMEOUT_S * 1000),
          budget_s: float = EXPLORER_TIMEOUT_S) -> dict:
    """Move every control of one explorer through its values with real input; return the
    latencies (ms) measured in the page, whether each was drawn from a frame computed ahead, and
    the control values visited. Stops (timed_out) once `budget_s` seconds have passed."""
    page.evaluate(PROBE)
    page.evaluate("() => window.__kx.watch()")
    dom, paint, ahead, errors, visited = [], [], [], [], []
    deadline = time.monotonic() + budget_s
    timed_out = False
    for ci, kind, n, default in _plan(root):
        ctl = root.locator("[data-kx-control]").nth(ci)
        name = ctl.get_attribute("data-kx-control")
        ctl.scroll_into_view_if_needed()
        for target in _sequence(n, default):
            if time.monotonic() > deadline:
                timed_out = True
                errors.append(f"timed out after {budget_s:.0f} s ({len(dom)} moves measured)")
                break
            before = page.evaluate("() => window.__kx.lat.length")
            if kind == "slider":
                labbook.drag_range(page, ctl, target)
            else:
                cur = int(ctl.input_value())
                ctl.focus()
                for _ in range(abs(target - cur)):
                    page.keyboard.press("ArrowDown" if target > cur else "ArrowUp")
            if int(ctl.input_value()) != target:
                errors.append(f"{name}: the input did not reach position {target}")
                continue
            try:
                page.wait_for_function(f"() => window.__kx.lat.length > {before}", timeout=timeout_ms, polling=20)
            except Exception:                                        # noqa: BLE001
                errors.append(f"{name}={target}: no redraw within {timeout_ms / 1000:.0f} s")
                continue
            rec = page.evaluate("() => window.__kx.lat[window.__kx.lat.length - 1]")
            if "error" in rec:
                errors.append(f"{name}={target}: {rec['error'][:200]}")
                continue
            dom.append(rec["dom"])
            paint.append(rec["paint"])
            ahead.append(bool(rec.get("ahead")))
            visited.append((name, target))
        if timed_out:
            break
    return {"dom": dom, "paint": paint, "ahead": ahead, "errors": errors, "visited": visited,
            "timed_out": timed_out}


def _explorer_factories(only: str = "", broken: dict | None = None) -> dict[str, list]:
    """chapter slug -> the factories of kexue.explorers.<module>.EXPLORERS (only the slugs that
    contain one of the comma-separated substrings `only`); a module that fails to import is
    recorded in `broken` (slug -> error) instead of stopping the run."""
    from kexue import explorers
    out = {}
    for m in explorers.MODULES:
        slug = m.replace("_", "-")
        if only and not any(p in slug for p in only.split(",")):
            continue
        try:
            out[slug] = list(getattr(importlib.import_module(f"kexue.explorers.{m}"), "EXPLORERS", ()))
        except Exception as e:                                       # noqa: BLE001
            if broken is not None:
                broken[slug] = f"{type(e).__name__}: {e}"[:500]
    return out


def _by_name(factories: list) -> dict:
    """explorer name -> factory (each factory called once to read its explorer's name)."""
    return {f().name: f for f in factories}


def compute_times(factory, visited: list[tuple[str, int]]) -> dict:
    """Explorer.update timed in Python at the control positions the browser visited (each
    positioned as in the browser: the earlier moves of the sweep kept)."""
    ex = factory()
    opts = {c.name: list(c.options) for c in ex.controls}
    params = ex.defaults()
    ex.update(**params)                                              # warm-up
    xs = []
    for name, i in visited:
        params[name] = opts[name][i]
        t0 = time.perf_counter()
        ex.update(**params)
        xs.append((time.perf_counter() - t0) * 1e3)
    return _summary(xs)


def _kill_sessions(lab) -> None:
    for s in lab.api("api/sessions"):
        req = urllib.request.Request(lab.url(f"api/sessions/{s['id']}"), method="DELETE")
        try:
            urllib.request.urlopen(req, timeout=30).close()
        except OSError:
            pass


def _run_quick(page) -> None:
    """Run the code cells up to the last one that shows a live widget (a widget cell often
    uses names defined by the cells before it); the rest of the chapter is not run."""
    page.evaluate("""async () => {
      const w = window.jupyterapp.shell.currentWidget, nb = w.content;
      const code = []; let last = -1;
      nb.widgets.forEach((c, i) => { if (c.model.type !== 'code') return;
        code.push(i); if (c.model.sharedModel.getSource().includes('.widget()')) last = i; });
      for (const i of code.filter(i => i <= last)) {
        nb.activeCellIndex = i; await window.jupyterapp.commands.execute('notebook:run-cell'); }
    }""")
    page.wait_for_function(f"() => ({labbook.JS_RUNNING})() === 0 && ({labbook.JS_KERNEL_IDLE})()",
                           timeout=180_000, polling=200)


def _chapter_md(slug: str) -> Path | None:
    hits = sorted((ROOT / "book").glob(f"*/{slug}.md"))
    return hits[0] if hits else None


def _static_page(tmp: Path, slug: str, factories: dict) -> tuple[str, str]:
    """URL of a page with the chapter's kernel-free explorers: the built book's page if it carries
    the current renderer, else a standalone page (renderer + precomputed frames)."""
    from kexue.widgets import renderer_script
    md = _chapter_md(slug)
    built = HTML / md.relative_to(ROOT).with_suffix(".html") if md else None
    js = renderer_script()
    static_js = HTML / "_static" / "kexue-explorer.js"
    if built and built.exists() and static_js.exists() and static_js.read_text(encoding="utf-8") == js:
        return built.as_uri(), "built book"
    body = "".join(f().static().html() for f in factories.values())
    page = tmp / f"{slug}.html"
    page.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{slug}</title></head>"
                    f"<body style='max-width:1100px;margin:auto'>{body}<script>{js}</script></body></html>",
                    encoding="utf-8")
    return page.as_uri(), "standalone page (the built book predates the renderer)"


def _kernel_free(browser, tmp: Path, slug: str, named: dict, rows: list, errors: list, log=print) -> None:
    """The same events on the chapter's precomputed (kernel-free) explorers."""
    url, source = _static_page(tmp, slug, named)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(url)
        roots = page.locator(".kx-explorer:not(.kx-live)[data-kx-ready='1']")
        roots.first.wait_for(timeout=30_000)
        for i in range(roots.count()):
            root = roots.nth(i)
            name = root.get_attribute("data-name")
            r = sweep(page, root, timeout_ms=10_000, budget_s=120)
            row = next((x for x in rows if x["chapter"] == slug and x["explorer"] == name), None)
            if row is None:
                row = {"chapter": slug, "explorer": name, "states": 0, "live": _summary([]),
                       "errors": ["no live explorer of this name ran in JupyterLab"]}
                if name in named:
                    row["compute"] = compute_times(named[name], r["visited"])
                rows.append(row)
            row["static"] = _summary(r["paint"])
            row["static_timed_out"] = r["timed_out"]
            row["static_source"] = source
            row["errors"] = row.get("errors", []) + [f"kernel-free: {e}" for e in r["errors"]]
            log(f"  {name}: compute p50/p95 {(row.get('compute') or {}).get('p50_ms')}/"
                f"{(row.get('compute') or {}).get('p95_ms')} ms; kernel-free p50/p95 "
                f"{row['static']['p50_ms']}/{row['static']['p95_ms']} ms")
    except Exception as e:                                           # noqa: BLE001
        errors.append({"chapter": slug, "error": f"kernel-free page: {type(e).__name__}: {e}"[:2000]})
    finally:
        page.close()


class Watchdog:
    """Kills the Chromium processes this script started (found by process id among its own
    descendants) when a chapter runs past its time, so that a hung page cannot stop the run."""

    def __init__(self, seconds: float, log=print):
        self.seconds, self.log, self.fired = seconds, log, False
        self.timer = threading.Timer(seconds, self._kill)
        self.timer.daemon = True

    def _kill(self) -> None:
        import psutil
        self.fired = True
        self.log(f"  watchdog: the chapter ran past {self.seconds:.0f} s; killing the browser")
        for p in psutil.Process(os.getpid()).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if "chrom" in p.name().lower():
                    p.kill()

    def __enter__(self) -> "Watchdog":
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.cancel()


def _missing_rows(slug: str, names: list[str], rows: list, why: str) -> None:
    """A row for each explorer of the chapter that got none (it timed out or the chapter failed)."""
    have = {r["explorer"] for r in rows if r["chapter"] == slug}
    for name in names:
        if name not in have:
            rows.append({"chapter": slug, "explorer": name, "states": 0, "live": _summary([]),
                         "errors": [why], "timed_out": why.startswith("timed out")})


def run(args, log=print) -> dict:
    import torch
    torch.set_num_threads(1)
    from playwright.sync_api import sync_playwright
    broken: dict[str, str] = {}
    facs = _explorer_factories(args.chapters, broken)
    named: dict[str, dict] = {}
    slugs = [s for s in facs if facs[s] and _chapter_md(s)]
    rows, chapters, errors = [], [], []
    errors += [{"chapter": s, "error": f"kexue.explorers module failed to import: {e}"} for s, e in broken.items()]
    tmp = Path(tempfile.mkdtemp(prefix="bench-lab-"))
    with labbook.Lab() as lab, sync_playwright() as pw:
        browser = None
        for slug in slugs:
            md = _chapter_md(slug).relative_to(ROOT / "book").as_posix()
            log(f"lab: {md}")
            if browser is None or not browser.is_connected():
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            dog = Watchdog(CHAPTER_TIMEOUT_S, log).__enter__()
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            console = []
            page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
            try:
                t0 = time.monotonic()
                page.goto(lab.url(f"lab/tree/{md}", reset=""))
                page.wait_for_selector(".jp-NotebookPanel .jp-MarkdownCell", timeout=120_000)
                page.wait_for_function(labbook.JS_KERNEL_IDLE, timeout=120_000, polling=200)
                t_open = time.monotonic() - t0
                if args.quick:
                    t1 = time.monotonic()
                    _run_quick(page)
                    t_run = time.monotonic() - t1
                else:
                    t_run = labbook.run_all(page, timeout_s=300)
                outs = page.evaluate(labbook.JS_OUTPUTS)
                cell_errors = [o["text"] for o in outs if o["type"] == "error"]
                chapters.append({"chapter": md, "open_s": t_open, "run_s": t_run,
                                 "mode": "cells up to the last widget cell" if args.quick else "Run All",
                                 "cell_errors": cell_errors})
                roots = page.locator(".kx-explorer.kx-live")
                named[slug] = _by_name(facs[slug])
                for i in range(roots.count()):
                    root = roots.nth(i)
                    name = root.get_attribute("data-name")
                    r = sweep(page, root)
                    rt = [x for x, a in zip(r["paint"], r["ahead"]) if not a]
                    row = {"chapter": slug, "explorer": name, "states": len(r["dom"]),
                           "live": _summary(r["paint"]), "live_dom": _summary(r["dom"]),
                           "ahead": sum(r["ahead"]), "round_trip": _summary(rt),
                           "errors": r["errors"], "timed_out": r["timed_out"]}
                    if name in named[slug]:
                        row["compute"] = compute_times(named[slug][name], r["visited"])
                    rows.append(row)
                    log(f"  {name}: live p50 {row['live']['p50_ms']} p95 {row['live']['p95_ms']} ms")
                if console:
                    errors.append({"chapter": md, "console": console[:5]})
            except Exception as e:                                   # noqa: BLE001
                errors.append({"chapter": md, "error": f"{type(e).__name__}: {e}"[:2000]})
                log(f"  failed: {errors[-1]['error'][:300]}")
                if os.environ.get("KEXUE_LAB_SHOTS"):                # what the page showed
                    shots = Path(os.environ["KEXUE_LAB_SHOTS"])
                    shots.mkdir(parents=True, exist_ok=True)
                    with contextlib.suppress(Exception):
                        page.screenshot(path=str(shots / f"bench-failed-{slug}.png"))
            finally:
                with contextlib.suppress(Exception):
                    page.close()
                _kill_sessions(lab)
            named.setdefault(slug, _by_name(facs[slug]))
            if not dog.fired:
                _kernel_free(browser, tmp, slug, named[slug], rows, errors, log)
            dog.__exit__()
            if dog.fired:
                errors.append({"chapter": md, "error": f"timed out: the chapter ran past {CHAPTER_TIMEOUT_S:.0f} s "
                                                       "and its browser was killed"})
            _missing_rows(slug, list(named[slug]), rows,
                          f"timed out (chapter past {CHAPTER_TIMEOUT_S:.0f} s)" if dog.fired
                          else "not measured: no live explorer of this name ran in JupyterLab")
        if browser is not None and browser.is_connected():
            browser.close()
    for r in rows:
        p95 = r["live"]["p95_ms"]
        r["meets_goal"] = p95 is not None and p95 <= GOAL_MS
    return {"rows": rows, "chapters": chapters, "errors": errors, "goal_ms": GOAL_MS,
            "quick": bool(args.quick), "meeting_goal": sum(r["meets_goal"] for r in rows),
            "total": len(rows)}


def _ms(x) -> str:
    return "—" if x is None else f"{x:.0f} ms"


def _verdict(r: dict) -> str:
    if r.get("timed_out") and not r["live"]["n"]:
        return "timed out"
    return ("yes" if r["meets_goal"] else "**no**") + (" (timed out)" if r.get("timed_out") else "")


def render(res: dict) -> list[str]:
    L = [f"JupyterLab in headless Chromium, real input (mouse drags on sliders, arrow keys on "
         f"dropdowns), every value of every control; input event → redrawn SVG, painted. Goal: "
         f"p95 ≤ {res['goal_ms']:.0f} ms live. {res['meeting_goal']} of {res['total']} explorers "
         "meet it. ahead = moves drawn from a frame the kernel had computed ahead and sent; "
         "round trip = the other moves (input → kernel → redraw). compute = Explorer.update alone "
         "(Python); kernel-free = the renderer on precomputed frames, same events.", "",
         "| chapter | explorer | moves | live p50 | live p95 | ahead | round-trip p50 | compute p50 | "
         "compute p95 | kernel-free p50 | kernel-free p95 | ≤ 100 ms |",
         "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"]
    for r in res["rows"]:
        c, s = r.get("compute") or {}, r.get("static") or {}
        rt = r.get("round_trip") or {}
        L.append(f"| {r['chapter']} | {r['explorer']} | {r['states']} | {_ms(r['live']['p50_ms'])} | "
                 f"{_ms(r['live']['p95_ms'])} | {r.get('ahead', 0)}/{r['states']} | {_ms(rt.get('p50_ms'))} | "
                 f"{_ms(c.get('p50_ms'))} | {_ms(c.get('p95_ms'))} | "
                 f"{_ms(s.get('p50_ms'))} | {_ms(s.get('p95_ms'))} | {_verdict(r)} |")
    sources = sorted({r.get("static_source") for r in res["rows"] if r.get("static_source")})
    if sources:
        L += ["", "Kernel-free pages: " + "; ".join(sources) + "."]
    if res["chapters"]:
        runs = [c["run_s"] for c in res["chapters"]]
        L += ["", f"Chapters opened and run in JupyterLab ({res['chapters'][0]['mode']}): "
              f"{len(runs)}, run time median {statistics.median(runs):.1f} s, max {max(runs):.1f} s."]
    for c in res["chapters"]:
        if c["cell_errors"]:
            L.append(f"\n**{c['chapter']}: cells failed in JupyterLab:** {c['cell_errors'][:3]}")
    for r in res["rows"]:
        if r.get("errors"):
            L.append(f"\n**{r['chapter']} / {r['explorer']}:** {'; '.join(r['errors'][:3])}")
    for e in res["errors"]:
        L.append(f"\n**{e['chapter']}:** {e.get('error') or 'console errors: ' + json.dumps(e.get('console'))}")
    return L
