"""Tests of kexue.position: RoPE (1-D, multi-axis), layouts, and NoPE position leakage."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kexue import position as P

torch.set_num_threads(1)
FAST = settings(max_examples=30, deadline=None)


# ---------------------------------------------------------------- frequencies and rotations
def test_rope_frequencies_values():
    th = P.rope_frequencies(8, 10000.0)
    np.testing.assert_allclose(th, [1.0, 10.0 ** -1, 10.0 ** -2, 10.0 ** -3], rtol=1e-15)


def test_apply_rope_equals_block_matrix():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 16))
    pos = rng.normal(size=6) * 30
    y = P.apply_rope(x, pos)
    ang = P.rope_angles(pos, 16)
    for j in range(6):
        np.testing.assert_allclose(y[j], P.rope_matrix(ang[j]) @ x[j], atol=1e-13)


def test_apply_rope_returns_kind_it_was_given():
    x = np.ones((3, 4))
    assert isinstance(P.apply_rope(x, [0, 1, 2]), np.ndarray)
    t = torch.ones(2, 3, 4, dtype=torch.float32)
    out = P.apply_rope(t, torch.arange(3))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == t.shape


def test_apply_rope_position_zero_is_identity():
    x = np.random.default_rng(1).normal(size=(1, 10))
    np.testing.assert_array_equal(P.apply_rope(x, [0.0]), x)


@FAST
@given(m=st.floats(-500, 500), n=st.floats(-500, 500), shift=st.floats(-500, 500),
       seed=st.integers(0, 2 ** 16))
def test_apply_rope_score_depends_only_on_relative_position(m, n, shift, seed):
    rng = np.random.default_rng(seed)
    q, k = rng.normal(size=(1, 32)), rng.normal(size=(1, 32))
    s1 = P.apply_rope(q, [m])[0] @ P.apply_rope(k, [n])[0]
    s2 = P.apply_rope(q, [m + shift])[0] @ P.apply_rope(k, [n + shift])[0]
    assert abs(s1 - s2) < 1e-9 * (1 + abs(m) + abs(n) + abs(shift))


@FAST
@given(seed=st.integers(0, 2 ** 16), layout=st.sampled_from(P.LAYOUTS))
def test_apply_rope_angles_preserves_norm(seed, layout):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 5, 12))
    ang = rng.normal(size=(5, 6)) * 100
    y = P.apply_rope_angles(x, ang, layout)
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-12)


def test_apply_rope_gradcheck():
    x = torch.randn(2, 4, 6, dtype=torch.float64, requires_grad=True)
    pos = torch.tensor([0.0, 1.5, -2.0, 7.0], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: P.apply_rope(t, pos), (x,))
    assert torch.autograd.gradcheck(
        lambda t: P.apply_rope_nd(t, torch.stack([pos, 2 * pos], 1), scheme="sections",
                                  sections=[1, 2], layout="half"), (x,))


def test_apply_rope_matches_rotary_embedding_torch():
    from rotary_embedding_torch import RotaryEmbedding, apply_rotary_emb
    d, n = 32, 9
    x = torch.randn(2, 3, n, d, dtype=torch.float64)
    rot = RotaryEmbedding(dim=d)
    freqs = rot(torch.arange(n, dtype=torch.float64)).to(torch.float64)
    ref = apply_rotary_emb(freqs, x)
    ours = P.apply_rope(x, torch.arange(n))
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-6)


def _rotate_half_reference(x, cos, sin):
    """Llama's apply_rotary_pos_emb, written out (rotate_half layout)."""
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def test_half_layout_matches_llama_rotate_half():
    d, n = 16, 7
    x = torch.randn(n, d, dtype=torch.float64)
    pos = torch.arange(n, dtype=torch.float64)
    inv = torch.as_tensor(P.rope_frequencies(d))
    emb = torch.cat([pos[:, None] * inv, pos[:, None] * inv], -1)
    ref = _rotate_half_reference(x, emb.cos(), emb.sin())
    ours = P.apply_rope_angles(x, P.rope_angles(pos, d), layout="half")
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-13)


