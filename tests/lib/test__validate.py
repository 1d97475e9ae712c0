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


def test_array_kind_checks_and_the_numpy_torch_contract():
    a = np.ones(2)
    assert V.check_ndarray(a, name="x") is a
    t = torch.ones(2, requires_grad=True)
    assert V.check_tensor(t, name="w") is t
    with pytest.raises(ValueError, match="^x must be a numpy array"):
        V.check_ndarray([1.0], name="x")
    with pytest.raises(ValueError, match="^w must be a torch.Tensor"):
        V.check_tensor(a, name="w")
    # numpy in -> numpy out; tensor in -> tensor out, graph kept, dtype of the reference
    assert isinstance(V.like_input(torch.ones(2), False), np.ndarray)
    y = t * 2
    assert V.like_input(y, True) is y
    back = V.like_input(np.arange(3.0), True, reference=torch.zeros(1, dtype=torch.float32))
    assert isinstance(back, torch.Tensor) and back.dtype == torch.float32


# -- helpers added with the probability and codes subpackages


def test_as_float_tensor_computes_in_torch_and_remembers_the_kind():
    t, is_t = V.as_float_tensor(np.array([1.0, 2.0]), name="x")
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64 and not is_t
    src = torch.ones(2, requires_grad=True)
    t, is_t = V.as_float_tensor(src, name="x")
    assert is_t and t is src
    assert isinstance(V.like_input(t * 2, False), np.ndarray)


def test_as_float_ndarray_and_as_int_array():
    assert V.as_float_ndarray([1, 2], name="x").dtype == np.float64
    arr, is_t = V.as_int_array(np.array([1.0, 3.0]), name="idx")
    assert arr.dtype == np.int64 and not is_t and arr.tolist() == [1, 3]
    t, is_t = V.as_int_array(torch.tensor([2.0, 4.0]), name="idx")
    assert is_t and t.dtype == torch.long
    V.check_last_dim(np.zeros((2, 3)), 3, name="z")
    tt = V.check_class_indices(np.array([0, 2]), 3, (2,))
    assert tt.dtype == torch.long and tt.tolist() == [0, 2]


@pytest.mark.parametrize("call, name", [
    (lambda: V.as_float_tensor([np.nan], name="x"), "x"),
    (lambda: V.as_float_ndarray(torch.zeros(2), name="x"), "x"),
    (lambda: V.as_int_array(np.array([0.5]), name="idx"), "idx"),
    (lambda: V.as_int_array(torch.tensor([np.nan]), name="idx"), "idx"),
    (lambda: V.as_int_array(np.array(["a"]), name="idx"), "idx"),
    (lambda: V.check_last_dim(np.zeros((2, 3)), 2, name="z"), "z"),
    (lambda: V.check_last_dim(np.float64(1.0), 1, name="z"), "z"),
    (lambda: V.check_class_indices(np.array([0.0]), 3, (1,)), "target"),
    (lambda: V.check_class_indices(np.array([0, 3]), 3, (2,)), "target"),
    (lambda: V.check_class_indices(np.array([0]), 3, (2,), name="t"), "t"),
])
def test_appended_helpers_name_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()


def test_as_float_tensor_keeps_a_scalar_a_scalar():
    t, is_t = V.as_float_tensor(np.float64(0.5), name="x", min_ndim=0)
    assert t.shape == () and not is_t
    assert V.like_input(t, is_t).shape == ()


def test_check_values_in_and_check_decreasing():
    assert V.check_values_in(np.array([0.0, 1.0]), 0, 1, name="t") is not None
    with pytest.raises(ValueError, match="^t must lie in"):
        V.check_values_in(np.array([0.0, 1.0]), 0, 1, name="t", hi_open=True)
    V.check_decreasing([3.0, 2.0, 0.0], name="s")
    with pytest.raises(ValueError, match="^s must be strictly decreasing"):
        V.check_decreasing([1.0, 1.0], name="s")
    with pytest.raises(ValueError, match="^s must be 1-D"):
        V.check_decreasing([1.0], name="s")


def test_check_in_range_refuses_a_nan_or_reversed_interval():
    """A NaN end would make every comparison False and accept anything."""
    with pytest.raises(ValueError, match="interval for x"):
        V.check_in_range(5.0, float("nan"), 1.0, name="x")
    with pytest.raises(ValueError, match="interval for x"):
        V.check_in_range(0.5, 1.0, 0.0, name="x")
    assert V.check_in_range(0.5, 0, float("inf"), name="x") == 0.5
