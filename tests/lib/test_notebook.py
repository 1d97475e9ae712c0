"""Tests of kexue.notebook: the set-up every chapter runs first and the claims table."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from kexue import notebook as N

ROOT = Path(__file__).resolve().parents[2]


def test_book_macros_are_the_library_macros():
    """One set of macros: _config.yml (HTML book) == kexue.notebook.MACROS (JupyterLab)."""
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    macros = cfg["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]
    lib = {k: (v if n == 0 else [v, n]) for k, (v, n) in N.MACROS.items()}
    assert macros == lib


def test_macros_latex_defines_every_macro():
    tex = N.macros_latex()
    for name, (_, nargs) in N.MACROS.items():
        assert re.search(rf"\\newcommand{{\\{name}}}" + (rf"\[{nargs}\]" if nargs else ""), tex)


def test_setup_fixes_threads_seed_and_style():
    import matplotlib as mpl
    N.setup(seed=3, threads=1, show_macros=False)
    assert torch.get_num_threads() == 1
    a = np.random.rand()
    N.setup(seed=3, threads=1, show_macros=False)
    assert np.random.rand() == a
    assert mpl.rcParams["figure.facecolor"] in ("white", "#ffffff", (1.0, 1.0, 1.0, 1.0))


def test_claims_table_escapes_and_lists_every_claim():
    c = N.Claims()
    c.add(1, "a < b", "ran <check>")
    c.add("2b", "x", "y")
    html = c.table().data
    assert html.count("<tr>") == 3 and "a &lt; b" in html and "ran &lt;check&gt;" in html
    assert c.markdown().splitlines()[2] == "| 1 | a < b | ran <check> |"
    with pytest.raises(ValueError, match="^claims"):
        N.Claims().table()
    with pytest.raises(ValueError, match="^claim"):
        c.add(3, "", "e")


def test_below_prints_the_bound_it_checked():
    assert N.below(3.2e-16, 1e-12) == "< 1e-12"
    assert N.below(-5e-10, 1e-9) == "< 1e-09"
    with pytest.raises(AssertionError):
        N.below(2e-12, 1e-12)
    with pytest.raises(ValueError, match="^bound"):
        N.below(0.0, 0)
