"""Tests of kexue.probability.softmax: sigmoid, softmax and its substitutes (chapter softmax-alternatives).

Parity anchors: scipy/torch softmax and logsumexp, torch cross_entropy, the entmax package
(sparsemax, entmax15, entmax_bisect, sparsemax_loss), scipy SLSQP projection, Monte Carlo."""
from __future__ import annotations

import math
import warnings

import entmax
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays
from scipy import optimize, special, stats

from kexue import probability as P

torch.set_num_threads(1)
FAST = settings(max_examples=30, deadline=None)
logits = arrays(np.float64, st.integers(2, 12), elements=st.floats(-20, 20))


def _t(x, grad=False):
    return torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=grad)


def test_sigmoid_matches_scipy_expit_and_is_stable_at_1000():
    x = np.concatenate([np.linspace(-40, 40, 801), [-1000.0, -745.0, 709.0, 1000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")                       # no overflow warning either
        s = P.sigmoid(x)
    np.testing.assert_allclose(s, special.expit(x), rtol=1e-14, atol=0)
    assert P.sigmoid(np.array(-1000.0)) == 0.0 and P.sigmoid(np.array(1000.0)) == 1.0
    assert P.sigmoid(np.array(-700.0)) > 0                 # e^-700 is representable: not flushed
    np.testing.assert_allclose(P.sigmoid(-x) + s, 1.0, rtol=0, atol=1e-15)   # sigma(-x) = 1 - sigma(x)


def test_sigmoid_keeps_the_kind_and_its_gradient():
    t = torch.tensor([-1000.0, -2.0, 0.0, 3.0, 1000.0], dtype=torch.float64, requires_grad=True)
    s = P.sigmoid(t)
    assert isinstance(s, torch.Tensor) and s.dtype == torch.float64
    assert torch.equal(s, torch.sigmoid(t))
    (g,) = torch.autograd.grad(s.sum(), t)
    assert torch.isfinite(g).all()
    torch.testing.assert_close(g, (s * (1 - s)).detach(), rtol=1e-12, atol=0)
    assert torch.autograd.gradcheck(P.sigmoid, (t[1:4].detach().clone().requires_grad_(True),))
    assert P.sigmoid(torch.zeros(2, dtype=torch.float32)).dtype == torch.float32
    assert isinstance(P.sigmoid([0.0, 1.0]), np.ndarray)


def test_sigmoid_is_the_two_class_softmax():
    x = np.linspace(-30, 30, 61)
    two = np.stack([x, np.zeros_like(x)], -1)
    np.testing.assert_allclose(P.sigmoid(x), P.softmax(two)[:, 0], rtol=1e-13)


def test_softmax_and_logsumexp_match_scipy():
    x = np.random.default_rng(0).normal(size=(4, 7)) * 5
    for tau in (0.01, 1.0, 30.0):
        np.testing.assert_allclose(P.softmax(x, tau), special.softmax(x / tau, axis=-1), rtol=1e-12)
        np.testing.assert_allclose(P.logsumexp(x, tau), tau * special.logsumexp(x / tau, axis=-1),
                                   rtol=1e-12)


def test_softmax_keeps_the_kind_it_was_given():
    assert isinstance(P.softmax(np.zeros(3)), np.ndarray)
    t = torch.zeros(3, requires_grad=True)
    out = P.softmax(t)
    assert isinstance(out, torch.Tensor) and out.requires_grad


def test_softmax_and_logsumexp_match_scipy_and_torch():
    x = np.random.default_rng(0).standard_normal((4, 7)) * 5
    np.testing.assert_allclose(P.softmax(x), special.softmax(x, axis=-1), rtol=1e-13)
    np.testing.assert_allclose(P.logsumexp(x), special.logsumexp(x, axis=-1), rtol=1e-13)
    assert torch.allclose(P.softmax(_t(x), 0.5), torch.softmax(_t(x) / 0.5, -1), atol=1e-15)


def test_lse_limits():
    x = np.array([1.0, 3.0, 2.5, -1.0])
    vals = [float(P.logsumexp(x, t)) for t in (1.0, 0.1, 0.01)]
    ref = [math.log(sum(math.exp(v) for v in x)), 0.1 * math.log(sum(math.exp(v / 0.1) for v in x))]
    assert abs(vals[0] - ref[0]) < 1e-12 and abs(vals[1] - ref[1]) < 1e-12 and abs(vals[2] - 3) < 1e-12
    assert np.argmax(P.softmax(x, 0.01)) == 1 and P.softmax(x, 0.01).max() > 1 - 1e-12


@FAST
@given(logits)
def test_lse_between_max_and_max_plus_log_n(x):
    """Invariant: max x <= lse(x) <= max x + log n."""
    v = float(P.logsumexp(x))
    assert x.max() - 1e-12 <= v <= x.max() + math.log(x.size) + 1e-12


def test_softmax_jacobian_matches_autograd_and_half_l1():
    x = _t(np.random.default_rng(1).standard_normal(7))
    J = torch.autograd.functional.jacobian(lambda v: torch.softmax(v, -1), x).numpy()
    p = P.softmax(x.numpy())
    assert np.abs(P.softmax_jacobian(p) - J).max() < 1e-12
    assert abs(0.5 * np.abs(J).sum() - (1 - (p ** 2).sum())) < 1e-12


def test_cross_entropy_gradient_is_p_minus_onehot():
    x = _t(np.random.default_rng(2).standard_normal((3, 5)), grad=True)
    t = torch.tensor([0, 4, 2])
    torch.nn.functional.cross_entropy(x, t, reduction="sum").backward()
    ref = P.softmax(x.detach()) - torch.nn.functional.one_hot(t, 5)
    assert (x.grad - ref).abs().max() < 1e-12


def test_taylor_softmax_values_and_failures():
    np.testing.assert_allclose(P.taylor_softmax([3.0, 0.0, -1.0], 2), [0.85, 0.10, 0.05], atol=1e-12)
    np.testing.assert_allclose(P.taylor_softmax([-1.0, -3.0], 2), [1 / 6, 5 / 6], atol=1e-12)  # not monotone
    a, b = P.taylor_softmax([1.0, 0.0], 2), P.taylor_softmax([2.0, 1.0], 2)
    assert abs(a[0] - b[0]) > 0.01                                           # not shift invariant


@FAST
@given(logits, st.sampled_from([2, 4, 6]))
def test_taylor_softmax_is_a_distribution(x, k):
    """Invariant: even-order Taylor softmax is positive and sums to 1."""
    p = P.taylor_softmax(x, k)
    assert (p > 0).all() and abs(p.sum() - 1) < 1e-12


def test_sparse_softmax_and_loss():
    x = np.array([2.0, 1.0, 0.5, -1.0])
    p = P.sparse_softmax(x, 2)
    np.testing.assert_allclose(p, np.r_[special.softmax([2.0, 1.0]), 0, 0], atol=1e-15)
    xt = _t(x, grad=True)
    loss = P.sparse_softmax_loss(xt, torch.tensor(1), 2)
    assert abs(loss.item() - (special.logsumexp([2.0, 1.0]) - 1.0)) < 1e-12
    loss.backward()
    assert xt.grad[2:].abs().max() == 0                                      # no gradient outside the top k
    assert np.allclose(P.sparse_softmax(x, 4), special.softmax(x))


def test_perturb_max_gumbel_is_softmax_and_normal_two_classes():
    x = np.array([1.0, 3.0, 2.5, -1.0])
    assert np.abs(P.perturb_max(x, "gumbel") - special.softmax(x)).max() < 1e-6
    p2 = P.perturb_max([0.7, -0.3], "normal")
    assert abs(p2[0] - stats.norm.cdf(1 / math.sqrt(2))) < 1e-6


@FAST
@given(arrays(np.float64, st.integers(2, 6), elements=st.floats(-4, 4)), st.floats(-10, 10))
def test_perturb_max_shift_invariant_monotone_normalised(x, c):
    """Invariants: sums to 1, shift invariant, order preserving."""
    p = P.perturb_max(x, "normal", n_nodes=2001)
    assert abs(p.sum() - 1) < 1e-4
    assert np.abs(P.perturb_max(x + c, "normal", n_nodes=2001) - p).max() < 1e-9
    i, j = np.argmax(x), np.argmin(x)
    assert p[i] >= p[j] - 1e-12


def test_perturb_max_matches_monte_carlo():
    x = np.array([0.5, 0.0, -0.4, 1.2])
    for noise in ("normal", "gumbel"):
        assert np.abs(P.perturb_max(x, noise) - P.perturb_max_mc(x, noise, 200_000, seed=0)).max() < 5e-3
    assert np.abs(P.perturb_max_mc(x, "gumbel", 200_000, seed=1) - special.softmax(x)).max() < 5e-3


def test_sparsemax_example_and_projection():
    np.testing.assert_allclose(P.sparsemax([1.0, 0.5, -1.0]), [0.75, 0.25, 0.0], atol=1e-15)
    assert P.sparsemax_threshold([1.0, 0.5, -1.0]) == (0.25, 2)
    x = np.random.default_rng(3).standard_normal(6)
    res = optimize.minimize(lambda p: ((p - x) ** 2).sum(), np.full(6, 1 / 6), method="SLSQP",
                            bounds=[(0, 1)] * 6, constraints={"type": "eq", "fun": lambda p: p.sum() - 1},
                            options={"ftol": 1e-14})
    assert np.abs(P.sparsemax(x) - res.x).max() < 1e-6


@FAST
@given(arrays(np.float64, (5, 7), elements=st.floats(-10, 10)))
def test_sparsemax_entmax15_match_entmax_package(x):
    """Parity: entmax.sparsemax and entmax.entmax15."""
    assert np.abs(P.sparsemax(x) - entmax.sparsemax(_t(x), -1).numpy()).max() < 1e-12
    assert np.abs(P.entmax15(x) - entmax.entmax15(_t(x), -1).numpy()).max() < 1e-10


@pytest.mark.parametrize("alpha", [1.25, 1.5, 1.75, 2.0])
def test_entmax_bisect_matches_entmax_package(alpha):
    x = np.random.default_rng(4).standard_normal((50, 9)) * 3
    ref = entmax.entmax_bisect(_t(x), alpha, -1, n_iter=100).numpy()
    assert np.abs(P.entmax_bisect(x, alpha) - ref).max() < 1e-10
    if alpha == 1.5:
        assert np.abs(P.entmax15(x) - ref).max() < 1e-10
    if alpha == 2.0:
        assert np.abs(P.sparsemax(x) - ref).max() < 1e-10


def test_entmax15_example():
    r = math.sqrt(31)
    np.testing.assert_allclose(P.entmax15([1.0, 0.5, -1.0]), [((1 + r) / 8) ** 2, ((r - 1) / 8) ** 2, 0],
                               atol=1e-14)


def test_entmax_tends_to_softmax():
    x = np.linspace(2, -2, 10)
    devs = [np.abs(P.entmax_bisect(x, a) - special.softmax(x)).max() for a in (1.1, 1.01, 1.001)]
    assert devs[0] > devs[1] > devs[2] and devs[2] < 1e-3
    assert np.abs(P.entmax_bisect(x, 1.0) - special.softmax(x)).max() < 1e-15


def test_sparsemax_jacobian_on_support():
    x = _t([1.0, 0.9, 0.7, -2.0])
    J = torch.autograd.functional.jacobian(P.sparsemax, x).numpy()
    S = P.sparsemax(x.numpy()) > 0
    k = S.sum()
    ref = np.zeros((4, 4))
    ref[np.ix_(S, S)] = np.eye(k) - 1 / k
    assert np.abs(J - ref).max() < 1e-14


@pytest.mark.parametrize("fn", ["sparsemax", "entmax15", "bisect"])
def test_gradcheck(fn):
    x = _t([0.3, -0.2, 0.1, 0.25, -1.0], grad=True)
    f = {"sparsemax": P.sparsemax, "entmax15": P.entmax15,
         "bisect": lambda v: P.entmax_bisect(v, 1.3)}[fn]
    assert torch.autograd.gradcheck(f, (x,))


def test_entmax_bisect_gradient_matches_package():
    x = np.random.default_rng(5).standard_normal((4, 6))
    G = torch.randn(4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for alpha in (1.25, 1.5, 2.0):
        a, b = _t(x, True), _t(x, True)
        ga = torch.autograd.grad((P.entmax_bisect(a, alpha) * G).sum(), a)[0]
        gb = torch.autograd.grad((entmax.entmax_bisect(b, alpha, -1, n_iter=100) * G).sum(), b)[0]
        assert (ga - gb).abs().max() < 1e-10


def test_sparsemax_loss_matches_package_and_gradient():
    rng = np.random.default_rng(6)
    x = _t(rng.standard_normal((30, 5)) * 2, True)
    t = torch.tensor(rng.integers(0, 5, 30))
    ours, ref = P.sparsemax_loss(x, t), entmax.sparsemax_loss(x, t)
    assert (ours - ref).abs().max() < 1e-12 and (ours >= -1e-15).all()
    g = torch.autograd.grad(ours.sum(), x)[0]
    assert (g - (P.sparsemax(x) - torch.nn.functional.one_hot(t, 5))).abs().max() < 1e-12
    assert float(P.sparsemax_loss([5.0, 0.0, 0.0], 0)) == 0.0


def test_relu_approximation_ladder():
    gaps = [P.relu_exp_gap(b) for b in (1.0, 0.5, 0.25, 0.1)]
    assert abs(gaps[0] - (math.e - 2)) < 1e-9                               # at t = 1: e - 2
    assert all(a > b for a, b in zip(gaps, gaps[1:]))


def test_stopgrad_surrogate_gradient_and_post_erratum():
    x = _t([1.0, 0.5, -1.0, 0.8], True)
    t = torch.tensor(1)
    g_right = torch.autograd.grad(P.stopgrad_surrogate_loss(P.sparsemax(x), x, t), x)[0]
    g_post = torch.autograd.grad(P.naive_stopgrad_loss_post(P.sparsemax(x), x, t), x)[0]
    p = P.sparsemax(x.detach())
    assert (g_right - (p - torch.nn.functional.one_hot(t, 4))).abs().max() < 1e-15
    # the printed form's gradient is J_p^T x: it does not depend on the target t
    g_post0 = torch.autograd.grad(P.naive_stopgrad_loss_post(P.sparsemax(x), x, torch.tensor(0)), x)[0]
    assert (g_post - g_post0).abs().max() < 1e-15 and (g_post - g_right).abs().max() > 0.5


def test_naive_sparsemax_post_agrees_including_full_support():
    for x in ([0.1, 0.2, 0.15], [1.0, 0.5, -1.0], [3.0, -3.0, 0.0, 2.9]):
        assert np.abs(P.naive_sparsemax_post(x) - P.sparsemax(x)).max() < 1e-15


def test_extreme_inputs_stay_finite():
    x = np.array([1e6, -1e6, 0.0, 999999.0])
    for f in (P.sparsemax, P.entmax15, lambda v: P.entmax_bisect(v, 1.3), P.softmax,
              lambda v: P.sparse_softmax(v, 2)):
        p = f(x)
        assert np.isfinite(p).all() and abs(p.sum() - 1) < 1e-9
    assert np.isfinite(P.perturb_max([1e3, -1e3, 0.0])).all()
    assert np.isfinite(P.sparsemax_loss(x, 1))


@pytest.mark.parametrize("call, name", [
    (lambda: P.sigmoid([0.0, float("nan")]), "x"),
    (lambda: P.sigmoid("a"), "x"),
    (lambda: P.softmax([1.0, 2.0], tau=0), "tau"),
    (lambda: P.softmax([1.0, float("nan")]), "x"),
    (lambda: P.logsumexp([], tau=1.0), "x"),
    (lambda: P.softmax_jacobian([0.5, 0.6]), "p"),
    (lambda: P.perturb_max(torch.zeros(3)), "x"),
    (lambda: P.perturb_max_mc(torch.zeros(3)), "x"),
    (lambda: P.surrogate_inputs(_t([0.5, 0.5]), [1.0, 2.0]), "x"),
    (lambda: P.taylor_softmax([1.0, 2.0], 3), "k"),
    (lambda: P.taylor_softmax([1.0, np.nan], 2), "x"),
    (lambda: P.sparse_softmax([1.0, 2.0], 3), "k"),
    (lambda: P.sparse_softmax_loss([1.0, 2.0], 2, 1), "target"),
    (lambda: P.perturb_max([1.0, 2.0], "cauchy"), "noise"),
    (lambda: P.perturb_max([1.0, 2.0], n_nodes=1), "n_nodes"),
    (lambda: P.perturb_max_mc([1.0, 2.0], n_samples=0), "n_samples"),
    (lambda: P.sparsemax([[np.inf, 1.0]]), "x"),
    (lambda: P.sparsemax_threshold([]), "x"),
    (lambda: P.naive_sparsemax_post([[1.0, 2.0]]), "x"),
    (lambda: P.sparsemax_loss([1.0, 2.0], 5), "target"),
    (lambda: P.entmax15([]), "x"),
    (lambda: P.entmax_bisect([1.0, 2.0], 2.5), "alpha"),
    (lambda: P.entmax_bisect([1.0, 2.0], 1.5, n_iter=0), "n_iter"),
    (lambda: P.relu_exp_gap(0.0), "beta"),
    (lambda: P.stopgrad_surrogate_loss(_t([0.5, 0.5]), _t([1.0, 2.0, 3.0]), 0), "p"),
    (lambda: P.naive_stopgrad_loss_post(np.array([0.5, 0.5]), _t([1.0, 2.0]), 0), "p"),
    (lambda: P.zoo_map([1.0, 2.0], "argmax"), "name"),
    (lambda: P.zoo_map(torch.zeros(3), "softmax"), "x"),
    (lambda: P.naive_sparsemax_post(torch.zeros(3)), "x"),
    (lambda: P.zoo_map([1.0, 2.0], "softmax", tau=0.0), "tau"),
])
def test_bad_input_names_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# -- losses around softmax, AM-Softmax, Taylor attention (chapter softmax-alternatives) --------

def test_accuracy_loss_gradient_is_pt_times_ce_gradient():
    x = _t([[0.3, -1.2, 2.0, 0.5], [1.0, 0.0, -1.0, 2.0]], grad=True)
    t = torch.tensor([1, 3])
    P.accuracy_loss(x, t).sum().backward()
    p = torch.softmax(x.detach(), -1)
    pt = p.gather(-1, t[:, None])
    expected = pt * (p - torch.nn.functional.one_hot(t, 4))
    assert (x.grad - expected).abs().max() < 1e-15
    np.testing.assert_allclose(P.accuracy_loss(np.array([[0.0, 0.0]]), [0]), [-0.5], atol=1e-15)


@pytest.mark.parametrize("loss", ["ce", "neg_pt", "sparse"])
def test_linear_classifier_closed_form_gradient_matches_autograd(loss):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 5)), rng.integers(0, 6, 40)
    y[:6] = np.arange(6)                                       # every class present
    fit = P.fit_linear_classifier(X, y, loss, steps=1, lr=1.0, init_scale=0.5, seed=3)
    W0 = np.random.default_rng(3).standard_normal((5, 6)) * 0.5
    Wt = torch.tensor(W0, requires_grad=True)
    z = torch.tensor(X) @ Wt
    yt = torch.tensor(y)
    if loss == "ce":
        L = torch.nn.functional.cross_entropy(z, yt)
    elif loss == "neg_pt":
        L = P.accuracy_loss(z, yt).mean()
    else:
        L = P.sparse_softmax_loss(z, yt, 3).mean()             # target added to the top 3
    (g,) = torch.autograd.grad(L, Wt)
    np.testing.assert_allclose(fit["W"], W0 - g.numpy(), rtol=0, atol=1e-13)


def test_linear_classifier_batches_independent_models_and_logs():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((3, 30, 4)), rng.integers(0, 3, (3, 30))
    y[:, :3] = np.arange(3)
    fit = P.fit_linear_classifier(X, y, "ce", steps=20, lr=0.3, seed=0, checkpoints=(1, 20))
    assert fit["W"].shape == (3, 4, 3) and [r[0] for r in fit["log"]] == [1, 20]
    assert fit["log"][1][1] < fit["log"][0][1]                # the loss went down
    one = P.fit_linear_classifier(X[1], y[1], "ce", steps=20, lr=0.3, init_scale=0.0)
    batch = P.fit_linear_classifier(X, y, "ce", steps=20, lr=0.3, init_scale=0.0)
    np.testing.assert_allclose(batch["W"][1], one["W"], atol=1e-14)


def test_ce_on_separable_data_never_stops():
    X = np.array([[2.0, 0.0], [3.0, 1.0], [-2.0, 0.5], [-3.0, -1.0]])
    y = np.array([0, 0, 1, 1])
    fit = P.fit_linear_classifier(X, y, "ce", steps=3000, lr=1.0, init_scale=0.0, checkpoints=(30, 300, 3000))
    losses = [r[1] for r in fit["log"]]
    norms = [r[2] for r in fit["log"]]
    assert losses[0] > losses[1] > losses[2] > 0 and norms[0] < norms[1] < norms[2]


def test_am_softmax_loss_matches_cross_entropy_of_shifted_logits():
    cos = _t(np.random.default_rng(2).uniform(-1, 1, (5, 4)))
    t = torch.tensor([0, 1, 2, 3, 0])
    onehot = torch.nn.functional.one_hot(t, 4).double()
    ref = torch.nn.functional.cross_entropy((cos - 0.3 * onehot) / 0.2, t, reduction="none")
    assert (P.am_softmax_loss(cos, t, 0.3, 0.2) - ref).abs().max() < 1e-14
    # a margin never lowers the loss
    assert (P.am_softmax_loss(cos, t, 0.3, 0.2) >= P.am_softmax_loss(cos, t, 0.0, 0.2)).all()


def test_cosine_softmax_bound_is_the_simplex_value():
    n = 4
    c = np.vstack([np.eye(n) - 1 / n])                       # regular simplex centred at 0
    c = c / np.linalg.norm(c, axis=1, keepdims=True)
    cos = c @ c.T
    p = special.softmax(cos / 0.5, axis=1).diagonal()
    np.testing.assert_allclose(p, P.cosine_softmax_max_prob(n, 0.5), rtol=1e-13)
    assert P.cosine_softmax_max_prob(10, 1.0) < 0.26 < P.cosine_softmax_max_prob(10, 0.1)


def test_fit_cosine_classifier_learns_and_margin_widens_gap():
    rng = np.random.default_rng(4)
    centers = rng.standard_normal((3, 6)) * 3
    y = np.tile(np.arange(3), 20)
    X = centers[y] + rng.standard_normal((60, 6))
    accs = {}
    for m in (0.0, 0.3):
        E, C = P.fit_cosine_classifier(X, y, m=m, tau=0.1, dim=4, steps=60, lr=0.05, seed=0)
        z = torch.nn.functional.normalize(torch.tensor(X) @ E, dim=-1)
        cos = z @ torch.nn.functional.normalize(C, dim=-2)
        accs[m] = (cos.argmax(-1).numpy() == y).mean()
    assert min(accs.values()) > 0.9


def test_taylor_features_give_f2_of_dot_product():
    rng = np.random.default_rng(5)
    q, k = rng.standard_normal((7, 5)), rng.standard_normal((7, 5))
    s = (q * k).sum(-1)
    np.testing.assert_allclose((P.taylor_features(q) * P.taylor_features(k)).sum(-1), 1 + s + s ** 2 / 2, rtol=1e-13)
    assert P.taylor_features(q).shape == (7, 1 + 5 + 25)


def test_taylor_linear_attention_matches_quadratic_form_and_gradcheck():
    g = torch.Generator().manual_seed(6)
    q, k = torch.randn(2, 9, 3, dtype=torch.float64, generator=g), torch.randn(2, 9, 3, dtype=torch.float64, generator=g)
    v = torch.randn(2, 9, 2, dtype=torch.float64, generator=g)
    s = q @ k.transpose(-1, -2)
    w = torch.where(torch.tril(torch.ones(9, 9, dtype=torch.bool)), 1 + s + s ** 2 / 2, 0.0)
    ref = (w @ v) / w.sum(-1, keepdim=True)
    assert (P.taylor_linear_attention(q, k, v) - ref).abs().max() < 1e-12
    assert torch.autograd.gradcheck(P.taylor_linear_attention, (q[0].clone().requires_grad_(), k[0].clone().requires_grad_(), v[0].clone().requires_grad_()))


@pytest.mark.parametrize("call, name", [
    (lambda: P.accuracy_loss([1.0, 2.0], 2), "target"),
    (lambda: P.accuracy_loss([1.0, np.nan], 0), "x"),
    (lambda: P.fit_linear_classifier(np.zeros((4, 2)), np.zeros(3, int)), "y"),
    (lambda: P.fit_linear_classifier(np.zeros((4, 2)), np.zeros(4, int), loss="hinge"), "loss"),
    (lambda: P.fit_linear_classifier(np.zeros((4, 2)), np.zeros(4, int), steps=0), "steps"),
    (lambda: P.fit_linear_classifier(np.zeros((4, 2)), np.zeros(4, int), lr=0.0), "lr"),
    (lambda: P.fit_linear_classifier(np.zeros((4, 2)), np.zeros(4, int), init_scale=-1.0), "init_scale"),
    (lambda: P.fit_linear_classifier(np.zeros((4, 2)), np.zeros(4, int), k=0), "k"),
    (lambda: P.fit_linear_classifier(np.zeros(4), np.zeros(4, int)), "X"),
    (lambda: P.am_softmax_loss([1.5, 0.0], 0), "cos"),
    (lambda: P.am_softmax_loss([0.5, 0.0], 0, m=-0.1), "m"),
    (lambda: P.am_softmax_loss([0.5, 0.0], 0, tau=0.0), "tau"),
    (lambda: P.am_softmax_loss([0.5, 0.0], 3), "target"),
    (lambda: P.cosine_softmax_max_prob(1), "n"),
    (lambda: P.cosine_softmax_max_prob(3, 0.0), "tau"),
    (lambda: P.fit_cosine_classifier(np.zeros((4, 2)), np.zeros(4, int), dim=0), "dim"),
    (lambda: P.fit_cosine_classifier(np.zeros((4, 2)), np.zeros(4, int), steps=0), "steps"),
    (lambda: P.fit_cosine_classifier(np.zeros((4, 2)), np.zeros(4, int), lr=-1.0), "lr"),
    (lambda: P.fit_cosine_classifier(np.zeros(4), np.zeros(4, int)), "X"),
    (lambda: P.taylor_features([np.inf, 1.0]), "x"),
    (lambda: P.taylor_linear_attention(np.zeros((3, 2)), np.zeros((3, 3)), np.zeros((3, 1))), "k"),
    (lambda: P.taylor_linear_attention(np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((4, 1))), "v"),
    (lambda: P.taylor_linear_attention(np.zeros(3), np.zeros(3), np.zeros(3)), "q"),
])
def test_new_losses_bad_input_names_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# -- extreme but valid inputs: large logits, ties, float32 (every sparse map subtracts the row
#    maximum first; the reference is the float64 map of the same float32 numbers) -------------

def _clustered(scale, dtype, seed=0):
    """Rows of N(0, scale^2) logits with a cluster next to the maximum (support 3-4) and a tie."""
    x = torch.randn(32, 40, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale
    x[:, 0] = x.amax(-1) + 0.5
    x[:, 1], x[:, 2], x[:, 3] = x[:, 0] - 0.3, x[:, 0] - 0.6, x[:, 0]
    return x.to(dtype)


SPARSE_MAPS = {"sparsemax": P.sparsemax, "entmax15": P.entmax15,
               "bisect-1.25": lambda v: P.entmax_bisect(v, 1.25),
               "bisect-1.5": lambda v: P.entmax_bisect(v, 1.5), "taylor": P.taylor_softmax}


@pytest.mark.parametrize("scale", [1e3, 1e4])
@pytest.mark.parametrize("name", list(SPARSE_MAPS))
def test_float32_large_logits_match_float64(name, scale):
    """At logits ~ +-1e4 in float32 every map is within 1e-6 of float64 (before the max shift:
    sparsemax 6.5e-4, entmax15 8.6, bisection 3.8e-4)."""
    x32 = _clustered(scale, torch.float32)
    f = SPARSE_MAPS[name]
    err = (f(x32).double() - f(x32.double())).abs().max().item()
    assert err <= 1e-6, (name, scale, err)


@pytest.mark.parametrize("scale", [1e3, 1e4])
def test_float32_sparsemax_threshold_and_loss_at_large_logits(scale):
    x32 = _clustered(scale, torch.float32)
    t = torch.tensor([0, 5] * 16)                                          # in and out of the support
    lam32, size32 = P.sparsemax_threshold(x32)
    lam64, size64 = P.sparsemax_threshold(x32.double())
    assert torch.equal(size32, size64) and (size64 >= 3).all()
    # lambda is on the scale of x: float32 can hold it to one ulp of |x| only
    assert ((lam32.double() - lam64).abs() <= 2 * torch.finfo(torch.float32).eps * lam64.abs()).all()
    l32, l64 = P.sparsemax_loss(x32, t).double(), P.sparsemax_loss(x32.double(), t)
    assert ((l32 - l64).abs() <= 1e-6 * l64.abs().clamp(min=1.0)).all()   # relative: L ~ x_max - x_t


@pytest.mark.parametrize("v", [1e8, 1e10, 1e20, 1e30])
def test_huge_float32_logits_neither_crash_nor_overflow(v):
    """|x| >= 1e8 in float32: sparsemax crashed ("index -1 is out of bounds"), entmax_bisect
    returned inf (max z - 1 == max z), entmax15 and taylor_softmax NaN (squares overflow)."""
    x = torch.tensor([[v, -v, 0.5 * v, v], [-v, -v, v, 0.0]], dtype=torch.float32, requires_grad=True)
    calls = {**SPARSE_MAPS, "threshold": lambda u: P.sparsemax_threshold(u)[0],
             "loss": lambda u: P.sparsemax_loss(u, torch.tensor([1, 0]))}
    for name, f in calls.items():
        out = f(x)
        (g,) = torch.autograd.grad(out.sum(), x)
        assert torch.isfinite(out).all() and torch.isfinite(g).all(), name
        if name in ("sparsemax", "entmax15", "bisect-1.5"):
            torch.testing.assert_close(out.detach(), torch.tensor([[0.5, 0, 0, 0.5], [0, 0, 1, 0]]))
    # taylor_softmax at overflow size: same answer as float64 (f_2 ~ x^2 / 2 there)
    np.testing.assert_allclose(P.taylor_softmax(x.detach()).double(), P.taylor_softmax(x.detach().double()),
                               atol=1e-6)


def test_taylor_softmax_rescaled_branch_is_the_same_map():
    """Past float64's range (x = 1e200, x^2 = inf) the rescaled branch gives the limit x^2 / sum x^2."""
    u = np.array([1.0, -2.0, 0.3])
    np.testing.assert_allclose(P.taylor_softmax(u * 1e200), u ** 2 / np.sum(u ** 2), rtol=1e-12)
    x4 = np.array([3e100, 1e100])
    np.testing.assert_allclose(P.taylor_softmax(x4, 4), [81 / 82, 1 / 82], rtol=1e-12)


TAUS = st.sampled_from([1e-6, 1e-3, 1.0, 1e3, 1e6])
DTYPES = st.sampled_from([torch.float32, torch.float64])
# logits in [-1e4, 1e4]: a grid of a few values (so ties are common) or free floats
EXTREME_ROWS = st.integers(2, 8).flatmap(lambda n: st.one_of(
    st.lists(st.sampled_from([-1e4, -3.0, -1.0, 0.0, 0.5, 1.0, 1e4]), min_size=n, max_size=n),
    st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=n, max_size=n)))


@settings(max_examples=60, deadline=None)
@given(EXTREME_ROWS, TAUS, DTYPES, st.sampled_from(list(SPARSE_MAPS) + ["softmax", "sparse_softmax"]))
def test_property_simplex_maps_finite_at_extremes(row, tau, dtype, name):
    """Invariant over logits +-1e4, ties, x / tau with tau 1e-6 ... 1e6, float32 and float64:
    every map returns a finite probability vector and a finite gradient."""
    f = {**SPARSE_MAPS, "softmax": P.softmax, "sparse_softmax": lambda v: P.sparse_softmax(v, 1)}[name]
    x = (torch.tensor(row, dtype=torch.float64) / tau).to(dtype).requires_grad_()
    p = f(x)
    w = torch.linspace(-1, 1, len(row), dtype=dtype)
    (g,) = torch.autograd.grad((p * w).sum(), x)
    assert torch.isfinite(p).all() and torch.isfinite(g).all()
    assert (p >= 0).all() and abs(p.sum().item() - 1) < 1e-5


@settings(max_examples=40, deadline=None)
@given(EXTREME_ROWS, TAUS, DTYPES, st.data())
def test_property_sparse_losses_finite_at_extremes(row, tau, dtype, data):
    """The sparsemax loss (>= 0, gradient p - e_t) and the Sparse Softmax loss stay finite."""
    x = (torch.tensor(row, dtype=torch.float64) / tau).to(dtype).requires_grad_()
    t = torch.tensor(data.draw(st.integers(0, len(row) - 1)))
    k = data.draw(st.integers(1, len(row)))
    for loss in (P.sparsemax_loss(x, t), P.sparse_softmax_loss(x, t, k)):
        (g,) = torch.autograd.grad(loss, x)
        assert torch.isfinite(loss) and torch.isfinite(g).all()
    L = P.sparsemax_loss(x, t)
    assert L.item() >= -1e-6 * max(1.0, abs(row[int(t)] / tau))


def test_sparse_softmax_loss_adds_a_target_outside_the_top_k():
    """Target 3 is not among the top 2 of x: the loss is lse over {top 2} + {target} minus x_t,
    and the target's logit gets the gradient p_t - 1 (dropping the target would give lse over
    the top 2 only, and no gradient on x_3)."""
    x = _t([2.0, 1.0, 0.5, -1.0], grad=True)
    loss = P.sparse_softmax_loss(x, torch.tensor(3), 2)
    assert abs(loss.item() - (special.logsumexp([2.0, 1.0, -1.0]) + 1.0)) < 1e-12
    loss.backward()
    p = special.softmax([2.0, 1.0, -1.0])
    np.testing.assert_allclose(x.grad.numpy(), [p[0], p[1], 0.0, p[2] - 1.0], atol=1e-12)
    # batched, numpy in: one row with the target inside, one outside the top k
    xb = np.array([[2.0, 1.0, 0.5, -1.0], [0.0, 3.0, 2.0, 1.0]])
    np.testing.assert_allclose(P.sparse_softmax_loss(xb, np.array([0, 0]), 2),
                               [special.logsumexp([2.0, 1.0]) - 2.0, special.logsumexp([3.0, 2.0, 0.0])],
                               atol=1e-12)


@pytest.mark.parametrize("fn", ["sparsemax", "entmax15"])
def test_partial_sort_option_gives_the_full_sort_result(fn):
    """k = 1, 2, 7, 64 < support, = n, > n: the same map (the k largest are doubled until the
    support fits); the gradient too. Rows: tiny, moderate and wide scales, all-equal, a tie block."""
    f = getattr(P, fn)
    g = torch.Generator().manual_seed(5)
    x = torch.cat([torch.randn(8, 100, generator=g, dtype=torch.float64) * s for s in (0.01, 0.3, 5.0)])
    x[0], x[1, :10] = 0.0, 3.0
    x.requires_grad_(True)
    w = torch.randn(24, 100, generator=g, dtype=torch.float64)
    full = f(x)
    (g_full,) = torch.autograd.grad((full * w).sum(), x)
    assert ((full > 0).sum(-1) > 7).any()                                 # some supports need doubling
    for k in (1, 2, 7, 64, 99, 100, 500):
        part = f(x, k=k)
        (g_part,) = torch.autograd.grad((part * w).sum(), x)
        assert (part - full).abs().max() < 1e-14 and (g_part - g_full).abs().max() < 1e-13, k
    with pytest.raises(ValueError, match="k"):
        f([1.0, 2.0], k=0)


@pytest.mark.parametrize("fn", [P.accuracy_loss, P.sparsemax_loss, P.am_softmax_loss,
                                lambda x, target: P.sparse_softmax_loss(x, target, 2)])
def test_losses_refuse_a_target_that_is_not_an_integer(fn):
    """A string or None target was a TypeError/RuntimeError from torch.as_tensor."""
    x = np.array([0.3, -0.2, 0.5])
    for bad in ("bad", None, 1.5):
        with pytest.raises(ValueError, match="target"):
            fn(x, bad)


def test_surrogate_losses_refuse_a_target_that_is_not_an_integer():
    x = torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64)
    p = torch.softmax(x, -1)
    for fn in (P.stopgrad_surrogate_loss, P.naive_stopgrad_loss_post):
        for bad in ("bad", None):
            with pytest.raises(ValueError, match="target"):
                fn(p, x, bad)


def test_classifier_fits_check_labels_seed_and_checkpoints():
    X = np.random.default_rng(0).standard_normal((6, 2))
    y = np.array([0, 1, 0, 1, 1, 0])
    for bad in (np.array([], dtype=int), "bad", None, y[:, None]):
        with pytest.raises(ValueError, match="y"):
            P.fit_cosine_classifier(X, bad, dim=2, steps=1)
        with pytest.raises(ValueError, match="y"):
            P.fit_linear_classifier(X, bad, steps=1)
    for bad in (-1, 1.5, None):
        with pytest.raises(ValueError, match="seed"):
            P.fit_cosine_classifier(X, y, dim=2, steps=1, seed=bad)
        with pytest.raises(ValueError, match="seed"):
            P.fit_linear_classifier(X, y, steps=1, seed=bad)
    for bad in (1.5, None):
        with pytest.raises(ValueError, match="checkpoints"):
            P.fit_linear_classifier(X, y, steps=1, checkpoints=bad)


def test_zoo_map_checks_alpha_and_k_for_every_map():
    """alpha and k were ignored (not checked) unless the map used them."""
    x = np.array([1.0, 0.5, -0.2])
    for bad in (np.nan, 0.5, 3.0, "a"):
        with pytest.raises(ValueError, match="alpha"):
            P.zoo_map(x, "softmax", alpha=bad)
    for bad in (0, 4, 1.5):
        with pytest.raises(ValueError, match="k"):
            P.zoo_map(x, "softmax", k=bad)


def test_relu_exp_gap_and_taylor_softmax_bound_their_sizes():
    for bad in (0, 1, 2.5, None):
        with pytest.raises(ValueError, match="n"):
            P.relu_exp_gap(0.5, n=bad)
    with pytest.raises(ValueError, match="k"):
        P.taylor_softmax(np.array([0.1, 0.2]), 1000)      # 1000! overflowed int -> float


# ---------------------------------------------------------------- extreme inputs, one property per family
# Rows drawn from a grid with +-1e4 and +-1e30 (ties are common) or free floats in +-1e4, divided
# by tau in 1e-6 ... 1e6 before the cast: scores up to 1e36, which float32 still holds.
HUGE_ROWS = st.integers(2, 7).flatmap(lambda n: st.one_of(
    st.lists(st.sampled_from([-1e30, -1e4, -3.0, -1.0, 0.0, 0.5, 1.0, 1e4, 1e30]), min_size=n, max_size=n),
    st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=n, max_size=n)))


