"""Tests of the word2vec-keywords explorer: frames match the library, every control matters."""
from __future__ import annotations

import numpy as np
import pytest

from kexue.explorers import word2vec_keywords as X
from kexue.text import bm25 as B
from kexue.text import word2vec as W2


@pytest.fixture(scope="module")
def ex():
    return X.keywords()


def test_factories_take_no_arguments():
    assert all(callable(f) for f in X.EXPLORERS)


def test_default_frame_matches_the_library(ex):
    fr = ex.update()
    model, test, tfidf, stop = X.lee_data()
    ranked = W2.keyword_scores(model, test[X.TEXTS[0]], stopwords=stop, mode="kept")
    left, right = fr["panels"]
    cand = [w for w, _ in ranked[:X.N_CAND]]
    assert left["xticks"][1] == [X.short(w) for w in cand]
    rows = [r.split(" (")[0] for r in fr["text"].split(" | ")[0][len("rows: "):].split(", ")]
    M = W2.hs_log_prob_matrix(model, cand, rows).T
    np.testing.assert_allclose(left["heatmap"]["z"], M, rtol=1e-3)
    # the rows are the most frequent in-vocabulary tokens, with their counts
    counts = {w: test[X.TEXTS[0]].count(w) for w in rows}
    assert counts[rows[0]] == max(test[X.TEXTS[0]].count(w) for w in set(test[X.TEXTS[0]]) if w in model)
    np.testing.assert_allclose(right["series"][0]["y"], [v for _, v in tfidf[X.TEXTS[0]]], rtol=1e-3)
    background = [B.tokenize(t) for t in B.load_lee("background")]
    assert tfidf[X.TEXTS[0]] == B.tfidf_keyword_weights(test, X.N_CAND, background + test, stopwords=stop)[X.TEXTS[0]]


def test_every_control_changes_the_frame(ex):
    base = ex.update()
    assert ex.update(text=X.TEXTS[3]) != base
    assert ex.update(stop="text") != base
    fr = ex.update(stop="candidates")
    _, _, _, stop = X.lee_data()
    assert not any(w in stop for w in fr["panels"][0]["xticks"][1])


def test_removed_stop_words_leave_the_rows(ex):
    fr = ex.update(text=X.TEXTS[1], stop="text")
    _, _, _, stop = X.lee_data()
    rows = [r.split(" (")[0] for r in fr["text"].split(" | ")[0][len("rows: "):].split(", ")]
    assert rows and not any(r in stop for r in rows)


def test_static_export_is_small(ex):
    assert ex.static().nbytes < 1_200_000
