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
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    np.set_printoptions(precision=5, suppress=True, linewidth=100)
    torch.set_printoptions(precision=5, sci_mode=False, linewidth=100)
    use_style()
    try:
        from IPython import get_ipython
        ip = get_ipython()
        if ip is not None:
            ip.run_line_magic("matplotlib", "inline")
            ip.run_line_magic("config", "InlineBackend.figure_formats = ['png']")
            ip.run_line_magic("config", "InlineBackend.rc = {}")
            if show_macros:
                from IPython.display import Math, display
                display(Math(macros_latex()))
    except ImportError:  # pragma: no cover - IPython is installed with the book
        pass


class Claims:
    """The claims a chapter checks, in the order it checks them, rendered as a table."""

    def __init__(self):
        self.rows: list[tuple[str, str, str]] = []

    def add(self, number: int | str, claim: str, evidence: str) -> None:
        """Record a claim that a preceding ``assert`` verified, with what the check found."""
        if not claim or not evidence:
            raise ValueError("claim and evidence must be non-empty strings")
        self.rows.append((str(number), claim, evidence))

    def markdown(self) -> str:
        lines = ["| # | claim | check and result |", "|---|---|---|"]
        lines += [f"| {n} | {c} | {e} |" for n, c, e in self.rows]
        return "\n".join(lines)

    def table(self):
        """An HTML table (compared exactly by nbval, rendered by the book)."""
        from IPython.display import HTML
        if not self.rows:
            raise ValueError("claims: no claim was recorded before table()")
        body = "".join(
            f"<tr><td>{html.escape(n)}</td><td>{html.escape(c)}</td><td>✔ {html.escape(e)}</td></tr>"
            for n, c, e in self.rows)
        return HTML('<table class="kx-claims"><thead><tr><th>#</th><th>claim</th>'
                    f'<th>check and result</th></tr></thead><tbody>{body}</tbody></table>')


def below(value: float, bound: float) -> str:
    """Check |value| < bound and return the text "< bound" (e.g. "< 1e-12").

    Rounding-level errors (1e-16 … 1e-11) depend on the last bits of a machine's arithmetic and
    of a library's summation order; a chapter prints the bound they meet, not their digits, so
    that its stored outputs compare equal on any machine (nbval strict).
    """
    v, b = abs(float(value)), float(bound)
    if not b > 0:
        raise ValueError(f"bound must be > 0, got {bound!r}")
    if not v < b:
        raise AssertionError(f"{v:.3e} is not below {b:.0e}")
    return f"< {b:.0e}"
