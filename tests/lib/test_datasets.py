"""Tests of kexue.datasets: the one digits loader and the committed run outputs."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from kexue import datasets as DS


def test_digits_scales_and_shapes():
    raw = load_digits()
    x, y = DS.digits()
    assert x.shape == (1797, 64) and x.dtype == np.float64 and y.shape == (1797,)
    np.testing.assert_array_equal(x * 16, raw.data)
    np.testing.assert_array_equal(y, raw.target)
    im, _ = DS.digits("signed", as_images=True, dtype="float32")
    assert im.shape == (1797, 8, 8) and im.dtype == np.float32
    assert im.min() == -1.0 and im.max() == 1.0
    np.testing.assert_allclose(im, raw.images / 8 - 1, atol=1e-7)
    assert DS.digits("raw")[0].max() == 16.0


def test_save_and_load_a_run_round_trip(tmp_path):
    path = DS.save_run("r", {"b": np.float64(1 / 3), "a": [np.int64(2), True], "c": np.arange(2.0)},
                       digits=4, directory=tmp_path)
    assert path.read_text().index('"a"') < path.read_text().index('"b"')      # sorted keys
    assert DS.load_run("r", directory=tmp_path) == {"a": [2, True], "b": 0.3333, "c": [0.0, 1.0]}


@pytest.mark.parametrize("call, name", [
    (lambda t: DS.digits("pm1"), "scale"),
    (lambda t: DS.digits(dtype="int8"), "dtype"),
    (lambda t: DS.save_run("a/b", {}, directory=t), "name"),
    (lambda t: DS.save_run("a", [1], directory=t), "result"),
    (lambda t: DS.save_run("a", {"x": float("nan")}, directory=t), "values"),
    (lambda t: DS.save_run("a", {}, digits=1, directory=t), "digits"),
    (lambda t: DS.load_run("missing", directory=t), "name"),
])
def test_bad_input_names_the_parameter(call, name, tmp_path):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call(tmp_path)


def test_run_outputs_refuse_a_directory_that_is_not_a_folder(tmp_path):
    for bad in ("no-such-folder", tmp_path / "missing", 1.5):
        with pytest.raises(ValueError, match="directory"):
            DS.save_run("r", {"a": 1.0}, directory=bad)
        with pytest.raises(ValueError, match="directory"):
            DS.load_run("r", directory=bad)
