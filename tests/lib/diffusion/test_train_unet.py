"""Tests of kexue.diffusion.train_unet, the script that trains the skip-tuning chapter's digit
U-Net: its first steps reproduce the committed log, and its evaluation reproduces the committed
losses (in float32, as trained, and in float64, as the chapters run it)."""
import pytest
import torch

from kexue import diffusion as D
from kexue.datasets import load_run
from kexue.diffusion import train_unet

torch.set_num_threads(1)


@pytest.mark.parametrize("norm", [False, True])
def test_training_script_reproduces_its_first_steps(norm):
    """Re-run the first 30 steps of `python -m kexue.diffusion.train_unet [--groupnorm]` and compare with its log."""
    meta = load_run(D.METRICS_GN if norm else D.METRICS)
    settings_ = {k: meta[k] for k in train_unet.SETTINGS}
    _, log = D.train_digits_unet(30, meta["seed"], schedule_steps=meta["steps"], norm=norm, **settings_)
    assert len(log) == 3
    for ours, ref in zip(log, meta["log"][:3]):
        assert ours["step"] == ref["step"]
        assert ours["loss"] == pytest.approx(ref["loss"], rel=1e-3)   # same seed, one thread: same run


@pytest.mark.parametrize("dtype,norm", [("float32", False), ("float64", False), ("float64", True)])
def test_evaluation_reproduces_the_committed_held_out_losses(dtype, norm):
    """eval_losses on the committed weights gives the numbers the script wrote next to them."""
    meta = load_run(D.METRICS_GN if norm else D.METRICS)
    den, _ = D.load_pretrained(dtype, norm=norm)
    got = train_unet.eval_losses(den)
    assert set(got) == set(meta["eval_pixel_mse"])
    for sigma, ref in meta["eval_pixel_mse"].items():
        assert got[sigma] == pytest.approx(ref, rel=1e-4, abs=1e-6), sigma
