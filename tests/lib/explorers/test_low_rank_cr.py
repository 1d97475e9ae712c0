"""The low-rank-cr explorer: frame numbers against the library, every control changes the frame."""
import numpy as np
import pytest

from kexue.explorers import low_rank_cr as X
from kexue.matrices import lowrank_cr as CR


def test_factories_take_no_arguments():
    for f in X.EXPLORERS:
        assert f().update()["panels"]


def test_frame_numbers_match_the_library():
    e = X.coherence()
    fr = e.update(signs="mixed", coherence=0.85, r=5)
    A, B = CR.coherent_factors(*X.SHAPE, 0.85, seed=0, mixed_signs=True)
    ref = np.linalg.norm(A @ B)
    series = {s["label"]: s for s in fr["panels"][0]["series"]}
    k = X.RANKS.index(5)
    assert series["optimum"]["y"][k] == pytest.approx(CR.cr_bruteforce(A, B, 5)[1] / ref, rel=1e-3)
    assert series["top-norm"]["y"][k] == pytest.approx(CR.cr_error(A, B, CR.cr_select_topnorm(A, B, 5)) / ref, rel=1e-3)
    assert series["SVD floor"]["y"][k] == pytest.approx(CR.svd_floor(A @ B, 5) / ref, rel=1e-3)
    bars = {s["label"]: s for s in fr["panels"][1]["series"]}
    assert sorted(bars["kept by top-norm"]["x"]) == list(CR.cr_select_topnorm(A, B, 5))
    assert fr["panels"][0]["vlines"][0]["x"] == 5


def test_static_export_fits():
    assert X.coherence().static().nbytes < 1_200_000
