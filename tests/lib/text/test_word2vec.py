"""Tests of kexue.text.word2vec: hierarchical-softmax probabilities against gensim and a direct
tree walk, normalisation, the keyword score's invariances, the committed Lee model and runs."""
from __future__ import annotations

import mpmath
import numpy as np
import pytest
from gensim.models.word2vec_inner import score_sentence_sg
from hypothesis import given, settings, strategies as st
from scipy.special import expit, log_expit

from kexue.datasets import load_run
from kexue.text import bm25 as B
from kexue.text import word2vec as W


@pytest.fixture(scope="module")
def small():
    """A small gensim model (40 Lee texts, 8 dimensions) and its float64 parameters."""
    docs = [B.tokenize(t) for t in B.load_lee("background")[:40]]
    g = W.train_skipgram_hs(docs, vector_size=8, epochs=3, seed=3)
    return docs, g, W.hs_model_from_gensim(g)


@pytest.fixture(scope="module")
def lee():
    return [B.tokenize(t) for t in B.load_lee("background")], [B.tokenize(t) for t in B.load_lee("test")]


def test_node_log_prob_matches_mpmath_on_both_bits():
    z = np.linspace(-40, 40, 161)
    for d in (0, 1):
        with mpmath.workdps(50):
            ref = [float(mpmath.log(mpmath.mpf(1) / (1 + mpmath.exp(-(1 - 2 * d) * mpmath.mpf(v))))) for v in z]
        np.testing.assert_allclose(W.node_log_prob(z, d), ref, rtol=1e-13, atol=1e-300)


def test_naive_node_log_prob_agrees_where_stable_and_breaks_beyond():
    z = np.linspace(-20, 20, 41)
    for d in (0, 1):   # 1 - sigma(z) cancels: relative accuracy degrades as e^{|z|} eps
        np.testing.assert_allclose(W.naive_node_log_prob(z, d), W.node_log_prob(z, d), rtol=1e-7, atol=1e-12)
    assert np.isneginf(W.naive_node_log_prob(np.array([40.0]), 1)).all()
    assert np.isfinite(W.node_log_prob(np.array([40.0]), 1)).all()


@settings(max_examples=60, deadline=None)
@given(st.floats(-30, 30), st.sampled_from([0, 1]))
def test_post_identity_for_one_node(z, d):
    # -log(1 + e^{-z}) - d z = -log(1 + e^{-(-1)^d z}) = log sigma((1 - 2d) z)
    first = -np.logaddexp(0, -z) - d * z
    assert W.node_log_prob(z, d) == pytest.approx(first, abs=1e-12)
    assert W.node_log_prob(z, d) == pytest.approx(log_expit((1 - 2 * d) * z), abs=1e-12)


def test_gensim_node_log_prob_is_the_table_lookup():
    z = np.array([0.0, 1.0, -2.5, 5.99, 6.0, -6.0, -7.0])
    got = W.gensim_node_log_prob(z, 0)
    assert got[4] == got[5] == got[6] == 0.0                      # skipped nodes
    assert got[0] == pytest.approx(np.log(expit((2 * np.floor(6 * 83) / 1000 - 1) * 6)))
    assert (got[:4] <= W.node_log_prob(z[:4], 0) + 1e-12).all()    # the table rounds down ...
    assert (np.abs(got[:4] - W.node_log_prob(z[:4], 0)) < 0.03).all()   # ... by less than a few steps


def test_log_prob_matrix_equals_a_direct_tree_walk(small):
    _, g, m = small
    words = g.wv.index_to_key[:7] + g.wv.index_to_key[-5:]
    M = W.hs_log_prob_matrix(m, words, words)
    for i, a in enumerate(words):
        x = g.wv[a].astype(np.float64)
        for k, o in enumerate(words):
            lp = 0.0
            for node, bit in zip(g.wv.get_vecattr(o, "point"), g.wv.get_vecattr(o, "code")):
                p_left = expit(x @ g.syn1[node].astype(np.float64))
                lp += np.log(p_left if bit == 0 else 1 - p_left)
            assert M[i, k] == pytest.approx(lp, abs=1e-10)


