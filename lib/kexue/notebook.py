"""What every chapter does first, and the generated "Claims checked" table.

:func:`setup` fixes what makes a notebook reproducible on a 2-core machine (one torch thread,
seeds, print options, the book's matplotlib style) and shows the book's MathJax macros, so that
they exist in JupyterLab as well as in the HTML book (which reads the same :data:`MACROS` from
``_config.yml``; a test keeps the two equal). :class:`Claims` collects each claim a chapter
checks and renders the table from what actually ran. numpy/torch only for the settings.
"""
from __future__ import annotations

import html
import random
import re
from pathlib import Path

import numpy as np

#: Book-wide MathJax macros: name -> (definition, number of arguments).
MACROS: dict[str, tuple[str, int]] = {
    "R": (r"\mathbb{R}", 0),
    "E": (r"\mathbb{E}", 0),
    "sg": (r"\operatorname{sg}", 0),
    "softmax": (r"\operatorname{softmax}", 0),
    "relu": (r"\operatorname{relu}", 0),
    "diag": (r"\operatorname{diag}", 0),
    "lse": (r"\operatorname{logsumexp}", 0),
    "topk": (r"\mathcal{T}_{#1}", 1),
    "stopk": (r"\mathcal{ST}_{#1}", 1),
}

STYLE_FILE = Path(__file__).with_name("kexue.mplstyle")


def macros_latex() -> str:
    """The macros as \\newcommand definitions (what JupyterLab's MathJax reads)."""
    parts = []
    for name, (body, nargs) in MACROS.items():
        arg = f"[{nargs}]" if nargs else ""
        parts.append(rf"\newcommand{{\{name}}}{arg}{{{body}}}")
    return "".join(parts)


def use_style() -> None:
    """Apply the book's matplotlib style (white figure, Okabe–Ito colours, PNG output)."""
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    plt.style.use(str(STYLE_FILE))
    mpl.rcParams["svg.hashsalt"] = "kexue"   # if anyone asks for SVG: no random ids


def setup(seed: int = 0, threads: int = 1, show_macros: bool = True) -> None:
    """Seed numpy/torch/random, fix torch's thread count, apply the figure style, show macros."""
    import torch
    from threadpoolctl import threadpool_limits
    torch.set_num_threads(threads)
    threadpool_limits(threads)            # BLAS too: oversubscribed OpenBLAS runs many times slower
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    np.set_printoptions(precision=5, suppress=True, linewidth=100)
    torch.set_printoptions(precision=5, sci_mode=False, linewidth=100)
    use_style()
    try:
        from IPython import get_ipython
        ip = get_ipython()
        if ip is not None and getattr(ip, "kernel", None) is not None:   # a notebook kernel,
            ip.run_line_magic("matplotlib", "inline")                     # not a bare shell
            ip.run_line_magic("config", "InlineBackend.figure_formats = ['png']")
            ip.run_line_magic("config", "InlineBackend.rc = {}")
            if show_macros:
                from IPython.display import Math, display
                display(Math(macros_latex()))
    except ImportError:  # pragma: no cover - IPython is installed with the book
        pass


#: The verdicts a claims table can show, in the order of how well the post fared.
REPRODUCED = "reproduced"
PARTLY = "partly reproduced"
NOT_REPRODUCED = "not reproduced"
POST_WRONG = "the post is wrong"
DERIVATION = "derivation shown, not tested"
VERDICTS = (REPRODUCED, PARTLY, NOT_REPRODUCED, POST_WRONG, DERIVATION)


