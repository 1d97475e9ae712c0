"""JupyterLab configuration for the book (`make lab` passes it with --config): chapters open as
rendered notebooks with their glued numbers, one entry per chapter, no autosave, no news.
What each setting does is explained in scripts/labbook.py."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # scripts/
from labbook import configure  # noqa: E402

configure(c)  # noqa: F821  (c: the config object traitlets provides)