def _huge(row, tau, dtype):
    return (torch.tensor(row, dtype=torch.float64) / tau).to(dtype).requires_grad_()


def _finite_grad(out, x):
    w = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    (g,) = torch.autograd.grad((out * w).sum(), x)
    return bool(torch.isfinite(out).all()) and bool(torch.isfinite(g).all())


@settings(max_examples=60, deadline=None)
@given(HUGE_ROWS, TAUS, DTYPES, st.sampled_from(["softmax", "logsumexp", "sigmoid", "taylor2", "taylor4",
                                                 "sparse_softmax"]), st.data())
def test_property_softmax_variants_finite_at_huge_scores(row, tau, dtype, name, data):
    """softmax, logsumexp, sigmoid, Taylor softmax (orders 2 and 4), Sparse Softmax: finite values
    and gradients at scores up to 1e36; the simplex maps stay probability vectors."""
    x = _huge(row, tau, dtype)
    k = data.draw(st.integers(1, len(row)))
    f = {"softmax": P.softmax, "logsumexp": P.logsumexp, "sigmoid": P.sigmoid,
         "taylor2": P.taylor_softmax, "taylor4": lambda v: P.taylor_softmax(v, 4),
         "sparse_softmax": lambda v: P.sparse_softmax(v, k)}[name]
    out = f(x)
    assert _finite_grad(out, x), (name, out)
    if name not in ("logsumexp", "sigmoid"):
        assert (out >= 0).all() and abs(out.double().sum().item() - 1) < 1e-5


