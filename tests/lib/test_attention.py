"""Tests of kexue.attention: the attention scale (chapter attention-scale) and MHA -> MLA
(chapter mha-to-mla). Parity anchors: torch autograd / SDPA, scipy (softmax, quad, ive, brentq)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy import integrate, optimize, special

from kexue import attention as A

torch.set_num_threads(1)
FAST = settings(max_examples=30, deadline=None)

# ------------------------------------------------------------------------------------------------
# the attention scale
# ------------------------------------------------------------------------------------------------


def test_scaled_softmax_matches_scipy():
    rng = np.random.default_rng(0)
    s = rng.standard_normal((5, 9))
    for alpha in (0.0, 0.3, 2.5, 40.0):
        np.testing.assert_allclose(A.scaled_softmax(s, alpha), special.softmax(alpha * s, axis=-1),
                                   rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("alpha", [0.5, 2.5])
def test_softmax_jacobian_matches_autograd(alpha):
    s = torch.randn(64, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ref = torch.autograd.functional.jacobian(lambda v: torch.softmax(alpha * v, -1), s)
    np.testing.assert_allclose(A.softmax_jacobian(s.numpy(), alpha), ref.numpy(), atol=1e-12)


@FAST
@given(st.integers(2, 40), st.floats(0.0, 20.0), st.integers(0, 10_000))
def test_gradient_l1_equals_alpha_one_minus_collision(n, alpha, seed):
    """Invariant: 0.5 ||J||_1 = alpha (1 - sum p^2) (the post's eq. target)."""
    s = np.random.default_rng(seed).standard_normal(n)
    p = A.scaled_softmax(s, alpha)
    assert abs(A.gradient_l1(s, alpha) - alpha * (1 - A.collision_probability(p))) < 1e-12
    assert abs(A.scale_objective(s, alpha) - A.gradient_l1(s, alpha)) < 1e-12


def test_objective_vanishes_at_both_ends():
    s = np.array([0.0, 1.0, 2.0])
    assert A.gradient_l1(s, 0.0) == 0.0
    assert A.gradient_l1(s, 50.0) < 1e-15
    vals = [A.gradient_l1(s, a) for a in np.linspace(0, 50, 201)]
    assert max(vals) > 0.3


def test_gaussian_mgf_monte_carlo():
    z = np.random.default_rng(0).standard_normal(1_000_000)
    for alpha in (0.5, 1.0, 1.5):
        assert abs(np.exp(alpha * z).mean() / A.mgf_normal(alpha) - 1) < 0.01


@pytest.mark.parametrize("d", [3, 16, 128, 300])
@pytest.mark.parametrize("alpha", [0.1, 2.0, 30.0, 70.0])
def test_cosine_mgf_matches_quadrature_and_bessel(d, alpha):
    dens = lambda s: (1 - s * s) ** ((d - 3) / 2)
    num = integrate.quad(lambda s: math.exp(alpha * s - alpha) * dens(s), -1, 1,
                         epsabs=0, epsrel=1e-13, limit=200)[0]
    den = integrate.quad(dens, -1, 1, epsabs=0, epsrel=1e-13, limit=200)[0]
    ref_quad = math.log(num / den) + alpha
    nu = d / 2 - 1
    got = A.log_mgf_cosine(alpha, d)
    assert abs(got - ref_quad) < 1e-10 * max(1.0, abs(ref_quad))
    iv = special.ive(nu, alpha)
    if iv > 1e-290:                       # the Bessel form underflows for small alpha, large d
        ref_bessel = special.gammaln(d / 2) + nu * math.log(2 / alpha) + math.log(iv) + alpha
        assert abs(got - ref_bessel) < 1e-10 * max(1.0, abs(ref_bessel))


def test_cosine_mgf_where_bessel_form_underflows():
    # ive(255, 1) underflows to 0 (log -> -inf); the series stays finite and close to 1 + a^2/(2d)
    assert special.ive(255, 1.0) == 0.0
    got = A.mgf_cosine(1.0, 512)
    assert abs(got - (1 + 1 / (2 * 512))) < 1e-5
    assert A.log_mgf_cosine(0.0, 512) == 0.0 and A.mgf_cosine(0.0, 7) == 1.0


def test_sample_scores_cosine_matches_random_unit_vectors():
    d, n = 16, 20000
    rng = np.random.default_rng(3)
    q = rng.standard_normal((n, d)); k = rng.standard_normal((n, d))
    cos = (q * k).sum(1) / np.linalg.norm(q, axis=1) / np.linalg.norm(k, axis=1)
    s = A.sample_scores(n, "cosine", d, seed=4)[0]
    from scipy.stats import ks_2samp
    assert ks_2samp(cos, s).pvalue > 1e-3
    assert abs(s.var() - 1 / d) < 0.1 / d                  # Var cos = 1/d


def test_gaussian_optimum_values_and_brentq_parity():
    expect = {}
    for n in (40, 512, 4096, 20000):
        expect[n] = optimize.brentq(lambda a: (1 + 2 * a * a) * math.exp(a * a) - n, 1e-9, 10)
        assert abs(A.optimal_scale(n) - expect[n]) < 1e-9
    # and it is the maximiser of the objective on a fine grid
    grid = np.linspace(0, math.sqrt(math.log(512)), 200_001)
    assert abs(grid[np.argmax(A.approx_objective(grid, 512))] - expect[512]) < 1e-4
    assert abs(expect[512] - 2.008) < 1e-3 and abs(expect[20000] - 2.678) < 1e-3


def test_cosine_optimum_matches_bounded_search():
    for n, d in ((512, 128), (4096, 128), (512, 64)):
        res = optimize.minimize_scalar(lambda a: -A.approx_objective(a, n, "cosine", d),
                                       bounds=(1e-6, 200), method="bounded",
                                       options={"xatol": 1e-9})
        assert abs(A.optimal_scale(n, "cosine", d) - res.x) < 1e-5


def test_vectorised_optima_equal_scalar():
    ns = np.array([40, 333, 5000])
    for dist, d in (("normal", None), ("cosine", 128), ("cosine", 7)):
        v = A.optimal_scales(ns, dist, d)
        for n, a in zip(ns, v):
            assert abs(a - A.optimal_scale(int(n), dist, d)) < 1e-9


@FAST
@given(st.integers(3, 10**6))
def test_gaussian_optimum_is_stationary(n):
    """Invariant: alpha* solves (1 + 2a^2) e^{a^2} = n and lies in (0, sqrt(log n))."""
    a = A.optimal_scale(n)
    assert 0 < a < math.sqrt(math.log(n))
    assert abs(math.log1p(2 * a * a) + a * a - math.log(n)) < 1e-10


@FAST
@given(st.integers(4, 10**5), st.sampled_from([4, 32, 128]))
def test_cosine_optimum_grows_with_n(n, d):
    """Invariant: alpha*(n) increases with n."""
    assert A.optimal_scale(n, "cosine", d) < A.optimal_scale(2 * n, "cosine", d)


def test_fit_scale_law_recovers_coefficient():
    ns = np.arange(40, 20001, 40)
    assert abs(A.fit_scale_law(ns, 0.7 * np.sqrt(np.log(ns))) - 0.7) < 1e-12
    assert abs(A.fit_scale_law(ns, 3.0 * np.log(ns), "log") - 3.0) < 1e-12


def test_mc_objective_agrees_with_direct_mean_and_exceeds_mean_field():
    m, se = A.mc_objective(2.0, 64, trials=200, seed=5)
    s = A.sample_scores(64, trials=200, seed=5)
    assert abs(m - A.scale_objective(s, 2.0).mean()) < 1e-14 and se > 0
    # at small alpha the mean field is accurate
    m, se = A.mc_objective(0.3, 512, trials=100, seed=0)
    assert abs(m - A.approx_objective(0.3, 512)) < 3 * se + 1e-3


def test_sample_optima_shapes():
    r = A.sample_optima(64, trials=5, n_grid=50, seed=0)
    assert r["argmax"].shape == (5,) and r["gap"].min() >= 0


def test_extreme_inputs_stay_finite():
    s = np.array([1e6, -1e6, 0.0])
    assert np.isfinite(A.scaled_softmax(s, 1e3)).all()
    assert np.isfinite(A.softmax_jacobian(s, 1e3)).all()
    assert np.isfinite(A.log_mgf_cosine(1e4, 64))
    assert np.isfinite(A.approx_objective(np.linspace(0, 1e3, 7), 100, "cosine", 64)).all()
    assert np.isfinite(A.optimal_scale(10**12)) and np.isfinite(A.optimal_scale(10**9, "cosine", 512))


def test_scale_explorer_frames():
    ex = A.scale_explorer(n_values=(64, 256), ratios=(0.5, 1.0, 2.0), n_alpha=9, budget=2048)
    fr = ex.update(dist="normal", n=256, ratio=1.0)
    a_star = A.optimal_scale(256)
    vl = fr["panels"][0]["vlines"]
    assert abs(vl[0]["x"] - a_star) < 1e-3 and abs(vl[1]["x"] - a_star) < 1e-3
    bars = fr["panels"][1]["series"][0]["y"]
    assert bars == sorted(bars, reverse=True) and len(bars) == 20
    fr2 = ex.update(dist="cos128", n=64, ratio=2.0)
    assert abs(fr2["panels"][0]["vlines"][1]["x"] - 2 * A.optimal_scale(64, "cosine", 128)) < 1e-2
    assert len(ex.frames()) == 5 * 2 * 3


@pytest.mark.parametrize("call, name", [
    (lambda: A.scaled_softmax([1.0], 1.0), "s"),
    (lambda: A.scaled_softmax([1.0, np.nan], 1.0), "s"),
    (lambda: A.scaled_softmax([1.0, 2.0], -1.0), "alpha"),
    (lambda: A.softmax_jacobian([[1.0, 2.0]], 1.0), "s"),
    (lambda: A.gradient_l1([1.0, 2.0], float("inf")), "alpha"),
    (lambda: A.collision_probability([0.5, 0.6]), "p"),
    (lambda: A.scale_objective([1.0, 2.0], -2), "alpha"),
    (lambda: A.mgf_normal(-1.0), "alpha"),
    (lambda: A.mgf_normal(40.0), "alpha"),
    (lambda: A.log_mgf_cosine(1.0, 1), "d"),
    (lambda: A.mgf_cosine(1.0, 2.5), "d"),
    (lambda: A.approx_objective(1.0, 1), "n"),
    (lambda: A.approx_objective(1.0, 10, "laplace"), "dist"),
    (lambda: A.approx_objective(1.0, 10, "cosine"), "d"),
    (lambda: A.approx_objective(40.0, 10), "alpha"),
    (lambda: A.optimal_scale(1), "n"),
    (lambda: A.optimal_scales([1, 10]), "ns"),
    (lambda: A.sample_scores(10, trials=0), "trials"),
    (lambda: A.mc_objective(-1.0, 10), "alpha"),
    (lambda: A.sample_optima(10, alpha_max=0.0), "alpha_max"),
    (lambda: A.fit_scale_law([10, 20], [1.0], "log"), "alphas"),
    (lambda: A.fit_scale_law([10, 20], [1.0, 2.0], "cubic"), "form"),
    (lambda: A.scale_explorer(n_values=(1, 10)), "n_values"),
])
def test_bad_input_names_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ------------------------------------------------------------------------------------------------
# MHA, MQA, GQA, MLA
# ------------------------------------------------------------------------------------------------
import torch.nn.functional as F  # noqa: E402

from kexue.position import apply_rope  # noqa: E402


def _randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def test_kv_cache_elements_published_configs():
    # Llama2-7B: 32 layers, 32 heads of 128 -> 2*32*32*128; 70B: 80 layers, 8 KV heads of 128
    assert A.config_cache_elements("llama2-7b") == 2 * 32 * 32 * 128 == 262_144
    assert A.config_cache_elements("llama2-70b") == 2 * 80 * 8 * 128
    assert A.config_cache_elements("llama2-70b", "mha") == 2 * 80 * 64 * 128
    assert A.config_cache_elements("deepseek-v2") == 60 * (512 + 64)
    mha128 = A.kv_cache_elements("mha", n_layers=1, n_heads=128, head_dim=128)
    assert mha128 / A.kv_cache_elements("mla", n_layers=1, d_c=512, d_r=64) == pytest.approx(32768 / 576)
    assert A.kv_cache_bytes("mha", context=1, dtype="float16", n_layers=32, n_heads=32,
                            head_dim=128) == 512 * 1024


@FAST
@given(st.sampled_from([1, 2, 4, 8, 16]), st.integers(0, 4), st.integers(1, 6), st.integers(1, 80))
def test_gqa_cache_is_g_over_h_of_mha(h_exp, g_exp, hd, layers):
    """Invariant: GQA with g groups caches g/h of MHA; g = h is MHA, g = 1 is MQA."""
    h = h_exp
    g = max(1, h >> g_exp)
    mha = A.kv_cache_elements("mha", n_layers=layers, n_heads=h, head_dim=hd)
    gqa = A.kv_cache_elements("gqa", n_layers=layers, n_heads=h, head_dim=hd, n_kv_heads=g)
    assert gqa * h == mha * g
    if g == 1:
        assert gqa == A.kv_cache_elements("mqa", n_layers=layers, head_dim=hd)


def test_head_to_group_is_posts_ceil_rule():
    for h, g in ((8, 2), (32, 8), (6, 3), (4, 4), (5, 1)):
        ours = A.gqa_head_to_group(h, g).tolist()
        post = [math.ceil(s * g / h) - 1 for s in range(1, h + 1)]         # 1-based ceil(sg/h)
        assert ours == post
        assert torch.equal(torch.arange(g).repeat_interleave(h // g), A.gqa_head_to_group(h, g))


def test_repeat_kv_matches_expand_reshape():
    x = _randn(2, 3, 5, 4)
    ref = x[:, :, None].expand(2, 3, 4, 5, 4).reshape(2, 12, 5, 4)      # the transformers idiom
    assert torch.equal(A.repeat_kv(x, 4), ref)


@FAST
@given(st.sampled_from([(4, 1), (4, 2), (4, 4), (6, 3), (8, 2)]), st.integers(1, 9),
       st.integers(1, 8), st.integers(0, 1000))
def test_causal_attention_matches_sdpa_enable_gqa(hg, T, D, seed):
    """Parity: torch SDPA with is_causal and enable_gqa (float64)."""
    h, g = hg
    q, k, v = _randn(2, h, T, D, seed=seed), _randn(2, g, T, D, seed=seed + 1), _randn(2, g, T, D, seed=seed + 2)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    assert (A.causal_attention(q, k, v) - ref).abs().max() < 1e-12


def test_causal_attention_last_rows_align_with_keys():
    q, k, v = _randn(1, 2, 6, 4), _randn(1, 2, 6, 4, seed=1), _randn(1, 2, 6, 3, seed=2)
    full = A.causal_attention(q, k, v)
    assert (A.causal_attention(q[:, :, -2:], k, v) - full[:, :, -2:]).abs().max() < 1e-14


def test_causal_attention_gradcheck():
    q = _randn(1, 2, 3, 2).requires_grad_()
    k = _randn(1, 1, 3, 2, seed=1).requires_grad_()
    v = _randn(1, 1, 3, 2, seed=2).requires_grad_()
    assert torch.autograd.gradcheck(A.causal_attention, (q, k, v))


@pytest.mark.parametrize("g", [1, 2, 4, 8])
def test_gqa_module_equals_mha_with_copied_kv(g):
    m = A.GroupedQueryAttention(32, 8, g, 4, seed=g)
    x = _randn(2, 7, 32, seed=3)
    assert (m(x) - m.as_mha()(x)).abs().max() < 1e-13
    k, v = m.kv_cache(x)
    assert k.shape == (2, g, 7, 4) and v.shape == (2, g, 7, 4)
    # float32 agrees with float64 to ~1e-6
    m32 = A.GroupedQueryAttention(32, 8, g, 4, seed=g, dtype=torch.float32)
    assert (m32(x.float()).double() - m(x)).abs().max() < 1e-5


def test_gqa_stacked_kv_weight_is_low_rank():
    m = A.GroupedQueryAttention(64, 8, 2, 8)
    W = m.stacked_kv_weight()
    assert W.shape == (64, 32) and torch.linalg.matrix_rank(W).item() == 2 * (8 + 8)
    m_small = A.GroupedQueryAttention(64, 8, 1, 4)
    assert torch.linalg.matrix_rank(m_small.stacked_kv_weight()).item() <= 8


SIZES = dict(d=64, n_heads=4, d_k=16, d_v=16, d_c=24, d_cq=32, d_r=8)


@pytest.mark.parametrize("mode", ["merged", "sequential"])
@pytest.mark.parametrize("rope", ["decoupled", "none"])
def test_mla_absorbed_decoding_equals_training_form(mode, rope):
    W = A.init_mla(**SIZES, seed=0)
    x = _randn(12, 64, seed=1)
    ref, k, v = A.mla_train_forward(x, W, rope=rope)
    out, cache = A.mla_decode_forward(x, A.mla_absorb(W, mode), rope=rope)
    assert (out - ref).abs().max() < 1e-12
    assert cache.shape == (12, 24 + 8) and k.shape == (1, 4, 12, 24) and v.shape == (1, 4, 12, 16)


@FAST
@given(st.integers(1, 6), st.integers(1, 12), st.integers(1, 10), st.sampled_from([0, 2, 6]),
       st.integers(1, 9), st.integers(0, 1000))
def test_mla_absorption_exact_for_any_sizes(h, d_c, d_k, d_r, T, seed):
    """Invariant: the absorbed (MQA-like) form equals the MHA-like training form, float64."""
    W = A.init_mla(16, h, d_k, 5, d_c, 7, d_r, seed=seed)
    x = _randn(2, T, 16, seed=seed)
    ref = A.mla_train_forward(x, W)[0]
    out, cache = A.mla_decode_forward(x, A.mla_absorb(W))
    assert (out - ref).abs().max() < 1e-12 and cache.shape == (2, T, d_c + d_r)


def test_mla_training_form_matches_explicit_loop():
    """The training form written as a per-head loop with the post's formulas (independent)."""
    W = A.init_mla(**SIZES, seed=4)
    x = _randn(6, 64, seed=5)
    pos = torch.arange(6, dtype=torch.float64)
    c, cq = x @ W["W_c"], x @ W["W_cq"]
    kr = apply_rope(x @ W["W_kr"], pos)
    out = torch.zeros(6, 64, dtype=torch.float64)
    for s in range(4):
        q = torch.cat([cq @ W["W_q"][s], apply_rope(cq @ W["W_qr"][s], pos)], 1)
        k = torch.cat([c @ W["W_k"][s], kr], 1)
        sc = q @ k.T / math.sqrt(16 + 8)
        sc = sc.masked_fill(torch.triu(torch.ones(6, 6, dtype=torch.bool), 1), -math.inf)
        out += torch.softmax(sc, 1) @ (c @ W["W_v"][s]) @ W["W_o"][s]
    assert (A.mla_train_forward(x, W)[0] - out).abs().max() < 1e-12


def test_full_rope_breaks_absorption_decoupled_keeps_it():
    W = A.init_mla(**SIZES, seed=0)
    x = _randn(12, 64, seed=1)
    Wa = A.mla_absorb(W)
    gap_full = (A.mla_decode_forward(x, Wa, rope="full")[0] - A.mla_train_forward(x, W, rope="full")[0]).abs().max()
    gap_dec = (A.mla_decode_forward(x, Wa)[0] - A.mla_train_forward(x, W)[0]).abs().max()
    assert gap_full > 0.1 and gap_dec < 1e-12


def test_mla_decode_step_reproduces_full_output():
    W = A.init_mla(**SIZES, seed=2)
    x = _randn(10, 64, seed=3)
    ref = A.mla_train_forward(x, W)[0]
    for mode in ("merged", "sequential"):
        cache = None
        for t in range(10):
            o, cache = A.mla_decode_step(x[t], cache, A.mla_absorb(W, mode), t)
            assert (o - ref[t]).abs().max() < 1e-10
        assert cache.shape == (10, 24 + 8)


def test_mla_cache_shape_independent_of_heads():
    x = _randn(5, 64)
    shapes = {A.mla_decode_forward(x, A.mla_absorb(A.init_mla(64, h, 16, 16, 24, 32, 8)))[1].shape
              for h in (2, 4, 8, 16)}
    assert shapes == {torch.Size([5, 32])}


def test_mla_low_precision_errors_are_small_but_nonzero():
    W = A.init_mla(**SIZES, seed=0)
    x = _randn(12, 64, seed=1)
    ref = A.mla_train_forward(x, W)[0]
    for dt, lo, hi in ((torch.float32, 1e-9, 1e-4), (torch.bfloat16, 1e-4, 0.5)):
        out = A.mla_decode_forward(x.to(dt), A.mla_absorb(A.cast_weights(W, dt)))[0]
        err = (out.double() - ref).abs().max().item()
        assert lo < err < hi and out.dtype == dt


def test_decode_cost_deepseek_ratios():
    mla = A.decode_cost("mla", n_heads=128, head_dim=128, d_c=512, d_r=64)
    naive = A.decode_cost("mla_naive", n_heads=128, head_dim=128, d_c=512, d_r=64)
    assert mla["qk_macs"] / naive["qk_macs"] == 576 / 192 and mla["pv_macs"] / naive["pv_macs"] == 4
    assert mla["read"] == 576
    assert A.decode_cost("mha", n_heads=128, head_dim=128)["read"] == 32768
    assert A.decode_cost("gqa", n_heads=8, head_dim=4, n_kv_heads=2)["read"] == 16


def test_mla_extreme_inputs_stay_finite():
    W = A.init_mla(**SIZES, seed=0)
    x = 1e3 * _randn(6, 64, seed=1)                       # scores in the tens of thousands
    out, _ = A.mla_decode_forward(x, A.mla_absorb(W))
    assert torch.isfinite(out).all() and torch.isfinite(A.mla_train_forward(x, W)[0]).all()
    q = 1e4 * _randn(1, 2, 4, 3)
    assert torch.isfinite(A.causal_attention(q, q, q)).all()


def test_kv_cache_explorer_and_head_grid():
    ex = A.kv_cache_explorer(contexts=(1024, 4096), batches=(1, 8))
    fr = ex.update(preset="llama2-7b", context=4096, batch=1, dtype="bfloat16")
    gib = fr["panels"][0]["series"][0]["y"]
    assert gib[0] == pytest.approx(262_144 * 4096 * 2 / 2 ** 30, rel=1e-3)     # MHA: 2 GiB
    assert gib[1] == pytest.approx(gib[0] * 8 / 32, rel=1e-3)                  # GQA g = 8
    fr = ex.update(preset="deepseek-v2", context=1024, batch=8, dtype="fp8")
    assert fr["panels"][0]["series"][0]["y"][3] == pytest.approx(34_560 * 1024 * 8 / 2 ** 30, rel=1e-3)
    hs = A.head_sharing_explorer(8)
    z = np.array(hs.update(g=2)["panels"][0]["heatmap"]["z"])
    assert z.sum() == 8 and z[:4, 0].all() and z[4:, 1].all()
    assert len(hs.frames()) == 4


@pytest.mark.parametrize("call, name", [
    (lambda: A.kv_cache_elements("mxa", n_layers=1, head_dim=4), "kind"),
    (lambda: A.kv_cache_elements("mha", n_layers=0, n_heads=2, head_dim=4), "n_layers"),
    (lambda: A.kv_cache_elements("gqa", n_layers=1, n_heads=8, head_dim=4, n_kv_heads=3), "n_kv_heads"),
    (lambda: A.kv_cache_elements("mha", n_layers=1, n_heads=2), "head_dim"),
    (lambda: A.kv_cache_elements("mla", n_layers=1, d_c=-1, d_r=2), "d_c"),
    (lambda: A.kv_cache_bytes("mha", context=0, n_layers=1, n_heads=1, head_dim=1), "context"),
    (lambda: A.kv_cache_bytes("mha", context=1, dtype="int3", n_layers=1, n_heads=1, head_dim=1), "dtype"),
    (lambda: A.config_cache_elements("gpt-5"), "name"),
    (lambda: A.gqa_head_to_group(8, 3), "n_groups"),
    (lambda: A.repeat_kv(_randn(2, 3, 4), 2), "x"),
    (lambda: A.repeat_kv(_randn(1, 2, 3, 4), 0), "n_rep"),
    (lambda: A.causal_attention(_randn(1, 3, 2, 4), _randn(1, 2, 2, 4), _randn(1, 2, 2, 4)), "k"),
    (lambda: A.causal_attention(_randn(1, 2, 2, 4) * math.nan, _randn(1, 2, 2, 4), _randn(1, 2, 2, 4)), "q"),
    (lambda: A.GroupedQueryAttention(16, 4, 3, 4), "n_kv_heads"),
    (lambda: A.GroupedQueryAttention(16, 4, 2, 4)(_randn(1, 3, 8)), "x"),
    (lambda: A.init_mla(16, 2, 4, 4, 8, 8, 3), "d_r"),
    (lambda: A.init_mla(16, 0, 4, 4, 8, 8, 2), "n_heads"),
    (lambda: A.cast_weights(A.init_mla(16, 2, 4, 4, 8, 8, 2), "float32"), "dtype"),
    (lambda: A.mla_train_forward(_randn(3, 15), A.init_mla(16, 2, 4, 4, 8, 8, 2)), "x"),
    (lambda: A.mla_train_forward(_randn(3, 16), A.init_mla(16, 2, 4, 4, 8, 8, 2), rope="alibi"), "rope"),
    (lambda: A.mla_train_forward(_randn(3, 16), A.init_mla(16, 2, 4, 4, 8, 8, 2), positions=[0, 1]), "positions"),
    (lambda: A.mla_absorb(A.init_mla(16, 2, 4, 4, 8, 8, 2), "fused"), "mode"),
    (lambda: A.mla_decode_forward(_randn(3, 16), A.init_mla(16, 2, 4, 4, 8, 8, 2)), "W_abs"),
    (lambda: A.mla_decode_step(_randn(16), None, A.mla_absorb(A.init_mla(16, 2, 4, 4, 8, 8, 2)), 1), "cache"),
    (lambda: A.mla_decode_step(_randn(16), None, A.mla_absorb(A.init_mla(16, 2, 4, 4, 8, 8, 2)), -1), "pos"),
    (lambda: A.decode_cost("mla", n_heads=2, head_dim=4), "d_c"),
    (lambda: A.decode_cost("mha", n_heads=0, head_dim=4), "n_heads"),
    (lambda: A.kv_cache_explorer(contexts=(0, 10)), "contexts"),
    (lambda: A.head_sharing_explorer(1), "n_heads"),
])
def test_mla_bad_input_names_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()
