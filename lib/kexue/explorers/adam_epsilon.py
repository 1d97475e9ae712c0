"""Explorers of the chapter adam-epsilon: epsilon on the surge curve (exact SoftSign moments and
the post's mean field), and the clip mean against its elementary approximation. No math here:
it calls kexue.training."""
from __future__ import annotations

import math

import numpy as np

from kexue import training as T
from kexue.widgets import Explorer, Slider, frame, line, panel, scatter, vline

EPSILONS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 1.0)
COUPLINGS = (0.0, 0.5, 3.15)          # q = (d - 1) rho
B_WIDTHS = (0.1, 0.3, 1.0, 3.0)
DIM, G0 = 64, 0.1


def eps_surge() -> Explorer:
    """eta*(B) / eta*(inf) for u = softsign(g_B, eps) on H = (1 - rho) I + rho 1 1^T, d = 64,
    g_i = 0.1, sigma_i = 1: exact (quadrature) and mean-field curves, the peak and the thresholds."""
    Bs = np.geomspace(1, 1e6, 48)

    def compute(q: float, eps: float) -> dict:
        H = T.coupled_hessian(DIM, q / (DIM - 1))
        g, sig = np.full(DIM, G0), np.ones(DIM)
        ex = T.adam_eps_optimal_lr(g, H, sig, Bs, eps)
        mf = T.adam_eps_optimal_lr(g, H, sig, Bs, eps, mode="meanfield")
        i = int(np.argmax(ex))
        drop = 1 - ex[-1] / ex[i]
        surge = i < len(Bs) - 1 and drop > 1e-6
        e_exact = T.critical_eps_isotropic(G0, DIM, q / (DIM - 1), "exact")
        e_nec = T.critical_eps_isotropic(G0, DIM, q / (DIM - 1))
        status = (f"surge: peak at B ≈ {Bs[i]:.3g}, then η* falls by {drop:.1%}" if surge
                  else "no surge: η* rises all the way")
        return frame(panel(f"Does ε remove the surge? (q = (d−1)ρ = {q:g}, ε = {eps:g})", "batch size B",
                           "η*(B) / η*(B → ∞)",
                           series=[line(Bs, ex / ex[-1], "exact SoftSign moments"),
                                   line(Bs, mf / mf[-1], "post's mean field", dash=True),
                                   scatter([Bs[i]], [ex[i] / ex[-1]], "largest η*")],
                           vlines=[vline(Bs[i], "peak")] if surge else [], xscale="log", xlim=(1, 1e6)),
                     text=f"{status}. Thresholds for ε: exact {e_exact:.3g}, post's necessary condition "
                          f"{e_nec:.3g}")
    return Explorer([Slider("q", COUPLINGS, 3.15, label="coupling q = (d−1)ρ", fmt="{:g}"),
                     Slider("eps", EPSILONS, 0.05, label="ε", fmt="{:g}")],
                    compute, name="adam-epsilon-surge")


def clip_mean() -> Explorer:
    """E[clip((a + z)/b)] in closed form, the exact softsign mean E[(a+z)/sqrt((a+z)^2 + b^2)]
    and the post's a / sqrt(a^2 + b^2 + pi/2), as functions of a for one b."""
    a = np.linspace(-4, 4, 81)

    def compute(b: float) -> dict:
        ex_soft = np.array([T.softsign_moments(v, 1.0, 1.0, b)[0] for v in a])
        clip = T.clip_mean(a, b)
        approx = a / np.sqrt(a ** 2 + b ** 2 + math.pi / 2)
        err = float(np.abs(approx - ex_soft).max())
        return frame(panel(f"How good is the elementary approximation? (b = {b:g})", "a = g√B/σ", "E[update]",
                           series=[line(a, ex_soft, "softsign (exact)"), line(a, clip, "clip (closed form)", dash=True),
                                   line(a, approx, "a/√(a² + b² + π/2)")]),
                     text=f"b = ε√B/σ = {b:g}: largest gap between the approximation and the exact softsign mean {err:.3f}")
    return Explorer([Slider("b", B_WIDTHS, 1.0, label="b = ε√B/σ", fmt="{:g}")], compute,
                    name="adam-epsilon-clip")


EXPLORERS = (eps_surge, clip_mean)
