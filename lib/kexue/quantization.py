"""Discrete codes: finite scalar quantisation (FSQ), vector quantisation (VQ) and the rotation trick.

Chapters: ``codes/fsq`` (kexue.fm/archives/9826) and ``codes/vq-rotation-trick``
(kexue.fm/archives/10489).

Conventions. A vector to quantise lives on the last axis, shape ``(..., d)``.

* FSQ with ``levels = [L_1, ..., L_d]`` maps channel i to an integer *level* in
  ``{0, ..., L_i - 1}``; the implicit codebook is the grid of all level vectors, and a level
  vector has the mixed-radix *index* ``sum_i l_i prod_{j<i} L_j`` (first channel least
  significant, as in vector-quantize-pytorch). The *code* sent to a decoder is the level rescaled
  to [-1, 1].
* The grid functions (``fsq_round``, ``levels_to_indices``, ...) take numpy or torch and return the
  kind they were given; everything with a gradient (``fsq_ste``, ``rotate_to``, the modules and the
  trainer) is torch. ``codebook_usage`` and ``fsq_level_probabilities`` are numpy statistics.
* Su's VQ loss names: ``beta`` weighs the codebook term ``||q - sg[z]||^2`` and ``gamma`` the
  commitment term ``||z - sg[q]||^2`` (the reverse of the VQ-VAE paper's "beta = 0.25").
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ._validate import (as_float_array, check_choice, check_in_range, check_int_in,
                        check_nonnegative, check_positive, is_tensor)
from . import widgets as _w

__all__ = [
    "check_levels", "fsq_round", "naive_fsq_round_tanh", "fsq_ste", "levels_to_codes",
    "codes_to_levels", "levels_to_indices", "indices_to_levels", "implicit_codebook", "FSQ",
    "recommended_levels", "fsq_level_edges", "fsq_level_probabilities", "codebook_usage",
    "nearest_code", "ste", "generalized_ste", "rotation_matrix", "rotate_to", "ema_update",
    "VectorQuantizer", "load_digits_data", "DigitsAutoencoder", "train_digits_autoencoder",
    "recon_grad_ratio", "build_digits_model", "fsq_grid_explorer", "usage_dashboard", "gradient_field",
    "gradient_field_explorer", "training_curves_explorer",
]

# ----------------------------------------------------------------------------------------------
# validation pieces
# ----------------------------------------------------------------------------------------------


def check_levels(levels: Any, *, name: str = "levels", min_level: int = 2) -> list[int]:
    """A non-empty sequence of integers >= min_level (the FSQ level counts L_i; chapter fsq)."""
    if isinstance(levels, (int, np.integer)) or not hasattr(levels, "__len__") or len(levels) == 0:
        raise ValueError(f"{name} must be a non-empty list of integers >= {min_level}, got {levels!r}")
    out = []
    for i, L in enumerate(levels):
        out.append(check_int_in(L if not isinstance(L, np.integer) else int(L), min_level, None,
                                name=f"{name}[{i}]"))
    return out


def _last_dim(x, d: int, name: str) -> None:
    if x.ndim < 1 or x.shape[-1] != d:
        raise ValueError(f"{name} must have last dimension {d} (= len(levels)), "
                         f"got shape {tuple(x.shape)}")


def _as_int_array(x: Any, name: str):
    """(array, is_torch) of integers; refuses floats with a fractional part and NaN."""
    if is_tensor(x):
        if x.is_floating_point():
            if not bool(torch.isfinite(x).all()) or bool((x != x.round()).any()):
                raise ValueError(f"{name} must contain integers")
            x = x.long()
        return x, True
    arr = np.asarray(x)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
            raise ValueError(f"{name} must contain integers")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an array of integers, got dtype {arr.dtype}")
    return arr.astype(np.int64), False


def _lev(levels: list[int], like):
    """levels as an array broadcastable against `like` (numpy or torch)."""
    if is_tensor(like):
        return torch.tensor(levels, dtype=like.dtype if like.is_floating_point() else torch.long,
                            device=like.device)
    return np.asarray(levels, dtype=like.dtype if like.dtype.kind == "f" else np.int64)


# ----------------------------------------------------------------------------------------------
# FSQ: bounded rounding, level counts, the implicit codebook and its indices
# ----------------------------------------------------------------------------------------------


def _tanh_bound(z, L, eps: float = 1e-3):
    """The FSQ paper's bound (appendix, atanh form): values in (-floor(L/2)-1/2, floor(L/2)+1/2).

    half_l = (L-1)(1+eps)/2, offset = 1/2 for even L, shift = atanh(offset/half_l);
    bounded = tanh(z + shift) * half_l - offset. Rounding gives {-L/2, ..., L/2 - 1} for even L
    and {-(L-1)/2, ..., (L-1)/2} for odd L: exactly L values.
    """
    mod = torch if is_tensor(z) else np
    half_l = (L - 1) * (1 + eps) / 2
    offset = mod.where(L % 2 == 0, 0.5, 0.0) if mod is np else torch.where(
        L % 2 == 0, torch.tensor(0.5, dtype=z.dtype), torch.tensor(0.0, dtype=z.dtype))
    shift = mod.arctanh(offset / half_l)
    return mod.tanh(z + shift) * half_l - offset


def _sigmoid(z):
    if is_tensor(z):
        return torch.sigmoid(z)
    from scipy.special import expit
    return expit(z)


def fsq_round(z: Any, levels: Sequence[int], bound: str = "sigmoid"):
    """FSQ levels of z: integers l_i in {0, ..., L_i - 1} on the last axis (chapter fsq).

    ``bound="sigmoid"`` is Su's eq. FSQ(z) = Round[(L - 1) sigma(z)]; ``bound="tanh"`` is the
    paper's Round[floor(L/2) tanh(z)] with its half-step shift for even L (atanh form, as in
    vector-quantize-pytorch), shifted by floor(L/2) so that it also lands in {0, ..., L - 1}.
    numpy or torch (returns the kind it was given: int64 array / long tensor). Rounding is
    half-to-even (numpy and torch agree).
    """
    arr, is_t = as_float_array(z, name="z")
    lv = check_levels(levels)
    check_choice(bound, ["sigmoid", "tanh"], name="bound")
    _last_dim(arr, len(lv), "z")
    L = _lev(lv, arr.detach() if is_t else arr)
    a = arr.detach() if is_t else arr
    if bound == "sigmoid":
        lev = (L - 1) * _sigmoid(a)
        out = lev.round()
    else:
        out = _tanh_bound(a, L).round() + (L // 2)
    out = out.long() if is_t else out.astype(np.int64)
    return out


def naive_fsq_round_tanh(z: Any, L: int):
    """round(floor(L/2) tanh z): the *naive* bound, kept to show why it is wrong for even L.

    Takes L values for odd L but L + 1 values for even L (e.g. 4 -> {-2, ..., 2}); the paper
    fixes this with a half-step offset (see :func:`fsq_round` with ``bound="tanh"``). Elementwise;
    numpy or torch (returns the kind it was given, integers). Chapter fsq, "level counts".
    """
    arr, is_t = as_float_array(z, name="z", min_ndim=0)
    L = check_int_in(L, 2, None, name="L")
    a = arr.detach() if is_t else arr
    out = ((L // 2) * (torch.tanh(a) if is_t else np.tanh(a))).round()
    return out.long() if is_t else out.astype(np.int64)


def _checked_levels(lev: Any, levels: Sequence[int]):
    """Validate integer level vectors against `levels`: (array, is_torch, levels, L broadcast)."""
    arr, is_t = _as_int_array(lev, "lev")
    lv = check_levels(levels)
    _last_dim(arr, len(lv), "lev")
    L = _lev(lv, arr)
    if bool((arr < 0).any()) or bool((arr >= L).any()):
        raise ValueError(f"lev must lie in [0, L_i - 1] per channel for levels {lv}")
    return arr, is_t, lv, L


def levels_to_codes(lev: Any, levels: Sequence[int]):
    """Rescale integer levels {0..L-1} to codes in [-1, 1]: c = 2 l / (L - 1) - 1 (chapter fsq)."""
    arr, is_t, lv, L = _checked_levels(lev, levels)
    if is_t:
        return 2.0 * arr.double() / (L.double() - 1) - 1.0
    return 2.0 * arr / (L - 1.0) - 1.0


def codes_to_levels(codes: Any, levels: Sequence[int]):
    """Inverse of :func:`levels_to_codes`: l = round((c + 1)(L - 1) / 2), integers (chapter fsq)."""
    arr, is_t = as_float_array(codes, name="codes")
    lv = check_levels(levels)
    _last_dim(arr, len(lv), "codes")
    a = arr.detach() if is_t else arr
    if bool((a < -1 - 1e-6).any()) or bool((a > 1 + 1e-6).any()):
        raise ValueError("codes must lie in [-1, 1]")
    L = _lev(lv, a)
    out = ((a + 1) * (L - 1) / 2).round()
    return out.long() if is_t else out.astype(np.int64)


def _basis(lv: list[int]) -> list[int]:
    return [int(np.prod(lv[:i])) for i in range(len(lv))]


def levels_to_indices(lev: Any, levels: Sequence[int]):
    """Mixed-radix index sum_i l_i prod_{j<i} L_j of integer level vectors (chapter fsq, claim 3).

    A bijection from the grid prod_i {0..L_i-1} onto {0, ..., prod L_i - 1}. numpy or torch.
    """
    arr, is_t, lv, L = _checked_levels(lev, levels)
    basis = _lev(_basis(lv), arr)
    return (arr * basis).sum(-1)


def indices_to_levels(idx: Any, levels: Sequence[int]):
    """Inverse of :func:`levels_to_indices`: l_i = floor(idx / prod_{j<i} L_j) mod L_i (chapter fsq)."""
    arr, is_t = _as_int_array(idx, "idx")
    lv = check_levels(levels)
    K = int(np.prod(lv))
    if bool((arr < 0).any()) or bool((arr >= K).any()):
        raise ValueError(f"idx must lie in [0, {K - 1}] for levels {lv}")
    L, basis = _lev(lv, arr), _lev(_basis(lv), arr)
    return (arr[..., None] // basis) % L


def implicit_codebook(levels: Sequence[int], codes: bool = True) -> np.ndarray:
    """The FSQ grid, row k = the level vector (or code in [-1,1]) with index k; (prod L, d).

    numpy. Chapter fsq, "The implicit codebook and its indices".
    """
    lv = check_levels(levels)
    lev = indices_to_levels(np.arange(int(np.prod(lv))), lv)
    return levels_to_codes(lev, lv) if codes else lev


def fsq_ste(z: torch.Tensor, levels: Sequence[int], bound: str = "sigmoid",
            normalize: bool = True) -> torch.Tensor:
    """FSQ with the straight-through estimator (torch): u + sg[Round(u) - u].

    sigmoid bound: u = (L - 1) sigma(z), so d out / dz = (L - 1) sigma(z)(1 - sigma(z)) for the
    levels (``normalize=False``), times 2/(L-1) for codes in [-1, 1] (``normalize=True``, the
    default). tanh bound: u is the paper's bounded value; codes are u_hat / floor(L/2) as in
    vector-quantize-pytorch (even L never reaches +1). Chapter fsq, eq. FSQ with STE.
    """
    if not is_tensor(z):
        raise ValueError("z must be a torch tensor (fsq_ste is differentiable; use fsq_round for numpy)")
    arr, _ = as_float_array(z, name="z")
    lv = check_levels(levels)
    check_choice(bound, ["sigmoid", "tanh"], name="bound")
    _last_dim(arr, len(lv), "z")
    L = torch.tensor(lv, dtype=arr.dtype, device=arr.device)
    u_hat = _rounded_ste(arr, L, bound)
    if bound == "sigmoid":
        return 2 * u_hat / (L - 1) - 1 if normalize else u_hat
    return u_hat / torch.div(L, 2, rounding_mode="floor") if normalize else u_hat + (L // 2)


def _rounded_ste(z: torch.Tensor, L: torch.Tensor, bound: str) -> torch.Tensor:
    """u + sg[Round(u) - u] for the bounded value u (no validation; callers validate)."""
    u = (L - 1) * torch.sigmoid(z) if bound == "sigmoid" else _tanh_bound(z, L)
    return u + (u.round() - u).detach()


class FSQ(nn.Module):
    """Finite scalar quantiser (torch module): ``forward(z) -> (codes, indices)`` (chapter fsq).

    codes in [-1, 1] with the STE gradient (:func:`fsq_ste`), indices the mixed-radix index of
    the level vector (long). ``implicit_codebook`` is the (codebook_size, d) grid of codes.
    """

    def __init__(self, levels: Sequence[int], bound: str = "sigmoid"):
        super().__init__()
        self.levels = check_levels(levels)
        self.bound = check_choice(bound, ["sigmoid", "tanh"], name="bound")
        self.dim = len(self.levels)
        self.codebook_size = int(np.prod(self.levels))
        self.register_buffer("_L", torch.tensor(self.levels, dtype=torch.float64), persistent=False)
        self.register_buffer("_half", torch.tensor(self.levels, dtype=torch.float64) // 2,
                             persistent=False)
        self.register_buffer("_basis", torch.tensor(_basis(self.levels), dtype=torch.float64),
                             persistent=False)
        Ld = self._L
        half_l = (Ld - 1) * (1 + 1e-3) / 2            # the constants of _tanh_bound
        offset = torch.where(Ld % 2 == 0, 0.5, 0.0).to(torch.float64)
        self.register_buffer("_half_l", half_l, persistent=False)
        self.register_buffer("_offset", offset, persistent=False)
        self.register_buffer("_shift", torch.arctanh(offset / half_l), persistent=False)

    def forward(self, z: torch.Tensor):
        if not is_tensor(z):
            raise ValueError("z must be a torch tensor")
        as_float_array(z, name="z")
        _last_dim(z, self.dim, "z")
        dt = z.dtype
        if self.bound == "sigmoid":
            Lm1 = self._L.to(dt) - 1
            u = Lm1 * torch.sigmoid(z)
        else:                                         # the paper's bound, constants precomputed
            u = torch.tanh(z + self._shift.to(dt)) * self._half_l.to(dt) - self._offset.to(dt)
        r = u.round()
        u_hat = u + (r - u).detach()                  # levels (sigmoid) or centred levels (tanh)
        if self.bound == "sigmoid":
            codes, lev = 2 * u_hat / Lm1 - 1, r
        else:
            half = self._half.to(dt)
            codes, lev = u_hat / half, r + half
        if self.codebook_size > 2 ** 24 and dt != torch.float64:   # beyond float32's integers
            lev, dt = lev.double(), torch.float64
        return codes, (lev @ self._basis.to(dt)).round().long()      # mixed-radix index

    def _codes_to_lev(self, codes):
        if self.bound == "sigmoid":
            return codes_to_levels(codes, self.levels)
        arr, _ = as_float_array(codes, name="codes")
        half = torch.tensor(self.levels, device=arr.device) // 2
        return (arr.detach() * half).round().long() + half

    def codes_to_indices(self, codes: torch.Tensor) -> torch.Tensor:
        """Index of each code vector (last axis); codes must be on this quantiser's grid."""
        _last_dim(codes, self.dim, "codes")
        return levels_to_indices(self._codes_to_lev(codes), self.levels)

    def _levels_to_codes(self, lev: torch.Tensor) -> torch.Tensor:
        lev = lev.double()
        if self.bound == "sigmoid":
            return (2 * lev / (self._L - 1) - 1).float()
        return ((lev - self._half) / self._half).float()   # tanh: level - floor(L/2), over floor(L/2)

    @property
    def implicit_codebook(self) -> torch.Tensor:
        """The (codebook_size, d) grid of codes, row k = the code with index k (float32).

        Built on first use (it has prod L_i rows), then kept.
        """
        if getattr(self, "_codebook_cache", None) is None:
            lev = torch.from_numpy(implicit_codebook(self.levels, codes=False))
            self._codebook_cache = self._levels_to_codes(lev)
        return self._codebook_cache

    def indices_to_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """Code vectors (float32, last axis d) of integer indices in [0, codebook_size)."""
        idx, _ = _as_int_array(indices, "indices")
        if not is_tensor(idx):
            idx = torch.from_numpy(idx)
        if bool((idx < 0).any()) or bool((idx >= self.codebook_size).any()):
            raise ValueError(f"indices must lie in [0, {self.codebook_size - 1}]")
        return self._levels_to_codes(indices_to_levels(idx, self.levels))


