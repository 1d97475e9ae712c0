"""Tests of kexue.probability.topk (chapter probability/smooth-topk).

Reference points computed independently of the library: torch.topk, scipy's softmax/logsumexp,
numpy.poly (elementary symmetric polynomials), brute force over subsets with itertools, scipy's
brentq for the threshold, and entmax.budget_bisect for the clipped threshold map.
"""
from __future__ import annotations

import itertools
import math
import warnings

import entmax
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays
from scipy import optimize, special

from kexue import probability as P
from kexue.probability import topk as T

SMOOTH = ["GradTopK", "ThreTopK-exp", "ThreTopK-sigmoid", "ThreTopK-smooth", "ThreTopK-clip"]
ALL = list(P.TOPK_METHODS)


def scores(min_n=2, max_n=9, lo=-8.0, hi=8.0):
    """Score vectors with distinct entries (ties are tested separately)."""
    return st.integers(min_n, max_n).flatmap(lambda n: arrays(
        np.float64, n, elements=st.floats(lo, hi, allow_nan=False),
        unique=True).filter(lambda a: np.min(np.diff(np.sort(a))) > 1e-3))


def brute_grad_topk(x, k):
    """Z_{k,i} / Z_k by enumerating every subset (itertools; no library code)."""
    n = len(x)
    subsets = list(itertools.combinations(range(n), k))
    w = np.array([math.exp(sum(x[i] for i in s) - k * max(x)) for s in subsets])
    p = np.zeros(n)
    for ws, s in zip(w, subsets):
        p[list(s)] += ws
    return p / w.sum()


# ---------------------------------------------------------------- hard Top-k


@given(scores(), st.data())
def test_hard_topk_matches_torch_topk(x, data):
    k = data.draw(st.integers(1, len(x)))
    mask = P.hard_topk(x, k)
    ref = np.zeros(len(x))
    ref[torch.topk(torch.tensor(x), k).indices.numpy()] = 1.0
    np.testing.assert_array_equal(mask, ref)


def test_hard_topk_warns_on_ties_and_breaks_them_by_index():
    with pytest.warns(RuntimeWarning, match="ties"):
        m = P.hard_topk(np.array([1.0, 2.0, 2.0, 0.0]), 1)
    np.testing.assert_array_equal(m, [0, 1, 0, 0])


# ---------------------------------------------------------------- GradTopK


@given(scores(max_n=8), st.data())
def test_log_esp_equals_numpy_poly_and_brute_force(x, data):
    """log e_k(exp x): DP == log of numpy.poly's coefficient == logsumexp over subsets."""
    k = data.draw(st.integers(1, len(x)))
    dp = float(P.log_esp(x, k))
    sums = [sum(x[i] for i in s) for s in itertools.combinations(range(len(x)), k)]
    assert dp == pytest.approx(special.logsumexp(sums), abs=1e-10)
    assert float(P.log_esp_brute(x, k)) == pytest.approx(special.logsumexp(sums), abs=1e-10)
    x_small = np.clip(x, -3, 3)                      # keep the polynomial well conditioned
    poly = np.poly(-np.exp(x_small))[k]               # prod (t + e^x_i): coefficient e_k
    assert float(P.log_esp(x_small, k)) == pytest.approx(math.log(poly), rel=1e-9, abs=1e-9)


@given(scores(max_n=8), st.data())
def test_grad_topk_equals_subset_enumeration(x, data):
    k = data.draw(st.integers(1, len(x) - 1))
    np.testing.assert_allclose(P.grad_topk(x, k), brute_grad_topk(list(x), k), atol=1e-10)
    np.testing.assert_allclose(P.grad_topk(x, k, method="brute"), P.grad_topk(x, k), atol=1e-10)


def test_grad_topk_reproduces_the_posts_example():
    """The post's example (x = [3, 2, 1, 4]): the printed values, recomputed by enumeration."""
    x = [3.0, 2.0, 1.0, 4.0]
    ref = brute_grad_topk(x, 2)
    np.testing.assert_allclose(P.grad_topk(np.array(x), 2), ref, atol=1e-12)
    np.testing.assert_allclose(ref, [0.69441, 0.30559, 0.11920, 0.88080], atol=1e-5)


def test_grad_topk_k1_is_softmax():
    x = np.random.default_rng(1).normal(size=(3, 10)) * 4
    np.testing.assert_allclose(P.grad_topk(x, 1, tau=0.7), special.softmax(x / 0.7, axis=-1),
                               atol=1e-12)