def _shown(value) -> str:
    """How a measured value appears in the table: strings as given, numbers to 4 digits."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return f"{float(arr):.4g}"
    return "[" + ", ".join(f"{v:.4g}" for v in arr.ravel()) + "]"


class Claims:
    """The claims a chapter checks and the verdict each check earned, rendered as a table.

    Each row holds the post's claim (numbered in the post's order), the check that ran, the
    measured value and a verdict *computed from the check*, one of :data:`VERDICTS`. Recording
    a claim is one call in the cell that checks it::

        claims.close(3, "Var of q.k is d", measured=v_mc, expected=d, rtol=0.02, how="Monte Carlo, 10^5 pairs")
        claims.holds(5, "Sum is k", ok=abs(p.sum() - k) < 1e-9, how="threshold_topk on 100 draws")
        claims.derivation(7, "The bound is tight", how="equality case derived above")

    Each method returns the verdict, so a chapter can also ``assert`` it where a regression
    must stop the notebook. A check that fails records "not reproduced" (or, where the caller
    says the post's own statement is what the check refutes, "the post is wrong"); it never
    shows as a success.
    """

    def __init__(self):
        self.rows: dict[str, tuple[str, str, str, str]] = {}

    # -- recording ---------------------------------------------------------------------------
    def _record(self, number, claim: str, how: str, measured, verdict: str) -> str:
        key = str(number)
        if not key or not claim:
            raise ValueError("claim and number must be non-empty")
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {list(VERDICTS)}, got {verdict!r}")
        self.rows[key] = (claim, how, _shown(measured), verdict)
        return verdict

    def close(self, number, claim: str, *, measured, expected, rtol: float = 0.0,
              atol: float = 0.0, how: str = "", shown=None, fails: str = NOT_REPRODUCED) -> str:
        """Reproduced when every |measured - expected| <= atol + rtol |expected|, else `fails`.

        `expected` must come from a different computation than `measured` (a closed form
        against a simulation, a reference package against the library); `shown` overrides the
        text of the measured column (e.g. :func:`below` for a rounding-level error).
        """
        if not (rtol >= 0 and atol >= 0) or (rtol == 0 and atol == 0):
            raise ValueError(f"rtol and atol must be >= 0 and not both 0, got {rtol}, {atol}")
        check_choice_verdict(fails)
        m, e = np.asarray(measured, dtype=float), np.asarray(expected, dtype=float)
        if not (np.isfinite(m).all() and np.isfinite(e).all()):
            raise ValueError("measured and expected must be finite")
        ok = bool(np.all(np.abs(m - e) <= atol + rtol * np.abs(e)))
        text = shown if shown is not None else f"{_shown(measured)} (vs {_shown(expected)})"
        return self._record(number, claim, how, text, REPRODUCED if ok else fails)

    def holds(self, number, claim: str, *, ok, how: str, measured="", fails: str = NOT_REPRODUCED) -> str:
        """A claim checked by one or several conditions: all true -> reproduced, some ->
        partly reproduced, none -> `fails` ("not reproduced" or "the post is wrong")."""
        check_choice_verdict(fails)
        flags = [bool(v) for v in (ok if isinstance(ok, (list, tuple)) else [ok])]
        if not flags:
            raise ValueError("ok must hold at least one condition")
        verdict = REPRODUCED if all(flags) else (PARTLY if any(flags) else fails)
        return self._record(number, claim, how, measured, verdict)

    def refutes(self, number, claim: str, *, ok, how: str, measured="") -> str:
        """The post states something false and the check shows it: `ok` is True when the
        counterexample was found ("the post is wrong"), False when the post held after all."""
        verdict = POST_WRONG if bool(ok) else REPRODUCED
        return self._record(number, claim, how, measured, verdict)

    def derivation(self, number, claim: str, *, how: str) -> str:
        """Nothing independent to compare with: the derivation is shown, not tested."""
        return self._record(number, claim, how, "", DERIVATION)

    # -- rendering ---------------------------------------------------------------------------
    def _sorted(self):
        def key(item):
            m = re.match(r"(\d+)(.*)", item[0])
            return (int(m.group(1)), m.group(2)) if m else (10**9, item[0])
        return sorted(self.rows.items(), key=key)

    def counts(self) -> dict[str, int]:
        """How many rows earned each verdict."""
        out = {v: 0 for v in VERDICTS}
        for _, (_, _, _, v) in self.rows.items():
            out[v] += 1
        return out

    def markdown(self) -> str:
        lines = ["| # | claim | check | measured | verdict |", "|---|---|---|---|---|"]
        lines += [f"| {n} | {c} | {h} | {m} | {v} |" for n, (c, h, m, v) in self._sorted()]
        return "\n".join(lines)

    def table(self):
        """An HTML table (compared exactly by nbval, rendered by the book)."""
        from IPython.display import HTML
        if not self.rows:
            raise ValueError("claims: no claim was recorded before table()")
        body = "".join(
            f'<tr><td>{html.escape(n)}</td><td>{html.escape(c)}</td><td>{html.escape(h)}</td>'
            f'<td>{html.escape(m)}</td><td class="kx-verdict kx-v-{VERDICTS.index(v)}">'
            f"{html.escape(v)}</td></tr>"
            for n, (c, h, m, v) in self._sorted())
        return HTML('<table class="kx-claims"><thead><tr><th>#</th><th>claim (the post)</th>'
                    '<th>check</th><th>measured</th><th>verdict</th></tr></thead>'
                    f"<tbody>{body}</tbody></table>")


def check_choice_verdict(fails: str) -> None:
    if fails not in (NOT_REPRODUCED, POST_WRONG):
        raise ValueError(f"fails must be {NOT_REPRODUCED!r} or {POST_WRONG!r}, got {fails!r}")


class _Text(str):
    """A string whose plain-text display has no quotes (what ``{glue:text}`` pastes)."""

    def __repr__(self) -> str:
        return str(self)


def glue(name: str, value, fmt: str | None = None):
    """Store a computed value under `name` for the prose: MyST-NB ``{glue:text}`name```.

    Numbers are stored as plain Python floats/ints (so ``{glue:text}`name:.3f``` formats them);
    with `fmt` (e.g. ``"{:.3f}"``) the formatted text itself is stored, so the HTML book and the
    notebook show the same digits. Nothing is displayed in the cell; returns what is stored.
    """
    from myst_nb import glue as _glue
    if not name or not isinstance(name, str):
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if fmt is not None:
        stored = _Text(fmt.format(value))
    elif isinstance(value, str):
        stored = _Text(value)
    elif isinstance(value, (bool, np.bool_)):
        stored = _Text("yes" if value else "no")
    elif isinstance(value, (int, np.integer)):
        stored = int(value)
    else:
        stored = float(value)
        if not np.isfinite(stored):
            raise ValueError(f"value must be finite, got {value!r}")
    _glue(name, stored, display=False)
    return stored


def below(value: float, bound: float) -> str:
    """Check |value| < bound and return the text "< bound" (e.g. "< 1e-12").

    Rounding-level errors (1e-16 … 1e-11) depend on the last bits of a machine's arithmetic and
    of a library's summation order; a chapter prints the bound they meet, not their digits, so
    that its stored outputs compare equal on any machine (nbval strict).
    """
    for arg, x in (("value", value), ("bound", bound)):       # numbers, numpy or torch scalars
        try:
            ok = not isinstance(x, (str, bytes, bool)) and not np.isnan(float(x))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"{arg} must be a real number (not NaN), got {x!r}")
    v, b = abs(float(value)), float(bound)
    if not b > 0:
        raise ValueError(f"bound must be > 0, got {bound!r}")
    if not v < b:
        raise AssertionError(f"{v:.3e} is not below {b:.0e}")
    return f"< {b:.0e}"
