"""Tests of kexue.attention.rope: RoPE (1-D, multi-axis) and the multimodal layouts."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kexue.attention import rope as RP

torch.set_num_threads(1)
FAST = settings(max_examples=30, deadline=None)


def test_rope_frequencies_values():
    th = RP.rope_frequencies(8, 10000.0)
    np.testing.assert_allclose(th, [1.0, 10.0 ** -1, 10.0 ** -2, 10.0 ** -3], rtol=1e-15)


def test_apply_rope_equals_block_matrix():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 16))
    pos = rng.normal(size=6) * 30
    y = RP.apply_rope(x, pos)
    ang = RP.rope_angles(pos, 16)
    for j in range(6):
        np.testing.assert_allclose(y[j], RP.rope_matrix(ang[j]) @ x[j], atol=1e-13)


def test_apply_rope_returns_kind_it_was_given():
    x = np.ones((3, 4))
    assert isinstance(RP.apply_rope(x, [0, 1, 2]), np.ndarray)
    t = torch.ones(2, 3, 4, dtype=torch.float32)
    out = RP.apply_rope(t, torch.arange(3))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == t.shape


def test_apply_rope_position_zero_is_identity():
    x = np.random.default_rng(1).normal(size=(1, 10))
    np.testing.assert_array_equal(RP.apply_rope(x, [0.0]), x)


@FAST
@given(m=st.floats(-500, 500), n=st.floats(-500, 500), shift=st.floats(-500, 500),
       seed=st.integers(0, 2 ** 16))
def test_apply_rope_score_depends_only_on_relative_position(m, n, shift, seed):
    rng = np.random.default_rng(seed)
    q, k = rng.normal(size=(1, 32)), rng.normal(size=(1, 32))
    s1 = RP.apply_rope(q, [m])[0] @ RP.apply_rope(k, [n])[0]
    s2 = RP.apply_rope(q, [m + shift])[0] @ RP.apply_rope(k, [n + shift])[0]
    assert abs(s1 - s2) < 1e-9 * (1 + abs(m) + abs(n) + abs(shift))


@FAST
@given(seed=st.integers(0, 2 ** 16), layout=st.sampled_from(RP.LAYOUTS))
def test_apply_rope_angles_preserves_norm(seed, layout):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 5, 12))
    ang = rng.normal(size=(5, 6)) * 100
    y = RP.apply_rope_angles(x, ang, layout)
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-12)


def test_apply_rope_gradcheck():
    x = torch.randn(2, 4, 6, dtype=torch.float64, requires_grad=True)
    pos = torch.tensor([0.0, 1.5, -2.0, 7.0], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: RP.apply_rope(t, pos), (x,))
    assert torch.autograd.gradcheck(
        lambda t: RP.apply_rope_nd(t, torch.stack([pos, 2 * pos], 1), scheme="sections",
                                  sections=[1, 2], layout="half"), (x,))


def test_apply_rope_matches_rotary_embedding_torch():
    from rotary_embedding_torch import RotaryEmbedding, apply_rotary_emb
    d, n = 32, 9
    x = torch.randn(2, 3, n, d, dtype=torch.float64)
    rot = RotaryEmbedding(dim=d)
    freqs = rot(torch.arange(n, dtype=torch.float64)).to(torch.float64)
    ref = apply_rotary_emb(freqs, x)
    ours = RP.apply_rope(x, torch.arange(n))
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-6)


def _rotate_half_reference(x, cos, sin):
    """Llama's apply_rotary_pos_emb, written out (rotate_half layout)."""
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def test_half_layout_matches_llama_rotate_half():
    d, n = 16, 7
    x = torch.randn(n, d, dtype=torch.float64)
    pos = torch.arange(n, dtype=torch.float64)
    inv = torch.as_tensor(RP.rope_frequencies(d))
    emb = torch.cat([pos[:, None] * inv, pos[:, None] * inv], -1)
    ref = _rotate_half_reference(x, emb.cos(), emb.sin())
    ours = RP.apply_rope_angles(x, RP.rope_angles(pos, d), layout="half")
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-13)


