"""Tests of kexue.moe.geometry (chapter moe-geometry)."""
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from kexue.moe import geometry as G

torch.set_num_threads(1)
RNG = np.random.default_rng(0)


def ffn(d=6, D=12, o=5, seed=0):
    r = np.random.default_rng(seed)
    return r.standard_normal((3, d)), r.standard_normal((d, D)), r.standard_normal((D, o))


# --- the block identity -------------------------------------------------------------------
@pytest.mark.parametrize("act", G.ACTIVATIONS)
@pytest.mark.parametrize("n", [1, 2, 3, 4, 6, 12])
def test_experts_sum_to_the_dense_ffn(act, n):
    x, WA, WB = ffn()
    V = G.expert_outputs(x, WA, WB, n, act)
    assert V.shape == (3, n, 5)
    np.testing.assert_allclose(V.sum(1), G.dense_ffn(x, WA, WB, act), atol=1e-12)


def test_dense_ffn_matches_torch_modules():
    x, WA, WB = ffn()
    lin = torch.nn.Sequential(torch.nn.Linear(6, 12, bias=False), torch.nn.GELU(),
                              torch.nn.Linear(12, 5, bias=False)).double()
    with torch.no_grad():
        lin[0].weight.copy_(torch.tensor(WA.T))
        lin[2].weight.copy_(torch.tensor(WB.T))
        ref = lin(torch.tensor(x)).numpy()
    np.testing.assert_allclose(G.dense_ffn(x, WA, WB, "gelu"), ref, atol=1e-12)
    np.testing.assert_allclose(G.dense_ffn(torch.tensor(x), torch.tensor(WA), torch.tensor(WB),
                                           "gelu").numpy(), ref, atol=1e-12)


def test_expert_blocks_are_contiguous_slices():
    x, WA, WB = ffn()
    V = G.expert_outputs(x, WA, WB, 3)
    np.testing.assert_allclose(V[:, 1], np.maximum(x @ WA[:, 4:8], 0) @ WB[4:8], atol=1e-12)


def test_glu_splits_when_both_projections_split_alike():
    x, WA, WB = ffn()
    WG = np.random.default_rng(3).standard_normal(WA.shape)
    V = G.glu_expert_outputs(x, WA, WG, WB, 4, "gelu")
    np.testing.assert_allclose(V.sum(1), G.glu_ffn(x, WA, WG, WB, "gelu"), atol=1e-12)
    # splitting the gate in a different order breaks it
    perm = np.random.default_rng(4).permutation(12)
    wrong = G.glu_expert_outputs(x, WA, WG[:, perm], WB, 4, "gelu").sum(1)
    assert np.abs(wrong - G.glu_ffn(x, WA, WG, WB, "gelu")).max() > 1e-3


def test_torch_in_torch_out_and_gradcheck():
    x, WA, WB = (torch.tensor(a, requires_grad=True) for a in ffn())
    V = G.expert_outputs(x, WA, WB, 4, "tanh")
    assert isinstance(V, torch.Tensor) and V.requires_grad
    assert torch.autograd.gradcheck(lambda a, b, c: G.expert_outputs(a, b, c, 4, "tanh"), (x, WA, WB))
    assert torch.autograd.gradcheck(lambda a, b, c: G.glu_expert_outputs(a, b, b * 0.5, c, 3, "gelu"),
                                    (x, WA, WB))


# --- selection ----------------------------------------------------------------------------
def test_topk_by_norm_numpy_and_torch_agree():
    V = RNG.standard_normal((5, 7, 3))
    a = G.topk_by_norm(V, 3)
    b = G.topk_by_norm(torch.tensor(V), 3).numpy()
    np.testing.assert_array_equal(a, b)
    nr = np.linalg.norm(V, axis=-1)
    assert np.all(np.take_along_axis(nr, a, 1)[:, 0] == nr.max(1))


def test_subset_error_is_dropped_over_total():
    V = RNG.standard_normal((4, 6, 3))
    idx = np.array([[0, 1], [2, 3], [4, 5], [0, 5]])
    e = G.subset_error(V, idx)
    for b in range(4):
        drop = [i for i in range(6) if i not in idx[b]]
        assert e[b] == pytest.approx(np.linalg.norm(V[b, drop].sum(0)) / np.linalg.norm(V[b].sum(0)))
    assert np.all(G.subset_error(V, np.tile(np.arange(6), (4, 1))) == 0)


