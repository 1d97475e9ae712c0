"""The library's shape, as DESIGN.md fixes it: a subpackage per part, explorers per chapter,
imports in one direction, a test module per library module, fixed part aliases in chapters."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import kexue

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "lib" / "kexue"
BASE = {"_validate", "notebook", "datasets"}
MAX_LINES = 650


def modules() -> dict[str, Path]:
    """Dotted name below kexue (e.g. 'probability.topk') -> file."""
    out = {}
    for f in sorted(PKG.rglob("*.py")):
        rel = f.relative_to(PKG).with_suffix("")
        out[".".join(rel.parts)] = f
    return out


def kexue_imports(path: Path, name: str) -> tuple[set[str], list[str]]:
    """(top-level kexue imports as dotted names below kexue, kexue imports made inside functions)."""
    tree = ast.parse(path.read_text())
    package = name.split(".")[:-1]          # 'a.b' (a/b.py) and 'a.__init__' both live in package a
    top, nested = set(), []

    def resolve(node) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name[len("kexue."):] for a in node.names if a.name.startswith("kexue.")]
        if node.level == 0:
            if node.module == "kexue":
                return [a.name for a in node.names]
            if node.module and node.module.startswith("kexue."):
                return [node.module[len("kexue."):]]
            return []
        base = package[: len(package) - (node.level - 1)]
        if node.module:
            return [".".join(base + [node.module])]
        return [".".join(base + [a.name]) for a in node.names]

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            targets = [t for t in resolve(node) if t]
            in_function = any(isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef))
                              for p in _parents(tree, node))
            (nested.extend if in_function else top.update)(targets)
    return top, nested


def _parents(tree, target):
    stack = [(tree, [])]
    while stack:
        node, chain = stack.pop()
        if node is target:
            return chain
        for child in ast.iter_child_nodes(node):
            stack.append((child, chain + [node]))
    return []


def layer(name: str) -> str:
    head = name.split(".")[0]
    if head in BASE or head == "__init__":
        return "base"
    return head


MODS = modules()


def test_top_level_holds_only_the_parts_and_the_shared_modules():
    flat = {n for n in MODS if "." not in n} - {"__init__"}
    assert flat <= BASE, f"modules outside a part: {sorted(flat - BASE)}"
    for d in PKG.iterdir():
        if d.is_dir() and d.name not in ("data", "__pycache__"):
            assert d.name in kexue.PARTS + ("explorers", "widgets"), d.name


@pytest.mark.parametrize("name", sorted(MODS))
def test_imports_run_one_way(name):
    top, nested = kexue_imports(MODS[name], name)
    assert not nested, f"{name} imports kexue modules inside a function: {nested}"
    me = layer(name)
    for target in top:
        other = layer(target)
        if name == "__init__":
            continue
        if me == "base":
            assert other == "base", f"{name} (shared) imports {target}"
        elif me == "widgets":
            assert other in ("base", "widgets"), f"{name} imports {target}"
        elif me in kexue.PARTS:
            assert other == "base" or (other in kexue.PARTS and
                                       kexue.PARTS.index(other) <= kexue.PARTS.index(me)), \
                f"{name} (part {me}) imports {target}: math never imports widgets, explorers or a later part"
        elif me == "explorers":
            assert other != "explorers" or target.split(".")[:2] == name.split(".")[:2] or \
                target == "explorers", f"{name} imports another chapter's explorers {target}"


def test_no_import_cycles():
    graph = {n: {t for t in kexue_imports(p, n)[0] if t in MODS or t + ".__init__" in MODS}
             for n, p in MODS.items()}
    state: dict[str, int] = {}

    def visit(n, path):
        if state.get(n) == 1:
            raise AssertionError("import cycle: " + " -> ".join(path + [n]))
        if state.get(n) == 2:
            return
        state[n] = 1
        for t in graph.get(n, ()):
            key = t if t in graph else t + ".__init__"
            if key != n and not (n.endswith("__init__") and key.startswith(n[:-9])):
                visit(key, path + [n])
        state[n] = 2

    for n in graph:
        visit(n, [])


@pytest.mark.parametrize("name", sorted(n for n in MODS if not n.endswith("__init__")))
def test_every_module_has_its_test_module_and_stays_small(name):
    parts = name.split(".")
    test = ROOT / "tests" / "lib" / Path(*parts[:-1]) / f"test_{parts[-1]}.py"
    assert test.exists(), f"kexue/{'/'.join(parts)}.py has no {test.relative_to(ROOT)}"
    n = len(MODS[name].read_text().splitlines())
    assert n <= MAX_LINES, f"{name} has {n} lines (at most about 600: split the topic)"


def test_dir_kexue_lists_the_parts():
    assert set(kexue.PARTS) <= set(dir(kexue))


CHAPTERS = sorted((ROOT / "book").glob("*/*.md"))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapters_use_the_fixed_aliases_and_no_private_names(chapter):
    text = chapter.read_text()
    for mod, alias in re.findall(r"from kexue import (\w+) as (\w+)", text) + \
            re.findall(r"import kexue\.(\w+) as (\w+)", text):
        assert kexue.ALIASES.get(mod) == alias, f"{chapter.name}: {mod} as {alias}, fixed alias is {kexue.ALIASES.get(mod)}"
    assert not re.search(r"from kexue[\w.]* import [^\n]*\b_[a-z]", text), f"{chapter.name} imports a private name"
    assert not re.search(r"\b[A-Z]\._[a-z]\w*\(", text), f"{chapter.name} calls a private function"