def test_extreme_positions_stay_finite():
    x = np.random.default_rng(2).normal(size=(3, 8)) * 1e6
    y = P.apply_rope(x, [1e12, -1e12, 0.0])
    assert np.isfinite(y).all()
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), np.linalg.norm(x, axis=1), rtol=1e-12)


# ---------------------------------------------------------------- multi-axis schemes
@pytest.mark.parametrize("k", [2, 3])
def test_alternate_scheme_is_compatible_with_1d(k):
    pos = np.arange(-3, 40, dtype=float)
    a1 = P.rope_angles(pos, 64)
    ak = P.rope_angles(np.repeat(pos[:, None], k, 1), 64, scheme="alternate")
    assert np.abs(a1 - ak).max() == 0.0


def test_tied_scheme_is_not_compatible():
    pos = np.array([0.0, 1.0, 5.0])
    a1 = P.rope_angles(pos, 64)
    at = P.rope_angles(np.stack([pos, pos], 1), 64, scheme="tied")
    assert np.abs(a1 - at)[0].max() == 0.0
    assert np.abs(a1 - at)[1:].max() > 1e-3
    np.testing.assert_array_equal(at[:, 0::2], at[:, 1::2])   # x and y pairs share a frequency


def test_sections_scheme_assigns_contiguous_blocks():
    pos = np.array([[1.0, 2.0, 3.0]])
    a = P.rope_angles(pos, 12, scheme="sections", sections=[1, 2, 3])
    th = P.rope_frequencies(12)
    np.testing.assert_allclose(a[0], th * np.array([1, 2, 2, 3, 3, 3]), rtol=1e-15)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, name", [
    (lambda: P.rope_frequencies(7), "d"),
    (lambda: P.rope_frequencies(8, base=1.0), "base"),
    (lambda: P.rope_frequencies(8, base=float("nan")), "base"),
    (lambda: P.rope_angles([1.0], 8, scheme="spiral"), "scheme"),
    (lambda: P.rope_angles([[1.0, 2.0]], 8, scheme="1d"), "positions"),
    (lambda: P.rope_angles([[1.0, 2.0]], 8, scheme="sections", sections=[1, 2]), "sections"),
    (lambda: P.rope_angles([[1.0, 2.0]], 8, scheme="sections"), "sections"),
    (lambda: P.rope_angles([np.nan], 8), "positions"),
    (lambda: P.rope_matrix(np.zeros((2, 2))), "angles_row"),
    (lambda: P.apply_rope_angles(np.ones((2, 4)), np.ones((2, 3))), "angles"),
    (lambda: P.apply_rope_angles(np.ones((2, 4)), np.ones((2, 2)), layout="x"), "layout"),
    (lambda: P.apply_rope(np.ones((2, 5)), [0, 1]), "x"),
    (lambda: P.apply_rope(np.ones((2, 4)), [0, 1, 2]), "positions"),
    (lambda: P.apply_rope(np.ones(4), [0]), "x"),
    (lambda: P.apply_rope_nd(np.ones((2, 4)), [[0, 1]]), "positions"),
])
def test_rope_bad_input_raises_naming_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ---------------------------------------------------------------- layouts (multimodal-rope)
SEGS = [("text", 5), ("image", 2, 3), ("text", 2)]


def test_rope_tv_worked_example():
    # the post's construction computed by hand: beta = (5 + (6-2)/2, 5 + (6-3)/2) = (7, 6.5)
    lay = P.positions_rope_tv(SEGS)
    patches = [(7 + i, 6.5 + j) for i in (1, 2) for j in (1, 2, 3)]
    expect = [(n, n) for n in range(1, 6)] + patches + [(12, 12), (13, 13)]
    np.testing.assert_array_equal(lay.positions, np.array(expect, dtype=float))
    assert list(lay.labels) == ["text"] * 5 + ["image"] * 6 + ["text"] * 2
    g = P.modality_gaps(lay)[0]
    np.testing.assert_array_equal(g["before"], [3, 2.5])
    np.testing.assert_array_equal(g["after"], [3, 2.5])
    assert g["equivalent_tokens"] == 6


