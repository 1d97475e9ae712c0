"""Explorers of the chapter integral-test: the rectangle sandwich, and partial sums against
their integral bands. The numbers come from kexue.mathematics.series."""
from __future__ import annotations

import numpy as np

from ..mathematics import series as Z
from ..widgets import PALETTE, Dropdown, Explorer, Slider, bars, frame, line, panel, vline

#: The series offered, by label: (factory, argument or None).
FAMILIES = {
    "x^-1/2": (Z.power, 0.5), "x^-1": (Z.power, 1.0), "x^-2": (Z.power, 2.0),
    "1/(x ln x)": (Z.log_power, 1.0), "1/(x ln^2 x)": (Z.log_power, 2.0),
    "e^-x": (Z.exp_decay, None), "sin^2(pi x)": (Z.sin2_pi, None), "spike train": (Z.spike_train, None),
}


def summand(label: str) -> Z.Summand:
    make, arg = FAMILIES[label]
    return make() if arg is None else make(arg)


def _curve(s: Z.Summand, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    x = np.linspace(a, b, 241)
    if s.name == "spike train":                      # put the corners of every spike on the grid
        n = np.arange(max(1, int(a)), int(b) + 1, dtype=float)
        half = 2.0 ** (-n) / 2
        x = np.unique(np.concatenate([x, n - half, n, n + half]))
        x = x[(x >= a) & (x <= b)]
    return x, s.f(x)


def rectangles() -> Explorer:
    """f with its upper (left-end) and lower (right-end) rectangles on [start, N+1], and the
    partial sums S_n inside (or, for the counterexamples, outside) their integral bands."""
    def compute(family: str, N: int) -> dict:
        s = summand(family)
        a = s.start
        n = np.arange(a, N + 1)
        x, y = _curve(s, a, N + 1)
        upper, lower = s.f(n.astype(float)), s.f(n + 1.0)
        left = panel(f"Is the area under {family} between the two staircases?", "x", "f(x)",
                     series=[bars(n + 0.5, upper, "f(n): upper rectangles", color=PALETTE[3], fill=False, width=1.0),
                             bars(n + 0.5, lower, "f(n+1): lower rectangles", color=PALETTE[5], width=1.0),
                             line(x, y, "f(x)", color=PALETTE[0])])
        m = np.unique(np.round(np.geomspace(a, 2000, 60)).astype(int))
        S = Z.partial_sums(s, 2000)[m - a]
        lo = np.array([Z.integral(s, a, k + 1) for k in m])
        hi = s.f(float(a)) + np.array([Z.integral(s, a, k) for k in m])
        right = panel("Does S_n stay between the integral bounds?", "n (terms)", "value",
                      series=[line(m, hi, "f(start) + ∫ f to n", color=PALETTE[3], dash=True),
                              line(m, S, "S_n", color=PALETTE[0]),
                              line(m, lo, "∫ f to n+1", color=PALETTE[5], dash=True)],
                      vlines=[vline(N, f"N = {N}")], xscale="log")
        SN = Z.series_sum(s, N)
        b_lo, b_hi = Z.sandwich(s, N)
        inside = b_lo <= SN <= b_hi
        text = (f"S_{N} = {SN:.4f};  bounds [{b_lo:.4f}, {b_hi:.4f}]: "
                f"{'inside' if inside else 'OUTSIDE (f is not non-increasing)'}")
        if s.monotone:
            try:
                c_lo, c_hi = Z.certified_sum(s, N)
                text += f";  the infinite sum lies in [{c_lo:.4f}, {c_hi:.4f}]"
            except ValueError:
                text += ";  the tail integral diverges: so does the series"
        return frame(left, right, text=text)

    return Explorer([Dropdown("family", list(FAMILIES), "x^-2", "f"),
                     Slider("N", [3, 5, 8, 12, 20], 5, "N", fmt="{:d}")], compute,
                    name="integral-test-rectangles")


EXPLORERS = (rectangles,)
