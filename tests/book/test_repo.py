"""The repository's promises: pins agree everywhere, the errata page is current, the book's
JavaScript is vendored from npm (no CDN), and the README's commands and chapter list are true."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

import booktoc

ROOT = Path(__file__).resolve().parents[2]


def pyproject_pins() -> list[str]:
    proj = tomllib.loads((ROOT / "lib/pyproject.toml").read_text())["project"]
    return proj["dependencies"] + [p for extra in proj["optional-dependencies"].values() for p in extra]


def test_environment_yml_carries_the_pyproject_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    env_pins = [p for p in pip if not p.startswith("-")]
    assert sorted(env_pins) == sorted(pyproject_pins())
    assert "python=3.11" in env["dependencies"]


def test_required_pins_and_the_lock_agree():
    pins = pyproject_pins()
    assert "torch==2.13.0" in pins                       # the CPU wheel at hand; looser pulls CUDA
    assert "jupyter-book>=1.0.4.post1,<2" in pins        # JB1 reads _config.yml
    lock = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, ver = line.split("==")
            lock[name.lower().replace("_", "-")] = ver
    for pin in pins:
        name, _, ver = re.split(r"(==|>=)", pin)[:3]
        key = name.lower().replace("_", "-")
        assert key in lock, f"{name} is pinned in pyproject but not in requirements.lock"
        if "==" in pin:
            assert lock[key] == ver, f"{name}: pyproject {ver}, lock {lock[key]}"
    assert lock["jupyter-book"].startswith("1.")


def test_errata_page_is_current():
    r = subprocess.run([sys.executable, "scripts/errata.py", "--check"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_book_javascript_is_served_from_the_book():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    assert not cfg["mathjax_path"].startswith(("http", "//"))
    assert all(not k.startswith(("http", "//")) for k in cfg["nb_ipywidgets_js"])
    pkg = (ROOT / "package.json").read_text()
    for dep in ("mathjax", "requirejs", "@jupyter-widgets/html-manager"):
        assert f'"{dep}"' in pkg


def test_readme_lists_every_chapter_and_the_commands():
    readme = (ROOT / "README.md").read_text()
    for cmd in ("make book", "make test", "make lab", "make execute", "make bench",
                "environment.yml"):
        assert cmd in readme, cmd
    chapters = [p for p in booktoc.pages() if p.count("/") == 2]
    for ch in chapters:
        assert f"{ch}.md" in readme, f"README's chapter list lacks {ch}"
    ci = (ROOT / ".ci/run").read_text()
    assert "make test" in ci


def test_bench_harness_reports_a_ratio_near_one_for_a_function_against_itself():
    """The interleaved timer has no side bias: the same work on both sides gives a ratio in
    0.8-1.25, and threefold work a ratio in 2-4.5. The work is single-threaded pure Python, so
    that a BLAS thread pool cannot make one side noisier than the other."""
    import benchutil

    def work():
        return sum(i * i for i in range(60_000))

    def slow():
        return work(), work(), work()

    r = benchutil.row("self", *benchutil.interleaved(work, work, rounds=31))
    assert 0.8 <= r["ratio"] <= 1.25, r
    r3 = benchutil.row("3x", *benchutil.interleaved(slow, work, rounds=15))
    assert 2.0 <= r3["ratio"] <= 4.5, r3


def test_no_control_characters_in_the_chapters():
    """A stray tab or form feed in MyST (an escaped '\\t' of '\\to' that became a tab) renders
    as broken TeX without any warning."""
    bad = []
    for p in sorted((ROOT / "book").rglob("*.md")):
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"[\x00-\x09\x0b-\x1f\x7f]", line):
                bad.append(f"{p.relative_to(ROOT)}:{i}")
    assert bad == [], bad
