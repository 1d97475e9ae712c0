"""Keywords from a skip-gram model with hierarchical (Huffman) softmax (numpy, float64).

Chapter: word2vec-keywords (Su, 【不可思议的Word2Vec】 3.提取关键词, kexue.fm/archives/4316).
A keyword of a text s = (w_1, ..., w_n) is a word w of s that makes the text most likely,

    score(w) = log p(s | w) = sum_{k=1}^{n} log p(w_k | w)          (naive Bayes over the tokens)

with p(w_k | w) the skip-gram model's probability of seeing w_k in the window of w. Under
hierarchical softmax, p(o | w) is a product over the inner nodes on the Huffman path of o:

    log p(o | w) = sum_{nodes j on the path of o} log sigma((1 - 2 d_j) x_w . theta_j)

with x_w the input vector of w, theta_j the node's vector (gensim's ``syn1``) and d_j in {0, 1}
the code bit (gensim's convention: bit 0 means sigma(+z)). Everything here is numpy; the model is
trained once by gensim (float32) and evaluated in float64. Running this module as a script
(``python -m kexue.text.word2vec``) trains the committed models and runs on the Lee corpus.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from .._validate import (as_float_ndarray, as_int_array, check_choice, check_instance, check_int_in,
                         check_shape, check_values_in)
from ..datasets import DATA_DIR, load_run, save_run
from .bm25 import load_lee, tokenize

__all__ = [
    "HSModel", "node_log_prob", "naive_node_log_prob", "gensim_node_log_prob", "train_skipgram_hs", "hs_model_from_gensim",
    "save_hs_model", "load_hs_model", "lee_model", "lee_keyword_runs", "to_gensim", "hs_log_prob_matrix",
    "vocab_log_probs", "hs_cross_entropy", "keyword_scores", "keywords", "english_stopwords", "window_pairs",
    "STOP_MODES", "LEE_SETTINGS", "LEE_SEEDS",
]

#: How stop words are handled: "kept" (the post's method), "candidates" (stop words may not be
#: keywords but are still predicted), "text" (removed from the text before anything else).
STOP_MODES = ("kept", "candidates", "text")

#: The committed runs (see :func:`lee_keyword_runs`): name -> (training texts, vector_size, epochs).
LEE_SETTINGS = {"background-10": ("background", 32, 10), "background-30": ("background", 32, 30),
                "all-10": ("all", 32, 10)}
LEE_SEEDS = (1, 2, 3, 4, 5)
#: The model committed with its vectors (the first seed of the first setting).
LEE_MODEL_FILE = DATA_DIR / "word2vec_lee.npz"
LEE_RUNS = "word2vec_lee_runs"


@dataclass(frozen=True)
class HSModel:
    """The parameters of a skip-gram model with hierarchical softmax, as float64 arrays.

    words (V,) vocabulary in gensim's order; counts (V,); codes, points (V, L) the Huffman code
    bits and inner-node rows of every word, padded, with lengths (V,); syn1 (V, d) the inner
    node vectors (V-1 nodes; gensim allocates one row more, unused); vectors (V, d) the input vectors, with has_vector (V,) False for rows that were
    not kept (a reduced model stores input vectors only for the words it needs).
    """
    words: tuple
    counts: np.ndarray
    codes: np.ndarray
    points: np.ndarray
    lengths: np.ndarray
    syn1: np.ndarray
    vectors: np.ndarray
    has_vector: np.ndarray

    def __post_init__(self) -> None:
        check_instance(self.words, (tuple, list), name="words")
        if not self.words or not all(isinstance(w, str) for w in self.words):
            raise ValueError(f"words must be a non-empty sequence of strings, got {self.words!r:.60}")
        V = len(self.words)
        for name in ("counts", "lengths"):
            check_shape(as_int_array(getattr(self, name), name=name)[0], (V,), name=name)
        codes, points = (as_int_array(getattr(self, n), name=n)[0] for n in ("codes", "points"))
        check_shape(codes, (V, None), name="codes")
        if codes.shape[1] == 0:
            raise ValueError("codes must have at least one column (the longest Huffman code)")
        check_shape(points, codes.shape, name="points")
        syn1 = as_float_ndarray(self.syn1, name="syn1", min_ndim=2, max_ndim=2)
        vectors = as_float_ndarray(self.vectors, name="vectors", min_ndim=2, max_ndim=2)
        check_shape(vectors, (V, syn1.shape[1]), name="vectors")
        check_values_in(self.counts, 0, np.inf, name="counts")
        check_values_in(self.lengths, 0, codes.shape[1], name="lengths")
        check_values_in(codes, 0, 1, name="codes")                       # code bits
        check_values_in(points, 0, syn1.shape[0] - 1, name="points")     # rows of syn1
        has = np.asarray(self.has_vector)
        if has.dtype != np.bool_:
            raise ValueError(f"has_vector must be a boolean array, got dtype {has.dtype}")
        check_shape(has, (V,), name="has_vector")

    @cached_property
    def index(self) -> dict:
        return {w: i for i, w in enumerate(self.words)}

    def __contains__(self, word: str) -> bool:
        return word in self.index


def _broadcastable(*shapes) -> bool:
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        return False
    return True


def _node_args(z, d) -> tuple[np.ndarray, np.ndarray]:
    """The node factors' arguments: real z, code bits d in {0, 1} that broadcast with z."""
    z = as_float_ndarray(z, name="z", min_ndim=0)
    d = np.asarray(d)
    if not np.isin(d, (0, 1)).all():
        raise ValueError("d must contain only code bits 0 and 1")
    if not _broadcastable(z.shape, d.shape):
        raise ValueError(f"d must broadcast with z, got shapes {d.shape} and {z.shape}")
    return z, d


