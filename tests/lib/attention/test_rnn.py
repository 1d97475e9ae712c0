"""Tests of kexue.attention, section "attention as an RNN" (chapter attention-as-rnn)."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kexue import attention as A

torch.set_num_threads(1)
FAST = settings(max_examples=30, deadline=None)


def _qkv(seed, T=64, d=16, dv=None):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(T, d)), rng.normal(size=(T, d)), rng.normal(size=(T, dv or d))


@FAST
@given(seed=st.integers(0, 2 ** 16), T=st.integers(1, 24), d=st.integers(1, 8),
       dv=st.integers(1, 5))
def test_recurrence_equals_causal_attention(seed, T, d, dv):
    q, k, v = _qkv(seed, T, d, dv)
    np.testing.assert_allclose(A.attention_recurrent(q, k, v), A.attention(q, k, v, causal=True, scale=1.0),
                               atol=1e-12)


def test_recurrence_matches_sdpa_float32():
    q, k, v = _qkv(1)
    ours = A.attention_recurrent(q, k, v)
    t = [torch.tensor(a, dtype=torch.float32) for a in (q, k, v)]
    ref = torch.nn.functional.scaled_dot_product_attention(*t, is_causal=True, scale=1.0)
    np.testing.assert_allclose(ours, ref.double().numpy(), rtol=1e-5, atol=1e-5)


def test_recurrence_matches_memory_efficient_attention_package():
    mea = pytest.importorskip("memory_efficient_attention_pytorch")
    q, k, v = _qkv(2, T=32, d=8)
    t = [torch.tensor(a)[None, None] for a in (q, k, v)]
    # the package multiplies q by d^-1/2: pre-scale q by sqrt(d) to get the post's scale 1
    ref = mea.memory_efficient_attention(t[0] * math.sqrt(8), t[1], t[2], causal=True,
                                         q_bucket_size=8, k_bucket_size=8)[0, 0].numpy()
    np.testing.assert_allclose(A.attention_recurrent(q, k, v, block_size=8), ref, rtol=1e-5, atol=1e-6)


def test_row_recurrence_scans_newest_key_first():
    q, k, v = _qkv(3, T=6, d=4)
    o, trace = A.attention_row_recurrent(q[5], k, v, return_trace=True)
    assert len(trace) == 6
    # after one step only the newest key has been read: the partial output is v_6 exactly
    m1, y1, z1 = trace[0]
    np.testing.assert_allclose(y1 / z1, v[5], atol=1e-15)
    assert m1 == pytest.approx(q[5] @ k[5], abs=1e-15)
    # the running max never decreases and ends at the largest score
    ms = [m for m, _, _ in trace]
    assert all(b >= a for a, b in zip(ms, ms[1:])) and ms[-1] == pytest.approx((k @ q[5]).max())
    np.testing.assert_allclose(o, A.attention(q, k, v, causal=True, scale=1.0)[5], atol=1e-14)


def test_naive_recurrence_overflows_and_stable_does_not():
    q, k, v = _qkv(4)
    q50 = 50 * q
    with pytest.raises(FloatingPointError):
        A.attention_recurrent(q50, k, v, stable=False)
    out = A.attention_recurrent(q50, k, v)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, A.attention(q50, k, v, causal=True, scale=1.0), atol=1e-12)
    assert np.isfinite(A.attention_recurrent(q, k, v, stable=False)).all()   # scale 1 is fine


def test_overflow_step_is_where_a_score_passes_709():
    q_i = np.array([1.0])
    K = np.array([[800.0], [1.0], [2.0]])            # scanned newest first: 2, 1, 800
    assert A.naive_attention_overflow_step(q_i, K) == 3
    assert A.naive_attention_overflow_step(q_i, K[1:]) is None


@FAST
@given(seed=st.integers(0, 2 ** 16), bs=st.sampled_from([1, 2, 7, 64, 100]))
def test_blocked_recurrence_is_block_size_invariant(seed, bs):
    q, k, v = _qkv(seed, T=40, d=6)
    np.testing.assert_allclose(A.attention_recurrent(q, k, v, block_size=bs),
                               A.attention(q, k, v, causal=True, scale=1.0), atol=1e-12)


@pytest.mark.parametrize("N", [1, 2, 3])
def test_three_decoders_agree(N):
    model = A.TinyCausalAttentionLM(n_layers=N, seed=N)
    toks = np.random.default_rng(N).integers(0, 11, size=12 if N == 3 else 24)
    h = model.forward(toks)
    hk, ck = model.decode_kv_cache(toks)
    hr, cr = model.decode_recompute(toks)
    assert np.abs(hk - h).max() < 1e-12 and np.abs(hr - h).max() < 1e-12
    assert ck["score_evals_per_token"] == [N * t for t in range(1, toks.size + 1)]
    assert cr["score_evals_per_token"] == [A.recompute_cost(N, t) for t in range(1, toks.size + 1)]
    assert cr["peak_floats"] == A.recompute_peak_floats(N, model.d)


def test_forward_is_causal():
    model = A.TinyCausalAttentionLM(n_layers=2, seed=5)
    a = model.forward([1, 2, 3, 4, 5])
    b = model.forward([1, 2, 3, 9, 0])
    np.testing.assert_array_equal(a[:3], b[:3])
    assert np.abs(a[3:] - b[3:]).max() > 1e-3


def test_recompute_peak_memory_does_not_grow_with_t():
    model = A.TinyCausalAttentionLM(n_layers=2, d=8, seed=0)
    peaks = {T: model.decode_recompute(np.zeros(T, dtype=int))[1]["peak_floats"] for T in (2, 8, 16)}
    assert len(set(peaks.values())) == 1
    assert A.kv_cache_elements("mha", n_layers=2, n_heads=1, head_dim=8) * 16 == 2 * 2 * 8 * 16


def test_recompute_cost_closed_forms():
    for t in range(1, 60):
        assert A.recompute_cost(1, t) == t
        assert A.recompute_cost(2, t) == t * (t + 1) // 2 + 2 * t
    assert [A.recompute_cost(2, t) for t in (10, 20, 40)] == [75, 250, 900]
    # brute recursion without the memo, straight from the definition
    def C(n, t):
        return 0 if n == 0 else C(n - 1, t) + sum(C(n - 1, j) for j in range(1, t + 1)) + t
    assert all(A.recompute_cost(3, t) == C(3, t) for t in range(1, 12))


@FAST
@given(N=st.integers(1, 4), t=st.integers(1, 80))
def test_recompute_cost_is_increasing_and_bounded_by_leading_term(N, t):
    c = A.recompute_cost(N, t)
    assert A.recompute_cost(N, t + 1) > c >= t ** N / math.factorial(N)


def test_recompute_cost_grows_like_t_to_the_N():
    for N in (1, 2, 3):
        ratio = A.recompute_cost(N, 400) / A.recompute_cost(N, 200)
        assert abs(ratio - 2 ** N) < 0.03 * 2 ** N
    assert round(A.recompute_cost(2, 40) / A.recompute_cost(2, 20), 2) == 3.6


def test_extreme_scores_stay_finite():
    q, k, v = _qkv(6, T=16, d=4)
    for s in (1e3, 1e6):                             # scores up to ~1e7: no overflow, no nan
        out = A.attention_recurrent(s * q, k, v)
        assert np.isfinite(out).all()
        np.testing.assert_allclose(out, A.attention(s * q, k, v, causal=True, scale=1.0), atol=1e-9)
        assert np.isfinite(A.attention_recurrent(s * q, k, v, block_size=5)).all()
    tiny = A.attention_recurrent(1e-300 * q, k, v)   # all scores ~0: the running mean of v
    np.testing.assert_allclose(tiny, np.cumsum(v, 0) / np.arange(1, 17)[:, None], atol=1e-12)


def test_scan_partials_stable_converges_to_attention():
    q, k, v = _qkv(7, T=9, d=4)
    parts, fail = A.scan_partials(q[8], k, v)
    assert fail is None and parts.shape == (9, 4)
    np.testing.assert_allclose(parts[-1], A.attention(q[8:], k, v, scale=1.0)[0], atol=1e-14)
    # after t steps: the softmax average of the t newest keys
    np.testing.assert_allclose(parts[2], A.attention(q[8:], k[-3:], v[-3:], scale=1.0)[0], atol=1e-14)


def test_scan_partials_naive_stops_where_the_raw_recurrence_fails():
    q, k, v = _qkv(8, T=10, d=16)
    big = 200 * q[9]
    parts, fail = A.scan_partials(big, k, v, stable=False)
    step = A.naive_attention_overflow_step(big, k)
    assert fail == (step, "overflow") and parts.shape[0] == step - 1
    stable, _ = A.scan_partials(big, k, v)
    np.testing.assert_allclose(parts, stable[: step - 1], rtol=1e-12)
    neg = -1e4 * np.abs(k).sum(1).max() * np.sign(k[9])           # every score below -745
    parts_u, fail_u = A.scan_partials(neg, k, v, stable=False)
    assert fail_u == (1, "underflow") and parts_u.shape == (0, 16)
    ok, none = A.scan_partials(q[9], k, v, stable=False)
    assert none is None and np.abs(ok - A.scan_partials(q[9], k, v)[0]).max() < 1e-12


@pytest.mark.parametrize("call, name", [
    (lambda: A.attention_row_recurrent(np.ones((2, 2)), np.ones((3, 2)), np.ones((3, 2))), "q_i"),
    (lambda: A.attention_row_recurrent([np.nan, 1.0], np.ones((3, 2)), np.ones((3, 2))), "q_i"),
    (lambda: A.attention_recurrent(np.ones((3, 2)), np.ones((4, 2)), np.ones((4, 2))), "k"),
    (lambda: A.attention_recurrent(np.ones((3, 2)), np.ones((3, 2)), np.ones((3, 2)), block_size=0), "block_size"),
    (lambda: A.attention_recurrent(np.ones((3, 2)), np.ones((3, 2)), np.ones((3, 2)), stable=False, block_size=2), "stable"),
    (lambda: A.attention_recurrent(torch.ones(3, 2), torch.ones(3, 2), torch.ones(3, 2)), "q"),
    (lambda: A.naive_attention_overflow_step(np.ones(2), np.ones((3, 5))), "K"),
    (lambda: A.TinyCausalAttentionLM(vocab=0), "vocab"),
    (lambda: A.TinyCausalAttentionLM(n_layers=0), "n_layers"),
    (lambda: A.TinyCausalAttentionLM().forward([0, 11]), "tokens"),
    (lambda: A.TinyCausalAttentionLM().forward([]), "tokens"),
    (lambda: A.TinyCausalAttentionLM().decode_recompute([0.5, 1.0]), "tokens"),
    (lambda: A.TinyCausalAttentionLM(max_len=4).decode_kv_cache([0] * 5), "tokens"),
    (lambda: A.scan_partials(np.ones((2, 2)), np.ones((3, 2)), np.ones((3, 2))), "q_i"),
    (lambda: A.scan_partials(np.ones(2), np.ones((3, 2)), np.ones((4, 2))), "V"),
    (lambda: A.recompute_cost(-1, 3), "n_layers"),
    (lambda: A.recompute_cost(2, 0), "t"),
    (lambda: A.recompute_peak_floats(1, 0), "d"),
])
def test_rnn_bad_input_raises_naming_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# -- memory measured from outside: recompute_last, kv_cache_last, traced_peak_bytes -------------

@pytest.mark.parametrize("N", [1, 2])
def test_recompute_last_and_kv_cache_last_equal_the_parallel_pass(N):
    model = A.TinyCausalAttentionLM(vocab=7, d=8, n_layers=N, seed=N)
    tokens = np.random.default_rng(N).integers(0, 7, size=12)
    h = model.forward(tokens)[-1]
    assert np.abs(model.recompute_last(tokens) - h).max() < 1e-12
    assert np.abs(model.kv_cache_last(tokens) - h).max() < 1e-12
    assert np.abs(model.recompute_last(tokens[:5]) - model.forward(tokens[:5])[-1]).max() < 1e-12


def test_traced_peak_bytes_sees_numpy_buffers():
    peak, out = A.traced_peak_bytes(lambda: np.ones(100_000))
    assert out.shape == (100_000,) and 800_000 <= peak < 900_000
    peak_small, _ = A.traced_peak_bytes(lambda: None)
    assert peak_small < 1_000


def test_recompute_memory_grows_only_by_the_token_ids_and_kv_cache_by_2Nd_floats():
    model = A.TinyCausalAttentionLM(vocab=11, d=16, n_layers=2, seed=0)
    ts = (8, 16, 32)
    seqs = {t: np.zeros(t, dtype=int) for t in ts}          # the inputs exist before tracing starts
    rc = [A.traced_peak_bytes(lambda: model.recompute_last(seqs[t]))[0] for t in ts]
    kv = [A.traced_peak_bytes(lambda: model.kv_cache_last(seqs[t]))[0] for t in ts]
    slope_rc, slope_kv = np.polyfit(ts, rc, 1)[0], np.polyfit(ts, kv, 1)[0]
    assert slope_rc <= 16                                  # one int64 token id per token, no more
    assert abs(slope_kv / (2 * 2 * 16 * 8) - 1) < 0.15      # 2 N d float64 per token


@pytest.mark.parametrize("call, name", [
    (lambda: A.traced_peak_bytes(3), "fn"),
    (lambda: A.traced_peak_bytes(lambda: None, repeats=0), "repeats"),
    (lambda: A.TinyCausalAttentionLM(vocab=5).recompute_last([7]), "tokens"),
    (lambda: A.TinyCausalAttentionLM(vocab=5).kv_cache_last([-1]), "tokens"),
])
def test_memory_helpers_bad_input_raises_naming_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_traced_peak_bytes_refuses_nested_tracing():
    import tracemalloc
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="fn"):
            A.traced_peak_bytes(lambda: None)
    finally:
        tracemalloc.stop()


def test_attention_recurrent_names_its_own_parameters():
    """Its parameters are q, k, v (lower case): the messages say so (they said K and V)."""
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((3, 4, 2))
    with pytest.raises(ValueError, match=r"^k must"):
        A.attention_recurrent(q, k[None], v)
    with pytest.raises(ValueError, match=r"^v must"):
        A.attention_recurrent(q, k, np.full_like(v, np.nan))
    with pytest.raises(ValueError, match=r"^v must have as many rows as k"):
        A.attention_recurrent(q, k, v[:3])
