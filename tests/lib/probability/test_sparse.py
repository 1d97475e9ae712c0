"""Tests of kexue.probability.sparse: sparsemax and entmax-1.5 without sorting.

Parity anchors: the entmax package (maps and gradients), the partial-sort and full-sort paths,
torch.autograd.gradcheck. The main map tests (examples, extremes, large logits, k) are in
test_softmax.py, where the maps were first written; these cover the sort-free solve's branches.
"""
from __future__ import annotations

import entmax
import pytest
import torch

from kexue import probability as P
from kexue.probability import sparse as sparse_module

torch.set_num_threads(1)


@pytest.mark.parametrize("cap", [1, 2, 3])
@pytest.mark.parametrize("fn", ["sparsemax", "entmax15"])
def test_sort_free_solve_hands_undecided_rows_to_the_sort(fn, cap, monkeypatch):
    """With the Newton iteration cut after 1-3 evaluations some rows (or all) are left undecided
    and sorted instead: the same map and gradient as the uncut iteration, and as entmax's."""
    f = getattr(P, fn)
    g = torch.Generator().manual_seed(7)
    x = torch.cat([torch.randn(6, 50, generator=g, dtype=torch.float64) * s for s in (0.05, 1.0, 20.0)])
    x[0], x[1, :5] = 0.0, 2.0                                            # all equal; a tie block
    w = torch.randn(18, 50, generator=g, dtype=torch.float64)
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    full = f(xa)
    (g_full,) = torch.autograd.grad((full * w).sum(), xa)
    monkeypatch.setattr(sparse_module, "_NEWTON_CAP", cap)
    cut = f(xb)
    (g_cut,) = torch.autograd.grad((cut * w).sum(), xb)
    assert (cut - full).abs().max() < 1e-14 and (g_cut - g_full).abs().max() < 1e-13
    ref = getattr(entmax, fn)(x, -1)
    assert (cut - ref).abs().max() < 1e-12


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sparse_maps_backward_matches_entmax_package(dtype):
    """The custom backward of sparsemax and entmax-1.5 against the entmax package's, on rows
    with supports from 1 to all, and on a 3-d input (last axis)."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 5, 60, generator=g, dtype=torch.float64) * torch.tensor([0.01, 0.5, 3.0, 50.0])[:, None, None]
    w = torch.randn(4, 5, 60, generator=g, dtype=torch.float64)
    for ours, ref in ((P.sparsemax, entmax.sparsemax), (P.entmax15, entmax.entmax15)):
        xa, xb = x.to(dtype).requires_grad_(True), x.to(dtype).requires_grad_(True)
        (ga,) = torch.autograd.grad((ours(xa) * w.to(dtype)).sum(), xa)
        (gb,) = torch.autograd.grad((ref(xb, -1) * w.to(dtype)).sum(), xb)
        assert (ga - gb).abs().max() < (1e-12 if dtype == torch.float64 else 1e-5)


@pytest.mark.parametrize("fn", ["sparsemax", "entmax15"])
def test_gradcheck_and_no_grad_forward(fn):
    """gradcheck of the custom backward (with and without k), gradgradcheck (the backward under
    create_graph is differentiable), and a forward without autograd
    gives the same values as one with it (entmax-1.5 squares in place only then)."""
    f = getattr(P, fn)
    x = torch.randn(3, 2, 9, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradcheck(lambda t: f(t, k=2), (x,))
    assert torch.autograd.gradgradcheck(f, (x,))                        # create_graph=True works
    with torch.no_grad():
        assert torch.equal(f(x), f(x.detach().clone().requires_grad_(True)).detach())


def test_newton_solvers_decide_rows_exactly():
    """The sort-free thresholds on rows with row max 0: every row decided, lambda within rounding
    of the sorted closed forms, support sizes equal to the number of positive outputs."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(40, 30, generator=g, dtype=torch.float64) * torch.logspace(-2, 2, 40, dtype=torch.float64)[:, None]
    z = x - x.amax(-1, keepdim=True)
    lam, size, done = sparse_module._sparsemax_tau_newton(z)
    lam_s, size_s = sparse_module._sparsemax_tau(z, 1)                  # partial sort, doubled
    assert done.all() and torch.equal(size, size_s) and (lam - lam_s).abs().max() < 1e-14
    assert torch.equal(size.squeeze(-1), (entmax.sparsemax(x, -1) > 0).sum(-1).double())
    lam15, size15, done15 = sparse_module._entmax15_tau_newton(z / 2)
    lam15_s = sparse_module._entmax15_tau(z / 2, 1)
    assert done15.all() and (lam15 - lam15_s).abs().max() < 1e-14
    assert torch.equal(size15.squeeze(-1), (entmax.entmax15(x, -1) > 0).sum(-1).double())


@pytest.mark.parametrize("fn", ["sparsemax", "entmax15"])
def test_row_blocks_give_the_same_map_and_gradient(fn, monkeypatch):
    """Rows are processed in blocks of about _BLOCK entries (cache-sized): blocks of 1, 3 or all
    rows give the same map and gradient, for a 3-d input too."""
    f = getattr(P, fn)
    x = torch.randn(2, 5, 11, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 3
    w = torch.randn(2, 5, 11, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    outs = []
    for block in (10 ** 6, 33, 1):
        monkeypatch.setattr(sparse_module, "_BLOCK", block)
        xr = x.clone().requires_grad_(True)
        p = f(xr)
        outs.append((p, torch.autograd.grad((p * w).sum(), xr)[0]))
    for p, gx in outs[1:]:
        assert torch.equal(p, outs[0][0]) and (gx - outs[0][1]).abs().max() < 1e-15


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_computed_in_float32(dtype):
    """float16/bfloat16 rows with supports above 2048 (where float16 stops counting exactly):
    the float32 result cast back, gradients in the input's dtype."""
    x = (torch.randn(2, 5000, generator=torch.Generator().manual_seed(6)) * 1e-5).to(dtype)
    for f in (P.sparsemax, P.entmax15):
        xr = x.clone().requires_grad_(True)
        p = f(xr)
        assert p.dtype == dtype and torch.equal(p, f(x.float()).to(dtype))
        assert ((p.float() > 0).sum(-1) > 2048).all()
        (g,) = torch.autograd.grad((p.float() * torch.linspace(-1, 1, 5000)).sum(), xr)
        assert g.dtype == dtype and torch.isfinite(g).all()
