"""Explorers of the chapter mha-to-mla: the KV-cache calculator and which query head reads which
cached head. The numbers come from :mod:`kexue.attention.kv_cache` and :mod:`kexue.attention.core`."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from kexue import attention as A
from kexue._validate import check_grid, check_int_in
from kexue.widgets import PALETTE, Dropdown, Explorer, Slider, bars, frame, heatmap, hline, panel

__all__ = ["EXPLORERS", "kv_cache", "head_sharing"]

ACCELERATOR_BYTES = 80e9            # one 80 GB accelerator, the calculator's reference line


def kv_cache(contexts: Sequence[int] = (1024, 4096, 16384, 32768, 65536, 131072),
             batches: Sequence[int] = (1, 8, 32, 128)) -> Explorer:
    """The KV-cache calculator: preset, context length, batch and dtype -> GiB per variant.

    Bars: MHA (h K/V heads), GQA (the preset's groups, 8 where it has none), MQA and MLA (the
    preset's d_c, d_r; 512 and 64 as in DeepSeek-V2 where it has none), with the 80 GB of one
    accelerator as a line. Presets: :data:`kexue.attention.MODEL_CONFIGS`.
    """
    ctxs = [check_int_in(c, 1, None, name="contexts") for c in check_grid(contexts, name="contexts")]
    bs = [check_int_in(b, 1, None, name="batches") for b in check_grid(batches, name="batches")]
    kinds = ["mha", "gqa", "mqa", "mla"]

    def compute(preset: str, context: int, batch: int, dtype: str) -> dict:
        c = A.MODEL_CONFIGS[preset]
        g = c["n_kv_heads"] if c["n_kv_heads"] < c["n_heads"] else 8
        sizes = dict(n_layers=c["n_layers"], n_heads=c["n_heads"], head_dim=c["head_dim"],
                     n_kv_heads=g, d_c=c.get("d_c", 512), d_r=c.get("d_r", 64))
        gib = [A.kv_cache_bytes(k, context=context, batch=batch, dtype=dtype, **sizes) / 2 ** 30
               for k in kinds]
        labels = ["MHA", f"GQA g={g}", "MQA", f"MLA {sizes['d_c']}+{sizes['d_r']}"]
        sizes_panel = panel(f"KV cache of {preset} at {context} tokens x batch {batch} ({dtype})",
                            "variant", "GiB", series=[bars([0, 1, 2, 3], gib, "cache size", color=PALETTE[0])],
                            hlines=[hline(ACCELERATOR_BYTES / 2 ** 30, "80 GB accelerator", color=PALETTE[3])],
                            yscale="log", xticks=([0, 1, 2, 3], labels))
        per_tok = [A.kv_cache_elements(k, **sizes) for k in kinds]
        text = " · ".join(f"{lab}: {e:,} numbers/token ({gb:.3g} GiB)"
                          for lab, e, gb in zip(labels, per_tok, gib))
        return frame(sizes_panel, text=text)

    controls = [Dropdown("preset", list(A.MODEL_CONFIGS), "llama2-7b", label="model"),
                Slider("context", ctxs, 4096 if 4096 in ctxs else ctxs[0], label="context", fmt="{:d}"),
                Slider("batch", bs, bs[0], label="batch", fmt="{:d}"),
                Dropdown("dtype", ["bfloat16", "float32", "fp8"], "bfloat16", label="dtype")]
    return Explorer(controls, compute, name="kv cache calculator")


def head_sharing(n_heads: int = 8) -> Explorer:
    """Which query head reads which K/V head, for every number of groups g dividing h.

    A heatmap (query head x K/V head) from :func:`kexue.attention.gqa_head_to_group`; g = h is
    MHA, g = 1 is MQA.
    """
    h = check_int_in(n_heads, 2, 64, name="n_heads")
    divisors = [g for g in range(1, h + 1) if h % g == 0]

    def compute(g: int) -> dict:
        grp = A.gqa_head_to_group(h, g).numpy()
        z = np.zeros((h, g))                       # only the g cached heads, numbered 1..g
        z[np.arange(h), grp] = 1.0
        name = "MHA" if g == h else ("MQA" if g == 1 else "GQA")
        hm = panel(f"{name}: {h} query heads share {g} K/V head(s)", "K/V head (cached), 1..g",
                   "query head s, 1..h",
                   heatmap=heatmap(z, np.arange(g + 1) + 0.5, np.arange(h + 1) + 0.5, "", vmin=0, vmax=1),
                   xticks=(list(range(1, g + 1)), [str(j) for j in range(1, g + 1)]), legend=False)
        return frame(hm, text=f"g = {g}: cache = {g}/{h} of MHA; query head s reads K/V "
                              f"head ceil(s·{g}/{h}): {(grp + 1).tolist()}")

    return Explorer([Slider("g", divisors, divisors[len(divisors) // 2], label="groups g", fmt="{:d}")],
                    compute, name="head sharing")


EXPLORERS = (kv_cache, head_sharing)