@settings(max_examples=60, deadline=None)
@given(HUGE_ROWS, TAUS, DTYPES, st.sampled_from(["sparsemax", "sparsemax k=2", "entmax15", "entmax15 k=2",
                                                 "bisect-1.25", "bisect-1.5", "bisect-1.9", "threshold"]))
def test_property_sparse_maps_finite_at_huge_scores(row, tau, dtype, name):
    """sparsemax, entmax-1.5 (with and without the partial sort), entmax by bisection and the
    sparsemax threshold: finite, on the simplex, finite gradients, at scores up to 1e36."""
    x = _huge(row, tau, dtype)
    f = {"sparsemax": P.sparsemax, "sparsemax k=2": lambda v: P.sparsemax(v, k=2), "entmax15": P.entmax15,
         "entmax15 k=2": lambda v: P.entmax15(v, k=2), "bisect-1.25": lambda v: P.entmax_bisect(v, 1.25),
         "bisect-1.5": lambda v: P.entmax_bisect(v, 1.5), "bisect-1.9": lambda v: P.entmax_bisect(v, 1.9),
         "threshold": lambda v: P.sparsemax_threshold(v)[0]}[name]
    out = f(x)
    assert _finite_grad(out, x), (name, out)
    if name != "threshold":
        assert (out >= 0).all() and abs(out.double().sum().item() - 1) < 1e-5


