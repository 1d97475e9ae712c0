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
from scipy import stats

from .._validate import (as_float_array, check_choice, check_grid, check_in_range, check_instance,
                         check_int_in, check_nonnegative, check_seed, check_tensor)
from ..datasets import digits, load_run
from .metrics import digit_features, frechet_distance, total_variation
from .samplers import sample_euler, sample_euler_ancestral, sample_heun
from .schedules import karras_sigmas
from .unet import EDMDenoiser, TinyUNet

__all__ = ["skip_scale_schedule", "skip_tuning", "fold_skip_scales", "SWEEP_RHOS", "SAMPLERS",
           "SAMPLER_NAMES", "ODE_SAMPLERS", "SDE_SAMPLERS", "SWEEP", "SWEEP_GN", "SWEEP_RHOS_GN", "TOP_SWEEP", "TOP_RHOS",
           "affine_nonlinearity", "laplacian_energy", "paired_interval", "near_best",
           "EXTRA_SWEEP", "EXTRA_SETTINGS", "settings_sweep", "load_settings_sweep",
           "top_skip_sweep", "load_top_sweep", "sample_digits", "skip_sweep", "sweep_to_json", "load_sweep"]

SWEEP = "digits_skip_sweep"                # kexue.datasets.load_run name of the committed sweep
SWEEP_GN = "digits_skip_sweep_gn"          # the same sweep on the GroupNorm variant of the U-Net


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


def skip_tuning(model, rho_bottom: float, rho_top: float = 1.0):
    """Context manager: scale the skips by :func:`skip_scale_schedule`, always restore them after.

    The arguments are checked at the call (not only on entering the ``with`` block)."""
    net = _net(model)
    return _scaled_skips(model, net, skip_scale_schedule(net.n_skips, rho_bottom, rho_top))


@contextlib.contextmanager
def _scaled_skips(model, net: TinyUNet, scales):
    old = list(net.skip_scales)
    net.skip_scales = scales
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
    if net.norm:
        raise ValueError("model has GroupNorm decoder blocks: its skip scales are not a weight edit")
    with torch.no_grad():
        for i, rho in enumerate(net.skip_scales):
            conv = net.dec[i].conv1
            c_skip = net.enc[i].conv2.out_channels
            conv.weight[:, -c_skip:] *= rho                  # input channels = [h, skip]
    net.skip_scales = [1.0] * net.n_skips
    return model


SWEEP_RHOS = (0.5, 0.7, 0.9, 1.0, 1.1, 1.3, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0)
#: the GroupNorm variant's grid reaches down to 0 (no bottom skip), where its optima lie
SWEEP_RHOS_GN = (0.0, 0.1, 0.2, 0.3, 0.4) + SWEEP_RHOS


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


