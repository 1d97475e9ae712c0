"""Tests of kexue.quantization (FSQ, VQ, rotation trick); kexue.train_codes has its own file.

Reference packages: vector-quantize-pytorch (FSQ, VectorQuantize, rotate_to), scipy (normal
occupancy, logit), torch.cdist. STE-type maps are piecewise constant in value, so finite
differences (gradcheck) apply to the smooth parts only (the VQ auxiliary loss); the STE and
rotation gradients are checked against their explicit Jacobians instead.
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from kexue import quantization as Q
from kexue import train_codes as T

torch.set_num_threads(1)
SET = settings(max_examples=30, deadline=None)

levels_st = st.lists(st.integers(2, 9), min_size=1, max_size=4)


# ---------------------------------------------------------------------------------- FSQ levels

@pytest.mark.parametrize("L", range(2, 11))
def test_fsq_round_sigmoid_takes_exactly_L_values(L):
    z = np.linspace(-30, 30, 20001)[:, None]
    vals = np.unique(Q.fsq_round(z, [L]))
    assert vals.tolist() == list(range(L))


@pytest.mark.parametrize("L", range(2, 11))
def test_fsq_round_tanh_takes_exactly_L_values(L):
    z = torch.linspace(-30, 30, 20001, dtype=torch.float64)[:, None]
    assert torch.unique(Q.fsq_round(z, [L], bound="tanh")).tolist() == list(range(L))


@pytest.mark.parametrize("L", range(2, 11))
def test_naive_tanh_gives_L_plus_one_values_for_even_L(L):
    z = np.linspace(-30, 30, 20001)
    n = np.unique(Q.naive_fsq_round_tanh(z, L)).size
    assert n == (L + 1 if L % 2 == 0 else L)


@SET
@given(st.sampled_from([3, 5, 7, 9]), hnp.arrays(np.float64, 50, elements=st.floats(-20, 20)))
def test_odd_L_sigmoid_code_equals_shifted_tanh_half(L, z):
    # (L-1) sigma(z) = floor(L/2) (1 + tanh(z/2)); equal after rounding except at exact ties
    u = (L - 1) / (1 + np.exp(-z))
    keep = np.abs(u - np.floor(u) - 0.5) > 1e-9
    ours = Q.fsq_round(z[:, None], [L])[:, 0]
    other = L // 2 + np.round((L // 2) * np.tanh(z / 2)).astype(int)
    assert (ours[keep] == other[keep]).all()


@SET
@given(levels_st, st.integers(0, 2 ** 31 - 1), st.floats(0.1, 50))
def test_fsq_round_codes_in_range(levels, seed, scale):
    z = scale * np.random.default_rng(seed).standard_normal((40, len(levels)))
    for bound in ("sigmoid", "tanh"):
        lev = Q.fsq_round(z, levels, bound)
        assert lev.dtype == np.int64
        assert (lev >= 0).all() and (lev < np.array(levels)).all()


def test_fsq_round_extreme_inputs_are_finite_and_saturate():
    z = np.array([[-1e300, 1e300], [-1e-300, 1e-300]])
    for bound in ("sigmoid", "tanh"):
        lev = Q.fsq_round(z, [5, 4], bound)
        assert lev[0].tolist() == [0, 3]
    zt = torch.tensor(z, requires_grad=True)
    out = Q.fsq_ste(zt, [5, 4])
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(zt.grad).all()


def test_fsq_ste_gradient_is_scaled_sigmoid_derivative():
    z = torch.randn(200, 3, dtype=torch.float64, requires_grad=True)
    lv = [8, 6, 5]
    u = Q.fsq_ste(z, lv, normalize=False)
    (g,) = torch.autograd.grad(u.sum(), z)
    s = torch.sigmoid(z.detach())
    expect = (torch.tensor(lv, dtype=torch.float64) - 1) * s * (1 - s)
    assert torch.allclose(g, expect, atol=1e-12, rtol=0)
    assert float(g.max()) <= (8 - 1) / 4 + 1e-12
    # value: exactly the rounded levels
    assert torch.equal(u.detach().long(), Q.fsq_round(z, lv))


def test_fsq_ste_codes_in_unit_interval():
    z = 5 * torch.randn(500, 3)
    for bound in ("sigmoid", "tanh"):
        c = Q.fsq_ste(z, [8, 6, 5], bound)
        assert c.min() >= -1 and c.max() <= 1


# ----------------------------------------------------------------------------- grid and index

@SET
@given(levels_st, st.integers(0, 2 ** 31 - 1))
def test_index_roundtrip_indices_to_levels_to_indices(levels, seed):
    K = int(np.prod(levels))
    idx = np.random.default_rng(seed).integers(0, K, 30)
    lev = Q.indices_to_levels(idx, levels)
    assert (Q.levels_to_indices(lev, levels) == idx).all()
    assert (Q.indices_to_levels(torch.from_numpy(idx), levels).numpy() == lev).all()


@SET
@given(st.lists(st.integers(2, 6), min_size=1, max_size=3))
def test_mixed_radix_index_is_a_bijection_onto_range(levels):
    grid = np.stack(np.meshgrid(*[np.arange(L) for L in levels], indexing="ij"), -1).reshape(-1, len(levels))
    idx = Q.levels_to_indices(grid, levels)
    assert sorted(idx.tolist()) == list(range(int(np.prod(levels))))


@SET
@given(levels_st, st.integers(0, 2 ** 31 - 1))
def test_codes_levels_roundtrip(levels, seed):
    lev = Q.indices_to_levels(np.random.default_rng(seed).integers(0, int(np.prod(levels)), 20), levels)
    c = Q.levels_to_codes(lev, levels)
    assert c.min() >= -1 and c.max() <= 1
    assert (Q.codes_to_levels(c, levels) == lev).all()


def test_implicit_codebook_shape_and_module_roundtrip():
    cb = Q.implicit_codebook([8, 6, 5])
    assert cb.shape == (240, 3)
    assert len({tuple(r) for r in cb.round(9)}) == 240
    m = Q.FSQ([8, 6, 5])
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
    codes, idx = Q.FSQ(levels, bound=bound)(z)
    lev = Q.fsq_round(z, levels, bound)
    assert torch.equal(idx, Q.levels_to_indices(lev, levels))
    assert codes.dtype == dtype and codes.min() >= -1 and codes.max() <= 1


def test_fsq_module_index_exact_for_huge_codebooks_in_float32():
    levels = [255] * 4                                    # 255**4 > 2**24
    m = Q.FSQ(levels)
    z = torch.full((1, 4), 30.0)                          # the last grid point
    _, idx = m(z)
    assert int(idx) == 255 ** 4 - 1


def test_fsq_matches_vector_quantize_pytorch_codes_and_indices():
    from vector_quantize_pytorch import FSQ as RefFSQ
    for lv in ([8, 6, 5], [8, 5, 5, 5], [7, 5, 5, 5, 5], [4, 3]):
        ref = RefFSQ(lv)
        z = 3 * torch.randn(2, 100, len(lv))         # the reference wants (batch, seq, d)
        rc, ri = ref(z)
        ours = Q.FSQ(lv, bound="tanh")
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
    assert Q.FSQ([2, 5]).codebook_size == 10


def test_recommended_levels_table():
    assert Q.recommended_levels(256) == [8, 6, 5]
    for K, lv in [(2 ** 10, 1000), (2 ** 12, 4375), (2 ** 14, 15360), (2 ** 16, 64000)]:
        assert int(np.prod(Q.recommended_levels(K))) == lv
    with pytest.raises(KeyError):
        Q.recommended_levels(300)


# ---------------------------------------------------------------------- occupancy and usage

def test_level_edges_and_probabilities_for_L5():
    from scipy.special import logit
    e = Q.fsq_level_edges(5)
    assert np.allclose(e, logit(np.array([0.5, 1.5, 2.5, 3.5]) / 4), atol=1e-12)
    p = Q.fsq_level_probabilities(5)
    assert abs(p.sum() - 1) < 1e-12 and np.allclose(p, p[::-1])
    z = np.random.default_rng(0).standard_normal((200_000, 1))
    emp = np.bincount(Q.fsq_round(z, [5])[:, 0], minlength=5) / z.shape[0]
    assert np.abs(emp - p).max() < 5e-3


def test_codebook_usage_extremes():
    u = Q.codebook_usage(np.arange(10).repeat(3), 10)
    assert u["utilization"] == 1 and abs(u["perplexity"] - 10) < 1e-9 and u["dead"] == 0
    u = Q.codebook_usage(torch.zeros(7, dtype=torch.long), 5)
    assert u["used"] == 1 and abs(u["perplexity"] - 1) < 1e-12 and u["dead"] == 4


@SET
@given(st.integers(1, 50), st.integers(0, 2 ** 31 - 1))
def test_codebook_usage_perplexity_between_one_and_used(K, seed):
    idx = np.random.default_rng(seed).integers(0, K, 100)
    u = Q.codebook_usage(idx, K)
    assert 1 - 1e-9 <= u["perplexity"] <= u["used"] + 1e-9
    assert u["counts"].sum() == 100 and u["used"] + u["dead"] == K


# ------------------------------------------------------------------------------- VQ and STE

def test_nearest_code_equals_cdist_argmin():
    z, E = torch.randn(300, 8, dtype=torch.float64), torch.randn(40, 8, dtype=torch.float64)
    assert torch.equal(Q.nearest_code(z, E), torch.cdist(z, E).argmin(-1))


def test_nearest_code_matches_vector_quantize_pytorch():
    from vector_quantize_pytorch import VectorQuantize
    torch.manual_seed(0)
    E = torch.randn(32, 8)
    vq = VectorQuantize(dim=8, codebook_size=32, rotation_trick=False)
    vq.codebook = E
    vq.eval()
    x = torch.randn(1, 200, 8)
    _, idx, _ = vq(x)
    assert torch.equal(idx[0], Q.nearest_code(x[0], E))


def test_ste_value_and_identity_gradient():
    z = torch.randn(10, 4, dtype=torch.float64, requires_grad=True)
    q, g = torch.randn(10, 4, dtype=torch.float64), torch.randn(10, 4, dtype=torch.float64)
    out = Q.ste(z, q)
    assert torch.allclose(out.detach(), q, atol=1e-14, rtol=0)
    (gz,) = torch.autograd.grad((out * g).sum(), z)
    assert torch.equal(gz, g)


def test_loss_split_identity_gradients():
    e = torch.randn(6, dtype=torch.float64, requires_grad=True)
    z = torch.randn(6, dtype=torch.float64, requires_grad=True)
    a = torch.autograd.grad(((e - z) ** 2).sum(), (e, z))
    b = torch.autograd.grad(((e - z.detach()) ** 2).sum() + ((z - e.detach()) ** 2).sum(), (e, z))
    assert all(torch.allclose(x, y, atol=1e-12) for x, y in zip(a, b))


def test_vq_aux_loss_gradcheck():
    # finite differences see through sg[.], so each term is checked on the argument whose
    # gradient it keeps: the codebook term (beta) on E, the commitment term (gamma) on z.
    torch.manual_seed(1)
    z0 = torch.randn(5, 3, dtype=torch.float64)
    E0 = torch.randn(6, 3, dtype=torch.float64)

    def aux(z, E, beta, gamma):
        vq = Q.VectorQuantizer(6, 3, beta=beta, gamma=gamma).double()
        del vq.codebook             # a plain tensor in its place, so that E carries the graph
        vq.codebook = E
        return vq(z)[2]

    assert torch.autograd.gradcheck(lambda E: aux(z0, E, 0.7, 0.0), (E0.clone().requires_grad_(True),))
    assert torch.autograd.gradcheck(lambda z: aux(z, E0, 0.0, 0.3), (z0.clone().requires_grad_(True),))
    # the full loss: value and gradients equal the closed form
    z, E = z0.clone().requires_grad_(True), E0.clone().requires_grad_(True)
    val = aux(z, E, 0.7, 0.3)
    gz, gE = torch.autograd.grad(val, (z, E))
    k = torch.cdist(z0, E0).argmin(-1)
    q = E0[k]
    n = z0.shape[0]                              # squared norms per vector, mean over vectors
    assert abs(float(val.detach()) - float(((q - z0) ** 2).sum() / n)) < 1e-12
    assert torch.allclose(gz, 0.3 * 2 * (z0 - q) / n, atol=1e-12)
    expect_E = torch.zeros_like(E0).index_add_(0, k, 0.7 * 2 * (q - z0) / n)
    assert torch.allclose(gE, expect_E, atol=1e-12)


def test_ema_update_is_one_sgd_step():
    torch.manual_seed(0)
    E = torch.randn(5, 3, dtype=torch.float64)
    z = torch.randn(20, 3, dtype=torch.float64)
    idx = Q.nearest_code(z, E)
    a = 0.9
    new = Q.ema_update(E, z, idx, a)
    Ep = E.clone().requires_grad_(True)
    loss = sum(0.5 * ((Ep[k] - z[idx == k]) ** 2).sum(-1).mean() for k in idx.unique().tolist())
    (g,) = torch.autograd.grad(loss, Ep)
    assert torch.allclose(new, E - (1 - a) * g, atol=1e-12)
    unused = torch.ones(5, dtype=torch.bool)
    unused[idx] = False
    assert torch.equal(new[unused], E[unused])


def test_vector_quantizer_forward_ema_and_inits():
    for init, lo, hi in [("randn", 0.5, 2.0), ("small", 0.005, 0.02)]:
        vq = Q.VectorQuantizer(200, 4, init=init)
        s = float(vq.codebook.detach().std())
        assert lo < s < hi
    vq = Q.VectorQuantizer(16, 4, ema=True, decay=0.5)
    before = vq.codebook.detach().clone()
    z = torch.randn(50, 4)
    zq, idx, aux = vq(z)
    assert torch.allclose(zq, before[idx])
    assert not torch.equal(before, vq.codebook.detach())
    data = torch.randn(300, 4)
    vq = Q.VectorQuantizer(16, 4, init="data")
    vq.init_from(data)
    assert all(any(torch.equal(r, d) for d in data) for r in vq.codebook.detach())


def test_generalized_ste_gives_G_transpose_g():
    torch.manual_seed(0)
    z = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    q, g = torch.randn(7, 5, dtype=torch.float64), torch.randn(7, 5, dtype=torch.float64)
    G = torch.randn(7, 5, 5, dtype=torch.float64)
    out = Q.generalized_ste(z, q, G)
    assert torch.allclose(out, q, atol=1e-14)
    (gz,) = torch.autograd.grad((out * g).sum(), z)
    assert torch.allclose(gz, (G.transpose(-1, -2) @ g[..., None])[..., 0], atol=1e-12)
    (gi,) = torch.autograd.grad((Q.generalized_ste(z, q, torch.eye(5, dtype=torch.float64)) * g).sum(), z)
    assert torch.equal(gi, g)


# ------------------------------------------------------------------------------ rotation trick

def test_rotation_matrix_is_a_proper_rotation_taking_z_to_q():
    rng = np.random.default_rng(0)
    z, q = rng.standard_normal(6), rng.standard_normal(6)
    R = Q.rotation_matrix(z, q)
    I = torch.eye(6, dtype=torch.float64)
    assert torch.allclose(R.T @ R, I, atol=1e-12)
    assert abs(float(torch.linalg.det(R)) - 1) < 1e-12
    zt, qt = torch.tensor(z / np.linalg.norm(z)), torch.tensor(q / np.linalg.norm(q))
    assert torch.allclose(R @ zt, qt, atol=1e-12)
    # fixes the orthogonal complement of span{z, q}
    basis, _ = torch.linalg.qr(torch.cat([torch.stack([zt, qt], 1), torch.randn(6, 4, dtype=torch.float64)], 1))
    for v in basis[:, 2:].T:
        assert torch.allclose(R @ v, v, atol=1e-12)


def test_rotation_matrix_in_2d_is_rotation_by_the_angle():
    a, b = 0.3, 2.1
    R = Q.rotation_matrix([math.cos(a), math.sin(a)], [2 * math.cos(b), 2 * math.sin(b)])
    t = b - a
    assert torch.allclose(R, torch.tensor([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]],
                                          dtype=torch.float64), atol=1e-12)


def test_rotate_to_value_and_gradient_equal_explicit_G():
    torch.manual_seed(0)
    z = torch.randn(6, dtype=torch.float64, requires_grad=True)
    q, g = torch.randn(6, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    out = Q.rotate_to(z, q)
    assert torch.allclose(out, q, atol=1e-12)
    G = (q.norm() / z.detach().norm()) * Q.rotation_matrix(z, q)
    assert torch.allclose(G @ z.detach(), q, atol=1e-12)
    (gz,) = torch.autograd.grad((out * g).sum(), z)
    assert torch.allclose(gz, G.T @ g, atol=1e-12)
    J = torch.autograd.functional.jacobian(lambda x: Q.rotate_to(x, q), z.detach())
    assert torch.allclose(J, G, atol=1e-12)


def test_rotate_to_sends_no_gradient_to_q():
    z = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    q = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    Q.rotate_to(z, q).sum().backward()
    assert q.grad is None or torch.count_nonzero(q.grad) == 0


@SET
@given(st.integers(2, 8), st.integers(0, 2 ** 31 - 1))
def test_rotate_to_preserves_angle_and_scales_norm(d, seed):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(d, dtype=torch.float64, generator=gen).requires_grad_(True)
    q = torch.randn(d, dtype=torch.float64, generator=gen) * 3
    g = torch.randn(d, dtype=torch.float64, generator=gen)
    (gz,) = torch.autograd.grad((Q.rotate_to(z, q) * g).sum(), z)
    cos = torch.nn.functional.cosine_similarity
    zd = z.detach()
    assert abs(float(cos(zd, gz, 0) - cos(q, g, 0))) < 1e-9
    assert abs(float(gz.norm() / g.norm() - q.norm() / zd.norm())) < 1e-9 * float(q.norm() / zd.norm())
    # the angle between the two gradients is at most the angle between z and q
    assert float(cos(g, gz, 0)) >= float(cos(zd, q, 0)) - 1e-9


def test_rotate_to_symmetries():
    torch.manual_seed(3)
    z, q, g = (torch.randn(5, dtype=torch.float64) for _ in range(3))

    def grad(z, q, g):
        zz = z.clone().requires_grad_(True)
        return torch.autograd.grad((Q.rotate_to(zz, q) * g).sum(), zz)[0]

    base = grad(z, q, g)
    assert torch.allclose(grad(2.5 * z, 2.5 * q, g), base, atol=1e-12)
    U, _ = torch.linalg.qr(torch.randn(5, 5, dtype=torch.float64))
    assert torch.allclose(grad(U @ z, U @ q, U @ g), U @ base, atol=1e-12)
    c = torch.randn(5, dtype=torch.float64)
    assert not torch.allclose(grad(z + c, q + c, g), base, atol=1e-3)


def test_rotate_to_degenerate_cases_are_finite():
    q = torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float64)
    g = torch.tensor([[0.3, -1.0, 2.0]], dtype=torch.float64)
    # ||z|| = 0: falls back to the STE
    z = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    out = Q.rotate_to(z, q)
    (gz,) = torch.autograd.grad((out * g).sum(), z)
    assert torch.equal(out.detach(), q) and torch.equal(gz, g)
    # antipodal: a single reflection, orthogonal, value q
    z = (-0.5 * q).clone().requires_grad_(True)
    out = Q.rotate_to(z, q)
    (gz,) = torch.autograd.grad((out * g).sum(), z)
    assert torch.allclose(out, q, atol=1e-12) and torch.isfinite(gz).all()
    assert abs(float(gz.norm() / g.norm()) - 2.0) < 1e-12
    # q = 0: G = 0
    z = torch.randn(1, 3, dtype=torch.float64, requires_grad=True)
    out = Q.rotate_to(z, torch.zeros(1, 3, dtype=torch.float64))
    (gz,) = torch.autograd.grad((out * g).sum(), z)
    assert torch.equal(out.detach(), torch.zeros(1, 3, dtype=torch.float64)) and not gz.any()
    # extreme scales
    for s in (1e-150, 1e150):
        z = (s * torch.randn(4, 3, dtype=torch.float64)).requires_grad_(True)
        out = Q.rotate_to(z, q.expand(4, 3))
        (gz,) = torch.autograd.grad(out.sum(), z)
        assert torch.isfinite(out).all() and torch.isfinite(gz).all()


@SET
@given(st.integers(2, 6), st.floats(-30, 30), st.floats(-30, 30), st.integers(0, 2 ** 31 - 1))
def test_rotate_to_value_is_q_and_gradient_finite_at_any_scale(d, log_sz, log_sq, seed):
    gen = torch.Generator().manual_seed(seed)
    z = (10.0 ** log_sz * torch.randn(5, d, dtype=torch.float64, generator=gen)).requires_grad_(True)
    q = 10.0 ** log_sq * torch.randn(5, d, dtype=torch.float64, generator=gen)
    out = Q.rotate_to(z, q)
    (gz,) = torch.autograd.grad(out.sum(), z)
    assert torch.allclose(out, q, rtol=1e-12, atol=0) and torch.isfinite(gz).all()


@SET
@given(st.integers(2, 12), st.floats(0.01, 100))
def test_fsq_level_probabilities_sum_to_one_and_are_symmetric(L, scale):
    p = Q.fsq_level_probabilities(L, scale)
    assert p.shape == (L,) and (p >= 0).all() and abs(p.sum() - 1) < 1e-12
    assert np.allclose(p, p[::-1], atol=1e-12)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_rotate_to_matches_vector_quantize_pytorch(dtype, tol):
    from vector_quantize_pytorch.vector_quantize_pytorch import rotate_to as ref
    torch.manual_seed(0)
    z = torch.randn(3, 7, 8, dtype=dtype)
    q, g = torch.randn(3, 7, 8, dtype=dtype), torch.randn(3, 7, 8, dtype=dtype)
    a, b = z.clone().requires_grad_(True), z.clone().requires_grad_(True)
    oa, ob = Q.rotate_to(a, q), ref(b, q)
    assert oa.shape == ob.shape == z.shape
    assert torch.allclose(oa, ob, atol=tol)
    (ga,) = torch.autograd.grad((oa * g).sum(), a)
    (gb,) = torch.autograd.grad((ob * g).sum(), b)
    assert torch.allclose(ga, gb, atol=tol)


@pytest.mark.parametrize("grad", ["ste", "rotation"])
def test_vector_quantizer_matches_vector_quantize_pytorch(grad):
    # the reference routes gradients (STE or rotation) only in training mode, where it also
    # EMA-updates its codebook after quantising: compare against the codebook it used.
    from vector_quantize_pytorch import VectorQuantize
    torch.manual_seed(0)
    vq = VectorQuantize(dim=4, codebook_size=16, rotation_trick=(grad == "rotation"))
    vq.train()
    E = vq.codebook.detach().clone()
    x = torch.randn(1, 30, 4, requires_grad=True)
    out, idx, _ = vq(x)
    g = torch.randn_like(out)
    (gx,) = torch.autograd.grad((out * g).sum(), x)
    ours = Q.VectorQuantizer(16, 4, grad=grad)
    ours.codebook.data = E
    z = x.detach()[0].clone().requires_grad_(True)
    zq, oi, _ = ours(z)
    (gz,) = torch.autograd.grad((zq * g[0]).sum(), z)
    assert torch.equal(oi, idx[0])
    assert torch.allclose(zq, out[0], atol=1e-5) and torch.allclose(zq, E[idx[0]], atol=1e-5)
    assert torch.allclose(gz, gx[0], atol=1e-5)
    if grad == "ste":
        assert torch.allclose(gx, g)


# ---------------------------------------------------------------------- training and widgets

def test_training_is_deterministic_and_finite():
    a = Q.train_digits_autoencoder("vq", init="small", steps=12, seed=3, record_every=4)
    b = Q.train_digits_autoencoder("vq", init="small", steps=12, seed=3, record_every=4)
    assert a["history"] == b["history"] and a["history"]["step"] == [0, 4, 8, 12]
    assert all(math.isfinite(v) for v in a["history"]["mse"])


def test_recon_grad_ratio_equals_norm_ratio():
    model = Q.build_digits_model("vq", init="small", seed=0)
    x = Q.load_digits_data()[:64]
    r = Q.recon_grad_ratio(model, x)
    with torch.no_grad():
        z = model.encoder(x)
        q = model.quantizer.codebook[Q.nearest_code(z, model.quantizer.codebook)]
    assert torch.allclose(r, q.norm(dim=-1) / z.norm(dim=-1), rtol=1e-4)


def test_fsq_grid_explorer_readout_matches_usage():
    ex = Q.fsq_grid_explorer(n=500, n_show=50)
    fr = ex.update(L1=5, L2=3, scale=1.0)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((500, 2))
    u = Q.codebook_usage(Q.levels_to_indices(Q.fsq_round(z, [5, 3]), [5, 3]), 15)
    assert f"used {u['used']}/15" in fr["text"]
    bars = fr["panels"][1]["series"][0]["y"]
    assert len(bars) == 15 and abs(sum(bars) - 1) < 1e-3
    assert len(fr["panels"][0]["vlines"]) == 4 and len(fr["panels"][0]["hlines"]) == 2


def test_gradient_field_explorer_ste_vs_rotation():
    ex = Q.gradient_field_explorer()
    ste = ex.update(method="ste")
    rot = ex.update(method="rotation")
    assert "direction spread 0.00 rad" in ste["text"]
    spread = float(rot["text"].split("direction spread ")[1].split(" ")[0])
    assert spread > 0.1
    gz, _ = Q.gradient_field(np.array([[1.0, 0.2]]), np.array([[1.5, 0.0], [-1.5, 0.0]]),
                             np.array([1.0, 0.4]), "ste")
    assert np.allclose(gz, [[1.0, 0.4]])


def test_usage_dashboard_and_static_size():
    data = T.load_runs()
    runs = {(r["key"], r["seed"]): r for r in data["runs"] if r["key"] in T.WITH_IMAGES}
    ex = Q.usage_dashboard(runs)
    fr = ex.update(method="vq-randn-ste", seed=0)
    assert fr["text"].startswith("used 1/240")
    assert ex.static().nbytes < 1_000_000


def test_usage_dashboard_montage_puts_each_digit_upright_above_its_reconstruction():
    imgs = np.zeros((8, 64))
    imgs[:, :8] = 1.0                      # top row of every digit lit
    recon = np.zeros((8, 64))
    recon[:, -8:] = 0.5                    # bottom row of every reconstruction at 0.5
    m = Q._montage(imgs, recon)[::-1]      # undo the heatmap flip: row 0 = top of the picture
    assert m.shape == (36, 38)
    assert (m[0, :8] == 1).all() and (m[1:8, :8] == 0).all()        # first digit, upright
    assert (m[16, :8] == 0.5).all() and (m[9:16, :8] == 0).all()    # its reconstruction below


def test_training_curves_explorer_reads_the_saved_runs():
    runs = {(r["key"], r["seed"]): r for r in T.load_runs()["runs"] if r["key"].startswith("vq-")}
    ex = Q.training_curves_explorer(runs)
    fr = ex.update(init="data", seed=1)
    ste, rot = runs["vq-data-ste", 1], runs["vq-data-rotation", 1]
    mse_panel, z_panel, use_panel = fr["panels"]
    # frames are rounded to 4 significant digits
    assert np.allclose(mse_panel["series"][0]["y"], ste["history"]["mse"], rtol=1e-3)
    assert np.allclose(z_panel["series"][1]["y"], rot["history"]["z_norm"], rtol=1e-3)
    assert use_panel["series"][1]["y"][-1] == pytest.approx(100 * rot["history"]["utilization"][-1], rel=1e-3)
    assert f"used {rot['used']}/240" in fr["text"] and f"‖z‖ {ste['z_norm']:.2f}" in fr["text"]
    assert ex.static().nbytes < 200_000


def test_gradient_field_rotation_magnitude_is_norm_ratio():
    pts = np.array([[0.5, 0.1], [2.0, -1.0], [-1.0, 1.5]])
    cb = np.array([[1.5, 0.0], [-1.0, 1.0]])
    g = np.array([1.0, 0.4])
    gz, idx = Q.gradient_field(pts, cb, g, "rotation")
    expect = np.linalg.norm(g) * np.linalg.norm(cb[idx], axis=1) / np.linalg.norm(pts, axis=1)
    assert np.allclose(np.linalg.norm(gz, axis=1), expect, atol=1e-12)
    ex = Q.gradient_field_explorer()
    fr = ex.update(norm=3.0, method="rotation")
    pts_x, ratio_y = fr["panels"][1]["series"][2]["x"], fr["panels"][1]["series"][2]["y"]
    assert np.allclose(pts_x, ratio_y, atol=1e-9)           # rotation: on the diagonal


# ---------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("call,name", [
    (lambda: Q.fsq_round(np.zeros((3, 2)), [5, 5, 5]), "z"),
    (lambda: Q.fsq_round(np.zeros((3, 2)), [5, 1]), "levels[1]"),
    (lambda: Q.fsq_round(np.zeros((3, 2)), [5, 5], bound="cos"), "bound"),
    (lambda: Q.fsq_round(np.array([[np.nan, 0.0]]), [5, 5]), "z"),
    (lambda: Q.naive_fsq_round_tanh(np.zeros(3), 1), "L"),
    (lambda: Q.fsq_ste(np.zeros((2, 2)), [5, 5]), "z"),
    (lambda: Q.levels_to_codes(np.array([[5, 0]]), [5, 5]), "lev"),
    (lambda: Q.codes_to_levels(np.array([[2.0, 0.0]]), [5, 5]), "codes"),
    (lambda: Q.levels_to_indices(np.array([[0.5, 0]]), [5, 5]), "lev"),
    (lambda: Q.indices_to_levels(np.array([25]), [5, 5]), "idx"),
    (lambda: Q.implicit_codebook([]), "levels"),
    (lambda: Q.FSQ([5, 0]), "levels[1]"),
    (lambda: Q.FSQ([5, 5]).indices_to_codes(torch.tensor([25])), "indices"),
    (lambda: Q.recommended_levels(-1), "K"),
    (lambda: Q.fsq_level_edges(1), "L"),
    (lambda: Q.fsq_level_probabilities(5, scale=0), "scale"),
    (lambda: Q.codebook_usage(np.array([0, 3]), 3), "indices"),
    (lambda: Q.codebook_usage(np.array([0, 1]), 0), "K"),
    (lambda: Q.nearest_code(torch.zeros(3, 2), torch.zeros(4, 3)), "codebook"),
    (lambda: Q.ste(torch.zeros(3, 2), torch.zeros(3, 3)), "q"),
    (lambda: Q.generalized_ste(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3, 3)), "G"),
    (lambda: Q.rotation_matrix([1.0, 0.0], [-2.0, 0.0]), "antipodal"),
    (lambda: Q.rotation_matrix([0.0, 0.0], [1.0, 0.0]), "z and q"),
    (lambda: Q.rotate_to(torch.zeros(3, 1), torch.zeros(3, 1)), "z"),
    (lambda: Q.rotate_to(torch.ones(3, 2), torch.ones(3, 2), eps=0), "eps"),
    (lambda: Q.ema_update(torch.zeros(4, 2), torch.zeros(3, 2), torch.tensor([0, 1, 4])), "indices"),
    (lambda: Q.ema_update(torch.zeros(4, 2), torch.zeros(3, 2), torch.tensor([0, 1, 2]), 1.0), "decay"),
    (lambda: Q.VectorQuantizer(0, 4), "K"),
    (lambda: Q.VectorQuantizer(8, 4, grad="rot"), "grad"),
    (lambda: Q.VectorQuantizer(8, 4, init="zeros"), "init"),
    (lambda: Q.VectorQuantizer(8, 4)(torch.zeros(3, 5)), "z"),
    (lambda: Q.VectorQuantizer(8, 4).init_from(torch.zeros(3, 5)), "z"),
    (lambda: Q.DigitsAutoencoder(torch.nn.Identity()), "quantizer"),
    (lambda: Q.build_digits_model("lfq"), "method"),
    (lambda: Q.train_digits_autoencoder(steps=-1), "steps"),
    (lambda: Q.train_digits_autoencoder(lr=0), "lr"),
    (lambda: Q.recon_grad_ratio(Q.build_digits_model("fsq"), torch.zeros(2, 64)), "model"),
    (lambda: Q.fsq_grid_explorer(n=5), "n"),
    (lambda: Q.usage_dashboard({}), "runs"),
    (lambda: Q.gradient_field(np.zeros((3, 2)), np.zeros((2, 3)), np.zeros(2)), "codebook"),
    (lambda: Q.gradient_field_explorer(grid=1), "grid"),
    (lambda: Q.training_curves_explorer({}), "runs"),
    (lambda: Q.training_curves_explorer({("vq-small-ste", 0): {}}), "runs"),
    (lambda: Q.check_levels(5), "levels"),
])
def test_bad_input_raises_value_error_naming_the_parameter(call, name):
    with pytest.raises(ValueError, match=name.replace("[", r"\[").replace("]", r"\]")):
        call()
