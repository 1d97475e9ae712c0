"""From MHA to MLA: grouped-query attention and multi-head latent attention (chapter mha-to-mla).

kexue.fm/archives/10091. GQA (MHA with g = h, MQA with g = 1) as a module, and MLA in its training
form (per-head keys and values decompressed from a latent) and its absorbed decoding form (an MQA
whose one key/value head is the cached latent), with DeepSeek-V2's decoupled RoPE. torch, row-vector
convention ``x @ W`` (nn.Linear stores W^T), any float dtype (exactness checks in float64).
Shapes: B batch, T/S query/key positions, H query heads, G key/value heads (groups), D head size.
Attention itself is :func:`kexue.attention.core.attention`; cache counts are in
:mod:`kexue.attention.kv_cache`.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from .._validate import as_float_array, check_choice, check_instance, check_int_in, check_tensor
from .core import attention
from .kv_cache import ATTENTION_KINDS, kv_cache_elements
from .rope import apply_rope

__all__ = ["GroupedQueryAttention", "ROPE_MODES", "STACK_FORMS", "init_mla", "cast_weights",
           "round_to", "alibi_slopes", "mla_train_forward", "mla_absorb", "mla_decode_forward",
           "mla_decode_step", "mla_stack", "decode_cost"]


def _float_tensor(x: Any, name: str, ndim: int) -> torch.Tensor:
    """A finite floating torch tensor with `ndim` axes (the checks of kexue._validate)."""
    return as_float_array(check_tensor(x, name=name), name=name, min_ndim=ndim, max_ndim=ndim)[0]


class GroupedQueryAttention(torch.nn.Module):
    """Multi-head attention whose h query heads share g K/V heads: MHA (g = h), GQA, MQA (g = 1).

    Chapter mha-to-mla. Weights in the post's convention (x @ W): W_q (d, h D), W_k, W_v (d, g D),
    W_o (h D, d), Gaussian with variance 1/fan_in. :meth:`kv_cache` is what decoding stores:
    (B, g, T, D) keys and values. torch.
    """

    def __init__(self, d: int, n_heads: int, n_kv_heads: int, head_dim: int, *, seed: int = 0,
                 dtype: torch.dtype = torch.float64):
        super().__init__()
        self.d = check_int_in(d, 1, None, name="d")
        self.h = check_int_in(n_heads, 1, None, name="n_heads")
        self.g = check_int_in(n_kv_heads, 1, self.h, name="n_kv_heads")
        if self.h % self.g:
            raise ValueError(f"n_kv_heads must divide n_heads = {self.h}, got {self.g}")
        self.hd = check_int_in(head_dim, 1, None, name="head_dim")
        check_instance(dtype, torch.dtype, name="dtype")
        gen = torch.Generator().manual_seed(check_int_in(seed, 0, None, name="seed"))

        def w(rows, cols):
            return torch.nn.Parameter(torch.randn(rows, cols, generator=gen, dtype=torch.float64)
                                      .div(math.sqrt(rows)).to(dtype))
        self.W_q, self.W_k = w(d, self.h * self.hd), w(d, self.g * self.hd)
        self.W_v, self.W_o = w(d, self.g * self.hd), w(self.h * self.hd, d)

    def _split(self, y: torch.Tensor, heads: int) -> torch.Tensor:   # (B, T, heads D) -> (B, heads, T, D)
        B, T, _ = y.shape
        return y.view(B, T, heads, self.hd).transpose(1, 2)

    def kv_cache(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The cached keys and values of x (B, T, d): two (B, g, T, D) tensors."""
        x = _float_tensor(x, "x", 3)
        return self._split(x @ self.W_k, self.g), self._split(x @ self.W_v, self.g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Causal self-attention of x (B, T, d) -> (B, T, d)."""
        x = _float_tensor(x, "x", 3)
        if x.shape[-1] != self.d:
            raise ValueError(f"x must have last dimension d = {self.d}, got {x.shape[-1]}")
        k, v = self.kv_cache(x)
        o = attention(self._split(x @ self.W_q, self.h), k, v, causal=True)   # (B, h, T, D)
        return o.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1) @ self.W_o

    def as_mha(self) -> "GroupedQueryAttention":
        """The same model as an MHA with h K/V heads: every group's K/V weights copied to its heads."""
        m = GroupedQueryAttention(self.d, self.h, self.h, self.hd, dtype=self.W_q.dtype)
        rep = self.h // self.g
        with torch.no_grad():
            for name in ("W_q", "W_o"):
                getattr(m, name).copy_(getattr(self, name))
            for name in ("W_k", "W_v"):
                w = getattr(self, name).view(self.d, self.g, self.hd)
                getattr(m, name).copy_(w.repeat_interleave(rep, dim=1).reshape(self.d, -1))
        return m

    def stacked_kv_weight(self) -> torch.Tensor:
        """W_c = [W_k, W_v] of shape (d, 2 g D): the low-rank projection GQA already is."""
        return torch.cat([self.W_k, self.W_v], dim=1)


# ---- MLA ----------------------------------------------------------------------------

#: Position encodings of MLA (chapter mha-to-mla): DeepSeek's decoupled RoPE, RoPE on all query/key
#: dimensions, none, RoPE applied to the latent c_i before the per-head maps (the post's
#: compromise), and ALiBi's additive bias.
ROPE_MODES = ("decoupled", "full", "none", "latent", "alibi")
#: The forms :func:`mla_stack` runs: the training form and the two orders of the absorbed form.
STACK_FORMS = ("train", "merged", "sequential")


def init_mla(d: int, n_heads: int, d_k: int, d_v: int, d_c: int, d_cq: int, d_r: int, *,
             seed: int = 0, dtype: torch.dtype = torch.float64) -> dict:
    """Random MLA weights (variance 1/fan_in), in the post's x @ W convention. torch.

    Chapter mha-to-mla. W_cq (d, d_cq) and W_c (d, d_c) are the down-projections to the query
    and key/value latents c'_i and c_i; per head s: W_q[s] (d_cq, d_k), W_qr[s] (d_cq, d_r),
    W_k[s] (d_c, d_k), W_v[s] (d_c, d_v), W_o[s] (d_v, d); W_kr (d, d_r) makes the RoPE key that
    all heads share, from x_i (not from c_i). The score scale is 1/sqrt(d_k + d_r) in every form.
    """
    sizes = {"d": d, "n_heads": n_heads, "d_k": d_k, "d_v": d_v, "d_c": d_c, "d_cq": d_cq}
    for name, val in sizes.items():
        check_int_in(val, 1, None, name=name)
    check_int_in(d_r, 0, None, name="d_r")
    check_instance(dtype, torch.dtype, name="dtype")
    if d_r % 2:
        raise ValueError(f"d_r must be even (RoPE rotates pairs), got {d_r}")
    gen = torch.Generator().manual_seed(check_int_in(seed, 0, None, name="seed"))

    def w(*shape):
        return (torch.randn(*shape, generator=gen, dtype=torch.float64)
                / math.sqrt(shape[-2])).to(dtype)
    h = n_heads
    return {"W_cq": w(d, d_cq), "W_q": w(h, d_cq, d_k), "W_qr": w(h, d_cq, d_r),
            "W_c": w(d, d_c), "W_k": w(h, d_c, d_k), "W_v": w(h, d_c, d_v),
            "W_kr": w(d, d_r), "W_o": w(h, d_v, d)}


def cast_weights(W: dict, dtype: torch.dtype) -> dict:
    """The same weights dict in another dtype (the precision lab). torch."""
    check_instance(W, dict, name="W")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    return {k: v.to(dtype) for k, v in W.items()}


def round_to(x: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """x stored in a lower precision and read back: x.to(dtype).to(x.dtype). torch.

    Chapter mha-to-mla (the precision lab): with float64 arithmetic and every stored product
    rounded to bfloat16, a computation behaves like hardware that multiplies bf16 numbers,
    accumulates exactly enough, and stores bf16 results, and it rounds the same on every CPU.
    dtype=None returns x unchanged.
    """
    x = check_tensor(x, name="x")
    if dtype is None:
        return x
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating torch.dtype or None, got {dtype!r}")
    return x.to(dtype).to(x.dtype)


def alibi_slopes(n_heads: int) -> torch.Tensor:
    """ALiBi's head slopes m_s = 2^(-8 s / h), s = 1..h (Press et al.). torch float64 (h,).

    Chapter mha-to-mla: ALiBi adds m_s (i - t) to the score of query t and key i.
    """
    h = check_int_in(n_heads, 1, None, name="n_heads")
    return 2.0 ** (-8.0 * torch.arange(1, h + 1, dtype=torch.float64) / h)


def _mla_inputs(x: Any, W: dict, positions: Any, rope: str, name: str = "W"):
    check_instance(W, dict, name=name)
    check_choice(rope, ROPE_MODES, name="rope")
    if rope == "latent" and (W["W_q"].shape[1] != W["W_c"].shape[1] or W["W_qr"].shape[-1]):
        raise ValueError("rope='latent' needs weights with d_cq == d_c (the query reads the "
                         f"rotated latent c_i) and d_r == 0, got d_cq = {W['W_q'].shape[1]}, "
                         f"d_c = {W['W_c'].shape[1]}, d_r = {W['W_qr'].shape[-1]}")
    x = as_float_array(check_tensor(x, name="x"), name="x", min_ndim=2, max_ndim=3)[0]
    batched = x.ndim == 3
    x = x if batched else x[None]
    if x.shape[-1] != W["W_c"].shape[0]:
        raise ValueError(f"x must have last dimension d = {W['W_c'].shape[0]}, got {x.shape[-1]}")
    T = x.shape[1]
    pos = torch.arange(T, dtype=torch.float64) if positions is None else positions
    if not torch.is_tensor(pos):
        pos = torch.as_tensor(pos, dtype=torch.float64)
    if pos.shape != (T,):
        raise ValueError(f"positions must have shape ({T},), got {tuple(pos.shape)}")
    return x, batched, pos


def _rope(y: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    return apply_rope(y, pos) if y.shape[-1] else y      # interleaved pairs, base 1e4


def _mla_scale(W: dict) -> float:
    return 1.0 / math.sqrt(W["W_q"].shape[-1] + W["W_qr"].shape[-1])


def _alibi_dims(pos: torch.Tensor, h: int, scale: float, like: torch.Tensor):
    """ALiBi as one extra query/key dimension: q_extra = m_s / scale, k_extra = i.

    scale * (m_s / scale) * i = m_s i, and the missing -m_s t is the same for every key of
    query t, so the softmax does not see it: the bias m_s (i - t) exactly.
    """
    m = alibi_slopes(h).to(like.dtype)
    q_extra = (m / scale)[None, :, None, None].expand(like.shape[0], h, pos.shape[0], 1)
    k_extra = pos.to(like.dtype)[None, None, :, None].expand(like.shape[0], -1, -1, 1)
    return q_extra, k_extra


def mla_train_forward(x: torch.Tensor, W: dict, positions: Any = None, rope: str = "decoupled",
                      precision: torch.dtype | None = None):
    """MLA in its training (prefill) form: decompress per-head keys and values, run causal MHA.

    Chapter mha-to-mla. q^(s)_i = [c'_i W_q[s], R_i c'_i W_qr[s]], k^(s)_i = [c_i W_k[s], R_i x_i W_kr],
    v^(s)_i = c_i W_v[s], out = sum_s o^(s) W_o[s]; head sizes d_k + d_r (q, k) and d_v (v).
    rope="decoupled" is DeepSeek-V2's; "none" drops every rotation; "full" rotates all d_k + d_r
    dimensions of q and k (what breaks the absorption); "latent" is the post's compromise
    q^(s) = (c_i R_i) W_q[s], k^(s) = (c_i R_i) W_k[s], v^(s) = (c_i R_i) W_v[s] (needs d_cq = d_c,
    d_r = 0); "alibi" adds m_s (i - t) to the scores (:func:`alibi_slopes`). With `precision`
    (e.g. torch.bfloat16) every stored product is rounded to it (:func:`round_to`); the weights
    should be rounded by the caller. x (T, d) or (B, T, d); positions default 0..T-1.
    Returns (out like x, k (B, h, T, d_k+d_r), v (B, h, T, d_v)). torch.
    """
    x, batched, pos = _mla_inputs(x, W, positions, rope)
    r = lambda t: round_to(t, precision)                                 # noqa: E731
    cq, c = r(x @ W["W_cq"]), r(x @ W["W_c"])                            # (B, T, d_cq), (B, T, d_c)
    if rope == "latent":
        c = r(_rope(c, pos))                                             # c_i R_i, also the query input
        cq = c
    q_n = r(torch.einsum("btc,hck->bhtk", cq, W["W_q"]))
    q_r = r(torch.einsum("btc,hcr->bhtr", cq, W["W_qr"]))
    k_n = r(torch.einsum("btc,hck->bhtk", c, W["W_k"]))
    k_r = r(x @ W["W_kr"])[:, None].expand(-1, q_n.shape[1], -1, -1)    # one head, shared
    v = r(torch.einsum("btc,hcv->bhtv", c, W["W_v"]))
    q, k = torch.cat([q_n, q_r], -1), torch.cat([k_n, k_r], -1)
    if rope == "decoupled":
        q = torch.cat([q_n, r(_rope(q_r, pos))], -1)
        k = torch.cat([k_n, r(_rope(k_r, pos))], -1)
    elif rope == "full":
        q, k = r(_rope(q, pos)), r(_rope(k, pos))
    scale = _mla_scale(W)
    if rope == "alibi":
        q_extra, k_extra = _alibi_dims(pos, q.shape[1], scale, q)
        q, k = torch.cat([q, q_extra], -1), torch.cat([k, k_extra.expand(-1, q.shape[1], -1, -1)], -1)
    o = r(attention(q, k, v, causal=True, scale=scale))                  # (B, h, T, d_v)
    out = r(torch.einsum("bhtv,hvd->btd", o, W["W_o"]))
    if rope == "alibi":
        k = k[..., :-1]
    return (out if batched else out[0]), k, v


def mla_absorb(W: dict, mode: str = "merged", precision: torch.dtype | None = None) -> dict:
    """Weights of MLA's decoding form. torch.

    Chapter mha-to-mla. mode="merged" precomputes W_qc[s] = W_q[s] W_k[s]^T (d_cq, d_c) and
    W_ov[s] = W_v[s] W_o[s] (d_c, d); mode="sequential" keeps the factors and applies them one
    after the other at run time ((c' W_q) W_k^T), as implementations do to limit rounding.
    With `precision` the merged matrices are stored rounded to it (:func:`round_to`).
    """
    check_choice(mode, ["merged", "sequential"], name="mode")
    out = dict(check_instance(W, dict, name="W"))
    out["mode"] = mode
    if mode == "merged":
        out["W_qc"] = round_to(W["W_q"] @ W["W_k"].transpose(-1, -2), precision)
        out["W_ov"] = round_to(W["W_v"] @ W["W_o"], precision)
    return out


def _absorbed_query(cq: torch.Tensor, W_abs: dict, precision=None) -> torch.Tensor:
    """(B, T, d_cq) -> per-head query in latent space (B, h, T, d_c)."""
    if W_abs["mode"] == "merged":
        return round_to(torch.einsum("btc,hce->bhte", cq, W_abs["W_qc"]), precision)
    q_n = round_to(torch.einsum("btc,hck->bhtk", cq, W_abs["W_q"]), precision)
    return round_to(torch.einsum("bhtk,hek->bhte", q_n, W_abs["W_k"]), precision)


def _absorbed_out(o_c: torch.Tensor, W_abs: dict, precision=None) -> torch.Tensor:
    """Latent attention output (B, h, T, d_c) -> (B, T, d)."""
    if W_abs["mode"] == "merged":
        return round_to(torch.einsum("bhte,hed->btd", o_c, W_abs["W_ov"]), precision)
    o_v = round_to(torch.einsum("bhte,hev->bhtv", o_c, W_abs["W_v"]), precision)
    return round_to(torch.einsum("bhtv,hvd->btd", o_v, W_abs["W_o"]), precision)


def mla_decode_forward(x: torch.Tensor, W_abs: dict, positions: Any = None,
                       rope: str = "decoupled", precision: torch.dtype | None = None):
    """MLA in its decoding form: an MQA whose one K/V head is the cached [c_i, R_i x_i W_kr].

    Chapter mha-to-mla. Per head the query is [c'_t W_q[s] W_k[s]^T, R_t c'_t W_qr[s]] (size
    d_c + d_r), the value is c_i itself (size d_c), and W_v[s] W_o[s] maps the result out. The
    score scale stays 1/sqrt(d_k + d_r) (the training form's), not 1/sqrt(d_c + d_r).
    rope="full" is the naive attempt: rotate the absorbed query and the cached latent by their
    absolute positions. It is NOT the training form with full RoPE (the chapter shows the gap).
    rope="latent" caches c_i R_i (d_c numbers); rope="alibi" adds the bias, whose key part is
    the position i (known, not cached). `precision` as in :func:`mla_train_forward`.
    Returns (out like x, cache (B, T, d_c + d_r)). torch.
    """
    if "mode" not in check_instance(W_abs, dict, name="W_abs"):
        raise ValueError("W_abs must come from mla_absorb (it has no 'mode')")
    x, batched, pos = _mla_inputs(x, W_abs, positions, rope)
    r = lambda t: round_to(t, precision)                                 # noqa: E731
    cq, c = r(x @ W_abs["W_cq"]), r(x @ W_abs["W_c"])
    if rope == "latent":
        c = r(_rope(c, pos))
        cq = c
    k_r = r(x @ W_abs["W_kr"])                                           # (B, T, d_r)
    q_c = _absorbed_query(cq, W_abs, precision)                          # (B, h, T, d_c)
    q_r = r(torch.einsum("btc,hcr->bhtr", cq, W_abs["W_qr"]))
    if rope == "decoupled":
        q_r, k_r = r(_rope(q_r, pos)), r(_rope(k_r, pos))
    elif rope == "full":
        q_c, c_rot = r(_rope(q_c, pos)), r(_rope(c, pos))
        q_r, k_r = r(_rope(q_r, pos)), r(_rope(k_r, pos))
    cache = torch.cat([c, k_r], -1)                                      # (B, T, d_c + d_r)
    keys = torch.cat([c_rot, k_r], -1) if rope == "full" else cache
    q, scale = torch.cat([q_c, q_r], -1), _mla_scale(W_abs)
    keys = keys[:, None]
    if rope == "alibi":
        q_extra, k_extra = _alibi_dims(pos, q.shape[1], scale, q)
        q, keys = torch.cat([q, q_extra], -1), torch.cat([keys, k_extra], -1)
    o_c = r(attention(q, keys, c[:, None], causal=True, scale=scale))   # (B, h, T, d_c)
    out = _absorbed_out(o_c, W_abs, precision)
    return (out if batched else out[0]), (cache if batched else cache[0])


def mla_decode_step(x_t: torch.Tensor, cache: torch.Tensor | None, W_abs: dict, pos: int):
    """One decoding step: append token x_t (d,) at position ``pos`` to cache (t, d_c + d_r).

    Chapter mha-to-mla (decoupled RoPE). Returns (out_t (d,), cache (t + 1, d_c + d_r)); the
    cache holds only the latent and the shared RoPE key, whatever the number of heads. torch.
    ``cache`` is either the pos rows so far (None at pos 0; a new tensor one row longer is
    returned) or a preallocated floating buffer with more than pos rows (e.g.
    ``torch.empty(n_tokens, d_c + d_r)``): row pos is written in place, only rows 0..pos are read,
    and the same buffer is returned. The rows read are checked once per call (finite: one sum);
    the attention over them does not check them again.
    """
    if "mode" not in check_instance(W_abs, dict, name="W_abs"):
        raise ValueError("W_abs must come from mla_absorb (it has no 'mode')")
    x_t = _float_tensor(x_t, "x_t", 1)
    pos = check_int_in(pos, 0, None, name="pos")
    d_c = W_abs["W_c"].shape[1]
    width = d_c + W_abs["W_kr"].shape[1]
    if cache is None:
        cache = x_t.new_zeros(0, width)
    check_tensor(cache, name="cache")
    buffer = cache.ndim == 2 and cache.shape[0] > pos and cache.shape[1] == width
    if buffer and not cache.is_floating_point():
        raise ValueError(f"cache must be a floating tensor to be written in place, got {cache.dtype}")
    if buffer and pos:
        _float_tensor(cache[:pos], "cache", 2)
    if not buffer:
        cache = _float_tensor(cache, "cache", 2) if cache.shape[0] else cache
        if cache.shape != (pos, width):
            raise ValueError(f"cache must have shape ({pos}, {width}) at position {pos} (or more "
                             f"than {pos} rows: a preallocated buffer), got {tuple(cache.shape)}")
    p = torch.tensor([float(pos)], dtype=torch.float64)
    x1 = x_t[None, None]                                                 # (1, 1, d)
    cq = x1 @ W_abs["W_cq"]
    new = torch.cat([x1 @ W_abs["W_c"], _rope(x1 @ W_abs["W_kr"], p)], -1)[0]   # (1, width)
    if buffer:
        cache[pos] = new[0]
        keys = cache[:pos + 1]
    else:
        cache = keys = torch.cat([cache, new], 0)
    q = torch.cat([_absorbed_query(cq, W_abs),
                   _rope(torch.einsum("btc,hcr->bhtr", cq, W_abs["W_qr"]), p)], -1)
    # attention(q, keys, keys[:, :d_c], causal=True) without re-checking the rows checked above:
    # the last position sees every key, and the h heads share the one key head (as there: the
    # heads stacked as query rows, one product that reads the cache once)
    h = q.shape[1]
    s = _mla_scale(W_abs) * (q.reshape(1, 1, h, width) @ keys.transpose(0, 1)[None, None])
    o_c = (torch.softmax(s, dim=-1) @ keys[None, None, :, :d_c]).reshape(1, h, 1, d_c)
    return _absorbed_out(o_c, W_abs)[0, 0], cache


def mla_stack(x: torch.Tensor, layers: Sequence[dict], form: str = "train",
              precision: torch.dtype | None = None,
              round_activations: bool = True) -> list[torch.Tensor]:
    """Run a stack of MLA layers with residual connections: h_{l+1} = h_l + MLA_l(rms(h_l)).

    Chapter mha-to-mla (the precision lab): rms(h) = h / sqrt(mean(h^2)) per token (a pre-norm
    without gain), decoupled RoPE. form="train" is :func:`mla_train_forward`, "merged" and
    "sequential" the absorbed decoding form of :func:`mla_absorb`. With `precision` every
    weight (and the merged products W_q W_k^T, W_v W_o) is rounded to it (:func:`round_to`), and
    with round_activations=True also every stored activation, the residual stream included;
    round_activations=False keeps activations exact and isolates the rounding of the weights.
    The arithmetic stays in x's dtype. x (T, d) float64. Returns [h_0, h_1, ..., h_L] (the
    input, then the output of each layer). torch.
    """
    check_choice(form, STACK_FORMS, name="form")
    if not isinstance(round_activations, bool):
        raise ValueError(f"round_activations must be a bool, got {round_activations!r}")
    act = precision if round_activations else None
    if not isinstance(layers, (list, tuple)) or not layers:
        raise ValueError("layers must be a non-empty list of init_mla weight dicts")
    x = _float_tensor(x, "x", 2)
    h = round_to(x, act)
    out = [h]
    for W in layers:
        Wp = {k: round_to(v, precision) for k, v in W.items()}
        n = round_to(h / h.pow(2).mean(-1, keepdim=True).sqrt(), act)
        if form == "train":
            y = mla_train_forward(n, Wp, precision=act)[0]
        else:
            y = mla_decode_forward(n, mla_absorb(Wp, form, precision), precision=act)[0]
        h = round_to(h + y, act)
        out.append(h)
    return out


def decode_cost(kind: str, *, n_heads: int, head_dim: int, n_kv_heads: int | None = None,
                d_c: int | None = None, d_r: int = 0, d_v: int | None = None) -> dict:
    """Per-layer decoding work for one new token, per cached token: numbers read, multiply-adds.

    Chapter mha-to-mla. kind="mla" is the absorbed form (q.k over d_c + d_r and p.v over d_c in
    every head, reading d_c + d_r numbers); kind="mla_naive" caches the decompressed per-head
    keys (d_k + d_r) and values (d_v), as an MHA. Others as :func:`kv_cache_elements`.
    Returns {"read": numbers read, "qk_macs", "pv_macs", "macs_per_read"}.
    """
    check_choice(kind, ATTENTION_KINDS + ("mla_naive",), name="kind")
    h = check_int_in(n_heads, 1, None, name="n_heads")
    dk = check_int_in(head_dim, 1, None, name="head_dim")
    dv = dk if d_v is None else check_int_in(d_v, 1, None, name="d_v")
    d_r = check_int_in(d_r, 0, None, name="d_r")
    if kind in ("mla", "mla_naive"):
        if d_c is None:
            raise ValueError("d_c must be given for MLA")
        d_c = check_int_in(d_c, 1, None, name="d_c")
        if kind == "mla":
            read, qk, pv = d_c + d_r, h * (d_c + d_r), h * d_c
        else:
            read, qk, pv = h * (dk + d_r + dv), h * (dk + d_r), h * dv
    else:
        g = {"mha": h, "mqa": 1}.get(kind, n_kv_heads)
        read = kv_cache_elements(kind, n_layers=1, n_heads=h, head_dim=dk, n_kv_heads=g)
        qk, pv = h * dk, h * dk
    return {"read": read, "qk_macs": qk, "pv_macs": pv, "macs_per_read": (qk + pv) / read}

