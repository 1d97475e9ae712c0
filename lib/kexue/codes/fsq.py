"""Finite scalar quantisation (FSQ): bounded rounding, level counts, the implicit codebook and
its indices, the STE module, codebook statistics.

Chapter ``codes/fsq`` (kexue.fm/archives/9826).

Conventions. A vector to quantise lives on the last axis, shape ``(..., d)``. FSQ with
``levels = [L_1, ..., L_d]`` maps channel i to an integer *level* in ``{0, ..., L_i - 1}``; the
implicit codebook is the grid of all level vectors, and a level vector has the mixed-radix
*index* ``sum_i l_i prod_{j<i} L_j`` (first channel least significant, as in
vector-quantize-pytorch). The *code* sent to a decoder is the level rescaled to [-1, 1]. The
grid functions (``fsq_round``, ``levels_to_indices``, ...) take numpy or torch and return the
kind they were given; everything with a gradient (``fsq_ste``, ``FSQ``) is torch.
``codebook_usage`` and ``fsq_level_probabilities`` are numpy statistics.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from scipy.stats import norm
from torch import nn

from .._validate import (as_float_array, as_int_array, check_choice, check_instance, check_int_in,
                         check_last_dim, check_positive, check_tensor, is_tensor)
from ..probability import sigmoid

__all__ = ["check_levels", "fsq_round", "naive_fsq_round_tanh", "fsq_ste", "levels_to_codes",
           "codes_to_levels", "levels_to_indices", "indices_to_levels", "implicit_codebook",
           "FSQ", "RECOMMENDED_LEVELS", "recommended_levels", "fsq_level_edges",
           "fsq_level_probabilities", "codebook_usage"]


def check_levels(levels: Any, *, name: str = "levels", min_level: int = 2) -> list[int]:
    """A non-empty sequence of integers >= min_level (the FSQ level counts L_i; chapter fsq)."""
    check_instance(name, str, name="name")
    min_level = check_int_in(min_level, 1, None, name="min_level")
    if isinstance(levels, (int, np.integer)) or not hasattr(levels, "__len__") or len(levels) == 0:
        raise ValueError(f"{name} must be a non-empty list of integers >= {min_level}, got {levels!r}")
    out = []
    for i, L in enumerate(levels):
        out.append(check_int_in(L if not isinstance(L, np.integer) else int(L), min_level, None,
                                name=f"{name}[{i}]"))
    return out


def _lev(levels: list[int], like):
    """levels as an array broadcastable against `like` (numpy or torch)."""
    if is_tensor(like):
        return torch.tensor(levels, dtype=like.dtype if like.is_floating_point() else torch.long,
                            device=like.device)
    return np.asarray(levels, dtype=like.dtype if like.dtype.kind == "f" else np.int64)


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
    check_last_dim(arr, len(lv), name="z")
    L = _lev(lv, arr.detach() if is_t else arr)
    a = arr.detach() if is_t else arr
    if bound == "sigmoid":
        lev = (L - 1) * sigmoid(a)
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
    arr, is_t = as_int_array(lev, name="lev")
    lv = check_levels(levels)
    check_last_dim(arr, len(lv), name="lev")
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
    check_last_dim(arr, len(lv), name="codes")
    a = arr.detach() if is_t else arr
    if bool((a < -1 - 1e-6).any()) or bool((a > 1 + 1e-6).any()):
        raise ValueError("codes must lie in [-1, 1]")
    L = _lev(lv, a)
    out = ((a + 1) * (L - 1) / 2).round()
    return out.long() if is_t else out.astype(np.int64)


def _basis(lv: list[int]) -> list[int]:
    return [int(np.prod(lv[:i])) for i in range(len(lv))]


def levels_to_indices(lev: Any, levels: Sequence[int]):
    """Mixed-radix index sum_i l_i prod_{j<i} L_j of integer level vectors (chapter fsq, the implicit codebook).

    A bijection from the grid prod_i {0..L_i-1} onto {0, ..., prod L_i - 1}. numpy or torch.
    """
    arr, is_t, lv, L = _checked_levels(lev, levels)
    basis = _lev(_basis(lv), arr)
    return (arr * basis).sum(-1)


def indices_to_levels(idx: Any, levels: Sequence[int]):
    """Inverse of :func:`levels_to_indices`: l_i = floor(idx / prod_{j<i} L_j) mod L_i (chapter fsq)."""
    arr, is_t = as_int_array(idx, name="idx")
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
    arr, _ = as_float_array(check_tensor(z, name="z"), name="z")   # torch only: use fsq_round for numpy
    lv = check_levels(levels)
    check_choice(bound, ["sigmoid", "tanh"], name="bound")
    check_last_dim(arr, len(lv), name="z")
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
        as_float_array(check_tensor(z, name="z"), name="z")
        check_last_dim(z, self.dim, name="z")
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
        check_last_dim(codes, self.dim, name="codes")
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
        idx, _ = as_int_array(indices, name="indices")
        if not is_tensor(idx):
            idx = torch.from_numpy(idx)
        if bool((idx < 0).any()) or bool((idx >= self.codebook_size).any()):
            raise ValueError(f"indices must lie in [0, {self.codebook_size - 1}]")
        return self._levels_to_codes(indices_to_levels(idx, self.levels))


#: The FSQ paper's Table 1: target codebook size 2^k -> recommended levels.
RECOMMENDED_LEVELS = {2 ** 8: [8, 6, 5], 2 ** 10: [8, 5, 5, 5], 2 ** 12: [7, 5, 5, 5, 5],
                2 ** 14: [8, 8, 8, 6, 5], 2 ** 16: [8, 8, 8, 5, 5, 5]}


def recommended_levels(K: int) -> list[int]:
    """Levels the FSQ paper recommends for a target codebook size K in {2^8, 2^10, ..., 2^16}.

    Raises KeyError for other K (the table has no entry); ValueError for a non-integer K.
    Chapter fsq.
    """
    K = check_int_in(K, 1, None, name="K")
    if K not in RECOMMENDED_LEVELS:
        raise KeyError(f"K={K}: the paper's table covers {sorted(RECOMMENDED_LEVELS)}")
    return list(RECOMMENDED_LEVELS[K])


def fsq_level_edges(L: int) -> np.ndarray:
    """Cell edges in z of the sigmoid bound: z = logit((k + 1/2)/(L - 1)), k = 0..L-2.

    numpy. Chapter fsq, "Which codes get used?".
    """
    L = check_int_in(L, 2, None, name="L")
    p = (np.arange(L - 1) + 0.5) / (L - 1)
    return np.log(p / (1 - p))


def fsq_level_probabilities(L: int, scale: float = 1.0) -> np.ndarray:
    """P(level = k) for z ~ N(0, scale^2) under Round[(L - 1) sigma(z)], k = 0..L-1. numpy.

    Differences of the normal CDF at the logit cell edges (:func:`fsq_level_edges`).
    Chapter fsq, "Which codes get used?".
    """
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
    arr, is_t = as_int_array(indices, name="indices")
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
