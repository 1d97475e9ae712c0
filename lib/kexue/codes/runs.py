"""The saved digits experiments of the Discrete-codes chapters: their configurations, one run
summarised, and the committed results (numbers only).

Chapters ``codes/fsq`` and ``codes/vq-rotation-trick`` compare FSQ with VQ (STE and rotation
trick, three codebook initialisations, three seeds) on scikit-learn's 8x8 digits. One run of
800 Adam steps takes 5 to 15 s on one CPU thread, so the runs do not fit a chapter's 30 s;
:mod:`kexue.codes.train` runs them with :func:`kexue.codes.train_digits_autoencoder` (float64,
so that a run retraces to the stored digits on any CPU) and writes ``kexue/data/codes_runs.json``
and ``codes_sweeps.json``, which the chapters load. Tests re-run some of them in full and
compare with the stored numbers.

The script that ran them all is :mod:`kexue.codes.train` (``python -m kexue.codes.train``).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._validate import check_choice, check_instance
from ..datasets import DATA_DIR, load_run
from .autoencoder import train_digits_autoencoder

__all__ = ["DATA", "STEPS", "SEEDS", "RECORD_EVERY", "MAIN", "SWEEP", "WITH_IMAGES", "summarise",
           "run_one", "load_runs", "runs_by_key", "SWEEPS_NAME", "SWEEP_SEEDS", "GAMMAS",
           "GAMMA_SEEDS", "GAMMA_RECORD_EVERY", "GAMMA", "run_sweep_one", "sweep_jobs",
           "load_sweeps", "HOLDOUT", "ROTATION_GAMMAS"]

DATA = DATA_DIR / "codes_runs.json"
STEPS = 800
SEEDS = (0, 1, 2)
RECORD_EVERY = 50

#: run key -> keyword arguments of train_digits_autoencoder (besides steps and seed)
MAIN = {
    "fsq": dict(method="fsq", levels=(8, 6, 5)),
    "vq-randn-ste": dict(method="vq", init="randn", grad="ste"),
    "vq-data-ste": dict(method="vq", init="data", grad="ste"),
    "vq-small-ste": dict(method="vq", init="small", grad="ste"),
    "vq-randn-rotation": dict(method="vq", init="randn", grad="rotation"),
    "vq-data-rotation": dict(method="vq", init="data", grad="rotation"),
    "vq-small-rotation": dict(method="vq", init="small", grad="rotation"),
}
#: the optional codebook-size sweep (seed 0): FSQ levels vs VQ with the same K
#: trained on 1797 - HOLDOUT digits, the reconstruction also measured on the HOLDOUT others
#: (:func:`kexue.codes.split_digits`)
HOLDOUT = 360
SWEEP = {**{f"fsq-{'x'.join(map(str, lv))}": dict(method="fsq", levels=lv, holdout=HOLDOUT)
            for lv in [(5, 5), (5, 5, 5), (8, 6, 5), (8, 5, 5, 5)]},
         **{f"vq-small-K{K}": dict(method="vq", init="small", grad="ste", K=K, holdout=HOLDOUT)
            for K in (25, 125, 240, 1000)}}
#: the multi-seed runs of kexue/data/codes_sweeps.json (``python -m kexue.codes.train --sweeps``):
#: the codebook-size sweep over five seeds (chapter fsq) and a commitment-weight sweep, STE
#: against rotation, recorded every 20 steps with the median ||q||/||z|| (chapter vq-rotation-trick)
SWEEPS_NAME = "codes_sweeps"
SWEEP_SEEDS = (0, 1, 2, 3, 4)
GAMMAS = (1.0, 0.5, 0.25, 0.05, 0.01, 0.002)
GAMMA_SEEDS = (0, 1, 2)
GAMMA_RECORD_EVERY = 20
#: smaller commitment weights run for the rotation trick only (its optimum sits low)
ROTATION_GAMMAS = (0.0005,)
GAMMA = {f"vq-{init}-{grad}-g{g}": dict(method="vq", init=init, grad=grad, gamma=g)
         for init in ("small", "data") for g in GAMMAS for grad in ("ste", "rotation")}
GAMMA.update({f"vq-{init}-rotation-g{g}": dict(method="vq", init=init, grad="rotation", gamma=g)
              for init in ("small", "data") for g in ROTATION_GAMMAS})
#: runs whose reconstructions the dashboard shows
WITH_IMAGES = {"fsq", "vq-randn-ste", "vq-data-ste", "vq-small-ste"}


def _r(x, digits=5):
    """Round floats (and lists of them) so that the JSON is small and reads well."""
    if isinstance(x, (list, tuple)):
        return [_r(v, digits) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(f"{float(x):.{digits}g}")
    return x


def summarise(key: str, seed: int, res: dict, images: bool) -> dict:
    """The numbers of one run that the chapters need (no model, no timings)."""
    out = {"key": key, "seed": seed, "codebook_size": res["codebook_size"],
           "used": res["used"], "counts": res["counts"],
           **{k: _r(res[k]) for k in ("mse", "test_mse", "codebook_loss", "z_norm", "utilization",
                                      "perplexity") if k in res},
           "history": {k: _r(v) for k, v in res["history"].items()}}
    if images:
        out["x"] = np.round(res["x"], 3).tolist()
        out["recon"] = np.round(res["recon"], 3).tolist()
    return out


def run_one(key: str, seed: int, steps: int = STEPS, sweep: bool = False,
            progress: bool = False) -> dict:
    """Train one configuration (MAIN or SWEEP key) and summarise it."""
    cfg = (SWEEP if sweep else MAIN)[check_choice(key, list(SWEEP if sweep else MAIN), name="key")]
    res = train_digits_autoencoder(**cfg, steps=steps, seed=seed, record_every=RECORD_EVERY,
                                   progress=progress)
    return summarise(key, seed, res, images=(not sweep and key in WITH_IMAGES))


def run_sweep_one(part: str, key: str, seed: int, steps: int = STEPS,
                  progress: bool = False) -> dict:
    """One run of the multi-seed sweeps: part "ksweep" (a SWEEP key, final numbers only) or
    "gamma" (a GAMMA key, history every GAMMA_RECORD_EVERY steps including the median
    ||q||/||z||). Numbers only, no counts or images."""
    check_choice(part, ["ksweep", "gamma"], name="part")
    table = SWEEP if part == "ksweep" else GAMMA
    cfg = table[check_choice(key, list(table), name="key")]
    every = RECORD_EVERY if part == "ksweep" else GAMMA_RECORD_EVERY
    res = train_digits_autoencoder(**cfg, steps=steps, seed=seed, record_every=every,
                                   progress=progress)
    out = {"key": key, "seed": seed, "codebook_size": res["codebook_size"], "used": res["used"],
           **{k: _r(v) for k, v in res.items()
              if k in ("mse", "test_mse", "codebook_loss", "z_norm", "utilization", "perplexity",
                       "q_over_z")}}
    if part == "gamma":
        out["history"] = {k: _r(v) for k, v in res["history"].items()}
    return out


def sweep_jobs() -> list[tuple[str, str, int]]:
    """(part, key, seed) of every run in codes_sweeps.json, in the order the script runs them."""
    return ([("ksweep", k, s) for s in SWEEP_SEEDS for k in SWEEP] +
            [("gamma", k, s) for s in GAMMA_SEEDS for k in GAMMA])


def load_sweeps() -> dict:
    """The committed multi-seed sweeps: {"config", "ksweep": [...], "gamma": [...]} (see
    :func:`run_sweep_one`), read by :func:`kexue.datasets.load_run`."""
    return load_run(SWEEPS_NAME)


def load_runs(path: Path | str = DATA) -> dict:
    """The saved runs: {"config", "runs": [...], "sweep": [...]} (see :func:`summarise`);
    the committed file is read by :func:`kexue.datasets.load_run`."""
    path = Path(check_instance(path, (str, os.PathLike), name="path"))
    if not path.is_file():
        raise ValueError(f"path must be an existing runs file, got {str(path)!r}")
    return load_run(path.stem, directory=path.parent)


def runs_by_key(part: str = "runs", path: Path | str = DATA) -> dict:
    """The saved runs of one part ("runs" or "sweep") as {(key, seed): run}: what the chapters'
    dashboards take."""
    check_choice(part, ["runs", "sweep"], name="part")
    return {(r["key"], r["seed"]): r for r in load_runs(path)[part]}
