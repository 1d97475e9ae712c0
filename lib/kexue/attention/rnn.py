"""Attention as an RNN that rereads the past (chapter attention-as-rnn).

kexue.fm/archives/10017: causal softmax attention read as an RNN over keys (Rabe & Staats'
key-by-key recurrence with a running maximum, FlashAttention's blocked form), the post's raw
recurrence kept as the unstable demonstration, and a tiny multi-layer model decoded three ways
(parallel, KV cache, recompute from the token ids in constant working memory) with the exact
cost of the last. numpy, float64; no gradients. The reference the recurrences are checked
against is :func:`kexue.attention.core.attention`; the merge is
:func:`kexue.attention.core.merge_partials`.
"""
from __future__ import annotations

import gc
import math
import tracemalloc
from typing import Any, Callable

import numpy as np

from .._validate import as_float_ndarray, check_indices, check_int_in, check_positive
from .core import attention, merge_partials

__all__ = ["LOG_MAX_FLOAT64", "attention_row_recurrent", "naive_attention_overflow_step", "attention_recurrent",
           "scan_partials", "TinyCausalAttentionLM", "recompute_cost", "recompute_peak_floats",
           "traced_peak_bytes"]

#: log of the largest float64: e^s overflows for a score s above this (about 709.78)
LOG_MAX_FLOAT64 = math.log(np.finfo(np.float64).max)


def _keys_values(K: Any, V: Any, names: tuple[str, str] = ("K", "V")) -> tuple[np.ndarray, np.ndarray]:
    """K (S, d) and V (S, d_v) as float64 arrays with equal row counts (numpy-only)."""
    nk, nv = names
    K = as_float_ndarray(K, name=nk, min_ndim=2, max_ndim=2)
    V = as_float_ndarray(V, name=nv, min_ndim=2, max_ndim=2)
    if K.shape[0] != V.shape[0]:
        raise ValueError(f"{nv} must have as many rows as {nk} ({K.shape[0]}), got {V.shape[0]}")
    return K, V


def attention_row_recurrent(q_i: Any, K: Any, V: Any, stable: bool = True,
                            return_trace: bool = False, scale: float = 1.0):
    """One query scanned key by key, newest first (the post's index i - t + 1). numpy.

    stable=True keeps a running max m and rescales: with s_t = scale q.k_{i-t+1}, each step
    merges the state with the key's triple (s_t, v, 1) (:func:`merge_partials`):
    m' = max(m, s_t), y' = e^{m-m'} y + e^{s_t-m'} v, z' = e^{m-m'} z + e^{s_t-m'}; o = y / z.
    stable=False is the recurrence exactly as the post writes it, (y, z) += e^{s_t} (v, 1): it
    overflows once a score passes ~709 and is kept for the demonstration only (it raises
    FloatingPointError instead of returning inf/nan).
    return_trace adds a list of (m, y, z) after every step (m = 0 for the naive form).
    """
    q = as_float_ndarray(q_i, name="q_i", min_ndim=1, max_ndim=1)
    K, V = _keys_values(K, V)
    if K.shape[1] != q.size:
        raise ValueError(f"K must have the feature size of q_i ({q.size}), got {K.shape[1]}")
    scale = check_positive(scale, name="scale")
    state, y, z = None, np.zeros(V.shape[1]), 0.0
    trace = []
    with np.errstate(over="ignore", invalid="ignore"):
        for j in range(K.shape[0] - 1, -1, -1):          # newest key first
            s = scale * float(q @ K[j])
            if stable:
                part = (s, V[j], 1.0)
                state = part if state is None else merge_partials([state, part])
                m, y, z = state
            else:
                e = np.exp(s)
                y, z = y + e * V[j], z + e
            if return_trace:
                trace.append((m if stable else 0.0, np.array(y, dtype=float), float(z)))
        o = y / z
    if not np.isfinite(o).all():
        raise FloatingPointError("the naive recurrence overflowed (a score exceeds ~709); "
                                 "use stable=True")
    return (o, trace) if return_trace else o


def naive_attention_overflow_step(q_i: Any, K: Any) -> int | None:
    """First scan step (1-based, newest key first) at which e^{q.k} overflows float64, or None.

    Companion of ``attention_row_recurrent(..., stable=False)``: where the post's raw
    recurrence breaks. numpy.
    """
    q = as_float_ndarray(q_i, name="q_i", min_ndim=1, max_ndim=1)
    K = as_float_ndarray(K, name="K", min_ndim=2, max_ndim=2)
    if K.shape[1] != q.size:
        raise ValueError(f"K must have the feature size of q_i ({q.size}), got {K.shape[1]}")
    s = K[::-1] @ q
    over = np.nonzero(s > LOG_MAX_FLOAT64)[0]
    return int(over[0]) + 1 if over.size else None


