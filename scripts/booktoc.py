"""The one reader of _toc.yml: every page of the book, and the chapters among them.

Used by execute.py, errata.py, bench.py and the book tests (tests/conftest.py puts scripts/ on
sys.path)."""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def pages() -> list[str]:
    """Every page listed in _toc.yml, root first, as paths without suffix (e.g. 'book/intro')."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    out = [toc["root"]]
    for part in toc.get("parts", []):
        out += [c["file"] for c in part["chapters"]]
    return out


def chapters() -> list[Path]:
    """The chapters (book/<part>/<slug>.md text notebooks) in book order."""
    mds = [ROOT / f"{p}.md" for p in pages() if p.count("/") == 2]
    return [m for m in mds if m.exists() and m.read_text().startswith("---\njupytext:")]
