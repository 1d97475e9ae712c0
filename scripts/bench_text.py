"""Benchmarks of the Text & search part (chapter bm25-search).

``run()`` returns rows ``{"name", "ours_s", "ref_s", "ratio", ...}`` (seconds per call: the median
over interleaved rounds, ours and the reference alternating which goes first; ``ratio`` = ours /
reference, < 1 means ours is faster; ``spread`` = (max - min) / median of ours and of the
reference over the rounds; ``same_rankings`` = every query's top-10 document ids equal). One
BLAS thread on both sides; indexes and queries are built outside the timers.

* BM25 scoring of 300 ten-keyword queries (the TF-IDF keywords of each Lee background text)
  against the 300 Lee background texts: kexue's sparse ``BM25Index.batch_scores`` (one sparse
  product) and ``BM25Index.scores`` in a loop, against ``rank_bm25.BM25Okapi.get_scores`` in a
  loop (the package has no batch call).
* Building the index: ``BM25Index(docs)`` against ``BM25Okapi(docs)``.

Run alone with ``python scripts/bench_text.py`` (``--quick`` for a small smoke test).
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
from rank_bm25 import BM25Okapi
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import interleaved as _interleaved, row as _row  # noqa: E402

from kexue.text import bm25 as B


def _top10(scores: np.ndarray) -> np.ndarray:
    return np.argsort(-scores, kind="stable")[..., :10]


def run(rounds: int = 5, n_queries: int = 300) -> list[dict]:
    docs = [B.tokenize(t) for t in B.load_lee("background")]
    queries = B.tfidf_keywords(docs, 10)[:n_queries]
    ours, ref = B.BM25Index(docs), BM25Okapi(docs)
    rows = []
    with threadpool_limits(1):
        ours_batch = ours.batch_scores(queries)
        ref_all = np.stack([ref.get_scores(q) for q in queries])
        same = bool(np.array_equal(_top10(ours_batch), _top10(ref_all)))
        max_err = float(np.abs(ours_batch - ref_all).max())
        t_o, t_r = _interleaved(lambda: ours.batch_scores(queries),
                                lambda: [ref.get_scores(q) for q in queries], rounds)
        rows.append(_row(f"BM25 scores, {len(queries)} queries x {len(docs)} Lee texts: batch_scores vs rank_bm25",
                         t_o, t_r, same_rankings=same, max_abs_diff=max_err))
        t_o, t_r = _interleaved(lambda: [ours.scores(q) for q in queries],
                                lambda: [ref.get_scores(q) for q in queries], rounds)
        rows.append(_row(f"BM25 scores, {len(queries)} queries one at a time: scores vs rank_bm25",
                         t_o, t_r, same_rankings=same))
        t_o, t_r = _interleaved(lambda: B.BM25Index(docs), lambda: BM25Okapi(docs), rounds)
        rows.append(_row(f"BM25 index of {len(docs)} Lee texts: BM25Index vs BM25Okapi", t_o, t_r))
    return rows


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    for r in run(rounds=2 if quick else 5, n_queries=20 if quick else 300):
        print({k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()})
