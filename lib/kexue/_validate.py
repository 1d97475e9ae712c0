"""Input validation shared by every module of :mod:`kexue`.

Each helper raises ``ValueError`` (or ``TypeError`` for a wrong type) whose message starts with
the parameter's name and says what was allowed, e.g. ``"k must be an integer in [1, 8], got 9"``.
Nothing here converts silently between numpy and torch: :func:`as_float_array` takes either and
tells the caller which one it got, so that a function can hand back the same kind.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import numpy as np

try:  # torch is a dependency of the library, but keep the import cheap to reason about
    import torch
except ImportError:  # pragma: no cover - torch is pinned in pyproject
    torch = None  # type: ignore[assignment]


def is_tensor(x: Any) -> bool:
    """True when x is a torch.Tensor."""
    return torch is not None and isinstance(x, torch.Tensor)


def check_int_in(value: Any, lo: int, hi: int | None, *, name: str) -> int:
    """An integer lo <= value <= hi (hi=None: no upper bound); bool is refused."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    upper = "inf" if hi is None else str(hi)
    if not ok or value < lo or (hi is not None and value > hi):
        raise ValueError(f"{name} must be an integer in [{lo}, {upper}], got {value!r}")
    return int(value)


def check_real(value: Any, *, name: str) -> float:
    """A finite real number (not bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return float(value)


def check_positive(value: Any, *, name: str) -> float:
    """A finite real number > 0."""
    v = check_real(value, name=name)
    if v <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return v


def check_nonnegative(value: Any, *, name: str) -> float:
    """A finite real number >= 0."""
    v = check_real(value, name=name)
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return v


def check_in_range(value: Any, lo: float, hi: float, *, name: str,
                   lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite real number in the interval [lo, hi] (ends open where asked)."""
    if math.isnan(lo) or math.isnan(hi) or not lo <= hi:
        raise ValueError(f"the interval for {name} must have lo <= hi (no NaN), got [{lo}, {hi}]")
    v = check_real(value, name=name)
    bad = (v < lo or v > hi or (lo_open and v == lo) or (hi_open and v == hi))
    if bad:
        left, right = ("(" if lo_open else "["), (")" if hi_open else "]")
        raise ValueError(f"{name} must be in {left}{lo}, {hi}{right}, got {value!r}")
    return v


