"""MoE as the best k-term approximation of a dense FFN split into experts.

Chapter: moe-geometry (Su Jianlin, "MoE环游记:1、从几何意义出发", kexue.fm/archives/10699).

An FFN y = f(x W_A) W_B with an element-wise f is exactly the sum of n "experts"
v_i = f(x W_A[:, block i]) W_B[block i, :]. MoE keeps k of the n terms. Keeping the k largest
norms is optimal when the v_i are orthogonal and a heuristic otherwise; the geometric MoE lets a
cheap router predict the norms p_i and evaluates only the selected directions e_i = v_i/|v_i|.

numpy in -> numpy out, torch in -> torch out (autograd kept) for the forward maps
(:func:`dense_ffn`, :func:`expert_outputs`, :func:`geometric_moe`, ...); the studies and the
brute-force search are numpy only; :func:`train_digits_ffn` trains with torch in float64.
"""
from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import torch
from scipy.special import erf

from .._validate import (as_float_array, check_choice, check_int_in, check_nonnegative, check_seed,
                         check_positive, check_shape, is_tensor, like_input)
from ..datasets import digits

__all__ = ["ACTIVATIONS", "dense_ffn", "expert_outputs", "glu_ffn", "glu_expert_outputs",
           "topk_by_norm", "subset_error", "best_subset", "random_subsets", "orthogonal_experts",
           "random_experts", "norm_rule_study", "sampling_variance", "min_variance_probs",
           "rms_normalize", "geometric_moe", "pairwise_cosines", "fit_norm_router",
           "predict_norms", "train_digits_ffn", "digits_expert_study"]

#: The element-wise activations the block identity is stated for.
ACTIVATIONS = ("relu", "gelu", "tanh")


def _act(h, act: str):
    """f(h) element-wise, numpy or torch."""
    if is_tensor(h):
        return {"relu": torch.relu, "tanh": torch.tanh,
                "gelu": lambda t: torch.nn.functional.gelu(t)}[act](h)
    # gelu(h) = h Phi(h) = h (1 + erf(h / sqrt 2)) / 2
    return {"relu": lambda a: np.maximum(a, 0.0), "tanh": np.tanh,
            "gelu": lambda a: 0.5 * a * (1.0 + erf(a / math.sqrt(2.0)))}[act](h)


def _same_kind(name_arrays: list[tuple[str, object]], min_ndims: list[int], max_ndims: list[int]):
    """Validate several arrays that must be all numpy or all torch; return (arrays, is_torch)."""
    out, kinds = [], []
    for (name, a), lo, hi in zip(name_arrays, min_ndims, max_ndims):
        arr, t = as_float_array(a, name=name, min_ndim=lo, max_ndim=hi)
        out.append(arr)
        kinds.append(t)
    if len(set(kinds)) > 1:
        bad = name_arrays[kinds.index(not kinds[0])][0]
        raise ValueError(f"{bad} must be of the same kind (numpy or torch) as {name_arrays[0][0]}")
    return out, kinds[0]


def _ffn_shapes(x, WA, WB, n=None, name_b="WB"):
    d, D = WA.shape
    if x.shape[-1] != d:
        raise ValueError(f"x must have last axis {d} (rows of WA), got shape {tuple(x.shape)}")
    if WB.shape[0] != D:
        raise ValueError(f"{name_b} must have {D} rows (columns of WA), got shape {tuple(WB.shape)}")
    if n is not None:
        check_int_in(n, 1, D, name="n")
        if D % n:
            raise ValueError(f"n must divide the hidden width D = {D}, got {n}")
    return d, D


def dense_ffn(x, WA, WB, act: str = "relu"):
    """The dense FFN y = f(x W_A) W_B, x (..., d), W_A (d, D), W_B (D, d_out) -> (..., d_out)."""
    check_choice(act, ACTIVATIONS, name="act")
    (x, WA, WB), t = _same_kind([("x", x), ("WA", WA), ("WB", WB)], [1, 2, 2], [None, 2, 2])
    _ffn_shapes(x, WA, WB)
    return _act(x @ WA, act) @ WB


