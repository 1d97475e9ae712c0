"""Bundled data and committed run outputs.

:func:`digits` is the one loader of scikit-learn's 8x8 handwritten digits (1,797 images shipped
inside the package: nothing is downloaded). :func:`save_run` / :func:`load_run` write and read
the small JSON outputs of long runs committed under ``kexue/data/`` (floats rounded, keys
sorted, so the files are stable across machines). numpy in, numpy out; torch on request.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ._validate import check_choice, check_instance, check_int_in

DATA_DIR = Path(__file__).with_name("data")


def digits(scale: str = "unit", *, as_images: bool = False, dtype: str = "float64"):
    """The 8x8 digits as (1797, 64) rows (or (1797, 8, 8) images) and their labels.

    scale: "unit" maps the 0..16 pixel counts to [0, 1]; "signed" to [-1, 1]; "raw" keeps 0..16.
    dtype: "float64" or "float32" (numpy arrays either way). Returns (X, y).
    """
    check_choice(scale, ["unit", "signed", "raw"], name="scale")
    check_choice(dtype, ["float64", "float32"], name="dtype")
    from sklearn.datasets import load_digits
    d = load_digits()
    x = d.images if as_images else d.data
    x = x.astype(np.float64)
    if scale == "unit":
        x = x / 16.0
    elif scale == "signed":
        x = x / 8.0 - 1.0
    return x.astype(dtype), d.target.astype(np.int64)


def rounded(obj: Any, digits: int) -> Any:
    """Round every float in a nested structure (dicts, lists, arrays) to `digits` significant
    digits: small, deterministic JSON for committed outputs and explorer frames. -0.0 becomes
    0.0; a NaN or inf raises ValueError."""
    return _rounded(obj, check_int_in(digits, 1, 17, name="digits"))


def _rounded(obj: Any, digits: int) -> Any:
    # the recursion of rounded(), its argument checked once (frames hold thousands of floats)
    if isinstance(obj, dict):
        return {str(k): _rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_rounded(v, digits) for v in obj]
    if isinstance(obj, np.ndarray):
        return _rounded(obj.tolist(), digits)
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        if not math.isfinite(v):
            raise ValueError(f"values must be finite, got {v}")
        return float(f"{v:.{digits}g}") + 0.0            # + 0.0: no "-0"
    return obj


def save_run(name: str, result: dict, *, digits: int = 6, directory: Path | None = None) -> Path:
    """Write a long run's small output as ``<name>.json`` (rounded to `digits` significant
    digits, keys sorted) under kexue/data (or `directory`); returns the path."""
    if not name or "/" in name:
        raise ValueError(f"name must be a plain file stem, got {name!r}")
    if not isinstance(result, dict):
        raise ValueError(f"result must be a dict, got {type(result).__name__}")
    check_int_in(digits, 2, 17, name="digits")
    folder = DATA_DIR if directory is None else Path(check_instance(directory, (str, os.PathLike), name="directory"))
    if not folder.is_dir():
        raise ValueError(f"directory must be an existing folder, got {str(folder)!r}")
    path = folder / f"{name}.json"
    path.write_text(json.dumps(rounded(result, digits), indent=1, sort_keys=True) + "\n")
    return path


def load_run(name: str, *, directory: Path | None = None) -> dict:
    """Read a committed run output written by :func:`save_run`."""
    folder = DATA_DIR if directory is None else Path(check_instance(directory, (str, os.PathLike), name="directory"))
    if not folder.is_dir():
        raise ValueError(f"directory must be an existing folder, got {str(folder)!r}")
    path = folder / f"{name}.json"
    if not path.exists():
        raise ValueError(f"name: no committed run output {path.name} in {path.parent}")
    return json.loads(path.read_text())
