"""Tests of kexue.probability.esp (chapter probability/smooth-topk): the GradTopK programmes.

References computed independently: the product tree against today's sequential programmes (in
linear and in log space: different recurrences), the log-space programme against the
linear-space one, numpy's convolve for the tree's kernels, and the public map's tests in
test_topk.py (subset enumeration, numpy.poly, double autograd through log_esp).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings, strategies as st

from kexue.probability import esp as E


@pytest.mark.parametrize("B, n, k, chunk", [(3, 7, 1, 3), (3, 7, 3, 2), (4, 30, 8, 7), (2, 50, 49, 32),
                                            (5, 65, 10, 32)])
def test_grad_topk_linear_programme_equals_the_log_space_one(B, n, k, chunk, monkeypatch):
    """The linear-space programme with checkpoints every ``chunk`` positions (p and H v) against
    the log-space programme (which rows too wide for it still take) to 1e-12, chunks that do and
    do not divide n."""
    g = torch.Generator().manual_seed(n + k)
    z = torch.randn(B, n, generator=g, dtype=torch.float64) * 2
    z = z - z.amax(-1, keepdim=True)
    v = torch.randn(B, n, generator=g, dtype=torch.float64)
    assert E._linear_ok(z, k)
    p1 = E._grad_topk_linear(z, k, chunk=chunk)
    h1 = E._grad_topk_linear(z, k, v, p1, chunk=chunk)
    monkeypatch.setattr(E, "_linear_ok", lambda *a: False)
    p0 = E._grad_topk_dp(z, k)
    h0 = E._grad_topk_dp(z, k, v, p0)
    assert (p1 - p0).abs().max() < 1e-12 and (h1 - h0).abs().max() < 1e-12
    assert not E._linear_ok(z * 400, k)                                     # wide rows go to log space


def test_close_gaps_narrows_only_the_wide_gaps_and_keeps_order_and_ties():
    x = torch.tensor([[1e30, 0.5, 0.5, -1e30, 3.0], [0.0, 1.0, 2.0, -1.0, 0.5]], dtype=torch.float64)
    z, off = E._close_gaps(x, 10.0)
    torch.testing.assert_close(z[0], torch.tensor([0.0, -12.5, -12.5, -22.5, -10.0], dtype=torch.float64))
    assert torch.equal(z[1], x[1]) and torch.equal(off[1], torch.zeros(5, dtype=torch.float64))
    torch.testing.assert_close(z[0, 1:3] - off[0, 1:3], x[0, 1:3])       # off undoes the move


def _rows(B, n, scale, seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(B, n, generator=g, dtype=torch.float64) * scale
    z[0, -1] = z[0, 0]                                                      # a tie
    return z - z.amax(-1, keepdim=True), torch.randn(B, n, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("n, k", [(2, 1), (3, 2), (3, 3), (7, 1), (7, 3), (13, 5), (13, 12), (100, 8),
                                  (257, 64), (1000, 64), (1024, 8), (33, 32)])
def test_product_tree_equals_the_sequential_programmes(n, k, monkeypatch):
    """GradTopK p and H v by the product tree (odd node counts at several levels, k = 1 and k = n
    included) against today's sequential programmes: the linear-space one and the log-space one,
    to 1e-12; H v the same with the forward's levels reused or recomputed."""
    z, v = _rows(3, n, 1.5, n * 1000 + k)
    p_t, levels = E._grad_topk_tree(z, k)
    h_t, _ = E._grad_topk_tree(z, k, v, p_t, levels)
    h_t2, _ = E._grad_topk_tree(z, k, v, p_t)
    p_lin = E._grad_topk_linear(z, k)
    h_lin = E._grad_topk_linear(z, k, v, p_lin)
    monkeypatch.setattr(E, "_linear_ok", lambda *a: False)
    p_log = E._grad_topk_dp(z, k)
    h_log = E._grad_topk_dp(z, k, v, p_log)
    for p in (p_lin, p_log):
        assert (p_t - p).abs().max() < 1e-12
    for h in (h_lin, h_log):
        assert (h_t - h).abs().max() < 1e-12 and (h_t2 - h).abs().max() < 1e-12
    assert (p_t.sum(-1) - k).abs().max() < 1e-12 * k


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 40), st.floats(0.0, 6.0), st.data())
def test_property_product_tree_equals_the_log_space_programme(n, scale, data):
    """On any rows in the linear range (ties, equal rows, k = n included) the tree's p and H v
    equal the log-space programme's."""
    k = data.draw(st.integers(1, n))
    z, v = _rows(2, n, scale, data.draw(st.integers(0, 10_000)))
    assume(E._linear_ok(z, k))
    p_t, levels = E._grad_topk_tree(z, k)
    h_t, _ = E._grad_topk_tree(z, k, v, p_t, levels)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(E, "_linear_ok", lambda *a: False)
        p_log = E._grad_topk_dp(z, k)
        h_log = E._grad_topk_dp(z, k, v, p_log)
    assert (p_t - p_log).abs().max() < 1e-12 and (h_t - h_log).abs().max() < 1e-11