#: The FSQ paper's Table 1: target codebook size 2^k -> recommended levels.
_RECOMMENDED = {2 ** 8: [8, 6, 5], 2 ** 10: [8, 5, 5, 5], 2 ** 12: [7, 5, 5, 5, 5],
                2 ** 14: [8, 8, 8, 6, 5], 2 ** 16: [8, 8, 8, 5, 5, 5]}


def recommended_levels(K: int) -> list[int]:
    """Levels the FSQ paper recommends for a target codebook size K in {2^8, 2^10, ..., 2^16}.

    Raises KeyError for other K (the table has no entry); ValueError for a non-integer K.
    Chapter fsq.
    """
    K = check_int_in(K, 1, None, name="K")
    if K not in _RECOMMENDED:
        raise KeyError(f"K={K}: the paper's table covers {sorted(_RECOMMENDED)}")
    return list(_RECOMMENDED[K])


def fsq_level_edges(L: int) -> np.ndarray:
    """Cell edges in z of the sigmoid bound: z = logit((k + 1/2)/(L - 1)), k = 0..L-2.

    numpy. Chapter fsq, claim 4 (level occupancy).
    """
    L = check_int_in(L, 2, None, name="L")
    p = (np.arange(L - 1) + 0.5) / (L - 1)
    return np.log(p / (1 - p))


