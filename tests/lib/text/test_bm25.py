"""Tests of kexue.text.bm25: parity with rank_bm25 and scikit-learn, invariants, bad input."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from rank_bm25 import BM25Okapi
from scipy.stats import spearmanr
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import ndcg_score

from kexue.text import bm25 as B

WORDS = list("abcdefgh")
corpora = st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12), min_size=2, max_size=9)


@pytest.fixture(scope="module")
def lee():
    return [B.tokenize(t) for t in B.load_lee("background")]


def test_tokenize_lowercases_and_splits_on_non_alphanumerics():
    assert B.tokenize("BM25, the Okapi-way: 1.5x!") == ["bm25", "the", "okapi", "way", "1", "5x"]


def test_lee_corpus_and_ratings_load():
    assert len(B.load_lee("background")) == 300 and len(B.load_lee("test")) == 50
    H = B.lee_similarity()
    assert H.shape == (50, 50) and np.allclose(H, H.T) and np.allclose(np.diag(H), 1)
    assert H[1, 0] == H[0, 1] == pytest.approx(0.3)


def test_scores_match_rank_bm25_on_lee(lee):
    ours, ref = B.BM25Index(lee), BM25Okapi(lee)
    assert ours.avgdl == pytest.approx(ref.avgdl, rel=1e-15)
    rng = np.random.default_rng(0)
    for i in rng.integers(0, len(lee), 15):
        q = list(rng.choice(lee[i], 6)) + ["zzznotaword"]
        np.testing.assert_allclose(ours.scores(q), ref.get_scores(q), rtol=1e-12, atol=1e-12)
        ids = [int(j) for j in rng.choice(len(lee), 20, replace=False)]
        np.testing.assert_allclose(ours.scores(q, ids), np.asarray(ref.get_batch_scores(q, ids)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.idf, [ref.idf[t] for t in ours.terms], rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(corpora, st.lists(st.sampled_from(WORDS + ["zz"]), max_size=5),
       st.floats(0.05, 3.0), st.floats(0.0, 1.0))
def test_scores_match_rank_bm25_property(docs, q, k1, b):
    np.testing.assert_allclose(B.BM25Index(docs, k1=k1, b=b).scores(q),
                               BM25Okapi(docs, k1=k1, b=b).get_scores(q), rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(corpora)
def test_batch_scores_equal_one_query_at_a_time(docs):
    idx = B.BM25Index(docs, idf="lucene")
    qs = [d[:3] for d in docs] + [[]]
    np.testing.assert_allclose(idx.batch_scores(qs), np.stack([idx.scores(q) for q in qs]), atol=1e-13)


def test_okapi_idf_quirk_zero_at_half_floor_above_half():
    docs = [["a", "b"], ["a", "c"], ["a", "b"], ["d"]]       # df: a 3, b 2, c 1, d 1, N = 4
    idf = dict(zip(B.BM25Index(docs).terms, B.BM25Index(docs).idf))
    ref = BM25Okapi(docs).idf
    assert idf["b"] == 0.0 == ref["b"]                       # exactly half: idf 0, scores nothing
    assert idf["a"] > 0 and idf["a"] == pytest.approx(ref["a"])  # more than half: floored above 0
    assert idf["a"] > idf["b"]                                # non-monotone in df
    luc = B.bm25_idf(np.array([1.0, 2, 3]), 4, "lucene")
    assert (luc > 0).all() and (np.diff(luc) < 0).all()
    rsj = B.bm25_idf(np.array([1.0, 2, 3]), 4, "rsj")
    assert rsj[2] < 0 and rsj[1] == 0


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 500), st.data())
def test_lucene_idf_positive_and_decreasing(n, data):
    df = np.arange(1, n + 1, dtype=float)
    idf = B.bm25_idf(df, n, "lucene")
    assert (idf > 0).all() and (np.diff(idf) < 0).all()


def test_k1_zero_is_sum_of_idf_of_present_terms_and_b_zero_ignores_length():
    docs = [["a", "a", "a", "b"], ["a", "c", "c", "c", "c", "c", "c"], ["b", "d"], ["d"]]
    idx = B.BM25Index(docs, k1=0.0, idf="lucene")
    present = np.array([[1, 1], [1, 0], [0, 1], [0, 0]])
    np.testing.assert_allclose(idx.scores(["a", "b"]), present @ idx.idf[[idx.vocab["a"], idx.vocab["b"]]])
    flat = B.BM25Index(docs, b=0.0, idf="lucene")
    s = flat.scores(["a"])
    assert s[0] > s[1]                                        # tf 3 vs 1, length ignored
    longer = B.BM25Index([docs[0], docs[1] + ["e"] * 50, docs[2], docs[3]], b=0.0, idf="lucene")
    assert longer.scores(["a"])[1] == pytest.approx(s[1])      # b = 0: length does not matter
    normal = B.BM25Index([docs[0], docs[1] + ["e"] * 50, docs[2], docs[3]], idf="lucene")
    assert normal.scores(["a"])[1] < B.BM25Index(docs, idf="lucene").scores(["a"])[1]


def test_search_related_contributions(lee):
    idx = B.BM25Index(lee)
    q = ["fire", "sydney", "bushfires"]
    hits = idx.search(q, 5)
    s = idx.scores(q)
    assert [h[0] for h in hits] == list(np.lexsort((np.arange(len(s)), -s))[:5])
    assert sum(idx.contributions(q, hits[0][0]).values()) == pytest.approx(hits[0][1])
    rel = B.related(idx, q, hits[0][0], 4)
    assert hits[0][0] not in [r[0] for r in rel] and [r[0] for r in rel] == [h[0] for h in hits[1:5]]
    sub = idx.search(q, 3, ids=[5, 7, 9, 11])
    assert {h[0] for h in sub} <= {5, 7, 9, 11}


def test_tfidf_matches_sklearn():
    docs = [B.tokenize(t) for t in B.load_lee("test")]
    fit = [B.tokenize(t) for t in B.load_lee("background")] + docs
    x, terms = B.tfidf_matrix(docs, fit)
    vec = TfidfVectorizer(analyzer=lambda d: d).fit(fit)
    ref = vec.transform(docs)
    col = {t: j for j, t in enumerate(terms)}
    order = [col[t] for t in vec.get_feature_names_out()]
    np.testing.assert_allclose(x[:, order].toarray(), ref.toarray(), atol=1e-12)
    kw = B.tfidf_keywords(docs, 5, fit)
    pairs = B.tfidf_keyword_weights(docs, 5, fit)
    assert [t for t, _ in pairs[0]] == kw[0]
    assert [v for _, v in pairs[0]] == pytest.approx(sorted(ref.getrow(0).toarray().ravel())[::-1][:5], abs=1e-12)
    row = ref.getrow(0).toarray().ravel()
    top = set(vec.get_feature_names_out()[np.argsort(-row)[:5]])
    assert set(kw[0]) == top


def test_tfidf_keywords_skip_stopwords_and_break_ties_alphabetically():
    docs = [["the", "zeta", "alpha"], ["the", "beta"]]
    assert B.tfidf_keywords(docs, 2) == [["alpha", "zeta"], ["beta", "the"]]
    assert B.tfidf_keywords(docs, 2, stopwords={"the"})[1] == ["beta"]


def test_word_cloud_and_preference_rank():
    kw = [["a", "b"], ["a", "c"], ["d"]]
    assert B.word_cloud(kw, [0, 1], 3) == [("a", 2), ("b", 1), ("c", 1)]
    w = [[0.5, 0.1], [0.5, 0.3], [1.0]]
    assert B.word_cloud(kw, [0, 1], 3, weights=w) == [("a", 2), ("c", 1), ("b", 1)]   # c outweighs b
    with pytest.raises(ValueError, match="weights"):
        B.word_cloud(kw, [0], 2, weights=[[1.0]])
    idx = B.BM25Index([["x"], ["a", "a", "y"], ["a", "z", "z", "z"], ["q"]], idf="lucene")
    assert list(B.preference_rank(idx, ["a"], [0, 2, 1, 3])) == [1, 2, 0, 3]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=12).filter(lambda r: max(r) > 0), st.data())
def test_ndcg_matches_sklearn(rel, data):
    rel = np.array(rel)
    k = data.draw(st.integers(1, rel.size))
    perm = np.array(data.draw(st.permutations(range(rel.size))))
    scores = np.empty(rel.size)
    scores[perm] = np.arange(rel.size, 0, -1)                   # rank perm[0] first
    if np.unique(rel).size == rel.size or True:
        ours = B.ndcg_at_k(rel[perm], k)
        ref = ndcg_score(rel[None], scores[None], k=k)
        assert ours == pytest.approx(ref, abs=1e-12)
    assert B.ndcg_at_k(np.sort(rel)[::-1], k) == pytest.approx(1.0)


def test_spearman_by_row_matches_scipy_and_constant_rows_get_zero():
    rng = np.random.default_rng(1)
    s, h = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    off = ~np.eye(6, dtype=bool)
    ref = [spearmanr(s[i, off[i]], h[i, off[i]]).statistic for i in range(6)]
    np.testing.assert_allclose(B.spearman_by_row(s, h), ref, atol=1e-14)
    s[2] = 1.0
    assert B.spearman_by_row(s, h)[2] == 0.0


def test_bad_input():
    docs = [["a"], ["b"]]
    with pytest.raises(ValueError, match="text"):
        B.tokenize(["a"])
    with pytest.raises(ValueError, match="split"):
        B.load_lee("train")
    with pytest.raises(ValueError, match="variant"):
        B.bm25_idf(np.array([1.0]), 2, "bm42")
    with pytest.raises(ValueError, match="df"):
        B.bm25_idf(np.array([3.0]), 2)
    with pytest.raises(ValueError, match="docs"):
        B.BM25Index(["a bare string", "another"])
    with pytest.raises(ValueError, match="docs"):
        B.BM25Index("abc")
    with pytest.raises(ValueError, match="k1"):
        B.BM25Index(docs, k1=-1)
    with pytest.raises(ValueError, match="b"):
        B.BM25Index(docs, b=1.5)
    with pytest.raises(ValueError, match="idf"):
        B.BM25Index(docs, idf="tfidf")
    idx = B.BM25Index(docs)
    with pytest.raises(ValueError, match="tokens"):
        idx.scores("a b")
    with pytest.raises(ValueError, match="ids"):
        idx.scores(["a"], [5])
    with pytest.raises(ValueError, match="queries"):
        idx.batch_scores("ab")
    with pytest.raises(ValueError, match="top_k"):
        idx.search(["a"], 0)
    with pytest.raises(ValueError, match="exclude"):
        idx.search(["a"], 1, exclude=[7])
    with pytest.raises(ValueError, match="doc"):
        idx.contributions(["a"], 2)
    with pytest.raises(ValueError, match="docs"):
        B.tfidf_matrix([])
    with pytest.raises(ValueError, match="k"):
        B.tfidf_keywords(docs, 0)
    with pytest.raises(ValueError, match="k"):
        B.tfidf_keyword_weights(docs, 0)
    with pytest.raises(ValueError, match="doc_id"):
        B.related(idx, ["a"], 9)
    with pytest.raises(ValueError, match="clicked"):
        B.word_cloud([["a"]], [3])
    with pytest.raises(ValueError, match="candidates"):
        B.preference_rank(idx, ["a"], [0, 0])
    with pytest.raises(ValueError, match="relevance"):
        B.ndcg_at_k([-1.0, 1.0], 1)
    with pytest.raises(ValueError, match="k"):
        B.ndcg_at_k([1.0, 0.5], 3)
    with pytest.raises(ValueError, match="scores"):
        B.spearman_by_row(np.zeros((3, 4)), np.zeros((3, 4)))
    assert (idx.scores([]) == 0).all()                        # an empty query scores zero


def test_word_cloud_refuses_malformed_keywords_and_clicks():
    kw = [["cat", "dog"], ["dog", "log"]]
    assert B.word_cloud(kw, [0, 1], top=1) == [("dog", 2)]
    for bad in ([], 1.5, None):
        with pytest.raises(ValueError, match="keywords"):
            B.word_cloud(bad, [0], top=2)
    for bad in (0, None, [2], [[0]]):
        with pytest.raises(ValueError, match="clicked"):
            B.word_cloud(kw, bad, top=2)
