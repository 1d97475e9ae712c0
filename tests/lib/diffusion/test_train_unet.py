"""Tests of kexue.train_unet, the script that trains the skip-tuning chapter's digit U-Net: its
first steps reproduce the committed log, and its evaluation reproduces the committed losses."""
import json

import pytest

from kexue import train_unet
from kexue import unet as U


def test_training_script_reproduces_its_first_steps():
    """Re-run the first 30 steps of `python -m kexue.train_unet` and compare with its committed log."""
    from kexue import train_unet
    meta = json.loads(U.METRICS.read_text())
    settings_ = {k: meta[k] for k in train_unet.SETTINGS}
    _, log = U.train_digits_unet(30, meta["seed"], schedule_steps=meta["steps"], **settings_)
    assert len(log) == 3
    for ours, ref in zip(log, meta["log"][:3]):
        assert ours["step"] == ref["step"]
        assert ours["loss"] == pytest.approx(ref["loss"], rel=1e-3)   # same seed, one thread: same run


def test_evaluation_reproduces_the_committed_held_out_losses():
    """eval_losses on the committed weights gives the numbers the script wrote next to them."""
    meta = json.loads(U.METRICS.read_text())
    den, _ = U.load_pretrained()
    got = train_unet.eval_losses(den)
    assert set(got) == set(meta["eval_pixel_mse"])
    for sigma, ref in meta["eval_pixel_mse"].items():
        assert got[sigma] == pytest.approx(ref, rel=1e-4, abs=1e-6), sigma