def fsq_level_probabilities(L: int, scale: float = 1.0) -> np.ndarray:
    """P(level = k) for z ~ N(0, scale^2) under Round[(L - 1) sigma(z)], k = 0..L-1. numpy.

    Differences of the normal CDF at the logit cell edges (:func:`fsq_level_edges`).
    Chapter fsq, claim 4.
    """
    from scipy.stats import norm
    scale = check_positive(scale, name="scale")
    cdf = norm.cdf(fsq_level_edges(L) / scale)
    return np.diff(np.concatenate([[0.0], cdf, [1.0]]))


def codebook_usage(indices: Any, K: int) -> dict:
    """Codebook statistics of a set of code indices (numpy statistics; chapter fsq).

    counts[k] = #{i: idx_i = k}; utilization = #used codes / K; perplexity = exp(H(p)) with
    p = counts / N (1 when one code takes everything, K when usage is uniform); dead = K - used.
    Accepts integer numpy arrays or torch tensors (read, not returned).
    """
    K = check_int_in(K, 1, None, name="K")
    arr, is_t = _as_int_array(indices, "indices")
    a = arr.detach().cpu().numpy() if is_t else arr
    a = a.reshape(-1)
    if a.size == 0:
        raise ValueError("indices must not be empty")
    if (a < 0).any() or (a >= K).any():
        raise ValueError(f"indices must lie in [0, {K - 1}] (K={K})")
    counts = np.bincount(a, minlength=K)
    p = counts[counts > 0] / a.size
    used = int((counts > 0).sum())
    return {"utilization": used / K, "perplexity": float(np.exp(-(p * np.log(p)).sum())),
            "used": used, "dead": K - used, "counts": counts}


# ----------------------------------------------------------------------------------------------
# VQ: nearest code, straight-through estimators, the rotation trick, EMA
# ----------------------------------------------------------------------------------------------


def _check_pair(z, q, name_z="z", name_q="q"):
    if not is_tensor(z) or not is_tensor(q):
        raise ValueError(f"{name_z} and {name_q} must be torch tensors")
    as_float_array(z, name=name_z)
    as_float_array(q, name=name_q)
    if not z.is_floating_point() or not q.is_floating_point():
        raise ValueError(f"{name_z} and {name_q} must be floating tensors")
    if z.shape != q.shape:
        raise ValueError(f"{name_q} must have the shape of {name_z} {tuple(z.shape)}, "
                         f"got {tuple(q.shape)}")