@settings(max_examples=60, deadline=None)
@given(HUGE_ROWS, TAUS, DTYPES, st.sampled_from(["sparsemax", "sparse_softmax", "accuracy", "surrogate",
                                                 "am_softmax"]), st.data())
def test_property_losses_finite_at_huge_scores(row, tau, dtype, name, data):
    """The losses: sparsemax loss (>= 0), Sparse Softmax cross-entropy, -p_t, the stop-gradient
    surrogate (gradient p - e_t exactly) and AM-Softmax (cosines in [-1, 1], tau the temperature)."""
    t = torch.tensor(data.draw(st.integers(0, len(row) - 1)))
    k = data.draw(st.integers(1, len(row)))
    if name == "am_softmax":
        cos = torch.tensor(row, dtype=torch.float64)
        cos = (cos / cos.abs().max().clamp(min=1.0)).to(dtype).requires_grad_()
        loss = P.am_softmax_loss(cos, t, m=data.draw(st.sampled_from([0.0, 0.35, 2.0])), tau=tau)
        assert _finite_grad(loss, cos) and loss.item() >= -1e-6 * max(1.0, 1 / tau)
        return
    x = _huge(row, tau, dtype)
    if name == "surrogate":
        p = P.sparsemax(x)
        loss = P.stopgrad_surrogate_loss(p, x, t)
        (g,) = torch.autograd.grad(loss, x)
        torch.testing.assert_close(g, (p - torch.nn.functional.one_hot(t, len(row)).to(dtype)).detach())
        return
    loss = {"sparsemax": lambda: P.sparsemax_loss(x, t), "sparse_softmax": lambda: P.sparse_softmax_loss(x, t, k),
            "accuracy": lambda: P.accuracy_loss(x, t)}[name]()
    assert _finite_grad(loss, x), (name, loss)
    if name == "sparsemax":
        assert loss.item() >= -1e-6 * max(1.0, x.detach().abs().max().item())
