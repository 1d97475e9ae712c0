"""Tests of kexue.widgets.draw: the matplotlib drawing of a frame and the latency probe."""
from __future__ import annotations

import matplotlib.pyplot as plt

from kexue import widgets as W


def test_figure_draws_every_panel_kind():
    xs = [1.0, 2.0, 3.0]
    fr = W.frame(
        W.panel("bars", "x", "y", series=[W.bars(xs, [1, 2, 3], "b"), W.bars(xs, [3, 2, 1], "o", fill=False)],
                vlines=[W.vline(1.5, "v")], hlines=[W.hline(2.0, "h")]),
        W.panel("heat", "x", "y", heatmap=W.heatmap([[0, 1], [1, 0]], [0, 1, 2], [0, 1, 2], "z", vmin=0, vmax=1)),
        W.panel("log", "x", "y", series=[W.scatter(xs, [1, 10, 100], "s"), W.line(xs, [1, 5, 50], "l", dash=True)],
                xscale="log", yscale="log", xlim=(0.5, 5), xticks=([1, 2, 3], ["one", "two", "three"])),
        text="a long readout " * 12)
    fig = W.draw_frame(W.round_frame(fr))
    assert len(fig.axes) == 4                                  # three panels and one colour bar
    assert fig.axes[0].get_title() == "bars" and fig.axes[2].get_xscale() == "log"
    assert [t.get_text() for t in fig.axes[2].get_xticklabels()] == ["one", "two", "three"]
    assert len(fig.axes[0].patches) == 6                       # two series of three bars
    plt.close(fig)


def test_time_updates_reports_percentiles_over_the_grid():
    ex = W.Explorer([W.Slider("a", [1.0, 2.0, 3.0], 1.0)],
                    lambda a: W.frame(W.panel("t", "x", "y", series=[W.line([0, 1], [0, a])])), name="t")
    row = W.time_updates(ex, samples=3)
    assert row["explorer"] == "t" and row["states"] == 3
    assert 0 < row["update_p50_ms"] <= row["update_p95_ms"]