def node_log_prob(z, d) -> np.ndarray:
    """log of one inner node's factor, sigma(z)^(1-d) (1 - sigma(z))^d, written stably as

        -log(1 + e^{-z}) - d z = -log(1 + e^{-(-1)^d z})        (both lines of the post)

    z: dot products x . theta, d: code bits (0 or 1), broadcast together. numpy, float64."""
    z, d = _node_args(z, d)
    return -np.logaddexp(0.0, -np.where(d == 1, -z, z))


def gensim_node_log_prob(z, d) -> np.ndarray:
    """The factor as gensim's ``score`` evaluates it (and word2vec.c before it): f = (1 - 2d) z,
    nodes with |f| >= 6 skipped (counted as log 1 = 0), the others read from a table,
    LOG_TABLE[int((f + 6) * 83)] with LOG_TABLE[i] = log sigma((2 i / 1000 - 1) 6); the 83 is the
    C integer division 1000 / 6 / 2. An approximation, emulated in float64 to compare with."""
    z, d = _node_args(z, d)
    f = np.where(d == 1, -z, z)
    inside = np.abs(f) < 6
    idx = np.floor((np.where(inside, f, 0.0) + 6) * 83)
    grid = (2 * idx / 1000 - 1) * 6
    return np.where(inside, -np.logaddexp(0.0, -grid), 0.0)


def naive_node_log_prob(z, d) -> np.ndarray:
    """The same factor computed as written first, log(sigma^(1-d) (1-sigma)^d) (unstable: for
    |z| beyond about 37 the sigmoid rounds to 0 or 1 and the log gives -inf)."""
    z, d = _node_args(z, d)
    s = 1.0 / (1.0 + np.exp(-z))
    with np.errstate(divide="ignore"):
        return np.log(s ** (1 - d) * (1 - s) ** d)


def _check_docs(docs) -> list[list[str]]:
    if isinstance(docs, str) or not isinstance(docs, Sequence) or len(docs) == 0:
        raise ValueError("docs must be a non-empty list of token lists")
    if not all(isinstance(d, (list, tuple)) and all(isinstance(t, str) for t in d) for d in docs):
        raise ValueError("docs must hold lists of str tokens")
    return [list(d) for d in docs]


def _check_tokens(tokens, *, name: str = "tokens") -> list[str]:
    if isinstance(tokens, str) or not isinstance(tokens, (list, tuple)) or not all(isinstance(t, str) for t in tokens):
        raise ValueError(f"{name} must be a list of str tokens (tokenize a string first)")
    return list(tokens)


def train_skipgram_hs(docs, *, vector_size: int = 32, window: int = 5, min_count: int = 2,
                      epochs: int = 10, seed: int = 1):
    """A gensim Word2Vec, skip-gram (sg=1) with hierarchical softmax (hs=1, negative=0), trained
    with one worker so that a seed fixes the result on a given CPU (float32 BLAS kernels differ
    between CPUs, so another machine may land a little elsewhere)."""
    from gensim.models import Word2Vec
    docs = _check_docs(docs)
    vector_size = check_int_in(vector_size, 2, 1024, name="vector_size")
    window = check_int_in(window, 1, 100, name="window")
    min_count = check_int_in(min_count, 1, None, name="min_count")
    epochs = check_int_in(epochs, 1, 1000, name="epochs")
    seed = check_int_in(seed, 0, 2**31 - 1, name="seed")
    return Word2Vec(docs, sg=1, hs=1, negative=0, vector_size=vector_size, window=window,
                    min_count=min_count, epochs=epochs, seed=seed, workers=1)


