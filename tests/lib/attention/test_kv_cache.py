"""Tests of kexue.attention.kv_cache: cache counts of MHA, GQA, MQA and MLA, the published model
table, and the post's "RAM" (chapters mha-to-mla and attention-as-rnn). Anchors: the counts
written out by hand from the papers' configurations."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from kexue import attention as A

FAST = settings(max_examples=30, deadline=None)


def test_kv_cache_elements_published_configs():
    # Llama2-7B: 32 layers, 32 heads of 128 -> 2*32*32*128; 70B: 80 layers, 8 KV heads of 128
    assert A.config_cache_elements("llama2-7b") == 2 * 32 * 32 * 128 == 262_144
    assert A.config_cache_elements("llama2-13b") == 2 * 40 * 40 * 128
    assert A.config_cache_elements("llama2-70b") == 2 * 80 * 8 * 128
    assert A.config_cache_elements("llama2-70b", "mha") == 2 * 80 * 64 * 128
    assert A.config_cache_elements("deepseek-v2") == 60 * (512 + 64)
    mha128 = A.kv_cache_elements("mha", n_layers=1, n_heads=128, head_dim=128)
    assert mha128 / A.kv_cache_elements("mla", n_layers=1, d_c=512, d_r=64) == pytest.approx(32768 / 576)
    assert A.kv_cache_bytes("mha", context=1, dtype="float16", n_layers=32, n_heads=32,
                            head_dim=128) == 512 * 1024


def test_model_configs_are_consistent():
    for name, c in A.MODEL_CONFIGS.items():
        assert c["n_heads"] % c["n_kv_heads"] == 0 and c["label"]
        if not name.startswith("deepseek"):                 # Llama: heads span the width
            assert c["n_heads"] * c["head_dim"] == c["d_model"]


@FAST
@given(st.sampled_from([1, 2, 4, 8, 16]), st.integers(0, 4), st.integers(1, 6), st.integers(1, 80))
def test_gqa_cache_is_g_over_h_of_mha(h_exp, g_exp, hd, layers):
    """Invariant: GQA with g groups caches g/h of MHA; g = h is MHA, g = 1 is MQA."""
    h = h_exp
    g = max(1, h >> g_exp)
    mha = A.kv_cache_elements("mha", n_layers=layers, n_heads=h, head_dim=hd)
    gqa = A.kv_cache_elements("gqa", n_layers=layers, n_heads=h, head_dim=hd, n_kv_heads=g)
    assert gqa * h == mha * g
    if g == 1:
        assert gqa == A.kv_cache_elements("mqa", n_layers=layers, head_dim=hd)
    if g == h:
        assert gqa == mha


@FAST
@given(st.integers(1, 100), st.integers(1, 10_000), st.integers(1, 64),
       st.sampled_from(list(A.DTYPE_BYTES)))
def test_kv_cache_bytes_scale_with_context_batch_and_dtype(context, hidden, batch, dtype):
    one = A.kv_cache_bytes("mha", context=1, batch=1, dtype=dtype, n_layers=2, n_heads=1, head_dim=hidden)
    assert A.kv_cache_bytes("mha", context=context, batch=batch, dtype=dtype, n_layers=2, n_heads=1,
                            head_dim=hidden) == one * context * batch
    assert one == A.ram_floats(2, hidden) * A.DTYPE_BYTES[dtype]


def test_ram_floats_llama2():
    assert A.ram_floats(80, 8192) == 1_310_720
    assert A.ram_floats(32, 4096) == 262_144
    assert A.config_ram_floats("llama2-70b") == 2 * 80 * 8192
    assert A.config_ram_floats("llama2-7b") == A.config_cache_elements("llama2-7b")   # MHA, h d = width


@pytest.mark.parametrize("call, name", [
    (lambda: A.kv_cache_elements("mxa", n_layers=1, head_dim=4), "kind"),
    (lambda: A.kv_cache_elements("mha", n_layers=0, n_heads=2, head_dim=4), "n_layers"),
    (lambda: A.kv_cache_elements("gqa", n_layers=1, n_heads=8, head_dim=4, n_kv_heads=3), "n_kv_heads"),
    (lambda: A.kv_cache_elements("gqa", n_layers=1, n_heads=8, head_dim=4), "n_kv_heads"),
    (lambda: A.kv_cache_elements("mha", n_layers=1, n_heads=2), "head_dim"),
    (lambda: A.kv_cache_elements("mha", n_layers=1, head_dim=2), "n_heads"),
    (lambda: A.kv_cache_elements("mla", n_layers=1, d_c=-1, d_r=2), "d_c"),
    (lambda: A.kv_cache_elements("mla", n_layers=1, d_c=4), "d_c"),
    (lambda: A.kv_cache_bytes("mha", context=0, n_layers=1, n_heads=1, head_dim=1), "context"),
    (lambda: A.kv_cache_bytes("mha", context=1, batch=0, n_layers=1, n_heads=1, head_dim=1), "batch"),
    (lambda: A.kv_cache_bytes("mha", context=1, dtype="int3", n_layers=1, n_heads=1, head_dim=1), "dtype"),
    (lambda: A.config_cache_elements("gpt-5"), "name"),
    (lambda: A.config_ram_floats("gpt-5"), "name"),
    (lambda: A.ram_floats(0, 8), "n_layers"),
    (lambda: A.ram_floats(2, 0), "hidden"),
    (lambda: A.kv_cache_elements("mla", n_layers=1, d_c=4, d_r=-1), "d_r"),
    (lambda: A.kv_cache_elements("mha", n_layers=1, n_heads=2, head_dim=0), "head_dim"),
    (lambda: A.kv_cache_elements("mha", n_layers=1, n_heads=0, head_dim=2), "n_heads"),
])
def test_kv_cache_bad_input_names_parameter(call, name):
    # the message starts with the parameter's own name (not a longer word containing it)
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()


def test_kv_cache_smallest_valid_sizes_and_gqa_upper_bound():
    """d_c = 1 and d_r = 0 are allowed (the lower bounds are inclusive); n_kv_heads > n_heads is
    refused by the range check itself, which names the bound."""
    assert A.kv_cache_elements("mla", n_layers=3, d_c=1, d_r=0) == 3
    assert A.kv_cache_elements("gqa", n_layers=1, n_heads=8, head_dim=1, n_kv_heads=8) == 16
    with pytest.raises(ValueError, match=r"^n_kv_heads must be an integer in \[1, 8\]"):
        A.kv_cache_elements("gqa", n_layers=1, n_heads=8, head_dim=4, n_kv_heads=16)