def test_best_subset_matches_itertools_search():
    V = RNG.standard_normal((6, 2))
    idx, err = G.best_subset(V, 2)
    ref = min(itertools.combinations(range(6), 2),
              key=lambda S: np.linalg.norm(V[list(S)].sum(0) - V.sum(0)))
    assert tuple(idx) == ref
    assert err == pytest.approx(G.subset_error(V, np.array(ref)))


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 7), st.integers(0, 10_000))
def test_norm_rule_is_optimal_for_orthogonal_experts(n, seed):
    V = G.orthogonal_experts(n, n + 2, seed=seed)
    for k in range(1, n + 1):
        _, e_best = G.best_subset(V, k)
        assert G.subset_error(V, G.topk_by_norm(V, k)) <= e_best + 1e-12


@settings(max_examples=30, deadline=None)
@given(st.integers(3, 7), st.integers(1, 6), st.integers(0, 10_000))
def test_best_subset_beats_any_rule(n, k, seed):
    k = min(k, n)
    V = G.random_experts(1, n, 3, seed=seed)[0]
    _, e_best = G.best_subset(V, k)
    assert e_best <= G.subset_error(V, G.topk_by_norm(V, k)) + 1e-12
    assert e_best <= G.subset_error(V, G.random_subsets(n, k, 1, seed)[0]) + 1e-12


def test_norm_rule_can_fail_in_low_dimension():
    # two big opposite vectors cancel: keeping a small one is better
    V = np.array([[3.0, 0.0], [-3.0, 0.1], [0.5, 0.5]])
    idx, _ = G.best_subset(V, 1)
    assert idx.tolist() == [2]
    assert G.topk_by_norm(V, 1).tolist() in ([0], [1])


def test_random_subsets_are_distinct_and_uniform():
    s = G.random_subsets(5, 2, 20_000, seed=1)
    assert np.all(s[:, 0] != s[:, 1])
    counts = np.bincount(s.ravel(), minlength=5) / s.size
    np.testing.assert_allclose(counts, 0.2, atol=0.01)


def test_random_experts_have_the_drawn_norms():
    V = G.random_experts(50, 4, 7, seed=2, scale=(0.5, 1.5))
    nr = np.linalg.norm(V, axis=-1)
    assert nr.min() >= 0.5 and nr.max() <= 1.5
    O = G.orthogonal_experts(4, 6, seed=1)
    gram = O @ O.T
    np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0, atol=1e-12)


def test_norm_rule_study_improves_with_dimension():
    r = G.norm_rule_study([2, 256], trials=100)
    assert r["optimal_share"][1] > r["optimal_share"][0]
    assert r["median_ratio"][1] < r["median_ratio"][0]
    assert r["mean_abs_cos"][1] < r["mean_abs_cos"][0]


# --- sampling, normalisation, the geometric MoE ------------------------------------------
def test_min_variance_probs_beat_other_distributions_and_match_monte_carlo():
    V = RNG.standard_normal((5, 3)) * np.array([[3], [1], [0.2], [2], [0.5]])
    q = G.min_variance_probs(V)
    best = G.sampling_variance(V, q)
    for _ in range(50):
        other = RNG.dirichlet(np.ones(5))
        assert G.sampling_variance(V, other) >= best - 1e-12
    r = np.random.default_rng(5)
    I = r.choice(5, size=400_000, p=q)
    est = V[I] / q[I, None]
    mc = est.var(axis=0).sum()
    assert mc == pytest.approx(best, rel=0.02)


def test_rms_normalize_matches_torch_rms_norm():
    v = torch.tensor(RNG.standard_normal((4, 9)))
    ref = torch.nn.functional.rms_norm(v, (9,), eps=1e-6)
    torch.testing.assert_close(G.rms_normalize(v, eps=1e-6), ref)
    np.testing.assert_allclose(np.linalg.norm(G.rms_normalize(v.numpy()), axis=1), 3.0)