def test_grad_topk_gradcheck_and_gradgradcheck():
    x = torch.tensor([[0.3, -1.2, 2.0, 0.7, 0.1], [1.0, 1.5, -0.5, 0.0, 2.2]],
                     dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: P.grad_topk(t, 2, tau=0.8), (x,))
    assert torch.autograd.gradgradcheck(lambda t: P.grad_topk(t, 3), (x,))


def test_naive_recurrence_agrees_when_mild_and_breaks_when_spread():
    rng = np.random.default_rng(0)
    z = rng.standard_normal(100)
    mild = P.naive_grad_topk_recurrence(z, 10)
    np.testing.assert_allclose(mild, P.grad_topk(z, 10), atol=1e-6)
    wild = P.naive_grad_topk_recurrence(30 * z, 10)
    assert not np.isfinite(wild).all()                      # the post's failure, reproduced
    clamped = P.naive_grad_topk_recurrence(30 * z, 10, clamp=1e-12)
    assert np.isfinite(clamped).all()
    assert np.abs(clamped - P.grad_topk(30 * z, 10)).sum() > 1.0   # finite but wrong
    assert np.isfinite(P.grad_topk(30 * z, 10)).all()


# ---------------------------------------------------------------- ThreTopK


@pytest.mark.parametrize("f", P.THRESHOLD_FS)
def test_threshold_functions_are_increasing_from_0_to_1(f):
    t = np.linspace(-30, 30, 2001)
    v = P.threshold_f(t, f)
    assert v[0] == pytest.approx(0.0, abs=1e-12) and v[-1] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(v) >= 0)
    d = P.threshold_f_prime(t, f)
    mid = (t[1:] + t[:-1]) / 2
    fd = np.diff(v) / np.diff(t)
    # the derivative is the slope of the function, away from the kinks of exp and clip
    away = np.min(np.abs(mid[:, None] - np.array([0.0, 1.0])[None, :]), axis=1) > 0.1
    np.testing.assert_allclose(fd[away], P.threshold_f_prime(mid, f)[away], atol=5e-4)
    assert np.all(d >= 0)


@pytest.mark.parametrize("f", P.THRESHOLD_FS)
@given(x=scores(min_n=3, max_n=12), data=st.data())
def test_threshold_lambda_solves_its_equation(f, x, data):
    """lambda is a root of sum_i f(x_i - lambda) = k; scipy's brentq finds the same root
    wherever that root is unique (f strictly increasing there)."""
    k = data.draw(st.integers(1, len(x) - 1))
    p, lam = P.thre_topk(x, k, f, return_lambda=True)
    assert p.sum() == pytest.approx(k, abs=1e-9)
    assert np.all(p >= -1e-15) and np.all(p <= 1 + 1e-15)
    if f in ("exp", "sigmoid", "smooth"):
        g = lambda l: P.threshold_f(x - l, f).sum() - k               # noqa: E731
        root = optimize.brentq(g, x.min() - 60, x.max() + 60, xtol=1e-13, rtol=1e-14)
        assert float(lam) == pytest.approx(root, abs=1e-8)


def test_thre_topk_exp_closed_form_example():
    """x = [3, 2, 1, 4], k = 2: lambda = log(e^3 + e^2 + e^1) - log(2 - 1) (m = 1 above it)."""
    p, lam = P.thre_topk(np.array([3.0, 2.0, 1.0, 4.0]), 2, "exp", return_lambda=True)
    assert float(lam) == pytest.approx(math.log(math.e ** 3 + math.e ** 2 + math.e), abs=1e-12)
    np.testing.assert_allclose(p, np.minimum(1, np.exp(np.array([3, 2, 1, 4.0]) - float(lam))),
                               atol=1e-12)


