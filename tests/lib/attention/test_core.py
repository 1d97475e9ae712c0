"""Tests of kexue.attention.core: the one attention function (numpy and torch, masks, grouped
heads), the running-max merge and head sharing. Parity anchor: torch's
scaled_dot_product_attention (float64), and hand-computed small cases."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from kexue import attention as A

torch.set_num_threads(1)
FAST = settings(max_examples=30, deadline=None)


def _randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def _qkv(seed, T=64, d=16, dv=None):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(T, d)), rng.normal(size=(T, d)), rng.normal(size=(T, dv or d))


# ------------------------------------------------------------------ the attention function
def test_attention_by_hand():
    # two tokens, d = 1: o_1 = v_1, o_2 = (e^{q2 k1} v1 + e^{q2 k2} v2) / (e^{q2 k1} + e^{q2 k2})
    q, k, v = np.array([[1.0], [2.0]]), np.array([[0.5], [-1.0]]), np.array([[3.0], [7.0]])
    o = A.attention(q, k, v, causal=True, scale=1.0)
    w1, w2 = math.exp(2 * 0.5), math.exp(2 * -1.0)
    np.testing.assert_allclose(o[:, 0], [3.0, (w1 * 3 + w2 * 7) / (w1 + w2)], rtol=1e-15)
    o_bi = A.attention(q, k, v, scale=1.0)                 # bidirectional: row 1 sees key 2 too
    a1, a2 = math.exp(0.5), math.exp(-1.0)
    assert o_bi[0, 0] == pytest.approx((a1 * 3 + a2 * 7) / (a1 + a2), rel=1e-15)


def test_attention_matches_sdpa_scale_one_numpy():
    q, k, v = _qkv(0)
    ref = F.scaled_dot_product_attention(*(torch.tensor(a) for a in (q, k, v)), is_causal=True,
                                         scale=1.0).numpy()
    out = A.attention(q, k, v, causal=True, scale=1.0)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_allclose(out, ref, atol=1e-12)


@FAST
@given(st.sampled_from([(4, 1), (4, 2), (4, 4), (6, 3), (8, 2)]), st.integers(1, 9),
       st.integers(1, 8), st.integers(0, 1000), st.booleans())
def test_attention_matches_sdpa_enable_gqa(hg, T, D, seed, causal):
    """Parity: torch SDPA with is_causal / no mask and enable_gqa (float64), torch and numpy in."""
    h, g = hg
    q, k, v = _randn(2, h, T, D, seed=seed), _randn(2, g, T, D, seed=seed + 1), _randn(2, g, T, D, seed=seed + 2)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
    assert (A.attention(q, k, v, causal=causal) - ref).abs().max() < 1e-12
    out_np = A.attention(q.numpy(), k.numpy(), v.numpy(), causal=causal)
    assert np.abs(out_np - ref.numpy()).max() < 1e-12


@FAST
@given(st.integers(1, 6), st.integers(0, 5), st.integers(0, 1000))
def test_attention_mask_matches_sdpa_attn_mask(T, extra, seed):
    """A boolean mask (with at least one visible key per row) equals SDPA's attn_mask."""
    S = T + extra
    rng = np.random.default_rng(seed)
    mask = rng.random((T, S)) < 0.6
    mask[np.arange(T), rng.integers(0, S, T)] = True          # every row sees a key
    q, k, v = _randn(1, 2, T, 3, seed=seed), _randn(1, 2, S, 3, seed=seed + 1), _randn(1, 2, S, 4, seed=seed + 2)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=torch.tensor(mask))
    assert (A.attention(q, k, v, mask=mask) - ref).abs().max() < 1e-12
    both = mask & A.causal_mask(T, S)
    if both.any(-1).all():
        ref_c = F.scaled_dot_product_attention(q, k, v, attn_mask=torch.tensor(both))
        assert (A.attention(q, k, v, mask=mask, causal=True) - ref_c).abs().max() < 1e-12


