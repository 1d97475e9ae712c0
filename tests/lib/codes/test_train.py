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


def test_main_sweeps_writes_both_parts_with_save_run(tmp_path):
    jobs = [("ksweep", "fsq-5x5", 0), ("gamma", "vq-small-rotation-g0.05", 1)]
    data = T.main_sweeps(steps=2, directory=tmp_path, jobs=jobs)
    saved = json.loads((tmp_path / f"{R.SWEEPS_NAME}.json").read_text())
    assert [r["key"] for r in saved["ksweep"]] == ["fsq-5x5"] and saved["gamma"][0]["seed"] == 1
    assert saved["gamma"][0]["history"]["step"] == [0, 2] and "history" not in saved["ksweep"][0]
    assert saved["config"]["steps"] == 2 and data["config"]["gammas"] == list(R.GAMMAS)
