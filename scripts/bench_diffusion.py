"""Benchmarks of kexue.diffusion's samplers against diffusers' schedulers on the same model.

Each ``bench_*()`` returns a list of rows {"name", "ours_s", "ref_s", "ratio"} (ratio = ours / ref,
below 1 means ours is faster). The model is the exact Gaussian-mixture teacher of the AMED
chapter (16-D, 8 components), evaluated in numpy for both sides, so the timings compare the
sampler loops. Run directly for a table: ``python scripts/bench_diffusion.py``.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from kexue import diffusion as D

torch.set_num_threads(1)


def _best_of(fn, repeat: int = 3) -> float:
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _setup(n: int = 2000):
    gm = D.random_mixture(8, 16, 0.2, seed=0)
    x = 80 * np.random.default_rng(0).standard_normal((n, 16))
    return gm, x


def _diffusers_loop(sched_cls, gm, x, steps: int):
    """diffusers' recipe: eps = (x - D(x, sigma)) / sigma, prediction_type="epsilon", Karras sigmas."""
    sch = sched_cls(use_karras_sigmas=True, prediction_type="epsilon")
    sch.set_timesteps(steps)
    xt = torch.tensor(x / 80.0 * float(sch.init_noise_sigma))
    for t in sch.timesteps:
        inp = sch.scale_model_input(xt, t)
        second = getattr(sch, "state_in_first_order", True) is False
        table = sch.sigmas_interpol if (second and hasattr(sch, "sigmas_interpol")) else sch.sigmas
        sigma = float(table[sch.step_index])
        xv = inp.double().numpy() * math.sqrt(sigma ** 2 + 1)
        eps = (xv - gm(xv, sigma)) / sigma
        xt = sch.step(torch.tensor(eps), t, xt).prev_sample
    return xt


def _row(name: str, ours: float, ref: float) -> dict:
    return {"name": name, "ours_s": round(ours, 4), "ref_s": round(ref, 4), "ratio": round(ours / ref, 3)}


def _bench_sampler(label: str, sampler, scheduler: str, steps: int) -> list[dict]:
    """Our sampler against the diffusers scheduler of the same method, same model and noise."""
    import diffusers
    gm, x = _setup()
    grid = D.karras_sigmas(steps + 1)
    ours = _best_of(lambda: sampler(gm, x, grid))
    ref = _best_of(lambda: _diffusers_loop(getattr(diffusers, scheduler), gm, x, steps))
    return [_row(f"{label}, {steps} steps, 2000 x 16-D (vs {scheduler})", ours, ref)]


def bench_euler(steps: int = 20) -> list[dict]:
    return _bench_sampler("Euler", D.sample_euler, "EulerDiscreteScheduler", steps)


def bench_heun(steps: int = 10) -> list[dict]:
    return _bench_sampler("Heun", D.sample_heun, "HeunDiscreteScheduler", steps)


def bench_dpm2(steps: int = 10) -> list[dict]:
    return _bench_sampler("DPM-Solver-2", D.sample_midpoint, "KDPM2DiscreteScheduler", steps)


BENCHMARKS = [bench_euler, bench_heun, bench_dpm2]

if __name__ == "__main__":
    for bench in BENCHMARKS:
        for r in bench():
            print(f"{r['name']:70s} ours {r['ours_s']:.4f} s  diffusers {r['ref_s']:.4f} s  ratio {r['ratio']:.3f}")
