"""Tests of kexue.attention.position (chapter why-position-encoding): attention without a position
encoding, and the position it leaks through the size of its outputs."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kexue.attention import position as N

torch.set_num_threads(1)
FAST = settings(max_examples=30, deadline=None)


def _weights(rng, d):
    return [rng.normal(size=(d, d)) / np.sqrt(d) for _ in range(3)]


@FAST
@given(seed=st.integers(0, 2 ** 16), L=st.integers(2, 12))
def test_bidirectional_attention_is_permutation_equivariant(seed, L):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(L, 8))
    assert N.permute_check(x, rng.permutation(L), *_weights(rng, 8)) < 1e-12


def test_causal_attention_is_not_permutation_equivariant():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 16))
    assert N.permute_check(x, np.arange(10)[::-1].copy(), *_weights(rng, 16), causal=True) > 0.1


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
        y, A = N.self_attention(x, *W, causal=causal)
        t = [torch.tensor(x @ Wi) for Wi in W]
        ref = torch.nn.functional.scaled_dot_product_attention(*t, is_causal=causal)
        np.testing.assert_allclose(y, ref.numpy(), atol=1e-12)
        np.testing.assert_allclose(A.sum(1), 1.0, atol=1e-14)


def test_constant_tokens_give_identical_outputs():
    rng = np.random.default_rng(4)
    x = np.repeat(rng.normal(size=(1, 8)), 6, axis=0)
    y, _ = N.self_attention(x, *_weights(rng, 8), causal=True)
    assert np.abs(y - y[0]).max() < 1e-15                    # equal up to rounding


@FAST
@given(L=st.integers(1, 40))
def test_uniform_causal_weights_rows_and_expected_ms(L):
    A = N.uniform_causal_weights(L)
    np.testing.assert_allclose(A.sum(1), 1.0, atol=1e-14)
    np.testing.assert_allclose(N.expected_mean_square(A, 2.0), 2.0 / np.arange(1, L + 1), rtol=1e-13)


def test_expected_mean_square_matches_monte_carlo():
    rng = np.random.default_rng(5)
    A = N.random_softmax_weights(32, 16, seed=1)
    y = np.einsum("nm,tmd->tnd", A, rng.normal(size=(400, 32, 64)))
    mc = (y ** 2).mean(axis=(0, 2))
    np.testing.assert_allclose(mc, N.expected_mean_square(A), rtol=0.05)


def test_ms_law_slope_is_minus_one():
    n, ms = N.nope_ms_curve(128, 512, "uniform", draws=4, seed=0)
    assert abs(N.loglog_slope(n, ms) + 1) < 0.03
    np.testing.assert_allclose(N.position_from_ms(ms[[9, 99]]), [10, 100], rtol=0.2)


def test_adjacent_accuracy_exact_matches_simulation_and_scipy():
    from scipy import stats
    for n in (2, 8, 32):
        ex = N.adjacent_position_accuracy(n, 256)
        sim = N.adjacent_position_accuracy(n, 256, method="simulate", trials=20000, seed=1)
        assert abs(ex - sim) < 0.02
    # the crossing point is optimal: no other threshold does better
    n, D = 8, 256
    acc = lambda c: 0.5 * (stats.chi2.sf(D * n * c, D) + stats.chi2.cdf(D * (n + 1) * c, D))
    grid = np.linspace(0.05, 0.2, 2001)
    assert N.adjacent_position_accuracy(n, D) >= acc(grid).max() - 1e-12
    assert N.adjacent_position_accuracy(8, 64, heads=16) == N.adjacent_position_accuracy(8, 1024)


def test_attention_entropy():
    np.testing.assert_allclose(N.attention_entropy(N.uniform_causal_weights(5)),
                               np.log(np.arange(1, 6)), atol=1e-14)
    from scipy.stats import entropy
    A = N.random_softmax_weights(6, 4, causal=False, seed=0)
    np.testing.assert_allclose(N.attention_entropy(A), entropy(A, axis=1), atol=1e-13)


@pytest.mark.parametrize("call, name", [
    (lambda: N.self_attention(np.ones((3, 4)), np.ones((5, 4)), np.ones((4, 4)), np.ones((4, 4))), "Wq"),
    (lambda: N.permute_check(np.ones((3, 4)), [0, 0, 1], *[np.eye(4)] * 3), "perm"),
    (lambda: N.uniform_causal_weights(0), "L"),
    (lambda: N.random_softmax_weights(4, d_head=0), "d_head"),
    (lambda: N.mean_square([]), "y"),
    (lambda: N.expected_mean_square(np.ones((2, 3)) / 3), "A"),
    (lambda: N.expected_mean_square(np.eye(2), sigma2=0), "sigma2"),
    (lambda: N.expected_mean_square(np.ones((2, 2))), "A"),
    (lambda: N.loglog_slope([1, 2], [1, 0]), "ms"),
    (lambda: N.loglog_slope([1, 2, 3], [1, 2]), "ms"),
    (lambda: N.loglog_slope([1, 2, 3], [1, 2, 3], n_min=3), "n_min"),
    (lambda: N.position_from_ms([0.0]), "ms"),
    (lambda: N.adjacent_position_accuracy(0, 8), "n"),
    (lambda: N.adjacent_position_accuracy(2, 8, heads=0), "heads"),
    (lambda: N.adjacent_position_accuracy(2, 8, method="guess"), "method"),
    (lambda: N.attention_entropy([[-0.1, 1.1]]), "weights"),
    (lambda: N.nope_ms_curve(16, 8, "random"), "weights"),
    (lambda: N.nope_ms_curve(1, 8), "L"),
])
def test_nope_bad_input_raises_naming_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_nope_extreme_inputs_stay_finite():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(8, 4)) * 1e3                       # scores ~1e6: max-shift keeps it finite
    y, A = N.self_attention(x, *[np.eye(4)] * 3, causal=True)
    assert np.isfinite(y).all() and np.isfinite(A).all()
    assert np.isfinite(N.adjacent_position_accuracy(10 ** 6, 4096))


def test_sample_position_estimates_uniform_matches_chi_square_law():
    from scipy import stats
    nh = N.sample_position_estimates(16, 256, draws=4000, seed=0)
    ms = 1 / nh                                    # 256 * 16 * MS ~ chi^2_256
    assert stats.kstest(256 * 16 * ms, stats.chi2(256).cdf).pvalue > 1e-3
    np.testing.assert_allclose(np.std(nh) / 16, np.sqrt(2 / 256), rtol=0.1)


def test_sample_position_estimates_pooling_heads_is_like_larger_d():
    a = N.sample_position_estimates(8, 64, heads=16, draws=4000, seed=1)
    b = N.sample_position_estimates(8, 1024, draws=4000, seed=2)
    np.testing.assert_allclose(np.std(a), np.std(b), rtol=0.1)


def test_sample_position_estimates_softmax_matches_full_simulation():
    # the row-only sampler against MS measured on complete sequences with random q, k, v
    rng = np.random.default_rng(3)
    n, d = 6, 32
    full = []
    for _ in range(1500):
        A = N.random_softmax_weights(n + 2, 64, causal=True, seed=int(rng.integers(2 ** 31)))
        full.append(N.mean_square(A @ rng.normal(size=(n + 2, d)))[n - 1])
    fast = 1 / N.sample_position_estimates(n, d, "softmax", draws=1500, seed=4)
    np.testing.assert_allclose(np.mean(fast), np.mean(full), rtol=0.05)
    np.testing.assert_allclose(np.std(fast), np.std(full), rtol=0.1)


def test_bidirectional_estimates_do_not_depend_on_position():
    a = N.sample_position_estimates(4, 256, "bidirectional", draws=2000, L=32, seed=5)
    b = N.sample_position_estimates(30, 256, "bidirectional", draws=2000, L=32, seed=6)
    np.testing.assert_allclose(np.median(a), np.median(b), rtol=0.1)


def test_row_square_sums_uniform_and_softmax_rows():
    np.testing.assert_array_equal(N.row_square_sums(8, "uniform", heads=3, draws=2), np.full((2, 3), 1 / 8))
    # one softmax row over n keys: its sum of squares equals that of the full random weights' row n
    r2 = N.row_square_sums(5, "softmax", heads=1, draws=3000, d_head=16, rng=0)[:, 0]
    full = [(N.random_softmax_weights(5, 16, seed=s)[4] ** 2).sum() for s in range(3000)]
    np.testing.assert_allclose(r2.mean(), np.mean(full), rtol=0.02)
    assert ((r2 >= 1 / 5 - 1e-12) & (r2 <= 1 + 1e-12)).all()        # between uniform and one-hot
    bi = N.row_square_sums(2, "bidirectional", draws=2000, d_head=16, L=40, rng=1)
    assert bi.mean() < r2.mean() / 4                                 # 40 keys, not 2


def test_estimates_from_row_square_sums_is_a_scaled_inverse_chi_square():
    row2 = np.full((20000, 1), 1 / 16)
    nh = N.estimates_from_row_square_sums(row2, 64, rng=0)
    # 64 MS / (1/16) ~ chi^2_64, so 1/n_hat has mean 1/16 and relative spread sqrt(2/64)
    np.testing.assert_allclose((1 / nh).mean(), 1 / 16, rtol=0.01)
    np.testing.assert_allclose((1 / nh).std() * 16, np.sqrt(2 / 64), rtol=0.03)
    rng = np.random.default_rng(5)                                   # a shared stream = the pipeline
    same = N.estimates_from_row_square_sums(N.row_square_sums(6, "softmax", draws=50, rng=rng), 32, rng=rng)
    np.testing.assert_array_equal(same, N.sample_position_estimates(6, 32, "softmax", draws=50, seed=5))


@pytest.mark.parametrize("call, name", [
    (lambda: N.sample_position_estimates(0, 8), "n"),
    (lambda: N.sample_position_estimates(4, 0), "d"),
    (lambda: N.sample_position_estimates(4, 8, "random"), "weights"),
    (lambda: N.sample_position_estimates(4, 8, heads=0), "heads"),
    (lambda: N.sample_position_estimates(4, 8, draws=0), "draws"),
    (lambda: N.sample_position_estimates(40, 8, L=10), "L"),
    (lambda: N.row_square_sums(4, "random"), "weights"),
    (lambda: N.row_square_sums(4, heads=0), "heads"),
    (lambda: N.row_square_sums(4, d_head=0), "d_head"),
    (lambda: N.estimates_from_row_square_sums(np.ones(3), 8), "row2"),
    (lambda: N.estimates_from_row_square_sums(np.zeros((3, 1)), 8), "row2"),
    (lambda: N.estimates_from_row_square_sums(np.ones((3, 1)), 0), "d"),
])
def test_nope_widget_bad_input_raises_naming_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# -- priors (sinusoidal vectors, ALiBi) and the simulated resolution ----------------------------

@FAST
@given(m=st.integers(0, 200), n=st.integers(0, 200), shift=st.integers(0, 50))
def test_sinusoidal_dot_product_depends_only_on_the_offset(m, n, shift):
    P = N.sinusoidal_encoding(260, 32)
    assert abs(P[m] @ P[n] - P[m + shift] @ P[n + shift]) < 1e-9
    w = 10000.0 ** (-np.arange(0, 32, 2) / 32)
    assert abs(P[m] @ P[n] - np.cos((m - n) * w).sum()) < 1e-9


def test_sinusoidal_encoding_matches_the_transformer_formula():
    P = N.sinusoidal_encoding(50, 8, base=100.0)
    pos, i = 17, 2                                           # p_{pos, 2i} = sin(pos / base^{2i/d})
    assert P[pos, 2 * i] == pytest.approx(np.sin(pos / 100.0 ** (2 * i / 8)), abs=1e-15)
    assert P[pos, 2 * i + 1] == pytest.approx(np.cos(pos / 100.0 ** (2 * i / 8)), abs=1e-15)
    np.testing.assert_allclose((P ** 2).sum(axis=1), 4.0, atol=1e-12)


def test_alibi_weights_match_a_direct_softmax():
    from scipy.special import softmax
    L, s = 12, 0.3
    W = N.random_softmax_weights(L, 8, causal=True, seed=3, alibi_slope=s)
    rng = np.random.default_rng(3)
    q, k = rng.normal(size=(2, L, 8))
    scores = q @ k.T / np.sqrt(8) - s * np.abs(np.arange(L)[:, None] - np.arange(L)[None, :])
    scores[np.triu_indices(L, 1)] = -np.inf
    np.testing.assert_allclose(W, softmax(scores, axis=1), atol=1e-14)
    np.testing.assert_array_equal(N.random_softmax_weights(L, 8, seed=3, alibi_slope=0.0),
                                  N.random_softmax_weights(L, 8, seed=3))
    B = N.random_softmax_weights(L, 8, causal=False, seed=3, alibi_slope=s)
    assert np.allclose(B.sum(axis=1), 1) and (B > 0).all()
    np.testing.assert_array_equal(N.alibi_bias(3, 2.0), -2.0 * np.array([[0, 1, 2], [1, 0, 1], [2, 1, 0]]))


def test_alibi_mean_log_weight_falls_like_the_slope():
    s = 0.1
    rows, dist = np.arange(64, 128), np.arange(64)
    logw = np.mean([np.log(N.random_softmax_weights(128, 32, seed=t, alibi_slope=s)[rows[:, None], rows[:, None] - dist])
                    for t in range(4)], axis=(0, 1))
    assert abs(np.polyfit(dist, logw, 1)[0] + s) < 0.01


def test_simulate_uniform_ms_follows_the_chi_square_law():
    from scipy import stats
    d, n = 6, 5
    ms = N.simulate_uniform_ms(8, d, draws=3000, seed=0)
    assert stats.kstest(ms[:, n - 1] * d * n, stats.chi2(d).cdf).pvalue > 1e-3
    pooled = N.simulate_uniform_ms(8, d, draws=3000, heads=3, seed=1)
    assert stats.kstest(pooled[:, n - 1] * 3 * d * n, stats.chi2(3 * d).cdf).pvalue > 1e-3
    np.testing.assert_array_equal(ms, N.simulate_uniform_ms(8, d, draws=3000, seed=0))


def test_threshold_accuracy_matches_the_exact_formula():
    ms = N.simulate_uniform_ms(17, 32, draws=20000, seed=4)
    for n in (2, 8, 16):
        assert abs(N.threshold_accuracy(ms[:, n - 1], ms[:, n], n) - N.adjacent_position_accuracy(n, 32)) < 0.012
    c = np.log1p(1 / 3)
    assert N.threshold_accuracy([c + 1, c - 1], [c - 1, c - 1], 3) == 0.75     # hits (1 + 2/2) / 2


@pytest.mark.parametrize("call, name", [
    (lambda: N.sinusoidal_encoding(4, 7), "d"),
    (lambda: N.sinusoidal_encoding(0, 8), "L"),
    (lambda: N.sinusoidal_encoding(4, 8, base=0.0), "base"),
    (lambda: N.alibi_bias(4, -1.0), "slope"),
    (lambda: N.random_softmax_weights(4, 8, alibi_slope=-0.5), "slope"),
    (lambda: N.simulate_uniform_ms(4, 8, draws=0), "draws"),
    (lambda: N.simulate_uniform_ms(4, 8, draws=2, heads=0), "heads"),
    (lambda: N.threshold_accuracy([1.0], [[1.0]], 2), "ms_n1"),
    (lambda: N.threshold_accuracy([1.0], [1.0], 0), "n"),
    (lambda: N.threshold_accuracy([1.0], [1.0], 2, sigma2=0.0), "sigma2"),
])
def test_priors_and_simulation_bad_input_raises_naming_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_seeds_and_sizes_are_checked_before_numpy_sees_them():
    """numpy's own errors (SeedSequence, 'expected non-negative integer') named no parameter."""
    for bad in (-1, 1.5, "bad", np.nan):
        with pytest.raises(ValueError, match="seed"):
            N.nope_ms_curve(4, 2, draws=1, seed=bad)
        with pytest.raises(ValueError, match="seed"):
            N.sample_position_estimates(2, 2, draws=2, L=4, seed=bad)
        with pytest.raises(ValueError, match="seed"):
            N.adjacent_position_accuracy(2, 2, method="simulate", trials=5, seed=bad)
        with pytest.raises(ValueError, match="rng"):
            N.estimates_from_row_square_sums(np.ones((2, 1)), 2, rng=bad)
    N.estimates_from_row_square_sums(np.ones((2, 1)), 2, rng=np.random.default_rng(0))
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="trials"):
            N.adjacent_position_accuracy(2, 2, trials=bad)        # checked for "exact" too
        with pytest.raises(ValueError, match="d_head"):
            N.nope_ms_curve(4, 2, draws=1, d_head=bad)
    with pytest.raises(ValueError, match="alibi_slope"):
        N.random_softmax_weights(4, alibi_slope=-0.5)