def check_choice(value: Any, choices: Sequence[Any], *, name: str) -> Any:
    """One of a fixed set of options."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def as_float_array(x: Any, *, name: str, min_ndim: int = 1, max_ndim: int | None = None,
                   allow_empty: bool = False, check_finite: bool = True):
    """Validate a finite float array; return (array, is_torch).

    numpy input (or a list) gives a float64 ``np.ndarray``; a torch tensor stays a tensor (its
    dtype is kept if floating, so autograd graphs are preserved). Raises ValueError naming the
    parameter for a wrong number of dimensions, an empty last axis or a NaN/inf entry.
    check_finite=False skips the NaN/inf test only: for a caller that checks a result which is
    non-finite whenever an entry is, and then calls again with the test to name the culprit.
    """
    if is_tensor(x):
        t = x if x.is_floating_point() else x.to(torch.float64)
        arr, is_torch = t, True
        # one sum is enough when it is finite (a NaN or inf entry makes it NaN or inf), and it
        # costs a tenth of an entry-wise scan; only a non-finite sum (or finite entries whose
        # sum overflows) is scanned entry by entry
        td = t.detach()
        finite = not check_finite or bool(torch.isfinite(td.sum())) or bool(torch.isfinite(td).all())
    else:
        try:
            arr = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} must be an array of real numbers ({err})") from None
        is_torch = False
        finite = not check_finite or bool(np.isfinite(arr).all())
    ndim = arr.ndim
    if ndim < min_ndim or (max_ndim is not None and ndim > max_ndim):
        want = f">= {min_ndim}" if max_ndim is None else (
            f"{min_ndim}" if max_ndim == min_ndim else f"in [{min_ndim}, {max_ndim}]")
        raise ValueError(f"{name} must have ndim {want}, got shape {tuple(arr.shape)}")
    if not allow_empty and ndim >= 1 and arr.shape[-1] == 0:
        raise ValueError(f"{name} must have a non-empty last axis, got shape {tuple(arr.shape)}")
    if not finite:
        raise ValueError(f"{name} must contain only finite numbers (found NaN or inf)")
    return arr, is_torch


def check_shape(arr: Any, shape: Sequence[int | None], *, name: str) -> None:
    """Check arr.shape against a pattern; None matches any size."""
    got = tuple(arr.shape)
    if len(got) != len(shape) or any(s is not None and s != g for s, g in zip(shape, got)):
        pattern = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {pattern}, got {got}")


def check_finite_result(value: Any, *, what: str) -> None:
    """Guard on outputs: raise instead of returning NaN or inf."""
    bad = (not bool(torch.isfinite(value).all())) if is_tensor(value) else (
        not bool(np.isfinite(np.asarray(value)).all()))
    if bad:
        raise FloatingPointError(f"{what} is not finite; this is a bug, please report the input")


def check_ndarray(x: Any, *, name: str) -> np.ndarray:
    """A numpy array (not a tensor, not a list): for functions documented as numpy-only."""
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(x).__name__}")
    return x


def check_tensor(x: Any, *, name: str):
    """A torch tensor: for functions documented as torch-only (autograd, training)."""
    if not is_tensor(x):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def like_input(value: Any, is_torch: bool, reference: Any = None):
    """The one numpy/torch contract: hand back what came in.

    numpy in -> numpy out (float64), tensor in -> tensor out (on `reference`'s dtype and device
    when given; a tensor that is already one passes through, so autograd graphs are kept).
    """
    if is_torch:
        if is_tensor(value):
            return value
        t = torch.as_tensor(np.asarray(value))
        if reference is not None and is_tensor(reference):
            t = t.to(dtype=reference.dtype if reference.is_floating_point() else t.dtype,
                     device=reference.device)
        return t
    if is_tensor(value):
        return value.detach().cpu().numpy()
    return np.asarray(value)


# -- helpers added with the probability and codes subpackages -------------------------------


def as_float_tensor(x: Any, *, name: str, min_ndim: int = 1, max_ndim: int | None = None):
    """Validate as :func:`as_float_array`, then compute in torch either way: (tensor, is_torch).

    numpy input (or a list) becomes a float64 tensor sharing its memory; hand the result back
    with ``like_input(result, is_torch)`` (numpy in -> numpy out, tensor in -> tensor out).
    """
    arr, is_torch = as_float_array(x, name=name, min_ndim=min_ndim, max_ndim=max_ndim)
    # np.asarray(order="C") keeps a 0-d array 0-d (np.ascontiguousarray would make it 1-d)
    return (arr if is_torch else torch.from_numpy(np.asarray(arr, order="C"))), is_torch


def as_float_ndarray(x: Any, *, name: str, min_ndim: int = 1,
                     max_ndim: int | None = None) -> np.ndarray:
    """:func:`as_float_array` for numpy-only functions: a tensor is refused (the message of
    :func:`check_ndarray`); a list or an array gives a finite float64 array."""
    if is_tensor(x):
        check_ndarray(x, name=name)
    return as_float_array(x, name=name, min_ndim=min_ndim, max_ndim=max_ndim)[0]


def as_int_array(x: Any, *, name: str):
    """(integers, is_torch): an int64 array or a long tensor. Floats are accepted only when
    they hold whole numbers; NaN and non-numeric dtypes are refused."""
    if is_tensor(x):
        if x.is_floating_point():
            if not bool(torch.isfinite(x).all()) or bool((x != x.round()).any()):
                raise ValueError(f"{name} must contain integers")
        return x.long(), True
    arr = np.asarray(x)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
            raise ValueError(f"{name} must contain integers")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an array of integers, got dtype {arr.dtype}")
    return arr.astype(np.int64), False


def check_last_dim(x: Any, d: int, *, name: str) -> None:
    """x has at least one axis and x.shape[-1] == d."""
    if x.ndim < 1 or x.shape[-1] != d:
        raise ValueError(f"{name} must have last dimension {d}, got shape {tuple(x.shape)}")


def check_class_indices(target: Any, n: int, batch_shape: Sequence[int], *,
                        name: str = "target"):
    """Integer class indices in [0, n) of shape `batch_shape`, returned as a long tensor."""
    tt = torch.as_tensor(target)
    if tt.is_floating_point() or tt.is_complex() or tt.shape != tuple(batch_shape):
        raise ValueError(f"{name} must be integer class indices of shape {tuple(batch_shape)}, "
                         f"got {tt.dtype} of shape {tuple(tt.shape)}")
    if tt.numel() and (int(tt.min()) < 0 or int(tt.max()) >= n):
        raise ValueError(f"{name} must lie in [0, {n}), got {tt.tolist()}")
    return tt.long()


def check_indices(idx: Any, size: int, *, name: str, unique: bool = True,
                  min_len: int = 1) -> np.ndarray:
    """A 1-D integer index array with entries in [0, size) (distinct unless unique=False) and
    at least `min_len` entries; returned as int64 (a list, tuple or array of integers)."""
    arr = np.asarray(idx)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must be a 1-D array of integers, got {arr.dtype} of shape {arr.shape}")
    if arr.size < min_len:
        raise ValueError(f"{name} must hold at least {min_len} index(es), got {arr.size}")
    if arr.size and (arr.min() < 0 or arr.max() >= size):
        raise ValueError(f"{name} must hold indices in [0, {size - 1}], got {arr.min()}..{arr.max()}")
    if unique and np.unique(arr).size != arr.size:
        raise ValueError(f"{name} must hold distinct indices, got repeats")
    return arr.astype(np.int64)


# -- helpers added with the diffusion subpackage ---------------------------------------------


def check_values_in(arr: Any, lo: float, hi: float, *, name: str, lo_open: bool = False,
                    hi_open: bool = False):
    """Every entry of an array (numpy or torch) in [lo, hi] (ends open where asked); returns arr."""
    a = arr.detach().cpu().numpy() if is_tensor(arr) else np.asarray(arr)
    bad = (a < lo) | (a > hi)
    if lo_open:
        bad |= a == lo
    if hi_open:
        bad |= a == hi
    if bad.any():
        left, right = ("(" if lo_open else "["), (")" if hi_open else "]")
        raise ValueError(f"{name} must lie in {left}{lo}, {hi}{right}")
    return arr


def check_decreasing(arr: Any, *, name: str, min_len: int = 2):
    """A 1-D array (numpy) that is strictly decreasing with at least `min_len` entries."""
    a = np.asarray(arr)
    if a.ndim != 1 or a.size < min_len:
        raise ValueError(f"{name} must be 1-D with at least {min_len} entries, got shape {a.shape}")
    if not (np.diff(a) < 0).all():
        raise ValueError(f"{name} must be strictly decreasing")
    return arr


# -- helpers added with the contract test (tests/lib/test_contract.py) -----------------------


def check_seed(seed: Any, *, name: str = "seed", hi: int = 2**63 - 1) -> int:
    """A seed for numpy's generators: an integer in [0, hi] (numpy refuses a negative seed with
    an error that does not name the parameter; scikit-learn's random_state wants hi = 2**32 - 1)."""
    return check_int_in(seed, 0, hi, name=name)