def test_gensim_score_equals_the_table_emulation_not_the_exact_value(small):
    _, g, m = small
    rng = np.random.default_rng(0)
    pairs = [list(rng.choice(g.wv.index_to_key, 2, replace=False)) for _ in range(200)]
    work = np.zeros(g.layer1_size, dtype=np.float32)
    ref = np.array([score_sentence_sg(g, p, work) for p in pairs])

    def both(a, b, node):
        M = W.hs_log_prob_matrix(m, [a, b], [a, b], node=node)
        return M[0, 1] + M[1, 0]
    emul = np.array([both(a, b, "gensim") for a, b in pairs])
    exact = np.array([both(a, b, "exact") for a, b in pairs])
    assert np.abs(emul - ref).max() < 1e-4
    assert np.abs(exact - ref).max() > 1e-3 and np.abs(exact - ref).max() < 1.0


def test_probabilities_sum_to_one_over_the_vocabulary(small):
    _, g, m = small
    for w in g.wv.index_to_key[:3] + g.wv.index_to_key[-3:]:
        assert np.exp(W.vocab_log_probs(m, w)).sum() == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.1, 5.0))
def test_normalisation_holds_for_any_parameters(seed, scale):
    """The tree makes p(. | w) a distribution whatever the vectors are."""
    docs = [["a", "b", "a", "c", "d", "a", "e", "b", "f", "g", "a", "c"]]
    g = W.train_skipgram_hs(docs, vector_size=4, min_count=1, epochs=1, seed=1)
    m = W.hs_model_from_gensim(g)
    rng = np.random.default_rng(seed)
    m2 = W.HSModel(m.words, m.counts, m.codes, m.points, m.lengths, scale * rng.standard_normal(m.syn1.shape),
                   scale * rng.standard_normal(m.vectors.shape), m.has_vector)
    for w in m.words:
        assert np.exp(W.vocab_log_probs(m2, w)).sum() == pytest.approx(1.0, abs=1e-12)


def test_keyword_scores_are_row_sums_over_the_tokens(small):
    docs, _, m = small
    text = [t for t in docs[0] if t in m][:25]
    M = W.hs_log_prob_matrix(m, sorted(set(text)), text)
    expected = dict(zip(sorted(set(text)), M.sum(1)))
    got = dict(W.keyword_scores(m, text + ["zzzz_not_a_word"]))
    assert set(got) == set(expected)
    for w in got:
        assert got[w] == pytest.approx(expected[w], abs=1e-10)
    ranked = W.keyword_scores(m, text)
    assert all(ranked[i][1] >= ranked[i + 1][1] for i in range(len(ranked) - 1))


def test_keyword_scores_bag_of_words_invariances(small):
    docs, _, m = small
    text = [t for t in docs[1] if t in m][:30]
    base = dict(W.keyword_scores(m, text))
    perm = dict(W.keyword_scores(m, list(np.random.default_rng(1).permutation(text))))
    twice = dict(W.keyword_scores(m, text + text))
    for w in base:
        assert perm[w] == pytest.approx(base[w], abs=1e-10)
        assert twice[w] == pytest.approx(2 * base[w], abs=1e-10)


def test_self_term_and_stop_modes(small):
    docs, _, m = small
    text = [t for t in docs[2] if t in m][:30]
    stop = W.english_stopwords()
    full, no_self = dict(W.keyword_scores(m, text)), dict(W.keyword_scores(m, text, self_term=False))
    for w in full:
        own = W.hs_log_prob_matrix(m, [w], [w])[0, 0] * text.count(w)
        assert no_self[w] == pytest.approx(full[w] - own, abs=1e-10)
    cand = dict(W.keyword_scores(m, text, stopwords=stop, mode="candidates"))
    assert not set(cand) & stop and all(cand[w] == pytest.approx(full[w]) for w in cand)
    nostop = [t for t in text if t not in stop]
    removed = dict(W.keyword_scores(m, text, stopwords=stop, mode="text"))
    assert removed == pytest.approx(dict(W.keyword_scores(m, nostop)))
    assert W.keywords(m, text, 3) == [w for w, _ in W.keyword_scores(m, text)[:3]]


