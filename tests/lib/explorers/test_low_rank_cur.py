"""The low-rank-cur explorer: frame numbers against the library, every control changes the frame."""
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from kexue.explorers import low_rank_cur as X
from kexue.matrices import lowrank_cur as CUR

threadpool_limits(1)


def test_factories_take_no_arguments():
    for f in X.EXPLORERS:
        assert f().update()["panels"]


def test_selection_and_curves_match_the_library():
    M, _ = X.digit_matrix()
    cols, rows = X.selection("cpqr", 5)
    assert list(cols) == list(CUR.select_columns(M, 5, "cpqr")) and list(rows) == list(CUR.select_rows(M, 5, "cpqr"))
    fr = X.completion().update(method="cpqr", core="cross", r=5)
    series = {s["label"]: s for s in fr["panels"][2]["series"]}
    k = X.RANKS.index(5)
    expected = CUR.cur_error(M, cols, rows, "cross") / np.linalg.norm(M)
    assert series["pivoted QR"]["y"][k] == pytest.approx(expected, rel=1e-3)
    mask = np.array(fr["panels"][0]["heatmap"]["z"])[::-1].ravel()
    assert sorted(np.flatnonzero(mask)) == sorted(rows)


def test_cross_core_reproduces_the_pixels_it_reads():
    M, y = X.digit_matrix()
    cols, rows = X.selection("deim", 8)
    C, U, R = CUR.cur(M, cols, rows, "cross")
    assert np.allclose((C @ U @ R)[rows], M[rows], atol=1e-8)


def test_static_export_fits():
    assert X.completion().static().nbytes < 1_200_000
