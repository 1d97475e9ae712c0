"""Explorers of moe-geometry: frames carry the library's numbers; every control matters."""
import numpy as np
import pytest
import torch

from kexue.explorers import moe_geometry as X
from kexue.moe import geometry as G
from kexue.widgets import Explorer

torch.set_num_threads(1)


def series(fr, panel, label):
    return next(s for s in fr["panels"][panel]["series"] if s["label"].startswith(label))


def test_factories_take_no_arguments():
    for f in X.EXPLORERS:
        assert isinstance(f(), Explorer)


def test_norm_rule_numbers_come_from_the_library():
    e = X.norm_rule()
    fr = e.update(d=3, k=2, seed=1)
    V = G.random_experts(1, 8, 3, seed=1)[0]
    np.testing.assert_allclose(series(fr, 0, "all")["y"], np.linalg.norm(V, axis=1), rtol=1e-3)
    kept = np.nonzero(series(fr, 0, "kept")["y"])[0]
    assert sorted(kept) == sorted(G.topk_by_norm(V, 2).tolist())
    best = [G.best_subset(V, j)[1] for j in range(1, 9)]
    np.testing.assert_allclose(series(fr, 1, "best")["y"], best, rtol=1e-3, atol=1e-4)
    assert series(fr, 1, "this k")["x"] == [2]


@pytest.mark.parametrize("param,values", [("d", (2, 128)), ("k", (1, 5)), ("seed", (0, 3))])
def test_norm_rule_every_control_changes_the_frame(param, values):
    e = X.norm_rule()
    assert e.update(**{param: values[0]}) != e.update(**{param: values[1]})


def test_digits_errors_frame_and_control():
    e = X.digits_errors(ns=(4, 8))
    fr = e.update(n=8)
    s = G.digits_expert_study(8)
    np.testing.assert_allclose(series(fr, 0, "random")["y"], s["random"], rtol=1e-3)
    np.testing.assert_allclose(series(fr, 0, "true")["y"], s["oracle"], rtol=1e-3)
    assert fr != e.update(n=4)
    assert len(e.static().data) < 1_200_000


def test_norm_rule_checks_its_grids():
    for name, bad in (("dims", 3), ("dims", []), ("dims", None), ("dims", (3, 8)),
                      ("seeds", (1, 2)), ("seeds", (0, -1)), ("seeds", "ab")):
        with pytest.raises(ValueError, match=name):
            X.norm_rule(**{name: bad})