def attention_recurrent(q: Any, k: Any, v: Any, stable: bool = True, block_size: int = 1,
                        scale: float = 1.0) -> np.ndarray:
    """Causal attention (T, d_v) computed row by row as an RNN over keys. numpy.

    block_size = 1 is the key-by-key recurrence of :func:`attention_row_recurrent`; larger
    blocks compute a partial (m, y, z) per block of keys and merge them with
    :func:`merge_partials` (the blocked form behind FlashAttention). Equals
    ``attention(q, k, v, causal=True, scale=scale)`` to rounding.
    """
    q = as_float_ndarray(q, name="q", min_ndim=2, max_ndim=2)
    k, v = _keys_values(k, v, ("k", "v"))
    if q.shape[0] != k.shape[0]:
        raise ValueError(f"k must have as many rows as q ({q.shape[0]}), got {k.shape[0]}")
    if q.shape[1] != k.shape[1]:
        raise ValueError(f"k must have the feature size of q ({q.shape[1]}), got {k.shape[1]}")
    bs = check_int_in(block_size, 1, None, name="block_size")
    scale = check_positive(scale, name="scale")
    if bs == 1:
        return np.stack([attention_row_recurrent(q[i], k[: i + 1], v[: i + 1], stable=stable,
                                                 scale=scale) for i in range(q.shape[0])])
    if not stable:
        raise ValueError("stable must be True when block_size > 1 (blocks are merged by their max)")
    out = np.empty((q.shape[0], v.shape[1]))
    for i in range(q.shape[0]):
        parts = []
        for b0 in range(0, i + 1, bs):
            b1 = min(b0 + bs, i + 1)
            s = scale * (k[b0:b1] @ q[i])
            mb = float(s.max())
            e = np.exp(s - mb)
            parts.append((mb, e @ v[b0:b1], float(e.sum())))
        m, y, z = merge_partials(parts)
        out[i] = y / z
    return out


def scan_partials(q_i: Any, K: Any, V: Any, stable: bool = True) -> tuple[np.ndarray, Any]:
    """Partial outputs y^(t)/z^(t) of the newest-first scan, (steps, d_v), and where the raw
    recurrence fails. numpy. Chapter attention-as-rnn (the scan explorer).

    stable=True: every step of :func:`attention_row_recurrent` (scale 1), failure None.
    stable=False: the post's raw recurrence, run only up to its failure, which is None or
    (step, "overflow" | "underflow"): e^{q.k} = inf at that step, or every e^{q.k} read so far
    is 0 (scores below ~-745), so y/z = 0/0.
    """
    q = as_float_ndarray(q_i, name="q_i", min_ndim=1, max_ndim=1)
    K, V = _keys_values(K, V)
    if stable:
        _, tr = attention_row_recurrent(q, K, V, stable=True, return_trace=True)
        return np.array([y / z for _, y, z in tr]), None
    s_rev = K[::-1] @ q                               # newest key first
    with np.errstate(over="ignore", under="ignore"):
        e = np.exp(s_rev)
    bad = ~np.isfinite(e) | (np.cumsum(e) == 0)
    fail = None
    n_ok = K.shape[0]
    if bad.any():
        n_ok = int(np.argmax(bad))
        fail = (n_ok + 1, "overflow" if not np.isfinite(e[n_ok]) else "underflow")
    if n_ok == 0:
        return np.zeros((0, V.shape[1])), fail
    # the first n_ok steps scan the n_ok newest keys: run the raw recurrence on exactly those
    _, tr = attention_row_recurrent(q, K[-n_ok:], V[-n_ok:], stable=False, return_trace=True)
    return np.array([y / z for _, y, z in tr]), fail


