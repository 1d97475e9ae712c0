"""Tests of kexue.probability.esp (chapter probability/smooth-topk): the GradTopK programmes.

References computed independently: the log-space programme against the linear-space one (two
different recurrences), and the public map's tests in test_topk.py (subset enumeration,
numpy.poly, double autograd through log_esp).
"""
from __future__ import annotations

import pytest
import torch

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
