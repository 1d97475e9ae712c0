"""Load balancing of a top-k router: the auxiliary loss F.P and its straight-through derivation.

Chapter: moe-load-balance (Su Jianlin, "MoE环游记:2、不患寡而患不均", kexue.fm/archives/10735).

Notation of the post, for T tokens and n experts: p = the router's normalised scores (T, n),
f = 1/k on each token's top-k experts and 0 elsewhere, P = mean_t p, F = mean_t f (the load,
summing to 1). The usual auxiliary loss F.P has the gradient of (1/2)|F - Q|^2 once F is
replaced by the straight-through P + sg[F - P]. torch throughout (autograd is the point);
:func:`load_metrics` and :func:`dropped_fraction` also take numpy.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .._validate import (as_float_array, check_choice, check_int_in, check_nonnegative,
                         check_positive, check_real, check_tensor, is_tensor)

__all__ = ["router_stats", "aux_loss_fp", "aux_loss_ste", "entropy_surrogate", "load_metrics",
           "dropped_fraction", "switch_aux_loss", "mixtral_aux_loss", "deepseek_aux_loss",
           "simulate_balancing", "BALANCING"]

#: The balancing rules :func:`simulate_balancing` knows.
BALANCING = ("none", "fp", "ste_sq", "ste_entropy", "bias")


def _logits(x, name="logits"):
    check_tensor(x, name=name)
    x, _ = as_float_array(x, name=name, min_ndim=2, max_ndim=2)
    return x


def router_stats(scores, k: int, normalize: str = "softmax", select_bias=None):
    """(p, f, P, F) of a router: p (T, n) normalised scores, f (T, n) = 1/k on the top-k.

    normalize "softmax": scores are logits, p = softmax(scores); "sum": scores are the
    non-negative rho of the post, p = rho / sum_j rho_j. The top-k is taken on the scores (the
    same experts as on p, softmax being increasing), plus `select_bias` (n,) if given: a bias that
    changes which experts are chosen but not p (loss-free balancing). P = mean_t p carries the
    gradient; f and F carry none. torch only.
    """
    s = _logits(scores, "scores")
    T, n = s.shape
    k = check_int_in(k, 1, n, name="k")
    check_choice(normalize, ["softmax", "sum"], name="normalize")
    if normalize == "softmax":
        p = torch.softmax(s, dim=-1)
    else:
        if bool((s < 0).any()) or bool((s.sum(-1) <= 0).any()):
            raise ValueError("scores must be non-negative with a positive sum per token for normalize='sum'")
        p = s / s.sum(-1, keepdim=True)                             # p_i = rho_i / sum_j rho_j
    sel = s.detach()
    if select_bias is not None:
        b = check_tensor(select_bias, name="select_bias")
        if tuple(b.shape) != (n,):
            raise ValueError(f"select_bias must have shape ({n},), got {tuple(b.shape)}")
        sel = sel + b.detach().to(sel.dtype)
    idx = torch.topk(sel, k, dim=-1).indices
    f = torch.zeros_like(p).scatter_(1, idx, 1.0 / k)               # f_i = 1/k on argtop_k
    return p, f, p.mean(0), f.mean(0)


def _PF(P, F):
    check_tensor(P, name="P")
    check_tensor(F, name="F")
    P, _ = as_float_array(P, name="P", min_ndim=1, max_ndim=1)
    F, _ = as_float_array(F, name="F", min_ndim=1, max_ndim=1)
    if P.shape != F.shape:
        raise ValueError(f"F must have the shape of P {tuple(P.shape)}, got {tuple(F.shape)}")
    return P, F


def aux_loss_fp(P, F, scale: str = "su"):
    """The usual auxiliary loss: F.P = sum_i F_i P_i (F treated as a constant).

    scale "su" as in the post; "n" multiplies by the number of experts (GShard/Switch). torch."""
    P, F = _PF(P, F)
    check_choice(scale, ["su", "n"], name="scale")
    loss = (F.detach() * P).sum()                                   # F . P
    return loss * P.shape[0] if scale == "n" else loss


def aux_loss_ste(P, F, target=None, kind: str = "sq", eps: float = 1e-12):
    """A balance objective written in F, made trainable by F -> F~ = P + sg[F - P].

    kind "sq": (1/2)|F~ - Q|^2 (Q = `target`, uniform by default); "entropy": sum_i F~_i log F~_i
    (negative entropy, minimal at uniform; log clamped at eps so an unused expert gives a large
    finite gradient, not -inf). The forward value is the objective at F itself. torch."""
    P, F = _PF(P, F)
    check_choice(kind, ["sq", "entropy"], name="kind")
    eps = check_positive(eps, name="eps")
    n = P.shape[0]
    Ft = P + (F - P).detach()                                       # value F, gradient of P
    if kind == "entropy":
        if target is not None:
            raise ValueError("target must be None for kind='entropy' (its optimum is uniform)")
        return (Ft * torch.log(Ft.clamp_min(eps))).sum()
    if target is None:
        Q = torch.full_like(P, 1.0 / n)
    else:
        Q = check_tensor(target, name="target").to(P.dtype)
        if tuple(Q.shape) != (n,) or bool((Q < 0).any()) or abs(float(Q.sum()) - 1) > 1e-9:
            raise ValueError(f"target must be a distribution over the {n} experts")
    return 0.5 * ((Ft - Q) ** 2).sum()                              # (1/2)|F~ - Q|^2


def entropy_surrogate(P, F):
    """The post's simplified entropy loss sum_i P_i log F_i (F constant). Needs every F_i > 0:
    same gradient as aux_loss_ste(kind="entropy") when P sums to 1. torch."""
    P, F = _PF(P, F)
    if bool((F <= 0).any()):
        raise ValueError("F must be positive in every entry (log F_i)")
    return (P * torch.log(F.detach())).sum()


def load_metrics(F) -> dict:
    """max_load_ratio = n max_i F_i (1 when balanced), entropy_norm = H(F)/log n (1 when
    balanced), dead = number of experts with F_i = 0. numpy or torch in, floats out."""
    F, t = as_float_array(F, name="F", min_ndim=1, max_ndim=1)
    F = F.detach().cpu().numpy() if t else F
    if np.any(F < 0) or abs(F.sum() - 1) > 1e-9:
        raise ValueError("F must be a load distribution (non-negative, summing to 1)")
    n = F.size
    nz = F[F > 0]
    ent = float(-(nz * np.log(nz)).sum() / math.log(n)) if n > 1 else 1.0
    return {"max_load_ratio": float(n * F.max()), "entropy_norm": ent, "dead": int(np.sum(F == 0))}


def dropped_fraction(F, capacity_factor: float = 1.0) -> float:
    """Share of the T k token-slots dropped when each expert takes capacity_factor T k / n slots:
    sum_i max(0, F_i - capacity_factor / n). numpy or torch in, float out."""
    F, t = as_float_array(F, name="F", min_ndim=1, max_ndim=1)
    F = F.detach().cpu().numpy() if t else F
    cf = check_positive(capacity_factor, name="capacity_factor")
    return float(np.maximum(F - cf / F.size, 0.0).sum())


def switch_aux_loss(router_probs, expert_index):
    """Switch Transformer's loss (top-1): n * sum_i (share of tokens sent to i) * (mean prob of i).

    Written from the paper's definition (Fedus et al. 2021, eq. 4), not from the post's
    notation; router_probs (T, n), expert_index (T,) integers. torch."""
    pr = _logits(router_probs, "router_probs")
    check_tensor(expert_index, name="expert_index")
    T, n = pr.shape
    if tuple(expert_index.shape) != (T,) or expert_index.is_floating_point() or \
            bool((expert_index < 0).any()) or bool((expert_index >= n).any()):
        raise ValueError(f"expert_index must hold T = {T} integers in [0, {n - 1}]")
    share = torch.bincount(expert_index, minlength=n).to(pr.dtype) / T    # f_i of the paper
    return n * (share * pr.mean(0)).sum()


def mixtral_aux_loss(logits, k: int):
    """The Mixtral/HF convention: n * sum_i (tokens with i among their top-k / T) * (mean prob of i).

    The token shares sum to k here (not 1), so this is n k F.P in the post's notation. torch."""
    s = _logits(logits, "logits")
    T, n = s.shape
    k = check_int_in(k, 1, n, name="k")
    probs = torch.softmax(s, dim=-1)
    chosen = torch.topk(probs, k, dim=-1).indices
    counts = torch.zeros(n, dtype=s.dtype).index_add_(0, chosen.reshape(-1),
                                                     torch.ones(T * k, dtype=s.dtype))
    return n * ((counts / T) * probs.mean(0)).sum()


