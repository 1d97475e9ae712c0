"""BM25 search, TF-IDF keywords, related documents and preference re-ranking (numpy/scipy).

Chapter: bm25-search (Su, "Cool Papers + 站内搜索"的一些新尝试, kexue.fm/archives/10311).
Everything is numpy and scipy.sparse; no gradients. An index stores the BM25 weight of every
(document, term) pair once, as a sparse matrix, so that scoring a query is one sparse
matrix-vector product and scoring many queries one sparse matrix product.

Data: gensim's bundled Lee corpus (300 background news texts, 50 test texts, and the 50 x 50
human similarity ratings of Lee, Pincombe & Welsh 2005), read from the installed package.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.stats import spearmanr

from .._validate import (check_choice, check_in_range, check_indices, check_instance, check_int_in,
                         check_nonnegative)

__all__ = [
    "tokenize", "load_lee", "lee_similarity", "bm25_idf", "BM25Index", "tfidf_matrix",
    "tfidf_keywords", "tfidf_keyword_weights", "related", "word_cloud", "preference_rank", "ndcg_at_k",
    "spearman_by_row", "IDF_VARIANTS",
]

#: idf variants: "okapi" (rank_bm25's BM25Okapi: RSJ weight, negatives floored), "rsj" (the
#: Robertson-Sparck Jones weight itself, can be negative), "lucene" (Lucene/tantivy: log(1 + .)).
IDF_VARIANTS = ("okapi", "rsj", "lucene")

_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    """Lower-case alphanumeric runs; no stemming, every other character a separator."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    return _TOKEN.findall(text.lower())


def _check_docs(docs, *, name: str = "docs") -> list[list[str]]:
    """A non-empty list of token lists (a bare string, which would iterate characters, is refused)."""
    if isinstance(docs, str) or not isinstance(docs, Sequence) or len(docs) == 0:
        raise ValueError(f"{name} must be a non-empty list of token lists")
    out = []
    for d in docs:
        if isinstance(d, str) or not isinstance(d, (list, tuple)) or not all(isinstance(t, str) for t in d):
            raise ValueError(f"{name} must hold lists of str tokens, got an entry of type {type(d).__name__}")
        out.append(list(d))
    return out


def _check_tokens(tokens, *, name: str) -> list[str]:
    if isinstance(tokens, str) or not isinstance(tokens, (list, tuple)) or not all(isinstance(t, str) for t in tokens):
        raise ValueError(f"{name} must be a list of str tokens (tokenize a string first)")
    return list(tokens)


def load_lee(split: str = "test") -> list[str]:
    """The Lee corpus texts: "background" (300 texts, ASCII) or "test" (50 texts, latin-1)."""
    from gensim.test.utils import datapath
    check_choice(split, ["background", "test"], name="split")
    fname, enc = ("lee_background.cor", "ascii") if split == "background" else ("lee.cor", "latin-1")
    lines = Path(datapath(fname)).read_text(encoding=enc).splitlines()
    return [ln.strip() for ln in lines if ln.strip()]


def lee_similarity() -> np.ndarray:
    """The 50 x 50 human similarity ratings of the Lee test texts, symmetrised (file: upper triangle)."""
    from gensim.test.utils import datapath
    m = np.loadtxt(datapath("similarities0-1.txt"))
    upper = np.triu(m)
    return upper + np.triu(m, 1).T


def _floats(x, name: str) -> np.ndarray:
    """np.asarray(x, float64), with a ValueError naming the parameter for non-numbers."""
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {x!r}") from None


def bm25_idf(df: np.ndarray, n_docs: int, variant: str = "okapi", epsilon: float = 0.25) -> np.ndarray:
    """Inverse document frequency of terms with document frequencies `df` among `n_docs` texts.

    rsj:    idf = log((N - n + 0.5) / (n + 0.5))                       (negative when n > N/2)
    okapi:  rsj, with every *negative* value replaced by epsilon * mean(rsj over the vocabulary)
            (rank_bm25.BM25Okapi: the mean includes the negative values; idf = 0 at n = N/2 stays)
    lucene: idf = log(1 + (N - n + 0.5) / (n + 0.5))                   (positive, decreasing in n)
    """
    check_choice(variant, list(IDF_VARIANTS), name="variant")
    check_nonnegative(epsilon, name="epsilon")
    n_docs = check_int_in(n_docs, 1, None, name="n_docs")
    df = _floats(df, "df")
    if df.ndim != 1 or df.size == 0 or not (df >= 1).all() or (df > n_docs).any():
        raise ValueError(f"df must be a non-empty 1-D array with entries in [1, {n_docs}]")
    ratio = (n_docs - df + 0.5) / (df + 0.5)
    if variant == "lucene":
        return np.log1p(ratio)
    rsj = np.log(n_docs - df + 0.5) - np.log(df + 0.5)     # the same two logs rank_bm25 takes
    if variant == "rsj":
        return rsj
    return np.where(rsj < 0, epsilon * rsj.mean(), rsj)