def test_rows_too_wide_for_linear_arithmetic_take_the_log_space_programme(monkeypatch):
    """A batch mixing rows inside and outside the linear range (k * range > 600): p and the
    vector-Jacobian product equal those of the log-space programme on every row."""
    x = torch.randn(5, 40, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    x[1] *= 300
    x[3, 5] = -1e4
    gv = torch.randn(5, 40, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    assert E._linear_rows(E._dp_rows(x, 6), 6).tolist() == [True, False, True, False, True]

    def run():
        xr = x.clone().requires_grad_(True)
        p = E.GradTopK.apply(xr, 6)
        (g,) = torch.autograd.grad(p, xr, gv)
        return p.detach(), g

    p1, g1 = run()
    monkeypatch.setattr(E, "_linear_rows", lambda z, k: torch.zeros(z.shape[0], dtype=torch.bool))
    p0, g0 = run()
    assert (p1 - p0).abs().max() < 1e-12 and (g1 - g0).abs().max() < 1e-12


def test_truncated_polynomial_products_match_numpy():
    """The two kernels of the tree: a truncated product and the correlation that is its adjoint,
    against numpy.convolve and the sum written out."""
    import numpy as np

    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(4, 3, generator=g, dtype=torch.float64), torch.rand(6, 3, generator=g, dtype=torch.float64)
    for d in (2, 5, 9):
        out = torch.empty(d + 1, 3, dtype=torch.float64)
        E._poly_mul_into(out, a, b)
        for c in range(3):
            ref = np.convolve(a[:, c].numpy(), b[:, c].numpy())[:d + 1]
            np.testing.assert_allclose(out[:len(ref), c].numpy(), ref, rtol=1e-14)
            assert (out[len(ref):, c] == 0).all()
    A = torch.rand(9, 3, generator=g, dtype=torch.float64)
    for d in (0, 3, 8):
        out = torch.empty(d + 1, 3, dtype=torch.float64)
        E._poly_corr_into(out, A, b)
        for c in range(3):
            ref = [sum(A[j + u, c].item() * b[u, c].item() for u in range(6) if j + u < 9) for j in range(d + 1)]
            np.testing.assert_allclose(out[:, c].numpy(), ref, rtol=1e-14)


def test_backward_twice_with_retain_graph_recomputes_the_spent_levels():
    """The forward's tree levels serve one backward (and are freed as it goes); a second backward
    through a retained graph recomputes them and gives the same vector-Jacobian product."""
    x = torch.randn(3, 50, generator=torch.Generator().manual_seed(2), dtype=torch.float64, requires_grad=True)
    p = E.GradTopK.apply(x, 7)
    v = torch.randn(3, 50, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    (g1,) = torch.autograd.grad(p, x, v, retain_graph=True)
    (g2,) = torch.autograd.grad(p, x, v)
    assert torch.equal(g1, g2)


def test_long_rows_with_k_near_n_stay_out_of_linear_arithmetic():
    """With k > n / 2 the middle e_j of n weights exceed C(n, k): at n = 4096, k = 4000 and equal
    scores C(4096, 2048) = e^{1415} overflowed the linear programmes (NaN). Such rows now take the
    log-space programme: p = k / n on every entry."""
    n, k = 4096, 4000
    z = torch.zeros(1, n, dtype=torch.float64)
    assert E._linear_ok(z, 8) and not E._linear_ok(z, k) and not E._linear_rows(z, k).any()
    assert E._linear_rows(torch.zeros(1, 800, dtype=torch.float64), 700).all()      # C(800, 400) = e^{550}
    assert not E._linear_rows(torch.zeros(1, 1030, dtype=torch.float64), 950).any()  # C(1030, 515) = e^{710}
    p = E.GradTopK.apply(torch.zeros(1, 200, dtype=torch.float64), 150)
    torch.testing.assert_close(p, torch.full((1, 200), 0.75, dtype=torch.float64), rtol=0, atol=1e-12)
