"""Tests of kexue.explorers.ddcm: the codec frames report what the library computes."""
import numpy as np
import pytest
import torch

from kexue import diffusion as D
from kexue.explorers import ddcm as X

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def small():
    x0 = X.held_out_digits()
    return D.rate_distortion(x0, D.digits_gmm(), Ks=(2, 16, 64), steps=(10, 30))


def test_codec_frames_report_the_library_numbers(small):
    ex = X.codec(small)
    fr = ex.update(K=16, T=30)
    left, right = fr["panels"]
    assert [s["label"] for s in left["series"]] == ["T = 10", "T = 30", "pixel quantisation (2-9 levels)",
                                                    "K = 16, T = 30"]
    assert left["series"][3]["x"] == [D.code_bits(30, 16)] == [116]
    rec3, b3 = D.uniform_quantise(X.held_out_digits(), 3)
    assert left["series"][2]["x"][1] == b3 and left["series"][2]["y"][1] == pytest.approx(((rec3 - X.held_out_digits()) ** 2).mean(), rel=1e-3)
    # the marked point is the MSE of an independent encode of the same digits
    _, x_rec = D.ddcm_encode(X.held_out_digits(), D.digits_gmm(), D.ddcm_schedule(30), D.Codebooks(16, 64, 0))
    mse = float(((x_rec - X.held_out_digits()) ** 2).mean())
    assert left["series"][3]["y"][0] == pytest.approx(mse, rel=1e-3)
    assert "116 bits" in fr["text"] and "29 tokens" in fr["text"]
    z = np.array(right["heatmap"]["z"])
    assert z.shape == (17, 5 * 9 - 1)
    assert np.allclose(z[::-1][0:8, 0:8], X.held_out_digits()[0].reshape(8, 8), atol=1e-4)
    assert np.allclose(z[::-1][9:17, 0:8], x_rec[0].reshape(8, 8), rtol=1e-3, atol=1e-3)


def test_every_control_changes_the_frame(small):
    ex = X.codec(small)
    base = ex.update(K=16, T=30)
    assert ex.update(K=2, T=30)["text"] != base["text"]
    assert ex.update(K=16, T=10)["text"] != base["text"]
    assert ex.update(K=2, T=30)["panels"][1]["heatmap"] != base["panels"][1]["heatmap"]
    assert len(ex.frames()) == 6


def test_module_lists_zero_argument_factories():
    assert X.EXPLORERS == (X.codec,)
    with pytest.raises(ValueError, match="params"):
        X.codec({"Ks": [2, 4], "steps": [10, 20], "bits": np.zeros((2, 2)), "mse": np.ones((2, 2)),
                 "rec": np.zeros((2, 2, 20, 64))}).update(L=3)
