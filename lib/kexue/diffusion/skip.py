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
from .samplers import sample_euler, sample_euler_ancestral, sample_heun
from .schedules import karras_sigmas
from .unet import EDMDenoiser, TinyUNet

__all__ = ["skip_scale_schedule", "skip_tuning", "fold_skip_scales", "SWEEP_RHOS", "SAMPLERS",
           "SAMPLER_NAMES", "ODE_SAMPLERS", "SDE_SAMPLERS", "SWEEP", "TOP_SWEEP", "TOP_RHOS",
           "top_skip_sweep", "load_top_sweep", "sample_digits", "skip_sweep", "sweep_to_json", "load_sweep"]

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


SWEEP_RHOS = (0.5, 0.7, 0.9, 1.0, 1.1, 1.3, 1.5, 1.75, 2.0, 2.5)


SAMPLERS = {"euler3": ("euler", 3), "euler5": ("euler", 5), "euler10": ("euler", 10),
            "heun3": ("heun", 3), "heun5": ("heun", 5),
            "ancestral5": ("ancestral", 5), "ancestral10": ("ancestral", 10)}


SAMPLER_NAMES = {"euler3": "Euler, 3 steps (NFE 3)", "euler5": "Euler, 5 steps (NFE 5)",
                  "euler10": "Euler, 10 steps (NFE 10)", "heun3": "Heun, 3 steps (NFE 6)",
                  "heun5": "Heun, 5 steps (NFE 10)",
                  "ancestral5": "Euler ancestral (SDE), 5 steps (NFE 5)",
                  "ancestral10": "Euler ancestral (SDE), 10 steps (NFE 10)"}

#: the samplers that integrate the probability-flow ODE, and the stochastic ones
ODE_SAMPLERS = ("euler3", "euler5", "euler10", "heun3", "heun5")
SDE_SAMPLERS = ("ancestral5", "ancestral10")


def sample_digits(den: EDMDenoiser, x_T: torch.Tensor, sampler: str, noise_seed: int = 0) -> torch.Tensor:
    """Few-step samples from noise x_T = 80 z on the Karras grid (80 -> 0.002), clipped to [-1, 1].

    x_T is cast to the network's dtype (float64 for :func:`kexue.diffusion.unet.load_pretrained`).
    The ancestral (SDE) samplers draw their step noise from a generator seeded by ``noise_seed``,
    so that every rho sees the same noise.
    """
    check_choice(sampler, list(SAMPLERS), name="sampler")
    x_T = x_T.to(next(den.parameters()).dtype)
    kind, steps = SAMPLERS[sampler]
    grid = karras_sigmas(steps + 1)
    if kind == "ancestral":
        return sample_euler_ancestral(den, x_T, grid, seed=noise_seed)[0].clamp(-1, 1)
    f = sample_euler if kind == "euler" else sample_heun
    return f(den, x_T, grid)[0].clamp(-1, 1)


def skip_sweep(den: EDMDenoiser, rhos: Sequence[float], samplers: Sequence[str] = tuple(SAMPLERS),
               n: int = 1000, seed: int = 0, seeds: Sequence[int] | None = None) -> dict:
    """Sample every (sampler, rho_bottom) from the same noise; Frechet distance, TV and std of each.

    Chapter skip-tuning, the quality sweep. Returns {"fd", "tv", "std": {(sampler, rho): float},
    "real": {"fd_floor", "tv", "std"}}. The noise is 80 z with z from a generator seeded by ``seed``.
    The FD compares the digit-classifier features of the n samples with those of all 1797 digits;
    the floor is the FD between two disjoint halves of the real digits. With ``seeds`` the sweep
    is repeated for each seed (fresh initial and step noise, the same for every rho within a
    seed); "fd", "tv", "std" are then means over the seeds and "fd_seeds" holds the per-seed FDs.
    """
    n = check_int_in(n, 2, 100_000, name="n")
    rhos = [check_nonnegative(r, name="rhos") for r in rhos]
    if seeds is not None:
        seeds = [check_int_in(sd, 0, None, name="seeds") for sd in seeds]
        if not seeds:
            raise ValueError("seeds must not be empty")
        runs = [skip_sweep(den, rhos, samplers, n, sd) for sd in seeds]
        out = {k: {key: float(np.mean([r[k][key] for r in runs])) for key in runs[0][k]}
               for k in ("fd", "tv", "std")}
        out["real"] = runs[0]["real"]
        out["fd_seeds"] = {key: [r["fd"][key] for r in runs] for key in runs[0]["fd"]}
        return out
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
                x = sample_digits(den, x_T, sm, noise_seed=seed)
            out["fd"][(sm, r)] = frechet_distance(feats(x), f_real)
            out["tv"][(sm, r)] = total_variation(x)
            out["std"][(sm, r)] = float(x.std())
    return out