def test_thre_topk_clip_equals_entmax_budget_bisect():
    X = torch.randn(50, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 2
    for k in (1, 3, 5):
        ref = entmax.budget_bisect(X, budget=k, n_iter=100)
        np.testing.assert_allclose(P.thre_topk(X, k, "clip").numpy(), ref.numpy(), atol=1e-12)


@pytest.mark.parametrize("f", ["exp", "sigmoid", "smooth", "clip"])
def test_thre_topk_gradcheck(f):
    x = torch.tensor([[0.31, -1.2, 2.05, 0.73, 0.12, 1.4], [1.0, 1.5, -0.5, 0.02, 2.2, -1.1]],
                     dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: P.thre_topk(t, 2, f, tau=0.9), (x,))
    assert torch.autograd.gradcheck(lambda t: P.thre_topk(t, 2, f, return_lambda=True)[1], (x,))


def test_lambda_gradient_matches_finite_differences():
    x = np.array([0.4, -1.0, 2.0, 0.9, 0.0])
    g = P.thre_topk_lambda_grad(x, 2, "sigmoid", tau=0.5)
    eps = 1e-6
    fd = np.array([(P.thre_topk_lambda(x + eps * e, 2, "sigmoid", 0.5)
                    - P.thre_topk_lambda(x - eps * e, 2, "sigmoid", 0.5)) / (2 * eps)
                   for e in np.eye(5)])
    np.testing.assert_allclose(g, fd, atol=1e-7)


# ---------------------------------------------------------------- properties of every smooth map


@pytest.mark.parametrize("method", SMOOTH)
@given(x=scores(min_n=3, max_n=10), data=st.data())
def test_smooth_maps_sum_to_k_stay_in_box_and_preserve_order(method, x, data):
    k = data.draw(st.integers(1, len(x) - 1))
    tau = data.draw(st.sampled_from([0.05, 0.5, 1.0, 5.0]))
    p = P.smooth_topk(x, k, tau, method)
    assert p.sum() == pytest.approx(k, abs=1e-8)
    assert np.all(p >= -1e-12) and np.all(p <= 1 + 1e-12)
    order = np.argsort(x)
    assert np.all(np.diff(p[order]) >= -1e-12)              # larger score, larger output


@pytest.mark.parametrize("method", SMOOTH)
def test_low_temperature_matches_torch_topk(method):
    """Parity with torch.topk: at tau -> 0 every smooth map becomes the hard mask."""
    x = torch.randn(20, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    for k in (1, 4, 9):
        hard = torch.zeros_like(x).scatter_(-1, torch.topk(x, k, dim=-1).indices, 1.0)
        gaps = torch.sort(x, -1, descending=True).values
        gap = float((gaps[:, k - 1] - gaps[:, k]).min()) if k < 16 else 1.0
        p = P.smooth_topk(x, k, tau=gap / 60, method=method)
        assert float((p - hard).abs().max()) < 1e-6, (method, k)


@pytest.mark.parametrize("method", SMOOTH)
def test_distance_to_hard_topk_shrinks_with_temperature(method):
    x = np.array([2.0, -1.0, 0.5, 1.2, 3.1, -0.3, 0.9])
    d = P.topk_l1_distance(x, 3, np.logspace(1, -2, 12), method)
    assert np.all(np.diff(d) <= 1e-12) and d[-1] < 1e-6 and d[0] > 0.5


@pytest.mark.parametrize("method", ALL)
@pytest.mark.parametrize("scale", [1e-4, 1.0, 1e4])
@pytest.mark.parametrize("tau", [1e-6, 1.0, 1e6])
def test_extreme_inputs_stay_finite(method, scale, tau):
    x = np.array([1.0, -1.0, 0.5, 1.0, -0.25, 0.0]) * scale          # includes a tie
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for k in (1, 2, 5):
            p = P.smooth_topk(x, k, tau, method)
            assert np.isfinite(p).all(), (method, scale, tau, k)
            assert p.sum() == pytest.approx(k, rel=1e-9)


def test_all_equal_scores_share_k_evenly():
    for method in SMOOTH:
        np.testing.assert_allclose(P.smooth_topk(np.zeros(6), 2, 1.0, method), np.full(6, 1 / 3),
                                   atol=1e-12)


# ---------------------------------------------------------------- the iterative constructions


def test_su_iteration_sums_to_k_but_leaves_the_box():
    p = P.su_iteration(np.array([-0.6, 0.6, -0.6]), 2)
    assert p.sum() == pytest.approx(2.0, abs=1e-12)
    assert p.max() > 1.0                                       # the card's counterexample
    np.testing.assert_allclose(p, [0.4681, 1.0639, 0.4681], atol=5e-5)


def test_weighted_iteration_limit_is_not_topk():
    """k = 2 at low temperature: 1.5 on the maximum and 0.5 on the runner-up (not 1 and 1)."""
    p = P.weighted_softmax_iteration(np.array([3.0, 2.0, 1.0, 4.0]), 2, tau=0.1)
    np.testing.assert_allclose(p, [0.5, 0, 0, 1.5], atol=1e-3)


# ---------------------------------------------------------------- the explorer


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("call, name", [
    (lambda: P.hard_topk([1.0, 2.0], 3), "k"),
    (lambda: P.log_esp([1.0, 2.0], 0), "k"),
    (lambda: P.log_esp_brute([1.0, 2.0], 3), "k"),
    (lambda: P.log_esp_brute(np.zeros(40), 20), "k"),
    (lambda: P.naive_grad_topk_recurrence(torch.ones(3), 1), "x"),
    (lambda: P.grad_topk([1.0, 2.0], 1, tau=-1), "tau"),
    (lambda: P.grad_topk([1.0, 2.0], 1, method="magic"), "method"),
    (lambda: P.grad_topk([1.0, 2.0], 1.5), "k"),
    (lambda: P.naive_grad_topk_recurrence(np.ones(3), 1, clamp=0), "clamp"),
    (lambda: P.threshold_f([0.0], "tanh"), "f"),
    (lambda: P.thre_topk([1.0, 2.0, 3.0], 1, "relu"), "f"),
    (lambda: P.thre_topk([1.0, 2.0, 3.0], 3, return_lambda=True), "return_lambda"),
    (lambda: P.su_iteration([1.0, 2.0], 1, tau=float("inf")), "tau"),
    (lambda: P.weighted_softmax_iteration([1.0, 2.0], True), "k"),
    (lambda: P.smooth_topk([1.0, 2.0], 1, 1.0, "Top"), "method"),
    (lambda: P.topk_l1_distance([1.0, 2.0, 0.0], 1, [1.0, -1.0], "GradTopK"), "taus"),
])
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()


# ---------------------------------------------------------------- GradTopK as an autograd.Function


def reference_grad_topk(x: torch.Tensor, k: int, tau: float = 1.0) -> torch.Tensor:
    """The previous implementation, kept as the reference: double autograd through log_esp
    (p = d log Z_k / dz by autograd, its Jacobian by autograd again)."""
    xin = x if x.requires_grad else x.detach().requires_grad_(True)
    with torch.enable_grad():
        (p,) = torch.autograd.grad(P.log_esp(xin / tau, k).sum(), xin, create_graph=True)
    return p * tau


@pytest.mark.parametrize("n, k", [(2, 1), (5, 1), (5, 2), (7, 6), (12, 4), (30, 8), (9, 8)])
def test_grad_topk_function_equals_the_autograd_reference(n, k):
    """Forward p and the vector-Jacobian product H v agree with double autograd to 1e-10,
    on rows with ties and a 3-D batch."""
    g = torch.Generator().manual_seed(n * 100 + k)
    x = torch.randn(2, 3, n, generator=g, dtype=torch.float64) * 3
    x[0, 0, -1] = x[0, 0, 0]                                               # a tie
    x[1, 2] = 0.5                                                          # all equal
    x.requires_grad_(True)
    v = torch.randn(2, 3, n, generator=g, dtype=torch.float64)
    for tau in (0.3, 1.0):
        p_ref = reference_grad_topk(x, k, tau)
        (h_ref,) = torch.autograd.grad(p_ref, x, v)
        p = P.grad_topk(x, k, tau)
        (h,) = torch.autograd.grad(p, x, v)
        assert (p - p_ref).abs().max() < 1e-10 and (h - h_ref).abs().max() < 1e-10


def test_grad_topk_function_gradcheck_at_edges():
    x = torch.tensor([[0.3, -1.2, 2.0, 0.7, 0.1, 0.7], [1.0, 1.0, 1.0, 0.0, 2.2, -3.0]],
                     dtype=torch.float64, requires_grad=True)
    for k in (1, 3, 5):
        assert torch.autograd.gradcheck(lambda t: P.grad_topk(t, k, tau=0.6), (x,))


def test_grad_topk_float32_input_is_solved_in_float64():
    x = torch.randn(4, 20, generator=torch.Generator().manual_seed(3)) * 5
    p32 = P.grad_topk(x, 4)
    assert p32.dtype == torch.float32
    torch.testing.assert_close(p32.double(), P.grad_topk(x.double(), 4), atol=1e-7, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [1e-4, 1.0, 1e4])
@pytest.mark.parametrize("tau", [1e-6, 1e-3, 1.0, 1e3, 1e6])
def test_grad_topk_forward_and_gradient_finite_at_extremes(dtype, scale, tau):
    """Logits +-1e4 and tau 1e-6 ... 1e6 (x / tau up to 1e10): p in [0, 1] sums to k and its
    gradient is finite (the double-autograd version gave NaN in 11 of these 30 settings)."""
    x = torch.tensor([[1.0, -1.0, 0.5, 1.0, -0.25, 0.0, 0.75, -0.5]], dtype=torch.float64) * scale
    x = x.to(dtype).requires_grad_(True)
    w = torch.linspace(-1, 1, 8, dtype=dtype)
    for k in (1, 2, 5, 7):
        p = P.grad_topk(x, k, tau)
        (g,) = torch.autograd.grad((p * w).sum(), x)
        assert torch.isfinite(p).all() and torch.isfinite(g).all(), (k, p, g)
        assert (p >= 0).all() and (p <= 1 + 1e-6).all()
        assert abs(p.double().sum().item() - k) < 1e-5 * k


def test_grad_topk_cold_limit_is_the_hard_mask_with_ties_shared():
    x = torch.tensor([3.0, 1.0, 3.0, -2.0, 2.0], dtype=torch.float64) * 1e4
    p = P.grad_topk(x, 3, tau=1e-6)
    torch.testing.assert_close(p, torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0], dtype=torch.float64))
    p2 = P.grad_topk(x, 1, tau=1e-6)                                       # a tie for the top 1
    torch.testing.assert_close(p2, torch.tensor([0.5, 0.0, 0.5, 0.0, 0.0], dtype=torch.float64))