def nearest_code(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """k = argmin_i ||z - e_i||^2 for each row of z (torch, no gradient); (...,) long.

    Squared distances ||z||^2 - 2 z.e + ||e||^2; ties go to the lower index. Chapter fsq, eq. VQ.
    """
    if not is_tensor(z) or not is_tensor(codebook):
        raise ValueError("z and codebook must be torch tensors")
    as_float_array(z, name="z")
    as_float_array(codebook, name="codebook", min_ndim=2, max_ndim=2)
    if z.shape[-1] != codebook.shape[-1]:
        raise ValueError(f"codebook must have {z.shape[-1]} columns (z's last dim), "
                         f"got shape {tuple(codebook.shape)}")
    with torch.no_grad():
        zz, e = z.detach(), codebook.detach().to(z.dtype)
        d2 = (zz * zz).sum(-1, keepdim=True) - 2 * zz @ e.T + (e * e).sum(-1)
        return d2.argmin(-1)


def ste(z: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Straight-through estimator z + sg[q - z]: value q, gradient to z unchanged (dq/dz = I).

    torch. Chapter fsq, eq. (vqvae); the G = I case of chapter vq-rotation-trick, eq. (gste).
    """
    _check_pair(z, q)
    return z + (q - z).detach()


def generalized_ste(z: torch.Tensor, q: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """sg[G] z + sg[q - G z]: value q, encoder gradient G^T g (chapter vq-rotation-trick).

    G is one (d, d) matrix shared by all rows or a batch (..., d, d) matching z's leading shape.
    G = I is the STE; G = (||q||/||z||) R is the rotation trick.
    """
    _check_pair(z, q)
    as_float_array(G, name="G", min_ndim=2)
    d = z.shape[-1]
    if G.shape[-2:] != (d, d) or (G.ndim > 2 and G.shape[:-2] != z.shape[:-1]):
        raise ValueError(f"G must have shape ({d}, {d}) or {tuple(z.shape[:-1]) + (d, d)}, "
                         f"got {tuple(G.shape)}")
    Gd = G.detach().to(z.dtype)
    Gz = (Gd @ z.unsqueeze(-1)).squeeze(-1)
    return Gz + (q - Gz).detach()


def rotation_matrix(z: Any, q: Any) -> torch.Tensor:
    """R = I + 2 q~ z~^T - 2 w w^T, w = (q~ + z~)/||q~ + z~|| (explicit (d, d), float64 torch).

    The rotation taking z~ = z/||z|| to q~ = q/||q|| in their common plane and fixing its
    orthogonal complement (two Householder reflections). For tests and small d; training uses
    :func:`rotate_to`. Raises for zero vectors and antipodal pairs, where R is not unique.
    Chapter vq-rotation-trick, eq. (rotation).
    """
    zt, _ = as_float_array(z, name="z", max_ndim=1)
    qt, _ = as_float_array(q, name="q", max_ndim=1)
    zt = (zt.detach() if is_tensor(zt) else torch.from_numpy(np.asarray(zt))).double()
    qt = (qt.detach() if is_tensor(qt) else torch.from_numpy(np.asarray(qt))).double()
    if zt.shape != qt.shape or zt.numel() < 2:
        raise ValueError(f"q must have the shape of z with d >= 2, got {tuple(zt.shape)} and "
                         f"{tuple(qt.shape)}")
    if zt.norm() < 1e-12 or qt.norm() < 1e-12:
        raise ValueError("z and q must be non-zero vectors")
    zu, qu = zt / zt.norm(), qt / qt.norm()
    if (zu + qu).norm() < 1e-8:
        raise ValueError("z and q must not be antipodal (the rotation is not unique)")
    w = (zu + qu) / (zu + qu).norm()
    d = zt.numel()
    return torch.eye(d, dtype=torch.float64) + 2 * torch.outer(qu, zu) - 2 * torch.outer(w, w)


def rotate_to(z: torch.Tensor, q: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Rotation trick: sg[G] z with G = (||q||/||z||) R, computed in O(d) (torch, batched).

    Value q; encoder gradient G^T g (chapter vq-rotation-trick). R z = z - 2 (w.z) w + 2 (z~.z) q~
    with z~, q~, w and ||q||/||z|| detached, so no d x d matrix is formed and no gradient reaches
    q. Degenerate rows, handled without NaN: ||z|| < eps falls back to the STE (G = I);
    ||q~ + z~|| < eps (antipodal) uses the single reflection R = I - 2 z~ z~^T (still orthogonal,
    R z~ = q~); ||q|| = 0 gives G = 0 (value 0, zero gradient).
    """
    _check_pair(z, q)
    eps = check_positive(eps, name="eps")
    if z.shape[-1] < 2:
        raise ValueError(f"z must have last dimension >= 2 for a rotation, got {z.shape[-1]}")
    qd = q.detach()
    zn = z.detach().norm(dim=-1, keepdim=True)
    qn = qd.norm(dim=-1, keepdim=True)
    small_z = zn < eps
    zu = z.detach() / zn.clamp_min(eps)
    qu = qd / qn.clamp_min(eps)
    s = zu + qu
    sn = s.norm(dim=-1, keepdim=True)
    anti = sn < eps
    w = torch.where(anti, zu, s / sn.clamp_min(eps))            # antipodal: w = z~ ...
    wz = (w * z).sum(-1, keepdim=True)
    zz = (zu * z).sum(-1, keepdim=True)
    rot = z - 2 * wz * w + 2 * torch.where(anti, torch.zeros_like(zz), zz) * qu  # ... R = I - 2 z~z~^T
    gz = (qn / zn.clamp_min(eps)) * rot                          # sg[G] z, value ~ q
    out = gz + (qd - gz).detach()                                # + sg[q - G z]: value exactly q
    return torch.where(small_z, z + (qd - z).detach(), out)


def ema_update(codebook: torch.Tensor, z: torch.Tensor, indices: torch.Tensor,
               decay: float = 0.99) -> torch.Tensor:
    """EMA codebook step e_k <- a e_k + (1 - a) mean{z_i : idx_i = k} for every used code k.

    Equals one SGD step of size 1 - a on 1/2 mean_i ||e_k - sg[z_i]||^2 (chapter fsq, claim 5);
    unused codes are left unchanged. Returns a new tensor (torch, no gradient).
    """
    decay = check_in_range(decay, 0.0, 1.0, name="decay", hi_open=True)
    as_float_array(codebook, name="codebook", min_ndim=2, max_ndim=2)
    as_float_array(z, name="z", min_ndim=2, max_ndim=2)
    idx, _ = _as_int_array(indices, "indices")
    K, d = codebook.shape
    if z.shape[-1] != d or idx.shape != z.shape[:1]:
        raise ValueError(f"z must be (N, {d}) and indices (N,), got {tuple(z.shape)} and "
                         f"{tuple(idx.shape)}")
    if bool((idx < 0).any()) or bool((idx >= K).any()):
        raise ValueError(f"indices must lie in [0, {K - 1}]")
    with torch.no_grad():
        e = codebook.detach().clone()
        sums = torch.zeros_like(e).index_add_(0, idx, z.detach().to(e.dtype))
        cnt = torch.bincount(idx, minlength=K).to(e.dtype)
        used = cnt > 0
        e[used] = decay * e[used] + (1 - decay) * sums[used] / cnt[used, None]
    return e


_INITS = ["randn", "small", "data"]


class VectorQuantizer(nn.Module):
    """VQ layer (torch): ``forward(z) -> (z_q, indices, aux_loss)`` (chapters fsq, vq-rotation-trick).

    z_q has the value e_k, k = argmin ||z - e_i||; its gradient to z is the STE (``grad="ste"``)
    or the rotation trick (``grad="rotation"``). aux_loss = beta * mean_n ||e_k - sg z||^2 +
    gamma * mean_n ||z - sg e_k||^2 (squared norms over the code dimension, as in Su's loss,
    averaged over the vectors); with ``ema=True`` the first term is
    dropped and :func:`ema_update` moves the codebook in training-mode forward passes.
    Codebook init: ``"randn"`` N(0, 1), ``"small"`` N(0, 0.01^2), ``"data"`` N(0, 1) until
    :meth:`init_from` copies K encoder outputs into it.
    """

    def __init__(self, K: int, dim: int, beta: float = 1.0, gamma: float = 0.25, ema: bool = False,
                 decay: float = 0.99, grad: str = "ste", init: str = "randn", seed: int = 0):
        super().__init__()
        self.K = check_int_in(K, 1, None, name="K")
        self.dim = check_int_in(dim, 1, None, name="dim")
        self.beta = check_nonnegative(beta, name="beta")
        self.gamma = check_nonnegative(gamma, name="gamma")
        self.ema = bool(ema)
        self.decay = check_in_range(decay, 0.0, 1.0, name="decay", hi_open=True)
        self.grad = check_choice(grad, ["ste", "rotation"], name="grad")
        if grad == "rotation" and dim < 2:
            raise ValueError("dim must be >= 2 for grad='rotation'")
        self.init = check_choice(init, _INITS, name="init")
        seed = check_int_in(seed, 0, None, name="seed")
        g = torch.Generator().manual_seed(seed)
        scale = 0.01 if init == "small" else 1.0
        self.codebook = nn.Parameter(scale * torch.randn(K, dim, generator=g),
                                     requires_grad=not self.ema)
        self._seed = seed

    @property
    def codebook_size(self) -> int:
        return self.K

    def init_from(self, z: torch.Tensor) -> None:
        """Codebook <- K distinct rows of z drawn at random (with replacement if N < K)."""
        as_float_array(z, name="z", min_ndim=2, max_ndim=2)
        if z.shape[1] != self.dim:
            raise ValueError(f"z must have {self.dim} columns, got shape {tuple(z.shape)}")
        g = torch.Generator().manual_seed(self._seed + 1)
        n = z.shape[0]
        rows = (torch.randperm(n, generator=g)[:self.K] if n >= self.K
                else torch.randint(0, n, (self.K,), generator=g))
        with torch.no_grad():
            self.codebook.copy_(z.detach()[rows].to(self.codebook.dtype))

    def forward(self, z: torch.Tensor):
        as_float_array(z, name="z")
        if z.shape[-1] != self.dim:
            raise ValueError(f"z must have last dimension {self.dim}, got {tuple(z.shape)}")
        idx = nearest_code(z, self.codebook)
        q = self.codebook[idx]                                  # (..., dim), carries grad to E
        z_q = ste(z, q.detach()) if self.grad == "ste" else rotate_to(z, q.detach())
        commit = self.gamma * ((z - q.detach()) ** 2).sum(-1).mean()
        if self.ema:
            aux = commit
            if self.training:
                self.codebook.data.copy_(ema_update(self.codebook, z.reshape(-1, self.dim),
                                                    idx.reshape(-1), self.decay))
        else:
            aux = self.beta * ((q - z.detach()) ** 2).sum(-1).mean() + commit
        return z_q, idx, aux


# ----------------------------------------------------------------------------------------------
# the digits experiment
# ----------------------------------------------------------------------------------------------


def load_digits_data() -> torch.Tensor:
    """scikit-learn's bundled 8x8 digits as a (1797, 64) float32 tensor in [0, 1] (no download).

    The data set of the training experiments of chapters fsq and vq-rotation-trick.
    """
    from sklearn.datasets import load_digits
    return torch.tensor(load_digits().data / 16.0, dtype=torch.float32)


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class DigitsAutoencoder(nn.Module):
    """MLP encoder 64-128-128-d, a quantiser, MLP decoder d-128-128-64 (torch; one token per image).

    ``forward(x) -> dict(x_hat, z, z_q, indices, aux)``; aux is 0 for FSQ. The model of the
    digits experiments, chapters fsq and vq-rotation-trick.
    """

    def __init__(self, quantizer: nn.Module, hidden: int = 128):
        super().__init__()
        if not isinstance(quantizer, (FSQ, VectorQuantizer)):
            raise ValueError("quantizer must be an FSQ or a VectorQuantizer")
        hidden = check_int_in(hidden, 1, None, name="hidden")
        d = quantizer.dim
        self.quantizer = quantizer
        self.encoder = _mlp([64, hidden, hidden, d])
        self.decoder = _mlp([d, hidden, hidden, 64])

    def forward(self, x: torch.Tensor) -> dict:
        z = self.encoder(x)
        if isinstance(self.quantizer, FSQ):
            z_q, idx = self.quantizer(z)
            aux = torch.zeros((), dtype=z.dtype)
        else:
            z_q, idx, aux = self.quantizer(z)
        return {"x_hat": self.decoder(z_q), "z": z, "z_q": z_q, "indices": idx, "aux": aux}


def _evaluate(model: DigitsAutoencoder, X: torch.Tensor) -> dict:
    with torch.no_grad():
        was = model.training
        model.eval()
        out = model(X)
        model.train(was)
        K = model.quantizer.codebook_size
        use = codebook_usage(out["indices"], K)
        if isinstance(model.quantizer, VectorQuantizer):
            q = model.quantizer.codebook[out["indices"]]
            cb_loss = float(((q - out["z"]) ** 2).sum(-1).mean())
        else:                       # FSQ has no codebook loss
            cb_loss = 0.0
        return {"mse": float(((out["x_hat"] - X) ** 2).mean()),
                "codebook_loss": cb_loss,
                "z_norm": float(out["z"].norm(dim=-1).mean()),
                "utilization": use["utilization"], "perplexity": use["perplexity"],
                "counts": use["counts"], "x_hat": out["x_hat"]}


def build_digits_model(method: str = "fsq", *, levels: Sequence[int] = (8, 6, 5), K: int = 240,
                       dim: int = 8, init: str = "small", grad: str = "ste", beta: float = 1.0,
                       gamma: float = 0.25, seed: int = 0) -> DigitsAutoencoder:
    """The chapter's autoencoder, seeded: method "fsq" (levels) or "vq" (K, dim, init, grad)."""
    check_choice(method, ["fsq", "vq"], name="method")
    seed = check_int_in(seed, 0, None, name="seed")
    torch.manual_seed(seed)
    quant = (FSQ(levels) if method == "fsq" else
             VectorQuantizer(K, dim, beta=beta, gamma=gamma, grad=grad, init=init, seed=seed))
    return DigitsAutoencoder(quant)


def train_digits_autoencoder(method: str = "fsq", *, levels: Sequence[int] = (8, 6, 5),
                             K: int = 240, dim: int = 8, init: str = "small", grad: str = "ste",
                             steps: int = 800, seed: int = 0, batch: int = 256, lr: float = 2e-3,
                             beta: float = 1.0, gamma: float = 0.25, record_every: int = 50,
                             n_show: int = 8, progress: bool = False) -> dict:
    """Train the digits autoencoder with Adam; deterministic given seed (torch, CPU).

    Loss: mean (x_hat - x)^2 + aux (VQ's codebook and commitment terms, beta and gamma).
    Returns numbers only: final ``mse``, ``codebook_loss`` (mean ||q - z||^2), ``z_norm`` (mean
    ||z||), ``utilization``, ``perplexity``, ``used``, ``counts`` (over all 1797 images),
    ``history`` (the same every ``record_every`` steps, from step 0), ``recon`` and ``x`` (the
    first ``n_show`` images and their reconstructions, (n_show, 64)). Chapter fsq, claim 6.
    """
    steps = check_int_in(steps, 0, None, name="steps")
    batch = check_int_in(batch, 1, None, name="batch")
    lr = check_positive(lr, name="lr")
    record_every = check_int_in(record_every, 1, None, name="record_every")
    n_show = check_int_in(n_show, 0, 64, name="n_show")
    model = build_digits_model(method, levels=levels, K=K, dim=dim, init=init, grad=grad,
                               beta=beta, gamma=gamma, seed=seed)
    X = load_digits_data()
    if method == "vq" and init == "data":
        with torch.no_grad():
            model.quantizer.init_from(model.encoder(X))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    keys = ["mse", "codebook_loss", "z_norm", "utilization", "perplexity"]
    hist: dict[str, list] = {"step": [], **{k: [] for k in keys}}

    def record(step):
        ev = _evaluate(model, X)
        hist["step"].append(step)
        for k in keys:
            hist[k].append(ev[k])

    it = range(steps)
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc=f"{method} {init} {grad} seed {seed}", leave=False)
    for step in it:
        if step % record_every == 0:
            record(step)
        xb = X[torch.randint(0, X.shape[0], (batch,), generator=g)]
        out = model(xb)
        loss = ((out["x_hat"] - xb) ** 2).mean() + out["aux"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    record(steps)
    ev = _evaluate(model, X)
    res = {k: ev[k] for k in keys}
    res.update(used=int((ev["counts"] > 0).sum()), counts=ev["counts"].tolist(),
               codebook_size=model.quantizer.codebook_size, history=hist,
               recon=ev["x_hat"][:n_show].numpy().astype(float), x=X[:n_show].numpy().astype(float))
    res["model"] = model
    return res


def recon_grad_ratio(model: DigitsAutoencoder, x: torch.Tensor) -> torch.Tensor:
    """Per-sample ||grad_z recon||_rotation / ||grad_z recon||_STE at the encoder output (torch).

    Runs the reconstruction loss through the decoder twice, once with z_q = STE and once with the
    rotation trick, and returns the ratio of the gradient norms at z; it equals ||q||/||z||
    (chapter vq-rotation-trick, claim 8). Needs a VectorQuantizer model.
    """
    if not isinstance(model, DigitsAutoencoder) or not isinstance(model.quantizer, VectorQuantizer):
        raise ValueError("model must be a DigitsAutoencoder with a VectorQuantizer")
    as_float_array(x, name="x", min_ndim=2, max_ndim=2)
    z = model.encoder(x).detach()
    q = model.quantizer.codebook[nearest_code(z, model.quantizer.codebook)].detach()
    norms = []
    for fn in (rotate_to, ste):
        zz = z.clone().requires_grad_(True)
        loss = ((model.decoder(fn(zz, q)) - x) ** 2).sum()
        (gz,) = torch.autograd.grad(loss, zz)
        norms.append(gz.norm(dim=-1))
    return norms[0] / norms[1]


# ----------------------------------------------------------------------------------------------
# widgets
# ----------------------------------------------------------------------------------------------


def _at_rounding(value: float, bound: float = 1e-12) -> str:
    """A frame readout: "< 1e-12" for rounding-level values (their digits vary by machine)."""
    return f"< {bound:.0e}" if abs(value) < bound else f"{value:.1e}"


def fsq_grid_explorer(n: int = 2000, n_show: int = 150, seed: int = 0) -> _w.Explorer:
    """FSQ grid explorer (d = 2, sigmoid bound): sliders L1, L2 and the latent scale s.

    Frame: n_show of n Gaussian latents z ~ N(0, s^2 I) over the cell edges logit((k+1/2)/(L-1))
    of both channels; the sorted code-usage histogram of all n latents with the uniform level
    1/K; readouts K, used codes, utilisation and perplexity. Chapter fsq.
    """
    n = check_int_in(n, 10, 10 ** 6, name="n")
    n_show = check_int_in(n_show, 1, n, name="n_show")
    rng = np.random.default_rng(check_int_in(seed, 0, None, name="seed"))
    base = rng.standard_normal((n, 2))

    def compute(L1: int, L2: int, scale: float) -> dict:
        lv = [int(L1), int(L2)]
        z = scale * base
        idx = levels_to_indices(fsq_round(z, lv), lv)
        K = lv[0] * lv[1]
        use = codebook_usage(idx, K)
        counts = np.sort(use["counts"])[::-1] / n
        lim = 4.0
        e1, e2 = fsq_level_edges(lv[0]), fsq_level_edges(lv[1])
        left = _w.panel(f"levels [{L1}, {L2}], z ~ N(0, {scale:g}² I)", "z₁", "z₂",
                        series=[{"kind": "scatter", "x": np.clip(z[:n_show, 0], -lim, lim),
                                 "y": np.clip(z[:n_show, 1], -lim, lim), "label": "latents",
                                 "color": _w.PALETTE[0]}],
                        vlines=[{"x": float(v), "color": "#777777", "dash": True} for v in e1],
                        hlines=[{"y": float(v), "color": "#777777", "dash": True} for v in e2],
                        xlim=[-lim, lim], ylim=[-lim, lim])
        right = _w.panel("How evenly are the K codes used?", "code rank (most used first)",
                         "share of latents",
                         series=[{"kind": "bar", "x": list(range(1, K + 1)), "y": counts,
                                  "label": "code usage", "color": _w.PALETTE[1]}],
                         hlines=[{"y": 1.0 / K, "label": "uniform 1/K", "color": _w.PALETTE[3]}])
        text = (f"K = {K} · used {use['used']}/{K} = {100 * use['utilization']:.1f}% · "
                f"perplexity {use['perplexity']:.1f} · dead {use['dead']}")
        return _w.frame(left, right, text=text)

    Ls = [2, 3, 4, 5, 6, 8]
    controls = [_w.Slider("L1", Ls, 5, label="L₁", fmt="{:d}"),
                _w.Slider("L2", Ls, 5, label="L₂", fmt="{:d}"),
                _w.Slider("scale", [0.3, 0.5, 1.0, 2.0, 3.0], 1.0, label="latent scale s")]
    return _w.Explorer(controls, compute, name="fsq-grid")


def _montage(imgs: np.ndarray, recon: np.ndarray, per_row: int = 4) -> np.ndarray:
    """Pairs of 8x8 digits, original above its reconstruction, ``per_row`` pairs per row.

    1-pixel gaps inside a pair and 2-pixel gaps between pairs; rows are flipped because heatmap
    rows go upward, so the picture reads top to bottom.
    """
    n = imgs.shape[0]
    rows = -(-n // per_row)
    out = np.zeros((rows * 19 - 2, per_row * 10 - 2))
    for i in range(n):
        r, c = divmod(i, per_row)
        y, x = 19 * r, 10 * c
        out[y:y + 8, x:x + 8] = np.clip(imgs[i].reshape(8, 8), 0, 1)
        out[y + 9:y + 17, x:x + 8] = np.clip(recon[i].reshape(8, 8), 0, 1)
    return out[::-1]


def usage_dashboard(runs: dict, names: dict | None = None) -> _w.Explorer:
    """Codebook-utilisation dashboard over finished runs (chapter fsq).

    ``runs``: {(method_key, seed): result of :func:`train_digits_autoencoder` (or the same dict
    loaded from JSON)}. Controls: method dropdown and seed. Frame: sorted usage histogram (dead
    codes flat at zero), originals over reconstructions, readouts utilisation, perplexity, MSE.
    """
    if not runs:
        raise ValueError("runs must not be empty")
    keys = list(dict.fromkeys(k for k, _ in runs))
    seeds = sorted({s for _, s in runs})
    names = names or {}

    def compute(method: str, seed: int) -> dict:
        r = runs[(method, seed)]
        counts = np.sort(np.asarray(r["counts"], float))[::-1]
        K = counts.size
        share = counts / counts.sum()
        hist = _w.panel(f"{names.get(method, method)}: code usage, seed {seed}",
                        "code rank (most used first)", "share of images",
                        series=[{"kind": "bar", "x": list(range(1, K + 1)), "y": share,
                                 "label": "usage", "color": _w.PALETTE[0]}],
                        hlines=[{"y": 1.0 / K, "label": "uniform 1/K", "color": _w.PALETTE[3]}],
                        yscale="linear")
        m = _montage(np.asarray(r["x"]), np.asarray(r["recon"]))
        rec = _w.panel("each digit above its reconstruction", "", "",
                       heatmap={"z": m, "x": list(range(m.shape[1] + 1)),
                                "y": list(range(m.shape[0] + 1)), "vmin": 0, "vmax": 1,
                                "label": "pixel"}, legend=False)
        used = int((counts > 0).sum())
        text = (f"used {used}/{K} = {100 * used / K:.1f}% · perplexity {r['perplexity']:.1f} · "
                f"recon MSE {r['mse']:.4f}")
        return _w.frame(hist, rec, text=text)

    controls = [_w.Dropdown("method", keys, keys[0], label="method",
                            names=[names.get(k, k) for k in keys]),
                _w.Slider("seed", seeds, seeds[0], label="seed", fmt="{:d}") if len(seeds) > 1
                else _w.Dropdown("seed", seeds, seeds[0], label="seed")]
    return _w.Explorer(controls, compute, name="codebook-usage")


def gradient_field(points: np.ndarray, codebook: np.ndarray, g: np.ndarray,
                   method: str = "rotation") -> tuple[np.ndarray, np.ndarray]:
    """Encoder gradients grad_z = G(z)^T g at each point for a fixed upstream gradient g.

    Each point z is assigned its nearest code q; the gradient is taken by autograd through
    :func:`ste` or :func:`rotate_to` (float64). numpy in, numpy out: (gradients (n, d), codes
    index (n,)). Chapter vq-rotation-trick, the gradient-field figure.
    """
    pts, _ = as_float_array(points, name="points", min_ndim=2, max_ndim=2)
    cb, _ = as_float_array(codebook, name="codebook", min_ndim=2, max_ndim=2)
    gv, _ = as_float_array(g, name="g", max_ndim=1)
    if cb.shape[1] != pts.shape[1] or gv.shape[0] != pts.shape[1]:
        raise ValueError("codebook and g must match the points' dimension")
    check_choice(method, ["ste", "rotation"], name="method")
    z = torch.from_numpy(np.ascontiguousarray(pts)).requires_grad_(True)
    E = torch.from_numpy(np.ascontiguousarray(cb))
    idx = nearest_code(z, E)
    out = (ste if method == "ste" else rotate_to)(z, E[idx])
    (gz,) = torch.autograd.grad((out * torch.from_numpy(gv)).sum(), z)
    return gz.numpy(), idx.numpy()


def _arrow(x0, y0, dx, dy, head=0.28):
    """Polyline of an arrow: tail -> tip -> one barb, back to the tip -> other barb."""
    x1, y1 = x0 + dx, y0 + dy
    L = math.hypot(dx, dy) or 1.0
    ux, uy = dx / L, dy / L
    h = head * L
    bx1, by1 = x1 - h * (ux * 0.87 - uy * 0.5), y1 - h * (uy * 0.87 + ux * 0.5)
    bx2, by2 = x1 - h * (ux * 0.87 + uy * 0.5), y1 - h * (uy * 0.87 - ux * 0.5)
    return [x0, x1, bx1, x1, bx2], [y0, y1, by1, y1, by2]


def gradient_field_explorer(g: Sequence[float] = (1.0, 0.4), grid: int = 8,
                            lim: float = 3.0) -> _w.Explorer:
    """2-D gradient field of STE vs rotation trick (chapter vq-rotation-trick).

    Three codes: q = r (cos a, sin a) under the sliders (angle a, norm r) and two fixed codes of
    norm 1.5 at 100 and 220 degrees. Arrows show the direction of grad_z for a fixed upstream g
    at a grid of z; the arrow length grows with log ||grad_z||/||g||; a second panel plots
    ||grad_z||/||g|| against ||q||/||z|| (the rotation trick lies on the diagonal, the STE at 1).
    Readouts: spread of the
    directions (circular std, rad), range of ||grad_z||/||g|| and the largest
    |cos(z, grad_z) - cos(q, grad_q)| (zero: angle preservation).
    """
    gv = np.asarray(g, dtype=float)
    grid = check_int_in(grid, 3, 15, name="grid")
    lim = check_positive(lim, name="lim")
    ticks = np.linspace(-lim, lim, grid + 2)[1:-1]
    P = np.array([(x, y) for y in ticks for x in ticks])
    fixed = 1.5 * np.array([[math.cos(math.radians(100)), math.sin(math.radians(100))],
                            [math.cos(math.radians(220)), math.sin(math.radians(220))]])
    colors = [_w.PALETTE[0], _w.PALETTE[1], _w.PALETTE[2]]
    step = 2 * lim / (grid + 1)

    def compute(angle: float, norm: float, method: str) -> dict:
        a = math.radians(angle)
        cb = np.vstack([[norm * math.cos(a), norm * math.sin(a)], fixed])
        gz, idx = gradient_field(P, cb, gv, method)
        mag = np.linalg.norm(gz, axis=1) / np.linalg.norm(gv)
        length = step * 0.45 * np.clip(1 + 0.35 * np.log(mag), 0.25, 1.6)
        series = []
        for (x, y), v, ln, k in zip(P, gz, length, idx):
            u = v / np.linalg.norm(v)
            xs, ys = _arrow(x, y, ln * u[0], ln * u[1])
            series.append({"kind": "line", "x": xs, "y": ys, "color": colors[k]})
        series.append({"kind": "scatter", "x": cb[:, 0], "y": cb[:, 1], "label": "codes",
                       "color": _w.PALETTE[3]})
        gu = gv / np.linalg.norm(gv)
        xs, ys = _arrow(-lim + 0.1, lim - 0.25, 0.9 * gu[0], 0.9 * gu[1])
        series.append({"kind": "line", "x": xs, "y": ys, "label": "upstream g = ∇q",
                       "color": _w.PALETTE[7]})
        q = cb[idx]
        ok = np.linalg.norm(P, axis=1) > 1e-9
        cz = (P * gz).sum(1)[ok] / (np.linalg.norm(P, axis=1) * np.linalg.norm(gz, axis=1))[ok]
        cq = (q @ gv)[ok] / (np.linalg.norm(q, axis=1) * np.linalg.norm(gv))[ok]
        ang = np.arctan2(gz[:, 1], gz[:, 0])
        R = min(1.0, float(np.abs(np.exp(1j * ang).mean())))
        spread = abs(math.sqrt(max(0.0, -2 * math.log(max(R, 1e-12)))))
        title = "STE: the same arrow everywhere" if method == "ste" else "rotation trick: arrows depend on z"
        pan = _w.panel(title, "z₁", "z₂", series=series, xlim=[-lim - 0.3, lim + 0.3],
                       ylim=[-lim - 0.3, lim + 0.3])
        text = (f"direction spread {spread:.2f} rad · ‖∇z‖/‖g‖ {mag.min():.2f} to {mag.max():.2f} · "
                f"max |cos(z,∇z) − cos(q,∇q)| {_at_rounding(np.abs(cz - cq).max())}")
        ratio = np.linalg.norm(q, axis=1) / np.maximum(np.linalg.norm(P, axis=1), 1e-12)
        lo_r, hi_r = 0.05, 20.0
        scale = _w.panel("Gradient size: ‖∇z‖/‖g‖ against ‖q‖/‖z‖", "‖q‖ / ‖z‖", "‖∇z‖ / ‖g‖",
                         series=[{"kind": "line", "x": [lo_r, hi_r], "y": [lo_r, hi_r],
                                  "label": "‖∇z‖/‖g‖ = ‖q‖/‖z‖", "color": "#777777", "dash": True},
                                 {"kind": "line", "x": [lo_r, hi_r], "y": [1.0, 1.0],
                                  "label": "STE: 1", "color": _w.PALETTE[1], "dash": True},
                                 {"kind": "scatter", "x": ratio, "y": mag,
                                  "label": "grid points", "color": _w.PALETTE[0]}],
                         xscale="log", yscale="log", xlim=[lo_r, hi_r], ylim=[lo_r, hi_r])
        return _w.frame(pan, scale, text=text)

    controls = [_w.Slider("angle", [0, 45, 90, 135, 180, 225, 270, 315], 0,
                          label="code angle (deg)", fmt="{:d}"),
                _w.Slider("norm", [0.25, 0.5, 1.0, 1.5, 2.0, 3.0], 1.5, label="code norm ‖q‖"),
                _w.Dropdown("method", ["ste", "rotation"], "rotation", label="gradient",
                            names=["STE", "rotation trick"])]
    return _w.Explorer(controls, compute, name="vq-gradient-field")


def training_curves_explorer(runs: dict) -> _w.Explorer:
    """Digits training curves, STE against the rotation trick (chapter vq-rotation-trick).

    ``runs``: {(key, seed): saved run} with keys ``vq-<init>-ste`` and ``vq-<init>-rotation``
    (see :mod:`kexue.train_codes`). Controls: codebook init and seed. Panels against the step:
    reconstruction MSE, mean ||z|| of the encoder outputs, codes used (%); readouts: the final
    numbers and the codebook loss mean ||q - z||^2.
    """
    if not runs:
        raise ValueError("runs must not be empty")
    inits = [i for i in _INITS if any(k == f"vq-{i}-ste" for k, _ in runs)]
    seeds = sorted({s for _, s in runs})
    if not inits or any((f"vq-{i}-{g}", s) not in runs for i in inits for g in ("ste", "rotation")
                        for s in seeds):
        raise ValueError("runs must hold vq-<init>-ste and vq-<init>-rotation for every seed")
    names = {"randn": "N(0,1) codebook", "small": "0.01·N(0,1) codebook",
             "data": "codebook from encoder outputs"}
    styles = {"ste": (_w.PALETTE[0], False, "STE"), "rotation": (_w.PALETTE[3], True, "rotation trick")}

    def compute(init: str, seed: int) -> dict:
        panels, parts = [], []
        for metric, title, ylab, scale, yscale in (
                ("mse", "Reconstruction", "reconstruction MSE", 1.0, "log"),
                ("z_norm", "Encoder output size", "mean ‖z‖", 1.0, "linear"),
                ("utilization", "Codebook use", "codes used (%)", 100.0, "linear")):
            series = []
            for grad, (color, dash, label) in styles.items():
                h = runs[f"vq-{init}-{grad}", seed]["history"]
                series.append({"kind": "line", "x": h["step"], "y": [scale * v for v in h[metric]],
                               "label": label, "color": color, "dash": dash})
            panels.append(_w.panel(f"{title}, {names[init]}", "training step", ylab,
                                   series=series, yscale=yscale))
        for grad, (_, _, label) in styles.items():
            r = runs[f"vq-{init}-{grad}", seed]
            parts.append(f"{label}: MSE {r['mse']:.4f}, ‖z‖ {r['z_norm']:.2f}, "
                         f"‖q−z‖² {r['codebook_loss']:.4f}, used {r['used']}/{r['codebook_size']}")
        return _w.frame(*panels, text=" · ".join(parts))

    controls = [_w.Dropdown("init", inits, "small" if "small" in inits else inits[0],
                            label="codebook init", names=[names[i] for i in inits]),
                _w.Slider("seed", seeds, seeds[0], label="seed", fmt="{:d}") if len(seeds) > 1
                else _w.Dropdown("seed", seeds, seeds[0], label="seed")]
    return _w.Explorer(controls, compute, name="vq-training-curves")
