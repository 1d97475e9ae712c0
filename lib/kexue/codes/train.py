"""Run the digits experiments of the Discrete-codes chapters once and save them (numbers only).

Chapters ``codes/fsq`` and ``codes/vq-rotation-trick`` compare FSQ with VQ (STE and rotation
trick, three codebook initialisations, three seeds) on scikit-learn's 8x8 digits. One run of
800 Adam steps takes 5 to 15 s on one CPU thread, so the runs do not fit a chapter's 30 s; this
script runs the configurations of :mod:`kexue.codes.runs` (float64) and writes
``kexue/data/codes_runs.json`` (< 200 kB) and ``codes_sweeps.json``, which the chapters load.
Tests re-run some runs and compare with the saved numbers to their rounding.

    python -m kexue.codes.train            # all runs (a few minutes, progress bar)
    python -m kexue.codes.train --out X    # somewhere else
    python -m kexue.codes.train --sweeps   # the multi-seed sweeps -> kexue/data/codes_sweeps.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..datasets import save_run
from .runs import (DATA, GAMMA_RECORD_EVERY, GAMMAS, HOLDOUT, MAIN, RECORD_EVERY, ROTATION_GAMMAS,
                   SEEDS, STEPS, SWEEP, SWEEP_SEEDS, SWEEPS_NAME, run_one, run_sweep_one,
                   sweep_jobs)

__all__ = ["main", "main_sweeps"]


def main_sweeps(steps: int = STEPS, directory: Path | None = None, jobs=None) -> dict:
    """Run the multi-seed sweeps (codebook size; commitment weight) and save them with
    :func:`kexue.datasets.save_run` as codes_sweeps.json (or under `directory`)."""
    torch.set_num_threads(1)
    data = {"config": {"steps": steps, "sweep_seeds": list(SWEEP_SEEDS), "gammas": list(GAMMAS),
                       "record_every": RECORD_EVERY, "gamma_record_every": GAMMA_RECORD_EVERY,
                       "batch": 256, "lr": 2e-3, "beta": 1.0, "holdout": HOLDOUT,
                       "dtype": "float64", "rotation_gammas": list(ROTATION_GAMMAS)},
            "ksweep": [], "gamma": []}
    for part, key, seed in tqdm(jobs if jobs is not None else sweep_jobs(), desc="digits sweeps"):
        data[part].append(run_sweep_one(part, key, seed, steps))
    save_run(SWEEPS_NAME, data, digits=5, directory=directory)
    return data


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DATA)
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--sweeps", action="store_true", help="run the multi-seed sweeps instead")
    args = ap.parse_args(argv)
    if args.sweeps:
        return main_sweeps(args.steps)
    torch.set_num_threads(1)
    jobs = [(k, s, False) for k in MAIN for s in SEEDS] + [(k, 0, True) for k in SWEEP]
    runs, sweep = [], []
    for key, seed, is_sweep in tqdm(jobs, desc="digits runs"):
        (sweep if is_sweep else runs).append(run_one(key, seed, args.steps, is_sweep))
    data = {"config": {"steps": args.steps, "seeds": list(SEEDS), "record_every": RECORD_EVERY,
                       "batch": 256, "lr": 2e-3, "beta": 1.0, "gamma": 0.25,
                       "dtype": "float64", "sweep_holdout": HOLDOUT,
                       "main": {k: {kk: list(v) if isinstance(v, tuple) else v
                                    for kk, v in cfg.items()} for k, cfg in MAIN.items()}},
            "runs": runs, "sweep": sweep}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, separators=(",", ":")))
    return data


if __name__ == "__main__":
    main()