class BM25Index:
    """A BM25 index over tokenised documents, the weights held as a sparse (docs x terms) matrix.

    score(D, Q) = sum_{q in Q} idf(q) * f(q,D) (k1 + 1) / (f(q,D) + k1 (1 - b + b |D| / avgdl))

    Repeated query tokens count repeatedly (as in rank_bm25); unknown tokens score 0.
    Chapter: bm25-search.
    """

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75,
                 idf: str = "okapi", epsilon: float = 0.25):
        docs = _check_docs(docs)
        self.k1 = check_nonnegative(k1, name="k1")
        self.b = check_in_range(b, 0.0, 1.0, name="b")
        self.idf_variant = check_choice(idf, list(IDF_VARIANTS), name="idf")
        self.epsilon = check_nonnegative(epsilon, name="epsilon")
        vocab: dict[str, int] = {}
        rows, cols = [], []
        for i, d in enumerate(docs):
            for t in d:
                rows.append(i)
                cols.append(vocab.setdefault(t, len(vocab)))
        if not vocab:
            raise ValueError("docs must contain at least one token")
        self.vocab = vocab
        self.terms = np.array(sorted(vocab, key=vocab.get), dtype=object)
        n, v = len(docs), len(vocab)
        tf = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, v))
        tf.sum_duplicates()
        self.tf = tf                                             # (N, V) term counts f(q, D)
        self.n_docs = n
        self.doc_len = np.asarray(tf.sum(axis=1)).ravel()        # |D|
        self.avgdl = float(self.doc_len.mean())
        self.df = np.diff(tf.tocsc().indptr).astype(np.float64)  # documents containing each term
        self._weigh()

    def _weigh(self) -> None:
        n = self.n_docs
        self.idf = bm25_idf(self.df, n, self.idf_variant, self.epsilon)
        # per-entry weight idf(q) f (k1+1) / (f + k1 (1 - b + b |D|/avgdl)), on the stored entries only
        norm = self.k1 * (1 - self.b + self.b * self.doc_len / self.avgdl)   # (N,)
        w = self.tf.copy()
        f = w.data
        row_of = np.repeat(np.arange(n), np.diff(w.indptr))
        w.data = self.idf[w.indices] * f * (self.k1 + 1) / (f + norm[row_of])
        self.weights = w                                         # (N, V) BM25 weights

    def reweighted(self, k1: float = 1.5, b: float = 0.75, idf: str = "okapi",
                   epsilon: float = 0.25) -> "BM25Index":
        """The same documents under other parameters, without re-counting the tokens."""
        new = object.__new__(BM25Index)
        new.__dict__.update({key: self.__dict__[key] for key in
                             ("vocab", "terms", "tf", "n_docs", "doc_len", "avgdl", "df")})
        new.k1 = check_nonnegative(k1, name="k1")
        new.b = check_in_range(b, 0.0, 1.0, name="b")
        new.idf_variant = check_choice(idf, list(IDF_VARIANTS), name="idf")
        new.epsilon = check_nonnegative(epsilon, name="epsilon")
        new._weigh()
        return new

    def query_vector(self, tokens: Sequence[str]) -> np.ndarray:
        """Counts of the known query tokens over the vocabulary, (V,)."""
        tokens = _check_tokens(tokens, name="tokens")
        q = np.zeros(len(self.vocab))
        for t in tokens:
            j = self.vocab.get(t)
            if j is not None:
                q[j] += 1
        return q

    def query_matrix(self, queries: Sequence[Sequence[str]]) -> sp.csr_matrix:
        """Many queries at once: a sparse (n_queries, V) count matrix."""
        if isinstance(queries, str) or not isinstance(queries, Sequence):
            raise ValueError("queries must be a list of token lists")
        rows, cols = [], []
        for i, qt in enumerate(queries):
            for t in _check_tokens(qt, name="queries"):
                j = self.vocab.get(t)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
        m = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(queries), len(self.vocab)))
        m.sum_duplicates()
        return m

    def _ids(self, ids) -> np.ndarray | None:
        return None if ids is None else check_indices(ids, self.n_docs, name="ids", unique=False, min_len=0)

    def scores(self, tokens: Sequence[str], ids=None) -> np.ndarray:
        """BM25 score of every document (or of the documents `ids`, in that order), (N,) or (len(ids),)."""
        ids = self._ids(ids)
        w = self.weights if ids is None else self.weights[ids]
        return w @ self.query_vector(tokens)

    def batch_scores(self, queries: Sequence[Sequence[str]]) -> np.ndarray:
        """Scores of many queries against every document, (n_queries, N): one sparse product."""
        return np.asarray((self.query_matrix(queries) @ self.weights.T).todense())

    def search(self, tokens: Sequence[str], top_k: int = 10, ids=None, exclude=()) -> list[tuple[int, float]]:
        """The top_k (document id, score) pairs, best first; ties go to the smaller id.
        `ids` restricts the search to those documents; `exclude` drops some."""
        top_k = check_int_in(top_k, 1, None, name="top_k")
        cand = np.arange(self.n_docs) if ids is None else self._ids(ids)
        ex = check_indices(list(exclude), self.n_docs, name="exclude", unique=False, min_len=0)
        cand = cand[~np.isin(cand, ex)]
        s = self.scores(tokens, cand)
        order = np.lexsort((cand, -s))[:top_k]
        return [(int(cand[i]), float(s[i])) for i in order]

    def term_scores(self, tokens: Sequence[str], ids=None) -> tuple[list[str], np.ndarray]:
        """Each distinct known query term's share of each score: (terms, (len(ids) or N, n_terms));
        the rows add up to :meth:`scores`."""
        ids = self._ids(ids)
        q = self.query_vector(tokens)
        terms = [t for t in dict.fromkeys(tokens) if t in self.vocab]
        cols = [self.vocab[t] for t in terms]
        w = self.weights if ids is None else self.weights[ids]
        return terms, w[:, cols].toarray() * q[cols]

    def contributions(self, tokens: Sequence[str], doc: int) -> dict[str, float]:
        """Each distinct known query term's share of the score of document `doc` (they add up to it)."""
        doc = check_int_in(doc, 0, self.n_docs - 1, name="doc")
        terms, m = self.term_scores(tokens, [doc])
        return {t: float(v) for t, v in zip(terms, m[0])}


