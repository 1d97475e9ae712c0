"""The explorer mechanism only: controls, checked frame builders, the live widget, the static
export and the matplotlib drawing. No mathematics lives here; chapters' explorers are in
:mod:`kexue.explorers`."""
from .draw import display_figure, draw_frame, time_updates
from .explorer import MAX_STATIC_BYTES, Dropdown, Explorer, Slider, StaticExplorer, round_frame
from .frames import (CMAPS, PALETTE, bars, check_frame, frame, heatmap, hline, line, panel, scatter,
                     vline)

__all__ = ["CMAPS", "Dropdown", "Explorer", "MAX_STATIC_BYTES", "PALETTE", "Slider", "StaticExplorer",
           "bars", "check_frame", "display_figure", "draw_frame", "frame", "heatmap", "hline",
           "line", "panel", "round_frame", "scatter", "time_updates", "vline"]
