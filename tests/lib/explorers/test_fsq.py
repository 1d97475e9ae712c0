"""Tests of kexue.explorers.fsq: the FSQ grid and the utilisation dashboard report the library's
numbers."""
import numpy as np
import pytest

from kexue import codes as C
from kexue.explorers import fsq as X
from kexue.widgets import Explorer


def test_every_factory_builds_an_explorer_without_arguments():
    for factory in X.EXPLORERS:
        assert isinstance(factory(), Explorer)


def test_fsq_grid_readout_matches_usage():
    ex = X.fsq_grid(n=500, n_show=50)
    fr = ex.update(L1=5, L2=3, scale=1.0)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((500, 2))
    u = C.codebook_usage(C.levels_to_indices(C.fsq_round(z, [5, 3]), [5, 3]), 15)
    assert f"used {u['used']}/15" in fr["text"] and f"perplexity {u['perplexity']:.1f}" in fr["text"]
    bars = fr["panels"][1]["series"][0]["y"]
    assert len(bars) == 15 and abs(sum(bars) - 1) < 1e-3
    np.testing.assert_allclose(bars, np.sort(u["counts"])[::-1] / 500, atol=1e-4)
    assert len(fr["panels"][0]["vlines"]) == 4 and len(fr["panels"][0]["hlines"]) == 2
    np.testing.assert_allclose([v["x"] for v in fr["panels"][0]["vlines"]], C.fsq_level_edges(5),
                               atol=1e-4)


def test_usage_dashboard_and_static_size():
    runs = {k: r for k, r in C.runs_by_key().items() if k[0] in X.DASHBOARD_NAMES}
    ex = X.usage_dashboard(runs, names=X.DASHBOARD_NAMES)
    fr = ex.update(method="vq-randn-ste", seed=0)
    assert fr["text"].startswith("used 1/240")
    assert X.usage_dashboard().update(method="vq-randn-ste", seed=0) == fr
    assert ex.static().nbytes < 1_000_000


def test_usage_dashboard_montage_puts_each_digit_upright_above_its_reconstruction():
    imgs = np.zeros((8, 64))
    imgs[:, :8] = 1.0                      # top row of every digit lit
    recon = np.zeros((8, 64))
    recon[:, -8:] = 0.5                    # bottom row of every reconstruction at 0.5
    m = X.montage(imgs, recon)[::-1]       # undo the heatmap flip: row 0 = top of the picture
    assert m.shape == (36, 38)
    assert (m[0, :8] == 1).all() and (m[1:8, :8] == 0).all()        # first digit, upright
    assert (m[16, :8] == 0.5).all() and (m[9:16, :8] == 0).all()    # its reconstruction below


@pytest.mark.parametrize("call,name", [
    (lambda: X.fsq_grid(n=5), "n"),
    (lambda: X.usage_dashboard({}), "runs"),
    (lambda: X.montage(np.zeros((2, 64)), np.zeros((3, 64))), "imgs"),
    (lambda: X.montage(np.zeros((2, 64)), np.zeros((2, 64)), per_row=0), "per_row"),
])
def test_bad_input_raises_value_error_naming_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()
