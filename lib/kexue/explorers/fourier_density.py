"""Explorers of chapter matrices/fourier-density: non-negativity and the fit of a Fourier density.

No mathematics here: densities, coefficients, fits and baselines come from :mod:`kexue.matrices`
(module ``fourier_density``); this module only lays them out as frames.
"""
from __future__ import annotations

import math

import numpy as np

from kexue import matrices as M
from kexue._validate import check_int_in, check_seed
from kexue.widgets import PALETTE, Dropdown, Explorer, Slider, frame, hline, line, panel

#: The chapter's target: 0.5 N(-2, 0.5^2) + 0.3 N(1, 0.3^2) + 0.2 N(3, 0.8^2).
TARGET = ([0.5, 0.3, 0.2], [-2.0, 1.0, 3.0], [0.5, 0.3, 0.8])


def nonnegativity(n_points: int = 121) -> Explorer:
    """Three coefficients, used either as the autocorrelation generators a = (1, a_1, a_2) or
    directly as the series coefficients c = (1, c_1, c_2): f(x) on [-1, 1] with its minimum,
    and the smallest eigenvalue of the 8 x 8 Toeplitz matrix [c_{n-m}]."""
    n_points = check_int_in(n_points, 2, None, name="n_points")
    x = np.linspace(-1, 1, n_points)

    def compute(mode: str, r1: float, phase: float, r2: float) -> dict:
        z1 = r1 * complex(math.cos(phase), math.sin(phase))
        v = np.array([1.0, z1, r2], dtype=complex)
        c = M.fbdm_coeffs(v) if mode == "autocorrelation" else v
        f = M.fourier_series(c, x)
        f = np.where(np.abs(f) < 1e-12, 0.0, f)          # rounding-level values shown as 0
        eig = float(np.linalg.eigvalsh(M.toeplitz_from_c(c, 8)).min())
        fmin = float(f.min())
        neg = np.where(f < 0, f, 0.0)
        series = [line(x, f, "f(x)", color=PALETTE[0])]
        if fmin < 0:
            series.append(line(x, neg, "negative part", color=PALETTE[3]))
        eig_txt = f"{eig:.4f}" if abs(eig) > 1e-9 else "0 (to rounding)"
        cs = np.round(np.asarray(c), 3) + 0.0             # + 0.0 turns -0.0 into 0.0
        fmt = lambda z: f"{z.real:.3f}{z.imag:+.3f}i"
        text = (f"c = ({cs[0].real:.3f}, {fmt(cs[1])}, {fmt(cs[2])}) · min f = {round(fmin, 4) + 0.0:.4f} · smallest "
                f"eigenvalue of the 8×8 Toeplitz matrix {eig_txt}")
        title = ("f from autocorrelations: can it go negative?" if mode == "autocorrelation"
                 else "f from free coefficients: can it go negative?")
        return frame(panel(title, "x", "f(x)", series=series, hlines=[hline(0.0, "0", color="#555555")]),
                     text=text)

    controls = [Dropdown("mode", ["autocorrelation", "free"], "autocorrelation", label="coefficients",
                         names=["a → c (autocorrelation)", "c free (Hermitian)"]),
                Slider("r1", [0.0, 0.25, 0.5, 0.75, 1.0], 0.75, label="|1st|", fmt="{:g}"),
                Slider("phase", [0.0, round(math.pi / 2, 4), round(math.pi, 4)], 0.0,
                       label="phase of 1st", fmt="{:.2f}"),
                Slider("r2", [-0.5, 0.0, 0.5], 0.5, label="2nd", fmt="{:g}")]
    return Explorer(controls, compute, name="fourier-density non-negativity")


def fit(n_train: int = 300, seed: int = 3, n_points: int = 161) -> Explorer:
    """N and gamma of a Fourier density fitted to n_train draws from TARGET (penalty gamma int|p'|^2),
    drawn on the real line next to the truth, a Gaussian KDE and a 3-component GMM (EM), with the
    test NLL of each on 20,000 fresh draws."""
    n_train = check_int_in(n_train, 2, None, name="n_train")
    seed = check_seed(seed)
    n_points = check_int_in(n_points, 2, None, name="n_points")
    y = M.mixture_sample(n_train, *TARGET, seed=seed)
    test = M.mixture_sample(20_000, *TARGET, seed=seed + 100)
    grid = np.linspace(-4.5, 6.0, n_points)
    tails = lambda v: np.where(v < 1e-6, 0.0, v)          # far tails shown as 0
    truth = tails(np.exp(M.mixture_logpdf(grid, *TARGET)))
    kde = tails(np.exp(M.kde_logpdf(y, grid)))
    gmm = tails(np.exp(M.gmm_logpdf(y, grid, 3)))
    nll_truth = float(-M.mixture_logpdf(test, *TARGET).mean())
    nll_kde = float(-M.kde_logpdf(y, test).mean())
    nll_gmm = float(-M.gmm_logpdf(y, test, 3).mean())
    cache: dict = {}

    def compute(N: int, gamma: float) -> dict:
        if (N, gamma) not in cache:
            cache[(N, gamma)] = M.fit_fbdm(y, N, gamma, iters=100)
        r = cache[(N, gamma)]
        q = np.exp(M.fbdm_log_density_real(r["a"], r["mu"], r["sigma"], grid))
        q = np.where(q < 1e-6, 0.0, q)                    # far tails shown as 0
        nll = float(-M.fbdm_log_density_real(r["a"], r["mu"], r["sigma"], test).mean())
        pan = panel(f"Fourier density, N = {N}, γ = {gamma:g}: how close to the truth?", "y", "density",
                    series=[line(grid, truth, "truth", color=PALETTE[7]),
                            line(grid, q, "Fourier density", color=PALETTE[0]),
                            line(grid, kde, "Gaussian KDE", color=PALETTE[1], dash=True),
                            line(grid, gmm, "GMM, 3 components (EM)", color=PALETTE[2], dash=True)])
        text = (f"test NLL (nats): Fourier {nll:.3f} · KDE {nll_kde:.3f} · GMM-3 {nll_gmm:.3f} · "
                f"truth {nll_truth:.3f} · train NLL {r['train_nll']:.3f} · {n_train} training draws")
        return frame(pan, text=text)

    controls = [Slider("N", [4, 8, 16, 24], 16, label="N", fmt="{:d}"),
                Slider("gamma", [0.0, 0.001, 0.01, 0.1], 0.001, label="γ", fmt="{:g}")]
    return Explorer(controls, compute, name="fourier-density fit", digits=3)


EXPLORERS = (nonnegativity, fit)
