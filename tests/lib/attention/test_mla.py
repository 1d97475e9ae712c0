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
    (lambda: A.mla_train_forward(_randn(3, 16), A.init_mla(16, 2, 4, 4, 8, 8, 2), rope="rotary"), "rope"),
    (lambda: A.mla_train_forward(_randn(3, 16), A.init_mla(16, 2, 4, 4, 8, 6, 0), rope="latent"), "latent"),
    (lambda: A.mla_decode_forward(_randn(3, 16), A.mla_absorb(A.init_mla(16, 2, 4, 4, 8, 8, 2)), rope="latent"), "latent"),
    (lambda: A.round_to(_randn(3), "bfloat16"), "dtype"),
    (lambda: A.round_to([1.0, 2.0], torch.bfloat16), "x"),
    (lambda: A.alibi_slopes(0), "n_heads"),
    (lambda: A.mla_stack(_randn(3, 16), [A.init_mla(16, 2, 4, 4, 8, 8, 2)], form="fused"), "form"),
    (lambda: A.mla_stack(_randn(3, 16), [], form="train"), "layers"),
    (lambda: A.mla_stack(_randn(2, 3, 16), [A.init_mla(16, 2, 4, 4, 8, 8, 2)]), "x"),
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


# ---- an independent implementation: transformers' DeepSeek attention with random weights ------

def _hf_deepseek(W, T, seed=5):
    """transformers' DeepseekV3Attention (the MLA of DeepSeek-V2/V3) carrying the weights W.

    Its RMSNorms on the two latents are replaced by identities (our MLA, like the post, has none);
    DeepSeek's interleaved RoPE layout. Returns (output, cached tensors, input)."""
    tr = pytest.importorskip("transformers")
    from transformers.cache_utils import DynamicCache
    from transformers.models.deepseek_v3.modeling_deepseek_v3 import (DeepseekV3Attention,
                                                                       DeepseekV3RotaryEmbedding)
    h, dcq, dk = W["W_q"].shape
    dc, dv, dr, d = W["W_k"].shape[1], W["W_v"].shape[2], W["W_qr"].shape[2], W["W_c"].shape[0]
    cfg = tr.DeepseekV3Config(hidden_size=d, num_attention_heads=h, num_key_value_heads=h,
                              q_lora_rank=dcq, kv_lora_rank=dc, qk_nope_head_dim=dk,
                              qk_rope_head_dim=dr, v_head_dim=dv, rope_interleave=True,
                              num_hidden_layers=1, attention_bias=False, max_position_embeddings=64)
    cfg._attn_implementation = "eager"
    att = DeepseekV3Attention(cfg, 0).double().eval()
    att.q_a_layernorm, att.kv_a_layernorm = torch.nn.Identity(), torch.nn.Identity()
    with torch.no_grad():
        att.q_a_proj.weight.copy_(W["W_cq"].T)
        att.q_b_proj.weight.copy_(torch.cat([W["W_q"], W["W_qr"]], -1).permute(0, 2, 1).reshape(-1, dcq))
        att.kv_a_proj_with_mqa.weight.copy_(torch.cat([W["W_c"], W["W_kr"]], 1).T)
        att.kv_b_proj.weight.copy_(torch.cat([W["W_k"], W["W_v"]], -1).permute(0, 2, 1).reshape(-1, dc))
        att.o_proj.weight.copy_(W["W_o"].reshape(h * dv, d).T)
    x = _randn(1, T, d, seed=seed)
    cos, sin = DeepseekV3RotaryEmbedding(cfg).double()(x, torch.arange(T)[None])
    mask = torch.full((T, T), -math.inf, dtype=torch.float64).triu(1)[None, None]
    cache = DynamicCache(config=cfg)
    with torch.no_grad():
        out, _ = att(x, (cos, sin), mask, past_key_values=cache)
    return out, (cache.layers[0].keys, cache.layers[0].values), x


def test_mla_matches_transformers_deepseek_attention():
    """Both forms of our MLA against transformers' DeepSeek attention (RoPE angles in float32 there)."""
    W = A.init_mla(**SIZES, seed=3)
    out, cached, x = _hf_deepseek(W, T=9)
    ref = A.mla_train_forward(x, W)[0]
    assert (out - ref).abs().max() < 1e-6
    for mode in ("merged", "sequential"):
        assert (A.mla_decode_forward(x, A.mla_absorb(W, mode))[0] - out).abs().max() < 1e-6
    # a different RoPE layout (rotate-half instead of interleaved pairs) would not match
    W2 = dict(W, W_qr=W["W_qr"][..., [0, 2, 4, 6, 1, 3, 5, 7]])
    assert (A.mla_train_forward(x, W2)[0] - out).abs().max() > 1e-3