def test_attention_weights_are_the_softmax_rows():
    q, k, v = _qkv(1, T=7, d=5, dv=3)
    o, w = A.attention(q, k, v, causal=True, scale=0.7, return_weights=True)
    s = 0.7 * q @ k.T
    s[np.triu_indices(7, 1)] = -np.inf
    ref = np.exp(s - s.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    np.testing.assert_allclose(w, ref, atol=1e-15)
    np.testing.assert_allclose(o, w @ v, atol=1e-15)
    assert (w[np.triu_indices(7, 1)] == 0).all()
    _, wg = A.attention(_randn(1, 4, 3, 2), _randn(1, 2, 3, 2, seed=1), _randn(1, 2, 3, 2, seed=2),
                        return_weights=True)
    assert wg.shape == (1, 4, 3, 3) and torch.allclose(wg.sum(-1), torch.ones(1, 4, 3, dtype=torch.float64))


def test_attention_last_rows_align_with_keys():
    q, k, v = _randn(1, 2, 6, 4), _randn(1, 2, 6, 4, seed=1), _randn(1, 2, 6, 3, seed=2)
    full = A.attention(q, k, v, causal=True)
    assert (A.attention(q[:, :, -2:], k, v, causal=True) - full[:, :, -2:]).abs().max() < 1e-14


def test_attention_grouped_heads_equal_repeated_kv():
    """GQA without copies equals attention over K/V repeated to every head (repeat_kv)."""
    q, k, v = _randn(2, 6, 5, 4), _randn(2, 3, 5, 4, seed=1), _randn(2, 3, 5, 2, seed=2)
    ref = A.attention(q, A.repeat_kv(k, 2), A.repeat_kv(v, 2), causal=True)
    assert (A.attention(q, k, v, causal=True) - ref).abs().max() < 1e-15


def test_attention_keeps_dtype_and_autograd():
    q = _randn(1, 2, 3, 4, dtype=torch.float32).requires_grad_()
    out = A.attention(q, q.detach(), q.detach())
    assert out.dtype == torch.float32 and out.requires_grad
    out.sum().backward()
    assert q.grad is not None and torch.isfinite(q.grad).all()


def test_attention_gradcheck():
    q = _randn(1, 2, 3, 2).requires_grad_()
    k = _randn(1, 1, 3, 2, seed=1).requires_grad_()
    v = _randn(1, 1, 3, 2, seed=2).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b, c: A.attention(a, b, c, causal=True), (q, k, v))


@FAST
@given(st.integers(0, 1000), st.floats(-50.0, 50.0))
def test_attention_is_invariant_to_a_common_key_shift(seed, shift):
    """Adding one vector c to every key adds scale q.c to a whole row of scores: o is unchanged."""
    q, k, v = _qkv(seed, T=5, d=3)
    c = np.full(3, shift)
    np.testing.assert_allclose(A.attention(q, k + c, v, scale=0.5), A.attention(q, k, v, scale=0.5),
                               atol=1e-10)


def test_attention_extreme_scores_stay_finite():
    q = 1e4 * _randn(1, 2, 4, 3)
    assert torch.isfinite(A.attention(q, q, q, causal=True)).all()
    qn = 1e6 * np.random.default_rng(0).normal(size=(5, 3))
    assert np.isfinite(A.attention(qn, qn, qn, causal=True)).all()


def test_causal_mask_rows():
    m = A.causal_mask(2, 4)
    assert m.tolist() == [[True, True, True, False], [True, True, True, True]]
    assert (A.causal_mask(4, 4) == np.tril(np.ones((4, 4), bool))).all()


# ------------------------------------------------------------------ the running-max merge
def _triple(s, v):
    m = float(s.max())
    e = np.exp(s - m)
    return m, e @ v, float(e.sum())


@FAST
@given(st.integers(0, 1000), st.integers(3, 30), st.floats(1.0, 800.0))
def test_merge_partials_is_associative_and_exact(seed, n, spread):
    """Any grouping of blocks gives the softmax average, even with scores far beyond e^709."""
    rng = np.random.default_rng(seed)
    s, v = spread * rng.normal(size=n), rng.normal(size=(n, 2))
    cut = sorted(rng.choice(np.arange(1, n), size=2, replace=False))
    b = [_triple(s[:cut[0]], v[:cut[0]]), _triple(s[cut[0]:cut[1]], v[cut[0]:cut[1]]),
         _triple(s[cut[1]:], v[cut[1]:])]
    left = A.merge_partials([A.merge_partials(b[:2]), b[2]])
    right = A.merge_partials([b[0], A.merge_partials(b[1:])])
    flat = A.merge_partials(b)
    w = np.exp(s - s.max())
    expect = w @ v / w.sum()
    for m, y, z in (left, right, flat):
        assert m == s.max()
        np.testing.assert_allclose(y / z, expect, rtol=1e-12, atol=1e-12)


def test_merge_partials_single_keys_equal_attention():
    q, k, v = _qkv(3, T=9, d=4)
    parts = [(float(q[8] @ k[j]), v[j], 1.0) for j in range(9)]
    m, y, z = A.merge_partials(parts)
    np.testing.assert_allclose(y / z, A.attention(q[8:], k, v, scale=1.0)[0], atol=1e-14)