def hs_model_from_gensim(model, keep: Sequence[str] | None = None) -> HSModel:
    """The parameters of a gensim skip-gram/hierarchical-softmax model as an :class:`HSModel`;
    `keep` (optional) limits the input vectors stored to those words."""
    if not getattr(model, "hs", 0) or getattr(model, "negative", 0) or not getattr(model, "sg", 0):
        raise ValueError("model must be a skip-gram model with hierarchical softmax (sg=1, hs=1, negative=0)")
    wv = model.wv
    words = tuple(wv.index_to_key)
    codes = [np.asarray(wv.get_vecattr(w, "code")) for w in words]
    points = [np.asarray(wv.get_vecattr(w, "point")) for w in words]
    lengths = np.array([len(c) for c in codes])
    L = int(lengths.max())
    C = np.zeros((len(words), L), dtype=np.int8)
    P = np.zeros((len(words), L), dtype=np.int64)
    for i, (c, p) in enumerate(zip(codes, points)):
        C[i, :len(c)], P[i, :len(p)] = c, p
    has = np.ones(len(words), dtype=bool)
    if keep is not None:
        kept = set(_check_tokens(list(keep), name="keep"))
        has = np.array([w in kept for w in words])
    vectors = np.where(has[:, None], wv.vectors.astype(np.float64), 0.0)
    counts = np.array([wv.get_vecattr(w, "count") for w in words], dtype=np.int64)
    return HSModel(words, counts, C, P, lengths, model.syn1.astype(np.float64), vectors, has)


def save_hs_model(model: HSModel, path: Path) -> Path:
    """Write the model compactly (float32 vectors, only the kept input rows) as an .npz."""
    check_instance(model, HSModel, name="model")
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path must be a file path, got {path!r}")
    path = Path(path)
    rows = np.flatnonzero(model.has_vector)
    np.savez_compressed(path, words=np.array(model.words), counts=model.counts,
                        codes=model.codes, points=model.points.astype(np.int32), lengths=model.lengths,
                        syn1=model.syn1.astype(np.float32), rows=rows,
                        vectors=model.vectors[rows].astype(np.float32))
    return path


def load_hs_model(path: Path) -> HSModel:
    """Read a model written by :func:`save_hs_model`; the arrays become float64."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path must be a file path, got {path!r}")
    path = Path(path)
    if not path.exists():
        raise ValueError(f"path {path} does not exist")
    with np.load(path) as f:
        words = tuple(str(w) for w in f["words"])
        rows = f["rows"]
        d = f["syn1"].shape[1]
        vectors = np.zeros((len(words), d))
        vectors[rows] = f["vectors"].astype(np.float64)
        has = np.zeros(len(words), dtype=bool)
        has[rows] = True
        return HSModel(words, f["counts"].astype(np.int64), f["codes"].astype(np.int8),
                       f["points"].astype(np.int64), f["lengths"].astype(np.int64),
                       f["syn1"].astype(np.float64), vectors, has)


def lee_model() -> HSModel:
    """The committed model: skip-gram + hierarchical softmax trained by gensim on the 300 Lee
    background texts (vector_size 32, window 5, min_count 2, 10 epochs, seed 1), with the input
    vectors of the words of the 50 Lee test texts."""
    return load_hs_model(LEE_MODEL_FILE)


def to_gensim(model: HSModel, docs, *, window: int = 5, min_count: int = 2):
    """A gensim Word2Vec with the vocabulary of `docs` (the texts the model was trained on) and the
    parameters of `model` (float32), e.g. to call gensim's own ``score``. Raises if the rebuilt
    vocabulary or Huffman tree differs from the model's."""
    check_instance(model, HSModel, name="model")
    from gensim.models import Word2Vec
    docs = _check_docs(docs)
    window = check_int_in(window, 1, 100, name="window")
    min_count = check_int_in(min_count, 1, None, name="min_count")
    g = Word2Vec(sg=1, hs=1, negative=0, vector_size=model.syn1.shape[1], window=window,
                 min_count=min_count, workers=1)
    g.build_vocab(docs)
    rebuilt = hs_model_from_gensim(g)
    if (rebuilt.words != model.words or not np.array_equal(rebuilt.codes, model.codes)
            or not np.array_equal(rebuilt.points, model.points)):
        raise ValueError("docs must be the texts the model was trained on (vocabulary or tree differs)")
    g.wv.vectors[:] = model.vectors.astype(np.float32)
    g.syn1[:] = model.syn1.astype(np.float32)
    return g