def test_transformers_deepseek_caches_latent_and_rope_key_only():
    """What the reference implementation caches per token and layer: d_c + d_r numbers."""
    W = A.init_mla(**SIZES, seed=3)
    _, cached, _ = _hf_deepseek(W, T=7)
    per_token = sum(t[0, :, 0].numel() for t in cached)
    assert per_token == A.kv_cache_elements("mla", n_layers=1, d_c=24, d_r=8) == 24 + 8
    _, cache = A.mla_decode_forward(_randn(7, 64), A.mla_absorb(W))
    assert cache.shape == (7, per_token)


def test_gqa_cache_matches_transformers_llama_cache():
    """kv_cache_elements for GQA against what transformers' Llama attention caches."""
    tr = pytest.importorskip("transformers")
    from transformers.cache_utils import DynamicCache
    from transformers.models.llama.modeling_llama import LlamaAttention, LlamaRotaryEmbedding
    for h, g, hd in ((8, 2, 16), (8, 8, 4), (4, 1, 8)):
        cfg = tr.LlamaConfig(hidden_size=32, num_attention_heads=h, num_key_value_heads=g,
                             head_dim=hd, num_hidden_layers=1)
        cfg._attn_implementation = "eager"
        att = LlamaAttention(cfg, 0).eval()
        x = torch.randn(1, 5, 32)
        cos_sin = LlamaRotaryEmbedding(cfg)(x, torch.arange(5)[None])
        cache = DynamicCache(config=cfg)
        with torch.no_grad():
            att(x, cos_sin, None, past_key_values=cache)
        per_token = sum(t[0, :, 0].numel() for t in (cache.layers[0].keys, cache.layers[0].values))
        kind = "mha" if g == h else ("mqa" if g == 1 else "gqa")
        assert per_token == A.kv_cache_elements(kind, n_layers=1, n_heads=h, head_dim=hd, n_kv_heads=g)