def test_rope_tie_worked_example():
    lay = P.positions_rope_tie(SEGS)
    patches = [(5 + 4 * i, 5 + 3 * j) for i in (1, 2) for j in (1, 2, 3)]
    np.testing.assert_array_equal(lay.positions[5:11], np.array(patches, dtype=float))
    np.testing.assert_array_equal(lay.positions[11], [17, 17])
    g = P.modality_gaps(lay)[0]
    assert g["equivalent_tokens"] == 11 and np.array_equal(g["before"], g["after"])


@FAST
@given(L=st.integers(1, 6), h=st.integers(1, 7), w=st.integers(1, 7), t=st.integers(1, 4),
       R=st.integers(1, 4))
def test_rope_tv_is_symmetric_and_equivalent(L, h, w, t, R):
    vis = ("image", h, w) if t == 1 else ("video", t, h, w)
    lay = P.positions_rope_tv([("text", L), vis, ("text", R)])
    g = P.modality_gaps(lay)[0]
    np.testing.assert_allclose(g["before"], g["after"], rtol=0, atol=1e-12)
    assert g["equivalent_tokens"] == h * w * t
    vis_pos = lay.positions[lay.labels != "text"]
    steps = np.unique(np.round(np.diff(np.unique(vis_pos[:, -1])), 12))
    assert steps.size == 0 or np.array_equal(steps, [1.0])          # unit stride in every image


@FAST
@given(L=st.integers(1, 6), h=st.integers(1, 7), w=st.integers(1, 7))
def test_rope_tie_noninteger_is_equivalent(L, h, w):
    g = P.modality_gaps(P.positions_rope_tie([("text", L), ("image", h, w), ("text", 1)],
                                             integer=False))[0]
    assert abs(g["equivalent_tokens"] - h * w) < 1e-9
    np.testing.assert_allclose(g["before"], g["after"], atol=1e-12)


def test_mrope_docstring_example():
    lay = P.positions_mrope([("video", 3, 2, 2), ("text", 5)])
    t, h, w = lay.positions.T
    assert t[:12].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    assert h[:12].tolist() == [0, 0, 1, 1] * 3 and w[:12].tolist() == [0, 1, 0, 1] * 3
    assert (lay.positions[12:] == np.arange(3, 8)[:, None]).all()
    lay5 = P.positions_mrope([("video", 3, 2, 2), ("text", 5)], next_text="spatial")
    assert (lay5.positions[12:] == np.arange(2, 7)[:, None]).all()


def test_text_only_layouts_reduce_to_rope_1d():
    for f in (P.positions_rope_tv, P.positions_rope_tie):
        lay = f([("text", 9)])
        np.testing.assert_array_equal(lay.positions, np.repeat(np.arange(1.0, 10)[:, None], 2, 1))
    np.testing.assert_array_equal(P.positions_mrope([("text", 4)]).positions,
                                  np.repeat(np.arange(4.0)[:, None], 3, 1))


@FAST
@given(seed=st.integers(0, 2 ** 16), scheme=st.sampled_from(["alternate", "tied"]),
       shift=st.tuples(st.floats(-50, 50), st.floats(-50, 50)))
def test_multi_axis_scores_are_shift_invariant(seed, scheme, shift):
    rng = np.random.default_rng(seed)
    q, k = rng.normal(size=(2, 6, 16))
    pos = rng.uniform(-20, 20, size=(6, 2))
    s1 = P.score_matrix(q, k, pos, scheme=scheme)
    s2 = P.score_matrix(q, k, pos + np.array(shift), scheme=scheme)
    np.testing.assert_allclose(s1, s2, atol=1e-10)


def _hf_qwen2vl():
    transformers = pytest.importorskip("transformers")
    from transformers import Qwen2VLConfig
    from transformers.models.qwen2_vl import modeling_qwen2_vl as M
    cfg = Qwen2VLConfig(
        text_config=dict(hidden_size=32, num_attention_heads=2, num_key_value_heads=2,
                         num_hidden_layers=1, intermediate_size=32, vocab_size=50,
                         bos_token_id=0, eos_token_id=1,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                          "mrope_section": [2, 3, 3]}),
        vision_config=dict(depth=1, embed_dim=16, hidden_size=32, num_heads=2,
                           spatial_merge_size=2))
    return transformers, M, cfg


