"""Tests of kexue.codes.vq: VQ, STE, the rotation trick, EMA (chapters codes/fsq, vq-rotation-trick).

Reference packages: vector-quantize-pytorch (VectorQuantize, rotate_to), torch.cdist. STE-type
maps are piecewise constant in value, so finite differences (gradcheck) apply to the smooth parts
only (the VQ auxiliary loss); the STE and rotation gradients are checked against their explicit
Jacobians instead.
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from kexue import codes as C

torch.set_num_threads(1)
SET = settings(max_examples=30, deadline=None)


# ------------------------------------------------------------------------------- VQ and STE

def test_nearest_code_equals_cdist_argmin():
    z, E = torch.randn(300, 8, dtype=torch.float64), torch.randn(40, 8, dtype=torch.float64)
    assert torch.equal(C.nearest_code(z, E), torch.cdist(z, E).argmin(-1))


def test_nearest_code_matches_vector_quantize_pytorch():
    from vector_quantize_pytorch import VectorQuantize
    torch.manual_seed(0)
    E = torch.randn(32, 8)
    vq = VectorQuantize(dim=8, codebook_size=32, rotation_trick=False)
    vq.codebook = E
    vq.eval()
    x = torch.randn(1, 200, 8)
    _, idx, _ = vq(x)
    assert torch.equal(idx[0], C.nearest_code(x[0], E))


def test_ste_value_and_identity_gradient():
    z = torch.randn(10, 4, dtype=torch.float64, requires_grad=True)
    q, g = torch.randn(10, 4, dtype=torch.float64), torch.randn(10, 4, dtype=torch.float64)
    out = C.ste(z, q)
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
        vq = C.VectorQuantizer(6, 3, beta=beta, gamma=gamma).double()
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
    idx = C.nearest_code(z, E)
    a = 0.9
    new = C.ema_update(E, z, idx, a)
    Ep = E.clone().requires_grad_(True)
    loss = sum(0.5 * ((Ep[k] - z[idx == k]) ** 2).sum(-1).mean() for k in idx.unique().tolist())
    (g,) = torch.autograd.grad(loss, Ep)
    assert torch.allclose(new, E - (1 - a) * g, atol=1e-12)
    unused = torch.ones(5, dtype=torch.bool)
    unused[idx] = False
    assert torch.equal(new[unused], E[unused])


def test_vector_quantizer_forward_ema_and_inits():
    for init, lo, hi in [("randn", 0.5, 2.0), ("small", 0.005, 0.02)]:
        vq = C.VectorQuantizer(200, 4, init=init)
        s = float(vq.codebook.detach().std())
        assert lo < s < hi
    vq = C.VectorQuantizer(16, 4, ema=True, decay=0.5)
    before = vq.codebook.detach().clone()
    z = torch.randn(50, 4)
    zq, idx, aux = vq(z)
    assert torch.allclose(zq, before[idx])
    assert not torch.equal(before, vq.codebook.detach())
    data = torch.randn(300, 4)
    vq = C.VectorQuantizer(16, 4, init="data")
    vq.init_from(data)
    assert all(any(torch.equal(r, d) for d in data) for r in vq.codebook.detach())


def test_generalized_ste_gives_G_transpose_g():
    torch.manual_seed(0)
    z = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    q, g = torch.randn(7, 5, dtype=torch.float64), torch.randn(7, 5, dtype=torch.float64)
    G = torch.randn(7, 5, 5, dtype=torch.float64)
    out = C.generalized_ste(z, q, G)
    assert torch.allclose(out, q, atol=1e-14)
    (gz,) = torch.autograd.grad((out * g).sum(), z)
    assert torch.allclose(gz, (G.transpose(-1, -2) @ g[..., None])[..., 0], atol=1e-12)
    (gi,) = torch.autograd.grad((C.generalized_ste(z, q, torch.eye(5, dtype=torch.float64)) * g).sum(), z)
    assert torch.equal(gi, g)


# ------------------------------------------------------------------------------ rotation trick

def test_rotation_matrix_is_a_proper_rotation_taking_z_to_q():
    rng = np.random.default_rng(0)
    z, q = rng.standard_normal(6), rng.standard_normal(6)
    R = C.rotation_matrix(z, q)
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
    R = C.rotation_matrix([math.cos(a), math.sin(a)], [2 * math.cos(b), 2 * math.sin(b)])
    t = b - a
    assert torch.allclose(R, torch.tensor([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]],
                                          dtype=torch.float64), atol=1e-12)


def test_rotate_to_value_and_gradient_equal_explicit_G():
    torch.manual_seed(0)
    z = torch.randn(6, dtype=torch.float64, requires_grad=True)
    q, g = torch.randn(6, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    out = C.rotate_to(z, q)
    assert torch.allclose(out, q, atol=1e-12)
    G = (q.norm() / z.detach().norm()) * C.rotation_matrix(z, q)
    assert torch.allclose(G @ z.detach(), q, atol=1e-12)
    (gz,) = torch.autograd.grad((out * g).sum(), z)
    assert torch.allclose(gz, G.T @ g, atol=1e-12)
    J = torch.autograd.functional.jacobian(lambda x: C.rotate_to(x, q), z.detach())
    assert torch.allclose(J, G, atol=1e-12)


def test_rotate_to_sends_no_gradient_to_q():
    z = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    q = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    C.rotate_to(z, q).sum().backward()
    assert q.grad is None or torch.count_nonzero(q.grad) == 0


@SET
@given(st.integers(2, 8), st.integers(0, 2 ** 31 - 1))
def test_rotate_to_preserves_angle_and_scales_norm(d, seed):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(d, dtype=torch.float64, generator=gen).requires_grad_(True)
    q = torch.randn(d, dtype=torch.float64, generator=gen) * 3
    g = torch.randn(d, dtype=torch.float64, generator=gen)
    (gz,) = torch.autograd.grad((C.rotate_to(z, q) * g).sum(), z)
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
        return torch.autograd.grad((C.rotate_to(zz, q) * g).sum(), zz)[0]

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
    out = C.rotate_to(z, q)
    (gz,) = torch.autograd.grad((out * g).sum(), z)
    assert torch.equal(out.detach(), q) and torch.equal(gz, g)
    # antipodal: a single reflection, orthogonal, value q
    z = (-0.5 * q).clone().requires_grad_(True)
    out = C.rotate_to(z, q)
    (gz,) = torch.autograd.grad((out * g).sum(), z)
    assert torch.allclose(out, q, atol=1e-12) and torch.isfinite(gz).all()
    assert abs(float(gz.norm() / g.norm()) - 2.0) < 1e-12
    # q = 0: G = 0
    z = torch.randn(1, 3, dtype=torch.float64, requires_grad=True)
    out = C.rotate_to(z, torch.zeros(1, 3, dtype=torch.float64))
    (gz,) = torch.autograd.grad((out * g).sum(), z)
    assert torch.equal(out.detach(), torch.zeros(1, 3, dtype=torch.float64)) and not gz.any()
    # extreme scales
    for s in (1e-150, 1e150):
        z = (s * torch.randn(4, 3, dtype=torch.float64)).requires_grad_(True)
        out = C.rotate_to(z, q.expand(4, 3))
        (gz,) = torch.autograd.grad(out.sum(), z)
        assert torch.isfinite(out).all() and torch.isfinite(gz).all()


@SET
@given(st.integers(2, 6), st.floats(-30, 30), st.floats(-30, 30), st.integers(0, 2 ** 31 - 1))
def test_rotate_to_value_is_q_and_gradient_finite_at_any_scale(d, log_sz, log_sq, seed):
    gen = torch.Generator().manual_seed(seed)
    z = (10.0 ** log_sz * torch.randn(5, d, dtype=torch.float64, generator=gen)).requires_grad_(True)
    q = 10.0 ** log_sq * torch.randn(5, d, dtype=torch.float64, generator=gen)
    out = C.rotate_to(z, q)
    (gz,) = torch.autograd.grad(out.sum(), z)
    assert torch.allclose(out, q, rtol=1e-12, atol=0) and torch.isfinite(gz).all()


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_rotate_to_matches_vector_quantize_pytorch(dtype, tol):
    from vector_quantize_pytorch.vector_quantize_pytorch import rotate_to as ref
    torch.manual_seed(0)
    z = torch.randn(3, 7, 8, dtype=dtype)
    q, g = torch.randn(3, 7, 8, dtype=dtype), torch.randn(3, 7, 8, dtype=dtype)
    a, b = z.clone().requires_grad_(True), z.clone().requires_grad_(True)
    oa, ob = C.rotate_to(a, q), ref(b, q)
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
    ours = C.VectorQuantizer(16, 4, grad=grad)
    ours.codebook.data = E
    z = x.detach()[0].clone().requires_grad_(True)
    zq, oi, _ = ours(z)
    (gz,) = torch.autograd.grad((zq * g[0]).sum(), z)
    assert torch.equal(oi, idx[0])
    assert torch.allclose(zq, out[0], atol=1e-5) and torch.allclose(zq, E[idx[0]], atol=1e-5)
    assert torch.allclose(gz, gx[0], atol=1e-5)
    if grad == "ste":
        assert torch.allclose(gx, g)


def test_boundary_distance_on_a_line_and_against_bisection():
    cb = np.array([[-1.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    pts = np.array([[0.0, 5.0], [0.25, 0.0], [1.5, -2.0], [-4.0, 1.0]])
    assert np.allclose(C.boundary_distance(pts, cb), [0.0, 0.25, 0.5, 4.0])
    # random 3-D codebooks: step along the nearest bisector's normal; the assignment changes
    # just after the distance and not just before it
    rng = np.random.default_rng(0)
    for _ in range(20):
        E, z = rng.normal(size=(6, 3)), rng.normal(size=(1, 3))
        d = C.boundary_distance(z, E)[0]
        k = int(((z - E) ** 2).sum(1).argmin())
        gaps = [(((z[0] - E[j]) ** 2).sum() - ((z[0] - E[k]) ** 2).sum()) / (2 * np.linalg.norm(E[j] - E[k]))
                for j in range(6) if j != k]
        j = [j for j in range(6) if j != k][int(np.argmin(gaps))]
        n = (E[j] - E[k]) / np.linalg.norm(E[j] - E[k])
        near = lambda p: int(((p - E) ** 2).sum(1).argmin())
        assert near(z[0] + (d - 1e-9) * n) == k and near(z[0] + (d + 1e-9) * n) != k


@SET
@given(st.integers(0, 2 ** 31 - 1))
def test_boundary_distance_is_translation_and_rotation_invariant(seed):
    rng = np.random.default_rng(seed)
    E, P = rng.normal(size=(5, 3)), rng.normal(size=(40, 3))
    U, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    c = rng.normal(size=3)
    d0 = C.boundary_distance(P, E)
    assert (d0 >= -1e-12).all()
    assert np.allclose(C.boundary_distance(P @ U.T + c, E @ U.T + c), d0, atol=1e-9)


# ---------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("call,name", [
    (lambda: C.nearest_code(torch.zeros(3, 2), torch.zeros(4, 3)), "codebook"),
    (lambda: C.ste(torch.zeros(3, 2), torch.zeros(3, 3)), "q"),
    (lambda: C.generalized_ste(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(3, 3)), "G"),
    (lambda: C.rotation_matrix([1.0, 0.0], [-2.0, 0.0]), "antipodal"),
    (lambda: C.rotation_matrix([0.0, 0.0], [1.0, 0.0]), "z and q"),
    (lambda: C.rotate_to(torch.zeros(3, 1), torch.zeros(3, 1)), "z"),
    (lambda: C.rotate_to(torch.ones(3, 2), torch.ones(3, 2), eps=0), "eps"),
    (lambda: C.ema_update(torch.zeros(4, 2), torch.zeros(3, 2), torch.tensor([0, 1, 4])), "indices"),
    (lambda: C.ema_update(torch.zeros(4, 2), torch.zeros(3, 2), torch.tensor([0, 1, 2]), 1.0), "decay"),
    (lambda: C.VectorQuantizer(0, 4), "K"),
    (lambda: C.VectorQuantizer(8, 4, grad="rot"), "grad"),
    (lambda: C.VectorQuantizer(8, 4, init="zeros"), "init"),
    (lambda: C.VectorQuantizer(8, 4)(torch.zeros(3, 5)), "z"),
    (lambda: C.VectorQuantizer(8, 4).init_from(torch.zeros(3, 5)), "z"),
    (lambda: C.gradient_field(np.zeros((3, 2)), np.zeros((2, 3)), np.zeros(2)), "codebook"),
    (lambda: C.boundary_distance(np.zeros((3, 2)), np.zeros((2, 3))), "codebook"),
    (lambda: C.boundary_distance(np.zeros((3, 2)), np.ones((2, 2))), "codebook"),
    (lambda: C.boundary_distance(np.zeros(2), np.eye(2)), "points"),
])
def test_bad_input_raises_value_error_naming_the_parameter(call, name):
    with pytest.raises(ValueError, match=name.replace("[", r"\[").replace("]", r"\]")):
        call()


@pytest.mark.parametrize("fn", [C.ste, C.rotate_to,
                                lambda z, q: C.generalized_ste(z, q, torch.eye(3, dtype=z.dtype))])
def test_a_shape_mismatch_names_both_z_and_q(fn):
    z = torch.randn(4, 3, dtype=torch.float64)
    for bad_z in (z[0], z[None]):
        with pytest.raises(ValueError, match=r"q must have the shape of z"):
            fn(bad_z, z)
