"""Part "Text & search": BM25 search and Word2Vec keywords. Each module defines ``__all__``;
this file collects them."""
from .bm25 import *  # noqa: F401,F403
from .word2vec import *  # noqa: F401,F403