def check_instance(value: Any, cls: Any, *, name: str) -> Any:
    """An instance of cls (a class or a tuple of classes): a model, an index, a callable's owner."""
    if not isinstance(value, cls):
        want = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
        raise ValueError(f"{name} must be a {want}, got {type(value).__name__}")
    return value


def check_real_or_tensor(value: Any, *, name: str) -> Any:
    """A finite real number, or a tensor of finite floats (returned unchanged: autograd kept)."""
    if is_tensor(value):
        if not value.is_floating_point() or not bool(torch.isfinite(value.detach()).all()):
            raise ValueError(f"{name} must be a finite real number or a tensor of finite floats")
        return value
    check_real(value, name=name)
    return value


def check_grid(values: Any, *, name: str, min_len: int = 1) -> list:
    """The grid of an explorer's control: a list, tuple or 1-D array of at least `min_len` real
    numbers (not a string, a scalar, None or a nested list); returned as a list. Each entry
    still needs its own range check (check_int_in, check_positive, ...)."""
    ok = (isinstance(values, (list, tuple, np.ndarray)) and np.ndim(values) == 1
          and len(values) >= min_len
          and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values))
    if not ok:
        raise ValueError(f"{name} must be a list of at least {min_len} number(s), got {values!r:.80}")
    return list(values)
