"""The book's benchmarks in one run, ours side by side with the reference packages (`make bench`).

    python scripts/bench.py                      # everything (about 10-15 minutes on 2 cores)
    python scripts/bench.py --quick              # fewer repeats; no chapter execution, widgets or build
    python scripts/bench.py --only topk,codes    # a subset of the sections below

Sections: chapters (execution time per chapter, kernel start included, cap 30 s), widgets (live
update latency p95 per explorer, goal <= 100 ms), lab (scripts/bench_lab.py: each chapter opened
and run in JupyterLab in headless Chromium, every live control moved with real input, input ->
redrawn SVG p50/p95, with compute alone and the kernel-free renderer), build (the HTML build), topk (smooth Top-k maps
vs torch.topk and torch.softmax), attention (scripts/bench_attention_probability.py), codes
(scripts/bench_codes.py), diffusion (scripts/bench_diffusion.py), training (scripts/bench_training.py), matrices
(scripts/bench_matrices.py), text (scripts/bench_text.py).

Writes bench-results/bench.json (raw rows) and bench-results/bench.md (the README table). Ratios
are ours / reference: below 1 means ours is faster. One torch thread. A section that raises is
recorded with its error and the run goes on. Timings are machine-dependent; no test times anything.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
OUT_DIR = ROOT / "bench-results"
CHAPTER_CAP_S = 30.0
WIDGET_GOAL_MS = 100.0
TOPK_SHAPE = (256, 1024)
TOPK_KS = (1, 8, 64)
TOPK_SINGLE_CALL_LIMIT_S = 60.0
SECTIONS = ["chapters", "widgets", "lab", "build", "topk", "attention", "codes", "diffusion", "training", "matrices", "text"]


def _load(name: str):
    """A module from scripts/ by path (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", SCRIPTS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# 1-2. chapters and widgets


def _chapters(args) -> list[Path]:
    ex = _load("execute")
    mds = ex.chapters_from_toc()
    if args.chapters:
        pats = args.chapters.split(",")
        mds = [m for m in mds if any(p in str(m.relative_to(ROOT)) for p in pats)]
    return mds


def _toc_skipped() -> list[str]:
    """_toc.yml entries that are not notebooks (plain markdown pages: nothing to execute)."""
    toc = _load("booktoc")
    nbs = {str(m.relative_to(ROOT)) for m in toc.chapters()}
    return [f"{f}.md" for f in toc.pages() if f"{f}.md" not in nbs]


def bench_chapters(args) -> dict:
    ex = _load("execute")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-chapters-") as tmp:
        for md in _chapters(args):
            rel = str(md.relative_to(ROOT))
            _log(f"executing {rel}")
            try:
                wall = ex.execute(md, out=Path(tmp) / (md.stem + ".ipynb"))
                rows.append({"chapter": rel, "seconds": wall, "over_cap": wall > CHAPTER_CAP_S})
            except Exception as e:                                   # noqa: BLE001
                rows.append({"chapter": rel, "seconds": None, "error": f"{type(e).__name__}: {e}"})
            _log(f"  {rows[-1]}")
    times = [r["seconds"] for r in rows if r["seconds"] is not None]
    return {"rows": rows, "cap_s": CHAPTER_CAP_S, "skipped_pages": _toc_skipped(),
            "max_s": max(times) if times else None,
            "median_s": statistics.median(times) if times else None,
            "over_cap": [r["chapter"] for r in rows if r.get("over_cap")]}


def bench_widgets(args) -> dict:
    """Every chapter's explorers (kexue.explorers.<chapter>.EXPLORERS): time the live update
    (compute + matplotlib draw) at up to 20 states spread over each control grid."""
    import importlib

    import matplotlib
    matplotlib.use("Agg")
    import torch
    torch.set_num_threads(1)
    from kexue import explorers
    from kexue.widgets import time_updates
    rows, errors = [], []
    pats = args.chapters.split(",") if args.chapters else None
    for name in explorers.MODULES:
        if pats and not any(p.replace("-", "_") in name for p in pats):
            continue
        mod = importlib.import_module(f"kexue.explorers.{name}")
        for factory in getattr(mod, "EXPLORERS", ()):
            _log(f"timing {name}.{factory.__name__}")
            try:
                ex = factory()
                r = time_updates(ex)
                r["json_bytes"] = len(ex.static().data)
            except Exception as e:                                   # noqa: BLE001
                errors.append({"chapter": name, "explorer": factory.__name__,
                               "error": f"{type(e).__name__}: {e}"})
                continue
            r["chapter"] = name
            r["meets_goal"] = r["update_p95_ms"] <= WIDGET_GOAL_MS
            rows.append(r)
    return {"rows": rows, "goal_ms": WIDGET_GOAL_MS, "errors": errors,
            "meeting_goal": sum(r["meets_goal"] for r in rows), "total": len(rows)}


def bench_lab(args) -> dict:
    """Live explorers in JupyterLab with real input (scripts/bench_lab.py; --quick runs only each
    chapter's set-up and widget cells instead of Run All)."""
    return _load("bench_lab").run(args, log=_log)


def _md_lab(s: dict) -> list[str]:
    return _load("bench_lab").render(s)


# ---------------------------------------------------------------------------------------------
# 3. build


def bench_build(args) -> dict:
    if not (ROOT / "_vendor" / ".installed").exists():
        raise RuntimeError("_vendor assets missing: run `make assets` (or `make book`) first")
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        cmd = [str(ROOT / ".venv" / "bin" / "jupyter-book"), "build", ".", "--all",
               "--warningiserror", "--nitpick", "--keep-going", "--path-output", tmp]
        _log(" ".join(cmd))
        t0 = time.perf_counter()
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        ok = p.returncode == 0 and (Path(tmp) / "_build" / "html" / "index.html").exists()
    res = {"seconds": wall, "returncode": p.returncode, "ok": ok, "command": " ".join(cmd[1:])}
    if not ok:
        res["output_tail"] = (p.stdout + p.stderr)[-3000:]
    return res


# ---------------------------------------------------------------------------------------------
# 4. smooth top-k (each configuration in a fresh subprocess: time and peak RSS)


def _topk_worker(method: str, k: int, repeats: int) -> None:
    """Runs in a fresh process. Prints one JSON object: median ms of forward+backward and the peak
    RSS growth (ru_maxrss after the first call minus before it) in MiB."""
    import resource

    import torch
    torch.set_num_threads(1)
    from kexue.probability import TOPK_METHODS

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(*TOPK_SHAPE, dtype=torch.float64, generator=gen)
    g = torch.randn(*TOPK_SHAPE, dtype=torch.float64, generator=gen)
    if method == "torch.topk":
        def f(t):
            return torch.topk(t, k, dim=-1).values
        gk = g[:, :k].contiguous()
    elif method == "torch.softmax":
        def f(t):
            return torch.softmax(t, dim=-1)
        gk = g
    else:
        m = TOPK_METHODS[method]

        def f(t):
            return m(t, k, 1.0)
        gk = g

    def call():
        xr = x.clone().requires_grad_(True)
        (f(xr) * gk).sum().backward()

    def status_kib(field: str) -> int | None:
        try:
            for line in Path("/proc/self/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        except OSError:
            pass
        return None

    # Peak RSS during the call: reset the high-water mark (Linux: "5" > clear_refs), so that the
    # peak of `import torch` does not hide it; fall back to ru_maxrss growth where that fails.
    try:
        Path("/proc/self/clear_refs").write_text("5")
        rss0, how = status_kib("VmRSS"), "VmHWM"
    except OSError:
        rss0, how = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss"
    t0 = time.perf_counter()
    call()                                                            # warm-up + memory
    first = time.perf_counter() - t0
    peak = status_kib("VmHWM") if how == "VmHWM" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mib = None if peak is None or rss0 is None else (peak - rss0) / 1024        # KiB -> MiB
    res = {"method": method, "k": k, "first_call_s": first, "peak_rss_delta_mib": peak_mib,
           "memory_probe": how}
    if first > TOPK_SINGLE_CALL_LIMIT_S:
        res.update(skipped=f"a single call took {first:.0f} s > {TOPK_SINGLE_CALL_LIMIT_S:.0f} s")
    else:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        res.update(ms=1000 * statistics.median(times), repeats=repeats)
    print("RESULT " + json.dumps(res), flush=True)


def _run_worker(method: str, k: int, repeats: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        p = subprocess.run([sys.executable, __file__, "--_topk-worker", method, str(k), str(repeats)],
                           capture_output=True, text=True, env=env, timeout=600)
    except subprocess.TimeoutExpired:
        return {"method": method, "k": k, "skipped": "did not finish in 600 s"}
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"method": method, "k": k, "error": (p.stdout + p.stderr)[-1500:]}


def bench_topk(args) -> dict:
    from kexue.probability import TOPK_METHODS
    reps = 3 if args.quick else 15
    slow_reps = 1 if args.quick else 3                      # GradTopK: O(n k) python-level loop
    base = {}
    _log("torch.softmax")
    base["softmax"] = _run_worker("torch.softmax", 1, reps)
    for k in TOPK_KS:
        _log(f"torch.topk k={k}")
        base[k] = _run_worker("torch.topk", k, reps)
    rows = []
    for name in TOPK_METHODS:
        for k in TOPK_KS:
            _log(f"{name} k={k}")
            r = _run_worker(name, k, slow_reps if name == "GradTopK" else reps)
            tk, sm = base[k].get("ms"), base["softmax"].get("ms")
            r["topk_ms"], r["softmax_ms"] = tk, sm
            r["topk_peak_rss_delta_mib"] = base[k].get("peak_rss_delta_mib")
            r["softmax_peak_rss_delta_mib"] = base["softmax"].get("peak_rss_delta_mib")
            if r.get("ms") is not None:
                r["ratio_topk"] = r["ms"] / tk if tk else None
                r["ratio_softmax"] = r["ms"] / sm if sm else None
            rows.append(r)
            _log(f"  {r}")
    return {"shape": list(TOPK_SHAPE), "dtype": "float64", "rows": rows, "baselines": base,
            "memory": "peak resident memory during the first forward+backward call minus the resident "
                      "memory just before it (Linux VmHWM after resetting it), in a fresh process with "
                      "the input tensors already allocated; it counts autograd buffers and allocator "
                      "growth, and misses memory reused from blocks glibc already held"}


# ---------------------------------------------------------------------------------------------
# 5-7. the per-part benchmark scripts (rows {"name", "ours_s", "ref_s", "ratio", ...})


def _collect(fns) -> dict:
    rows, errors = [], []
    for fn in fns:
        _log(fn.__name__)
        try:
            for r in fn():
                r = dict(r)
                r["bench"] = fn.__name__
                rows.append(r)
                _log(f"  {r}")
        except Exception:                                            # noqa: BLE001
            errors.append({"bench": fn.__name__, "error": traceback.format_exc(limit=3)})
            _log(f"  FAILED {fn.__name__}")
    return {"rows": rows, "errors": errors}


def bench_attention(args) -> dict:
    m = _load("bench_attention_probability")
    rep = 2 if args.quick else 5
    return _collect([_named(m.bench_sparse_maps, rounds=rep), _named(m.bench_grad_topk, rounds=3 if args.quick else 5),
                     _named(m.bench_thre_topk, rounds=3 if args.quick else 9),
                     _named(m.bench_mla_decode, repeats=rep)])


def bench_codes(args) -> dict:
    m = _load("bench_codes")
    fns = [m.bench_fsq_quantise, m.bench_rotation_trick,
           _named(m.bench_training, steps=100) if args.quick else m.bench_training]
    return _collect(fns)


def bench_diffusion(args) -> dict:
    m = _load("bench_diffusion")
    return _collect(list(m.BENCHMARKS))


def _run_rows(script: str, args) -> dict:
    """A part's benchmark script with a `run(quick=...)` that returns rows."""
    m = _load(script)
    try:
        rows = m.run(quick=args.quick)
    except TypeError:
        rows = m.run()
    return {"rows": rows, "errors": []}


def bench_training(args) -> dict:
    return _run_rows("bench_training", args)


def bench_matrices(args) -> dict:
    return _run_rows("bench_matrices", args)


def bench_text(args) -> dict:
    return _run_rows("bench_text", args)


def _named(fn, **kw):
    def wrapped():
        return fn(**kw)
    wrapped.__name__ = fn.__name__
    return wrapped


# ---------------------------------------------------------------------------------------------
# report


def _machine() -> dict:
    import torch
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_THREAD_LIMIT")}
        nproc = int(subprocess.run(["nproc"], capture_output=True, text=True, env=env).stdout.strip())
    except Exception:                                                # noqa: BLE001
        nproc = os.cpu_count()
    return {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "nproc": nproc, "cpu": cpu, "torch": torch.__version__, "threads": 1,
            "python": platform.python_version()}


def _t(s) -> str:
    if s is None:
        return "—"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def _r(x) -> str:
    return "—" if x is None else f"{x:.2f}"


def _err_block(name: str, err: str) -> list[str]:
    return [f"**{name} failed:**", "", "```", err.strip()[-2000:], "```", ""]


def _md_chapters(c: dict) -> list[str]:
    L = [f"Max {_t(c['max_s'])}, median {_t(c['median_s'])}; cap {c['cap_s']:.0f} s per "
         f"chapter: " + (f"**over the cap: {', '.join(c['over_cap'])}**" if c["over_cap"]
                         else "every chapter is under it") + ".", "",
         "| chapter | time | under 30 s |", "|---|---:|:---:|"]
    for r in c["rows"]:
        ok = "—" if r["seconds"] is None else ("yes" if not r["over_cap"] else "**no**")
        L.append(f"| {r['chapter']} | {_t(r['seconds'])}"
                 f"{' (' + r['error'] + ')' if r.get('error') else ''} | {ok} |")
    if c.get("skipped_pages"):
        L += ["", "Not notebooks (nothing to execute): " + ", ".join(c["skipped_pages"]) + "."]
    return L


def _md_widgets(w: dict) -> list[str]:
    L = [f"Goal: p95 ≤ {w['goal_ms']:.0f} ms. {w['meeting_goal']} of {w['total']} "
         "explorers meet it.", "",
         "| chapter | explorer | states | JSON bytes | p50 | p95 | ≤ 100 ms |",
         "|---|---|---:|---:|---:|---:|:---:|"]
    for r in w["rows"]:
        L.append(f"| {r['chapter']} | {r['explorer']} | {r['states']} | {r['json_bytes']} | "
                 f"{r['update_p50_ms']:.0f} ms | {r['update_p95_ms']:.0f} ms | "
                 f"{'yes' if r['meets_goal'] else '**no**'} |")
    for e in w["errors"]:
        L.append(f"\n**{e['chapter']} failed in the widget pass:** {e['error']}")
    return L


def _md_build(b: dict) -> list[str]:
    L = [f"`jupyter-book {b['command'].split(' --path-output')[0]}` (from the executed "
         f".ipynb, no execution): {_t(b['seconds'])}"
         + ("." if b["ok"] else f", **failed (exit {b['returncode']})**.")]
    if not b["ok"]:
        L += ["", "```", b.get("output_tail", "").strip()[-2000:], "```"]
    return L


def _md_topk(t: dict) -> list[str]:
    L = [f"A ({t['shape'][0]}, {t['shape'][1]}) {t['dtype']} tensor, loss = sum(output × "
         "fixed random tensor), `.backward()`; median of repeats after a warm-up, each "
         "configuration in a fresh process. torch.topk: values forward and backward through "
         "them; torch.softmax: forward and backward. Memory: " + t["memory"] + ".", "",
         "| method | k | ours | torch.topk | torch.softmax | ours / topk | ours / softmax "
         "| peak RSS Δ ours / topk / softmax (MiB) | notes |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in t["rows"]:
        note = r.get("skipped") or (r.get("error", "").strip().splitlines() or [""])[-1]
        if r["method"] == "GradTopK" and r.get("repeats"):
            note = (note + "; " if note else "") + f"{r['repeats']} repeat{'s' if r['repeats'] != 1 else ''}"
        mem = "/".join("—" if v is None else f"{v:.0f}" for v in
                       (r.get("peak_rss_delta_mib"), r.get("topk_peak_rss_delta_mib"),
                        r.get("softmax_peak_rss_delta_mib")))
        ms = r.get("ms")
        L.append(f"| {r['method']} | {r['k']} | {_t(None if ms is None else ms / 1e3)} | "
                 f"{_t(None if r['topk_ms'] is None else r['topk_ms'] / 1e3)} | "
                 f"{_t(None if r['softmax_ms'] is None else r['softmax_ms'] / 1e3)} | "
                 f"{_r(r.get('ratio_topk'))} | {_r(r.get('ratio_softmax'))} | {mem} | {note} |")
    return L


# section key -> (heading, renderer of its result); a section that failed shows its error instead
_MD_SECTIONS = {
    "chapters": ("Chapter execution (kernel start included)", _md_chapters),
    "widgets": ("Widget update latency (compute + matplotlib draw, up to 20 states each)", _md_widgets),
    "lab": ("Live explorers in JupyterLab: input → redrawn figure (real input, headless Chromium)", _md_lab),
    "build": ("HTML build", _md_build),
    "topk": ("Smooth Top-k: forward + backward", _md_topk),
}


def render_md(res: dict) -> str:
    m = res["machine"]
    L = [f"Measured {m['date']} with `make bench` (`scripts/bench.py`{' --quick' if res['quick'] else ''}"
         f"): {m['nproc']} CPU cores (`nproc`), {m['cpu']}, torch {m['torch']}, "
         f"threads={m['threads']}, Python {m['python']}. Total run {res['total_s'] / 60:.1f} min. "
         "Ratios are ours / reference: below 1 means ours is faster. Timings are machine-dependent.",
         ""]
    S = res["sections"]
    for key, (heading, render) in _MD_SECTIONS.items():
        if key in S:
            L += [f"### {heading}", ""]
            L += _err_block(key, S[key]["error"]) if "error" in S[key] else render(S[key]) + [""]

    titles = {"attention": "Attention and probability maps (reference: entmax; naive MLA decoding)",
              "codes": "Discrete codes (reference: vector-quantize-pytorch)",
              "diffusion": "Diffusion samplers (reference: diffusers schedulers)",
              "training": "Muon (reference: torch.optim.Muon)",
              "matrices": "Low-rank approximation (reference: scipy.linalg.interpolative, numpy matmul)",
              "text": "BM25 search (reference: rank-bm25)"}
    parts = [k for k in ("attention", "codes", "diffusion", "training", "matrices", "text") if k in S]
    if parts:
        L += ["### Against the reference packages", "",
              "| part | benchmark | ours | reference | ratio | notes |", "|---|---|---:|---:|---:|---|"]
        errs = []
        for k in parts:
            s = S[k]
            if "error" in s:
                errs.append((k, s["error"]))
                continue
            for r in s["rows"]:
                extra = {kk: v for kk, v in r.items()
                         if kk not in ("name", "ours_s", "ref_s", "ratio", "bench")}
                notes = []
                if r.get("ref_s") is None:
                    notes.append("no reference")
                for kk, v in extra.items():
                    notes.append(f"{kk} = {v:.3g}" if isinstance(v, float) else f"{kk} = {v}")
                L.append(f"| {k} | {r['name']} | {_t(r.get('ours_s'))} | {_t(r.get('ref_s'))} | "
                         f"{_r(r.get('ratio'))} | {'; '.join(notes)} |")
            for e in s["errors"]:
                errs.append((f"{k}: {e['bench']}", e["error"]))
        L.append("")
        for name, e in errs:
            L += _err_block(name, e)
        L += ["Parts: " + "; ".join(f"{k}: {titles[k]}" for k in parts) + ".", ""]
    return "\n".join(L).rstrip() + "\n"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="fewer repeats; skip chapter execution, widget timings and the build")
    ap.add_argument("--only", default="", help="comma-separated sections: " + ",".join(SECTIONS))
    ap.add_argument("--chapters", default="",
                    help="comma-separated substrings: execute only matching chapters")
    ap.add_argument("--_topk-worker", nargs=3, dest="worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        _topk_worker(args.worker[0], int(args.worker[1]), int(args.worker[2]))
        return 0

    import torch
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, str(SCRIPTS))
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        ap.error(f"unknown section(s) {bad}; choose from {SECTIONS}")
    sections = only or SECTIONS
    if args.quick and not only:
        sections = [s for s in sections if s not in ("chapters", "widgets", "lab", "build")]
    funcs = {"chapters": bench_chapters, "widgets": bench_widgets, "lab": bench_lab, "build": bench_build,
             "topk": bench_topk, "attention": bench_attention, "codes": bench_codes,
             "diffusion": bench_diffusion, "training": bench_training, "matrices": bench_matrices, "text": bench_text}
    res = {"machine": _machine(), "quick": args.quick, "sections": {}, "section_seconds": {}}
    t_all = time.perf_counter()
    for name in sections:
        _log(f"== {name}")
        t0 = time.perf_counter()
        try:
            res["sections"][name] = funcs[name](args)
        except Exception:                                            # noqa: BLE001
            res["sections"][name] = {"error": traceback.format_exc(limit=5)}
            _log(f"section {name} FAILED:\n{res['sections'][name]['error']}")
        res["section_seconds"][name] = time.perf_counter() - t0
        _log(f"== {name} done in {res['section_seconds'][name]:.0f} s")
    res["total_s"] = time.perf_counter() - t_all
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "bench.json").write_text(json.dumps(res, indent=1, default=str))
    md = render_md(res)
    (OUT_DIR / "bench.md").write_text(md)
    print(md)
    _log(f"wrote {OUT_DIR / 'bench.json'} and {OUT_DIR / 'bench.md'} in {res['total_s']:.0f} s")
    failed = [n for n, s in res["sections"].items() if "error" in s or s.get("errors")]
    if failed:
        _log(f"sections with errors: {failed}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
