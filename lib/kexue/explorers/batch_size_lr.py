"""Explorers of the chapter batch-size-lr: SGD's optimal learning rate and the steps/data
trade-off against the batch size, and Adam's (SignSGD's) surge on a coupled Hessian. No math
here: it calls kexue.training."""
from __future__ import annotations

import numpy as np

from kexue import training as T
from kexue.widgets import Explorer, Slider, frame, line, panel, scatter, vline

BATCHES = tuple(float(v) for v in 2.0 ** np.arange(0, 15))         # 1 .. 16384
NOISE_SCALES = (10.0, 100.0, 1000.0, 2679.0)         # 2679: the digits model of the chapter
COUPLINGS = (0.0, 0.01, 0.02, 0.05, 0.1)
SNRS = (0.03, 0.1, 0.3)
DIM = 64


def sgd_batch() -> Explorer:
    """eta*(B) / eta_max = 1 / (1 + B_noise / B) with the linear and square-root rules, and the
    steps/data hyperbola (S/S_min - 1)(E/E_min - 1) = 1 with the current batch marked."""
    Bs = np.geomspace(1, 16384, 120)

    def compute(B_noise: float, B: float) -> dict:
        # a one-dimensional quadratic with g = H = 1 and Sigma = B_noise: eta_max = 1
        ratio = T.sgd_optimal_lr([1.0], [[1.0]], [B_noise], Bs)
        here = float(T.sgd_optimal_lr([1.0], [[1.0]], [B_noise], B))
        S, E = T.steps_data_tradeoff(Bs, B_noise, 1.0)
        Sb, Eb = T.steps_data_tradeoff(B, B_noise, 1.0)
        lin = Bs / (1 + B_noise)                  # linear rule anchored at B = 1
        sq = np.sqrt(Bs) / (1 + B_noise)          # square-root rule anchored at B = 1
        keep = lin < 4
        keep_sq = sq < 4
        return frame(
            panel("How far can the learning rate grow with the batch? (SGD)", "batch size B",
                  "η* / η_max",
                  series=[line(Bs, ratio, "η*(B) = η_max / (1 + B_noise/B)"),
                          line(Bs[keep], lin[keep], "linear rule from B = 1", dash=True),
                          line(Bs[keep_sq], sq[keep_sq], "square-root rule from B = 1", dash=True),
                          scatter([B], [here], f"B = {B:g}")],
                  vlines=[vline(B_noise, "B_noise")], xscale="log", yscale="log"),
            panel("Steps against data: (S/S_min − 1)(E/E_min − 1) = 1", "examples E / E_min",
                  "steps S / S_min",
                  series=[line(E / B_noise, S, "the hyperbola"),
                          scatter([Eb / B_noise], [Sb], f"B = {B:g}")],
                  xscale="log", yscale="log"),
            text=f"B_noise = {B_noise:g}, B = {B:g}: η*/η_max = {here:.3f}; S/S_min = {Sb:.3g}, "
                 f"E/E_min = {Eb / B_noise:.3g}")
    return Explorer([Slider("B_noise", NOISE_SCALES, 100.0, label="B_noise", fmt="{:g}"),
                     Slider("B", BATCHES, 64.0, label="batch size B", fmt="{:g}")],
                    compute, name="batch-size-lr-sgd")


def adam_surge() -> Explorer:
    """Adam-as-SignSGD's eta*(B) on H = (1 - rho) I + rho 1 1^T (d = 64), all g_i = g and
    sigma_i = 1: the exact erf curve, the mean-field curve and its peak B_noise."""
    Bs = np.geomspace(1, 1e5, 90)

    def compute(rho: float, snr: float) -> dict:
        g = np.full(DIM, snr)
        sig = np.ones(DIM)
        H = T.coupled_hessian(DIM, rho)
        k2 = 1 / snr ** 2
        exact = T.signsgd_optimal_lr(g, H, sig, Bs)
        mf = T.signsgd_optimal_lr(g, H, sig, Bs, mode="meanfield", kappa2=k2)
        sp = T.surge_params(g, H, k2)
        i = int(np.argmax(exact))
        surge = i < len(Bs) - 1 and exact[i] > exact[-1] * (1 + 1e-6)
        vl = [vline(sp["B_noise"], "mean-field B_noise")] if np.isfinite(sp["B_noise"]) else []
        status = (f"surge: exact peak at B ≈ {Bs[i]:.3g} (η* falls by {1 - exact[-1] / exact[i]:.1%} after it)"
                  if surge else "no surge: η* grows with B all the way")
        return frame(panel(f"Does Adam's best learning rate fall at large batches? (ρ = {rho:g}, g/σ = {snr:g})",
                           "batch size B", "η*",
                           series=[line(Bs, exact, "exact (erf)"), line(Bs, mf, "mean field", dash=True),
                                   scatter([Bs[i]], [exact[i]], "largest η* on the grid")],
                           vlines=vl, xscale="log", yscale="log"),
                     text=f"β_noise = {sp['beta_noise']:.3g} ({'< 1' if sp['beta_noise'] < 1 else '≥ 1'}); {status}")
    return Explorer([Slider("rho", COUPLINGS, 0.05, label="Hessian coupling ρ", fmt="{:g}"),
                     Slider("snr", SNRS, 0.1, label="g/σ", fmt="{:g}")],
                    compute, name="batch-size-lr-surge")


EXPLORERS = (sgd_batch, adam_surge)
