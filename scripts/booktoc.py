"""The one reader of _toc.yml: every page of the book, and the chapters among them.

Used by execute.py, errata.py, bench.py, the site extension (_ext/kexue_site.py) and the book tests (tests/conftest.py puts scripts/ on
sys.path)."""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _toc() -> dict:
    return yaml.safe_load((ROOT / "_toc.yml").read_text())


def parts() -> list[tuple[str, list[str]]]:
    """(caption, pages) of every part, in book order (the front page's chapter list)."""
    return [(part["caption"], [c["file"] for c in part["chapters"]]) for part in _toc().get("parts", [])]


def pages() -> list[str]:
    """Every page listed in _toc.yml, root first, as paths without suffix (e.g. 'book/intro')."""
    return [_toc()["root"]] + [f for _, files in parts() for f in files]


def chapters() -> list[Path]:
    """The chapters (book/<part>/<slug>.md text notebooks) in book order."""
    mds = [ROOT / f"{p}.md" for p in pages() if p.count("/") == 2]
    return [m for m in mds if m.exists() and m.read_text().startswith("---\njupytext:")]