TOP_SWEEP = "digits_skip_top_sweep"        # kexue.datasets.load_run name of the rho_top sweep
TOP_RHOS = (0.6, 0.8, 0.9, 1.0, 1.1, 1.2)


def top_skip_sweep(den: EDMDenoiser, rho_tops: Sequence[float], samplers: Sequence[str] = ("euler5",),
                   n: int = 1000, seeds: Sequence[int] = (0, 1, 2)) -> dict:
    """FD of few-step samples with the *top* skip scaled (rho_bottom = 1), per seed.

    Chapter skip-tuning (the top skip as a second knob). Returns {"fd_seeds": {(sampler, rho_top):
    [FD per seed]}}; noise and features as in :func:`skip_sweep`.
    """
    n = check_int_in(n, 2, 100_000, name="n")
    rho_tops = [check_nonnegative(r, name="rho_tops") for r in rho_tops]
    seeds = [check_int_in(sd, 0, None, name="seeds") for sd in seeds]
    if not seeds:
        raise ValueError("seeds must not be empty")
    feats, _ = digit_features()
    f_real = feats(torch.from_numpy(digits("signed", as_images=True, dtype="float32")[0])[:, None])
    out: dict = {"fd_seeds": {}}
    for sm in samplers:
        for r in rho_tops:
            fds = []
            for sd in seeds:
                x_T = 80 * torch.randn((n, 1, 8, 8), generator=torch.Generator().manual_seed(sd))
                with skip_tuning(den, 1.0, rho_top=r):
                    fds.append(frechet_distance(feats(sample_digits(den, x_T, sm, noise_seed=sd)), f_real))
            out["fd_seeds"][(sm, r)] = fds
    return out


def load_top_sweep() -> dict:
    """The committed rho_top sweep as {(sampler, rho_top): [FD per seed]} (``--top-sweep-only``)."""
    meta = load_run(TOP_SWEEP)
    return {(r["sampler"], r["rho_top"]): r["fd_seeds"] for r in meta["rows"]}


def sweep_to_json(sweep: dict, n: int) -> dict:
    """A :func:`skip_sweep` result as JSON-able tables {"n", "real", "rows": [{sampler, rho, fd, tv, std}]}."""
    rows = [{"sampler": sm, "rho": r, "fd": round(sweep["fd"][(sm, r)], 4), "tv": round(sweep["tv"][(sm, r)], 4),
             "std": round(sweep["std"][(sm, r)], 4)} for (sm, r) in sweep["fd"]]
    if "fd_seeds" in sweep:
        for row in rows:
            row["fd_seeds"] = [round(v, 4) for v in sweep["fd_seeds"][(row["sampler"], row["rho"])]]
    return {"n": n, "real": {k: round(v, 4) for k, v in sweep["real"].items()}, "rows": rows}


def load_sweep() -> dict:
    """The committed sweep (from ``python -m kexue.diffusion.train_unet``) in the form :func:`skip_sweep` returns."""
    meta = load_run(SWEEP)
    out = {"n": meta["n"], "real": meta["real"], "fd": {}, "tv": {}, "std": {}}
    for r in meta["rows"]:
        for k in ("fd", "tv", "std"):
            out[k][(r["sampler"], r["rho"])] = r[k]
        if "fd_seeds" in r:
            out.setdefault("fd_seeds", {})[(r["sampler"], r["rho"])] = r["fd_seeds"]
    return out
