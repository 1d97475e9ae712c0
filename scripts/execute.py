"""Execute chapters and write their .ipynb pairs (outputs and widget state kept).

    python scripts/execute.py                      # every chapter listed in _toc.yml
    python scripts/execute.py book/probability/smooth-topk.md [...]

Each chapter's MyST text notebook (the file authors edit) is read with jupytext, run with
nbclient in its own folder (one torch thread, 120 s cell timeout, widget state stored), and
written next to it as .ipynb. The wall time per chapter, kernel start included, is printed
and appended to bench-results/execute-times.json for the benchmark table.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
import booktoc  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def chapters_from_toc() -> list[Path]:
    return booktoc.chapters()


def execute(md: Path, out: Path | None = None) -> float:
    """Run `md`; write the executed .ipynb to `out` (default: next to `md`). Returns wall seconds."""
    nb = jupytext.read(md)
    nb.metadata.setdefault("kernelspec", {"display_name": "Python 3", "language": "python",
                                          "name": "python3"})
    env_before = dict(os.environ)
    os.environ.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
                       "MPLBACKEND": "module://matplotlib_inline.backend_inline"})
    t0 = time.perf_counter()
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True,
                       resources={"metadata": {"path": str(md.parent)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    wall = time.perf_counter() - t0
    # keep the jupytext pairing so JupyterLab edits either file and keeps the other in step
    nb.metadata["jupytext"] = {"formats": "ipynb,md:myst", "notebook_metadata_filter": "kexue",
                               "text_representation": nb.metadata.get("jupytext", {}).get(
                                   "text_representation", {})}
    jupytext.write(nb, md.with_suffix(".ipynb") if out is None else out, fmt="ipynb")
    return wall


def main(argv: list[str]) -> int:
    targets = [Path(a).resolve() for a in argv] or chapters_from_toc()
    results = {}
    for md in tqdm(targets, desc="executing chapters", unit="chapter"):
        wall = execute(md)
        results[str(md.relative_to(ROOT))] = round(wall, 2)
        tqdm.write(f"{md.relative_to(ROOT)}: {wall:.1f} s")
    out = ROOT / "bench-results" / "execute-times.json"
    out.parent.mkdir(exist_ok=True)
    old = json.loads(out.read_text()) if out.exists() else {}
    old.update(results)
    out.write_text(json.dumps(old, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
