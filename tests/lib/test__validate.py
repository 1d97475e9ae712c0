"""Tests of kexue._validate: the input checks every public function uses."""
import numpy as np
import pytest
import torch

from kexue import _validate as V


def test_validators_accept_good_values():
    assert V.check_int_in(3, 1, 5, name="k") == 3
    assert V.check_positive(0.5, name="tau") == 0.5
    assert V.check_nonnegative(0, name="w") == 0.0
    assert V.check_in_range(1.0, 0, 1, name="q") == 1.0
    arr, is_t = V.as_float_array([1, 2], name="x")
    assert arr.dtype == np.float64 and not is_t
    t, is_t = V.as_float_array(torch.ones(2, requires_grad=True), name="x")
    assert is_t and t.requires_grad


@pytest.mark.parametrize("call, name", [
    (lambda: V.check_int_in(True, 0, 3, name="k"), "k"),
    (lambda: V.check_int_in(4, 0, 3, name="k"), "k"),
    (lambda: V.check_real(float("inf"), name="a"), "a"),
    (lambda: V.check_positive(0, name="tau"), "tau"),
    (lambda: V.check_nonnegative(-1e-9, name="w"), "w"),
    (lambda: V.check_in_range(1.0, 0, 1, name="q", hi_open=True), "q"),
    (lambda: V.check_choice("c", ["a", "b"], name="mode"), "mode"),
    (lambda: V.as_float_array([[1.0]], name="x", max_ndim=1), "x"),
    (lambda: V.as_float_array(["a"], name="x"), "x"),
    (lambda: V.as_float_array(torch.tensor([float("nan")]), name="x"), "x"),
    (lambda: V.check_shape(np.zeros((2, 3)), (2, 4), name="w"), "w"),
])
def test_validators_raise_naming_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()


def test_finite_result_guard():
    with pytest.raises(FloatingPointError):
        V.check_finite_result(torch.tensor([1.0, float("inf")]), what="output")
    V.check_finite_result(np.ones(3), what="output")
