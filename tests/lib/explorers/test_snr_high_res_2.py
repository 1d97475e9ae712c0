"""Tests of kexue.explorers.snr_high_res_2: upsample-guidance frames against the library."""
import numpy as np
import pytest

from kexue import diffusion as D
from kexue.explorers import snr_high_res_2 as X


def test_upsample_guidance_frames():
    ex = X.upsample_guidance(n=16, ws=(-1.0, 0.0), factors=(2, 4), n_samples=20, steps=5)
    f_off, f_on = ex.update(w=-1.0, s=2), ex.update(w=0.0, s=2)
    # with w = -1 guidance is off: the UG image equals the naive image
    assert f_off["panels"][2]["heatmap"]["z"] == f_off["panels"][0]["heatmap"]["z"]
    assert f_on["panels"][2]["heatmap"]["z"] != f_on["panels"][0]["heatmap"]["z"]
    assert "coarse" in f_on["text"] and len(ex.frames()) == 4
    # the truth curve is the library's radial spectrum of the teacher
    k, truth = D.radial_spectrum(D.gp_spectrum(16, "bandpass", k0=2.0, width=0.6))
    spec = f_on["panels"][3]["series"][0]
    assert np.allclose(spec["x"], k[1:]) and np.allclose(spec["y"], truth[1:], rtol=1e-3)


def test_the_module_lists_zero_argument_factories():
    assert X.EXPLORERS == (X.upsample_guidance,)


def test_upsample_guidance_bad_input():
    with pytest.raises(ValueError, match="factors"):
        X.upsample_guidance(n=16, factors=(3,))
    with pytest.raises(ValueError, match="n_samples"):
        X.upsample_guidance(n_samples=0)


def test_upsample_guidance_refuses_malformed_grids():
    """A scalar, an empty list, None or a nested list gave TypeError/IndexError before."""
    for name in ("ws", "factors", ):
        for bad in (3, [], None, [[1, 2]], "ab"):
            with pytest.raises(ValueError, match=name):
                X.upsample_guidance(**{name: bad})


def test_upsample_guidance_checks_the_seed():
    for bad in (-1, 1.5, "a"):
        with pytest.raises(ValueError, match="seed"):
            X.upsample_guidance(seed=bad)