def sample_digits(den: EDMDenoiser, x_T: torch.Tensor, sampler: str, noise_seed: int = 0,
                  eta: float = 1.0) -> torch.Tensor:
    """Few-step samples from noise x_T = 80 z on the Karras grid (80 -> 0.002), clipped to [-1, 1].

    x_T is cast to the network's dtype (float64 for :func:`kexue.diffusion.unet.load_pretrained`).
    The ancestral (SDE) samplers draw their step noise from a generator seeded by ``noise_seed``,
    so that every rho sees the same noise; ``eta`` scales their step noise (0: plain Euler).
    """
    check_instance(den, EDMDenoiser, name="den")
    as_float_array(check_tensor(x_T, name="x_T"), name="x_T", min_ndim=4, max_ndim=4)
    check_choice(sampler, list(SAMPLERS), name="sampler")
    eta = check_nonnegative(eta, name="eta")
    noise_seed = check_seed(noise_seed, name="noise_seed")
    x_T = x_T.to(next(den.parameters()).dtype)
    kind, steps = SAMPLERS[sampler]
    grid = karras_sigmas(steps + 1)
    if kind == "ancestral":
        return sample_euler_ancestral(den, x_T, grid, seed=noise_seed, eta=eta)[0].clamp(-1, 1)
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
    seed); "fd", "tv", "std" are then means over the seeds and "fd_seeds", "tv_seeds" hold the
    per-seed values.
    """
    check_instance(den, EDMDenoiser, name="den")
    n = check_int_in(n, 2, 100_000, name="n")
    rhos = [check_nonnegative(r, name="rhos") for r in check_grid(rhos, name="rhos")]
    if not isinstance(samplers, (list, tuple)) or not samplers:
        raise ValueError(f"samplers must be a non-empty list of {list(SAMPLERS)}, got {samplers!r}")
    for sm in samplers:
        check_choice(sm, list(SAMPLERS), name="samplers")
    seed = check_seed(seed)
    if seeds is not None:
        seeds = [check_int_in(sd, 0, None, name="seeds") for sd in seeds]
        if not seeds:
            raise ValueError("seeds must not be empty")
        runs = [skip_sweep(den, rhos, samplers, n, sd) for sd in seeds]
        out = {k: {key: float(np.mean([r[k][key] for r in runs])) for key in runs[0][k]}
               for k in ("fd", "tv", "std")}
        out["real"] = runs[0]["real"]
        out["fd_seeds"] = {key: [r["fd"][key] for r in runs] for key in runs[0]["fd"]}
        out["tv_seeds"] = {key: [r["tv"][key] for r in runs] for key in runs[0]["tv"]}
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
TOP_RHOS = (0.4, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2)


def top_skip_sweep(den: EDMDenoiser, rho_tops: Sequence[float], samplers: Sequence[str] = ("euler5",),
                   n: int = 1000, seeds: Sequence[int] = (0, 1, 2)) -> dict:
    """FD and TV of few-step samples with the *top* skip scaled (rho_bottom = 1), per seed.

    Chapter skip-tuning (the top skip as a second knob). Returns {"fd_seeds", "tv_seeds":
    {(sampler, rho_top): [value per seed]}}; noise and features as in :func:`skip_sweep`.
    """
    n = check_int_in(n, 2, 100_000, name="n")
    rho_tops = [check_nonnegative(r, name="rho_tops") for r in rho_tops]
    seeds = [check_int_in(sd, 0, None, name="seeds") for sd in seeds]
    if not seeds:
        raise ValueError("seeds must not be empty")
    feats, _ = digit_features()
    f_real = feats(torch.from_numpy(digits("signed", as_images=True, dtype="float32")[0])[:, None])
    out: dict = {"fd_seeds": {}, "tv_seeds": {}}
    for sm in samplers:
        for r in rho_tops:
            fds, tvs = [], []
            for sd in seeds:
                x_T = 80 * torch.randn((n, 1, 8, 8), generator=torch.Generator().manual_seed(sd))
                with skip_tuning(den, 1.0, rho_top=r):
                    x = sample_digits(den, x_T, sm, noise_seed=sd)
                fds.append(frechet_distance(feats(x), f_real))
                tvs.append(total_variation(x))
            out["fd_seeds"][(sm, r)] = fds
            out["tv_seeds"][(sm, r)] = tvs
    return out


EXTRA_SWEEP = "digits_skip_extra_sweep"    # kexue.datasets.load_run name of the settings sweep
#: (sampler, rho_bottom, rho_top, eta): both knobs together (Euler 5), and eta between ODE and SDE
EXTRA_SETTINGS = tuple([("euler5", rb, rt, 1.0) for rt in (1.0, 0.8) for rb in (1.0, 2.0)]
                       + [("ancestral5", rb, 1.0, eta) for eta in (0.0, 0.25, 0.5, 0.75, 1.0) for rb in (1.0, 2.5)])


def settings_sweep(den: EDMDenoiser, settings: Sequence[tuple], n: int = 1000,
                   seeds: Sequence[int] = (0, 1, 2)) -> dict:
    """FD and TV per seed of few-step samples for each (sampler, rho_bottom, rho_top, eta).

    Chapter skip-tuning (its exercises: both knobs at once, and the ancestral sampler's eta).
    Returns {"fd_seeds", "tv_seeds": {setting: [value per seed]}}; the noise of a seed is the one
    of :func:`skip_sweep`, so a setting (sampler, rho, 1, 1) reproduces that sweep's numbers.
    """
    n = check_int_in(n, 2, 100_000, name="n")
    seeds = [check_int_in(sd, 0, None, name="seeds") for sd in seeds]
    if not seeds or not settings:
        raise ValueError("seeds and settings must not be empty")
    feats, _ = digit_features()
    f_real = feats(torch.from_numpy(digits("signed", as_images=True, dtype="float32")[0])[:, None])
    out: dict = {"fd_seeds": {}, "tv_seeds": {}}
    for st in settings:
        if len(st) != 4:
            raise ValueError(f"settings must hold (sampler, rho_bottom, rho_top, eta) tuples, got {st!r}")
        sm, rb, rt, eta = st
        fds, tvs = [], []
        for sd in seeds:
            x_T = 80 * torch.randn((n, 1, 8, 8), generator=torch.Generator().manual_seed(sd))
            with skip_tuning(den, rb, rho_top=rt):
                x = sample_digits(den, x_T, sm, noise_seed=sd, eta=eta)
            fds.append(frechet_distance(feats(x), f_real))
            tvs.append(total_variation(x))
        out["fd_seeds"][tuple(st)] = fds
        out["tv_seeds"][tuple(st)] = tvs
    return out


def load_settings_sweep() -> tuple[dict, dict]:
    """The committed settings sweep (``--extra-sweep-only``): ({setting: [FD per seed]}, {setting: [TV per seed]})."""
    meta = load_run(EXTRA_SWEEP)
    key = lambda r: (r["sampler"], r["rho_bottom"], r["rho_top"], r["eta"])   # noqa: E731
    return ({key(r): r["fd_seeds"] for r in meta["rows"]}, {key(r): r["tv_seeds"] for r in meta["rows"]})


def load_top_sweep(with_tv: bool = False) -> dict:
    """The committed rho_top sweep as {(sampler, rho_top): [FD per seed]} (``--top-sweep-only``);
    with ``with_tv`` a pair (that dict, the same for the TV per seed)."""
    meta = load_run(TOP_SWEEP)
    fd = {(r["sampler"], r["rho_top"]): r["fd_seeds"] for r in meta["rows"]}
    if not with_tv:
        return fd
    return fd, {(r["sampler"], r["rho_top"]): r["tv_seeds"] for r in meta["rows"]}


def sweep_to_json(sweep: dict, n: int) -> dict:
    """A :func:`skip_sweep` result as JSON-able tables {"n", "real", "rows": [{sampler, rho, fd, tv, std}]}."""
    check_instance(sweep, dict, name="sweep")
    n = check_int_in(n, 1, None, name="n")
    rows = [{"sampler": sm, "rho": r, "fd": round(sweep["fd"][(sm, r)], 4), "tv": round(sweep["tv"][(sm, r)], 4),
             "std": round(sweep["std"][(sm, r)], 4)} for (sm, r) in sweep["fd"]]
    for key in ("fd_seeds", "tv_seeds"):
        if key in sweep:
            for row in rows:
                row[key] = [round(v, 4) for v in sweep[key][(row["sampler"], row["rho"])]]
    return {"n": n, "real": {k: round(v, 4) for k, v in sweep["real"].items()}, "rows": rows}


def load_sweep(norm: bool = False) -> dict:
    """The committed sweep (from ``python -m kexue.diffusion.train_unet``) in the form :func:`skip_sweep`
    returns; ``norm``: the sweep of the GroupNorm variant (``--groupnorm``)."""
    check_choice(norm, [False, True], name="norm")
    meta = load_run(SWEEP_GN if norm else SWEEP)
    out = {"n": meta["n"], "real": meta["real"], "fd": {}, "tv": {}, "std": {}}
    for r in meta["rows"]:
        for k in ("fd", "tv", "std"):
            out[k][(r["sampler"], r["rho"])] = r[k]
        for k in ("fd_seeds", "tv_seeds"):
            if k in r:
                out.setdefault(k, {})[(r["sampler"], r["rho"])] = r[k]
    return out


def affine_nonlinearity(inputs, outputs) -> float:
    """Share of ``outputs`` that no affine map of ``inputs`` explains: 1 - R^2. numpy.

    Chapter skip-tuning (how nonlinear a denoiser, or a whole sampler, is). inputs (n, p) and
    outputs (n, q) are flattened per row; with A = [inputs, 1] and B* the least-squares solution
    of A B = outputs, 1 - R^2 = |outputs - A B*|^2 / |outputs - mean(outputs)|^2 (0 for an affine
    map, up to 1). Needs n > p + 1 rows to mean anything.
    """
    a = np.asarray(inputs, dtype=np.float64)
    b = np.asarray(outputs, dtype=np.float64)
    if a.ndim < 2 or b.ndim < 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"inputs and outputs must be (n, ...) with the same n, got {a.shape}, {b.shape}")
    a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    if a.shape[0] <= a.shape[1] + 1 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError(f"inputs must be finite with more rows than columns + 1, got {a.shape}")
    design = np.hstack([a, np.ones((a.shape[0], 1))])
    resid = b - design @ np.linalg.lstsq(design, b, rcond=None)[0]
    total = ((b - b.mean(0)) ** 2).sum()
    if total == 0:
        raise ValueError("outputs must not be constant")
    return float((resid ** 2).sum() / total)


def laplacian_energy(x) -> float:
    """Mean squared 5-point Laplacian of images (..., H, W) over the interior pixels. numpy.

    Chapter skip-tuning (high-frequency energy of the denoiser's output):
    L[i, j] = x[i-1, j] + x[i+1, j] + x[i, j-1] + x[i, j+1] - 4 x[i, j].
    """
    a = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    if a.ndim < 2 or a.shape[-1] < 3 or a.shape[-2] < 3:
        raise ValueError(f"x must be images (..., H, W) with H, W >= 3, got {a.shape}")
    lap = (a[..., :-2, 1:-1] + a[..., 2:, 1:-1] + a[..., 1:-1, :-2] + a[..., 1:-1, 2:]
           - 4 * a[..., 1:-1, 1:-1])
    return float((lap ** 2).mean())


def paired_interval(diffs, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval of paired differences (one per seed): (mean, low, high). numpy/scipy.

    Chapter skip-tuning: mean +- t_{(1+level)/2, n-1} s / sqrt(n), s the sample standard deviation.
    """
    d = np.asarray(diffs, dtype=np.float64).ravel()
    if d.size < 2 or not np.isfinite(d).all():
        raise ValueError(f"diffs must hold >= 2 finite values, got {d.size}")
    level = check_in_range(level, 0.0, 1.0, name="level", lo_open=True, hi_open=True)
    half = stats.t.ppf((1 + level) / 2, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def near_best(fd_seeds: dict, sampler: str, rhos: Sequence[float], level: float = 0.95) -> tuple[float, list]:
    """The rho with the lowest mean FD over seeds, and every rho not worse than it by a paired interval.

    Chapter skip-tuning. ``fd_seeds`` maps (sampler, rho) to the FDs per seed (same seeds for
    every rho). A rho is "near best" when the paired interval of FD(rho) - FD(best) over the
    seeds (:func:`paired_interval`) contains 0 or lies below it.
    """
    rhos = list(rhos)
    if not rhos:
        raise ValueError("rhos must not be empty")
    best = min(rhos, key=lambda r: float(np.mean(fd_seeds[(sampler, r)])))
    ref = np.asarray(fd_seeds[(sampler, best)], dtype=np.float64)
    near = [r for r in rhos if r == best
            or paired_interval(np.asarray(fd_seeds[(sampler, r)]) - ref, level)[1] <= 0]
    return best, near
