"""Softmax and its substitutes: sigmoid, softmax, logsumexp, Taylor softmax, Sparse Softmax,
perturb-max, sparsemax, entmax, and the stop-gradient surrogate loss.

Chapter ``probability/softmax-alternatives`` (kexue.fm/archives/10145); softmax and sigmoid
serve every chapter. Maps R^n -> simplex on the last axis. A function that takes "numpy or
torch" returns the kind it was given (the contract of :func:`kexue._validate.like_input`):
numpy in, numpy out (float64); a torch tensor in, a tensor out, differentiable by autograd.
Sparse maps are written as relu(.)^{1/beta} of a threshold that carries its own gradient, so
autograd gives the exact Jacobian of each map.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy import stats

from .._validate import (as_float_array, as_float_ndarray, as_float_tensor, check_choice,
                         check_class_indices, check_in_range, check_int_in, check_positive,
                         check_real, check_shape, check_tensor, like_input)

__all__ = ["sigmoid", "softmax", "logsumexp", "softmax_jacobian", "taylor_softmax",
           "sparse_softmax", "sparse_softmax_loss", "NOISES", "perturb_max", "perturb_max_mc",
           "sparsemax", "sparsemax_threshold", "naive_sparsemax_post", "sparsemax_loss",
           "entmax15", "entmax_bisect", "relu_exp_gap", "stopgrad_surrogate_loss",
           "naive_stopgrad_loss_post", "surrogate_inputs", "ZOO_MAPS", "zoo_map"]


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
    k = check_int_in(k, 2, None, name="k")
    if k % 2:
        raise ValueError(f"k must be a positive even integer (f_k > 0 only then), got {k}")
    t, is_torch = as_float_tensor(x, name="x")
    f = sum(t ** m / math.factorial(m) for m in range(k + 1))
    return like_input(f / f.sum(-1, keepdim=True), is_torch)


def sparse_softmax(x: Any, k: int):
    """Softmax restricted to the k largest logits (zero elsewhere). numpy or torch.

    Chapter softmax-alternatives, Sparse Softmax (arXiv:2405.10512 / kexue.fm/archives/7915).
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
    tt = check_class_indices(target, t.shape[-1], t.shape[:-1])
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


def _sparsemax_lambda(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Threshold lambda (with its gradient) and support size of sparsemax, last axis."""
    zs = t.sort(dim=-1, descending=True).values
    ks = torch.arange(1, t.shape[-1] + 1, dtype=t.dtype)
    lam_k = (zs.cumsum(-1) - 1) / ks
    size = (zs > lam_k).sum(-1, keepdim=True)                   # the largest k with z_k > lambda_k
    mask = (t > lam_k.detach().gather(-1, size - 1)).to(t.dtype)   # the support, no gradient
    lam = ((t * mask).sum(-1, keepdim=True) - 1) / size.to(t.dtype)
    return lam, size.squeeze(-1)


def sparsemax(x: Any):
    """relu(x - lambda(x)): the Euclidean projection of x onto the simplex. numpy or torch.

    Chapter softmax-alternatives, eq. (sparsemax): lambda_k = (sum_{i<=k} x_(i) - 1)/k on the
    sorted logits, with the largest k such that x_(k) > lambda_k. Differentiable: on the support S
    the Jacobian is I - 1 1^T / |S|.
    """
    t, is_torch = as_float_tensor(x, name="x")
    lam, _ = _sparsemax_lambda(t)
    return like_input(torch.relu(t - lam), is_torch)


def sparsemax_threshold(x: Any) -> tuple[Any, Any]:
    """(lambda, support size) of :func:`sparsemax`; numpy in -> numpy/int out, torch -> tensors."""
    t, is_torch = as_float_tensor(x, name="x")
    lam, size = _sparsemax_lambda(t)
    lam = lam.squeeze(-1)
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
    tt = check_class_indices(target, t.shape[-1], t.shape[:-1])
    lam, _ = _sparsemax_lambda(t)
    mask = (t > lam).to(t.dtype)
    quad = 0.5 * ((t ** 2 - lam ** 2) * mask).sum(-1)
    return like_input(0.5 - t.gather(-1, tt.unsqueeze(-1)).squeeze(-1) + quad, is_torch)


def entmax15(x: Any):
    """Entmax with alpha = 1.5 in closed form: relu(x/2 - lambda)^2. numpy or torch.

    Chapter softmax-alternatives: with z = x/2 sorted, lambda_k = mu_k - sqrt(1/k - sigma_k^2)
    (mean and variance of the k largest), taking the k with z_(k) >= lambda_k >= z_(k+1).
    """
    t, is_torch = as_float_tensor(x, name="x")
    z = t / 2
    zs = z.sort(dim=-1, descending=True).values
    n = t.shape[-1]
    ks = torch.arange(1, n + 1, dtype=t.dtype)
    mu = zs.cumsum(-1) / ks
    var = (zs ** 2).cumsum(-1) / ks - mu ** 2
    lam_k = mu - torch.sqrt(torch.clamp(1 / ks - var, min=0.0))
    nxt = torch.cat([zs[..., 1:], torch.full_like(zs[..., :1], -math.inf)], -1)
    ok = (zs >= lam_k) & (lam_k >= nxt) & (1 / ks - var >= 0)
    # the valid k (ties can make two valid, they give the same lambda): take the largest
    size = torch.where(ok, ks.expand_as(zs), torch.zeros_like(zs)).amax(-1, keepdim=True).long()
    size = torch.clamp(size, min=1)
    mask = (z >= lam_k.detach().gather(-1, size - 1)).to(t.dtype)
    kf = size.to(t.dtype)
    mu_s = (z * mask).sum(-1, keepdim=True) / kf
    var_s = (z ** 2 * mask).sum(-1, keepdim=True) / kf - mu_s ** 2
    lam = mu_s - torch.sqrt(torch.clamp(1 / kf - var_s, min=0.0))
    return like_input(torch.relu(z - lam) ** 2, is_torch)


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
    z = beta * t
    top = z.detach().amax(-1, keepdim=True)
    lo, hi = top - 1.0, top - t.shape[-1] ** (-beta)

    def mass(lam):
        return (torch.relu(z.detach() - lam) ** (1 / beta)).sum(-1, keepdim=True)

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
    t = np.linspace(check_real(lo, name="lo"), check_real(hi, name="hi"), n)
    return float(np.abs(np.maximum(1 + beta * t, 0.0) ** (1 / beta) - np.exp(t)).max())


def stopgrad_surrogate_loss(p: torch.Tensor, x: torch.Tensor, target: Any) -> torch.Tensor:
    """sg(p - onehot(t)) . x: a loss whose gradient in x is exactly p - onehot(t). torch.

    Chapter softmax-alternatives. Its value means nothing (track accuracy or cross-entropy
    instead). The post prints (p - onehot(t)) . sg(x), whose gradient is something else (see
    :func:`naive_stopgrad_loss_post`).
    """
    p, x = surrogate_inputs(p, x)
    tt = check_class_indices(target, x.shape[-1], x.shape[:-1])
    onehot = torch.nn.functional.one_hot(tt, x.shape[-1]).to(x.dtype)
    return ((p - onehot).detach() * x).sum(-1)


def naive_stopgrad_loss_post(p: torch.Tensor, x: torch.Tensor, target: Any) -> torch.Tensor:
    """(p - onehot(t)) . sg(x), as printed in the post: its gradient flows through p, not x.

    Kept for the demonstration (chapter softmax-alternatives erratum); do not train with it.
    """
    p, x = surrogate_inputs(p, x)
    tt = check_class_indices(target, x.shape[-1], x.shape[:-1])
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

