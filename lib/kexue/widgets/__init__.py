"""The explorer mechanism only: controls, checked frame builders and their schema, the one
JavaScript renderer (live as an anywidget, kernel-free in the HTML book) and the matplotlib PNG
of the default state. No mathematics lives here; chapters' explorers are in
:mod:`kexue.explorers`."""
from .draw import display_figure, draw_frame, time_updates
from .explorer import (MAX_STATIC_BYTES, RENDERER, Dropdown, Explorer, LiveExplorer, Slider,
                       StaticExplorer, renderer_script, round_frame)
from .frames import (CMAPS, PALETTE, SCHEMA, bars, check_frame, frame, heatmap, hline, line,
                     no_negative_zero, panel, scatter, vline)

__all__ = ["CMAPS", "Dropdown", "Explorer", "LiveExplorer", "MAX_STATIC_BYTES", "PALETTE",
           "RENDERER", "SCHEMA", "Slider", "StaticExplorer", "bars", "check_frame",
           "display_figure", "draw_frame", "frame", "heatmap", "hline", "line",
           "no_negative_zero", "panel", "renderer_script", "round_frame", "scatter",
           "time_updates", "vline"]
