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


def test_setup_in_a_kernel_sets_inline_png_and_shows_the_macros(monkeypatch):
    """The kernel branch of setup() (tests run without a kernel): a fake IPython records it.
    Also the print options, Python's random, BLAS threads and the SVG salt."""
    import random

    import IPython
    import IPython.display
    import matplotlib as mpl
    from threadpoolctl import threadpool_info

    calls, shown = [], []

    class Kernel:
        kernel = object()

        def run_line_magic(self, magic, line):
            calls.append((magic, line))

    monkeypatch.setattr(IPython, "get_ipython", lambda: Kernel())
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    N.setup(seed=5, threads=1)
    assert calls == [("matplotlib", "inline"), ("config", "InlineBackend.figure_formats = ['png']"),
                     ("config", "InlineBackend.rc = {}")]
    assert len(shown) == 1 and shown[0].data == N.macros_latex()
    calls.clear(), shown.clear()
    N.setup(seed=5, threads=1, show_macros=False)
    assert len(calls) == 3 and shown == []
    calls.clear()
    Kernel.kernel = None                                   # a bare IPython shell: no magics
    N.setup(seed=5, threads=1)
    assert calls == [] and shown == []
    r = random.random()
    N.setup(seed=5, threads=1, show_macros=False)
    assert random.random() == r
    torch.set_num_threads(2)
    N.setup(show_macros=False)                             # the default seed is 0, one thread
    assert torch.get_num_threads() == 1
    assert np.random.rand() == np.random.RandomState(0).rand()
    opts = np.get_printoptions()
    assert (opts["precision"], opts["suppress"], opts["linewidth"]) == (5, True, 100)
    po = torch._tensor_str.PRINT_OPTS
    assert (po.precision, po.sci_mode, po.linewidth) == (5, False, 100)
    assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")
    assert mpl.rcParams["svg.hashsalt"] == "kexue"


def test_shown_below_glue_and_macros_exact_text(monkeypatch):
    """Exact texts (found by mutation testing, tests/mutation-report.md)."""
    assert N._shown(True) == "yes" and N._shown(np.bool_(False)) == "no"
    assert N._shown([1 / 3, 2]) == "[0.3333, 2]" and N._shown(0.5) == "0.5"
    assert N._shown(["0.5", 2]) == "[0.5, 2]"                        # parsed as numbers
    assert N._shown("as given") == "as given"
    for value, bound, arg in (("a", 1e-3, "value"), (float("nan"), 1e-3, "value"),
                              (object(), 1e-3, "value"), (1e-6, "b", "bound")):
        with pytest.raises(ValueError) as err:
            N.below(value, bound)
        assert str(err.value) == f"{arg} must be a real number (not NaN), got {(value if arg == 'value' else bound)!r}"
    with pytest.raises(AssertionError) as err:
        N.below(1e-12, 1e-12)                                          # strictly below
    assert str(err.value) == "1.000e-12 is not below 1e-12"
    stored = {}
    import myst_nb
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: stored.__setitem__(name, value))
    assert N.glue("t", "text") == "text" and repr(stored["t"]) == "text"
    assert N.glue("b", True) == "yes" and repr(stored["b"]) == "yes"
    assert N.glue("f", np.bool_(False)) == "no" and repr(stored["f"]) == "no"
    assert N.glue("i", np.int64(3)) == 3 and type(stored["i"]) is int
    tex = N.macros_latex()
    assert tex.count(r"\newcommand") == len(N.MACROS) and tex.startswith(r"\newcommand{")
    zero_arg = [k for k, (_, n) in N.MACROS.items() if n == 0]
    if zero_arg:
        assert rf"\newcommand{{\{zero_arg[0]}}}{{" in tex              # no "[0]" for a plain macro