def test_mqa_parameter_count_matches_transformers_llama():
    """Attention parameters (2d^2 + 2 d g d_k with h d_k = d) against transformers' Llama, on meta."""
    tr = pytest.importorskip("transformers")
    from transformers.models.llama.modeling_llama import LlamaAttention
    for g in (32, 8, 1):
        cfg = tr.LlamaConfig(hidden_size=4096, num_attention_heads=32, num_key_value_heads=g, num_hidden_layers=1)
        with torch.device("meta"):
            n_hf = sum(p.numel() for p in LlamaAttention(cfg, 0).parameters())
        n_ours = sum(p.numel() for p in A.GroupedQueryAttention(64, 4, max(1, g // 8), 16).parameters())
        assert n_hf == 2 * 4096 ** 2 + 2 * 4096 * g * 128
        assert n_ours == 2 * 64 ** 2 + 2 * 64 * max(1, g // 8) * 16


# ---- position encodings -----------------------------------------------------------------

def _numpy_mla(x, W, pos, rope=True, alibi=None):
    """Per-head numpy MLA from the equations, with optional explicit ALiBi bias m_s (i - t)."""
    Wn = {k: v.numpy() for k, v in W.items()}
    x = x.numpy()

    def rot(y):
        if not rope:
            return y
        th = 1e4 ** (-np.arange(0, y.shape[1], 2) / y.shape[1])
        c, s = np.cos(pos[:, None] * th), np.sin(pos[:, None] * th)
        out = np.empty_like(y)
        out[:, 0::2], out[:, 1::2] = y[:, 0::2] * c - y[:, 1::2] * s, y[:, 0::2] * s + y[:, 1::2] * c
        return out
    c, cq, T = x @ Wn["W_c"], x @ Wn["W_cq"], len(x)
    out = np.zeros_like(x)
    for s in range(Wn["W_q"].shape[0]):
        q = np.hstack([cq @ Wn["W_q"][s], rot(cq @ Wn["W_qr"][s])])
        k = np.hstack([c @ Wn["W_k"][s], rot(x @ Wn["W_kr"])])
        sc = q @ k.T / math.sqrt(q.shape[1])
        if alibi is not None:
            sc += alibi[s] * (pos[None, :] - pos[:, None])
        sc[np.triu_indices(T, 1)] = -np.inf
        a = np.exp(sc - sc.max(1, keepdims=True))
        out += a / a.sum(1, keepdims=True) @ (c @ Wn["W_v"][s]) @ Wn["W_o"][s]
    return out


def test_alibi_mode_adds_the_bias_and_absorbs():
    W = A.init_mla(**SIZES, seed=6)
    x = _randn(10, 64, seed=7)
    pos = np.arange(10.0)
    ref = _numpy_mla(x, W, pos, rope=False, alibi=A.alibi_slopes(4).numpy())
    train = A.mla_train_forward(x, W, rope="alibi")[0]
    assert np.abs(train.numpy() - ref).max() < 1e-12
    assert np.abs(A.mla_train_forward(x, W, rope="none")[0].numpy() - ref).max() > 1e-3
    assert (A.mla_decode_forward(x, A.mla_absorb(W), rope="alibi")[0] - train).abs().max() < 1e-12
    shifted = A.mla_train_forward(x, W, positions=torch.arange(10.0) + 5, rope="alibi")[0]
    assert (shifted - train).abs().max() < 1e-12


def test_alibi_slopes_are_geometric():
    assert torch.allclose(A.alibi_slopes(8), torch.tensor([2.0 ** -k for k in range(1, 9)], dtype=torch.float64))
    s = A.alibi_slopes(5)
    assert s.shape == (5,) and (s[1:] < s[:-1]).all() and abs(float(s[-1]) - 2 ** -8) < 1e-15


def test_latent_rope_absorbs_but_is_not_relative():
    W = A.init_mla(64, 4, 16, 16, 24, 24, 0, seed=1)
    x = _randn(10, 64, seed=2)
    train = A.mla_train_forward(x, W, rope="latent")[0]
    dec, cache = A.mla_decode_forward(x, A.mla_absorb(W), rope="latent")
    assert (dec - train).abs().max() < 1e-12 and cache.shape == (10, 24)
    shifted = A.mla_train_forward(x, W, positions=torch.arange(10.0) + 7, rope="latent")[0]
    assert (shifted - train).abs().max() > 1e-2
    # decoupled and full RoPE are relative: a common shift changes nothing
    Wd = A.init_mla(**SIZES, seed=1)
    for rope in ("decoupled", "full"):
        a = A.mla_train_forward(x, Wd, rope=rope)[0]
        b = A.mla_train_forward(x, Wd, positions=torch.arange(10.0) + 7, rope=rope)[0]
        assert (a - b).abs().max() < 1e-12


def test_training_form_matches_numpy_reference_with_rope():
    W = A.init_mla(**SIZES, seed=8)
    x = _randn(11, 64, seed=9)
    assert np.abs(A.mla_train_forward(x, W)[0].numpy() - _numpy_mla(x, W, np.arange(11.0))).max() < 1e-12


# ---- precision ------------------------------------------------------------------------------

@FAST
@given(st.integers(0, 10_000))
def test_round_to_is_idempotent_and_close(seed):
    x = _randn(50, seed=seed) * 10.0 ** torch.randint(-3, 4, (50,), generator=torch.Generator().manual_seed(seed))
    r = A.round_to(x, torch.bfloat16)
    assert r.dtype == torch.float64 and torch.equal(A.round_to(r, torch.bfloat16), r)
    assert ((r - x).abs() <= 2.0 ** -8 * x.abs()).all()
    assert torch.equal(A.round_to(x, None), x)


def test_mla_absorb_precision_rounds_merged_matrices():
    W = A.init_mla(**SIZES, seed=0)
    Wa = A.mla_absorb(W, "merged", precision=torch.bfloat16)
    exact = A.mla_absorb(W, "merged")
    assert torch.equal(Wa["W_qc"], A.round_to(exact["W_qc"], torch.bfloat16))
    assert not torch.equal(Wa["W_qc"], exact["W_qc"])


def test_mla_stack_forms_agree_in_float64_and_match_manual_loop():
    layers = [A.init_mla(**SIZES, seed=s) for s in range(3)]
    x = _randn(8, 64, seed=1)
    hs = {f: A.mla_stack(x, layers, f) for f in A.STACK_FORMS}
    assert len(hs["train"]) == 4 and torch.equal(hs["train"][0], x)
    for f in ("merged", "sequential"):
        assert max((a - b).abs().max() for a, b in zip(hs[f], hs["train"])) < 1e-11
    h = x
    for W in layers:                                 # h + MLA(h / rms(h))
        h = h + A.mla_train_forward(h / h.pow(2).mean(-1, keepdim=True).sqrt(), W)[0]
    assert (hs["train"][-1] - h).abs().max() < 1e-12


def test_mla_stack_bf16_errors_are_bf16_sized_and_grow():
    layers = [A.init_mla(128, 4, 16, 16, 64, 192, 8, seed=s) for s in range(8)]
    x = _randn(16, 128, seed=2)
    exact = A.mla_stack(x, layers)
    for f in A.STACK_FORMS:
        low = A.mla_stack(x, layers, f, precision=torch.bfloat16)
        rel = [float((a - b).norm() / b.norm()) for a, b in zip(low[1:], exact[1:])]
        assert all(1e-3 < e < 5e-2 for e in rel) and rel[-1] > rel[0]
        # every stored hidden state is a bfloat16 number
        assert all(torch.equal(A.round_to(t, torch.bfloat16), t) for t in low)


def test_mla_stack_round_activations_false_isolates_the_merged_rounding():
    """With exact activations, the training form and the sequential order reproduce the BF16
    model exactly; only the merged order differs (its W_q W_k^T and W_v W_o are rounded again)."""
    layers = [A.init_mla(128, 4, 16, 16, 64, 192, 8, seed=s) for s in range(4)]
    x = _randn(16, 128, seed=3)
    bf = torch.bfloat16
    rounded = [{k: A.round_to(v, bf) for k, v in W.items()} for W in layers]
    ref = A.mla_stack(x, rounded)                                    # float64 forward of the BF16 weights
    for form in ("train", "sequential"):
        out = A.mla_stack(x, layers, form, bf, round_activations=False)
        assert max((a - b).abs().max() for a, b in zip(out, ref)) < 1e-12
    merged = A.mla_stack(x, layers, "merged", bf, round_activations=False)
    errs = [float((a - b).norm() / b.norm()) for a, b in zip(merged[1:], ref[1:])]
    assert all(1e-4 < e < 1e-2 for e in errs) and errs[-1] > errs[0]
    with pytest.raises(ValueError, match="round_activations"):
        A.mla_stack(x, layers, "train", bf, round_activations=1)


def test_mla_entry_points_refuse_a_weights_dict_that_is_not_one():
    """A string or None instead of the weights dict was an AttributeError/TypeError."""
    W = A.init_mla(8, 2, 4, 4, 4, 4, 2, seed=0)
    x = torch.randn(3, 8, dtype=torch.float64)
    for bad in ("bad", None):
        with pytest.raises(ValueError, match="W must be a dict"):
            A.cast_weights(bad, torch.float32)
        with pytest.raises(ValueError, match="W must be a dict"):
            A.mla_absorb(bad)
        with pytest.raises(ValueError, match="W must be a dict"):
            A.mla_train_forward(x, bad)
        with pytest.raises(ValueError, match="W_abs must be a dict"):
            A.mla_decode_forward(x, bad)
        with pytest.raises(ValueError, match="W_abs must be a dict"):
            A.mla_decode_step(x[0], None, bad, 0)
    A.mla_decode_step(x[0], None, A.mla_absorb(W), 0)


def test_dtype_arguments_must_be_torch_dtypes():
    for bad in ("bad", None):
        with pytest.raises(ValueError, match="dtype"):
            A.init_mla(8, 2, 4, 4, 4, 4, 2, dtype=bad)
        with pytest.raises(ValueError, match="dtype"):
            A.GroupedQueryAttention(8, 2, 1, 4, dtype=bad)


def test_mla_decode_step_on_a_preallocated_cache():
    """A buffer with more rows than pos is written in place (row pos) and returned: the same
    outputs and cache rows, bit for bit, as the growing cache, although the rows past pos hold
    NaN (never read, never checked). A NaN in a row already written is refused, as is an
    integer buffer (it cannot hold the new row)."""
    W = A.init_mla(**SIZES, seed=2)
    Wa = A.mla_absorb(W, "sequential")
    x = _randn(6, 64, seed=3)
    grow, buf = None, torch.full((9, 32), float("nan"), dtype=torch.float64)
    for t in range(6):
        o_g, grow = A.mla_decode_step(x[t], grow, Wa, t)
        o_b, out = A.mla_decode_step(x[t], buf, Wa, t)
        assert out is buf and torch.equal(o_g, o_b)
    assert torch.equal(buf[:6], grow) and torch.isnan(buf[6:]).all()
    buf[2, 5] = float("nan")
    with pytest.raises(ValueError, match="cache"):
        A.mla_decode_step(x[0], buf, Wa, 6)
    with pytest.raises(ValueError, match="cache must be a floating tensor"):
        A.mla_decode_step(x[0], torch.zeros(4, 32, dtype=torch.long), Wa, 1)
    with pytest.raises(ValueError, match=r"cache must have shape \(3, 32\)"):
        A.mla_decode_step(x[0], torch.zeros(3, 31, dtype=torch.float64), Wa, 3)
