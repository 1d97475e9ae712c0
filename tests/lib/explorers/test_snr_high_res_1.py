"""Tests of kexue.explorers.snr_high_res_1: the schedule frames shift by 2 log s."""
import math

import numpy as np
import pytest

from kexue import diffusion as D
from kexue.explorers import snr_high_res_1 as X


def test_schedules_shift_by_two_log_s():
    ex = X.schedules(factors=(1, 4))
    f1, f4 = ex.update(base="cosine", s=1), ex.update(base="cosine", s=4)
    base = np.array(f4["panels"][0]["series"][0]["y"])
    shifted = np.array(f4["panels"][0]["series"][1]["y"])
    assert np.allclose(base - shifted, 2 * math.log(4), atol=1e-2)     # frames round to 4 digits
    assert np.allclose(f1["panels"][0]["series"][1]["y"], f1["panels"][0]["series"][0]["y"])
    t1 = float(f4["text"].split("t = ")[-1])
    assert abs(t1 - 2 / math.pi * math.atan(1 / 4)) < 2e-3
    # the rectified-flow panel shows the library's shifted grid
    assert np.allclose(f4["panels"][2]["series"][1]["y"],
                       D.rf_shift_sigmas(np.linspace(1, 0, 21), 4), atol=1e-4)
    assert len(ex.frames()) == 4


def test_the_module_lists_zero_argument_factories():
    assert X.EXPLORERS == (X.schedules,)


def test_schedules_bad_input():
    with pytest.raises(ValueError, match="factors"):
        X.schedules(factors=(0, 2))
    with pytest.raises(ValueError, match="n_t"):
        X.schedules(n_t=3)


def test_schedules_refuses_malformed_grids():
    """A scalar, an empty list, None or a nested list gave TypeError/IndexError before."""
    for name in ("factors", ):
        for bad in (3, [], None, [[1, 2]], "ab"):
            with pytest.raises(ValueError, match=name):
                X.schedules(**{name: bad})
