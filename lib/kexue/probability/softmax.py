"""Softmax and its substitutes: sigmoid, softmax, logsumexp, Taylor softmax, Sparse Softmax,
perturb-max, sparsemax, entmax, and the stop-gradient surrogate loss.

Chapter ``probability/softmax-alternatives`` (kexue.fm/archives/10145); softmax and sigmoid
serve every chapter. Maps R^n -> simplex on the last axis. A function that takes "numpy or
torch" returns the kind it was given (the contract of :func:`kexue._validate.like_input`):
numpy in, numpy out (float64); a torch tensor in, a tensor out, differentiable by autograd.
Sparse maps are written as relu(.)^{1/beta} of a threshold that carries its own gradient, so
autograd gives the exact Jacobian of each map; sparsemax and entmax-1.5 themselves live in
``sparse`` (sort-free, custom backward) and are re-exported here.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy import stats

from .._validate import (as_float_array, as_float_ndarray, as_float_tensor, check_choice,
                         check_class_indices, check_in_range, check_int_in, check_nonnegative,
                         check_positive, check_real, check_shape, check_tensor, like_input,
                         as_int_array, check_instance, check_seed)
from .sparse import _minus_row_max, _sorted_top, entmax15, sparsemax

__all__ = ["sigmoid", "softmax", "logsumexp", "softmax_jacobian", "taylor_softmax",
           "sparse_softmax", "sparse_softmax_loss", "NOISES", "perturb_max", "perturb_max_mc",
           "sparsemax", "sparsemax_threshold", "naive_sparsemax_post", "sparsemax_loss",
           "entmax15", "entmax_bisect", "relu_exp_gap", "stopgrad_surrogate_loss",
           "naive_stopgrad_loss_post", "surrogate_inputs", "ZOO_MAPS", "zoo_map",
           "accuracy_loss", "LINEAR_LOSSES", "fit_linear_classifier", "am_softmax_loss",
           "cosine_softmax_max_prob", "fit_cosine_classifier", "taylor_features",
           "taylor_linear_attention"]


def sigmoid(x: Any):
    """sigma(x) = 1 / (1 + e^{-x}), elementwise; numpy or torch (returns the kind it was given).

    Numerically stable at any magnitude (no overflow, no warning: sigma(-1000) = 0,
    sigma(1000) = 1; torch.sigmoid's kernel, which agrees with scipy.special.expit), with the
    exact gradient sigma (1 - sigma) for tensors. The two-class softmax:
    sigma(x) = softmax([x, 0])_0. Used by chapter fsq's bound (L - 1) sigma(z) and chapter
    smooth-topk's ThreTopK-sigmoid.
    """
    t, is_torch = as_float_tensor(x, name="x", min_ndim=0)
    return like_input(torch.sigmoid(t), is_torch)


def softmax(x: Any, tau: float = 1.0):
    """softmax(x / tau)_i = exp(x_i / tau) / sum_j exp(x_j / tau) on the last axis.

    numpy or torch (returns the kind it was given). The smooth Top-1: every Top-k map of
    chapter smooth-topk reduces to it at k = 1 (eq. "softmax is ST_1").
    """
    t, is_torch = as_float_tensor(x, name="x")
    tau = check_positive(tau, name="tau")
    return like_input(torch.softmax(t / tau, dim=-1), is_torch)


def logsumexp(x: Any, tau: float = 1.0):
    """tau * log sum_i exp(x_i / tau): the smooth maximum (kexue.fm/archives/3290)."""
    t, is_torch = as_float_tensor(x, name="x")
    tau = check_positive(tau, name="tau")
    return like_input(tau * torch.logsumexp(t / tau, dim=-1), is_torch)


ZOO_MAPS = ("softmax", "taylor", "sparse_softmax", "perturb_normal", "sparsemax", "entmax")


def softmax_jacobian(p: Any) -> np.ndarray:
    """J = diag(p) - p p^T, the Jacobian dp/dx of p = softmax(x), from p of shape (n,). numpy.

    Chapter softmax-alternatives (and attention-scale, times the scale). ``p`` must be a
    probability vector (entries >= 0 summing to 1 within 1e-9).
    """
    arr, is_torch = as_float_array(p, name="p", min_ndim=1, max_ndim=1)
    arr = np.asarray(like_input(arr, False), dtype=np.float64)
    if (arr < 0).any() or abs(arr.sum() - 1) > 1e-9:
        raise ValueError("p must be a probability vector: entries >= 0 summing to 1 (within 1e-9)")
    return np.diag(arr) - np.outer(arr, arr)


def taylor_softmax(x: Any, k: int = 2):
    """p_i proportional to f_k(x_i) = sum_{m<=k} x_i^m / m!, k even (so f_k > 0). numpy or torch.

    Chapter softmax-alternatives, Taylor softmax. Heavier-tailed than softmax; neither monotone
    (f_2 decreases for x < -1) nor shift invariant.
    """
    k = check_int_in(k, 2, 170, name="k")             # 171! overflows float64
    if k % 2:
        raise ValueError(f"k must be a positive even integer (f_k > 0 only then), got {k}")
    t, is_torch = as_float_tensor(x, name="x")
    s = t.detach().abs().amax(-1, keepdim=True)
    big = float(s.max()) if s.numel() else 0.0
    if big <= 1.0 or k * math.log(big) + math.log(2.0 * t.shape[-1] * (k + 1)) < \
            math.log(torch.finfo(t.dtype).max):
        f = sum(t ** m / math.factorial(m) for m in range(k + 1))
        return like_input(f / f.sum(-1, keepdim=True), is_torch)
    # f_k(x) would overflow: p is unchanged by f -> f / s^k, s = max|x| >= 1 per row, and
    # f_k(x) / s^k = sum_m (x/s)^m s^{m-k} / m! has every term bounded by 1 (no overflow)
    s = s.clamp(min=1.0)
    u = t / s
    f = sum(u ** m * s ** (m - k) / math.factorial(m) for m in range(k + 1))
    return like_input(f / f.sum(-1, keepdim=True), is_torch)


def sparse_softmax(x: Any, k: int):
    """Softmax restricted to the k largest logits (zero elsewhere). numpy or torch.

    Chapter softmax-alternatives, Sparse Softmax (arXiv:2112.12433 / kexue.fm/archives/8046).
    Ties at the k-th value are broken by position.
    """
    t, is_torch = as_float_tensor(x, name="x")
    k = check_int_in(k, 1, t.shape[-1], name="k")
    idx = t.topk(k, dim=-1).indices
    mask = torch.zeros_like(t, dtype=torch.bool).scatter(-1, idx, True)
    return like_input(torch.softmax(t.masked_fill(~mask, float("-inf")), -1), is_torch)


def sparse_softmax_loss(x: Any, target: Any, k: int):
    """lse over the top-k logits minus x_t (the target's logit). numpy or torch.

    Chapter softmax-alternatives: the Sparse Softmax cross-entropy; logits outside the top k get
    no gradient. If the target is outside the top k, it is added to the set (the loss stays
    finite, as in the paper's training code).
    """
    t, is_torch = as_float_tensor(x, name="x")
    k = check_int_in(k, 1, t.shape[-1], name="k")
    tt = check_class_indices(as_int_array(target, name="target")[0], t.shape[-1], t.shape[:-1])
    idx = t.topk(k, dim=-1).indices
    mask = torch.zeros_like(t, dtype=torch.bool).scatter(-1, idx, True)
    mask = mask.scatter(-1, tt.unsqueeze(-1), True)
    lse = torch.logsumexp(t.masked_fill(~mask, float("-inf")), -1)
    return like_input(lse - t.gather(-1, tt.unsqueeze(-1)).squeeze(-1), is_torch)


#: The noise laws of perturb-max: Gumbel (which gives softmax) and the standard normal.
NOISES = {"gumbel": stats.gumbel_r, "normal": stats.norm}


def perturb_max(x: Any, noise: str = "normal", n_nodes: int = 20001) -> np.ndarray:
    """p_i = P[argmax_j (x_j + eps_j) = i] = E_eps[prod_{j != i} Phi(x_i - x_j + eps)]. numpy.

    Chapter softmax-alternatives, perturb-max. Evaluated by inverse-CDF quadrature: the midpoint
    rule on u in (0, 1) with eps = Phi^{-1}(u). noise="gumbel" reproduces softmax, "normal" gives
    a new monotone, shift-invariant map (n = 2: Phi((x_1 - x_2) / sqrt 2)). x of shape (n,).
    """
    arr = as_float_ndarray(x, name="x", min_ndim=1, max_ndim=1)
    dist = NOISES[check_choice(noise, list(NOISES), name="noise")]
    n_nodes = check_int_in(n_nodes, 10, None, name="n_nodes")
    eps = dist.ppf((np.arange(n_nodes) + 0.5) / n_nodes)                     # (N,)
    diff = arr[:, None] - arr[None, :]                                        # x_i - x_j
    logcdf = dist.logcdf(diff[:, :, None] + eps[None, None, :])               # (n, n, N)
    idx = np.arange(arr.size)
    logcdf[idx, idx, :] = 0.0                                                 # leave out j = i
    return np.exp(logcdf.sum(axis=1)).mean(axis=1)


def perturb_max_mc(x: Any, noise: str = "normal", n_samples: int = 100_000,
                   seed: int | None = None) -> np.ndarray:
    """Monte-Carlo frequencies of argmax_j (x_j + eps_j), eps iid from ``noise``. numpy."""
    arr = as_float_ndarray(x, name="x", min_ndim=1, max_ndim=1)
    check_choice(noise, list(NOISES), name="noise")
    n_samples = check_int_in(n_samples, 1, None, name="n_samples")
    rng = np.random.default_rng(seed)
    eps = rng.gumbel(size=(n_samples, arr.size)) if noise == "gumbel" else \
        rng.standard_normal((n_samples, arr.size))
    win = (arr[None, :] + eps).argmax(axis=1)
    return np.bincount(win, minlength=arr.size) / n_samples


def _sparsemax_lambda(t: torch.Tensor, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Threshold lambda (with its gradient) and support size of sparsemax, last axis, by sorting.

    ``t`` is expected with its row maximum already subtracted (the callers do it): then
    z_(1) = 0 > lambda_1 = -1, the support is never empty, and the cumulative sums over the
    support add numbers in [-1, 0] only, so float32 logits of any size keep every digit.
    """
    n, td = t.shape[-1], t.detach()
    while True:        # with k: the k largest only, doubled while a support fills all of them
        zs = _sorted_top(td, k)
        ks = torch.arange(1, zs.shape[-1] + 1, dtype=t.dtype)
        lam_k = (zs.cumsum(-1) - 1) / ks
        size = (zs > lam_k).sum(-1, keepdim=True).clamp(min=1)  # the largest k with z_k > lambda_k
        if k is None or k >= n or bool((size < k).all()):
            break
        k = 2 * k
    mask = (td > lam_k.gather(-1, size - 1)).to(t.dtype)   # the support, no gradient
    lam = ((t * mask).sum(-1, keepdim=True) - 1) / size.to(t.dtype)
    return lam, size.squeeze(-1)


def sparsemax_threshold(x: Any) -> tuple[Any, Any]:
    """(lambda, support size) of :func:`sparsemax`; numpy in -> numpy/int out, torch -> tensors."""
    t, is_torch = as_float_tensor(x, name="x")
    z, top = _minus_row_max(t)
    lam, size = _sparsemax_lambda(z)
    lam = (lam + top).squeeze(-1)            # lambda(x) = lambda(x - max) + max
    if not is_torch:
        lam, size = lam.detach().numpy(), size.numpy()
        return (float(lam), int(size)) if lam.ndim == 0 else (lam, size)
    return lam, size


def naive_sparsemax_post(x: Any) -> np.ndarray:
    """Sparsemax exactly as the post's snippet picks the support: ``(x_sort >= lamb).argmin() - 1``.

    Kept for the demonstration (chapter softmax-alternatives): with full support ``argmin``
    returns 0 and the index wraps to -1, which happens to be the right k. numpy, 1-D.
    """
    arr = as_float_ndarray(x, name="x", min_ndim=1, max_ndim=1)
    xs = np.sort(arr)[::-1]
    lamb = (np.cumsum(xs) - 1) / np.arange(1, arr.size + 1)
    k = (xs >= lamb).argmin() - 1
    return np.maximum(arr - lamb[k], 0.0)


def sparsemax_loss(x: Any, target: Any):
    """L_t = 1/2 - x_t + 1/2 sum_{i in S} (x_i^2 - lambda^2) >= 0; its gradient is p - onehot(t).

    Chapter softmax-alternatives (the sparsemax loss of Martins & Astudillo). numpy or torch.
    """
    t, is_torch = as_float_tensor(x, name="x")
    tt = check_class_indices(as_int_array(target, name="target")[0], t.shape[-1], t.shape[:-1])
    z, _ = _minus_row_max(t)                 # L(x + c) = L(x): evaluate at x - max
    lam, _ = _sparsemax_lambda(z)
    on = z > lam                             # where, not a 0/1 product: z^2 may be inf off S
    quad = 0.5 * torch.where(on, z ** 2 - lam ** 2, torch.zeros_like(z)).sum(-1)
    return like_input(0.5 - z.gather(-1, tt.unsqueeze(-1)).squeeze(-1) + quad, is_torch)


def entmax_bisect(x: Any, alpha: float = 1.5, n_iter: int = 100):
    """Entmax-alpha, relu((alpha-1) x - lambda)^{1/(alpha-1)}, lambda by bisection. numpy or torch.

    Chapter softmax-alternatives: the post's relu^{1/beta}(beta x - lambda) with alpha = 1 + beta,
    1 <= alpha <= 2 (alpha = 1 is softmax, alpha = 2 sparsemax). lambda lies in
    [beta max x - 1, beta max x - n^{-beta}]; the returned lambda carries the implicit-function
    gradient (one Newton correction whose value is ~0), so autograd gives the exact Jacobian.
    """
    t, is_torch = as_float_tensor(x, name="x")
    alpha = check_in_range(alpha, 1.0, 2.0, name="alpha")
    n_iter = check_int_in(n_iter, 1, None, name="n_iter")
    if alpha == 1.0:
        return like_input(torch.softmax(t, -1), is_torch)
    beta = alpha - 1.0
    z = beta * _minus_row_max(t)[0]          # shift first: at |x| = 1e10 (float32) top - 1 = top
    zd = z.detach()
    lo = torch.full_like(zd[..., :1], -1.0)  # lambda in [max z - 1, max z - n^-beta], max z = 0
    hi = torch.full_like(zd[..., :1], -t.shape[-1] ** (-beta))

    def mass(lam):
        return (torch.relu(zd - lam) ** (1 / beta)).sum(-1, keepdim=True)

    for _ in range(n_iter):
        mid = 0.5 * (lo + hi)
        big = mass(mid) >= 1.0
        lo, hi = torch.where(big, mid, lo), torch.where(big, hi, mid)
    lam0 = 0.5 * (lo + hi)
    # implicit function: F(z, lam) = sum relu(z - lam)^{1/beta} - 1 = 0, dF/dlam = -sum s_i / beta
    r = torch.relu(z - lam0)
    F = (r ** (1 / beta)).sum(-1, keepdim=True) - 1.0
    rd = r.detach()
    dF = torch.where(rd > 0, rd ** (1 / beta - 1), torch.zeros_like(rd)).sum(-1, keepdim=True) / beta
    lam = lam0 + F / dF
    return like_input(torch.relu(z - lam) ** (1 / beta), is_torch)


def relu_exp_gap(beta: float, lo: float = -3.0, hi: float = 1.0, n: int = 40001) -> float:
    """max over t in [lo, hi] of |relu(1 + beta t)^{1/beta} - e^t|: the approximation ladder. numpy.

    Chapter softmax-alternatives: beta = 1 is sparsemax's relu(1 + t), beta -> 0 recovers e^t.
    """
    beta = check_in_range(beta, 0.0, 1.0, name="beta", lo_open=True)
    t = np.linspace(check_real(lo, name="lo"), check_real(hi, name="hi"), check_int_in(n, 2, None, name="n"))
    return float(np.abs(np.maximum(1 + beta * t, 0.0) ** (1 / beta) - np.exp(t)).max())


def stopgrad_surrogate_loss(p: torch.Tensor, x: torch.Tensor, target: Any) -> torch.Tensor:
    """sg(p - onehot(t)) . x: a loss whose gradient in x is exactly p - onehot(t). torch.

    Chapter softmax-alternatives. Its value means nothing (track accuracy or cross-entropy
    instead). The post prints (p - onehot(t)) . sg(x), whose gradient is something else (see
    :func:`naive_stopgrad_loss_post`).
    """
    p, x = surrogate_inputs(p, x)
    tt = check_class_indices(as_int_array(target, name="target")[0], x.shape[-1], x.shape[:-1])
    onehot = torch.nn.functional.one_hot(tt, x.shape[-1]).to(x.dtype)
    return ((p - onehot).detach() * x).sum(-1)


def naive_stopgrad_loss_post(p: torch.Tensor, x: torch.Tensor, target: Any) -> torch.Tensor:
    """(p - onehot(t)) . sg(x), as printed in the post: its gradient flows through p, not x.

    Kept for the demonstration (chapter softmax-alternatives erratum); do not train with it.
    """
    p, x = surrogate_inputs(p, x)
    tt = check_class_indices(as_int_array(target, name="target")[0], x.shape[-1], x.shape[:-1])
    onehot = torch.nn.functional.one_hot(tt, x.shape[-1]).to(x.dtype)
    return ((p - onehot) * x.detach()).sum(-1)


def surrogate_inputs(p: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The checks of the surrogate losses: finite torch tensors p and x of one shape."""
    as_float_array(check_tensor(x, name="x"), name="x")
    as_float_array(check_tensor(p, name="p"), name="p")
    check_shape(p, tuple(x.shape), name="p")
    return p, x


def zoo_map(x: Any, name: str, tau: float = 1.0, alpha: float = 1.5, k: int = 3) -> np.ndarray:
    """One of the chapter's maps applied to x / tau (numpy): softmax, taylor (order 2k' = 2),
    sparse_softmax (top k), perturb_normal, sparsemax, entmax (alpha). Chapter softmax-alternatives."""
    check_choice(name, ZOO_MAPS, name="name")
    tau = check_positive(tau, name="tau")
    z = as_float_ndarray(x, name="x", min_ndim=1, max_ndim=1) / tau
    check_in_range(alpha, 1.0, 2.0, name="alpha")          # checked whatever the map (entmax's)
    check_int_in(k, 1, z.size, name="k")                   # (sparse softmax's top k)
    if name == "softmax":
        return softmax(z)
    if name == "taylor":
        return taylor_softmax(z, 2)
    if name == "sparse_softmax":
        return sparse_softmax(z, k)
    if name == "perturb_normal":
        return perturb_max(z, "normal", n_nodes=4001)
    if name == "sparsemax":
        return sparsemax(z)
    return entmax_bisect(z, alpha)



# ----------------------------------------------------------------------------------------------
# losses around softmax: -p_t, AM-Softmax, and linear classifiers trained with them
# ----------------------------------------------------------------------------------------------

LINEAR_LOSSES = ("ce", "neg_pt", "sparse")


def accuracy_loss(x: Any, target: Any):
    """-p_t = -softmax(x)_t, the negated smooth accuracy. numpy or torch.

    Chapter softmax-alternatives. Its gradient is p_t (p - onehot(t)): cross-entropy's gradient
    times p_t, so it fades exactly where the model is wrong (p_t small).
    """
    t, is_torch = as_float_tensor(x, name="x")
    tt = check_class_indices(as_int_array(target, name="target")[0], t.shape[-1], t.shape[:-1])
    return like_input(-torch.softmax(t, -1).gather(-1, tt.unsqueeze(-1)).squeeze(-1), is_torch)


def _loss_logit_grad(z: np.ndarray, onehot: np.ndarray, loss: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row loss and its gradient in the logits z (..., N, C), closed form (numpy)."""
    if loss == "sparse":                       # softmax over the top k and the target
        kth = -np.partition(-z, k - 1, axis=-1)[..., k - 1:k]
        z = np.where((z >= kth) | (onehot > 0), z, -np.inf)
    zmax = z.max(-1, keepdims=True)
    e = np.exp(z - zmax)
    tot = e.sum(-1, keepdims=True)
    p = e / tot
    if loss == "neg_pt":
        pt = (p * onehot).sum(-1)
        return -pt, pt[..., None] * (p - onehot)          # d(-p_t)/dz = p_t (p - e_t)
    zt = np.where(onehot > 0, z, 0.0).sum(-1)
    return np.log(tot[..., 0]) + zmax[..., 0] - zt, p - onehot   # d(lse - z_t)/dz = p - e_t


def fit_linear_classifier(X: Any, y: Any, loss: str = "ce", steps: int = 150, lr: float = 0.5,
                          k: int = 3, init_scale: float = 0.01, seed: int = 0,
                          checkpoints: tuple = ()) -> dict:
    """Full-batch gradient descent on logits z = X W + b with one of three losses. numpy.

    Chapter softmax-alternatives: "ce" (cross-entropy, gradient p - e_t), "neg_pt" (-p_t,
    gradient p_t (p - e_t)), "sparse" (Sparse Softmax: cross-entropy of the softmax over the
    top-k logits and the target). X (..., N, D) and y (..., N) integer labels: a leading batch
    axis trains independent models (one per seed or data split) in one pass. W starts at
    init_scale * N(0, 1) (seed), b at 0. Returns {"W", "b", "log"} where log holds
    (step, mean loss, ||W||, ||grad W||) at each step listed in ``checkpoints``.
    """
    Xa = as_float_ndarray(X, name="X", min_ndim=2)
    ya = np.asarray(as_int_array(y, name="y")[0])
    if ya.shape != Xa.shape[:-1] or not np.issubdtype(ya.dtype, np.integer) or ya.min() < 0:
        raise ValueError(f"y must hold non-negative integer labels of shape {Xa.shape[:-1]}, got {ya.shape}")
    check_choice(loss, LINEAR_LOSSES, name="loss")
    steps = check_int_in(steps, 1, None, name="steps")
    lr = check_positive(lr, name="lr")
    init_scale = check_nonnegative(init_scale, name="init_scale")
    n_cls = int(ya.max()) + 1
    k = check_int_in(k, 1, None, name="k")
    k = min(k, n_cls)
    check_instance(checkpoints, (tuple, list, range), name="checkpoints")
    onehot = np.eye(n_cls)[ya]
    rng = np.random.default_rng(check_seed(seed))
    W = rng.standard_normal(Xa.shape[:-2] + (Xa.shape[-1], n_cls)) * init_scale
    b = np.zeros(Xa.shape[:-2] + (1, n_cls))
    n = Xa.shape[-2]
    log = []
    for step in range(1, steps + 1):
        L, G = _loss_logit_grad(Xa @ W + b, onehot, loss, k)   # G: (..., N, C)
        gW = np.swapaxes(Xa, -1, -2) @ G / n
        if step in checkpoints:
            log.append((step, float(L.mean()), float(np.linalg.norm(W)), float(np.linalg.norm(gW))))
        W = W - lr * gW
        b = b - lr * G.mean(-2, keepdims=True)
    return {"W": W, "b": b, "log": log}


def am_softmax_loss(cos: Any, target: Any, m: float = 0.35, tau: float = 0.1):
    """AM-Softmax: cross-entropy of (cos - m onehot(t)) / tau, cos the cosine logits. numpy or torch.

    Chapter softmax-alternatives (Wang et al. 2018): the target must beat every other class by
    the margin m in cosine (m / tau in logits) before the loss is as small as plain cross-entropy
    makes it at a tie. m = 0 is normalised softmax with temperature tau.
    """
    t, is_torch = as_float_tensor(cos, name="cos")
    if (t.abs() > 1 + 1e-9).any():
        raise ValueError("cos must hold cosines, entries in [-1, 1]")
    tt = check_class_indices(as_int_array(target, name="target")[0], t.shape[-1], t.shape[:-1])
    m = check_nonnegative(m, name="m")
    tau = check_positive(tau, name="tau")
    z = (t - m * torch.nn.functional.one_hot(tt, t.shape[-1]).to(t.dtype)) / tau
    return like_input(torch.logsumexp(z, -1) - z.gather(-1, tt.unsqueeze(-1)).squeeze(-1), is_torch)


def cosine_softmax_max_prob(n: int, tau: float = 1.0) -> float:
    """The largest p_t that all n classes of softmax(cos / tau) can reach at once. numpy.

    Chapter softmax-alternatives: with unit class centres and each class's feature at its own
    centre, the best layout is a regular simplex (cos_t = 1, every other cosine -1/(n-1)), so
    min_t p_t <= 1 / (1 + (n-1) e^{-(1 + 1/(n-1)) / tau}); at tau = 1 and n = 10 that is about
    a quarter, which is why AM-Softmax needs the temperature. (One class alone, with all other
    centres opposite to it, reaches 1 / (1 + (n-1) e^{-2/tau}).)
    """
    n = check_int_in(n, 2, None, name="n")
    tau = check_positive(tau, name="tau")
    # p_t = 1 / (1 + (n-1) exp(-(1 + 1/(n-1)) / tau))
    return float(1.0 / (1.0 + (n - 1) * np.exp(-(1.0 + 1.0 / (n - 1)) / tau)))


def fit_cosine_classifier(X: Any, y: Any, m: float = 0.0, tau: float = 0.1, dim: int = 16,
                          steps: int = 150, lr: float = 0.05, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Train a linear encoder E and class centres C with the AM-Softmax loss (Adam). torch, float64.

    Chapter softmax-alternatives. X (..., N, D), y (..., N): a leading batch axis trains
    independent models. Features z = normalise(X E), centres normalise(C), logits cos(z, c_j).
    Returns (E, C), detached.
    """
    Xt, _ = as_float_tensor(X, name="X", min_ndim=2)
    ya, _ = as_int_array(y, name="y")
    check_shape(ya, tuple(Xt.shape[:-1]), name="y")
    yt = check_class_indices(ya, int(ya.max()) + 1, tuple(Xt.shape[:-1]), name="y")
    seed = check_seed(seed)
    dim = check_int_in(dim, 1, None, name="dim")
    steps = check_int_in(steps, 1, None, name="steps")
    lr = check_positive(lr, name="lr")
    n_cls = int(yt.max()) + 1
    g = torch.Generator().manual_seed(int(seed))
    E = (torch.randn(Xt.shape[:-2] + (Xt.shape[-1], dim), generator=g, dtype=torch.float64) * 0.1).requires_grad_()
    C = torch.randn(Xt.shape[:-2] + (dim, n_cls), generator=g, dtype=torch.float64).requires_grad_()
    opt = torch.optim.Adam([E, C], lr=lr)
    for _ in range(steps):
        cos = torch.nn.functional.normalize(Xt @ E, dim=-1) @ torch.nn.functional.normalize(C, dim=-2)
        loss = am_softmax_loss(cos.clamp(-1, 1), yt, m, tau).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return E.detach(), C.detach()


# ----------------------------------------------------------------------------------------------
# Taylor softmax in linear attention (BASED): e^{q.k} ~ 1 + q.k + (q.k)^2 / 2 = phi(q) . phi(k)
# ----------------------------------------------------------------------------------------------


def taylor_features(x: Any):
    """phi(x) = [1, x, vec(x x^T) / sqrt 2], so phi(q) . phi(k) = 1 + q.k + (q.k)^2 / 2. numpy or torch.

    Chapter softmax-alternatives (Taylor softmax in linear attention, the BASED model). Shape
    (..., d) -> (..., 1 + d + d^2).
    """
    t, is_torch = as_float_tensor(x, name="x")
    outer = (t.unsqueeze(-1) * t.unsqueeze(-2)).flatten(-2) / math.sqrt(2.0)
    return like_input(torch.cat([torch.ones_like(t[..., :1]), t, outer], -1), is_torch)


def taylor_linear_attention(q: Any, k: Any, v: Any):
    """Causal attention with weights f_2(q_i . k_j) = 1 + q.k + (q.k)^2/2, in linear time. numpy or torch.

    Chapter softmax-alternatives. out_i = sum_{j<=i} phi(q_i).phi(k_j) v_j / sum_{j<=i} phi(q_i).phi(k_j)
    with running sums S_i = sum_{j<=i} phi(k_j) v_j^T and s_i = sum_{j<=i} phi(k_j): O(T d^2 d_v)
    instead of O(T^2). The weights are positive (f_2 >= 1/2), so the normaliser never vanishes.
    q, k (T, d), v (T, d_v) (leading batch axes allowed).
    """
    qt, is_torch = as_float_tensor(q, name="q", min_ndim=2)
    kt, _ = as_float_tensor(k, name="k", min_ndim=2)
    vt, _ = as_float_tensor(v, name="v", min_ndim=2)
    check_shape(kt, tuple(qt.shape), name="k")
    if vt.shape[:-1] != qt.shape[:-1]:
        raise ValueError(f"v must have shape {tuple(qt.shape[:-1])} + (d_v,), got {tuple(vt.shape)}")
    fq, fk = taylor_features(qt), taylor_features(kt)                 # (..., T, F)
    S = torch.cumsum(fk.unsqueeze(-1) * vt.unsqueeze(-2), dim=-3)     # (..., T, F, d_v)
    s = torch.cumsum(fk, dim=-2)                                      # (..., T, F)
    num = (fq.unsqueeze(-1) * S).sum(-2)
    den = (fq * s).sum(-1, keepdim=True)
    return like_input(num / den, is_torch)