def test_extreme_positions_stay_finite():
    x = np.random.default_rng(2).normal(size=(3, 8)) * 1e6
    y = RP.apply_rope(x, [1e12, -1e12, 0.0])
    assert np.isfinite(y).all()
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), np.linalg.norm(x, axis=1), rtol=1e-12)


@pytest.mark.parametrize("k", [2, 3])
def test_alternate_scheme_is_compatible_with_1d(k):
    pos = np.arange(-3, 40, dtype=float)
    a1 = RP.rope_angles(pos, 64)
    ak = RP.rope_angles(np.repeat(pos[:, None], k, 1), 64, scheme="alternate")
    assert np.abs(a1 - ak).max() == 0.0


def test_tied_scheme_is_not_compatible():
    pos = np.array([0.0, 1.0, 5.0])
    a1 = RP.rope_angles(pos, 64)
    at = RP.rope_angles(np.stack([pos, pos], 1), 64, scheme="tied")
    assert np.abs(a1 - at)[0].max() == 0.0
    assert np.abs(a1 - at)[1:].max() > 1e-3
    np.testing.assert_array_equal(at[:, 0::2], at[:, 1::2])   # x and y pairs share a frequency


def test_sections_scheme_assigns_contiguous_blocks():
    pos = np.array([[1.0, 2.0, 3.0]])
    a = RP.rope_angles(pos, 12, scheme="sections", sections=[1, 2, 3])
    th = RP.rope_frequencies(12)
    np.testing.assert_allclose(a[0], th * np.array([1, 2, 2, 3, 3, 3]), rtol=1e-15)


@pytest.mark.parametrize("call, name", [
    (lambda: RP.rope_frequencies(7), "d"),
    (lambda: RP.rope_frequencies(8, base=1.0), "base"),
    (lambda: RP.rope_frequencies(8, base=float("nan")), "base"),
    (lambda: RP.rope_angles([1.0], 8, scheme="spiral"), "scheme"),
    (lambda: RP.rope_angles([[1.0, 2.0]], 8, scheme="1d"), "positions"),
    (lambda: RP.rope_angles([[1.0, 2.0]], 8, scheme="sections", sections=[1, 2]), "sections"),
    (lambda: RP.rope_angles([[1.0, 2.0]], 8, scheme="sections"), "sections"),
    (lambda: RP.rope_angles([np.nan], 8), "positions"),
    (lambda: RP.rope_matrix(np.zeros((2, 2))), "angles_row"),
    (lambda: RP.apply_rope_angles(np.ones((2, 4)), np.ones((2, 3))), "angles"),
    (lambda: RP.apply_rope_angles(np.ones((2, 4)), np.ones((2, 2)), layout="x"), "layout"),
    (lambda: RP.apply_rope(np.ones((2, 5)), [0, 1]), "x"),
    (lambda: RP.apply_rope(np.ones((2, 4)), [0, 1, 2]), "positions"),
    (lambda: RP.apply_rope(np.ones(4), [0]), "x"),
    (lambda: RP.apply_rope_nd(np.ones((2, 4)), [[0, 1]]), "positions"),
])
def test_rope_bad_input_raises_naming_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


SEGS = [("text", 5), ("image", 2, 3), ("text", 2)]


def test_rope_tv_worked_example():
    # the post's construction computed by hand: beta = (5 + (6-2)/2, 5 + (6-3)/2) = (7, 6.5)
    lay = RP.positions_rope_tv(SEGS)
    patches = [(7 + i, 6.5 + j) for i in (1, 2) for j in (1, 2, 3)]
    expect = [(n, n) for n in range(1, 6)] + patches + [(12, 12), (13, 13)]
    np.testing.assert_array_equal(lay.positions, np.array(expect, dtype=float))
    assert list(lay.labels) == ["text"] * 5 + ["image"] * 6 + ["text"] * 2
    g = RP.modality_gaps(lay)[0]
    np.testing.assert_array_equal(g["before"], [3, 2.5])
    np.testing.assert_array_equal(g["after"], [3, 2.5])
    assert g["equivalent_tokens"] == 6


