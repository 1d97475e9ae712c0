"""Explorers of the chapter bm25-search: a BM25 search over the Lee news corpus with its knobs
(k1, b, the idf variant), and the saturation curve that k1 and b shape. The numbers come from
kexue.text.bm25."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..text import bm25 as B
from ..widgets import PALETTE, Dropdown, Explorer, Slider, bars, frame, line, panel

#: Preset queries over the Lee background corpus.
QUERIES = ("bushfires sydney fire", "afghanistan taliban bin laden", "qantas airline workers strike",
           "israeli palestinian arafat violence")
K1_VALUES = (0.0, 0.5, 1.2, 1.5, 2.0, 5.0)
B_VALUES = (0.0, 0.25, 0.5, 0.75, 1.0)


@lru_cache(maxsize=1)
def lee_background_tokens() -> tuple[tuple[str, ...], ...]:
    """The 300 Lee background texts, tokenised (read once per process)."""
    return tuple(tuple(B.tokenize(t)) for t in B.load_lee("background"))


@lru_cache(maxsize=1)
def _lee_base() -> B.BM25Index:
    return B.BM25Index([list(d) for d in lee_background_tokens()])


def lee_index(k1: float, b: float, idf: str) -> B.BM25Index:
    """The BM25 index of the Lee background texts under (k1, b, idf)."""
    return _lee_base().reweighted(k1, b, idf)


def search() -> Explorer:
    """Left: the weight of one term as its count grows, for short, average and long documents.
    Right: the top-8 documents of a preset query, each bar split into its query terms' shares."""
    def compute(query: str, k1: float, b: float, idf: str) -> dict:
        idx = lee_index(k1, b, idf)
        f = np.arange(0, 21, dtype=float)
        curves = []
        for ratio, color in ((0.5, PALETTE[2]), (1.0, PALETTE[0]), (2.0, PALETTE[5])):
            norm = k1 * (1 - b + b * ratio)
            w = np.where(f > 0, f * (k1 + 1) / np.maximum(f + norm, 1e-300), 0.0)
            curves.append(line(f, w, f"|D| = {ratio:g} avgdl", color=color))
        left = panel("How much does the 20th occurrence add?", "count f of the term in D",
                     "weight / idf", series=curves)
        q = B.tokenize(query)
        hits = idx.search(q, 8)
        ranks = np.arange(1, len(hits) + 1)
        terms, shares = idx.term_scores(q, [d for d, _ in hits])     # (8, n_terms)
        series, base = [], np.zeros(len(hits))
        for j, t in enumerate(terms):                   # draw cumulative bars, tallest first
            base = base + shares[:, j]
        for j in range(len(terms) - 1, -1, -1):
            series.append(bars(ranks, base, terms[j], color=PALETTE[j % len(PALETTE)]))
            base = base - shares[:, j]
        right = panel(f"Which texts answer '{query}'?", "rank", "BM25 score (stacked by term)",
                      series=series)
        text = "top texts: " + ", ".join(f"#{d} ({s:.2f})" for d, s in hits[:5])
        return frame(left, right, text=text)

    return Explorer([Dropdown("query", list(QUERIES), QUERIES[0], "query"),
                     Slider("k1", list(K1_VALUES), 1.5, "k1", fmt="{:g}"),
                     Slider("b", list(B_VALUES), 0.75, "b", fmt="{:g}"),
                     Dropdown("idf", ["okapi", "lucene"], "okapi", "idf")], compute,
                    name="bm25-search")


EXPLORERS = (search,)
