"""Benchmarks of the Matrices part, low-rank chapters (low-rank-cr, low-rank-id).

``run()`` returns rows ``{"name", "ours_s", "ref_s", "ratio", ...}`` (seconds per call: the median
over interleaved rounds, ours and the reference alternating which goes first; ``ratio`` = ours /
reference, < 1 means ours is faster; ``spread`` = (max - min) / median of ours and of the
reference over the rounds; ``err_ratio`` = our approximation error / the reference's). One BLAS
thread on both sides, inputs built outside the timers.

* ID by pivoted QR, rank 50, on a 2000 x 2000 rank-50 matrix plus noise: kexue's
  ``id_cpqr`` (truncated pivoted Gram-Schmidt, numpy) against
  ``scipy.linalg.interpolative.interp_decomp(A, 50, rand=False)``; plus kexue's randomised rules
  (Gaussian sketch d = 2r, column sampling k = 3r) against ``interp_decomp(..., rand=True)``
  (which in SciPy 1.15-1.18 falls back to the deterministic routine for a fixed rank).
* CR sampled matrix product (p proportional to ||x_i|| ||y_i||) against the full ``X @ Y``, for
  several r: time and relative Frobenius error, the error-versus-cost curve of the chapter.

Run alone with ``python scripts/bench_matrices.py`` (``--quick`` for a small smoke test).
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg.interpolative as sli
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import interleaved as _interleaved, row as _row  # noqa: E402

from kexue.matrices import interpolative as ID
from kexue.matrices import lowrank_cr as CR


def low_rank_plus_noise(n: int, rank: int, noise: float = 1e-3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, rank)) @ rng.normal(size=(rank, n)) / np.sqrt(rank) + noise * rng.normal(size=(n, n))


def bench_id(n: int = 2000, rank: int = 50, rounds: int = 5) -> list[dict]:
    A = low_rank_plus_noise(n, rank)
    floor = CR.svd_floor(A, rank) if n <= 2000 else float("nan")
    rows = []
    ours = lambda: ID.id_cpqr(A, rank)
    ref = lambda: sli.interp_decomp(A, rank, rand=False)
    t_o, t_r = _interleaved(ours, ref, rounds)
    idx_o, _ = ours()
    idx_r, _ = ref()
    e_o, e_r = ID.id_error(A, idx_o), ID.id_error(A, idx_r[:rank])
    rows.append(_row(f"ID pivoted QR, {n}x{n} rank {rank} + noise, r = {rank}", t_o, t_r,
                     err_ratio=e_o / e_r, err_over_svd=e_o / floor, same_indices=bool(np.array_equal(idx_o, idx_r[:rank]))))
    g = np.random.default_rng(0)
    ref_rand = lambda: sli.interp_decomp(A, rank, rand=True, rng=g)
    for name, fn in (("Gaussian sketch d = 2r", lambda: ID.id_random_projection(A, rank, 2 * rank, seed=g)),
                     ("column sampling k = 3r", lambda: ID.id_column_sampling(A, rank, 3 * rank, seed=g))):
        t_o, t_r = _interleaved(fn, ref_rand, rounds)
        e_o = ID.id_error(A, fn()[0])
        e_r = ID.id_error(A, ref_rand()[0][:rank])
        rows.append(_row(f"ID randomised, {name} vs SciPy rand=True, {n}x{n}, r = {rank}", t_o, t_r,
                         err_ratio=e_o / e_r, err_over_svd=e_o / floor))
    return rows


def bench_cr(n: int = 1000, l: int = 8000, m: int = 1000, ranks=(100, 400, 1600), rounds: int = 5) -> list[dict]:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, l)) * np.exp(rng.normal(size=l))      # unequal column scales
    Y = rng.normal(size=(l, m))
    full = X @ Y
    ref_norm = float(np.linalg.norm(full))
    p = CR.cr_sampling_probs(X, Y, "optimal")
    rows = []
    for r in ranks:
        g = np.random.default_rng(r)
        ours = lambda: CR.cr_sampled_product(X, Y, r, p, g)
        ref = lambda: X @ Y
        t_o, t_r = _interleaved(ours, ref, rounds)
        errs = [float(np.linalg.norm(CR.cr_sampled_product(X, Y, r, p, g) - full)) / ref_norm for _ in range(3)]
        rows.append(_row(f"CR sampled product r = {r} of l = {l} ({n}x{l} @ {l}x{m}) vs numpy X @ Y", t_o, t_r,
                         rel_error=statistics.mean(errs),
                         expected_rel_error=float(np.sqrt(CR.cr_expected_sq_error(X, Y, p, r))) / ref_norm))
    return rows


def run(quick: bool = False) -> list[dict]:
    """All rows; quick=True is a small smoke test (seconds, not minutes)."""
    with threadpool_limits(1):
        if quick:
            return bench_id(n=300, rank=10, rounds=2) + bench_cr(n=100, l=800, m=100, ranks=(50,), rounds=2)
        return bench_id() + bench_cr()


BENCHMARKS = (run,)


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        extras = {k: (f"{v:.3g}" if isinstance(v, float) else v) for k, v in row.items()
                  if k not in ("name", "ours_s", "ref_s", "ratio")}
        print(f"{row['name']}: ours {row['ours_s'] * 1e3:.1f} ms, ref {row['ref_s'] * 1e3:.1f} ms, "
              f"ratio {row['ratio']:.2f}; {extras}")
