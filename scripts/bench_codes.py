"""Benchmarks of the Discrete-codes part (chapters fsq and vq-rotation-trick).

Each ``bench_*()`` returns rows ``{"name", "ours_s", "ref_s", "ratio"}`` (seconds per call, best
of several repeats, one torch thread; ratio = ours / reference, < 1 means ours is faster). The
reference is vector-quantize-pytorch. ``bench_training`` times the chapters' digits runs (no
reference: ``ref_s`` and ``ratio`` are None). Run alone with ``python scripts/bench_codes.py``.
"""
from __future__ import annotations

import time
import timeit

import torch

from kexue import codes as C


def _best(fn, number: int, repeat: int = 5) -> float:
    fn()                                              # warm-up
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def _row(name: str, ours: float, ref: float | None) -> dict:
    return {"name": name, "ours_s": ours, "ref_s": ref,
            "ratio": None if ref is None else ours / ref}


def bench_fsq_quantise(n: int = 65536, levels=(8, 5, 5, 5)) -> list[dict]:
    """FSQ forward (codes and indices) on (1, n, d) latents vs vector_quantize_pytorch.FSQ."""
    from vector_quantize_pytorch import FSQ as RefFSQ
    torch.set_num_threads(1)
    z = torch.randn(1, n, len(levels))
    ours, ref = C.FSQ(list(levels), bound="tanh"), RefFSQ(list(levels))
    with torch.no_grad():
        t_ours = _best(lambda: ours(z), 5)
        t_ref = _best(lambda: ref(z), 5)
    return [_row(f"FSQ quantise {list(levels)}, {n} vectors", t_ours, t_ref)]


def bench_rotation_trick(n: int = 16384, d: int = 64) -> list[dict]:
    """rotate_to forward + backward on (n, d) vs vector_quantize_pytorch's rotate_to."""
    from vector_quantize_pytorch.vector_quantize_pytorch import rotate_to as ref_rotate
    torch.set_num_threads(1)
    z0, q, g = torch.randn(n, d), torch.randn(n, d), torch.randn(n, d)

    def run(fn):
        z = z0.clone().requires_grad_(True)
        (fn(z, q) * g).sum().backward()

    t_ours = _best(lambda: run(C.rotate_to), 5)
    t_ref = _best(lambda: run(ref_rotate), 5)
    return [_row(f"rotation trick fwd+bwd, {n}x{d}", t_ours, t_ref)]


def bench_training(steps: int = 800) -> list[dict]:
    """Wall time of one chapter training run (800 Adam steps on the digits), per method."""
    torch.set_num_threads(1)
    rows = []
    for name, kw in [("FSQ [8,6,5]", dict(method="fsq")),
                     ("VQ STE, small init", dict(method="vq", init="small", grad="ste")),
                     ("VQ rotation, small init", dict(method="vq", init="small", grad="rotation"))]:
        t0 = time.perf_counter()
        C.train_digits_autoencoder(**kw, steps=steps, seed=0)
        rows.append(_row(f"digits training {steps} steps: {name}", time.perf_counter() - t0, None))
    return rows


BENCHES = [bench_fsq_quantise, bench_rotation_trick, bench_training]


if __name__ == "__main__":
    for bench in BENCHES:
        for r in bench():
            ratio = "" if r["ratio"] is None else f"  ratio {r['ratio']:.2f}"
            ref = "" if r["ref_s"] is None else f"  ref {r['ref_s'] * 1e3:.2f} ms"
            print(f"{r['name']}: ours {r['ours_s'] * 1e3:.2f} ms{ref}{ratio}")
