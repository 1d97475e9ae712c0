"""How much a decoder keeps per token: KV-cache counts and the one table of published models.

Chapters mha-to-mla (kexue.fm/archives/10091: MHA, MQA, GQA and MLA caches) and attention-as-rnn
(kexue.fm/archives/10017: the post's fixed "RAM" of 2 x layers x hidden numbers against the KV
cache that grows with the context). Exact integer counts; no arrays.
"""
from __future__ import annotations

from .._validate import check_choice, check_int_in

__all__ = ["ATTENTION_KINDS", "DTYPE_BYTES", "MODEL_CONFIGS", "kv_cache_elements",
           "kv_cache_bytes", "config_cache_elements", "ram_floats", "config_ram_floats"]

ATTENTION_KINDS = ("mha", "mqa", "gqa", "mla")
#: Bytes per cached number.
DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "fp8": 1}

#: Published attention configurations (read from the papers' tables and the released model
#: configs): label, layers, model width, query heads, head size, K/V heads, MLA latent sizes.
MODEL_CONFIGS = {
    "llama2-7b": {"label": "Llama2-7B", "n_layers": 32, "d_model": 4096, "n_heads": 32,
                  "head_dim": 128, "n_kv_heads": 32},
    "llama2-13b": {"label": "Llama2-13B", "n_layers": 40, "d_model": 5120, "n_heads": 40,
                   "head_dim": 128, "n_kv_heads": 40},
    "llama2-70b": {"label": "Llama2-70B", "n_layers": 80, "d_model": 8192, "n_heads": 64,
                   "head_dim": 128, "n_kv_heads": 8},
    "deepseek-v2": {"label": "DeepSeek-V2", "n_layers": 60, "d_model": 5120, "n_heads": 128,
                    "head_dim": 128, "n_kv_heads": 128, "d_c": 512, "d_r": 64, "d_cq": 1536},
}


def kv_cache_elements(kind: str, *, n_layers: int, n_heads: int | None = None,
                      head_dim: int | None = None, n_kv_heads: int | None = None,
                      d_c: int | None = None, d_r: int | None = None) -> int:
    """Numbers cached per token, summed over layers. Exact int.

    Chapter mha-to-mla: MHA 2 h d_k, GQA 2 g d_k, MQA 2 d_k, MLA d_c + d_r (the latent c_i and
    the shared RoPE key), each times n_layers. ``kind`` in {"mha", "mqa", "gqa", "mla"}.
    Chapter attention-as-rnn: a KV cache after t tokens holds t times this.
    """
    check_choice(kind, ATTENTION_KINDS, name="kind")
    n_layers = check_int_in(n_layers, 1, None, name="n_layers")
    if kind == "mla":
        if d_c is None or d_r is None:
            raise ValueError("d_c and d_r must be given for kind='mla'")
        d_c = check_int_in(d_c, 1, None, name="d_c")
        d_r = check_int_in(d_r, 0, None, name="d_r")
        return n_layers * (d_c + d_r)
    if head_dim is None:
        raise ValueError(f"head_dim must be given for kind={kind!r}")
    head_dim = check_int_in(head_dim, 1, None, name="head_dim")
    if kind == "mqa":
        return n_layers * 2 * head_dim
    if n_heads is None:
        raise ValueError(f"n_heads must be given for kind={kind!r}")
    n_heads = check_int_in(n_heads, 1, None, name="n_heads")
    if kind == "mha":
        return n_layers * 2 * n_heads * head_dim
    if n_kv_heads is None:
        raise ValueError("n_kv_heads must be given for kind='gqa'")
    g = check_int_in(n_kv_heads, 1, n_heads, name="n_kv_heads")
    if n_heads % g:
        raise ValueError(f"n_kv_heads must divide n_heads = {n_heads}, got {g}")
    return n_layers * 2 * g * head_dim


def kv_cache_bytes(kind: str, *, context: int, batch: int = 1, dtype: str = "bfloat16",
                   **sizes: int) -> int:
    """Bytes of the whole KV cache: elements per token x context x batch x bytes per number.

    Chapter mha-to-mla (the calculator). ``dtype`` in float64/float32/float16/bfloat16/fp8;
    ``sizes`` as for :func:`kv_cache_elements`.
    """
    check_choice(dtype, list(DTYPE_BYTES), name="dtype")
    context = check_int_in(context, 1, None, name="context")
    batch = check_int_in(batch, 1, None, name="batch")
    return kv_cache_elements(kind, **sizes) * context * batch * DTYPE_BYTES[dtype]


def config_cache_elements(name: str, kind: str | None = None) -> int:
    """Per-token cache of a named :data:`MODEL_CONFIGS` entry (its own kind by default)."""
    check_choice(name, list(MODEL_CONFIGS), name="name")
    c = MODEL_CONFIGS[name]
    if kind is None:
        kind = "mla" if "d_c" in c else ("mha" if c["n_kv_heads"] == c["n_heads"] else "gqa")
    return kv_cache_elements(kind, n_layers=c["n_layers"], n_heads=c["n_heads"],
                             head_dim=c["head_dim"], n_kv_heads=c["n_kv_heads"],
                             d_c=c.get("d_c"), d_r=c.get("d_r"))


def ram_floats(n_layers: int, hidden: int) -> int:
    """The post's "RAM" of a decoder: 2 x n_layers x hidden numbers (Llama2-70B: 1,310,720).

    Chapter attention-as-rnn. It is the per-token cache of an MHA whose heads together span the
    hidden size (keys and values of one token in every layer), so it is computed as that.
    """
    hidden = check_int_in(hidden, 1, None, name="hidden")
    return kv_cache_elements("mha", n_layers=n_layers, n_heads=1, head_dim=hidden)


def config_ram_floats(name: str) -> int:
    """:func:`ram_floats` of a named :data:`MODEL_CONFIGS` entry (layers x model width)."""
    check_choice(name, list(MODEL_CONFIGS), name="name")
    c = MODEL_CONFIGS[name]
    return ram_floats(c["n_layers"], c["d_model"])