def test_save_and_load_roundtrip(small, tmp_path):
    _, g, m = small
    keep = g.wv.index_to_key[:10]
    part = W.hs_model_from_gensim(g, keep=keep)
    back = W.load_hs_model(W.save_hs_model(part, tmp_path / "m.npz"))
    assert back.words == part.words and back.has_vector.sum() == 10
    np.testing.assert_array_equal(back.codes, part.codes)
    np.testing.assert_allclose(back.vectors[:10], m.vectors[:10], rtol=0, atol=0)   # float32 -> float64 exact
    np.testing.assert_allclose(W.hs_log_prob_matrix(back, keep, keep), W.hs_log_prob_matrix(m, keep, keep), atol=1e-12)
    with pytest.raises(ValueError, match="inputs"):
        W.hs_log_prob_matrix(back, [g.wv.index_to_key[-1]], keep)


def test_window_pairs_counts_by_brute_force():
    docs = [["a", "b", "c", "a", "d"], ["d", "a"]]
    C = W.window_pairs(docs, ["a", "b", "c", "d"], window=2)
    assert C[0, 1] == 2 and C[0, 3] == 2 and C[0, 0] == 0 and C[1, 3] == 0
    np.testing.assert_array_equal(C, C.T)


def test_to_gensim_rebuilds_the_tree_and_refuses_other_texts(small):
    docs, g, m = small
    g2 = W.to_gensim(m, docs)
    np.testing.assert_array_equal(g2.syn1, g.syn1)
    with pytest.raises(ValueError, match="docs"):
        W.to_gensim(m, docs[:20])


def test_committed_model_is_what_gensim_trains_here(lee):
    """Re-train with the committed settings; the vectors must be those committed (float32 BLAS
    kernels differ between CPUs, so allow a small drift), and a different seed must not pass."""
    background, _ = lee
    m = W.lee_model()
    setting = W.LEE_SETTINGS["background-10"]
    g = W.train_skipgram_hs(background, vector_size=setting[1], epochs=setting[2], seed=W.LEE_SEEDS[0])
    fresh = W.hs_model_from_gensim(g)
    assert fresh.words == m.words
    np.testing.assert_array_equal(fresh.codes, m.codes)

    def rel(a, b):
        return np.linalg.norm(a - b) / np.linalg.norm(b)
    rows = m.has_vector
    assert rel(fresh.vectors[rows], m.vectors[rows]) < 0.05 and rel(fresh.syn1, m.syn1) < 0.05
    other = W.hs_model_from_gensim(W.train_skipgram_hs(background, vector_size=setting[1], epochs=1, seed=99))
    assert rel(other.vectors[rows], m.vectors[rows]) > 0.5


def test_committed_runs_match_the_committed_model(lee):
    """The first seed of the committed runs is the committed model: its keywords agree."""
    _, test = lee
    runs = load_run(W.LEE_RUNS)
    assert set(runs) == set(W.LEE_SETTINGS)
    assert all(set(runs[s]) == {str(x) for x in W.LEE_SEEDS} for s in runs)
    m, stop = W.lee_model(), W.english_stopwords()
    stored = runs["background-10"][str(W.LEE_SEEDS[0])]
    for mode in W.STOP_MODES:
        ours = [W.keywords(m, d, 10, stopwords=stop, mode=mode) for d in test]
        overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ours, stored[mode])])
        assert overlap > 0.95, mode