def test_weighted_iteration_gradient_finite_in_float32_at_low_temperature():
    """The floor under log w was 1e-300, which is 0 in float32: log 0 gave a NaN gradient."""
    x = torch.randn(3, 10, generator=torch.Generator().manual_seed(0), requires_grad=True)
    for tau in (1e-6, 1e-3):
        p = P.weighted_softmax_iteration(x, 2, tau)
        (g,) = torch.autograd.grad((p * torch.arange(10.0)).sum(), x)
        assert torch.isfinite(p).all() and torch.isfinite(g).all()


EXTREME_ROWS = st.integers(3, 8).flatmap(lambda n: st.one_of(
    st.lists(st.sampled_from([-1e4, -3.0, -1.0, 0.0, 0.5, 1.0, 1e4]), min_size=n, max_size=n),
    st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=n, max_size=n)))


@settings(max_examples=80, deadline=None)
@given(EXTREME_ROWS, st.sampled_from([1e-6, 1e-3, 1.0, 1e3, 1e6]),
       st.sampled_from([torch.float32, torch.float64]), st.sampled_from(ALL), st.data())
def test_property_topk_maps_finite_at_extremes(row, tau, dtype, method, data):
    """Invariant over logits +-1e4, ties, tau 1e-6 ... 1e6, float32 and float64: every Top-k map
    returns finite values summing to k, with a finite gradient."""
    k = data.draw(st.integers(1, len(row) - 1))
    x = torch.tensor(row, dtype=dtype, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p = P.smooth_topk(x, k, tau, method)
    w = torch.linspace(-1, 1, len(row), dtype=dtype)
    (g,) = torch.autograd.grad((p * w).sum(), x)
    assert torch.isfinite(p).all() and torch.isfinite(g).all(), (method, p, g)
    assert abs(p.double().sum().item() - k) < 1e-4 * k, (method, p)


# ---------------------------------------------------------------- ThreTopK: Newton against the previous solvers
# The previous solvers of lambda, kept as the reference: closed forms over the sorted scores for
# "exp" and "smooth" (a candidate per number m of entries above lambda), bisection for
# "sigmoid" and "clip" (exact on the final linear piece for "clip").


def ref_lambda_exp(z: torch.Tensor, k: int) -> torch.Tensor:
    """min(1, e^t): lambda = log sum_{i>m} e^{z_(i)} - log(k - m) for the m in 0..k-1 that
    satisfies z_(m) >= lambda >= z_(m+1) (sorted descending, z_(0) = +inf)."""
    zs = torch.sort(z, dim=-1, descending=True).values                     # (..., n)
    tail = torch.logcumsumexp(zs.flip(-1), dim=-1).flip(-1)                # lse of z_(i..n)
    m = torch.arange(k, dtype=z.dtype)
    cand = tail[..., :k] - torch.log(k - m)                                # (..., k): m saturated
    upper = torch.cat([torch.full_like(zs[..., :1], math.inf), zs[..., :k - 1]], -1)
    lower = zs[..., :k]
    return ref_pick_candidate(cand, upper, lower)


def ref_lambda_smooth(z: torch.Tensor, k: int) -> torch.Tensor:
    """Su's C^1 f: with m entries above lambda, S1 = sum_{i<=m} e^{-z_(i)}, S2 = sum_{i>m} e^{z_(i)},
    c = k - m:  lambda = log S2 - log(c + sqrt(c^2 + S1 S2));  m = n (every entry above lambda,
    possible when k > n/2) gives lambda = log(2 (n - k)) - log S1. All in log space."""
    n = z.shape[-1]
    zs = torch.sort(z, dim=-1, descending=True).values
    ninf = torch.full_like(zs[..., :1], -math.inf)
    log_s2 = torch.cat([torch.logcumsumexp(zs.flip(-1), -1).flip(-1), ninf], -1)   # m = 0..n
    log_s1 = torch.cat([ninf, torch.logcumsumexp(-zs, -1)], -1)                    # m = 0..n
    c = k - torch.arange(n + 1, dtype=z.dtype)                                      # (n+1,)
    log_p = log_s1 + log_s2                                                         # log S1 S2
    abs_c = c.abs().expand_as(log_p)
    log_c2 = torch.where(abs_c > 0, 2 * torch.log(abs_c), torch.full_like(log_p, -math.inf))
    log_root = 0.5 * torch.logaddexp(log_c2, log_p)                                # log sqrt(c^2+P)
    pos = c >= 0
    # c >= 0: log S2 - log(c + root);  c < 0: -log S1 + log(root + |c|)  (no cancellation)
    log_c = torch.where(abs_c > 0, torch.log(abs_c), torch.full_like(log_p, -math.inf))
    sum_log = torch.logaddexp(log_c, log_root)
    cand = torch.where(pos, log_s2 - sum_log, -log_s1 + sum_log)
    m_n = math.log(2 * (n - k)) - log_s1[..., n] if k < n else None
    if m_n is not None:
        cand = torch.cat([cand[..., :n], m_n.unsqueeze(-1)], -1)
    upper = torch.cat([torch.full_like(zs[..., :1], math.inf), zs], -1)              # z_(m)
    lower = torch.cat([zs, torch.full_like(zs[..., :1], -math.inf)], -1)            # z_(m+1)
    return ref_pick_candidate(cand, upper, lower)


def ref_pick_candidate(cand: torch.Tensor, upper: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
    """The candidate lambda that lies in its own interval [lower, upper].

    In exact arithmetic one candidate does (several, equal, at ties); in floating point take the
    one that misses its interval by the least, so no tolerance has to match the scale of z.
    """
    miss = torch.relu(cand - upper) + torch.relu(lower - cand)
    miss = torch.where(torch.isfinite(cand), miss, torch.full_like(miss, math.inf))
    best = miss.argmin(-1, keepdim=True)
    worst_miss = torch.gather(miss, -1, best)
    if not bool((worst_miss <= 1e-6 * (1 + torch.gather(cand, -1, best).abs())).all()):
        raise FloatingPointError("no threshold candidate satisfied its interval; please report x")
    return torch.gather(cand, -1, best).squeeze(-1)


def ref_lambda_bisect(z: torch.Tensor, k: int, f: str, iters: int = 200) -> torch.Tensor:
    """Root of F(lambda) = sum_i f(z_i - lambda) - k, F decreasing, by bisection.

    Bracket (sigmoid): [z_min - logit(k/n), z_max - logit(k/n)] (the post's interval); for
    "clip", [z_min - 1, z_max]; then, for "clip", the exact root on the identified linear piece.
    """
    n = z.shape[-1]
    zmin, zmax = z.min(-1).values, z.max(-1).values
    if f == "sigmoid":
        logit = math.log(k / (n - k))
        lo, hi = zmin - logit, zmax - logit
    else:
        lo, hi = zmin - 1.0, zmax
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        big = T._f(z - mid.unsqueeze(-1), f).sum(-1) > k
        lo = torch.where(big, mid, lo)
        hi = torch.where(big, hi, mid)
        if bool(((hi - lo) <= 1e-15 * (1 + hi.abs())).all()):
            break
    lam = 0.5 * (lo + hi)
    if f == "clip":
        t = z - lam.unsqueeze(-1)
        free = (t > 0) & (t < 1)
        ones = (t >= 1).to(z.dtype).sum(-1)
        nfree = free.to(z.dtype).sum(-1)
        exact = ((z * free).sum(-1) - (k - ones)) / nfree.clamp(min=1)
        lam = torch.where(nfree > 0, exact, lam)
    return lam


def ref_solve_lambda(z: torch.Tensor, k: int, f: str) -> torch.Tensor:
    if f == "exp":
        return ref_lambda_exp(z, k)
    if f == "smooth":
        return ref_lambda_smooth(z, k)
    return ref_lambda_bisect(z, k, f)


def _reference_rows():
    """Rows that exercise the solver: three scales, ties, all equal, one far outlier each way."""
    g = torch.Generator().manual_seed(11)
    x = torch.cat([torch.randn(6, 40, generator=g, dtype=torch.float64) * s for s in (0.05, 1.0, 20.0)])
    x[0] = 0.3                                                             # all equal
    x[1, :5] = x[1].max()                                                  # a tied block at the top
    x[2, 0], x[3, 0] = 80.0, -80.0                                         # far outliers
    return x


@pytest.mark.parametrize("f", P.THRESHOLD_FS)
@pytest.mark.parametrize("k", [1, 2, 7, 20, 33, 39])
def test_newton_threshold_equals_the_previous_solvers(f, k):
    """p (and lambda where it is unique: F not flat around the root) agree with the closed forms and
    the bisection to 1e-12."""
    x = _reference_rows()
    p, lam = P.thre_topk(x, k, f, return_lambda=True)
    z = x - x.amax(-1, keepdim=True)
    lam_ref = ref_solve_lambda(z, k, f) + x.amax(-1)
    p_ref = T._f(x - lam_ref.unsqueeze(-1), f)
    assert (p - p_ref).abs().max() < 1e-12, (p - p_ref).abs().max()
    def F(shift):
        return T._f(x - (lam_ref + shift).unsqueeze(-1), f).sum(-1) - k
    unique = (F(-1e-6) > 1e-9) & (F(1e-6) < -1e-9)                      # F is not flat at the root
    assert ((lam - lam_ref).abs() / (1 + lam_ref.abs()))[unique].max() < 1e-12
    assert (p.sum(-1) - k).abs().max() < 1e-12 * k


@pytest.mark.parametrize("f", P.THRESHOLD_FS)
def test_newton_threshold_gradcheck_on_rows_with_ties_and_outliers(f):
    """The implicit backward (p and lambda's own gradient) against finite differences, float64,
    on a (2, 3, n) batch (rows where lambda is well conditioned: finite differences of a lambda
    with sum f' ~ 1e-6 carry errors of 1e-4)."""
    x = _reference_rows()[[1, 3, 4, 7, 9, 10], :9].reshape(2, 3, 9)
    x = x + 1e-3 * torch.arange(9, dtype=torch.float64)                   # distinct, close
    x.requires_grad_(True)
    for k in (1, 4):
        assert torch.autograd.gradcheck(lambda t: P.thre_topk(t, k, f, tau=0.7), (x,))
        assert torch.autograd.gradcheck(lambda t: P.thre_topk(t, k, f, return_lambda=True)[1], (x,))


def test_newton_threshold_converges_where_bisection_is_the_fallback():
    """Scores 1e4 apart in float64 at tau = 1e-6 (x / tau ~ 1e10): F is flat between entries,
    Newton's steps leave the bracket and bisection takes over; p is still the hard mask."""
    x = torch.tensor([[3.0, 1.0, 2.0, -2.0, 0.0], [1.0, 1.0, -1.0, -1.0, 0.5]], dtype=torch.float64) * 1e4
    for f in P.THRESHOLD_FS:
        p, lam = P.thre_topk(x, 2, f, tau=1e-6, return_lambda=True)
        assert torch.isfinite(lam).all()
        torch.testing.assert_close(p, torch.tensor([[1.0, 0, 1, 0, 0], [1, 1, 0, 0, 0]], dtype=torch.float64))


HUGE_ROWS = st.integers(3, 7).flatmap(lambda n: st.one_of(
    st.lists(st.sampled_from([-1e30, -1e4, -3.0, -1.0, 0.0, 0.5, 1.0, 1e4, 1e30]), min_size=n, max_size=n),
    st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=n, max_size=n)))


@settings(max_examples=80, deadline=None)
@given(HUGE_ROWS, st.sampled_from([1e-6, 1e-3, 1.0, 1e3, 1e6]),
       st.sampled_from([torch.float32, torch.float64]), st.sampled_from(ALL + ["lambda", "log_esp"]), st.data())
def test_property_topk_maps_finite_at_huge_scores(row, tau, dtype, method, data):
    """Scores up to 1e30 / 1e-6 = 1e36 (float32 holds them), ties, float32 and float64: every
    Top-k map, ThreTopK's threshold and log Z_k are finite with finite gradients; the maps sum
    to k and stay in [0, 1] (the two iterations excepted: they leave the box by design)."""
    k = data.draw(st.integers(1, len(row) - 1))
    x = torch.tensor(row, dtype=dtype, requires_grad=True)
    if method == "Su iteration" and dtype == torch.float32 and (max(row) - min(row)) / tau > 1e18:
        with pytest.raises(ValueError, match="^x"):                     # its gradient overflows float32
            P.su_iteration(x, k, tau)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if method == "lambda":
            out = P.thre_topk_lambda(x, k, data.draw(st.sampled_from(P.THRESHOLD_FS)), tau)
        elif method == "log_esp":
            out = P.log_esp(x / tau, k)
        else:
            out = P.smooth_topk(x, k, tau, method)
    w = torch.linspace(-1, 1, out.numel(), dtype=dtype).reshape(out.shape)
    (g,) = torch.autograd.grad((out * w).sum(), x)
    assert torch.isfinite(out).all() and torch.isfinite(g).all(), (method, out, g)
    if method in P.TOPK_METHODS:
        assert abs(out.double().sum().item() - k) < 1e-4 * k, (method, out)
        if method in SMOOTH:
            assert (out >= 0).all() and (out <= 1 + 1e-6).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_scores_of_1e30_keep_the_tie_that_decides(dtype):
    """At 1e30 (ulp 1e14) x - lambda could only be 0 or +-1e30: the two 0.5s, tied for the last
    place, got 1 each (a sum of 5 for k = 4). Gaps no map can see are closed first: each gets 1/2,
    and lambda comes back on x's axis (sigmoid and smooth: f(0) = 1/2, so lambda = 0.5)."""
    x = torch.tensor([-1e30, 0.5, 0.5, 1e30, 1e30, 1e30], dtype=dtype)
    want = torch.tensor([0.0, 0.5, 0.5, 1.0, 1.0, 1.0], dtype=dtype)
    torch.testing.assert_close(P.grad_topk(x, 4), want)
    for f, lam_want in (("exp", 0.5 + math.log(2)), ("sigmoid", 0.5), ("smooth", 0.5), ("clip", 0.0)):
        p, lam = P.thre_topk(x, 4, f, return_lambda=True)
        torch.testing.assert_close(p, want)
        assert abs(lam.item() - lam_want) < 1e-6, (f, lam)


def test_kth_estimate_is_exact_for_small_k_and_a_sampled_order_statistic_beyond():
    """The clip start: the k-th largest entry itself for k < 16 (torch.topk), and for larger k the
    ceil(k / s)-th largest of every s-th entry (s = k // 8), an entry of the row."""
    x = torch.randn(6, 300, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for k in (1, 5, 15):
        torch.testing.assert_close(T._kth_estimate(x, k), torch.topk(x, k, -1).values[:, -1], rtol=0, atol=0)
    for k in (16, 64, 299):
        s = k // 8
        want = torch.topk(x[:, ::s], -(-k // s), -1).values[:, -1]
        torch.testing.assert_close(T._kth_estimate(x, k), want, rtol=0, atol=0)


def test_clip_threshold_is_the_midpoint_where_it_is_not_unique():
    """Where no entry is strictly inside (lambda, lambda + 1), k entries are 1, the rest 0, and
    every lambda in [z_(k+1), z_(k) - 1] solves the equation: the midpoint is reported, whatever
    the start (scores scaled so that the gaps are wider than 1, and not)."""
    x = torch.tensor([[5.0, 1.0, 3.0, -2.0, 0.0], [0.9, 0.3, 0.2, -1.0, 0.1]], dtype=torch.float64)
    for k in (1, 2, 3):
        for scale in (10.0, 100.0):
            z = x[0] * scale
            p, lam = P.thre_topk(z, k, "clip", return_lambda=True)
            zs = z.sort(descending=True).values
            assert abs(lam.item() - 0.5 * (zs[k].item() + zs[k - 1].item() - 1)) < 1e-12
            torch.testing.assert_close(p, P.hard_topk(z, k))
    p, lam = P.thre_topk(x[1], 2, "clip", return_lambda=True)              # unique: entries inside
    assert abs(p.sum().item() - 2) < 1e-12 and ((p > 0) & (p < 1)).any()