def tfidf_matrix(docs: Sequence[Sequence[str]], fit_docs: Sequence[Sequence[str]] | None = None
                 ) -> tuple[sp.csr_matrix, np.ndarray]:
    """TF-IDF rows of `docs` (l2-normalised) with the idf learned on `fit_docs` (default: docs).

    idf(t) = ln((1 + N) / (1 + df(t))) + 1   (scikit-learn's smooth_idf=True convention)
    x_{d,t} = tf(t, d) idf(t) / || tf(., d) idf ||_2
    Returns (matrix (len(docs), V), vocabulary terms (V,)); V holds the terms of fit_docs and docs.
    """
    docs = _check_docs(docs)
    fit = docs if fit_docs is None else _check_docs(fit_docs, name="fit_docs")
    vocab: dict[str, int] = {}
    for d in list(fit) + list(docs):
        for t in d:
            vocab.setdefault(t, len(vocab))
    if not vocab:
        raise ValueError("docs must contain at least one token")

    def counts(ds):
        r = [i for i, d in enumerate(ds) for _ in d]
        c = [vocab[t] for d in ds for t in d]
        m = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(ds), len(vocab)))
        m.sum_duplicates()
        return m

    df = np.diff(counts(fit).tocsc().indptr).astype(np.float64)
    idf = np.log((1 + len(fit)) / (1 + df)) + 1
    x = counts(docs) @ sp.diags(idf)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    x = sp.diags(1 / np.where(norms > 0, norms, 1)) @ x
    terms = np.array(sorted(vocab, key=vocab.get), dtype=object)
    return sp.csr_matrix(x), terms


def tfidf_keyword_weights(docs: Sequence[Sequence[str]], k: int = 10,
                          fit_docs: Sequence[Sequence[str]] | None = None,
                          stopwords: Iterable[str] = ()) -> list[list[tuple[str, float]]]:
    """The k (term, TF-IDF weight) pairs of largest weight in each document, largest first
    (ties: alphabetical), skipping stopwords."""
    k = check_int_in(k, 1, None, name="k")
    x, terms = tfidf_matrix(docs, fit_docs)
    if stopwords is None or isinstance(stopwords, (str, int, float)):
        raise ValueError(f"stopwords must be a collection of words, got {stopwords!r}")
    stop = set(stopwords)
    out = []
    for i in range(x.shape[0]):
        row = x.getrow(i)
        vals = {j: v for j, v in zip(row.indices, row.data) if terms[j] not in stop}
        idx = sorted(vals, key=lambda j: (-vals[j], terms[j]))
        out.append([(str(terms[j]), float(vals[j])) for j in idx[:k]])
    return out


def tfidf_keywords(docs: Sequence[Sequence[str]], k: int = 10,
                   fit_docs: Sequence[Sequence[str]] | None = None,
                   stopwords: Iterable[str] = ()) -> list[list[str]]:
    """The k terms of largest TF-IDF weight in each document (ties: alphabetical), skipping stopwords."""
    return [[t for t, _ in row] for row in tfidf_keyword_weights(docs, k, fit_docs, stopwords)]