def test_mrope_positions_match_transformers_get_rope_index():
    transformers, M, cfg = _hf_qwen2vl()
    model = M.Qwen2VLModel(cfg)
    cases = [([("text", 2), ("image", 2, 3), ("text", 3)], [0] * 2 + [1] * 6 + [0] * 3),
             ([("video", 3, 2, 2), ("text", 5)], [2] * 12 + [0] * 5)]
    for segs, types in cases:
        image = [[1, 2 * s[1], 2 * s[2]] for s in segs if s[0] == "image"] or None
        video = [[s[1], 2 * s[2], 2 * s[3]] for s in segs if s[0] == "video"] or None
        pos, _ = model.get_rope_index(torch.zeros(1, len(types), dtype=torch.long),
                                      torch.tensor([types]),
                                      image_grid_thw=None if image is None else torch.tensor(image),
                                      video_grid_thw=None if video is None else torch.tensor(video))
        ours = P.positions_mrope(segs, next_text="spatial").positions.T
        np.testing.assert_array_equal(pos[:, 0].numpy(), ours)


def test_mrope_rotation_matches_transformers():
    transformers, M, cfg = _hf_qwen2vl()
    rot = M.Qwen2VLRotaryEmbedding(cfg.text_config)
    lay = P.positions_mrope([("text", 2), ("video", 2, 2, 3), ("text", 3)])
    ids = torch.as_tensor(lay.positions.T[:, None, :], dtype=torch.long)       # (3, 1, N)
    q = torch.randn(1, 2, ids.shape[-1], 16)
    cos, sin = rot(q, ids)
    ref, _ = M.apply_rotary_pos_emb(q, q, cos, sin)
    ours = P.apply_rope_nd(q.double(), lay.positions, scheme="sections", sections=[2, 3, 3],
                           layout="half")
    torch.testing.assert_close(ours.float(), ref, rtol=1e-5, atol=1e-5)
    # text-only positions (n, n, n): M-RoPE is plain rotate-half RoPE
    n = torch.arange(7)
    cos1, sin1 = rot(q[:, :, :7], n[None, None, :].expand(3, 1, 7))
    ref1, _ = M.apply_rotary_pos_emb(q[:, :, :7], q[:, :, :7], cos1, sin1)
    plain = P.apply_rope_angles(q[:, :, :7].double(), P.rope_angles(n, 16), layout="half")
    torch.testing.assert_close(plain.float(), ref1, rtol=1e-5, atol=1e-5)


