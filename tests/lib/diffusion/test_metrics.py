"""Tests of kexue.diffusion.metrics: Frechet distance, total variation, digit features, RMS error, sliced W2."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from kexue import diffusion as D
import kexue.datasets

torch.set_num_threads(1)
FAST = settings(max_examples=30, deadline=None)


def test_frechet_distance_diagonal_closed_form():
    rng = np.random.default_rng(0)
    m1, m2 = rng.standard_normal(5), rng.standard_normal(5)
    c1, c2 = rng.uniform(0.5, 2, 5), rng.uniform(0.5, 2, 5)
    # samples with exactly these means and (diagonal) covariances: whiten a large sample
    z = rng.standard_normal((20000, 5))
    z = (z - z.mean(0)) / z.std(0, ddof=1)
    w = rng.standard_normal((20000, 5))
    w = (w - w.mean(0)) / w.std(0, ddof=1)
    A, B = m1 + z * np.sqrt(c1), m2 + w * np.sqrt(c2)
    ca, cb = np.cov(A, rowvar=False), np.cov(B, rowvar=False)
    closed = ((m1 - m2) ** 2).sum() + ((np.sqrt(np.diag(ca)) - np.sqrt(np.diag(cb))) ** 2).sum()
    # off-diagonal sample covariances are O(1/sqrt(n)): the closed form holds to that order
    assert abs(D.frechet_distance(A, B) - closed) < 0.02
    assert D.frechet_distance(A, A) == pytest.approx(0, abs=1e-6)


def test_frechet_distance_matches_pytorch_fid_optional():
    fid = pytest.importorskip("pytorch_fid.fid_score")   # imports torchvision: optional
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((200, 4)), rng.standard_normal((300, 4)) + 0.3
    ref = fid.calculate_frechet_distance(A.mean(0), np.cov(A, rowvar=False), B.mean(0), np.cov(B, rowvar=False))
    assert D.frechet_distance(A, B) == pytest.approx(ref, rel=1e-6)


def test_total_variation_of_a_checkerboard():
    board = np.indices((8, 8)).sum(0) % 2 * 2.0 - 1.0
    assert D.total_variation(board) == pytest.approx(2.0)
    assert D.total_variation(np.ones((8, 8))) == 0.0


def test_digit_features_separate_the_classes():
    feats, clf = D.digit_features()
    x = torch.from_numpy(kexue.datasets.digits("signed", as_images=True, dtype="float32")[0])[:, None]
    f = feats(x)
    assert f.shape == (1797, 64) and (f >= 0).all()
    _, y = kexue.datasets.digits("signed")
    assert clf.score(x.reshape(-1, 64).numpy(), y) > 0.95


def test_rms_error_is_the_root_mean_squared_euclidean_error():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    assert D.rms_error(x, np.zeros((2, 2))) == pytest.approx(math.sqrt(25 / 2))
    assert D.rms_error(torch.tensor(x), torch.zeros(2, 2)) == pytest.approx(math.sqrt(25 / 2))
    with pytest.raises(ValueError, match="y"):
        D.rms_error(x, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="x"):
        D.rms_error(np.array([[np.nan, 0.0]]), np.zeros((1, 2)))


def test_sliced_wasserstein2_matches_pot_with_the_same_projections():
    """Parity with POT's ot.sliced_wasserstein_distance (p = 2) given our projections, also for
    clouds of unequal sizes."""
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((200, 3)), 0.5 + 2 * rng.standard_normal((150, 3))
    u = np.random.default_rng(4).standard_normal((64, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    ref = ot.sliced_wasserstein_distance(x, y, projections=u.T, p=2)
    assert D.sliced_wasserstein2(x, y, n_projections=64, seed=4) == pytest.approx(float(ref), rel=1e-10)


@FAST
@given(st.integers(0, 10_000), st.integers(2, 40), st.integers(2, 40))
def test_sliced_wasserstein2_is_zero_on_itself_symmetric_and_shifts(seed, n, m):
    """SW2(x, x) = 0, SW2(x, y) = SW2(y, x), and a translation by c gives SW2^2 = mean_k <c, u_k>^2."""
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((n, 2)), rng.standard_normal((m, 2))
    assert D.sliced_wasserstein2(x, x) < 1e-12
    assert D.sliced_wasserstein2(x, y) == pytest.approx(D.sliced_wasserstein2(y, x), rel=1e-12)
    c = np.array([3.0, -1.0])
    u = np.random.default_rng(0).standard_normal((256, 2))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    assert D.sliced_wasserstein2(x, x + c) == pytest.approx(np.sqrt(((u @ c) ** 2).mean()), rel=1e-9)


def test_sliced_wasserstein2_bad_input():
    with pytest.raises(ValueError, match="y"):
        D.sliced_wasserstein2(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="x"):
        D.sliced_wasserstein2(np.zeros(3), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="n_projections"):
        D.sliced_wasserstein2(np.zeros((3, 2)), np.zeros((3, 2)), n_projections=0)


def test_metrics_name_seed_and_the_shape_mismatch():
    x = np.zeros((4, 2))
    for bad in (-1, 1.5, "bad", np.inf):
        with pytest.raises(ValueError, match="seed"):
            D.sliced_wasserstein2(x, x, seed=bad)
    with pytest.raises(ValueError, match=r"y must have the shape of x"):
        D.rms_error(x[None], x)
