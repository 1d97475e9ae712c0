"""Skip tuning: scale a U-Net's skip connections at sampling time, and the chapter's quality sweep.

Chapter skip-tuning (Ma et al. 2024, as Su reads it through FreeU). :func:`skip_scale_schedule`
is the linear schedule from the top skip to the bottom one, :func:`skip_tuning` applies it for a
block of code, :func:`fold_skip_scales` turns it into a weight edit. :func:`skip_sweep` samples
every (sampler, rho) from the same noise and scores it; its committed result is read by
:func:`load_sweep`. torch for the network, numpy for the scores.
"""
from __future__ import annotations

import contextlib
from typing import Sequence

import numpy as np
import torch

from .._validate import check_choice, check_int_in, check_nonnegative
from ..datasets import digits, load_run
from .metrics import digit_features, frechet_distance, total_variation
from .samplers import sample_euler, sample_heun
from .schedules import karras_sigmas
from .unet import EDMDenoiser, TinyUNet

__all__ = ["skip_scale_schedule", "skip_tuning", "fold_skip_scales", "SWEEP_RHOS", "SAMPLERS",
           "SAMPLER_NAMES", "SWEEP", "sample_digits", "skip_sweep", "sweep_to_json", "load_sweep"]

SWEEP = "digits_skip_sweep"                # kexue.datasets.load_run name of the committed sweep


def skip_scale_schedule(n_skips: int, rho_bottom: float, rho_top: float = 1.0) -> list[float]:
    """rho_i = rho_top + (rho_bottom - rho_top) i / (n_skips - 1), i = 0 (top) .. n_skips - 1 (bottom).

    Chapter skip-tuning, the linear schedule of Ma et al. (2024). One skip gets rho_bottom.
    """
    n_skips = check_int_in(n_skips, 1, None, name="n_skips")
    rho_bottom = check_nonnegative(rho_bottom, name="rho_bottom")
    rho_top = check_nonnegative(rho_top, name="rho_top")
    if n_skips == 1:
        return [rho_bottom]
    return [rho_top + (rho_bottom - rho_top) * i / (n_skips - 1) for i in range(n_skips)]


def _net(model) -> TinyUNet:
    net = model.net if isinstance(model, EDMDenoiser) else model
    if not isinstance(net, TinyUNet):
        raise ValueError("model must be a TinyUNet or an EDMDenoiser wrapping one")
    return net


@contextlib.contextmanager
def skip_tuning(model, rho_bottom: float, rho_top: float = 1.0):
    """Context manager: scale the skips by :func:`skip_scale_schedule`, always restore them after."""
    net = _net(model)
    old = list(net.skip_scales)
    net.skip_scales = skip_scale_schedule(net.n_skips, rho_bottom, rho_top)
    try:
        yield model
    finally:
        net.skip_scales = old


def fold_skip_scales(model):
    """Fold the skip scales into the weights (in place): the decoder's first conv reads the skip
    channels, so scaling them by rho equals scaling those input-channel slices of its weight.
    The scales are reset to 1; the function computed is unchanged. Returns the model.
    """
    net = _net(model)
    with torch.no_grad():
        for i, rho in enumerate(net.skip_scales):
            conv = net.dec[i].conv1
            c_skip = net.enc[i].conv2.out_channels
            conv.weight[:, -c_skip:] *= rho                  # input channels = [h, skip]
    net.skip_scales = [1.0] * net.n_skips
    return model


SWEEP_RHOS = (0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.5)


SAMPLERS = {"euler3": ("euler", 3), "euler5": ("euler", 5), "euler10": ("euler", 10),
            "heun3": ("heun", 3), "heun5": ("heun", 5)}


SAMPLER_NAMES = {"euler3": "Euler, 3 steps (NFE 3)", "euler5": "Euler, 5 steps (NFE 5)",
                  "euler10": "Euler, 10 steps (NFE 10)", "heun3": "Heun, 3 steps (NFE 6)",
                  "heun5": "Heun, 5 steps (NFE 10)"}


def sample_digits(den: EDMDenoiser, x_T: torch.Tensor, sampler: str) -> torch.Tensor:
    """Few-step samples from noise x_T = 80 z on the Karras grid (80 -> 0.002), clipped to [-1, 1].

    x_T is cast to the network's dtype (float64 for :func:`kexue.diffusion.unet.load_pretrained`).
    """
    check_choice(sampler, list(SAMPLERS), name="sampler")
    x_T = x_T.to(next(den.parameters()).dtype)
    kind, steps = SAMPLERS[sampler]
    grid = karras_sigmas(steps + 1)
    f = sample_euler if kind == "euler" else sample_heun
    return f(den, x_T, grid)[0].clamp(-1, 1)


def skip_sweep(den: EDMDenoiser, rhos: Sequence[float], samplers: Sequence[str] = tuple(SAMPLERS),
               n: int = 1000, seed: int = 0) -> dict:
    """Sample every (sampler, rho_bottom) from the same noise; Frechet distance, TV and std of each.

    Chapter skip-tuning, the quality sweep. Returns {"fd", "tv", "std": {(sampler, rho): float},
    "real": {"fd_floor", "tv", "std"}}. The noise is 80 z with z from a generator seeded by ``seed``.
    The FD compares the digit-classifier features of the n samples with those of all 1797 digits;
    the floor is the FD between two disjoint halves of the real digits.
    """
    n = check_int_in(n, 2, 100_000, name="n")
    rhos = [check_nonnegative(r, name="rhos") for r in rhos]
    feats, _ = digit_features()
    real = torch.from_numpy(digits("signed", as_images=True, dtype="float32")[0])[:, None]
    f_real = feats(real)
    perm = np.random.default_rng(seed).permutation(real.shape[0])
    half = real.shape[0] // 2
    out = {"fd": {}, "tv": {}, "std": {},
           "real": {"fd_floor": frechet_distance(f_real[perm[:half]], f_real[perm[half:]]),
                    "tv": total_variation(real), "std": float(real.std())}}
    x_T = 80 * torch.randn((n, 1, 8, 8), generator=torch.Generator().manual_seed(seed))
    for sm in samplers:
        for r in rhos:
            with skip_tuning(den, r):
                x = sample_digits(den, x_T, sm)
            out["fd"][(sm, r)] = frechet_distance(feats(x), f_real)
            out["tv"][(sm, r)] = total_variation(x)
            out["std"][(sm, r)] = float(x.std())
    return out


def sweep_to_json(sweep: dict, n: int) -> dict:
    """A :func:`skip_sweep` result as JSON-able tables {"n", "real", "rows": [{sampler, rho, fd, tv, std}]}."""
    rows = [{"sampler": sm, "rho": r, "fd": round(sweep["fd"][(sm, r)], 4), "tv": round(sweep["tv"][(sm, r)], 4),
             "std": round(sweep["std"][(sm, r)], 4)} for (sm, r) in sweep["fd"]]
    return {"n": n, "real": {k: round(v, 4) for k, v in sweep["real"].items()}, "rows": rows}


def load_sweep() -> dict:
    """The committed sweep (from ``python -m kexue.diffusion.train_unet``) in the form :func:`skip_sweep` returns."""
    meta = load_run(SWEEP)
    out = {"n": meta["n"], "real": meta["real"], "fd": {}, "tv": {}, "std": {}}
    for r in meta["rows"]:
        for k in ("fd", "tv", "std"):
            out[k][(r["sampler"], r["rho"])] = r[k]
    return out
