"""Tests of kexue.explorers.attention_as_rnn: the scan, cost and RAM frames against kexue.attention."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kexue import attention as A
from kexue.explorers import attention_as_rnn as X
from kexue.widgets import Explorer

torch.set_num_threads(1)


def test_scan_converges_and_shows_overflow():
    ex = X.scan(T=8)
    fr = ex.update(i=6, t=6, mode="stable")
    assert "exact to rounding" in fr["text"]
    line = fr["panels"][0]["series"][0]["y"]
    assert line[-1] == pytest.approx(fr["panels"][0]["hlines"][0]["y"], abs=1e-3)
    held = fr["panels"][1]["series"][0]["y"]
    assert sum(held) == pytest.approx(1.0, abs=1e-3)
    fr1 = ex.update(i=6, t=1, mode="stable")
    assert fr1["panels"][1]["series"][0]["y"][:5] == [0, 0, 0, 0, 0]       # only key 6 read
    frn = ex.update(i=8, t=8, mode="naive_boost")
    frs = ex.update(i=8, t=8, mode="stable_boost")
    assert "overflows" in frn["text"] and "exact to rounding" in frs["text"]
    assert ex.static().nbytes < 1_000_000


def test_cost_slopes():
    fr = X.cost().update(N=2, T=64)
    assert "C_2(64)" in fr["text"] and str(A.recompute_cost(2, 64)) in fr["text"]
    labels = [s["label"] for s in fr["panels"][0]["series"]]
    assert "slope 1.00" in labels[0] and "slope 1.90" in labels[1]
    peak = fr["panels"][1]["series"][1]["y"]
    assert len(set(peak)) == 1


def test_ram_disk_crossing():
    ex = X.ram_disk()
    fr = ex.update(model="llama2-70b", t=1_048_576)
    assert "RAM 1,310,720" in fr["text"] and "0.8 x the RAM" in fr["text"] and "within" in fr["text"]
    assert "beyond" in ex.update(model="llama2-7b", t=1_048_576)["text"]     # 262,144 < 1M
    disk, ram = fr["panels"][0]["series"]
    assert len(set(ram["y"])) == 1 and disk["x"] == disk["y"]
    assert ex.static().nbytes < 200_000
    assert f"{A.config_cache_elements('llama2-70b') * 1_048_576:,}" in fr["text"]   # the model's own (GQA) cache


def test_scan_partial_outputs_match_the_library():
    ex = X.scan(T=8)
    fr = ex.update(i=5, t=3, mode="stable")
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(3, 8, 16))
    parts, _ = A.scan_partials(q[4], k[:5], v[:5])
    np.testing.assert_allclose(fr["panels"][0]["series"][0]["y"], parts[:3, 0], rtol=1e-3)
    w = A.attention(q[4:5], k[:5], v[:5], scale=1.0, return_weights=True)[1][0]
    np.testing.assert_allclose(fr["panels"][1]["series"][1]["y"], w, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("call, name", [
    (lambda: X.scan(T=1), "T"),
    (lambda: X.scan(boost=0), "boost"),
    (lambda: X.cost(layers=(0,)), "layers"),
    (lambda: X.cost(lengths=(2,)), "lengths"),
    (lambda: X.ram_disk(contexts=(0, 10)), "contexts"),
])
def test_bad_input_names_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_cost_refuses_malformed_grids():
    """A scalar, an empty list, None or a nested list gave TypeError/IndexError before."""
    for name in ("layers", "lengths", ):
        for bad in (3, [], None, [[1, 2]], "ab"):
            with pytest.raises(ValueError, match=name):
                X.cost(**{name: bad})


def test_ram_disk_refuses_malformed_grids():
    """A scalar, an empty list, None or a nested list gave TypeError/IndexError before."""
    for name in ("contexts", ):
        for bad in (3, [], None, [[1, 2]], "ab"):
            with pytest.raises(ValueError, match=name):
                X.ram_disk(**{name: bad})