def expert_outputs(x, WA, WB, n: int, act: str = "relu"):
    """The n experts of a dense FFN: v_i = f(x W_A[:, (i-1)c:ic]) W_B[(i-1)c:ic, :], c = D/n.

    Returns (..., n, d_out); summed over the expert axis it is :func:`dense_ffn` exactly
    (the block-matrix identity of the post), because f acts on each hidden unit separately.
    """
    check_int_in(n, 1, None, name="n")
    check_choice(act, ACTIVATIONS, name="act")
    (x, WA, WB), t = _same_kind([("x", x), ("WA", WA), ("WB", WB)], [1, 2, 2], [None, 2, 2])
    d, D = _ffn_shapes(x, WA, WB, n)
    c = D // n
    h = _act(x @ WA, act).reshape(*x.shape[:-1], n, c)           # (..., n, c)
    WBb = WB.reshape(n, c, WB.shape[1])                           # (n, c, d_out)
    ein = torch.einsum if t else np.einsum
    return ein("...nc,nco->...no", h, WBb)                         # v_i, (..., n, d_out)


def glu_ffn(x, WA, WG, WB, act: str = "relu"):
    """A GLU block y = (f(x W_A) * (x W_G)) W_B (the mainstream MLP the post mentions)."""
    check_choice(act, ACTIVATIONS, name="act")
    (x, WA, WG, WB), t = _same_kind([("x", x), ("WA", WA), ("WG", WG), ("WB", WB)],
                                    [1, 2, 2, 2], [None, 2, 2, 2])
    _ffn_shapes(x, WA, WB)
    check_shape(WG, tuple(WA.shape), name="WG")
    return (_act(x @ WA, act) * (x @ WG)) @ WB


def glu_expert_outputs(x, WA, WG, WB, n: int, act: str = "relu"):
    """GLU experts: v_i = (f(x W_A,i) * (x W_G,i)) W_B,i with W_A and W_G split in the SAME blocks.

    The gate multiplies hidden unit j by (x W_G)_j only, so the GLU is still element-wise per
    hidden unit and the sum over experts is :func:`glu_ffn` exactly. (..., n, d_out).
    """
    check_int_in(n, 1, None, name="n")
    check_choice(act, ACTIVATIONS, name="act")
    (x, WA, WG, WB), t = _same_kind([("x", x), ("WA", WA), ("WG", WG), ("WB", WB)],
                                    [1, 2, 2, 2], [None, 2, 2, 2])
    d, D = _ffn_shapes(x, WA, WB, n)
    check_shape(WG, tuple(WA.shape), name="WG")
    c = D // n
    h = (_act(x @ WA, act) * (x @ WG)).reshape(*x.shape[:-1], n, c)
    ein = torch.einsum if t else np.einsum
    return ein("...nc,nco->...no", h, WB.reshape(n, c, WB.shape[1]))


def _experts(V, name="V"):
    V, t = as_float_array(V, name=name, min_ndim=2)
    return V, t


def _norms(V):
    return torch.linalg.vector_norm(V, dim=-1) if is_tensor(V) else np.linalg.norm(V, axis=-1)


def topk_by_norm(V, k: int):
    """Indices of the k experts with the largest |v_i|, largest first. V (..., n, d) -> (..., k).

    Ties are broken by the lower index (torch.topk and a stable argsort agree on that)."""
    V, t = _experts(V)
    k = check_int_in(k, 1, V.shape[-2], name="k")
    nr = _norms(V)
    if t:
        return torch.topk(nr, k, dim=-1, sorted=True).indices
    return np.argsort(-nr, axis=-1, kind="stable")[..., :k]


def _mask(idx, n: int, like):
    """0/1 mask (..., n) with ones at idx (..., k); refuses out-of-range or repeated indices."""
    if is_tensor(idx):
        idx = idx.detach().cpu().numpy()
    idx = np.asarray(idx)
    if idx.dtype.kind not in "iu" or idx.size == 0 or idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"idx must hold integer expert indices in [0, {n - 1}]")
    m = np.zeros(idx.shape[:-1] + (n,))
    np.put_along_axis(m, idx, 1.0, axis=-1)
    if not np.all(m.sum(-1) == idx.shape[-1]):
        raise ValueError("idx must not repeat an expert within a row")
    return m