def related(index: BM25Index, keywords: Sequence[str], doc_id: int, top_k: int = 5) -> list[tuple[int, float]]:
    """"[REL]": search with a document's keywords and drop the document itself."""
    check_instance(index, BM25Index, name="index")
    _check_tokens(keywords, name="keywords")
    doc_id = check_int_in(doc_id, 0, index.n_docs - 1, name="doc_id")
    return index.search(keywords, top_k, exclude=[doc_id])


def word_cloud(keywords: Sequence[Sequence[str]], clicked: Sequence[int], top: int = 20,
               weights: Sequence[Sequence[float]] | None = None) -> list[tuple[str, int]]:
    """Aggregate the keywords of the clicked documents: the `top` most frequent.

    Ties in the count are broken by the summed keyword weight when `weights` (one per keyword,
    e.g. TF-IDF) is given, then alphabetically.
    """
    top = check_int_in(top, 1, None, name="top")
    if not isinstance(keywords, (list, tuple)) or not keywords:
        raise ValueError(f"keywords must be a non-empty list of keyword lists, got {keywords!r:.60}")
    ids = check_indices(clicked, len(keywords), name="clicked", unique=False, min_len=1)
    if weights is not None and (len(weights) != len(keywords)
                                or any(len(w) != len(kw) for w, kw in zip(weights, keywords))):
        raise ValueError("weights must give one number per keyword")
    c: Counter = Counter()
    mass: dict[str, float] = {}
    for i in ids:
        for j, t in enumerate(keywords[i]):
            c[t] += 1
            mass[t] = mass.get(t, 0.0) + (float(weights[i][j]) if weights is not None else 0.0)
    return sorted(c.items(), key=lambda kv: (-kv[1], -mass[kv[0]], kv[0]))[:top]


def preference_rank(index: BM25Index, pref_terms: Sequence[str], candidates: Sequence[int]) -> np.ndarray:
    """Sort a list of documents by BM25 score of the preference query, restricted to that list
    (stable: equal scores keep the list's order)."""
    check_instance(index, BM25Index, name="index")
    _check_tokens(pref_terms, name="pref_terms")
    if candidates is None or np.ndim(candidates) != 1:
        raise ValueError(f"candidates must be a list of document indices, got {candidates!r}")
    cand = check_indices(list(candidates), index.n_docs, name="candidates", min_len=1)
    s = index.scores(pref_terms, cand)
    return cand[np.argsort(-s, kind="stable")]


def ndcg_at_k(relevance_in_ranked_order, k: int, all_relevance=None) -> float:
    """NDCG@k = DCG@k / ideal DCG@k, DCG@k = sum_{r=1..k} rel_r / log2(r + 1) (linear gain).

    The ideal ranking sorts `all_relevance` (default: the given list) in decreasing order.
    """
    rel = _floats(relevance_in_ranked_order, "relevance_in_ranked_order")
    if rel.ndim != 1 or rel.size == 0 or not np.isfinite(rel).all() or (rel < 0).any():
        raise ValueError("relevance_in_ranked_order must be a non-empty 1-D array of finite values >= 0")
    k = check_int_in(k, 1, rel.size, name="k")
    pool = rel if all_relevance is None else np.asarray(all_relevance, dtype=np.float64)
    disc = 1 / np.log2(np.arange(2, k + 2))
    ideal = np.sort(pool)[::-1][:k] @ disc
    if ideal <= 0:
        raise ValueError("all_relevance must contain a positive value")
    return float(rel[:k] @ disc / ideal)


def spearman_by_row(scores: np.ndarray, human: np.ndarray) -> np.ndarray:
    """Spearman correlation of row i of `scores` with row i of `human`, the diagonal left out
    (scipy.stats.spearmanr; ties get average ranks), (n,). A constant row of scores ranks
    nothing and gets 0 (no information), where spearmanr would return NaN."""
    s, h = _floats(scores, "scores"), _floats(human, "human")
    if s.ndim != 2 or s.shape[0] != s.shape[1] or s.shape != h.shape or s.shape[0] < 3:
        raise ValueError(f"scores must be square (n >= 3) with the shape of human, got {s.shape} and {h.shape}")
    n = s.shape[0]
    off = ~np.eye(n, dtype=bool)
    if not (np.isfinite(s).all() and np.isfinite(h).all()):
        raise ValueError("scores and human must be finite")
    out = np.zeros(n)
    for i in range(n):
        a, b = s[i, off[i]], h[i, off[i]]
        if np.ptp(a) > 0 and np.ptp(b) > 0:
            out[i] = spearmanr(a, b).statistic
    return out
