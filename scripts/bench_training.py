"""Benchmarks of the Training part: one Muon step, ours against torch.optim.Muon.

``run(quick=False)`` returns rows ``{"name", "ours_s", "ref_s", "ratio", ...}``: seconds per
optimiser step (median over interleaved rounds, which side goes first alternating; one torch
thread), ``ratio`` = ours / reference (< 1: ours is faster), and ``same`` = whether the updated
parameters are bit-for-bit equal (bfloat16 Newton-Schulz, as torch does) or the relative
Frobenius difference (float64 Newton-Schulz against torch's bfloat16).
"""
from __future__ import annotations

import statistics
import time

import torch

from kexue import training as T


def _pair(n: int, ns_dtype: str, rounds: int):
    torch.manual_seed(0)
    w0 = torch.randn(n, n, dtype=torch.float32)
    g = torch.randn(n, n, dtype=torch.float32)
    ours_p = torch.nn.Parameter(w0.clone())
    ref_p = torch.nn.Parameter(w0.clone())
    ours = T.MuonLite([ours_p], lr=0.02, weight_decay=0.1, ns_dtype=ns_dtype)
    ref = torch.optim.Muon([ref_p], lr=0.02, weight_decay=0.1)
    ours_p.grad, ref_p.grad = g.clone(), g.clone()
    t_ours, t_ref = [], []
    for k in range(rounds):
        order = [(ours, t_ours), (ref, t_ref)] if k % 2 == 0 else [(ref, t_ref), (ours, t_ours)]
        for opt, acc in order:
            t0 = time.perf_counter()
            opt.step()
            acc.append(time.perf_counter() - t0)
    return ours_p.detach(), ref_p.detach(), t_ours[1:], t_ref[1:]


def run(quick: bool = False) -> list[dict]:
    torch.set_num_threads(1)
    n, rounds = (256, 4) if quick else (1024, 8)
    rows = []
    for ns_dtype in ("bfloat16", "float64"):
        a, b, t_ours, t_ref = _pair(n, ns_dtype, rounds)
        o, r = statistics.median(t_ours), statistics.median(t_ref)
        same = bool(torch.equal(a, b)) if ns_dtype == "bfloat16" else float((a - b).norm() / b.norm())
        rows.append({"name": f"Muon step {n}x{n}, Newton-Schulz in {ns_dtype}", "ours_s": o, "ref_s": r,
                     "ratio": o / r, "same": same,
                     "spread": (max(t_ours) - min(t_ours)) / o if o else 0.0})
    return rows


if __name__ == "__main__":
    import sys
    for row in run(quick="--quick" in sys.argv):
        print(row)
