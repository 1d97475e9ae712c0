"""Tests of kexue.attention.mla (chapter mha-to-mla): GQA and MLA. Parity anchors: torch SDPA,
explicit per-head loops."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

torch.set_num_threads(1)
FAST = settings(max_examples=30, deadline=None)
import torch.nn.functional as F

from kexue import attention as A
from kexue.attention import apply_rope

SIZES = dict(d=64, n_heads=4, d_k=16, d_v=16, d_c=24, d_cq=32, d_r=8)


def _randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("g", [1, 2, 4, 8])
def test_gqa_module_equals_mha_with_copied_kv(g):
    m = A.GroupedQueryAttention(32, 8, g, 4, seed=g)
    x = _randn(2, 7, 32, seed=3)
    assert (m(x) - m.as_mha()(x)).abs().max() < 1e-13
    k, v = m.kv_cache(x)
    assert k.shape == (2, g, 7, 4) and v.shape == (2, g, 7, 4)
    # float32 agrees with float64 to ~1e-6
    m32 = A.GroupedQueryAttention(32, 8, g, 4, seed=g, dtype=torch.float32)
    assert (m32(x.float()).double() - m(x)).abs().max() < 1e-5


def test_gqa_stacked_kv_weight_is_low_rank():
    m = A.GroupedQueryAttention(64, 8, 2, 8)
    W = m.stacked_kv_weight()
    assert W.shape == (64, 32) and torch.linalg.matrix_rank(W).item() == 2 * (8 + 8)
    m_small = A.GroupedQueryAttention(64, 8, 1, 4)
    assert torch.linalg.matrix_rank(m_small.stacked_kv_weight()).item() <= 8


@pytest.mark.parametrize("mode", ["merged", "sequential"])
@pytest.mark.parametrize("rope", ["decoupled", "none"])
def test_mla_absorbed_decoding_equals_training_form(mode, rope):
    W = A.init_mla(**SIZES, seed=0)
    x = _randn(12, 64, seed=1)
    ref, k, v = A.mla_train_forward(x, W, rope=rope)
    out, cache = A.mla_decode_forward(x, A.mla_absorb(W, mode), rope=rope)
    assert (out - ref).abs().max() < 1e-12
    assert cache.shape == (12, 24 + 8) and k.shape == (1, 4, 12, 24) and v.shape == (1, 4, 12, 16)


@FAST
@given(st.integers(1, 6), st.integers(1, 12), st.integers(1, 10), st.sampled_from([0, 2, 6]),
       st.integers(1, 9), st.integers(0, 1000))
def test_mla_absorption_exact_for_any_sizes(h, d_c, d_k, d_r, T, seed):
    """Invariant: the absorbed (MQA-like) form equals the MHA-like training form, float64."""
    W = A.init_mla(16, h, d_k, 5, d_c, 7, d_r, seed=seed)
    x = _randn(2, T, 16, seed=seed)
    ref = A.mla_train_forward(x, W)[0]
    out, cache = A.mla_decode_forward(x, A.mla_absorb(W))
    assert (out - ref).abs().max() < 1e-12 and cache.shape == (2, T, d_c + d_r)


def test_mla_training_form_matches_explicit_loop():
    """The training form written as a per-head loop with the post's formulas (independent)."""
    W = A.init_mla(**SIZES, seed=4)
    x = _randn(6, 64, seed=5)
    pos = torch.arange(6, dtype=torch.float64)
    c, cq = x @ W["W_c"], x @ W["W_cq"]
    kr = apply_rope(x @ W["W_kr"], pos)
    out = torch.zeros(6, 64, dtype=torch.float64)
    for s in range(4):
        q = torch.cat([cq @ W["W_q"][s], apply_rope(cq @ W["W_qr"][s], pos)], 1)
        k = torch.cat([c @ W["W_k"][s], kr], 1)
        sc = q @ k.T / math.sqrt(16 + 8)
        sc = sc.masked_fill(torch.triu(torch.ones(6, 6, dtype=torch.bool), 1), -math.inf)
        out += torch.softmax(sc, 1) @ (c @ W["W_v"][s]) @ W["W_o"][s]
    assert (A.mla_train_forward(x, W)[0] - out).abs().max() < 1e-12


def test_full_rope_breaks_absorption_decoupled_keeps_it():
    W = A.init_mla(**SIZES, seed=0)
    x = _randn(12, 64, seed=1)
    Wa = A.mla_absorb(W)
    gap_full = (A.mla_decode_forward(x, Wa, rope="full")[0] - A.mla_train_forward(x, W, rope="full")[0]).abs().max()
    gap_dec = (A.mla_decode_forward(x, Wa)[0] - A.mla_train_forward(x, W)[0]).abs().max()
    assert gap_full > 0.1 and gap_dec < 1e-12


