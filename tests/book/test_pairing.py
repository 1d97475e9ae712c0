"""Every chapter is a MyST text notebook (.md, the source authors edit) with an executed .ipynb
pair (what the book is built from and nbval re-runs): their cells must be the same."""
from __future__ import annotations

from pathlib import Path

import jupytext
import pytest

import booktoc

ROOT = Path(__file__).resolve().parents[2]
CHAPTER_MDS = sorted(ROOT.glob("book/*/*.md"))
TOC_FILES = booktoc.pages()


def cells(nb):
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", []))) for c in nb.cells]


@pytest.mark.parametrize("md", CHAPTER_MDS, ids=lambda p: str(p.relative_to(ROOT)))
def test_md_and_ipynb_have_identical_cells(md):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: run `make execute CHAPTER={md.relative_to(ROOT)}`"
    a, b = jupytext.read(md), jupytext.read(ipynb)
    assert cells(a) == cells(b), "sources differ: re-run `make execute` for this chapter"
    executed = [c for c in b.cells if c.cell_type == "code"]
    assert executed and all(c.execution_count for c in executed), "the .ipynb is not executed"


def test_toc_lists_exactly_the_chapters_that_exist():
    chapters = {str(p.relative_to(ROOT).with_suffix("")) for p in CHAPTER_MDS}
    listed = {f for f in TOC_FILES if f.count("/") == 2}
    assert listed <= chapters, f"listed but missing: {sorted(listed - chapters)}"
    assert chapters <= listed, f"chapters not in _toc.yml: {sorted(chapters - listed)}"


@pytest.mark.parametrize("md", CHAPTER_MDS, ids=lambda p: str(p.relative_to(ROOT)))
def test_ipynb_stays_under_2_mb(md):
    size = md.with_suffix(".ipynb").stat().st_size if md.with_suffix(".ipynb").exists() else 0
    assert size < 2_000_000, f"{size / 1e6:.2f} MB: coarser explorer grids or fewer PNGs"
