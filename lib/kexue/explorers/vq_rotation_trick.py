"""Explorers of chapter codes/vq-rotation-trick: the gradient field of STE against the rotation
trick, and the digits training curves.

No mathematics here: the gradients come from :func:`kexue.codes.gradient_field`, the saved runs
from :func:`kexue.codes.load_sweeps`; this module only lays them out as frames.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from kexue import codes as C
from kexue._validate import as_float_array, check_int_in, check_positive
from kexue.notebook import below
from kexue.widgets import PALETTE, Dropdown, Explorer, Slider, frame, line, panel, scatter

#: Display names of the codebook initialisations.
INIT_NAMES = {"randn": "N(0,1) codebook", "small": "0.01·N(0,1) codebook",
              "data": "codebook from encoder outputs"}


def arrow(x0: float, y0: float, dx: float, dy: float, head: float = 0.28):
    """Polyline of an arrow: tail -> tip -> one barb, back to the tip -> other barb (layout)."""
    x1, y1 = x0 + dx, y0 + dy
    L = math.hypot(dx, dy) or 1.0
    ux, uy = dx / L, dy / L
    h = head * L
    bx1, by1 = x1 - h * (ux * 0.87 - uy * 0.5), y1 - h * (uy * 0.87 + ux * 0.5)
    bx2, by2 = x1 - h * (ux * 0.87 + uy * 0.5), y1 - h * (uy * 0.87 - ux * 0.5)
    return [x0, x1, bx1, x1, bx2], [y0, y1, by1, y1, by2]


def readout(value: float, bound: float = 1e-12) -> str:
    """A frame readout: the bound (:func:`kexue.notebook.below`) for rounding-level values,
    whose digits vary by machine, else the value to two digits."""
    return below(value, bound) if abs(value) < bound else f"{value:.1e}"


def gradient_field_explorer(g: Sequence[float] = (1.0, 0.4), grid: int = 8,
                            lim: float = 3.0) -> Explorer:
    """2-D gradient field of STE vs rotation trick.

    Three codes: q = r (cos a, sin a) under the sliders (angle a, norm r) and two fixed codes of
    norm 1.5 at 100 and 220 degrees. Arrows show the direction of grad_z for a fixed upstream g
    at a grid of z; the arrow length grows with log ||grad_z||/||g||; a second panel plots
    ||grad_z||/||g|| against ||q||/||z|| (the rotation trick lies on the diagonal, the STE at 1).
    Readouts: spread of the directions (circular std, rad), range of ||grad_z||/||g|| and the
    largest |cos(z, grad_z) - cos(q, grad_q)| (zero: angle preservation).
    """
    gv, _ = as_float_array(g, name="g", min_ndim=1, max_ndim=1)
    grid = check_int_in(grid, 3, 15, name="grid")
    lim = check_positive(lim, name="lim")
    ticks = np.linspace(-lim, lim, grid + 2)[1:-1]
    pts = np.array([(x, y) for y in ticks for x in ticks])
    fixed = 1.5 * np.array([[math.cos(math.radians(100)), math.sin(math.radians(100))],
                            [math.cos(math.radians(220)), math.sin(math.radians(220))]])
    colors = [PALETTE[0], PALETTE[1], PALETTE[2]]
    step = 2 * lim / (grid + 1)

    def compute(angle: float, norm: float, method: str) -> dict:
        a = math.radians(angle)
        cb = np.vstack([[norm * math.cos(a), norm * math.sin(a)], fixed])
        gz, idx = C.gradient_field(pts, cb, gv, method)
        mag = np.linalg.norm(gz, axis=1) / np.linalg.norm(gv)
        length = step * 0.45 * np.clip(1 + 0.35 * np.log(mag), 0.25, 1.6)
        series = []
        for (x, y), v, ln, k in zip(pts, gz, length, idx):
            u = v / np.linalg.norm(v)
            series.append(line(*arrow(x, y, ln * u[0], ln * u[1]), color=colors[k]))
        series.append(scatter(cb[:, 0], cb[:, 1], "codes", color=PALETTE[3]))
        gu = gv / np.linalg.norm(gv)
        series.append(line(*arrow(-lim + 0.1, lim - 0.25, 0.9 * gu[0], 0.9 * gu[1]),
                           "upstream g = ∇q", color=PALETTE[7]))
        q = cb[idx]
        ok = np.linalg.norm(pts, axis=1) > 1e-9
        cz = (pts * gz).sum(1)[ok] / (np.linalg.norm(pts, axis=1) * np.linalg.norm(gz, axis=1))[ok]
        cq = (q @ gv)[ok] / (np.linalg.norm(q, axis=1) * np.linalg.norm(gv))[ok]
        ang = np.arctan2(gz[:, 1], gz[:, 0])
        R = min(1.0, float(np.abs(np.exp(1j * ang).mean())))
        spread = abs(math.sqrt(max(0.0, -2 * math.log(max(R, 1e-12)))))
        title = ("STE: the same arrow everywhere" if method == "ste"
                 else "rotation trick: arrows depend on z")
        pan = panel(title, "z₁", "z₂", series=series, xlim=[-lim - 0.3, lim + 0.3],
                    ylim=[-lim - 0.3, lim + 0.3])
        text = (f"direction spread {spread:.2f} rad · ‖∇z‖/‖g‖ {mag.min():.2f} to {mag.max():.2f} · "
                f"max |cos(z,∇z) − cos(q,∇q)| {readout(np.abs(cz - cq).max())}")
        ratio = np.linalg.norm(q, axis=1) / np.maximum(np.linalg.norm(pts, axis=1), 1e-12)
        lo_r, hi_r = 0.05, 20.0
        scale = panel("Gradient size: ‖∇z‖/‖g‖ against ‖q‖/‖z‖", "‖q‖ / ‖z‖", "‖∇z‖ / ‖g‖",
                      series=[line([lo_r, hi_r], [lo_r, hi_r], "‖∇z‖/‖g‖ = ‖q‖/‖z‖",
                                   color="#777777", dash=True),
                              line([lo_r, hi_r], [1.0, 1.0], "STE: 1", color=PALETTE[1], dash=True),
                              scatter(ratio, mag, "grid points", color=PALETTE[0])],
                      xscale="log", yscale="log", xlim=[lo_r, hi_r], ylim=[lo_r, hi_r])
        return frame(pan, scale, text=text)

    controls = [Slider("angle", [0, 45, 90, 135, 180, 225, 270, 315], 0,
                       label="code angle (deg)", fmt="{:d}"),
                Slider("norm", [0.25, 0.5, 1.0, 1.5, 2.0, 3.0], 1.5, label="code norm ‖q‖"),
                Dropdown("method", ["ste", "rotation"], "rotation", label="gradient",
                         names=["STE", "rotation trick"])]
    return Explorer(controls, compute, name="vq-gradient-field")


def shown_steps(steps: Sequence[int], dense_until: int = 100, every: int = 100) -> list[int]:
    """Indices of the recorded steps a curve shows: all up to `dense_until` (the early dynamics),
    then every `every` steps, and the last one (keeps the precomputed frames small)."""
    return [i for i, st in enumerate(steps)
            if st <= dense_until or st % every == 0 or i == len(steps) - 1]


def training_curves_explorer(runs: dict | None = None) -> Explorer:
    """Digits training curves, STE against the rotation trick, by codebook init and gamma.

    ``runs``: {(key, seed): saved run} with keys ``vq-<init>-<grad>-g<gamma>`` (grad ``ste`` and
    ``rotation``; see :data:`kexue.codes.runs.GAMMA`); by default the committed commitment-weight
    sweep. Controls: codebook init, commitment weight gamma, seed. Panels against the step:
    reconstruction MSE, mean ||z||, median ||q||/||z|| (the rotation trick's gradient scale) and
    codes used (%); readouts: the final numbers and the codebook loss mean ||q - z||^2.
    """
    if runs is None:
        runs = {(r["key"], r["seed"]): r for r in C.load_sweeps()["gamma"]}
    if not runs:
        raise ValueError("runs must not be empty")
    try:
        parsed = {k: (k.split("-")[1], k.split("-")[2], float(k.split("-g")[1])) for k, _ in runs}
    except (IndexError, ValueError):
        raise ValueError("runs must have keys vq-<init>-<grad>-g<gamma>") from None
    inits = [i for i in C.INITS if any(p[0] == i for p in parsed.values())]
    seeds = sorted({s for _, s in runs})
    # the weights run with both estimators (rotation-only weights have nothing to compare with)
    gammas = sorted({p[2] for p in parsed.values() if p[1] == "ste"}, reverse=True)
    keys = {(i, g): f"vq-{i}-{{grad}}-g{g}" for i in inits for g in gammas}
    if any((keys[i, g].format(grad=gr), s) not in runs for i in inits for g in gammas
           for gr in ("ste", "rotation") for s in seeds):
        raise ValueError("runs must hold ste and rotation runs for every init, gamma and seed")
    styles = {"ste": (PALETTE[0], False, "STE"), "rotation": (PALETTE[3], True, "rotation trick")}

    def compute(init: str, gamma: float, seed: int) -> dict:
        panels, parts = [], []
        for metric, title, ylab, scale, yscale in (
                ("mse", "Reconstruction", "reconstruction MSE", 1.0, "log"),
                ("z_norm", "Encoder output size", "mean ‖z‖", 1.0, "linear"),
                ("q_over_z", "The rotation trick's factor", "median ‖q‖/‖z‖", 1.0, "log"),
                ("utilization", "Codebook use", "codes used (%)", 100.0, "linear")):
            series = []
            for grad, (color, dash, label) in styles.items():
                h = runs[keys[init, gamma].format(grad=grad), seed]["history"]
                keep = shown_steps(h["step"])
                series.append(line([h["step"][i] for i in keep],
                                   [scale * h[metric][i] for i in keep], label,
                                   color=color, dash=dash))
            panels.append(panel(f"{title}, {INIT_NAMES[init]}, γ = {gamma:g}", "training step",
                                ylab, series=series, yscale=yscale))
        for grad, (_, _, label) in styles.items():
            r = runs[keys[init, gamma].format(grad=grad), seed]
            parts.append(f"{label}: MSE {r['mse']:.4f}, ‖z‖ {r['z_norm']:.2f}, "
                         f"‖q−z‖² {r['codebook_loss']:.4f}, used {r['used']}/{r['codebook_size']}")
        return frame(*panels, text=" · ".join(parts))

    controls = [Dropdown("init", inits, "small" if "small" in inits else inits[0],
                         label="codebook init", names=[INIT_NAMES[i] for i in inits]),
                Dropdown("gamma", gammas, gammas[0], label="commitment weight γ",
                         names=[f"{g:g}" for g in gammas]),
                Slider("seed", seeds, seeds[0], label="seed", fmt="{:d}") if len(seeds) > 1
                else Dropdown("seed", seeds, seeds[0], label="seed")]
    return Explorer(controls, compute, name="vq-training-curves")


EXPLORERS = (gradient_field_explorer, training_curves_explorer)