def test_geometric_moe_dense_limit_and_evaluation_count():
    x, WA, WB = ffn()
    V = G.expert_outputs(x, WA, WB, 4)
    p = np.linalg.norm(V, axis=-1)
    y, idx, evals = G.geometric_moe(x, WA, WB, 4, p, 4)
    np.testing.assert_allclose(y, V.sum(1), atol=1e-12)
    assert evals == 12
    y2, idx2, evals2 = G.geometric_moe(x, WA, WB, 4, p, 2)
    assert evals2 == 6
    np.testing.assert_allclose(y2, np.take_along_axis(V, idx2[..., None], 1).sum(1), atol=1e-12)


def test_geometric_moe_forms_and_torch_parity():
    x, WA, WB = ffn()
    p = np.abs(RNG.standard_normal((3, 4)))
    V = G.expert_outputs(x, WA, WB, 4)
    y_std, idx, _ = G.geometric_moe(x, WA, WB, 4, p, 2, normalize=None)
    ref = (np.take_along_axis(p, idx, 1)[..., None] * np.take_along_axis(V, idx[..., None], 1)).sum(1)
    np.testing.assert_allclose(y_std, ref, atol=1e-12)
    # standard form: scaling p scales y; normalised form: e_i has unit norm
    np.testing.assert_allclose(G.geometric_moe(x, WA, WB, 4, 3 * p, 2, normalize=None)[0], 3 * y_std)
    y_l2 = G.geometric_moe(x, WA, WB, 4, p, 1)[0]
    np.testing.assert_allclose(np.linalg.norm(y_l2, axis=1), p.max(1), atol=1e-12)
    y_rms = G.geometric_moe(x, WA, WB, 4, p, 1, normalize="rms")[0]
    np.testing.assert_allclose(y_rms, y_l2 * math.sqrt(5), atol=1e-12)
    t = [torch.tensor(a) for a in (x, WA, WB, p)]
    yt, it, _ = G.geometric_moe(*t[:3], 4, t[3], 2)
    np.testing.assert_allclose(yt.numpy(), G.geometric_moe(x, WA, WB, 4, p, 2)[0], atol=1e-12)
    np.testing.assert_array_equal(it.numpy(), G.geometric_moe(x, WA, WB, 4, p, 2)[1])


def test_geometric_moe_gradcheck():
    x, WA, WB = (torch.tensor(a, requires_grad=True) for a in ffn())
    p = torch.tensor(np.abs(RNG.standard_normal((3, 4))) + 0.1, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b, c, q: G.geometric_moe(a, b, c, 4, q, 2, act="tanh")[0], (x, WA, WB, p))


def test_pairwise_cosines():
    V = np.array([[[1.0, 0], [0, 1], [1, 1]]])
    np.testing.assert_allclose(G.pairwise_cosines(V), [[0, 1 / math.sqrt(2), 1 / math.sqrt(2)]])


def test_fit_norm_router_recovers_a_linear_map():
    X = RNG.standard_normal((200, 3))
    W = np.array([[1.0, -2], [0.5, 0], [0, 3], [0.1, 0.2]])
    Y = X @ W[:-1] + W[-1]
    np.testing.assert_allclose(G.fit_norm_router(X, Y, ridge=0), W, atol=1e-10)
    np.testing.assert_allclose(G.predict_norms(X, W), Y)


def test_digits_study_orders_oracle_router_random():
    s = G.digits_expert_study(8)
    assert s["accuracy"] > 0.9
    k = np.arange(7)
    assert np.all(s["oracle"][k] <= s["random"][k])
    assert np.all(s["router"][k] <= s["random"][k])
    assert s["oracle"][-1] == 0 and s["router"][-1] == 0
    ok = np.isfinite(s["best"])
    assert np.all(s["best"][ok][:-1] <= s["random"][ok][:-1])
    assert 0 < s["dense_limit_router_error"] < 0.2
    orth = s["orthogonal_prediction"]
    assert orth[-1] == 0 and np.all(np.diff(orth) < 0)
    assert s["kept_energy"][-1] == pytest.approx(1) and np.all(np.diff(s["kept_energy"]) > 0)
    run = G.train_digits_ffn()
    V = G.expert_outputs(run["X_test"], run["WA"], run["WB"], 8)
    V = V[np.linalg.norm(V.sum(1), axis=-1) > 0]
    nr2 = np.sort(np.linalg.norm(V, axis=-1) ** 2, axis=1)
    assert orth[2] == pytest.approx(np.sqrt(nr2[:, :5].sum(1) / nr2.sum(1)).mean())
    ok = np.isfinite(s["best"])
    assert np.all(s["best"][ok] <= s["oracle_best_rows"][ok] + 1e-12)