def test_rope_tie_worked_example():
    lay = RP.positions_rope_tie(SEGS)
    patches = [(5 + 4 * i, 5 + 3 * j) for i in (1, 2) for j in (1, 2, 3)]
    np.testing.assert_array_equal(lay.positions[5:11], np.array(patches, dtype=float))
    np.testing.assert_array_equal(lay.positions[11], [17, 17])
    g = RP.modality_gaps(lay)[0]
    assert g["equivalent_tokens"] == 11 and np.array_equal(g["before"], g["after"])


@FAST
@given(L=st.integers(1, 6), h=st.integers(1, 7), w=st.integers(1, 7), t=st.integers(1, 4),
       R=st.integers(1, 4))
def test_rope_tv_is_symmetric_and_equivalent(L, h, w, t, R):
    vis = ("image", h, w) if t == 1 else ("video", t, h, w)
    lay = RP.positions_rope_tv([("text", L), vis, ("text", R)])
    g = RP.modality_gaps(lay)[0]
    np.testing.assert_allclose(g["before"], g["after"], rtol=0, atol=1e-12)
    assert g["equivalent_tokens"] == h * w * t
    vis_pos = lay.positions[lay.labels != "text"]
    steps = np.unique(np.round(np.diff(np.unique(vis_pos[:, -1])), 12))
    assert steps.size == 0 or np.array_equal(steps, [1.0])          # unit stride in every image


@FAST
@given(L=st.integers(1, 6), h=st.integers(1, 7), w=st.integers(1, 7))
def test_rope_tie_noninteger_is_equivalent(L, h, w):
    g = RP.modality_gaps(RP.positions_rope_tie([("text", L), ("image", h, w), ("text", 1)],
                                             integer=False))[0]
    assert abs(g["equivalent_tokens"] - h * w) < 1e-9
    np.testing.assert_allclose(g["before"], g["after"], atol=1e-12)


def test_mrope_docstring_example():
    lay = RP.positions_mrope([("video", 3, 2, 2), ("text", 5)])
    t, h, w = lay.positions.T
    assert t[:12].tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    assert h[:12].tolist() == [0, 0, 1, 1] * 3 and w[:12].tolist() == [0, 1, 0, 1] * 3
    assert (lay.positions[12:] == np.arange(3, 8)[:, None]).all()
    lay5 = RP.positions_mrope([("video", 3, 2, 2), ("text", 5)], next_text="spatial")
    assert (lay5.positions[12:] == np.arange(2, 7)[:, None]).all()


def test_text_only_layouts_reduce_to_rope_1d():
    for f in (RP.positions_rope_tv, RP.positions_rope_tie):
        lay = f([("text", 9)])
        np.testing.assert_array_equal(lay.positions, np.repeat(np.arange(1.0, 10)[:, None], 2, 1))
    np.testing.assert_array_equal(RP.positions_mrope([("text", 4)]).positions,
                                  np.repeat(np.arange(4.0)[:, None], 3, 1))


@FAST
@given(seed=st.integers(0, 2 ** 16), scheme=st.sampled_from(["alternate", "tied"]),
       shift=st.tuples(st.floats(-50, 50), st.floats(-50, 50)))
def test_multi_axis_scores_are_shift_invariant(seed, scheme, shift):
    rng = np.random.default_rng(seed)
    q, k = rng.normal(size=(2, 6, 16))
    pos = rng.uniform(-20, 20, size=(6, 2))
    s1 = RP.score_matrix(q, k, pos, scheme=scheme)
    s2 = RP.score_matrix(q, k, pos + np.array(shift), scheme=scheme)
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
        ours = RP.positions_mrope(segs, next_text="spatial").positions.T
        np.testing.assert_array_equal(pos[:, 0].numpy(), ours)


