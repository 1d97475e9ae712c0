"""Vector quantisation (VQ): the nearest code, straight-through estimators, the rotation trick,
the EMA codebook update, the VQ layer, and the gradient field of the rotation trick.

Chapters ``codes/fsq`` (kexue.fm/archives/9826, VQ as the baseline) and ``codes/vq-rotation-trick``
(kexue.fm/archives/10489). Vectors live on the last axis. Everything with a gradient is torch;
:func:`gradient_field` is numpy in, numpy out. Su's VQ loss names: ``beta`` weighs the codebook
term ``||q - sg[z]||^2`` and ``gamma`` the commitment term ``||z - sg[q]||^2`` (the reverse of the
VQ-VAE paper's "beta = 0.25").
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .._validate import (as_float_array, as_float_tensor, as_int_array, check_choice,
                         check_in_range, check_int_in, check_nonnegative, check_positive,
                         check_tensor)

__all__ = ["nearest_code", "ste", "generalized_ste", "rotation_matrix", "rotate_to",
           "ema_update", "INITS", "VectorQuantizer", "gradient_field", "boundary_distance"]




def _check_pair(z: torch.Tensor, q: torch.Tensor) -> None:
    """z and q: finite floating torch tensors of one shape (the STE and rotation-trick inputs)."""
    for name, t in (("z", z), ("q", q)):
        as_float_array(check_tensor(t, name=name), name=name)
        if not t.is_floating_point():
            raise ValueError(f"{name} must be a floating tensor, got {t.dtype}")
    if q.shape != z.shape:
        raise ValueError(f"q must have the shape of z {tuple(z.shape)}, got {tuple(q.shape)}")


def nearest_code(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """k = argmin_i ||z - e_i||^2 for each row of z (torch, no gradient); (...,) long.

    Squared distances ||z||^2 - 2 z.e + ||e||^2; ties go to the lower index. Chapter fsq, eq. VQ.
    """
    as_float_array(check_tensor(z, name="z"), name="z")
    as_float_array(check_tensor(codebook, name="codebook"), name="codebook", min_ndim=2, max_ndim=2)
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
    zt = as_float_tensor(z, name="z", max_ndim=1)[0].detach().double()
    qt = as_float_tensor(q, name="q", max_ndim=1)[0].detach().double()
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

    Equals one SGD step of size 1 - a on 1/2 mean_i ||e_k - sg[z_i]||^2 (chapter fsq, claim 3);
    unused codes are left unchanged. Returns a new tensor (torch, no gradient).
    """
    decay = check_in_range(decay, 0.0, 1.0, name="decay", hi_open=True)
    as_float_array(codebook, name="codebook", min_ndim=2, max_ndim=2)
    as_float_array(z, name="z", min_ndim=2, max_ndim=2)
    idx, _ = as_int_array(indices, name="indices")
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


#: Codebook initialisations of :class:`VectorQuantizer`.
INITS = ["randn", "small", "data"]


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
        self.init = check_choice(init, INITS, name="init")
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


def boundary_distance(points: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Distance from each point to the boundary of its Voronoi cell (numpy, float64).

    For z assigned to e_k: min over j != k of (||z - e_j||^2 - ||z - e_k||^2) / (2 ||e_j - e_k||),
    the distance from z to the bisecting hyperplane of e_k and e_j (the cell is the intersection
    of those half-spaces). Duplicate codes are skipped. Needs K >= 2 distinct codes. Chapter
    vq-rotation-trick: does the rotation trick's gradient change most near cell boundaries?
    """
    pts, _ = as_float_array(points, name="points", min_ndim=2, max_ndim=2)
    cb, _ = as_float_array(codebook, name="codebook", min_ndim=2, max_ndim=2)
    if cb.shape[1] != pts.shape[1]:
        raise ValueError(f"codebook must have {pts.shape[1]} columns, got shape {cb.shape}")
    if len(np.unique(cb, axis=0)) < 2:
        raise ValueError("codebook must hold at least 2 distinct codes")
    d2 = ((pts[:, None, :] - cb[None, :, :]) ** 2).sum(-1)              # (n, K)
    k = d2.argmin(1)
    gap = np.linalg.norm(cb[None, :, :] - cb[k][:, None, :], axis=-1)   # (n, K) ||e_j - e_k||
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = (d2 - d2[np.arange(len(pts)), k][:, None]) / (2 * gap)
    dist[gap < 1e-12] = np.inf                                          # e_k itself, duplicates
    return dist.min(1)
