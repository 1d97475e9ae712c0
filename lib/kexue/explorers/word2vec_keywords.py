"""Explorers of the chapter word2vec-keywords: pick a Lee test text and a way of handling stop
words; see the probability matrix log p(token | candidate) behind the Word2Vec keywords next to
the TF-IDF keywords. The numbers come from kexue.text.word2vec and kexue.text.bm25."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..text import bm25 as B
from ..text import word2vec as W2
from ..widgets import PALETTE, Dropdown, Explorer, bars, frame, heatmap, panel

#: The Lee test texts offered (indices into the 50).
TEXTS = (0, 1, 5, 9, 12, 17, 22, 28, 33, 37, 41, 46)
MODE_LABELS = {"kept": "kept (the post)", "candidates": "not candidates", "text": "removed from the text"}
N_CAND, N_TOK = 6, 12


@lru_cache(maxsize=1)
def lee_data():
    """(committed model, the 50 test texts tokenised, TF-IDF top-8 (word, weight) with a stop list,
    the stop list), read once per process."""
    background = [B.tokenize(t) for t in B.load_lee("background")]
    test = [B.tokenize(t) for t in B.load_lee("test")]
    stop = W2.english_stopwords()
    tfidf = B.tfidf_keyword_weights(test, N_CAND, background + test, stopwords=stop)
    return W2.lee_model(), test, tfidf, stop


def text_label(i: int) -> str:
    """'#i: first words ...' for the dropdown."""
    _, test, _, _ = lee_data()
    return f"#{i}: " + " ".join(test[i][:6]) + " ..."


def short(word: str, n: int = 9) -> str:
    """A tick label: the word, cut to n characters."""
    return word if len(word) <= n else word[: n - 1] + "."


def keywords() -> Explorer:
    """Left: log p(token | candidate) for the six best Word2Vec candidates (columns, best first) and
    the text's twelve most frequent tokens (rows); column sums over all tokens are the scores.
    Right: the TF-IDF keywords of the same text (stop list applied)."""
    def compute(text: int, stop: str) -> dict:
        model, test, tfidf, stopwords = lee_data()
        tokens = test[text]
        ranked = W2.keyword_scores(model, tokens, stopwords=stopwords, mode=stop)
        cand = [w for w, _ in ranked[:N_CAND]]
        kept = [t for t in tokens if t in model and not (stop == "text" and t in stopwords)]
        words, counts = np.unique(np.array(kept), return_counts=True)
        order = np.lexsort((words, -counts))[:N_TOK]
        rows = [str(words[j]) for j in order]
        M = W2.hs_log_prob_matrix(model, cand, rows).T          # (rows, candidates)
        x = np.arange(len(cand) + 1) - 0.5
        y = np.arange(len(rows) + 1) + 0.5
        left = panel("Which tokens does each candidate predict?", "candidate (best score first)",
                     "token, by count in the text (1 = most frequent)",
                     heatmap=heatmap(M, x, y, "log p(token | candidate)"),
                     xticks=(list(range(len(cand))), [short(w) for w in cand]))
        tw = tfidf[text]
        right = panel("TF-IDF keywords (stop list applied)", "keyword", "TF-IDF weight",
                      series=[bars(np.arange(len(tw)), [v for _, v in tw], "TF-IDF", color=PALETTE[1])],
                      xticks=(list(range(len(tw))), [short(w) for w, _ in tw]), legend=False)
        n_stop = sum(w in stopwords for w, _ in ranked[:5])
        txt = (f"rows: {', '.join(f'{r} ({c})' for r, c in zip(rows, counts[order]))} | "
               f"Word2Vec scores: {', '.join(f'{w} {s:.1f}' for w, s in ranked[:5])} | "
               f"stop words in the Word2Vec top 5: {n_stop}")
        return frame(left, right, text=txt)

    return Explorer([Dropdown("text", list(TEXTS), TEXTS[0], "text", names=[text_label(i) for i in TEXTS]),
                     Dropdown("stop", list(W2.STOP_MODES), "kept", "stop words",
                              names=[MODE_LABELS[m] for m in W2.STOP_MODES])], compute,
                    name="word2vec-keywords")


EXPLORERS = (keywords,)
