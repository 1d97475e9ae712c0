"""Tests of kexue.explorers.vq_rotation_trick: the gradient field and the training curves report
the library's numbers."""
import numpy as np
import pytest

from kexue import codes as C
from kexue.explorers import vq_rotation_trick as X
from kexue.widgets import Explorer


def test_every_factory_builds_an_explorer_without_arguments():
    for factory in X.EXPLORERS:
        assert isinstance(factory(), Explorer)


def test_gradient_field_explorer_ste_vs_rotation():
    ex = X.gradient_field_explorer()
    ste = ex.update(method="ste")
    rot = ex.update(method="rotation")
    assert "direction spread 0.00 rad" in ste["text"]
    spread = float(rot["text"].split("direction spread ")[1].split(" ")[0])
    assert spread > 0.1
    assert "max |cos(z,∇z) − cos(q,∇q)| < 1e-12" in rot["text"]      # angle preserved
    assert "< 1e-12" not in ste["text"]                                # STE does not preserve it
    gz, _ = C.gradient_field(np.array([[1.0, 0.2]]), np.array([[1.5, 0.0], [-1.5, 0.0]]),
                             np.array([1.0, 0.4]), "ste")
    assert np.allclose(gz, [[1.0, 0.4]])


def test_gradient_field_rotation_magnitude_is_norm_ratio():
    pts = np.array([[0.5, 0.1], [2.0, -1.0], [-1.0, 1.5]])
    cb = np.array([[1.5, 0.0], [-1.0, 1.0]])
    g = np.array([1.0, 0.4])
    gz, idx = C.gradient_field(pts, cb, g, "rotation")
    expect = np.linalg.norm(g) * np.linalg.norm(cb[idx], axis=1) / np.linalg.norm(pts, axis=1)
    assert np.allclose(np.linalg.norm(gz, axis=1), expect, atol=1e-12)
    ex = X.gradient_field_explorer()
    fr = ex.update(norm=3.0, method="rotation")
    pts_x, ratio_y = fr["panels"][1]["series"][2]["x"], fr["panels"][1]["series"][2]["y"]
    assert np.allclose(pts_x, ratio_y, atol=1e-9)           # rotation: on the diagonal


def test_training_curves_explorer_reads_the_saved_runs():
    runs = {(r["key"], r["seed"]): r for r in C.load_sweeps()["gamma"]}
    ex = X.training_curves_explorer(runs)
    fr = ex.update(init="data", gamma=0.05, seed=1)
    ste, rot = runs["vq-data-ste-g0.05", 1], runs["vq-data-rotation-g0.05", 1]
    mse_panel, z_panel, ratio_panel, use_panel = fr["panels"]
    # frames are rounded to 4 significant digits and show the steps of shown_steps
    keep = X.shown_steps(ste["history"]["step"])
    assert mse_panel["series"][0]["x"] == [ste["history"]["step"][i] for i in keep]
    dense = sum(st <= 100 for st in ste["history"]["step"])
    assert keep[:dense] == list(range(dense)) and keep[-1] == len(ste["history"]["step"]) - 1
    pick = lambda v: [v[i] for i in keep]
    assert np.allclose(mse_panel["series"][0]["y"], pick(ste["history"]["mse"]), rtol=1e-3)
    assert np.allclose(z_panel["series"][1]["y"], pick(rot["history"]["z_norm"]), rtol=1e-3)
    assert np.allclose(ratio_panel["series"][1]["y"], pick(rot["history"]["q_over_z"]), rtol=1e-3)
    assert use_panel["series"][1]["y"][-1] == pytest.approx(100 * rot["history"]["utilization"][-1], rel=1e-3)
    assert f"used {rot['used']}/240" in fr["text"] and f"‖z‖ {ste['z_norm']:.2f}" in fr["text"]
    # every control changes the frame
    assert ex.update(init="small", gamma=0.05, seed=1) != fr
    assert ex.update(init="data", gamma=0.25, seed=1) != fr
    assert ex.update(init="data", gamma=0.05, seed=2) != fr
    assert ex.static().nbytes < 400_000
    assert X.training_curves_explorer().update(init="data", gamma=0.05, seed=1) == fr


def test_shown_steps_keeps_the_start_dense_and_the_end():
    steps = list(range(0, 810, 10))
    keep = X.shown_steps(steps)
    assert [steps[i] for i in keep] == list(range(0, 110, 10)) + list(range(200, 900, 100))
    assert X.shown_steps([0, 7, 13]) == [0, 1, 2]


def test_arrow_tip_and_readout():
    xs, ys = X.arrow(0.0, 0.0, 1.0, 0.0)
    assert (xs[1], ys[1]) == (1.0, 0.0) and xs[2] < 1.0 and ys[2] == -ys[4]
    assert X.readout(1e-15) == "< 1e-12" and X.readout(0.25) == "2.5e-01"


@pytest.mark.parametrize("call,name", [
    (lambda: X.gradient_field_explorer(grid=1), "grid"),
    (lambda: X.gradient_field_explorer(g=[np.nan, 1.0]), "g"),
    (lambda: X.training_curves_explorer({}), "runs"),
    (lambda: X.training_curves_explorer({("vq-small-ste", 0): {}}), "runs"),
    (lambda: X.training_curves_explorer({("vq-small-ste-g0.25", 0): {}}), "runs"),
])
def test_bad_input_raises_value_error_naming_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()