def deepseek_aux_loss(logits, k: int):
    """The DeepSeekMoE/V2/V3 expert-level balance loss (without its coefficient alpha):
    sum_i f_i P_i with f_i = n / (k T) * #{tokens choosing i} and P_i = mean_t softmax_i.

    Written from the DeepSeek-V2 report's definition; f_i = n F_i, so this is n F.P. torch."""
    s = _logits(logits, "logits")
    T, n = s.shape
    k = check_int_in(k, 1, n, name="k")
    probs = torch.softmax(s, dim=-1)
    chosen = torch.topk(s, k, dim=-1).indices
    counts = torch.bincount(chosen.reshape(-1), minlength=n).to(s.dtype)
    f = n / (k * T) * counts
    return (f * probs.mean(0)).sum()


def simulate_balancing(rule: str = "fp", steps: int = 300, lr: float = 1.0, T: int = 1024,
                       d: int = 16, n: int = 8, k: int = 2, skew: float = 2.0, seed: int = 0,
                       target=None, record_every: int = 1, router: str = "softmax") -> dict:
    """Train only a linear router on a balancing rule and record the loads.

    Router: logits = x W + b, W (d, n) ~ N(0, 0.5^2), b = (skew, skew/2, 0, ..., 0) favouring
    experts 0 and 1; each step draws T fresh tokens x ~ N(0, I_d) (the same tokens for every
    rule, seeded). Rules: "fp" F.P; "ste_sq" (1/2)|P + sg[F-P] - Q|^2 (Q = `target` or uniform);
    "ste_entropy"; "none"; "bias": no loss, a selection bias u moved by -lr sign(F - 1/n) after
    each step (loss-free balancing of the next post). Plain SGD with step size lr, float64.
    router "softmax": P = mean softmax (a distribution); "sigmoid": P = mean sigmoid(logits),
    NOT normalised (the post's E[rho] for routers whose scores are not a distribution);
    "linear": P = mean logits, signed and unnormalised (rho with both signs).
    Returns steps (recorded), F, P (recorded, n), max_load_ratio, entropy_norm, and params
    (W and b flattened per recorded step) for trajectory comparisons.
    """
    check_choice(rule, BALANCING, name="rule")
    steps = check_int_in(steps, 0, 100_000, name="steps")
    lr = check_positive(lr, name="lr")
    T = check_int_in(T, 1, None, name="T")
    d = check_int_in(d, 1, None, name="d")
    n = check_int_in(n, 2, None, name="n")
    k = check_int_in(k, 1, n - 1, name="k")
    skew = check_real(skew, name="skew")
    seed = check_int_in(seed, 0, None, name="seed")
    record_every = check_int_in(record_every, 1, None, name="record_every")
    check_choice(router, ["softmax", "sigmoid", "linear"], name="router")
    if target is not None and rule != "ste_sq":
        raise ValueError("target must be None unless rule='ste_sq'")
    g = torch.Generator().manual_seed(seed)
    W = (0.5 * torch.randn(d, n, generator=g, dtype=torch.float64)).requires_grad_()
    b0 = torch.zeros(n, dtype=torch.float64)
    b0[0], b0[1] = skew, skew / 2
    b = b0.clone().requires_grad_()
    u = torch.zeros(n, dtype=torch.float64)                          # selection bias ("bias")
    Q = None if target is None else torch.as_tensor(target, dtype=torch.float64)
    rec = {"steps": [], "F": [], "P": [], "params": []}
    for step in range(steps + 1):
        x = torch.randn(T, d, generator=g, dtype=torch.float64)
        logit = x @ W + b
        _, _, P, F = router_stats(logit, k, select_bias=u if rule == "bias" else None)
        if router == "sigmoid":
            P = torch.sigmoid(logit).mean(0)                           # E[rho], not normalised
        elif router == "linear":
            P = logit.mean(0)                                          # E[rho], signed
        if step % record_every == 0 or step == steps:
            rec["steps"].append(step)
            rec["F"].append(F.numpy().copy())
            rec["P"].append(P.detach().numpy().copy())
            rec["params"].append(torch.cat([W.detach().ravel(), b.detach()]).numpy().copy())
        if step == steps:
            break
        if rule in ("none", "bias"):
            if rule == "bias":
                u -= lr * torch.sign(F - 1.0 / n)                     # u_i <- u_i - lr sign(F_i - 1/n)
            continue
        if rule == "fp":
            loss = aux_loss_fp(P, F)
        elif rule == "ste_sq":
            loss = aux_loss_ste(P, F, target=Q)
        else:
            loss = aux_loss_ste(P, F, kind="entropy")
        gW, gb = torch.autograd.grad(loss, (W, b))
        with torch.no_grad():
            W -= lr * gW
            b -= lr * gb
    out = {key: np.asarray(v) for key, v in rec.items()}
    mets = [load_metrics(F) for F in out["F"]]
    out["max_load_ratio"] = np.array([m["max_load_ratio"] for m in mets])
    out["entropy_norm"] = np.array([m["entropy_norm"] for m in mets])
    return out
