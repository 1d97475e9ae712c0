"""Timing helpers shared by the per-part benchmark scripts (bench_matrices.py, bench_text.py)."""
from __future__ import annotations

import statistics
import time


def interleaved(ours, ref, rounds: int) -> tuple[list[float], list[float]]:
    """Time ours() and ref() alternately (who goes first alternates too); one warm-up each."""
    ours()
    ref()
    t_ours, t_ref = [], []
    for k in range(rounds):
        pair = ((ours, t_ours), (ref, t_ref)) if k % 2 == 0 else ((ref, t_ref), (ours, t_ours))
        for fn, acc in pair:
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    return t_ours, t_ref


def row(name: str, t_ours: list[float], t_ref: list[float], **extra) -> dict:
    """Median seconds of both sides, their ratio (ours / reference) and relative spreads.

    The ratio is the median over rounds of ours/reference within a round: the two calls of a
    round run back to back, so a burst of load from elsewhere slows both and cancels."""
    mo, mr = statistics.median(t_ours), statistics.median(t_ref)
    ratio = statistics.median(o / r for o, r in zip(t_ours, t_ref))
    return {"name": name, "ours_s": mo, "ref_s": mr, "ratio": ratio,
            "spread_ours": (max(t_ours) - min(t_ours)) / mo, "spread_ref": (max(t_ref) - min(t_ref)) / mr,
            "rounds": len(t_ours), **extra}
