"""Tests of kexue.explorers.mha_to_mla: the calculator's bars against kexue.attention.kv_cache."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kexue import attention as A
from kexue.explorers import mha_to_mla as X
from kexue.widgets import Explorer

torch.set_num_threads(1)


def test_kv_cache_and_head_grid_frames():
    ex = X.kv_cache(contexts=(1024, 4096), batches=(1, 8))
    fr = ex.update(preset="llama2-7b", context=4096, batch=1, dtype="bfloat16")
    gib = fr["panels"][0]["series"][0]["y"]
    assert gib[0] == pytest.approx(262_144 * 4096 * 2 / 2 ** 30, rel=1e-3)     # MHA: 2 GiB
    assert gib[1] == pytest.approx(gib[0] * 8 / 32, rel=1e-3)                  # GQA g = 8
    fr = ex.update(preset="deepseek-v2", context=1024, batch=8, dtype="fp8")
    assert fr["panels"][0]["series"][0]["y"][3] == pytest.approx(34_560 * 1024 * 8 / 2 ** 30, rel=1e-3)
    hs = X.head_sharing(8)
    z = np.array(hs.update(g=2)["panels"][0]["heatmap"]["z"])
    assert z.sum() == 8 and z[:4, 0].all() and z[4:, 1].all()
    assert len(hs.frames()) == 4


@pytest.mark.parametrize("call, name", [
    (lambda: X.kv_cache(contexts=(0, 10)), "contexts"),
    (lambda: X.kv_cache(batches=(0,)), "batches"),
    (lambda: X.head_sharing(1), "n_heads"),
])
def test_bad_input_names_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_kv_cache_refuses_malformed_grids():
    """A scalar, an empty list, None or a nested list gave TypeError/IndexError before."""
    for name in ("contexts", "batches", ):
        for bad in (3, [], None, [[1, 2]], "ab"):
            with pytest.raises(ValueError, match=name):
                X.kv_cache(**{name: bad})