# --- bad input ----------------------------------------------------------------------------
def test_bad_inputs():
    x, WA, WB = ffn()
    with pytest.raises(ValueError, match="act"):
        G.dense_ffn(x, WA, WB, "swish")
    with pytest.raises(ValueError, match="n"):
        G.expert_outputs(x, WA, WB, 5)
    with pytest.raises(ValueError, match="x"):
        G.expert_outputs(x[:, :4], WA, WB, 4)
    with pytest.raises(ValueError, match="WB"):
        G.dense_ffn(x, WA, WB[:5], "relu")
    with pytest.raises(ValueError, match="WA"):
        G.dense_ffn(x, torch.tensor(WA), WB)
    with pytest.raises(ValueError, match="WG"):
        G.glu_ffn(x, WA, WA[:, :4], WB)
    with pytest.raises(ValueError, match="WG"):
        G.glu_expert_outputs(x, WA, WA[:, :4], WB, 2)
    V = RNG.standard_normal((3, 4, 2))
    with pytest.raises(ValueError, match="k"):
        G.topk_by_norm(V, 5)
    with pytest.raises(ValueError, match="idx"):
        G.subset_error(V, np.array([[0, 0], [1, 2], [2, 3]]))
    with pytest.raises(ValueError, match="idx"):
        G.subset_error(V, np.array([[0, 9], [1, 2], [2, 3]]))
    with pytest.raises(ValueError, match="V"):
        G.subset_error(np.zeros((1, 3, 2)), np.array([[0]]))
    with pytest.raises(ValueError, match="max_subsets"):
        G.best_subset(RNG.standard_normal((22, 2)), 11)
    with pytest.raises(ValueError, match="k"):
        G.random_subsets(3, 4, 1)
    with pytest.raises(ValueError, match="d"):
        G.orthogonal_experts(4, 3)
    with pytest.raises(ValueError, match="scale"):
        G.random_experts(2, 3, 2, scale=(1.0, 0.5))
    with pytest.raises(ValueError, match="dims"):
        G.norm_rule_study([0])
    with pytest.raises(ValueError, match="q"):
        G.sampling_variance(V[0], np.array([0.5, 0.5, 0, 0]))
    with pytest.raises(ValueError, match="V"):
        G.min_variance_probs(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="eps"):
        G.rms_normalize(V, eps=-1)
    with pytest.raises(ValueError, match="v"):
        G.rms_normalize(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="p"):
        G.geometric_moe(x, WA, WB, 4, -np.ones((3, 4)), 2)
    with pytest.raises(ValueError, match="normalize"):
        G.geometric_moe(x, WA, WB, 4, np.ones((3, 4)), 2, normalize="layer")
    with pytest.raises(ValueError, match="V"):
        G.pairwise_cosines(np.ones(3))
    with pytest.raises(ValueError, match="norms"):
        G.fit_norm_router(x, np.ones((4, 2)))
    with pytest.raises(ValueError, match="W"):
        G.predict_norms(x, np.ones((3, 2)))
    with pytest.raises(ValueError, match="lr"):
        G.train_digits_ffn(lr=0)
    with pytest.raises(ValueError, match="n"):
        G.digits_expert_study(n=5)
    with pytest.raises(ValueError, match="x"):
        G.dense_ffn(np.array([[np.nan] * 6]), WA, WB)


def test_subset_error_blames_the_mismatch_on_both_arguments():
    V = np.random.default_rng(0).standard_normal((5, 4))
    with pytest.raises(ValueError, match=r"idx must have shape .* leading axes of V"):
        G.subset_error(V[None], np.array([0, 2]))


def test_digits_expert_study_bounds_n_best_by_the_test_rows():
    """n_best rows of the test half (899 of the 1797 digits): 0 and 1000 are refused before
    any training."""
    for bad in (0, 900, 1000):
        with pytest.raises(ValueError, match="n_best"):
            G.digits_expert_study(4, n_best=bad, hidden=8)
