"""Tests of kexue.codes.fsq (chapter codes/fsq).

Reference packages: vector-quantize-pytorch (FSQ), scipy (normal occupancy, logit).
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from kexue import codes as C

torch.set_num_threads(1)
SET = settings(max_examples=30, deadline=None)

levels_st = st.lists(st.integers(2, 9), min_size=1, max_size=4)


# ---------------------------------------------------------------------------------- FSQ levels

@pytest.mark.parametrize("L", range(2, 11))
def test_fsq_round_sigmoid_takes_exactly_L_values(L):
    z = np.linspace(-30, 30, 20001)[:, None]
    vals = np.unique(C.fsq_round(z, [L]))
    assert vals.tolist() == list(range(L))


@pytest.mark.parametrize("L", range(2, 11))
def test_fsq_round_tanh_takes_exactly_L_values(L):
    z = torch.linspace(-30, 30, 20001, dtype=torch.float64)[:, None]
    assert torch.unique(C.fsq_round(z, [L], bound="tanh")).tolist() == list(range(L))


@pytest.mark.parametrize("L", range(2, 11))
def test_naive_tanh_gives_L_plus_one_values_for_even_L(L):
    z = np.linspace(-30, 30, 20001)
    n = np.unique(C.naive_fsq_round_tanh(z, L)).size
    assert n == (L + 1 if L % 2 == 0 else L)


@SET
@given(st.sampled_from([3, 5, 7, 9]), hnp.arrays(np.float64, 50, elements=st.floats(-20, 20)))
def test_odd_L_sigmoid_code_equals_shifted_tanh_half(L, z):
    # (L-1) sigma(z) = floor(L/2) (1 + tanh(z/2)); equal after rounding except at exact ties
    u = (L - 1) / (1 + np.exp(-z))
    keep = np.abs(u - np.floor(u) - 0.5) > 1e-9
    ours = C.fsq_round(z[:, None], [L])[:, 0]
    other = L // 2 + np.round((L // 2) * np.tanh(z / 2)).astype(int)
    assert (ours[keep] == other[keep]).all()


@SET
@given(levels_st, st.integers(0, 2 ** 31 - 1), st.floats(0.1, 50))
def test_fsq_round_codes_in_range(levels, seed, scale):
    z = scale * np.random.default_rng(seed).standard_normal((40, len(levels)))
    for bound in ("sigmoid", "tanh"):
        lev = C.fsq_round(z, levels, bound)
        assert lev.dtype == np.int64
        assert (lev >= 0).all() and (lev < np.array(levels)).all()


def test_fsq_round_extreme_inputs_are_finite_and_saturate():
    z = np.array([[-1e300, 1e300], [-1e-300, 1e-300]])
    for bound in ("sigmoid", "tanh"):
        lev = C.fsq_round(z, [5, 4], bound)
        assert lev[0].tolist() == [0, 3]
    zt = torch.tensor(z, requires_grad=True)
    out = C.fsq_ste(zt, [5, 4])
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(zt.grad).all()


def test_fsq_ste_gradient_is_scaled_sigmoid_derivative():
    z = torch.randn(200, 3, dtype=torch.float64, requires_grad=True)
    lv = [8, 6, 5]
    u = C.fsq_ste(z, lv, normalize=False)
    (g,) = torch.autograd.grad(u.sum(), z)
    s = torch.sigmoid(z.detach())
    expect = (torch.tensor(lv, dtype=torch.float64) - 1) * s * (1 - s)
    assert torch.allclose(g, expect, atol=1e-12, rtol=0)
    assert float(g.max()) <= (8 - 1) / 4 + 1e-12
    # value: exactly the rounded levels
    assert torch.equal(u.detach().long(), C.fsq_round(z, lv))


def test_fsq_ste_codes_in_unit_interval():
    z = 5 * torch.randn(500, 3)
    for bound in ("sigmoid", "tanh"):
        c = C.fsq_ste(z, [8, 6, 5], bound)
        assert c.min() >= -1 and c.max() <= 1


# ----------------------------------------------------------------------------- grid and index

@SET
@given(levels_st, st.integers(0, 2 ** 31 - 1))
def test_index_roundtrip_indices_to_levels_to_indices(levels, seed):
    K = int(np.prod(levels))
    idx = np.random.default_rng(seed).integers(0, K, 30)
    lev = C.indices_to_levels(idx, levels)
    assert (C.levels_to_indices(lev, levels) == idx).all()
    assert (C.indices_to_levels(torch.from_numpy(idx), levels).numpy() == lev).all()


@SET
@given(st.lists(st.integers(2, 6), min_size=1, max_size=3))
def test_mixed_radix_index_is_a_bijection_onto_range(levels):
    grid = np.stack(np.meshgrid(*[np.arange(L) for L in levels], indexing="ij"), -1).reshape(-1, len(levels))
    idx = C.levels_to_indices(grid, levels)
    assert sorted(idx.tolist()) == list(range(int(np.prod(levels))))


@SET
@given(levels_st, st.integers(0, 2 ** 31 - 1))
def test_codes_levels_roundtrip(levels, seed):
    lev = C.indices_to_levels(np.random.default_rng(seed).integers(0, int(np.prod(levels)), 20), levels)
    c = C.levels_to_codes(lev, levels)
    assert c.min() >= -1 and c.max() <= 1
    assert (C.codes_to_levels(c, levels) == lev).all()


def test_implicit_codebook_shape_and_module_roundtrip():
    cb = C.implicit_codebook([8, 6, 5])
    assert cb.shape == (240, 3)
    assert len({tuple(r) for r in cb.round(9)}) == 240
    m = C.FSQ([8, 6, 5])
    assert m.codebook_size == 240
    idx = torch.arange(240)
    assert torch.equal(m.codes_to_indices(m.indices_to_codes(idx)), idx)
    codes, ind = m(torch.randn(64, 3))
    assert torch.equal(m.codes_to_indices(codes), ind)
    assert torch.allclose(m.indices_to_codes(ind), codes.detach())


@SET
@given(st.lists(st.integers(2, 9), min_size=1, max_size=4), st.sampled_from(["sigmoid", "tanh"]),
       st.sampled_from([torch.float32, torch.float64]), st.integers(0, 2 ** 31 - 1))
def test_fsq_module_indices_equal_the_functional_index_of_its_levels(levels, bound, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    z = (4 * torch.randn(3, 17, len(levels), generator=gen)).to(dtype)
    codes, idx = C.FSQ(levels, bound=bound)(z)
    lev = C.fsq_round(z, levels, bound)
    assert torch.equal(idx, C.levels_to_indices(lev, levels))
    assert codes.dtype == dtype and codes.min() >= -1 and codes.max() <= 1


def test_fsq_module_index_exact_for_huge_codebooks_in_float32():
    levels = [255] * 4                                    # 255**4 > 2**24
    m = C.FSQ(levels)
    z = torch.full((1, 4), 30.0)                          # the last grid point
    _, idx = m(z)
    assert int(idx) == 255 ** 4 - 1


def test_fsq_matches_vector_quantize_pytorch_codes_and_indices():
    from vector_quantize_pytorch import FSQ as RefFSQ
    for lv in ([8, 6, 5], [8, 5, 5, 5], [7, 5, 5, 5, 5], [4, 3]):
        ref = RefFSQ(lv)
        z = 3 * torch.randn(2, 100, len(lv))         # the reference wants (batch, seq, d)
        rc, ri = ref(z)
        ours = C.FSQ(lv, bound="tanh")
        oc, oi = ours(z)
        assert torch.equal(oi, ri.long())
        assert torch.allclose(oc, rc, atol=1e-6)
        # indices on the reference's own grid
        assert torch.equal(ours.codes_to_indices(ref.implicit_codebook),
                           torch.arange(ref.codebook_size))
        assert torch.allclose(ours.implicit_codebook, ref.implicit_codebook.float())


def test_vector_quantize_pytorch_rejects_L2_without_symmetry_but_we_accept_it():
    from vector_quantize_pytorch import FSQ as RefFSQ
    with pytest.raises(AssertionError):
        RefFSQ([2, 5])
    assert C.FSQ([2, 5]).codebook_size == 10


def test_recommended_levels_table():
    assert C.recommended_levels(256) == [8, 6, 5]
    for K, lv in [(2 ** 10, 1000), (2 ** 12, 4375), (2 ** 14, 15360), (2 ** 16, 64000)]:
        assert int(np.prod(C.recommended_levels(K))) == lv
    with pytest.raises(KeyError):
        C.recommended_levels(300)


# ---------------------------------------------------------------------- occupancy and usage

def test_level_edges_and_probabilities_for_L5():
    from scipy.special import logit
    e = C.fsq_level_edges(5)
    assert np.allclose(e, logit(np.array([0.5, 1.5, 2.5, 3.5]) / 4), atol=1e-12)
    p = C.fsq_level_probabilities(5)
    assert abs(p.sum() - 1) < 1e-12 and np.allclose(p, p[::-1])
    z = np.random.default_rng(0).standard_normal((200_000, 1))
    emp = np.bincount(C.fsq_round(z, [5])[:, 0], minlength=5) / z.shape[0]
    assert np.abs(emp - p).max() < 5e-3


def test_codebook_usage_extremes():
    u = C.codebook_usage(np.arange(10).repeat(3), 10)
    assert u["utilization"] == 1 and abs(u["perplexity"] - 10) < 1e-9 and u["dead"] == 0
    u = C.codebook_usage(torch.zeros(7, dtype=torch.long), 5)
    assert u["used"] == 1 and abs(u["perplexity"] - 1) < 1e-12 and u["dead"] == 4


@SET
@given(st.integers(1, 50), st.integers(0, 2 ** 31 - 1))
def test_codebook_usage_perplexity_between_one_and_used(K, seed):
    idx = np.random.default_rng(seed).integers(0, K, 100)
    u = C.codebook_usage(idx, K)
    assert 1 - 1e-9 <= u["perplexity"] <= u["used"] + 1e-9
    assert u["counts"].sum() == 100 and u["used"] + u["dead"] == K


@SET
@given(st.integers(2, 12), st.floats(0.01, 100))
def test_fsq_level_probabilities_sum_to_one_and_are_symmetric(L, scale):
    p = C.fsq_level_probabilities(L, scale)
    assert p.shape == (L,) and (p >= 0).all() and abs(p.sum() - 1) < 1e-12
    assert np.allclose(p, p[::-1], atol=1e-12)


# ---------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("call,name", [
    (lambda: C.fsq_round(np.zeros((3, 2)), [5, 5, 5]), "z"),
    (lambda: C.fsq_round(np.zeros((3, 2)), [5, 1]), "levels[1]"),
    (lambda: C.fsq_round(np.zeros((3, 2)), [5, 5], bound="cos"), "bound"),
    (lambda: C.fsq_round(np.array([[np.nan, 0.0]]), [5, 5]), "z"),
    (lambda: C.naive_fsq_round_tanh(np.zeros(3), 1), "L"),
    (lambda: C.fsq_ste(np.zeros((2, 2)), [5, 5]), "z"),
    (lambda: C.levels_to_codes(np.array([[5, 0]]), [5, 5]), "lev"),
    (lambda: C.codes_to_levels(np.array([[2.0, 0.0]]), [5, 5]), "codes"),
    (lambda: C.levels_to_indices(np.array([[0.5, 0]]), [5, 5]), "lev"),
    (lambda: C.indices_to_levels(np.array([25]), [5, 5]), "idx"),
    (lambda: C.implicit_codebook([]), "levels"),
    (lambda: C.FSQ([5, 0]), "levels[1]"),
    (lambda: C.FSQ([5, 5]).indices_to_codes(torch.tensor([25])), "indices"),
    (lambda: C.recommended_levels(-1), "K"),
    (lambda: C.fsq_level_edges(1), "L"),
    (lambda: C.fsq_level_probabilities(5, scale=0), "scale"),
    (lambda: C.codebook_usage(np.array([0, 3]), 3), "indices"),
    (lambda: C.codebook_usage(np.array([0, 1]), 0), "K"),
    (lambda: C.check_levels(5), "levels"),
])
def test_bad_input_raises_value_error_naming_the_parameter(call, name):
    with pytest.raises(ValueError, match=name.replace("[", r"\[").replace("]", r"\]")):
        call()


def test_check_levels_checks_its_own_options():
    assert C.check_levels([3, 1], min_level=1) == [3, 1]
    for bad in (0, -1, 1.5, None, "2"):
        with pytest.raises(ValueError, match="min_level"):
            C.check_levels([3, 4], min_level=bad)
    with pytest.raises(ValueError, match="name"):
        C.check_levels([3, 4], name=None)