class TinyCausalAttentionLM:
    """N residual causal-attention layers over token + position embeddings. numpy, float64.

    h^0_t = E[x_t] + P[t];  h^l_t = h^{l-1}_t + sum_{j<=t} softmax_j(q.k_j / sqrt(d)) v_j with
    (q, k, v) = h^{l-1} (W_q, W_k, W_v) of layer l. Three ways to get the same h^N:
    :meth:`forward` (parallel), :meth:`decode_kv_cache` (one token at a time, keys and values
    stored) and :meth:`decode_recompute` (nothing stored but the token ids: every needed key
    and value is recomputed from the tokens, recursively, with O(N d) working floats).
    Chapter attention-as-rnn.
    """

    def __init__(self, vocab: int = 11, d: int = 16, n_layers: int = 2, seed: int = 0,
                 max_len: int = 256):
        self.vocab = check_int_in(vocab, 1, None, name="vocab")
        self.d = check_int_in(d, 1, None, name="d")
        self.n_layers = check_int_in(n_layers, 1, None, name="n_layers")
        self.max_len = check_int_in(max_len, 1, None, name="max_len")
        rng = np.random.default_rng(check_int_in(seed, 0, None, name="seed"))
        self.E = rng.normal(size=(vocab, d))
        self.P = 0.5 * rng.normal(size=(max_len, d))
        self.W = [rng.normal(size=(3, d, d)) / math.sqrt(d) for _ in range(n_layers)]
        self.scale = 1.0 / math.sqrt(d)

    def _tokens(self, tokens: Any) -> np.ndarray:
        t = check_indices(tokens, self.vocab, name="tokens", unique=False)   # ids in [0, vocab)
        if t.size > self.max_len:
            raise ValueError(f"tokens must have at most max_len = {self.max_len} entries, got {t.size}")
        return t

    def forward(self, tokens: Any) -> np.ndarray:
        """Parallel pass: h^N for every position, (T, d)."""
        t = self._tokens(tokens)
        h = self.E[t] + self.P[: t.size]
        for W in self.W:
            o = attention(h @ W[0], h @ W[1], h @ W[2], causal=True, scale=self.scale)
            h = h + o
        return h

    def decode_kv_cache(self, tokens: Any) -> tuple[np.ndarray, dict]:
        """One token at a time with a KV cache; returns (h^N (T, d), counters).

        counters: score_evals (total), score_evals_per_token (list), peak_floats (the cache,
        2 N d T at the end, plus the O(d) working vectors).
        """
        t = self._tokens(tokens)
        cache = [([], []) for _ in self.W]
        out, per_token = [], []
        for pos, tok in enumerate(t):
            h = self.E[tok] + self.P[pos]
            evals = 0
            for W, (ks, vs) in zip(self.W, cache):
                ks.append(h @ W[1])
                vs.append(h @ W[2])
                o = attention_row_recurrent(h @ W[0], np.array(ks), np.array(vs), scale=self.scale)
                evals += len(ks)
                h = h + o
            out.append(h)
            per_token.append(evals)
        cache_floats = 2 * self.n_layers * self.d * t.size
        return np.array(out), {"score_evals": int(sum(per_token)),
                               "score_evals_per_token": per_token,
                               "peak_floats": cache_floats + 4 * self.d + 2}

    def decode_recompute(self, tokens: Any) -> tuple[np.ndarray, dict]:
        """Constant working memory: recompute every key/value from the token ids. (T, d), counters.

        hidden(l, j) runs one streaming scan over keys 1..j of layer l, each key's h^{l-1}_m
        recomputed by a recursive call; only the (m, y, z) state and a few d-vectors per level
        of recursion are alive at once. Counters: score_evals (total and per token) obey
        :func:`recompute_cost`; peak_floats is the explicit count of live floats (plus 1 int
        per level for the loop index), independent of T.
        """
        t = self._tokens(tokens)
        d = self.d
        state = {"live": 0, "peak": 0, "evals": 0}

        def alloc(n: int) -> None:
            state["live"] += n
            state["peak"] = max(state["peak"], state["live"])

        def hidden(level: int, j: int) -> np.ndarray:
            # h^level at position j (0-based); allocates its own output vector (d)
            if level == 0:
                alloc(d)
                return self.E[t[j]] + self.P[j]
            W = self.W[level - 1]
            h_prev = hidden(level - 1, j)                      # d, held during the scan
            q = h_prev @ W[0]
            alloc(d)                                           # q
            acc = None                                         # the (m, y, z) state
            alloc(d + 3)                                       # y, m, z, loop index
            for jj in range(j, -1, -1):                        # newest key first, as the post
                hm = hidden(level - 1, jj)                     # d, freed below
                kk, vv = hm @ W[1], hm @ W[2]
                alloc(2 * d)
                s = self.scale * float(q @ kk)
                state["evals"] += 1
                acc = (s, vv, 1.0) if acc is None else merge_partials([acc, (s, vv, 1.0)])
                state["live"] -= 3 * d                          # hm, kk, vv
            out = h_prev + acc[1] / acc[2]
            state["live"] -= 2 * d + 3                           # q, y, m, z, index; h_prev -> out
            return out

        outs, per_token = [], []
        for pos in range(t.size):
            before = state["evals"]
            outs.append(hidden(self.n_layers, pos))
            state["live"] -= d
            per_token.append(state["evals"] - before)
        return np.array(outs), {"score_evals": int(state["evals"]),
                                "score_evals_per_token": per_token,
                                "peak_floats": int(state["peak"])}


    def recompute_last(self, tokens: Any) -> np.ndarray:
        """h^N at the last position, recomputed from the token ids alone: (d,). numpy.

        The recursion of :meth:`decode_recompute` without any bookkeeping, so that its memory can
        be measured from outside (:func:`traced_peak_bytes`): nothing is cached, every key and
        value of every layer is recomputed when the scan reaches it, and only one chain of
        recursive calls (one frame per layer, a few d-vectors each) is alive at a time.
        """
        t = self._tokens(tokens)

        def hidden(level: int, j: int) -> np.ndarray:
            if level == 0:
                return self.E[t[j]] + self.P[j]
            W = self.W[level - 1]
            h_prev = hidden(level - 1, j)
            q = h_prev @ W[0]
            acc = None                                          # the (m, y, z) state
            for jj in range(j, -1, -1):                         # newest key first
                hm = hidden(level - 1, jj)
                s = self.scale * float(q @ (hm @ W[1]))
                part = (s, hm @ W[2], 1.0)
                acc = part if acc is None else merge_partials([acc, part])
            return h_prev + acc[1] / acc[2]

        return hidden(self.n_layers, t.size - 1)

    def kv_cache_last(self, tokens: Any) -> np.ndarray:
        """h^N at the last position by KV-cache decoding of the whole prefix: (d,). numpy.

        Keys and values of every layer and position are stored as they are computed (2 N d t
        floats at the end); the counterpart of :meth:`recompute_last` for memory measurements.
        """
        t = self._tokens(tokens)
        ks = np.empty((self.n_layers, t.size, self.d))
        vs = np.empty((self.n_layers, t.size, self.d))
        for pos, tok in enumerate(t):
            h = self.E[tok] + self.P[pos]
            for l, W in enumerate(self.W):
                ks[l, pos], vs[l, pos] = h @ W[1], h @ W[2]
                h = h + attention((h @ W[0])[None], ks[l, : pos + 1], vs[l, : pos + 1],
                                  scale=self.scale)[0]
        return h