def test_mrope_rotation_matches_transformers():
    transformers, M, cfg = _hf_qwen2vl()
    rot = M.Qwen2VLRotaryEmbedding(cfg.text_config)
    lay = RP.positions_mrope([("text", 2), ("video", 2, 2, 3), ("text", 3)])
    ids = torch.as_tensor(lay.positions.T[:, None, :], dtype=torch.long)       # (3, 1, N)
    q = torch.randn(1, 2, ids.shape[-1], 16)
    cos, sin = rot(q, ids)
    ref, _ = M.apply_rotary_pos_emb(q, q, cos, sin)
    ours = RP.apply_rope_nd(q.double(), lay.positions, scheme="sections", sections=[2, 3, 3],
                           layout="half")
    torch.testing.assert_close(ours.float(), ref, rtol=1e-5, atol=1e-5)
    # text-only positions (n, n, n): M-RoPE is plain rotate-half RoPE
    n = torch.arange(7)
    cos1, sin1 = rot(q[:, :, :7], n[None, None, :].expand(3, 1, 7))
    ref1, _ = M.apply_rotary_pos_emb(q[:, :, :7], q[:, :, :7], cos1, sin1)
    plain = RP.apply_rope_angles(q[:, :, :7].double(), RP.rope_angles(n, 16), layout="half")
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
    ours = RP.apply_rope_angles(x.reshape(12, 16), ang)
    torch.testing.assert_close(ours, ref.reshape(12, 16), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("call, name", [
    (lambda: RP.positions_rope_tv([]), "segments"),
    (lambda: RP.positions_rope_tv([("audio", 3)]), "segments"),
    (lambda: RP.positions_rope_tv([("image", 0, 3)]), "segments"),
    (lambda: RP.positions_rope_tv([("image", 2)]), "segments"),
    (lambda: RP.positions_rope_tv([("video", 2, 2, 2)], ndim=2), "ndim"),
    (lambda: RP.positions_rope_tie([("text", -1)]), "segments"),
    (lambda: RP.positions_flat([("text", 2.5)]), "segments"),
    (lambda: RP.positions_mrope([("text", 2)], next_text="min"), "next_text"),
    (lambda: RP.layout_positions([("text", 2)], "alibi"), "scheme"),
    (lambda: RP.score_matrix(np.ones(4), np.ones(6), np.zeros((3, 2))), "k"),
    (lambda: RP.layout_scores(RP.positions_flat([("text", 2)]), "flat", d=7), "d"),
])
def test_layout_bad_input_raises_naming_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize("d", [8, 64, 128])
def test_tied_rope_on_the_diagonal_turns_odd_pairs_faster(d):
    """Tied RoPE-2D at (n, n) vs RoPE-1D at n (chapter multimodal-rope, Erratum): even pairs agree,
    odd pairs turn b^(2/d) times faster, so the two are not the same rotation."""
    n = 3.0
    a_1d = RP.rope_angles([n], d, scheme="1d")[0]
    a_tied = RP.rope_angles([[n, n]], d, scheme="tied")[0]
    assert np.allclose(a_tied[0::2], a_1d[0::2], rtol=1e-14)
    assert np.allclose(a_tied[1::2] / a_1d[1::2], 1e4 ** (2 / d), rtol=1e-12)
    a_alt = RP.rope_angles([[n, n]], d, scheme="alternate")[0]
    assert np.array_equal(a_alt, a_1d)


def test_layout_functions_refuse_what_is_not_a_layout():
    lay = RP.positions_mrope([("text", 2), ("image", 2, 2)])
    assert RP.modality_gaps(lay)
    for bad in ([], 1.5, None, tuple(lay)[:2]):
        with pytest.raises(ValueError, match="layout"):
            RP.modality_gaps(bad)
        with pytest.raises(ValueError, match="layout"):
            RP.layout_scores(bad, "mrope", d=16)


def test_score_matrix_names_positions_when_the_rows_disagree():
    q = np.ones((5, 4))
    with pytest.raises(ValueError, match="positions"):
        RP.score_matrix(q, q, np.arange(2.0)[:, None] * np.ones(2))