def test_bad_inputs(small):
    docs, g, m = small
    with pytest.raises(ValueError, match="z"):
        W.node_log_prob([np.nan], 0)
    with pytest.raises(ValueError, match="d"):
        W.node_log_prob([1.0], 2)
    with pytest.raises(ValueError, match="d"):
        W.naive_node_log_prob([1.0], -1)
    with pytest.raises(ValueError, match="d"):
        W.gensim_node_log_prob([1.0], 3)
    with pytest.raises(ValueError, match="docs"):
        W.train_skipgram_hs("a text")
    with pytest.raises(ValueError, match="vector_size"):
        W.train_skipgram_hs(docs, vector_size=0)
    with pytest.raises(ValueError, match="epochs"):
        W.train_skipgram_hs(docs, epochs=0)
    from gensim.models import Word2Vec
    with pytest.raises(ValueError, match="model"):
        W.hs_model_from_gensim(Word2Vec(docs[:5], sg=1, hs=0, negative=5, vector_size=4, min_count=1, workers=1))
    with pytest.raises(ValueError, match="path"):
        W.load_hs_model("/nonexistent/model.npz")
    with pytest.raises(ValueError, match="outputs"):
        W.hs_log_prob_matrix(m, [m.words[0]], ["zzzz_not_a_word"])
    with pytest.raises(ValueError, match="node"):
        W.hs_log_prob_matrix(m, [m.words[0]], [m.words[0]], node="approx")
    with pytest.raises(ValueError, match="word"):
        W.vocab_log_probs(m, "zzzz_not_a_word")
    with pytest.raises(ValueError, match="tokens"):
        W.keyword_scores(m, "a bare string")
    with pytest.raises(ValueError, match="tokens"):
        W.keyword_scores(m, ["zzzz_not_a_word"])
    with pytest.raises(ValueError, match="mode"):
        W.keyword_scores(m, [m.words[0]], mode="drop")
    with pytest.raises(ValueError, match="tokens"):
        W.keyword_scores(m, ["the"], stopwords={"the"}, mode="candidates")
    with pytest.raises(ValueError, match="k"):
        W.keywords(m, [m.words[0]], 0)
    with pytest.raises(ValueError, match="window"):
        W.window_pairs(docs, ["a"], window=0)
    with pytest.raises(ValueError, match="words"):
        W.window_pairs(docs, "ab")
    with pytest.raises(ValueError, match="settings"):
        W.lee_keyword_runs(settings=["nope"], progress=False)
    assert "the" in W.english_stopwords() and "s" in W.english_stopwords()


def test_committed_runs_of_another_setting_are_reproduced(lee):
    """Re-train one stored run of the setting trained on all 350 texts and compare its keywords."""
    background, test = lee
    _, size, epochs = W.LEE_SETTINGS["all-10"]
    seed = W.LEE_SEEDS[1]
    m = W.hs_model_from_gensim(W.train_skipgram_hs(background + test, vector_size=size, epochs=epochs, seed=seed))
    stored = load_run(W.LEE_RUNS)["all-10"][str(seed)]["text"]
    stop = W.english_stopwords()
    ours = [W.keywords(m, d, 10, stopwords=stop, mode="text") for d in test]
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ours, stored)]) > 0.9


def test_cross_entropy_on_the_tree_equals_the_sum_over_the_vocabulary(small):
    _, g, m = small
    q = np.random.default_rng(0).dirichlet(np.ones(len(m.words)))
    words = g.wv.index_to_key[:4] + g.wv.index_to_key[-3:]
    brute = -(W.hs_log_prob_matrix(m, words, list(m.words)) @ q)
    np.testing.assert_allclose(W.hs_cross_entropy(m, words, q), brute, rtol=1e-12)
    with pytest.raises(ValueError, match="q"):
        W.hs_cross_entropy(m, words, q[:-1])
    with pytest.raises(ValueError, match="q"):
        W.hs_cross_entropy(m, words, 2 * q)


def test_hs_model_checks_its_fields(small):
    """HSModel refuses fields that do not fit together, naming the field."""
    m = small[2]
    fields = dict(words=m.words, counts=m.counts, codes=m.codes, points=m.points,
                  lengths=m.lengths, syn1=m.syn1, vectors=m.vectors, has_vector=m.has_vector)
    W.HSModel(**fields)
    bad = {"words": [(), None, ("a", 1)], "counts": [m.counts[:-1], -m.counts - 1, None],
           "codes": [m.codes + 2, m.codes[:, :0], m.codes[0]],
           "points": [m.points + m.syn1.shape[0], m.points[:, :-1]],
           "lengths": [m.lengths + m.codes.shape[1] + 1, "bad"],
           "syn1": [m.syn1[..., None], np.full_like(m.syn1, np.nan)],
           "vectors": [m.vectors[:, :-1], m.vectors[:-1]],
           "has_vector": [m.has_vector.astype(int), m.has_vector[:-1]]}
    for name, values in bad.items():
        for v in values:
            with pytest.raises(ValueError, match=name):
                W.HSModel(**{**fields, name: v})


def test_window_pairs_refuses_words_that_are_not_a_token_list():
    for bad in (1.5, None, "cat", ["cat", 1]):
        with pytest.raises(ValueError, match="words"):
            W.window_pairs([["a", "cat"]], bad)