def subset_error(V, idx):
    """Relative error of keeping the experts idx: |sum_{i in S} v_i - sum_i v_i| / |sum_i v_i|.

    V (..., n, d), idx (..., k) integer indices -> (...,). Equal to |sum of the dropped v_i| /
    |sum of all v_i| (the post's gamma form). numpy only."""
    V, t = _experts(V)
    if t:
        V = V.detach().cpu().numpy()
    if np.ndim(idx) != V.ndim - 1 or tuple(np.shape(idx)[:-1]) != V.shape[:-2]:
        raise ValueError(f"idx must have shape {V.shape[:-2]} + (k,) (the leading axes of V, "
                         f"shape {V.shape}), got {tuple(np.shape(idx))}")
    m = _mask(idx, V.shape[-2], V)
    total = V.sum(-2)                                            # sum_i v_i
    tn = np.linalg.norm(total, axis=-1)
    if np.any(tn == 0):
        raise ValueError("V must have a non-zero sum of experts in every row")
    # |sum_i gamma_i v_i| / |sum_i v_i| with gamma = 1 - lambda
    return np.linalg.norm(((1.0 - m)[..., None] * V).sum(-2), axis=-1) / tn


def best_subset(V, k: int, max_subsets: int = 200_000):
    """Brute force: the k experts whose sum is nearest the full sum, over all C(n, k) subsets.

    V (n, d) or (B, n, d) numpy -> (idx (..., k) sorted, relative error (...,)). Uses the Gram
    matrix: |sum_i gamma_i v_i|^2 = gamma^T G gamma with G = V V^T. Refuses C(n, k) > max_subsets.
    """
    V, t = _experts(V)
    if t:
        V = V.detach().cpu().numpy()
    if V.ndim > 3:
        raise ValueError(f"V must have shape (n, d) or (B, n, d), got {V.shape}")
    n = V.shape[-2]
    k = check_int_in(k, 1, n, name="k")
    check_int_in(max_subsets, 1, None, name="max_subsets")
    if math.comb(n, k) > max_subsets:
        raise ValueError(f"max_subsets: C({n}, {k}) = {math.comb(n, k)} subsets exceed {max_subsets}")
    single = V.ndim == 2
    Vb = V[None] if single else V
    combos = np.array(list(itertools.combinations(range(n), k)))          # (S, k)
    keep = np.zeros((len(combos), n))
    np.put_along_axis(keep, combos, 1.0, axis=1)
    gam = 1.0 - keep                                                        # dropped, (S, n)
    G = np.einsum("bnd,bmd->bnm", Vb, Vb)                                   # (B, n, n)
    full = G.sum((1, 2))
    if np.any(full <= 0):
        raise ValueError("V must have a non-zero sum of experts in every row")
    err2 = ((gam @ G) * gam).sum(-1)                                        # gamma^T G gamma, (B, S)
    j = np.argmin(err2, axis=1)
    idx, err = combos[j], np.sqrt(np.maximum(err2[np.arange(len(j)), j], 0.0) / full)
    return (idx[0], err[0]) if single else (idx, err)


def random_subsets(n: int, k: int, batch: int, seed: int = 0) -> np.ndarray:
    """k distinct experts per row, uniformly at random: (batch, k) integer indices. numpy."""
    n = check_int_in(n, 1, None, name="n")
    k = check_int_in(k, 1, n, name="k")
    batch = check_int_in(batch, 1, None, name="batch")
    rng = np.random.default_rng(check_int_in(seed, 0, None, name="seed"))
    return np.argsort(rng.random((batch, n)), axis=1)[:, :k]


def orthogonal_experts(n: int, d: int, seed: int = 0, scale: tuple[float, float] = (0.2, 2.0)):
    """n pairwise orthogonal vectors in R^d (d >= n) with norms uniform in `scale`. (n, d) numpy."""
    n = check_int_in(n, 1, None, name="n")
    d = check_int_in(d, n, None, name="d")
    check_shape(as_float_array(scale, name="scale", max_ndim=1)[0], (2,), name="scale")
    lo, hi = check_positive(scale[0], name="scale"), check_positive(scale[1], name="scale")
    if not lo < hi:
        raise ValueError(f"scale must be (low, high) with low < high, got {scale}")
    rng = np.random.default_rng(check_int_in(seed, 0, None, name="seed"))
    q, _ = np.linalg.qr(rng.standard_normal((d, n)))                         # orthonormal columns
    return rng.uniform(lo, hi, n)[:, None] * q.T