def _ids(model: HSModel, words, *, name: str, need_vector: bool) -> np.ndarray:
    words = _check_tokens(words, name=name)
    index = model.index
    missing = [w for w in words if w not in index]
    if missing:
        raise ValueError(f"{name} contains words outside the vocabulary: {missing[:5]}")
    ids = np.array([index[w] for w in words], dtype=np.int64)
    if need_vector and not model.has_vector[ids].all():
        raise ValueError(f"{name} contains words whose input vector the model does not store: "
                         f"{[w for w, i in zip(words, ids) if not model.has_vector[i]][:5]}")
    return ids


def hs_log_prob_matrix(model: HSModel, inputs: Sequence[str], outputs: Sequence[str],
                       node: str = "exact") -> np.ndarray:
    """M[i, k] = log p(outputs[k] | inputs[i]) under hierarchical softmax, (len(inputs), len(outputs)).

    z[i, k, j] = x_{inputs[i]} . theta_{point_j(outputs[k])};  M[i, k] = sum_j log sigma((1 - 2 d_j) z)
    numpy, float64; all paths are gathered at once (padded, masked). node="gensim" evaluates each
    factor as gensim's ``score`` does (:func:`gensim_node_log_prob`) instead of exactly."""
    check_instance(model, HSModel, name="model")
    check_choice(node, ["exact", "gensim"], name="node")
    a = _ids(model, inputs, name="inputs", need_vector=True)
    b = _ids(model, outputs, name="outputs", need_vector=False)
    X = model.vectors[a]                                         # (m, d)
    theta = model.syn1[model.points[b]]                          # (n, L, d)
    z = np.einsum("md,nld->mnl", X, theta)                       # (m, n, L)
    mask = np.arange(model.codes.shape[1])[None, :] < model.lengths[b][:, None]   # (n, L)
    logs = (node_log_prob if node == "exact" else gensim_node_log_prob)(z, model.codes[b][None, :, :])
    return np.where(mask[None], logs, 0.0).sum(-1)


def vocab_log_probs(model: HSModel, word: str) -> np.ndarray:
    """log p(o | word) for every word o of the vocabulary, (V,) (exp of it sums to 1)."""
    check_instance(model, HSModel, name="model")
    if not isinstance(word, str) or word not in model.index:
        raise ValueError(f"word must be a word of the model's vocabulary, got {word!r}")
    return hs_log_prob_matrix(model, [word], list(model.words))[0]


def hs_cross_entropy(model: HSModel, inputs: Sequence[str], q) -> np.ndarray:
    """H(q, p(. | w)) = -sum_o q(o) log p(o | w) for each input word w, (len(inputs),), in nats.

    Computed on the tree rather than over the vocabulary: every leaf o sends its mass q(o) through
    the nodes of its path, so with Q_j^b = the mass leaving node j by branch b,
        H = -sum_j [Q_j^0 log sigma(x . theta_j) + Q_j^1 log sigma(-x . theta_j)]
    one (m, d) x (d, V) product instead of a walk over V paths. q: (V,), >= 0, summing to 1."""
    check_instance(model, HSModel, name="model")
    q = as_float_ndarray(q, name="q")
    if q.shape != (len(model.words),) or (q < 0).any() or abs(q.sum() - 1) > 1e-9:
        raise ValueError(f"q must be a distribution over the {len(model.words)} words of the vocabulary")
    a = _ids(model, inputs, name="inputs", need_vector=True)
    mask = np.arange(model.codes.shape[1])[None, :] < model.lengths[:, None]          # (V, L)
    Q = np.zeros((model.syn1.shape[0], 2))
    np.add.at(Q, (model.points[mask], model.codes[mask].astype(np.int64)),
              np.broadcast_to(q[:, None], mask.shape)[mask])
    z = model.vectors[a] @ model.syn1.T                                                # (m, rows)
    return -(node_log_prob(z, 0) @ Q[:, 0] + node_log_prob(z, 1) @ Q[:, 1])


