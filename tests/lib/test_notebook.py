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
    a, t = np.random.rand(), torch.rand(3)
    N.setup(seed=3, threads=1, show_macros=False)
    assert np.random.rand() == a
    assert torch.equal(torch.rand(3), t)  # torch's generator is seeded too
    N.setup(seed=4, threads=1, show_macros=False)
    assert not torch.equal(torch.rand(3), t)
    assert mpl.rcParams["figure.facecolor"] in ("white", "#ffffff", (1.0, 1.0, 1.0, 1.0))


def test_claims_verdicts_come_from_the_checks():
    c = N.Claims()
    assert c.close(2, "mean is 1", measured=1.004, expected=1.0, rtol=0.01, how="MC") == N.REPRODUCED
    assert c.close(1, "var is 2", measured=2.5, expected=2.0, rtol=0.01, how="MC") == N.NOT_REPRODUCED
    assert c.close(3, "value is 0.5", measured=0.7, expected=0.5, atol=0.01, how="q",
                   fails=N.POST_WRONG) == N.POST_WRONG
    assert c.holds(4, "both", ok=[True, False], how="two checks") == N.PARTLY
    assert c.holds(5, "all", ok=[True, True], how="two checks") == N.REPRODUCED
    assert c.holds(6, "none", ok=False, how="one check") == N.NOT_REPRODUCED
    assert c.refutes(7, "a typo", ok=True, how="quadrature") == N.POST_WRONG
    assert c.refutes(8, "no typo", ok=False, how="quadrature") == N.REPRODUCED
    assert c.derivation(10, "a bound", how="derived") == N.DERIVATION
    assert c.counts() == {N.REPRODUCED: 3, N.PARTLY: 1, N.NOT_REPRODUCED: 2, N.POST_WRONG: 2,
                          N.DERIVATION: 1}


def test_claims_table_is_in_the_posts_order_escaped_and_never_ticks():
    c = N.Claims()
    c.close(10, "b < a", measured=3.0, expected=1.0, atol=0.1, how="ran <check>")
    c.holds("2b", "x", ok=True, how="y", measured=0.123456)
    c.holds(2, "z", ok=True, how="w")
    html = c.table().data
    assert html.count("<tr>") == 4 and "b &lt; a" in html and "ran &lt;check&gt;" in html
    assert "✔" not in html and html.index(">2<") < html.index(">2b<") < html.index(">10<")
    rows = c.markdown().splitlines()
    assert rows[2] == "| 2 | z | w |  | reproduced |"
    assert rows[3] == "| 2b | x | y | 0.1235 | reproduced |"
    assert rows[4] == "| 10 | b < a | ran <check> | 3 (vs 1) | not reproduced |"
    with pytest.raises(ValueError, match="^claims"):
        N.Claims().table()


@pytest.mark.parametrize("call, name", [
    (lambda c: c.close(1, "", measured=1, expected=1, atol=1, how=""), "claim"),
    (lambda c: c.close(1, "c", measured=1, expected=1, how=""), "rtol"),
    (lambda c: c.close(1, "c", measured=float("nan"), expected=1, atol=1), "measured"),
    (lambda c: c.close(1, "c", measured=1, expected=1, atol=1, fails="fine"), "fails"),
    (lambda c: c.holds(1, "c", ok=[], how=""), "ok"),
])
def test_claims_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call(N.Claims())


def test_glue_stores_plain_numbers_and_formatted_text(monkeypatch):
    stored = {}
    import myst_nb
    monkeypatch.setattr(myst_nb, "glue", lambda name, v, display: stored.__setitem__(name, (v, display)))
    assert N.glue("a", np.float64(0.25)) == 0.25 and type(stored["a"][0]) is float
    assert stored["a"][1] is False
    assert repr(N.glue("b", 0.123456, fmt="{:.2%}")) == "12.35%"
    assert N.glue("c", np.int64(3)) == 3 and type(stored["c"][0]) is int
    with pytest.raises(ValueError, match="^value"):
        N.glue("d", float("inf"))
    with pytest.raises(ValueError, match="^name"):
        N.glue("", 1.0)


def test_below_prints_the_bound_it_checked():
    assert N.below(3.2e-16, 1e-12) == "< 1e-12"
    assert N.below(-5e-10, 1e-9) == "< 1e-09"
    with pytest.raises(AssertionError):
        N.below(2e-12, 1e-12)
    with pytest.raises(AssertionError):  # a large negative error is not small
        N.below(-5.0, 1e-12)
    with pytest.raises(ValueError, match="^bound"):
        N.below(0.0, 0)
