"""The low-rank-id explorer: frame numbers against the library, every control changes the frame."""
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from kexue.explorers import low_rank_id as X
from kexue.matrices import interpolative as ID
from kexue.matrices import lowrank_cr as CR

threadpool_limits(1)


def test_factories_take_no_arguments():
    for f in X.EXPLORERS:
        assert f().update()["panels"]


def test_selections_match_the_library():
    M, _ = X.digit_columns()
    assert list(X.select("cpqr", 5)) == list(ID.id_cpqr(M, 5)[0])
    assert list(X.select("greedy", 3)) == list(ID.id_greedy_min_residual(M, 3)[0])
    assert list(X.select("sampling", 5, seed=1)) == list(ID.id_column_sampling(M, 5, 15, seed=1)[0])
    assert list(X.select("sketch", 5, seed=1)) == list(ID.id_random_projection(M, 5, 10, seed=1)[0])


def test_frame_numbers_match_the_library():
    M, _ = X.digit_columns()
    fr = X.skeleton().update(method="greedy", r=8)
    series = {s["label"]: s for s in fr["panels"][2]["series"]}
    k = X.RANKS.index(8)
    expected = ID.id_error(M, ID.id_greedy_min_residual(M, 8)[0]) / CR.svd_floor(M, 8)
    assert series["greedy min-residual"]["y"][k] == pytest.approx(expected, rel=1e-3)
    tiles = np.array(fr["panels"][0]["heatmap"]["z"])
    assert tiles.shape == (2 * 9 - 1, 4 * 9 - 1)           # 8 images, 4 per row
    assert f"{expected:.3f}" in fr["text"]


def test_static_export_fits():
    assert X.skeleton().static().nbytes < 1_200_000