def test_axial_rotary_embedding_torch_matches_blocked_2d():
    # rotary-embedding-torch's axial 2-D RoPE = concatenated [x-half | y-half] blocks,
    # i.e. our "sections" scheme with two equal sections after un-interleaving, own freqs
    from rotary_embedding_torch import RotaryEmbedding, apply_rotary_emb
    rot = RotaryEmbedding(dim=8, freqs_for="pixel", max_freq=10)
    freqs = rot.get_axial_freqs(3, 4)                     # (3, 4, 16)
    x = torch.randn(3, 4, 16, dtype=torch.float64)
    ref = apply_rotary_emb(freqs.double(), x)
    half_freqs = rot.freqs.detach().double().numpy()      # (4,) per axis
    ii, jj = np.meshgrid(np.linspace(-1, 1, 3), np.linspace(-1, 1, 4), indexing="ij")
    pos = np.stack([ii.ravel(), jj.ravel()], 1)
    ang = np.concatenate([pos[:, :1] * half_freqs, pos[:, 1:] * half_freqs], 1)   # (12, 8)
    ours = P.apply_rope_angles(x.reshape(12, 16), ang)
    torch.testing.assert_close(ours, ref.reshape(12, 16), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("call, name", [
    (lambda: P.positions_rope_tv([]), "segments"),
    (lambda: P.positions_rope_tv([("audio", 3)]), "segments"),
    (lambda: P.positions_rope_tv([("image", 0, 3)]), "segments"),
    (lambda: P.positions_rope_tv([("image", 2)]), "segments"),
    (lambda: P.positions_rope_tv([("video", 2, 2, 2)], ndim=2), "ndim"),
    (lambda: P.positions_rope_tie([("text", -1)]), "segments"),
    (lambda: P.positions_flat([("text", 2.5)]), "segments"),
    (lambda: P.positions_mrope([("text", 2)], next_text="min"), "next_text"),
    (lambda: P.layout_positions([("text", 2)], "alibi"), "scheme"),
    (lambda: P.score_matrix(np.ones(4), np.ones(6), np.zeros((3, 2))), "k"),
    (lambda: P.layout_scores(P.positions_flat([("text", 2)]), "flat", d=7), "d"),
])
def test_layout_bad_input_raises_naming_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_layout_explorer_frames():
    ex = P.layout_explorer()
    fr = ex.update(L=5, h=2, w=3, t=1, scheme="rope_tv")
    xs = fr["panels"][0]["series"]
    assert xs[0]["y"][5] == 8 and xs[1]["y"][5] == 7.5            # first patch at (8, 7.5)
    assert "count as 6" in fr["text"] and "(3, 2.5)" in fr["text"]
    fr = ex.update(L=5, h=2, w=3, t=1, scheme="rope_tie")
    assert "count as 11" in fr["text"]
    bars = ex.update(scheme="flat")["panels"][1]["series"][0]["y"]
    assert max(bars) == pytest.approx(1.0) and bars.index(max(bars)) == 1   # L = 2: query is token 2
    assert ex.static().nbytes < 1_000_000


def test_score_heatmap_explorer_is_symmetric():
    fr = P.score_heatmap_explorer().update(n=3, scheme="rope_tv")
    z = np.array(fr["panels"][0]["heatmap"]["z"])
    np.testing.assert_allclose(z, z.T, atol=1e-3)
    np.testing.assert_allclose(np.diag(z), 1.0, atol=1e-3)


# ---------------------------------------------------------------- NoPE (why-position-encoding)
def _weights(rng, d):
    return [rng.normal(size=(d, d)) / np.sqrt(d) for _ in range(3)]


@FAST
@given(seed=st.integers(0, 2 ** 16), L=st.integers(2, 12))
def test_bidirectional_attention_is_permutation_equivariant(seed, L):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(L, 8))
    assert P.permute_check(x, rng.permutation(L), *_weights(rng, 8)) < 1e-12


def test_causal_attention_is_not_permutation_equivariant():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 16))
    assert P.permute_check(x, np.arange(10)[::-1].copy(), *_weights(rng, 16), causal=True) > 0.1


def test_multihead_attention_module_is_equivariant():
    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(16, 4, batch_first=True, dtype=torch.float64)
    x = torch.randn(1, 9, 16, dtype=torch.float64)
    perm = torch.randperm(9)
    y = mha(x, x, x, need_weights=False)[0]
    yp = mha(x[:, perm], x[:, perm], x[:, perm], need_weights=False)[0]
    assert (yp - y[:, perm]).abs().max() < 1e-12
    mask = torch.nn.Transformer.generate_square_subsequent_mask(9, dtype=torch.float64)
    yc = mha(x, x, x, attn_mask=mask, need_weights=False)[0]
    ycp = mha(x[:, perm], x[:, perm], x[:, perm], attn_mask=mask, need_weights=False)[0]
    assert (ycp - yc[:, perm]).abs().max() > 1e-3


def test_self_attention_matches_sdpa():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(7, 8))
    W = _weights(rng, 8)
    for causal in (False, True):
        y, A = P.self_attention(x, *W, causal=causal)
        t = [torch.tensor(x @ Wi) for Wi in W]
        ref = torch.nn.functional.scaled_dot_product_attention(*t, is_causal=causal)
        np.testing.assert_allclose(y, ref.numpy(), atol=1e-12)
        np.testing.assert_allclose(A.sum(1), 1.0, atol=1e-14)


def test_constant_tokens_give_identical_outputs():
    rng = np.random.default_rng(4)
    x = np.repeat(rng.normal(size=(1, 8)), 6, axis=0)
    y, _ = P.self_attention(x, *_weights(rng, 8), causal=True)
    assert np.abs(y - y[0]).max() < 1e-15                    # equal up to rounding