# ------------------------------------------------------------------ head sharing
def test_head_to_group_is_posts_ceil_rule():
    for h, g in ((8, 2), (32, 8), (6, 3), (4, 4), (5, 1)):
        ours = A.gqa_head_to_group(h, g).tolist()
        post = [math.ceil(s * g / h) - 1 for s in range(1, h + 1)]         # 1-based ceil(sg/h)
        assert ours == post
        assert torch.equal(torch.arange(g).repeat_interleave(h // g), A.gqa_head_to_group(h, g))


def test_repeat_kv_matches_expand_reshape():
    x = _randn(2, 3, 5, 4)
    ref = x[:, :, None].expand(2, 3, 4, 5, 4).reshape(2, 12, 5, 4)      # the transformers idiom
    assert torch.equal(A.repeat_kv(x, 4), ref)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("call, name", [
    (lambda: A.attention(np.ones((3, 2)), np.ones((3, 4)), np.ones((3, 2))), "k"),
    (lambda: A.attention(np.ones((3, 2)), np.ones((3, 2)), np.ones((2, 2))), "v"),
    (lambda: A.attention(np.ones((3, 0)), np.ones((3, 2)), np.ones((3, 2))), "q"),
    (lambda: A.attention(np.ones(3), np.ones((3, 2)), np.ones((3, 2))), "q"),
    (lambda: A.attention(np.ones((3, 2)), np.ones((3, 2)), np.ones((3, 2)), scale=0), "scale"),
    (lambda: A.attention(np.ones((4, 2)), np.ones((3, 2)), np.ones((3, 2)), causal=True), "q"),
    (lambda: A.attention(np.ones((2, 2)), np.ones((3, 2)), np.ones((3, 2)), mask=np.ones((2, 3))), "mask"),
    (lambda: A.attention(np.ones((2, 2)), np.ones((3, 2)), np.ones((3, 2)), mask=np.ones((2, 2), bool)), "mask"),
    (lambda: A.attention(np.ones((2, 2)), np.ones((3, 2)), np.ones((3, 2)), mask=np.zeros((2, 3), bool)), "mask"),
    (lambda: A.attention(_randn(1, 3, 2, 4), _randn(1, 2, 2, 4), _randn(1, 2, 2, 4)), "k"),
    (lambda: A.attention(_randn(1, 2, 2, 4) * math.nan, _randn(1, 2, 2, 4), _randn(1, 2, 2, 4)), "q"),
    (lambda: A.attention(_randn(2, 4), np.ones((2, 4)), np.ones((2, 4))), "k"),
    (lambda: A.attention(np.ones((2, 4)), _randn(2, 4), np.ones((2, 4))), "k"),
    (lambda: A.causal_mask(3, 2), "S"),
    (lambda: A.causal_mask(0, 2), "T"),
    (lambda: A.merge_partials([]), "parts"),
    (lambda: A.merge_partials([(0.0, 1.0)]), "parts"),
    (lambda: A.merge_partials([(math.inf, 1.0, 1.0)]), "parts"),
    (lambda: A.merge_partials([(0.0, 1.0, 0.0)]), "parts"),
    (lambda: A.gqa_head_to_group(8, 3), "n_groups"),
    (lambda: A.gqa_head_to_group(0, 1), "n_heads"),
    (lambda: A.repeat_kv(_randn(2, 3, 4), 2), "x"),
    (lambda: A.repeat_kv(np.ones((1, 2, 3, 4)), 2), "x"),
    (lambda: A.repeat_kv(_randn(1, 2, 3, 4), 0), "n_rep"),
])
def test_core_bad_input_names_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize("grouped", [False, True])
def test_attention_refuses_every_nan_inf_input_via_its_result(grouped):
    """torch inputs are not scanned up front: the sums of the scores and of the output decide,
    and only then are q, k, v scanned. Every kind of bad entry is still refused with its name:
    NaN, +inf, and -inf in k with a positive query entry (its key would silently get weight 0),
    in a key that the causal mask hides, in v at a hidden key (weight exactly 0). Finite
    inputs whose scores overflow are not refused (no input is at fault), as before."""
    g = torch.Generator().manual_seed(0)
    H, G = (4, 2) if grouped else (2, 2)
    q = torch.rand(1, H, 3, 4, generator=g, dtype=torch.float64) + 0.1   # positive entries
    k = torch.randn(1, G, 5, 4, generator=g, dtype=torch.float64)
    v = torch.randn(1, G, 5, 3, generator=g, dtype=torch.float64)
    ref = A.attention(q, k, v, causal=True)
    cases = [("q", (0, 1, 2, 0), float("nan")), ("q", (0, 0, 0, 3), float("inf")),
             ("k", (0, 1, 1, 2), -float("inf")), ("k", (0, 0, 4, 0), float("nan")),
             ("v", (0, 1, 4, 1), float("inf")), ("v", (0, 0, 0, 0), -float("inf"))]
    for name, idx, bad in cases:
        args = {"q": q.clone(), "k": k.clone(), "v": v.clone()}
        args[name][idx] = bad
        with pytest.raises(ValueError, match=rf"^{name} must contain only finite numbers"):
            A.attention(args["q"], args["k"], args["v"], causal=True)
    assert torch.equal(A.attention(q, k, v, causal=True), ref)
    huge = A.attention(q * 1e200, k * 1e200, v, causal=True)              # scores overflow: NaN
    assert torch.isnan(huge).any()