def random_experts(trials: int, n: int, d: int, seed: int = 0,
                   scale: tuple[float, float] = (0.2, 2.0)) -> np.ndarray:
    """(trials, n, d) vectors with isotropic random directions and norms uniform in `scale`."""
    trials = check_int_in(trials, 1, None, name="trials")
    n = check_int_in(n, 1, None, name="n")
    d = check_int_in(d, 1, None, name="d")
    check_shape(as_float_array(scale, name="scale", max_ndim=1)[0], (2,), name="scale")
    lo, hi = check_positive(scale[0], name="scale"), check_positive(scale[1], name="scale")
    if not lo < hi:
        raise ValueError(f"scale must be (low, high) with low < high, got {scale}")
    rng = np.random.default_rng(check_int_in(seed, 0, None, name="seed"))
    g = rng.standard_normal((trials, n, d))
    return rng.uniform(lo, hi, (trials, n, 1)) * g / np.linalg.norm(g, axis=-1, keepdims=True)


def norm_rule_study(dims, n: int = 8, k: int = 3, trials: int = 200, seed: int = 0) -> dict:
    """How good is "keep the k largest norms" when the experts are NOT orthogonal?

    For each dimension: `trials` random expert sets (:func:`random_experts`), the norm rule's
    error against the brute-force optimum. Returns arrays over dims: share of trials where the
    rule is optimal, median and worst error ratio (rule / optimum), mean |cos| between experts.
    numpy only."""
    check_seed(seed)
    if (np.asarray(dims, dtype=object).ndim > 1 or np.size(dims) == 0
            or np.atleast_1d(np.asarray(dims)).dtype.kind not in "iu"):
        raise ValueError(f"dims must be an integer or a non-empty 1-D list of integers, "
                         f"got {dims!r}")
    dims = [check_int_in(int(v), 1, None, name="dims") for v in np.atleast_1d(dims)]
    out = {"dims": np.array(dims), "optimal_share": [], "median_ratio": [], "worst_ratio": [],
           "mean_abs_cos": []}
    for j, d in enumerate(dims):
        V = random_experts(trials, n, d, seed=seed + j)
        e_rule = subset_error(V, topk_by_norm(V, k))
        _, e_best = best_subset(V, k)
        ratio = e_rule / np.maximum(e_best, 1e-300)
        out["optimal_share"].append(np.mean(e_rule <= e_best * (1 + 1e-9) + 1e-15))
        out["median_ratio"].append(np.median(ratio))
        out["worst_ratio"].append(ratio.max())
        out["mean_abs_cos"].append(np.abs(pairwise_cosines(V)).mean())
    return {key: np.asarray(v) for key, v in out.items()}


def sampling_variance(V, q):
    """Total variance of the one-draw unbiased estimate v_I / q_I of sum_i v_i, I ~ q.

    E|v_I/q_I|^2 - |sum v|^2 = sum_i |v_i|^2 / q_i - |sum_i v_i|^2 (the CR post's criterion).
    V (n, d), q (n,) a distribution with q_i > 0. numpy."""
    V, _ = as_float_array(V, name="V", min_ndim=2, max_ndim=2)
    q, _ = as_float_array(q, name="q", min_ndim=1, max_ndim=1)
    V, q = like_input(V, False), like_input(q, False)
    if q.shape[0] != V.shape[0] or np.any(q <= 0) or abs(q.sum() - 1) > 1e-9:
        raise ValueError(f"q must be a positive distribution over the {V.shape[0]} experts")
    return float((np.sum(V**2, axis=1) / q).sum() - np.sum(V.sum(0) ** 2))


def min_variance_probs(V) -> np.ndarray:
    """q_i = |v_i| / sum_j |v_j|: minimises :func:`sampling_variance` (Cauchy-Schwarz). numpy."""
    V, _ = as_float_array(V, name="V", min_ndim=2, max_ndim=2)
    V = like_input(V, False)
    nr = np.linalg.norm(V, axis=1)
    if nr.sum() == 0:
        raise ValueError("V must have at least one non-zero expert")
    return nr / nr.sum()


def rms_normalize(v, eps: float = 0.0):
    """RMSNorm without gain: v / sqrt(mean(v^2) + eps) = sqrt(d) v / |v| at eps = 0. (..., d).

    What the post suggests in place of e = v/|v| (same direction, norm sqrt(d))."""
    v, t = as_float_array(v, name="v", min_ndim=1)
    eps = check_nonnegative(eps, name="eps")
    ms = (v**2).mean(-1, keepdim=True) if t else (v**2).mean(-1, keepdims=True)
    if eps == 0 and bool((ms == 0).any()):
        raise ValueError("v must have no all-zero row when eps = 0")
    return v / ((ms + eps) ** 0.5)


