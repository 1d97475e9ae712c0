"""The batch-size-lr explorers: frame numbers against the library, every control changes the frame."""
import numpy as np
import pytest

from kexue import training as T
from kexue.explorers import batch_size_lr as X


def test_factories_take_no_arguments():
    for f in X.EXPLORERS:
        assert f().update()["panels"]


def test_sgd_frame_matches_the_library():
    fr = X.sgd_batch().update(B_noise=1000.0, B=256.0)
    pt = [s for s in fr["panels"][0]["series"] if s["kind"] == "scatter"][0]
    assert pt["y"][0] == pytest.approx(1 / (1 + 1000 / 256), rel=1e-3)
    S, E = T.steps_data_tradeoff(256.0, 1000.0, 1.0)
    pt2 = [s for s in fr["panels"][1]["series"] if s["kind"] == "scatter"][0]
    assert pt2["x"][0] == pytest.approx(E / 1000, rel=1e-3) and pt2["y"][0] == pytest.approx(S, rel=1e-3)
    assert fr["panels"][0]["vlines"][0]["x"] == 1000.0


def test_surge_frame_matches_the_library():
    fr = X.adam_surge().update(rho=0.05, snr=0.1)
    s = {d["label"]: d for d in fr["panels"][0]["series"]}
    H = T.coupled_hessian(X.DIM, 0.05)
    ref = T.signsgd_optimal_lr(np.full(X.DIM, 0.1), H, np.ones(X.DIM), np.array(s["exact (erf)"]["x"]))
    assert np.allclose(s["exact (erf)"]["y"], ref, rtol=1e-3)
    assert fr["panels"][0]["vlines"][0]["x"] == pytest.approx(T.surge_params(np.full(X.DIM, 0.1), H, 100.0)["B_noise"], rel=1e-3)
    assert "surge" in fr["text"] and "no surge" not in fr["text"]
    assert "no surge" in X.adam_surge().update(rho=0.0)["text"]


def test_static_exports_fit():
    for f in X.EXPLORERS:
        assert f().static().nbytes < 1_200_000
