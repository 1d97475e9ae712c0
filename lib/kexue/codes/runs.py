"""The saved digits experiments of the Discrete-codes chapters: their configurations, one run
summarised, and the committed results (numbers only).

Chapters ``codes/fsq`` and ``codes/vq-rotation-trick`` compare FSQ with VQ (STE and rotation
trick, three codebook initialisations, three seeds) on scikit-learn's 8x8 digits. One run of
800 Adam steps takes about 5 s on one CPU thread, so the 29 runs do not fit a chapter's 30 s;
this script runs them with :func:`kexue.codes.train_digits_autoencoder` and writes
``kexue/data/codes_runs.json`` (< 200 kB), which the chapters load. A test re-runs the first
steps of some runs and checks the saved history.

The script that ran them all is :mod:`kexue.codes.train` (``python -m kexue.codes.train``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .._validate import check_choice
from ..datasets import DATA_DIR, load_run
from .autoencoder import train_digits_autoencoder

__all__ = ["DATA", "STEPS", "SEEDS", "RECORD_EVERY", "MAIN", "SWEEP", "WITH_IMAGES", "summarise",
           "run_one", "load_runs", "runs_by_key"]

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
SWEEP = {**{f"fsq-{'x'.join(map(str, lv))}": dict(method="fsq", levels=lv)
            for lv in [(5, 5), (5, 5, 5), (8, 6, 5), (8, 5, 5, 5)]},
         **{f"vq-small-K{K}": dict(method="vq", init="small", grad="ste", K=K)
            for K in (25, 125, 240, 1000)}}
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
           **{k: _r(res[k]) for k in ("mse", "codebook_loss", "z_norm", "utilization", "perplexity")},
           "history": {k: _r(v) for k, v in res["history"].items()}}
    if images:
        out["x"] = np.round(res["x"], 3).tolist()
        out["recon"] = np.round(res["recon"], 3).tolist()
    return out


def run_one(key: str, seed: int, steps: int = STEPS, sweep: bool = False,
            progress: bool = False) -> dict:
    """Train one configuration (MAIN or SWEEP key) and summarise it."""
    cfg = (SWEEP if sweep else MAIN)[key]
    res = train_digits_autoencoder(**cfg, steps=steps, seed=seed, record_every=RECORD_EVERY,
                                   progress=progress)
    return summarise(key, seed, res, images=(not sweep and key in WITH_IMAGES))


def load_runs(path: Path | str = DATA) -> dict:
    """The saved runs: {"config", "runs": [...], "sweep": [...]} (see :func:`summarise`);
    the committed file is read by :func:`kexue.datasets.load_run`."""
    path = Path(path)
    return load_run(path.stem, directory=path.parent)


def runs_by_key(part: str = "runs", path: Path | str = DATA) -> dict:
    """The saved runs of one part ("runs" or "sweep") as {(key, seed): run}: what the chapters'
    dashboards take."""
    check_choice(part, ["runs", "sweep"], name="part")
    return {(r["key"], r["seed"]): r for r in load_runs(path)[part]}