def geometric_moe(x, WA, WB, n: int, p, k: int, act: str = "relu", normalize: str | None = "l2",
                  eps: float = 1e-12):
    """The MoE of the post: y = sum_{i in argtop_k p} p_i e_i, evaluating only the k chosen experts.

    x (B, d); p (B, n) non-negative router outputs (the predicted norms); normalize "l2":
    e_i = v_i / max(|v_i|, eps); "rms": e_i = RMSNorm(v_i) (norm sqrt(d_out)); None: the standard
    form e_i = v_i. Experts are gathered, not masked: B*k blocks are computed, not B*n.
    Returns (y (B, d_out), idx (B, k), evaluations = B*k). numpy or torch (autograd kept).
    """
    check_int_in(n, 1, None, name="n")
    check_choice(act, ACTIVATIONS, name="act")
    check_choice(normalize, ["l2", "rms", None], name="normalize")
    check_positive(eps, name="eps")
    (x, WA, WB, p), t = _same_kind([("x", x), ("WA", WA), ("WB", WB), ("p", p)],
                                   [2, 2, 2, 2], [2, 2, 2, 2])
    d, D = _ffn_shapes(x, WA, WB, n)
    check_shape(p, (x.shape[0], n), name="p")
    if bool((p < 0).any()):
        raise ValueError("p must be non-negative (predicted norms)")
    k = check_int_in(k, 1, n, name="k")
    c = D // n
    if t:
        idx = torch.topk(p, k, dim=-1, sorted=True).indices                       # (B, k)
        WAs = WA.T.reshape(n, c, d)[idx]                                           # (B, k, c, d)
        WBs = WB.reshape(n, c, -1)[idx]                                            # (B, k, c, o)
        h = _act(torch.einsum("bd,bkcd->bkc", x, WAs), act)
        v = torch.einsum("bkc,bkco->bko", h, WBs)
        ps = torch.gather(p, 1, idx)
        nr = torch.linalg.vector_norm(v, dim=-1, keepdim=True)
        ein = torch.einsum
    else:
        idx = np.argsort(-p, axis=-1, kind="stable")[:, :k]
        WAs = WA.T.reshape(n, c, d)[idx]
        WBs = WB.reshape(n, c, -1)[idx]
        h = _act(np.einsum("bd,bkcd->bkc", x, WAs), act)
        v = np.einsum("bkc,bkco->bko", h, WBs)
        ps = np.take_along_axis(p, idx, axis=1)
        nr = np.linalg.norm(v, axis=-1, keepdims=True)
        ein = np.einsum
    if normalize == "l2":
        e = v / (nr.clamp_min(eps) if t else np.maximum(nr, eps))               # e_i = v_i/|v_i|
    elif normalize == "rms":
        e = v * math.sqrt(v.shape[-1]) / (nr.clamp_min(eps) if t else np.maximum(nr, eps))
    else:
        e = v
    y = ein("bk,bko->bo", ps, e)                                                   # sum p_i e_i
    return y, idx, int(h.shape[0] * h.shape[1])          # expert blocks actually computed


def pairwise_cosines(V) -> np.ndarray:
    """Cosines cos(v_i, v_j), i < j, of each row's experts: V (..., n, d) -> (..., n(n-1)/2).

    Zero vectors count as cosine 0. numpy only."""
    V, t = _experts(V)
    if t:
        V = V.detach().cpu().numpy()
    nr = np.linalg.norm(V, axis=-1, keepdims=True)
    U = V / np.where(nr > 0, nr, 1.0)
    C = np.einsum("...nd,...md->...nm", U, U)
    iu = np.triu_indices(V.shape[-2], 1)
    return C[..., iu[0], iu[1]]


