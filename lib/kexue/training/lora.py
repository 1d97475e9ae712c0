"""LoRA's two factors and why they want different learning rates (LoRA+).

Chapter: lora-plus (Su, kexue.fm/archives/10001; Hayou, Ghosh & Yu 2024, "LoRA+").

Notation of the post (row vectors, as in code): X in R^{b x n}, Y = X (W0 + A B) with
A in R^{n x r} on the input side and B in R^{r x m} on the output side. numpy for the
formulas (torch tensors are accepted where stated and handed back as tensors), torch for the
optimiser parameter groups and the vectorised training sweep.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import torch

from .._validate import (as_float_array, check_choice, check_in_range, check_int_in,
                         check_nonnegative,
                         check_positive, like_input)

__all__ = ["lora_forward", "lora_grads", "lecun_lora_init", "loraplus_ratio",
           "contribution_ratio", "random_contribution_ratio", "loraplus_param_groups",
           "lora_sweep", "RATIO_RULES"]

#: The three width rules for eta_B / eta_A: the post's count, the count with the widths of the
#: sums kept (isotropic upstream gradient), and the LoRA+ paper's O(n) (no constant).
RATIO_RULES = ("su", "isotropic", "paper")


def _matrices(X, A, B):
    X, tx = as_float_array(X, name="X", min_ndim=2, max_ndim=2)
    A, ta = as_float_array(A, name="A", min_ndim=2, max_ndim=2)
    B, tb = as_float_array(B, name="B", min_ndim=2, max_ndim=2)
    if len({tx, ta, tb}) != 1:
        raise ValueError("X, A and B must all be numpy arrays or all be torch tensors")
    if A.shape[0] != X.shape[1]:
        raise ValueError(f"A must have n = X.shape[1] = {X.shape[1]} rows, got shape {tuple(A.shape)}")
    if B.shape[0] != A.shape[1]:
        raise ValueError(f"B must have r = A.shape[1] = {A.shape[1]} rows, got shape {tuple(B.shape)}")
    return X, A, B, tx


def lora_forward(X, A, B, W0=None):
    """Y = X (W0 + A B), shapes (b, n) (n, r) (r, m) (n, m) -> (b, m). numpy or torch."""
    X, A, B, is_torch = _matrices(X, A, B)
    Y = X @ A @ B                                           # (b, m), never forms A B
    if W0 is not None:
        W0, tw = as_float_array(W0, name="W0", min_ndim=2, max_ndim=2)
        if tw != is_torch or tuple(W0.shape) != (A.shape[0], B.shape[1]):
            raise ValueError(f"W0 must have shape ({A.shape[0]}, {B.shape[1]}) and the kind of X, "
                             f"got {tuple(W0.shape)}")
        Y = Y + X @ W0
    return like_input(Y, is_torch)


def lora_grads(X, A, B, dY):
    """Gradients of a loss through Y = X A B, given dY = dL/dY of shape (b, m):

    dL/dA = X^T dY B^T   (n, r),        dL/dB = A^T X^T dY = (X A)^T dY   (r, m).

    The post finds them by matching shapes; the chapter checks them against autograd.
    numpy or torch (tensors keep their graph).
    """
    X, A, B, is_torch = _matrices(X, A, B)
    dY, td = as_float_array(dY, name="dY", min_ndim=2, max_ndim=2)
    if td != is_torch or tuple(dY.shape) != (X.shape[0], B.shape[1]):
        raise ValueError(f"dY must have shape ({X.shape[0]}, {B.shape[1]}) and the kind of X, "
                         f"got {tuple(dY.shape)}")
    dA = X.T @ (dY @ B.T)                                   # (n, r)
    dB = (X @ A).T @ dY                                     # (r, m)
    return like_input(dA, is_torch), like_input(dB, is_torch)


def lecun_lora_init(n: int, r: int, m: int, *, zero: str | None = None, seed: int = 0):
    """LeCun-style factors: A_ij ~ N(0, 1/n), B_ij ~ N(0, 1/r), so that X, XA and XAB all have
    O(1) entries when X does. `zero` in {"A", "B", None} zeroes one factor (LoRA's usual start,
    Y = X W0 at step 0). numpy float64; returns (A (n, r), B (r, m)).
    """
    n = check_int_in(n, 1, None, name="n")
    m = check_int_in(m, 1, None, name="m")
    r = check_int_in(r, 1, min(n, m), name="r")
    check_choice(zero, ["A", "B", None], name="zero")
    rng = np.random.default_rng(check_int_in(seed, 0, None, name="seed"))
    A = rng.normal(scale=1 / math.sqrt(n), size=(n, r))
    B = rng.normal(scale=1 / math.sqrt(r), size=(r, m))
    if zero == "A":
        A[:] = 0.0
    elif zero == "B":
        B[:] = 0.0
    return A, B


def loraplus_ratio(n, m, r, rule: str = "su"):
    """The learning-rate ratio eta_B / eta_A a width count predicts.

    * "su":        (n/m) sqrt(n/r)   the post's count, eta_A n r r^{-1/2} = eta_B m r n^{-1/2}
    * "isotropic": n / sqrt(m r)     the same count keeping the widths of the sums inside each
                                     gradient entry (sqrt(m) in dA, sqrt(n) in dB), isotropic dY
    * "paper":     n                 the LoRA+ paper's Theta(n), constant 1
    The first two agree when m = n. Accepts scalars or arrays (numpy).
    """
    check_choice(rule, RATIO_RULES, name="rule")
    vals = []
    for name, v in (("n", n), ("m", m), ("r", r)):
        arr, _ = as_float_array(v, name=name, min_ndim=0)
        if not (arr > 0).all():
            raise ValueError(f"{name} must be > 0, got {v!r}")
        vals.append(arr)
    n, m, r = vals
    if not (r <= np.minimum(n, m)).all():     # a rank: r <= min(n, m)
        raise ValueError(f"r must be <= min(n, m) (the rank of a factorisation), got r={r!r}")
    if rule == "su":
        out = n / m * np.sqrt(n / r)
    elif rule == "isotropic":
        out = n / np.sqrt(m * r)
    else:
        out = n * np.ones_like(m * r)
    return out[()] if out.ndim == 0 else out


def contribution_ratio(dA, dB) -> float:
    """rho = ||dL/dA||_1 / ||dL/dB||_1 (entrywise L1 norms).

    Under SignSGD (Adam with beta1 = beta2 = 0) one step changes the loss by
    -eta_A ||dA||_1 - eta_B ||dB||_1 to first order, so eta_B / eta_A = rho makes the two
    factors' contributions equal. numpy or torch in, float out.
    """
    dA, _ = as_float_array(dA, name="dA", min_ndim=2, max_ndim=2)
    dB, _ = as_float_array(dB, name="dB", min_ndim=2, max_ndim=2)
    den = float(abs(dB).sum())
    if not den > 0:
        raise ValueError("dB must not be all zero (the ratio is infinite)")
    return float(abs(dA).sum()) / den


def random_contribution_ratio(n: int, m: int, r: int, *, b: int = 32, seed: int = 0) -> float:
    """rho measured on one random draw: X, dY with N(0, 1) entries, (A, B) from
    :func:`lecun_lora_init`. Only dA and dB are formed (never an n x m matrix), so widths of
    thousands are cheap. numpy float64.
    """
    A, B = lecun_lora_init(n, r, m, seed=seed)
    rng = np.random.default_rng([check_int_in(seed, 0, None, name="seed"), 1])
    b = check_int_in(b, 1, None, name="b")
    X = rng.normal(size=(b, n))
    dY = rng.normal(size=(b, m))
    return contribution_ratio(*lora_grads(X, A, B, dY))


def loraplus_param_groups(named_parameters: Iterable[tuple[str, torch.nn.Parameter]], lr: float,
                          ratio: float, *, weight_decay: float = 0.0) -> list[dict]:
    """Optimiser parameter groups in the LoRA+ way (torch), the rule of peft's
    ``create_loraplus_optimizer``: parameters whose name contains "lora_B" **and every 1-D
    parameter** (biases, norm weights) get lr * ratio; the other trainable ones (lora_A) get lr.
    Weight decay is `weight_decay` except for 1-D parameters (0). peft exempts biases and the
    parameters of LayerNorm layers instead, which coincide for the usual models; a 1-D parameter
    that is neither (a custom norm scale) gets decay in peft and none here. Frozen parameters are
    skipped.
    Returns ``[{"params", "lr", "weight_decay", "names"}, ...]`` (two groups: A side, B side).
    peft also puts LoRA *embedding* layers in a third group (lr 1e-6); not handled here.
    """
    lr = check_positive(lr, name="lr")
    ratio = check_positive(ratio, name="ratio")
    weight_decay = check_nonnegative(weight_decay, name="weight_decay")
    side_a, side_b_decay, side_b_plain = [], [], []
    if named_parameters is None or isinstance(named_parameters, (str, bytes, int, float)):
        raise ValueError(f"named_parameters must be an iterable of (name, parameter) pairs, "
                         f"got {named_parameters!r}")
    for name, p in named_parameters:
        if not p.requires_grad:
            continue
        if "lora_B" in name or p.ndim == 1:
            (side_b_plain if p.ndim == 1 else side_b_decay).append((name, p))
        else:
            side_a.append((name, p))
    if not (side_b_decay or side_b_plain):
        raise ValueError("named_parameters must contain a trainable 'lora_B' or 1-D parameter")
    groups = [(side_a, lr, weight_decay), (side_b_decay, lr * ratio, weight_decay),
              (side_b_plain, lr * ratio, 0.0)]
    return [{"params": [p for _, p in g], "names": [nm for nm, _ in g], "lr": glr,
             "weight_decay": wd} for g, glr, wd in groups if g]


def lora_sweep(n: int, r: int, lrs: Sequence[float], ratios: Sequence[float], *, steps: int = 30,
               batch: int = 64, seed: int = 0, k: int = 16, betas=(0.9, 0.999),
               eps: float = 1e-12, zero: str = "B", return_factors: bool = False):
    """Train a rank-r LoRA on a linear teacher for every (ratio, eta_A) pair at once (torch,
    float64, closed-form gradients of :func:`lora_grads`, Adam written out).

    Task: inputs x = z P / sqrt(k) with z ~ N(0, I_k) (low-rank features, like activations),
    teacher Y* = x W*, W* = U V of rank r (U ~ N(0, 1/n), V ~ N(0, 1/r)), square layer m = n.
    Student A ~ N(0, 1/n), B = 0 (zero="B", LoRA's usual start) or A = 0, B ~ N(0, 1/r)
    (zero="A"); loss (1/2bm) ||x A B - Y*||^2 on a fresh batch each step;
    eta_B = ratio * eta_A. Returns the relative error E||x(AB - W*)||^2 / E||x W*||^2 after
    `steps` steps, computed exactly from the input covariance, shape (len(ratios), len(lrs));
    diverged runs are +inf. With `return_factors`, also the trained (A, B) as float64 tensors of
    shapes (len(ratios), len(lrs), n, r) and (len(ratios), len(lrs), r, n), and the input map
    P (k, n) (inputs live in its row space; the rest of A never meets an input).
    """
    n = check_int_in(n, 2, 4096, name="n")
    r = check_int_in(r, 1, n, name="r")
    steps = check_int_in(steps, 1, 10_000, name="steps")
    batch = check_int_in(batch, 1, None, name="batch")
    k = check_int_in(k, 1, n, name="k")
    seed = check_int_in(seed, 0, None, name="seed")
    eps = check_nonnegative(eps, name="eps")
    check_choice(zero, ["A", "B"], name="zero")
    lrs_a, _ = as_float_array(lrs, name="lrs", max_ndim=1)
    lams, _ = as_float_array(ratios, name="ratios", max_ndim=1)
    if not ((lrs_a > 0).all() and (lams > 0).all()):
        raise ValueError("lrs and ratios must be > 0")
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
    b1 = check_in_range(betas[0], 0, 1, name="betas[0]", hi_open=True)
    b2 = check_in_range(betas[1], 0, 1, name="betas[1]", hi_open=True)
    f64 = torch.float64
    g = torch.Generator().manual_seed(seed)
    P = torch.randn(k, n, generator=g, dtype=f64)
    W = (torch.randn(n, r, generator=g, dtype=f64) / math.sqrt(n)) @ (
        torch.randn(r, n, generator=g, dtype=f64) / math.sqrt(r))
    A0 = torch.randn(n, r, generator=g, dtype=f64) / math.sqrt(n)
    G = len(lams) * len(lrs_a)
    eta_a = torch.tensor(np.tile(lrs_a, len(lams)), dtype=f64).reshape(G, 1, 1)   # row = ratio
    eta_b = eta_a * torch.tensor(np.repeat(lams, len(lrs_a)), dtype=f64).reshape(G, 1, 1)
    if zero == "B":
        A = A0.expand(G, n, r).clone()
        B = torch.zeros(G, r, n, dtype=f64)
    else:
        A = torch.zeros(G, n, r, dtype=f64)
        B = (A0.T * math.sqrt(n / r)).expand(G, r, n).clone()          # N(0, 1/r) entries
    state = [torch.zeros_like(A), torch.zeros_like(A), torch.zeros_like(B), torch.zeros_like(B)]
    for t in range(1, steps + 1):
        X = torch.randn(batch, k, generator=g, dtype=f64) @ P / math.sqrt(k)      # (b, n)
        XA = X @ A                                                                # (G, b, r)
        dY = (XA @ B - X @ W) / (batch * n)                                       # (G, b, m)
        dA = X.T @ (dY @ B.transpose(1, 2))                                       # X^T dY B^T
        dB = XA.transpose(1, 2) @ dY                                              # (XA)^T dY
        for p, grad, mom, sq, eta in ((A, dA, state[0], state[1], eta_a),
                                      (B, dB, state[2], state[3], eta_b)):
            mom.mul_(b1).add_(grad, alpha=1 - b1)
            sq.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            # Adam: theta -= eta * m_hat / (sqrt(v_hat) + eps)
            p.sub_(eta * (mom / (1 - b1 ** t)) / ((sq / (1 - b2 ** t)).sqrt() + eps))
    C = P.T @ P / k                                                               # E[x^T x]
    D = A @ B - W
    err = torch.einsum("gij,ik,gkj->g", D, C, D) / torch.einsum("ij,ik,kj->", W, C, W)
    out = err.reshape(len(lams), len(lrs_a)).numpy().copy()
    out[~np.isfinite(out)] = np.inf
    if return_factors:
        return out, A.reshape(len(lams), len(lrs_a), n, r), B.reshape(len(lams), len(lrs_a), r, n), P
    return out
