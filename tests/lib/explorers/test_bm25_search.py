"""Tests of kexue.explorers.bm25_search: the frames carry the library's numbers."""
from __future__ import annotations

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from kexue.explorers import bm25_search as X
from kexue.text import bm25 as B


def test_reweighted_index_equals_a_fresh_one():
    docs = [list(d) for d in X.lee_background_tokens()]
    q = B.tokenize(X.QUERIES[1])
    np.testing.assert_allclose(X.lee_index(1.2, 0.5, "lucene").scores(q),
                               B.BM25Index(docs, k1=1.2, b=0.5, idf="lucene").scores(q), atol=1e-12)


@pytest.mark.parametrize("query", X.QUERIES[:2])
def test_search_frame_matches_rank_bm25(query):
    ex = X.search()
    fr = ex.update(query=query, k1=1.2, b=0.5, idf="okapi")
    ref = BM25Okapi([list(d) for d in X.lee_background_tokens()], k1=1.2, b=0.5)
    s = ref.get_scores(B.tokenize(query))
    top = np.argsort(-s, kind="stable")[:5]
    assert fr["text"] == "top texts: " + ", ".join(f"#{d} ({s[d]:.2f})" for d in top)
    tallest = fr["panels"][1]["series"][0]["y"]              # the cumulative bar = the whole score
    assert tallest == pytest.approx(s[np.argsort(-s, kind="stable")[:8]].tolist(), rel=1e-3)


def test_saturation_curves_follow_the_formula():
    fr = X.search().update(k1=2.0, b=1.0)
    avg = fr["panels"][0]["series"][1]                       # |D| = avgdl
    f = np.array(avg["x"])
    assert avg["y"] == pytest.approx((f * 3 / (f + 2)).tolist(), rel=1e-3)