def fit_norm_router(X, norms, ridge: float = 1e-6) -> np.ndarray:
    """A linear router fitted to predict the expert norms: min_W |[X, 1] W - norms|^2 + ridge|W|^2.

    X (B, d), norms (B, n) -> W (d + 1, n) (last row: bias). The cheap "x W_R" of the post,
    fitted by least squares rather than trained. numpy."""
    X, _ = as_float_array(X, name="X", min_ndim=2, max_ndim=2)
    N, _ = as_float_array(norms, name="norms", min_ndim=2, max_ndim=2)
    X, N = like_input(X, False), like_input(N, False)
    if N.shape[0] != X.shape[0]:
        raise ValueError(f"norms must have {X.shape[0]} rows like X, got {N.shape[0]}")
    ridge = check_nonnegative(ridge, name="ridge")
    A = np.hstack([X, np.ones((X.shape[0], 1))])
    return np.linalg.solve(A.T @ A + ridge * np.eye(A.shape[1]), A.T @ N)


def predict_norms(X, W) -> np.ndarray:
    """Router scores [X, 1] W for a W from :func:`fit_norm_router`. (B, n) numpy."""
    X, _ = as_float_array(X, name="X", min_ndim=2, max_ndim=2)
    W, _ = as_float_array(W, name="W", min_ndim=2, max_ndim=2)
    X, W = like_input(X, False), like_input(W, False)
    if W.shape[0] != X.shape[1] + 1:
        raise ValueError(f"W must have {X.shape[1] + 1} rows (d + 1), got {W.shape[0]}")
    return X @ W[:-1] + W[-1]