def test_claims_exact_rows_markdown_and_order():
    """Exact rows and rendering (found by mutation testing, tests/mutation-report.md)."""
    c = N.Claims()
    assert c.derivation(2, "tight", how="derived") == N.DERIVATION
    assert c.rows["2"] == ("tight", "derived", "", N.DERIVATION)
    assert c.refutes("3", "false", ok=True, how="counterexample") == N.POST_WRONG
    assert c.rows["3"] == ("false", "counterexample", "", N.POST_WRONG)
    assert c.close(4, "equal", measured=1.0, expected=1.0, rtol=0.0, atol=1e-9) == N.REPRODUCED
    assert c.rows["4"] == ("equal", "", "1 (vs 1)", N.REPRODUCED)
    assert c.close(5, "edge", measured=1.5, expected=1.0, atol=0.5) == N.REPRODUCED     # <= is inclusive
    assert c.close(6, "rel", measured=2.9, expected=2.0, rtol=0.5) == N.REPRODUCED     # 0.9 <= 0.5 * 2
    assert c.close(7, "shown", measured=1.0, expected=1.0, rtol=0.1, shown="< 1e-12") == N.REPRODUCED
    assert c.rows["7"][2] == "< 1e-12"
    assert c.close(8, "text", measured=["1.0"], expected=["1.0"], rtol=0.1) == N.REPRODUCED
    with pytest.raises(ValueError, match="rtol and atol"):
        c.close(9, "neg", measured=1.0, expected=1.0, rtol=-1.0, atol=1.0)
    c.holds("10a", "later", ok=True, how="h")
    c.holds("b", "zz: unnumbered rows sort by their key, after every number", ok=True, how="h")
    c.holds("c0", "aa", ok=True, how="h")
    c.holds("100", "a large number", ok=True, how="h")
    assert [n for n, _ in c._sorted()] == ["2", "3", "4", "5", "6", "7", "8", "10a", "100", "b", "c0"]
    md = c.markdown().splitlines()
    assert md[:3] == ["| # | claim | check | measured | verdict |", "|---|---|---|---|---|",
                      f"| 2 | tight | derived |  | {N.DERIVATION} |"]
    with pytest.raises(ValueError) as err:
        c._record(1, "x", "h", "", "great")
    assert str(err.value) == f"verdict must be one of {list(N.VERDICTS)}, got 'great'"


def test_setup_sets_print_options_from_any_previous_state(monkeypatch):
    """setup() must set every option itself (None would keep what an earlier call left)."""
    import IPython
    from threadpoolctl import threadpool_info, threadpool_limits

    np.set_printoptions(precision=8, suppress=False, linewidth=75)
    torch.set_printoptions(precision=4, sci_mode=True, linewidth=80)
    threadpool_limits(2)
    N.setup(seed=0, threads=1, show_macros=False)
    opts = np.get_printoptions()
    assert (opts["precision"], opts["suppress"], opts["linewidth"]) == (5, True, 100)
    po = torch._tensor_str.PRINT_OPTS
    assert (po.precision, po.sci_mode, po.linewidth) == (5, False, 100)
    assert all(p["num_threads"] == 1 for p in threadpool_info() if p["user_api"] == "blas")

    class Shell:                                           # an IPython without a kernel attribute
        pass

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    N.setup(seed=0, threads=1)                             # no AttributeError, no magic


def test_claims_html_table_and_macros_are_joined_without_separators():
    c = N.Claims()
    c.holds(1, "a", ok=True, how="h")
    c.holds(2, "b", ok=False, how="h")
    html = c.table().data
    assert html.startswith('<table class="kx-claims"><thead><tr><th>#</th><th>claim (the post)</th>'
                           '<th>check</th><th>measured</th><th>verdict</th></tr></thead><tbody><tr><td>1</td>')
    assert "</tr><tr><td>2</td>" in html and html.endswith("</td></tr></tbody></table>")
    tex = N.macros_latex()
    assert tex.count("}\\newcommand{") == len(N.MACROS) - 1