def english_stopwords() -> frozenset:
    """scikit-learn's English stop list plus single characters (the tokenizer's leftovers of
    "'s", "n't", initials)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
    return frozenset(ENGLISH_STOP_WORDS) | frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def keyword_scores(model: HSModel, tokens: Sequence[str], *, stopwords=(), mode: str = "kept",
                   self_term: bool = True) -> list[tuple[str, float]]:
    """Every distinct candidate w of the text with score(w) = sum_k log p(w_k | w), best first.

    Tokens outside the vocabulary are dropped (as in the post); repeats count; the sum runs over
    all kept tokens, the candidate's own occurrences included unless self_term=False. `mode`
    (see :data:`STOP_MODES`) says what happens to `stopwords`. Ties: alphabetical."""
    check_instance(model, HSModel, name="model")
    tokens = _check_tokens(tokens)
    check_choice(mode, list(STOP_MODES), name="mode")
    if stopwords is None or isinstance(stopwords, (str, int, float)):
        raise ValueError(f"stopwords must be a collection of words, got {stopwords!r}")
    stop = frozenset(stopwords)
    index = model.index
    kept = [t for t in tokens if t in index and not (mode == "text" and t in stop)]
    if not kept:
        raise ValueError("tokens must contain at least one word of the vocabulary (after stop words)")
    words, counts = np.unique(np.array(kept), return_counts=True)
    words = [str(w) for w in words]
    cand = [w for w in words if not (mode == "candidates" and w in stop)]
    if not cand:
        raise ValueError("tokens must contain at least one candidate that is not a stop word")
    M = hs_log_prob_matrix(model, cand, words)                   # (candidates, distinct tokens)
    if not self_term:
        col = {w: j for j, w in enumerate(words)}
        M[np.arange(len(cand)), [col[w] for w in cand]] = 0.0
    scores = M @ counts
    order = sorted(range(len(cand)), key=lambda i: (-scores[i], cand[i]))
    return [(cand[i], float(scores[i])) for i in order]


def keywords(model: HSModel, tokens: Sequence[str], k: int = 10, **kw) -> list[str]:
    """The k best keywords of a text (see :func:`keyword_scores`)."""
    check_instance(model, HSModel, name="model")
    k = check_int_in(k, 1, None, name="k")
    return [w for w, _ in keyword_scores(model, tokens, **kw)[:k]]


def window_pairs(docs, words: Sequence[str], window: int = 5) -> np.ndarray:
    """C[i, j] = how often words[j] occurs within `window` positions of words[i] in `docs`
    (symmetric, the word2vec window at its largest), (len(words), len(words)) int."""
    docs = _check_docs(docs)
    words = _check_tokens(words, name="words")
    window = check_int_in(window, 1, 100, name="window")
    col = {w: j for j, w in enumerate(words)}
    C = np.zeros((len(words), len(words)), dtype=np.int64)
    for d in docs:
        ids = [col.get(t, -1) for t in d]
        for p, i in enumerate(ids):
            if i < 0:
                continue
            for q in range(max(0, p - window), min(len(d), p + window + 1)):
                if q != p and ids[q] >= 0:
                    C[i, ids[q]] += 1
    return C


def lee_keyword_runs(settings=None, seeds=None, k: int = 10, progress: bool = True) -> dict:
    """Train one model per (setting, seed) of :data:`LEE_SETTINGS` x :data:`LEE_SEEDS` and return
    the top-k keywords of the 50 Lee test texts under each stop mode:
    {setting: {str(seed): {mode: [[k words] x 50]}}}. About a minute per setting on one core."""
    from tqdm.auto import tqdm
    settings = list(LEE_SETTINGS) if settings is None else list(settings)
    seeds = list(LEE_SEEDS) if seeds is None else list(seeds)
    for s in settings:
        check_choice(s, list(LEE_SETTINGS), name="settings")
    background = [tokenize(t) for t in load_lee("background")]
    test = [tokenize(t) for t in load_lee("test")]
    stop = english_stopwords()
    out: dict = {}
    jobs = [(s, seed) for s in settings for seed in seeds]
    for s, seed in tqdm(jobs, disable=not progress, desc="word2vec runs"):
        corpus, size, epochs = LEE_SETTINGS[s]
        g = train_skipgram_hs(background if corpus == "background" else background + test,
                              vector_size=size, epochs=epochs, seed=seed)
        m = hs_model_from_gensim(g)
        out.setdefault(s, {})[str(seed)] = {
            mode: [keywords(m, d, k, stopwords=stop, mode=mode) for d in test] for mode in STOP_MODES}
    return out


if __name__ == "__main__":   # pragma: no cover - the offline run that writes kexue/data
    _bg = [tokenize(t) for t in load_lee("background")]
    _test_words = sorted({t for d in load_lee("test") for t in tokenize(d)})
    _setting = LEE_SETTINGS["background-10"]
    _g = train_skipgram_hs(_bg, vector_size=_setting[1], epochs=_setting[2], seed=LEE_SEEDS[0])
    save_hs_model(hs_model_from_gensim(_g, keep=[w for w in _test_words if w in _g.wv.key_to_index]),
                  LEE_MODEL_FILE)
    save_run(LEE_RUNS, lee_keyword_runs())
    print("wrote", LEE_MODEL_FILE, "and", LEE_RUNS, load_run(LEE_RUNS).keys())
