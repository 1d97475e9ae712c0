"""Explorer of moe-load-balance: frames carry the simulation's numbers; every control matters."""
import numpy as np
import pytest
import torch

from kexue.explorers import moe_load_balance as X
from kexue.moe import balance as B
from kexue.widgets import Explorer

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def explorer():
    return X.loads(skews=(1.0, 2.0), steps=40, T=128, checkpoints=(0, 20, 40))


def test_factories_take_no_arguments():
    assert len(X.EXPLORERS) == 1          # the default factory is exercised by the chapter


def test_frame_numbers_come_from_the_simulation(explorer):
    assert isinstance(explorer, Explorer)
    fr = explorer.update(rule="ste_sq", skew=2.0, step=20)
    r = B.simulate_balancing("ste_sq", steps=40, lr=1.0, T=128, skew=2.0, seed=0)
    bars_F = fr["panels"][0]["series"][0]
    np.testing.assert_allclose(bars_F["y"], r["F"][20], rtol=1e-3)
    curve = fr["panels"][1]["series"][1]
    np.testing.assert_allclose(curve["y"], r["max_load_ratio"], rtol=1e-3)
    assert f"{B.load_metrics(r['F'][20])['max_load_ratio']:.2f}" in fr["text"]


def test_static_fits(explorer):
    assert len(explorer.static().data) < 1_200_000
