"""Sample-quality metrics of the part "Diffusion": endpoint error, Frechet distance, total variation,
sliced Wasserstein distance.

Chapters amed-ode-sampling (:func:`rms_error` against an exact ODE solution), skip-tuning and
snr-high-res-2 (:func:`frechet_distance` on the features of a fixed digit classifier,
:func:`digit_features`, this book's stand-in for the Inception network behind FID;
:func:`total_variation`); :func:`sliced_wasserstein2` compares two sample clouds directly (no
feature map), e.g. a sampler's output with an exact teacher's samples. numpy (float64); torch
tensors are accepted as input.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.linalg import sqrtm
from sklearn.neural_network import MLPClassifier

from .._validate import as_float_array, check_int_in, check_seed, check_shape
from ..datasets import digits

__all__ = ["rms_error", "frechet_distance", "total_variation", "digit_features",
           "sliced_wasserstein2"]


def to_numpy(x, *, name: str, min_ndim: int = 1, max_ndim: int | None = None) -> np.ndarray:
    """A finite array (numpy or torch, any float dtype) as float64 numpy."""
    arr, torch_in = as_float_array(x, name=name, min_ndim=min_ndim, max_ndim=max_ndim)
    return arr.detach().double().cpu().numpy() if torch_in else arr


def rms_error(x, y) -> float:
    """Root-mean-square over samples of the Euclidean endpoint error ||x - y|| (numpy).

    Chapter amed-ode-sampling: sqrt(mean_i |x_i - y_i|^2), the norm over the last axis.
    """
    x = to_numpy(x, name="x")
    y = to_numpy(y, name="y")
    if y.shape != x.shape:
        raise ValueError(f"y must have the shape of x {x.shape}, got {y.shape}")
    return float(np.sqrt(((x - y) ** 2).sum(-1).mean()))


_FEATURES: list = []                     # the fitted feature map, built once per process


def digit_features():
    """A fixed digit classifier's hidden layer as a feature map (the "Inception" of this book).

    Chapters skip-tuning and snr-high-res-2. An ``sklearn.neural_network.MLPClassifier`` (64 ReLU
    units, seed 0, 100 Adam epochs) fit on all 1797 digits in [-1, 1]
    (:func:`kexue.datasets.digits`, scale "signed"). Returns ``(features, classifier)`` where
    ``features(x)`` maps images (n, 8, 8) or (n, 1, 8, 8) (numpy or torch) to (n, 64) numpy
    activations relu(x W1 + b1).
    """
    if not _FEATURES:
        X, y = digits("signed")
        clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=100, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X, y)

        def features(x):
            a = to_numpy(x, name="x", min_ndim=3)
            a = a.reshape(a.shape[0], -1)
            check_shape(a, (None, 64), name="x (flattened 8x8 images)")
            return np.maximum(a @ clf.coefs_[0] + clf.intercepts_[0], 0.0)
        _FEATURES.append((features, clf))
    return _FEATURES[0]


def frechet_distance(A, B) -> float:
    """Frechet distance between Gaussians fitted to feature sets A (n, k) and B (m, k):

    |m_A - m_B|^2 + tr(C_A + C_B - 2 (C_A C_B)^(1/2)) (the FID formula; scipy sqrtm, real part). numpy.
    """
    a = to_numpy(A, name="A", min_ndim=2, max_ndim=2)
    b = to_numpy(B, name="B", min_ndim=2, max_ndim=2)
    if a.shape[1] != b.shape[1] or a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError(f"B must have the feature size of A and both >= 2 rows, got {a.shape}, {b.shape}")
    ma, mb = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cov = sqrtm(ca @ cb)
        if not np.isfinite(cov).all():                  # singular product: regularise as pytorch-fid does
            off = 1e-6 * np.eye(ca.shape[0])
            cov = sqrtm((ca + off) @ (cb + off))
    return float(((ma - mb) ** 2).sum() + np.trace(ca + cb - 2 * np.real(cov)))


def total_variation(x) -> float:
    """Mean absolute difference between horizontally and vertically adjacent pixels (numpy or torch).

    Chapter skip-tuning: TV = (mean |x[.., j+1] - x[.., j]| + mean |x[i+1, ..] - x[i, ..]|) / 2.
    """
    a = to_numpy(x, name="x", min_ndim=2)
    dh = np.abs(np.diff(a, axis=-1)).mean()
    dv = np.abs(np.diff(a, axis=-2)).mean()
    return float(0.5 * (dh + dv))


def sliced_wasserstein2(x, y, n_projections: int = 256, seed: int = 0) -> float:
    """Sliced 2-Wasserstein distance between the empirical laws of x (n, d) and y (m, d). numpy.

        SW2(x, y) = sqrt( mean_k W2^2(<x, u_k>, <y, u_k>) ),   u_k uniform on the unit sphere,

    with ``n_projections`` directions drawn from a generator seeded by ``seed`` (the same for
    every call, so values are comparable). Each 1-D W2^2 is exact for uniform weights: the
    integral over t in (0, 1) of (F_x^-1(t) - F_y^-1(t))^2 with piecewise-constant quantile
    functions, evaluated on the union of their break points (n and m may differ).
    """
    a = to_numpy(x, name="x", min_ndim=2, max_ndim=2)
    b = to_numpy(y, name="y", min_ndim=2, max_ndim=2)
    check_shape(b, (None, a.shape[1]), name="y")
    n_projections = check_int_in(n_projections, 1, 100_000, name="n_projections")
    u = np.random.default_rng(check_seed(seed)).standard_normal((n_projections, a.shape[1]))
    u /= np.linalg.norm(u, axis=1, keepdims=True)                      # (K, d) unit directions
    xs, ys = np.sort(a @ u.T, axis=0), np.sort(b @ u.T, axis=0)         # (n, K), (m, K) quantiles
    n, m = len(a), len(b)
    t = np.union1d(np.arange(1, n + 1) / n, np.arange(1, m + 1) / m)   # break points in (0, 1]
    w = np.diff(t, prepend=0.0)                                         # widths of the pieces
    mid = t - w / 2
    ix = np.minimum(np.ceil(mid * n).astype(int) - 1, n - 1)           # quantile index on each piece
    iy = np.minimum(np.ceil(mid * m).astype(int) - 1, m - 1)
    w2 = (w[:, None] * (xs[ix] - ys[iy]) ** 2).sum(0)                  # (K,) exact 1-D W2^2
    return float(np.sqrt(w2.mean()))