def test_mla_decode_step_reproduces_full_output():
    W = A.init_mla(**SIZES, seed=2)
    x = _randn(10, 64, seed=3)
    ref = A.mla_train_forward(x, W)[0]
    for mode in ("merged", "sequential"):
        cache = None
        for t in range(10):
            o, cache = A.mla_decode_step(x[t], cache, A.mla_absorb(W, mode), t)
            assert (o - ref[t]).abs().max() < 1e-10
        assert cache.shape == (10, 24 + 8)


def test_mla_cache_shape_independent_of_heads():
    x = _randn(5, 64)
    shapes = {A.mla_decode_forward(x, A.mla_absorb(A.init_mla(64, h, 16, 16, 24, 32, 8)))[1].shape
              for h in (2, 4, 8, 16)}
    assert shapes == {torch.Size([5, 32])}


def test_mla_low_precision_errors_are_small_but_nonzero():
    W = A.init_mla(**SIZES, seed=0)
    x = _randn(12, 64, seed=1)
    ref = A.mla_train_forward(x, W)[0]
    for dt, lo, hi in ((torch.float32, 1e-9, 1e-4), (torch.bfloat16, 1e-4, 0.5)):
        out = A.mla_decode_forward(x.to(dt), A.mla_absorb(A.cast_weights(W, dt)))[0]
        err = (out.double() - ref).abs().max().item()
        assert lo < err < hi and out.dtype == dt


def test_decode_cost_deepseek_ratios():
    mla = A.decode_cost("mla", n_heads=128, head_dim=128, d_c=512, d_r=64)
    naive = A.decode_cost("mla_naive", n_heads=128, head_dim=128, d_c=512, d_r=64)
    assert mla["qk_macs"] / naive["qk_macs"] == 576 / 192 and mla["pv_macs"] / naive["pv_macs"] == 4
    assert mla["read"] == 576
    assert A.decode_cost("mha", n_heads=128, head_dim=128)["read"] == 32768
    assert A.decode_cost("gqa", n_heads=8, head_dim=4, n_kv_heads=2)["read"] == 16


def test_mla_extreme_inputs_stay_finite():
    W = A.init_mla(**SIZES, seed=0)
    x = 1e3 * _randn(6, 64, seed=1)                       # scores in the tens of thousands
    out, _ = A.mla_decode_forward(x, A.mla_absorb(W))
    assert torch.isfinite(out).all() and torch.isfinite(A.mla_train_forward(x, W)[0]).all()
    q = 1e4 * _randn(1, 2, 4, 3)
    assert torch.isfinite(A.attention(q, q, q, causal=True)).all()


@pytest.mark.parametrize("call, name", [
    (lambda: A.GroupedQueryAttention(16, 4, 3, 4), "n_kv_heads"),
    (lambda: A.GroupedQueryAttention(16, 4, 2, 4)(_randn(1, 3, 8)), "x"),
    (lambda: A.init_mla(16, 2, 4, 4, 8, 8, 3), "d_r"),
    (lambda: A.init_mla(16, 0, 4, 4, 8, 8, 2), "n_heads"),
    (lambda: A.cast_weights(A.init_mla(16, 2, 4, 4, 8, 8, 2), "float32"), "dtype"),
    (lambda: A.mla_train_forward(_randn(3, 15), A.init_mla(16, 2, 4, 4, 8, 8, 2)), "x"),
    (lambda: A.mla_train_forward(_randn(3, 16), A.init_mla(16, 2, 4, 4, 8, 8, 2), rope="alibi"), "rope"),
    (lambda: A.mla_train_forward(_randn(3, 16), A.init_mla(16, 2, 4, 4, 8, 8, 2), positions=[0, 1]), "positions"),
    (lambda: A.mla_absorb(A.init_mla(16, 2, 4, 4, 8, 8, 2), "fused"), "mode"),
    (lambda: A.mla_decode_forward(_randn(3, 16), A.init_mla(16, 2, 4, 4, 8, 8, 2)), "W_abs"),
    (lambda: A.mla_decode_step(_randn(16), None, A.mla_absorb(A.init_mla(16, 2, 4, 4, 8, 8, 2)), 1), "cache"),
    (lambda: A.mla_decode_step(_randn(16), None, A.mla_absorb(A.init_mla(16, 2, 4, 4, 8, 8, 2)), -1), "pos"),
    (lambda: A.decode_cost("mla", n_heads=2, head_dim=4), "d_c"),
    (lambda: A.decode_cost("mha", n_heads=0, head_dim=4), "n_heads"),
])
def test_mla_bad_input_names_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()