@functools.lru_cache(maxsize=4)
def _trained(hidden: int, steps: int, lr: float, seed: int):
    X, y = digits("unit")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(X))
    tr, te = perm[: len(X) // 2], perm[len(X) // 2:]
    g = torch.Generator().manual_seed(seed)
    d = X.shape[1]
    WA = (torch.randn(d, hidden, generator=g, dtype=torch.float64) / math.sqrt(d)).requires_grad_()
    WB = (torch.randn(hidden, d, generator=g, dtype=torch.float64) / math.sqrt(hidden)).requires_grad_()
    Wc = (torch.randn(d, 10, generator=g, dtype=torch.float64) / math.sqrt(d)).requires_grad_()
    bc = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    Xt, yt = torch.tensor(X[tr]), torch.tensor(y[tr])
    opt = torch.optim.Adam([WA, WB, Wc, bc], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        logits = torch.relu(torch.relu(Xt @ WA) @ WB) @ Wc + bc       # FFN, ReLU, classifier
        torch.nn.functional.cross_entropy(logits, yt).backward()
        opt.step()
    with torch.no_grad():
        Xe = torch.tensor(X[te])
        acc = (torch.relu(torch.relu(Xe @ WA) @ WB) @ Wc + bc).argmax(1).numpy() == y[te]
    return (WA.detach().numpy(), WB.detach().numpy(), X[tr], X[te], float(acc.mean()))


def train_digits_ffn(hidden: int = 256, steps: int = 200, lr: float = 1e-2, seed: int = 0) -> dict:
    """A digits classifier whose first block is a bias-free FFN 64 -> hidden -> 64 (ReLU).

    Model: logits = relu(relu(x W_A) W_B) W_c + b_c, full-batch Adam in float64 on half of the
    8x8 digits (x in [0, 1]), seeded. Returns WA, WB, X_train, X_test (numpy) and the test
    accuracy. Cached: repeated calls with the same arguments return copies of one run."""
    hidden = check_int_in(hidden, 1, 4096, name="hidden")
    steps = check_int_in(steps, 1, 100_000, name="steps")
    lr = check_positive(lr, name="lr")
    seed = check_int_in(seed, 0, None, name="seed")
    WA, WB, Xtr, Xte, acc = _trained(hidden, steps, lr, seed)
    return {"WA": WA.copy(), "WB": WB.copy(), "X_train": Xtr.copy(), "X_test": Xte.copy(),
            "accuracy": acc}


def digits_expert_study(n: int = 16, seed: int = 0, n_best: int = 30, hidden: int = 256,
                        max_subsets: int = 5_000) -> dict:
    """Error of keeping k of the n experts of the trained digits FFN, for k = 1..n, on test rows.

    Selections: "oracle" (top-k by the true |v_i|), "router" (top-k by a linear router fitted on
    the training half, :func:`fit_norm_router`), "random"; "best" is the brute-force optimum on
    the first `n_best` test rows (where C(n, k) <= max_subsets; NaN elsewhere), with the oracle's
    error on those same rows ("oracle_best_rows"); "orthogonal_prediction", the norm rule's
    error if the experts were orthogonal with the same norms; "kept_energy", the mean share of
    sum_i |v_i|^2 in the k longest experts. Also the geometric MoE's error
    with the router's norms at k = n (the cost of predicted norms), mean |cos| between experts,
    and the router's rank agreement (share of top-1 picks right). Cached (copies returned).
    numpy."""
    hidden = check_int_in(hidden, 1, 4096, name="hidden")
    n = check_int_in(n, 1, hidden, name="n")
    seed = check_int_in(seed, 0, None, name="seed")
    if hidden % n:
        raise ValueError(f"n must divide hidden = {hidden}, got {n}")
    n_rows = len(digits("unit")[1])
    n_best = check_int_in(n_best, 1, n_rows - n_rows // 2, name="n_best")   # the test half's rows
    max_subsets = check_int_in(max_subsets, 1, None, name="max_subsets")
    return {key: (v.copy() if isinstance(v, np.ndarray) else v)
            for key, v in _study(n, seed, n_best, hidden, max_subsets).items()}


@functools.lru_cache(maxsize=16)
def _study(n: int, seed: int, n_best: int, hidden: int, max_subsets: int) -> dict:
    run = train_digits_ffn(hidden=hidden, seed=seed)
    WA, WB = run["WA"], run["WB"]
    Vtr = expert_outputs(run["X_train"], WA, WB, n)
    Xte = run["X_test"]
    Vte = expert_outputs(Xte, WA, WB, n)
    keep = np.linalg.norm(Vte.sum(1), axis=-1) > 0
    Xte, Vte = Xte[keep], Vte[keep]
    W = fit_norm_router(run["X_train"], np.linalg.norm(Vtr, axis=-1))
    scores = predict_norms(Xte, W)
    ks = np.arange(1, n + 1)
    out = {"ks": ks, "oracle": [], "router": [], "random": [], "best": [], "oracle_best_rows": []}
    nb = min(n_best, len(Xte))
    for k in ks:
        out["oracle"].append(subset_error(Vte, topk_by_norm(Vte, int(k))).mean())
        out["router"].append(subset_error(Vte, np.argsort(-scores, 1, kind="stable")[:, :k]).mean())
        out["random"].append(subset_error(Vte, random_subsets(n, int(k), len(Vte), seed=seed + int(k))).mean())
        if nb and math.comb(n, int(k)) <= max_subsets:
            out["best"].append(best_subset(Vte[:nb], int(k), max_subsets=max_subsets)[1].mean())
            out["oracle_best_rows"].append(subset_error(Vte[:nb], topk_by_norm(Vte[:nb], int(k))).mean())
        else:
            out["best"].append(np.nan)
            out["oracle_best_rows"].append(np.nan)
    out = {key: np.asarray(v, dtype=float) if key != "ks" else v for key, v in out.items()}
    p = np.maximum(scores, 0.0)
    y_dense = Vte.sum(1)
    y_geo, _, _ = geometric_moe(Xte, WA, WB, n, p, n)
    out["dense_limit_router_error"] = float(np.mean(np.linalg.norm(y_geo - y_dense, axis=1)
                                                    / np.linalg.norm(y_dense, axis=1)))
    out["mean_abs_cos"] = float(np.abs(pairwise_cosines(Vte)).mean())
    true_top = np.argmax(np.linalg.norm(Vte, axis=-1), 1)
    out["router_top1_agreement"] = float(np.mean(np.argmax(scores, 1) == true_top))
    out["accuracy"] = run["accuracy"]
    out["n_best_rows"] = nb
    # the error the norm rule would have if these experts were orthogonal (same norms):
    # sqrt(sum of the n - k smallest |v_i|^2 / sum of all), exactly 0 at k = n
    nr2 = np.sort(np.linalg.norm(Vte, axis=-1) ** 2, axis=1)                     # ascending
    dropped = np.concatenate([np.zeros((len(nr2), 1)), np.cumsum(nr2, 1)], 1)    # (B, n + 1)
    out["orthogonal_prediction"] = np.sqrt(dropped[:, n - ks] / dropped[:, -1:]).mean(0)
    # mean share of sum_i |v_i|^2 carried by the k longest experts
    out["kept_energy"] = (1.0 - dropped[:, n - ks] / dropped[:, -1:]).mean(0)
    return out