def traced_peak_bytes(fn: Callable[[], Any], warmup: bool = True,
                      repeats: int = 3) -> tuple[int, Any]:
    """Peak bytes allocated while ``fn()`` runs, measured by :mod:`tracemalloc`; (peak, result).

    tracemalloc sees every Python object and every numpy buffer (numpy reports its data
    allocations to it), so this is an independent measurement of working memory, not a count
    kept by the code under test. ``warmup`` runs ``fn`` once untraced first, so that one-time
    allocations (caches, interned objects) are not counted. Other threads of the interpreter
    allocate too and only ever add to a peak, so the smallest of ``repeats`` measurements is
    returned, with the garbage collector paused while each runs. Tracing must not already be
    active. Chapter attention-as-rnn.
    """
    if not callable(fn):
        raise ValueError("fn must be callable with no arguments")
    repeats = check_int_in(repeats, 1, None, name="repeats")
    if tracemalloc.is_tracing():
        raise ValueError("fn cannot be measured: tracemalloc is already tracing")
    if warmup:
        fn()
    best, out = None, None
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            tracemalloc.start()
            try:
                base = tracemalloc.get_traced_memory()[0]
                out = fn()
                peak = tracemalloc.get_traced_memory()[1] - base
            finally:
                tracemalloc.stop()
            best = peak if best is None else min(best, peak)
    finally:
        if was_enabled:
            gc.enable()
    return int(best), out


_RECOMPUTE_MEMO: dict[tuple[int, int], int] = {}


def recompute_cost(n_layers: int, t: int) -> int:
    """Score evaluations of recompute decoding for the output at 1-based position t. Exact int.

    C_N(t) = C_{N-1}(t) + sum_{j<=t} C_{N-1}(j) + t, C_0 = 0 (so C_1(t) = t,
    C_2(t) = t(t+1)/2 + 2t, and C_N(t) ~ t^N / N!). Memoized here for the count only:
    the decoder itself does not memoize (that would be a KV cache). Chapter attention-as-rnn.
    """
    n = check_int_in(n_layers, 0, None, name="n_layers")
    t = check_int_in(t, 1, None, name="t")
    if n == 0:
        return 0
    key = (n, t)
    if key not in _RECOMPUTE_MEMO:
        _RECOMPUTE_MEMO[key] = (recompute_cost(n - 1, t)
                                + sum(recompute_cost(n - 1, j) for j in range(1, t + 1)) + t)
    return _RECOMPUTE_MEMO[key]



def recompute_peak_floats(n_layers: int, d: int) -> int:
    """Peak live floats of :meth:`TinyCausalAttentionLM.decode_recompute`: (3N + 3) d + 3N.

    Each of the N recursion levels holds h_prev, q, y (3d) plus m, z and the loop index (3);
    at the deepest point the innermost scan also holds the key's embedding and its k and v
    (3d). Independent of t. Exact int. Chapter attention-as-rnn (the count the decoder
    measures; the test compares the two).
    """
    n = check_int_in(n_layers, 1, None, name="n_layers")
    d = check_int_in(d, 1, None, name="d")
    return (3 * n + 3) * d + 3 * n

