"""Tests of kexue.codes.train: the script that runs the digits experiments, end to end with one
step per run."""
import json

import torch

from kexue.codes import runs as R
from kexue.codes import train as T

torch.set_num_threads(1)


def test_main_writes_a_small_json_without_timings(tmp_path):
    out = tmp_path / "runs.json"
    data = T.main(["--out", str(out), "--steps", "1"])
    text = out.read_text()
    assert json.loads(text) == data
    assert data["config"]["steps"] == 1 and len(data["runs"]) == len(R.MAIN) * len(R.SEEDS)
    assert "time" not in text and len(text) < 200_000
