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


# -- exact messages and inclusive bounds (found by mutation testing: tests/mutation-report.md)


@pytest.mark.parametrize("call, message", [
    (lambda: V.check_int_in(4, 0, 3, name="k"), "k must be an integer in [0, 3], got 4"),
    (lambda: V.check_int_in(-1, 0, 3, name="k"), "k must be an integer in [0, 3], got -1"),
    (lambda: V.check_int_in(0, 1, None, name="k"), "k must be an integer in [1, inf], got 0"),
    (lambda: V.check_int_in(1.5, 1, None, name="k"), "k must be an integer in [1, inf], got 1.5"),
    (lambda: V.check_real("a", name="a"), "a must be a finite real number, got 'a'"),
    (lambda: V.check_real(True, name="a"), "a must be a finite real number, got True"),
    (lambda: V.check_real(float("nan"), name="a"), "a must be a finite real number, got nan"),
    (lambda: V.check_positive(0, name="tau"), "tau must be > 0, got 0"),
    (lambda: V.check_positive(-2.0, name="tau"), "tau must be > 0, got -2.0"),
    (lambda: V.check_positive("x", name="tau"), "tau must be a finite real number, got 'x'"),
    (lambda: V.check_nonnegative(-1, name="w"), "w must be >= 0, got -1"),
    (lambda: V.check_nonnegative(None, name="w"), "w must be a finite real number, got None"),
    (lambda: V.check_in_range(2.0, 0, 1, name="q"), "q must be in [0, 1], got 2.0"),
    (lambda: V.check_in_range(-0.5, 0, 1, name="q"), "q must be in [0, 1], got -0.5"),
    (lambda: V.check_in_range(0.0, 0, 1, name="q", lo_open=True), "q must be in (0, 1], got 0.0"),
    (lambda: V.check_in_range(1.0, 0, 1, name="q", hi_open=True), "q must be in [0, 1), got 1.0"),
    (lambda: V.check_in_range("a", 0, 1, name="q"), "q must be a finite real number, got 'a'"),
    (lambda: V.check_in_range(0.5, 0.0, float("nan"), name="q"),
     "the interval for q must have lo <= hi (no NaN), got [0.0, nan]"),
    (lambda: V.check_choice("c", ("a", "b"), name="mode"), "mode must be one of ['a', 'b'], got 'c'"),
    (lambda: V.as_float_array([[1.0]], name="x", max_ndim=1), "x must have ndim 1, got shape (1, 1)"),
    (lambda: V.as_float_array([1.0], name="x", min_ndim=2), "x must have ndim >= 2, got shape (1,)"),
    (lambda: V.as_float_array([1.0], name="x", min_ndim=2, max_ndim=3),
     "x must have ndim in [2, 3], got shape (1,)"),
    (lambda: V.as_float_array(np.zeros((2, 2, 2, 2)), name="x", min_ndim=2, max_ndim=3),
     "x must have ndim in [2, 3], got shape (2, 2, 2, 2)"),
    (lambda: V.as_float_array([], name="x"), "x must have a non-empty last axis, got shape (0,)"),
    (lambda: V.as_float_array(torch.zeros(2, 0), name="x"), "x must have a non-empty last axis, got shape (2, 0)"),
    (lambda: V.as_float_array([1.0, np.inf], name="x"), "x must contain only finite numbers (found NaN or inf)"),
    (lambda: V.as_float_array(torch.tensor([1.0, -np.inf]), name="x"),
     "x must contain only finite numbers (found NaN or inf)"),
    (lambda: V.check_shape(np.zeros((2, 3)), (2, None, 4), name="w"), "w must have shape (2, *, 4), got (2, 3)"),
    (lambda: V.check_shape(np.zeros((2, 3)), (3, None), name="w"), "w must have shape (3, *), got (2, 3)"),
    (lambda: V.check_shape(np.zeros((2, 3)), (None, 4), name="w"), "w must have shape (*, 4), got (2, 3)"),
    (lambda: V.check_ndarray(torch.ones(1), name="x"), "x must be a numpy array, got Tensor"),
    (lambda: V.check_tensor([1.0], name="w"), "w must be a torch.Tensor, got list"),
    (lambda: V.as_float_tensor([[1.0]], name="x", max_ndim=1), "x must have ndim 1, got shape (1, 1)"),
    (lambda: V.as_float_tensor(np.zeros(3), name="x", min_ndim=2), "x must have ndim >= 2, got shape (3,)"),
    (lambda: V.as_float_ndarray(torch.zeros(2), name="x"), "x must be a numpy array, got Tensor"),
    (lambda: V.as_float_ndarray([[1.0]], name="x", max_ndim=1), "x must have ndim 1, got shape (1, 1)"),
    (lambda: V.as_float_ndarray([1.0], name="x", min_ndim=2), "x must have ndim >= 2, got shape (1,)"),
])
def test_validators_exact_messages(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert str(err.value) == message


def test_validators_bounds_are_inclusive_and_values_pass_through():
    assert V.check_int_in(0, 0, 3, name="k") == 0 and V.check_int_in(3, 0, 3, name="k") == 3
    assert type(V.check_int_in(np.int64(7), 1, None, name="k")) is int
    assert V.check_real(2, name="a") == 2.0 and type(V.check_real(2, name="a")) is float
    assert V.check_positive(1e-300, name="tau") == 1e-300
    assert V.check_nonnegative(0.0, name="w") == 0.0 and V.check_nonnegative(3, name="w") == 3.0
    assert V.check_in_range(0.0, 0, 1, name="q") == 0.0 and V.check_in_range(1.0, 0, 1, name="q") == 1.0
    assert V.check_in_range(0.5, 0, 1, name="q", lo_open=True, hi_open=True) == 0.5
    assert V.check_in_range(3, 3, 3, name="q") == 3.0            # lo == hi is a valid interval
    assert V.check_choice("b", ["a", "b"], name="mode") == "b"
    V.check_shape(np.zeros((2, 3)), (None, 3), name="w")
    V.check_shape(np.zeros((2, 3)), (2, 3), name="w")
    arr, is_t = V.as_float_array([], name="x", allow_empty=True)
    assert arr.shape == (0,) and not is_t
    arr, _ = V.as_float_array(5.0, name="x", min_ndim=0)
    assert arr.shape == ()
    assert V.as_float_array(np.zeros((2, 2, 2)), name="x", min_ndim=2, max_ndim=3)[0].ndim == 3
    t32 = torch.ones(2, dtype=torch.float32)
    assert V.as_float_array(t32, name="x")[0] is t32               # a float tensor passes through
    ti, is_t = V.as_float_array(torch.tensor([1, 2]), name="x")
    assert is_t and ti.dtype == torch.float64 and ti.tolist() == [1.0, 2.0]
    t, is_t = V.as_float_tensor(np.zeros((2, 2, 2)), name="x", min_ndim=3, max_ndim=3)
    assert t.shape == (2, 2, 2) and t.dtype == torch.float64 and not is_t
    a = V.as_float_ndarray(np.zeros((1, 2)), name="x", min_ndim=2, max_ndim=2)
    assert isinstance(a, np.ndarray) and a.shape == (1, 2)


def test_like_input_both_ways_and_the_reference():
    x = np.arange(3.0)
    out = V.like_input(x, False)
    assert isinstance(out, np.ndarray) and out.tolist() == [0.0, 1.0, 2.0]
    t = torch.arange(3.0, requires_grad=True)
    back = V.like_input(t * 1, False)
    assert isinstance(back, np.ndarray) and back.tolist() == [0.0, 1.0, 2.0]
    tt = V.like_input([1.0, 2.0], True)
    assert isinstance(tt, torch.Tensor) and tt.dtype == torch.float64 and tt.tolist() == [1.0, 2.0]
    kept = V.like_input(np.array([1.5]), True, reference=torch.zeros(1, dtype=torch.long))
    assert kept.dtype == torch.float64                              # an integer reference keeps the value's dtype
    assert V.like_input(np.array([1.5]), True, reference=np.zeros(1, dtype=np.float32)).dtype == torch.float64
    assert V.is_tensor(t) and not V.is_tensor(x)


def test_finite_result_guard_both_kinds_and_message():
    with pytest.raises(FloatingPointError, match=r"^loss is not finite; this is a bug, please report the input$"):
        V.check_finite_result(np.array([1.0, np.nan]), what="loss")
    with pytest.raises(FloatingPointError, match="^loss is not finite"):
        V.check_finite_result(torch.tensor([np.nan]), what="loss")
    with pytest.raises(FloatingPointError):
        V.check_finite_result(float("inf"), what="loss")
    V.check_finite_result(torch.ones(2), what="loss")
    V.check_finite_result(3.0, what="loss")


@pytest.mark.parametrize("call, message", [
    (lambda: V.as_int_array(np.array([0.5]), name="idx"), "idx must contain integers"),
    (lambda: V.as_int_array(np.array([np.inf]), name="idx"), "idx must contain integers"),
    (lambda: V.as_int_array(torch.tensor([1.5]), name="idx"), "idx must contain integers"),
    (lambda: V.as_int_array(torch.tensor([np.inf]), name="idx"), "idx must contain integers"),
    (lambda: V.as_int_array(np.array(["a"]), name="idx"), "idx must be an array of integers, got dtype <U1"),
    (lambda: V.check_last_dim(np.zeros((2, 3)), 2, name="z"), "z must have last dimension 2, got shape (2, 3)"),
    (lambda: V.check_last_dim(np.float64(1.0), 1, name="z"), "z must have last dimension 1, got shape ()"),
    (lambda: V.check_class_indices(np.array([0.0]), 3, (1,)),
     "target must be integer class indices of shape (1,), got torch.float64 of shape (1,)"),
    (lambda: V.check_class_indices(np.array([0]), 3, (2,), name="t"),
     "t must be integer class indices of shape (2,), got torch.int64 of shape (1,)"),
    (lambda: V.check_class_indices(np.array([0, 3]), 3, (2,)), "target must lie in [0, 3), got [0, 3]"),
    (lambda: V.check_class_indices(np.array([-1, 0]), 3, (2,)), "target must lie in [0, 3), got [-1, 0]"),
    (lambda: V.check_indices([[0]], 3, name="i"), "i must be a 1-D array of integers, got int64 of shape (1, 1)"),
    (lambda: V.check_indices([0.5], 3, name="i"), "i must be a 1-D array of integers, got float64 of shape (1,)"),
    (lambda: V.check_indices([0], 3, name="i", min_len=2), "i must hold at least 2 index(es), got 1"),
    (lambda: V.check_indices([0, 3], 3, name="i"), "i must hold indices in [0, 2], got 0..3"),
    (lambda: V.check_indices([-1, 2], 3, name="i"), "i must hold indices in [0, 2], got -1..2"),
    (lambda: V.check_indices([1, 1], 3, name="i"), "i must hold distinct indices, got repeats"),
    (lambda: V.check_values_in(np.array([0.0, 2.0]), 0, 1, name="t"), "t must lie in [0, 1]"),
    (lambda: V.check_values_in(np.array([-1.0]), 0, 1, name="t"), "t must lie in [0, 1]"),
    (lambda: V.check_values_in(torch.tensor([0.0]), 0, 1, name="t", lo_open=True), "t must lie in (0, 1]"),
    (lambda: V.check_values_in(np.array([1.0]), 0, 1, name="t", hi_open=True), "t must lie in [0, 1)"),
    (lambda: V.check_decreasing([3.0, 1.0, 2.0], name="s"), "s must be strictly decreasing"),
    (lambda: V.check_decreasing([[2.0, 1.0]], name="s"), "s must be 1-D with at least 2 entries, got shape (1, 2)"),
    (lambda: V.check_decreasing([3.0, 2.0], name="s", min_len=3), "s must be 1-D with at least 3 entries, got shape (2,)"),
    (lambda: V.check_seed(-1), "seed must be an integer in [0, 9223372036854775807], got -1"),
    (lambda: V.check_seed(2**32, name="random_state", hi=2**32 - 1),
     "random_state must be an integer in [0, 4294967295], got 4294967296"),
    (lambda: V.check_instance(3, str, name="s"), "s must be a str, got int"),
    (lambda: V.check_instance(3, (str, list), name="s"), "s must be a str or list, got int"),
    (lambda: V.check_real_or_tensor(torch.tensor([1, 2]), name="a"),
     "a must be a finite real number or a tensor of finite floats"),
    (lambda: V.check_real_or_tensor(torch.tensor([np.nan]), name="a"),
     "a must be a finite real number or a tensor of finite floats"),
    (lambda: V.check_real_or_tensor("x", name="a"), "a must be a finite real number, got 'x'"),
    (lambda: V.check_grid([1.0], name="g", min_len=2), "g must be a list of at least 2 number(s), got [1.0]"),
    (lambda: V.check_grid("ab", name="g"), "g must be a list of at least 1 number(s), got 'ab'"),
    (lambda: V.check_grid([[1.0]], name="g"), "g must be a list of at least 1 number(s), got [[1.0]]"),
    (lambda: V.check_grid([True], name="g"), "g must be a list of at least 1 number(s), got [True]"),
    (lambda: V.check_grid(["a"], name="g"), "g must be a list of at least 1 number(s), got ['a']"),
])
def test_appended_helpers_exact_messages(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert str(err.value) == message


def test_appended_helpers_accept_their_edges():
    arr, is_t = V.as_int_array([1, 2], name="idx")
    assert arr.dtype == np.int64 and not is_t
    assert V.as_int_array(np.array([2], dtype=np.uint8), name="idx")[0].dtype == np.int64
    t, is_t = V.as_int_array(torch.tensor([3]), name="idx")
    assert is_t and t.dtype == torch.long and t.tolist() == [3]
    assert V.check_class_indices(np.array([2, 0]), 3, (2,)).tolist() == [2, 0]
    assert V.check_class_indices(np.zeros(0, dtype=np.int64), 3, (0,)).shape == (0,)
    out = V.check_indices((2, 0), 3, name="i")
    assert out.dtype == np.int64 and out.tolist() == [2, 0]
    assert V.check_indices([1, 1], 3, name="i", unique=False).tolist() == [1, 1]
    assert V.check_indices([], 3, name="i", min_len=0).size == 0
    x = torch.tensor([0.0, 1.0])
    assert V.check_values_in(x, 0, 1, name="t") is x
    V.check_values_in(np.array([0.5]), 0, 1, name="t", lo_open=True, hi_open=True)
    assert V.check_decreasing([3.0, 2.0, 1.0], name="s", min_len=3) == [3.0, 2.0, 1.0]
    assert V.check_seed(0) == 0 and V.check_seed(2**63 - 1) == 2**63 - 1
    assert V.check_seed(2**32 - 1, hi=2**32 - 1) == 2**32 - 1
    assert V.check_instance("a", (str, list), name="s") == "a"
    w = torch.ones(2, requires_grad=True)
    assert V.check_real_or_tensor(w, name="a") is w and V.check_real_or_tensor(2, name="a") == 2
    assert V.check_grid((1, 2.5), name="g") == [1, 2.5]
    assert V.check_grid(np.array([1.0, 2.0]), name="g", min_len=2) == [1.0, 2.0]


def test_mutation_survivors_of_the_first_run():
    """Each line kills a mutant that survived `make mutation` (tests/mutation-report.md)."""
    assert V.as_float_array([1.0], name="x")[1] is False                 # exactly False, not falsy
    t, is_t = V.as_float_tensor(np.arange(4.0)[::-1], name="x")          # negative strides: copied
    assert t.tolist() == [3.0, 2.0, 1.0, 0.0] and is_t is False
    w = torch.ones(2, requires_grad=True)                                # numpy cannot read it
    V.check_finite_result(w, what="loss")
    assert V.check_values_in(w, 0, 1, name="t") is w
    V.check_last_dim(np.zeros(3), 3, name="z")                           # 1-D is enough
    with pytest.raises(ValueError, match="^z must have last dimension 3"):
        V.check_last_dim(np.zeros((3, 2)), 3, name="z")
    assert V.check_indices([0], 3, name="i").tolist() == [0]             # one index by default
    with pytest.raises(ValueError, match=r"^t must lie in \(0, 1\]"):
        V.check_values_in(np.array([2.0]), 0, 1, name="t", lo_open=True)
    with pytest.raises(ValueError, match=r"^t must lie in \[0, 1\)"):
        V.check_values_in(np.array([-1.0]), 0, 1, name="t", hi_open=True)


def test_tensor_finiteness_by_one_sum_and_its_exact_fallback():
    """The tensor check sums once and scans entry by entry only when the sum is not finite:
    finite entries whose sum overflows still pass (float32, float16), a NaN or inf hidden among
    them, or inf and -inf that would cancel to NaN, are still refused."""
    big32 = torch.full((4,), 3e38, dtype=torch.float32)                 # sum = inf, entries finite
    assert not torch.isfinite(big32.sum()) and V.as_float_array(big32, name="x")[0] is big32
    big16 = torch.full((3, 2), 6e4, dtype=torch.float16, requires_grad=True)
    assert V.as_float_array(big16, name="x")[0] is big16
    for bad in (torch.tensor([3e38, 3e38, float("nan")]), torch.tensor([3e38, -float("inf")]),
                torch.tensor([[1.0, float("inf")], [-float("inf"), 1.0]]), torch.tensor([-3e38, float("nan")])):
        with pytest.raises(ValueError, match=r"^x must contain only finite numbers \(found NaN or inf\)$"):
            V.as_float_tensor(bad, name="x")


def test_check_finite_false_skips_only_the_nan_inf_test():
    """check_finite=False (a caller that checks its result instead) lets NaN/inf through, for
    tensors and arrays, but still refuses a wrong ndim or an empty last axis; the default refuses."""
    t = torch.tensor([[1.0, float("nan")], [float("inf"), 2.0]])
    assert V.as_float_array(t, name="q", check_finite=False)[0] is t
    arr, is_t = V.as_float_array([np.inf, 1.0], name="q", check_finite=False)
    assert not is_t and np.isinf(arr[0])
    for bad in (t, [np.inf, 1.0]):
        with pytest.raises(ValueError, match=r"^q must contain only finite numbers \(found NaN or inf\)$"):
            V.as_float_array(bad, name="q", check_finite=True)
    with pytest.raises(ValueError, match=r"^q must have ndim >= 3, got shape \(2, 2\)$"):
        V.as_float_array(t, name="q", min_ndim=3, check_finite=False)
    with pytest.raises(ValueError, match=r"^q must have a non-empty last axis"):
        V.as_float_array(torch.zeros(2, 0), name="q", check_finite=False)