@FAST
@given(L=st.integers(1, 40))
def test_uniform_causal_weights_rows_and_expected_ms(L):
    A = P.uniform_causal_weights(L)
    np.testing.assert_allclose(A.sum(1), 1.0, atol=1e-14)
    np.testing.assert_allclose(P.expected_mean_square(A, 2.0), 2.0 / np.arange(1, L + 1), rtol=1e-13)


def test_expected_mean_square_matches_monte_carlo():
    rng = np.random.default_rng(5)
    A = P.random_softmax_weights(32, 16, seed=1)
    y = np.einsum("nm,tmd->tnd", A, rng.normal(size=(400, 32, 64)))
    mc = (y ** 2).mean(axis=(0, 2))
    np.testing.assert_allclose(mc, P.expected_mean_square(A), rtol=0.05)


def test_ms_law_slope_is_minus_one():
    n, ms = P.nope_ms_curve(128, 512, "uniform", draws=4, seed=0)
    assert abs(P.loglog_slope(n, ms) + 1) < 0.03
    np.testing.assert_allclose(P.position_from_ms(ms[[9, 99]]), [10, 100], rtol=0.2)


def test_adjacent_accuracy_exact_matches_simulation_and_scipy():
    from scipy import stats
    for n in (2, 8, 32):
        ex = P.adjacent_position_accuracy(n, 256)
        sim = P.adjacent_position_accuracy(n, 256, method="simulate", trials=20000, seed=1)
        assert abs(ex - sim) < 0.02
    # the crossing point is optimal: no other threshold does better
    n, D = 8, 256
    acc = lambda c: 0.5 * (stats.chi2.sf(D * n * c, D) + stats.chi2.cdf(D * (n + 1) * c, D))
    grid = np.linspace(0.05, 0.2, 2001)
    assert P.adjacent_position_accuracy(n, D) >= acc(grid).max() - 1e-12
    assert P.adjacent_position_accuracy(8, 64, heads=16) == P.adjacent_position_accuracy(8, 1024)


def test_attention_entropy():
    np.testing.assert_allclose(P.attention_entropy(P.uniform_causal_weights(5)),
                               np.log(np.arange(1, 6)), atol=1e-14)
    from scipy.stats import entropy
    A = P.random_softmax_weights(6, 4, causal=False, seed=0)
    np.testing.assert_allclose(P.attention_entropy(A), entropy(A, axis=1), atol=1e-13)


@pytest.mark.parametrize("call, name", [
    (lambda: P.self_attention(np.ones((3, 4)), np.ones((5, 4)), np.ones((4, 4)), np.ones((4, 4))), "Wq"),
    (lambda: P.permute_check(np.ones((3, 4)), [0, 0, 1], *[np.eye(4)] * 3), "perm"),
    (lambda: P.uniform_causal_weights(0), "L"),
    (lambda: P.random_softmax_weights(4, d_head=0), "d_head"),
    (lambda: P.mean_square([]), "y"),
    (lambda: P.expected_mean_square(np.ones((2, 3)) / 3), "A"),
    (lambda: P.expected_mean_square(np.eye(2), sigma2=0), "sigma2"),
    (lambda: P.expected_mean_square(np.ones((2, 2))), "A"),
    (lambda: P.loglog_slope([1, 2], [1, 0]), "ms"),
    (lambda: P.loglog_slope([1, 2, 3], [1, 2]), "ms"),
    (lambda: P.loglog_slope([1, 2, 3], [1, 2, 3], n_min=3), "n_min"),
    (lambda: P.position_from_ms([0.0]), "ms"),
    (lambda: P.adjacent_position_accuracy(0, 8), "n"),
    (lambda: P.adjacent_position_accuracy(2, 8, heads=0), "heads"),
    (lambda: P.adjacent_position_accuracy(2, 8, method="guess"), "method"),
    (lambda: P.attention_entropy([[-0.1, 1.1]]), "weights"),
    (lambda: P.nope_ms_curve(16, 8, "random"), "weights"),
    (lambda: P.nope_ms_curve(1, 8), "L"),
])
def test_nope_bad_input_raises_naming_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_nope_extreme_inputs_stay_finite():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(8, 4)) * 1e3                       # scores ~1e6: max-shift keeps it finite
    y, A = P.self_attention(x, *[np.eye(4)] * 3, causal=True)
    assert np.isfinite(y).all() and np.isfinite(A).all()
    assert np.isfinite(P.adjacent_position_accuracy(10 ** 6, 4096))


# ---------------------------------------------------------------- NoPE widgets and sampling
def test_sample_position_estimates_uniform_matches_chi_square_law():
    from scipy import stats
    nh = P.sample_position_estimates(16, 256, draws=4000, seed=0)
    ms = 1 / nh                                    # 256 * 16 * MS ~ chi^2_256
    assert stats.kstest(256 * 16 * ms, stats.chi2(256).cdf).pvalue > 1e-3
    np.testing.assert_allclose(np.std(nh) / 16, np.sqrt(2 / 256), rtol=0.1)


def test_sample_position_estimates_pooling_heads_is_like_larger_d():
    a = P.sample_position_estimates(8, 64, heads=16, draws=4000, seed=1)
    b = P.sample_position_estimates(8, 1024, draws=4000, seed=2)
    np.testing.assert_allclose(np.std(a), np.std(b), rtol=0.1)


def test_sample_position_estimates_softmax_matches_full_simulation():
    # the row-only sampler against MS measured on complete sequences with random q, k, v
    rng = np.random.default_rng(3)
    n, d = 6, 32
    full = []
    for _ in range(1500):
        A = P.random_softmax_weights(n + 2, 64, causal=True, seed=int(rng.integers(2 ** 31)))
        full.append(P.mean_square(A @ rng.normal(size=(n + 2, d)))[n - 1])
    fast = 1 / P.sample_position_estimates(n, d, "softmax", draws=1500, seed=4)
    np.testing.assert_allclose(np.mean(fast), np.mean(full), rtol=0.05)
    np.testing.assert_allclose(np.std(fast), np.std(full), rtol=0.1)


def test_bidirectional_estimates_do_not_depend_on_position():
    a = P.sample_position_estimates(4, 256, "bidirectional", draws=2000, L=32, seed=5)
    b = P.sample_position_estimates(30, 256, "bidirectional", draws=2000, L=32, seed=6)
    np.testing.assert_allclose(np.median(a), np.median(b), rtol=0.1)


def test_nope_variance_explorer_frames():
    ex = P.nope_variance_explorer(ds=(64, 1024), heads=(1, 16), ns=(8, 64), L=64, hist_draws=100)
    fr = ex.update(d=1024, H=1, weights="uniform", n=64)
    assert "accuracy 0.570" in fr["text"]
    line = fr["panels"][0]["series"][0]
    assert abs(np.polyfit(np.log(line["x"]), np.log(line["y"]), 1)[0] + 1) < 0.05
    h = fr["panels"][1]["series"]
    assert sum(h[0]["y"]) == pytest.approx(1.0, abs=1e-3) and sum(h[1]["y"]) == pytest.approx(1.0, abs=1e-3)
    fb = ex.update(weights="bidirectional")
    assert abs(float(fb["text"].split("slope ")[1].split(";")[0])) < 0.1
    assert ex.static().nbytes < 1_000_000


def test_shuffle_explorer_frames():
    ex = P.shuffle_explorer()
    assert "< 1e-12" in ex.update(shuffle=3, mode="bidirectional")["text"]
    causal = ex.update(shuffle=3, mode="causal")
    assert max(causal["panels"][1]["series"][0]["y"]) > 0.1
    assert "< 1e-12" in ex.update(shuffle=0, mode="causal")["text"]        # identity


@pytest.mark.parametrize("call, name", [
    (lambda: P.sample_position_estimates(0, 8), "n"),
    (lambda: P.sample_position_estimates(4, 0), "d"),
    (lambda: P.sample_position_estimates(4, 8, "random"), "weights"),
    (lambda: P.sample_position_estimates(4, 8, heads=0), "heads"),
    (lambda: P.sample_position_estimates(4, 8, draws=0), "draws"),
    (lambda: P.sample_position_estimates(40, 8, L=10), "L"),
    (lambda: P.nope_variance_explorer(L=2), "L"),
    (lambda: P.shuffle_explorer(L=1), "L"),
    (lambda: P.shuffle_explorer(shuffles=0), "shuffles"),
])
def test_nope_widget_bad_input_raises_naming_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()
