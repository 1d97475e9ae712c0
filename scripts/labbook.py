"""JupyterLab on the book: the server set-up `make lab` uses, and a driver for the browser test
(tests/book/test_lab.py) and the latency benchmark (`scripts/bench.py --only lab`).

What `make lab` gets (scripts/lab/jupyter_lab_config.py calls :func:`configure`):

* **Chapters open as rendered notebooks.** A chapter's `.md` opens with Jupytext as a notebook
  (outputs from its paired `.ipynb`), and jupyterlab-myst renders its MyST: admonitions (errata),
  folded solutions (dropdowns), math, cross-references.
* **Citations read as in the HTML book** ("[Graham et al., 1994]", the reference as tooltip):
  jupyterlab-myst does not read references.bib and shows a bare key with a warning sign, so
  ``{cite:p}``/``{cite:t}`` roles are rewritten to text the same way as glue roles (below).
* **Glued numbers show.** jupyterlab-myst does not know MyST-NB's ``{glue:text}`key``` role and
  shows the bare key. The contents manager below replaces each such role in a markdown cell, as
  the notebook is opened, by ``{abbr}`<value> (glue: key)``` -- the value formatted exactly as
  the HTML book formats it (MyST-NB's own `format_plain_text`) from the glue outputs stored with
  the notebook -- which jupyterlab-myst shows as the number, with "glue: key" as its tooltip.
  Saving puts the roles back, so a saved chapter keeps ``{glue:text}`` in its text.
* **The book's TeX macros render** (``\\E``, ``\\topk{k}``, ...): jupyterlab-myst renders math with
  KaTeX and takes macros only from the MyST frontmatter ``math:`` key, which it reads from a
  ``---`` YAML block at the top of the notebook's first markdown cell (not from notebook
  metadata). The contents manager puts such a block, made from :data:`kexue.notebook.MACROS`
  (the one source; ``_config.yml`` mirrors it for the HTML book), at the top of that cell as the
  notebook is opened, and takes it off again on save (the reader sees it only when editing
  that cell; if they change the block itself, it is saved as they left it).
* **The `.md` is the source**: Jupytext's refusal to open a text notebook older than its `.ipynb`
  is turned off (a fresh clone's file times follow checkout order, not edits).
* **Folded cells stay folded**: code cells tagged hide-cell / hide-input / hide-output (computed
  solutions, set-up cells) open collapsed, as the HTML book shows them (a click unfolds them);
  the collapse is not written back on save.
* **One entry per chapter**: the `.ipynb` of each `.md`/`.ipynb` pair is hidden from the file
  browser (`ContentsManager.hide_globs`); other notebooks stay visible.
* **Nothing is written unless the reader saves**: no autosave (scripts/lab/overrides.json), so
  opening and running a chapter leaves the checkout clean. No news pop-up, no update check.
* 127.0.0.1 only, with a token, no browser opened by the server.
"""
from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from kexue.notebook import MACROS

ROOT = Path(__file__).resolve().parents[1]
LAB_DIR = ROOT / "scripts" / "lab"                  # overrides.json (settings) + jupyter_lab_config.py
CONFIG = LAB_DIR / "jupyter_lab_config.py"
BOOK = ROOT / "book"

# ---------------------------------------------------------------------------------------------
# glue roles <-> numbers

GLUE_ROLE = re.compile(r"\{glue:text\}`([^`]+)`")
GLUED_ABBR = re.compile(r"\{abbr\}`([^`]*?) \(glue: ([^`()]+)\)`")
GLUE_PREFIX = "application/papermill.record/"


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def glue_values(nb: dict) -> dict[str, str]:
    """name -> stored text/plain of every MyST-NB glue output of a notebook (a dict or NotebookNode)."""
    out = {}
    for cell in nb.get("cells", []):
        for o in cell.get("outputs", []) or []:
            meta = (o.get("metadata") or {}).get("scrapbook") or {}
            name = meta.get("name")
            if not name:
                continue
            data = o.get("data") or {}
            prefix = meta.get("mime_prefix", "")
            text = data.get(prefix + "text/plain", data.get("text/plain"))
            if text is not None:
                out[name] = "".join(text) if isinstance(text, list) else text
    return out


def glue_text(values: dict[str, str], role_body: str) -> str | None:
    """What the HTML book prints for ``{glue:text}`role_body``` (None when the key is unknown)."""
    from myst_nb.core.variables import format_plain_text
    parts = role_body.rsplit(":", 1)                  # as MyST-NB's PasteTextRole reads it
    key, spec = (parts[0], parts[1]) if len(parts) == 2 else (parts[0], "s")
    if key not in values:
        return None
    try:
        return format_plain_text(values[key], spec)
    except (TypeError, ValueError):
        return None


def _rewrite_markdown(nb: dict, marker: str, pattern: re.Pattern, sub) -> None:
    """Apply pattern.sub(sub, ...) to every markdown cell whose source contains marker, in place."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            src = _source(cell)
            if marker in src:
                cell["source"] = pattern.sub(sub, src)


def glue_in(nb: dict) -> int:
    """Replace the {glue:text} roles of the markdown cells by their numbers (in place); returns
    how many were replaced. Roles whose key has no stored output are left as they are."""
    values = glue_values(nb)
    n = 0

    def sub(m: re.Match) -> str:
        nonlocal n
        text = glue_text(values, m.group(1))
        if text is None or "`" in text:
            return m.group(0)
        n += 1
        return f"{{abbr}}`{text} (glue: {m.group(1)})`"

    _rewrite_markdown(nb, "{glue:text}", GLUE_ROLE, sub)
    return n


def glue_out(nb: dict) -> dict:
    """The inverse of :func:`glue_in` on a copy of a notebook (what is saved to disk)."""
    nb = copy.deepcopy(nb)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            src = _source(cell)
            if "(glue: " in src:
                cell["source"] = GLUED_ABBR.sub(lambda m: f"{{glue:text}}`{m.group(2)}`", src)
    return nb


# ---------------------------------------------------------------------------------------------
# citations: {cite:p}`k1,k2` -> [Author et al., 1994; ...] as the HTML book writes them

CITE_ROLE = re.compile(r"\{cite:([pt])\}`([^`]+)`")
CITED_ABBR = re.compile(r"\{abbr\}`([^`]*?) \(cite:([pt]) ([^()`\s:]+):[^()`]*\)`")


def _latex_text(s: str) -> str:
    import codecs

    import latexcodec  # noqa: F401  (registers the "ulatex" codec)
    try:
        s = codecs.decode(s, "ulatex")
    except (TypeError, ValueError):
        pass
    return re.sub(r"[{}]", "", s).strip()


def read_bib(path: Path) -> dict[str, dict]:
    """key -> {"label": "Graham et al.", "year": "1994", "ref": one-line reference} of a .bib file."""
    from pybtex.database import parse_file
    out = {}
    for key, e in parse_file(str(path), bib_format="bibtex").entries.items():
        people = e.persons.get("author") or e.persons.get("editor") or []
        last = [_latex_text(" ".join(p.prelast_names + p.last_names)) for p in people]
        label = (last[0] if len(last) == 1 else f"{last[0]} and {last[1]}" if len(last) == 2
                 else f"{last[0]} et al." if last else _latex_text(e.fields.get("title", key)))
        year = e.fields.get("year", "n.d.")
        ref = f"{', '.join(last)}. {_latex_text(e.fields.get('title', ''))}. {year}."
        out[key] = {"label": label, "year": year, "ref": re.sub(r"[()`\[\]]", "", ref)}
    return out


def cite_in(nb: dict, bib: dict[str, dict]) -> int:
    """Replace {cite:p}/{cite:t} roles by author-year text (in place), the keys kept in the
    tooltip; roles with a key missing from the bibliography are left as they are."""
    n = 0

    def sub(m: re.Match) -> str:
        nonlocal n
        kind, keys = m.group(1), m.group(2).split(",")
        if re.search(r"\s", m.group(2)) or not all(k in bib for k in keys):
            return m.group(0)
        if kind == "p":
            text = "[" + "; ".join(f"{bib[k]['label']}, {bib[k]['year']}" for k in keys) + "]"
        else:
            text = ", ".join(f"{bib[k]['label']} [{bib[k]['year']}]" for k in keys)
        n += 1
        return f"{{abbr}}`{text} (cite:{kind} {','.join(keys)}: {' '.join(bib[k]['ref'] for k in keys)})`"

    _rewrite_markdown(nb, "{cite:", CITE_ROLE, sub)
    return n


def cite_out(nb: dict) -> dict:
    """The inverse of :func:`cite_in`, in place."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            src = _source(cell)
            if "(cite:" in src:
                cell["source"] = CITED_ABBR.sub(lambda m: f"{{cite:{m.group(2)}}}`{m.group(3)}`", src)
    return nb


# ---------------------------------------------------------------------------------------------
# the book's macros -> jupyterlab-myst's frontmatter `math:` (its KaTeX reads nothing else)


def macros_frontmatter(macros: dict[str, tuple[str, int]] | None = None) -> str:
    """A MyST frontmatter block (YAML, one JSON line) whose ``math:`` key defines the macros
    (name -> (definition, number of arguments), default :data:`kexue.notebook.MACROS`) for
    jupyterlab-myst; KaTeX reads the number of arguments from the ``#1``... in a definition."""
    macros = MACROS if macros is None else macros
    math = {f"\\{name}": body for name, (body, _) in macros.items()}
    return "---\nmath: " + json.dumps(math, ensure_ascii=False) + "\n---\n"


def macros_in(nb: dict, block: str | None = None) -> bool:
    """Put the macros' frontmatter block at the top of the first markdown cell (in place; that
    cell is where jupyterlab-myst reads a notebook's frontmatter). False when there is no
    markdown cell or that cell already starts with frontmatter of its own."""
    block = macros_frontmatter() if block is None else block
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            src = _source(cell)
            if src.startswith("---"):
                return False
            cell["source"] = block + src
            return True
    return False


def macros_out(nb: dict, block: str | None = None) -> dict:
    """The inverse of :func:`macros_in`, in place."""
    block = macros_frontmatter() if block is None else block
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            src = _source(cell)
            if src.startswith(block):
                cell["source"] = src[len(block):]
            break
    return nb


# ---------------------------------------------------------------------------------------------
# folded cells: the book's hide-* tags -> JupyterLab's collapsed input/output

HIDE = {"hide-cell": ("source_hidden", "outputs_hidden"), "hide-input": ("source_hidden",),
        "hide-output": ("outputs_hidden",)}


def fold_in(nb: dict) -> int:
    """Collapse, as the HTML book folds them, the code cells tagged hide-cell / hide-input /
    hide-output (a computed solution stays hidden until the reader unfolds it); in place."""
    n = 0
    for cell in nb.get("cells", []):
        tags = (cell.get("metadata") or {}).get("tags") or []
        keys = [k for t in tags for k in HIDE.get(t, ())]
        if cell.get("cell_type") == "code" and keys:
            jup = cell.setdefault("metadata", {}).setdefault("jupyter", {})
            for k in keys:
                jup[k] = True
            n += 1
    return n


def fold_out(nb: dict) -> dict:
    """The inverse of :func:`fold_in`, in place (what the tags imply is not written back)."""
    for cell in nb.get("cells", []):
        meta = cell.get("metadata") or {}
        keys = {k for t in meta.get("tags") or [] for k in HIDE.get(t, ())}
        jup = meta.get("jupyter")
        if keys and isinstance(jup, dict):
            for k in keys:
                jup.pop(k, None)
            if not jup:
                meta.pop("jupyter")
    return nb


# ---------------------------------------------------------------------------------------------
# the server


def paired_notebooks(book: Path = BOOK) -> list[str]:
    """File names of the `.ipynb` that have a `.md` beside them (hidden from the file browser)."""
    return sorted({p.name for p in book.rglob("*.ipynb")
                   if p.with_suffix(".md").exists() and ".ipynb_checkpoints" not in p.parts})


def contents_manager_class():
    """Jupytext's contents manager, with the glue roles replaced by numbers on the way out."""
    from jupytext import AsyncTextFileContentsManager

    class BookContentsManager(AsyncTextFileContentsManager):
        """Opens `.md` chapters as notebooks (Jupytext) with their glued numbers filled in."""

        _bib: tuple = (None, {})

        def bibliography(self) -> dict:
            """references.bib at the root of the served folder (re-read when it changes)."""
            path = Path(self.root_dir) / "references.bib"
            stamp = path.stat().st_mtime if path.exists() else None
            if stamp != self._bib[0]:
                try:
                    self._bib = (stamp, read_bib(path) if stamp else {})
                except Exception as e:                               # noqa: BLE001
                    self.log.warning("references.bib could not be read: %s", e)
                    self._bib = (stamp, {})
            return self._bib[1]

        async def get(self, path, content=True, type=None, format=None, **kwargs):
            model = await super().get(path, content=content, type=type, format=format, **kwargs)
            if content and model.get("type") == "notebook" and model.get("content"):
                glue_in(model["content"])
                cite_in(model["content"], self.bibliography())
                fold_in(model["content"])
                macros_in(model["content"])
            return model

        async def save(self, model, path=""):
            if model.get("type") == "notebook" and model.get("content"):
                model = {**model, "content": macros_out(fold_out(cite_out(glue_out(model["content"]))))}
            return await super().save(model, path)

    return BookContentsManager


def configure(c, book: Path = BOOK) -> None:
    """Fill a traitlets config `c` (from scripts/lab/jupyter_lab_config.py) for the book."""
    from jupyter_server.services.contents.filemanager import FileContentsManager
    c.ServerApp.ip = "127.0.0.1"
    c.ServerApp.open_browser = False
    c.ServerApp.contents_manager_class = contents_manager_class()
    c.ContentsManager.hide_globs = list(FileContentsManager().hide_globs) + paired_notebooks(book)
    # the .md is the source; a checkout's file times say nothing (git sets them in checkout
    # order), so never refuse to open a chapter whose .ipynb happens to be newer (inf: no check)
    c.JupytextConfiguration.outdated_text_notebook_margin = float("inf")
    c.LabApp.app_settings_dir = str(LAB_DIR)       # overrides.json: .md opens as a notebook, no autosave
    c.LabApp.news_url = None                         # no news pop-up
    c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"


# ---------------------------------------------------------------------------------------------
# a driver for the browser test and the benchmark


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



def stop_process_group(proc: subprocess.Popen | None) -> None:
    """SIGTERM the process group of a server started with start_new_session=True, SIGKILL it if it
    has not exited within 15 s (JupyterLab here, the Jupyter server of make live)."""
    if proc is not None and proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

class Lab:
    """JupyterLab started as `make lab` starts it, on a copy of the book in a temporary folder
    (so that nothing a test or the benchmark does reaches the checkout), on 127.0.0.1, a free
    port and a random token, with its own empty settings, workspaces and runtime folders."""

    def __init__(self, parts: list[str] | None = None, *, expose_app: bool = True):
        self.tmp = Path(tempfile.mkdtemp(prefix="kexue-lab-"))
        self.book = self.tmp / "book"
        self.book.mkdir()
        import shutil
        for p in BOOK.iterdir():
            if p.is_dir() and (parts is None or p.name in parts):
                shutil.copytree(p, self.book / p.name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
            elif p.is_file():
                shutil.copy2(p, self.book / p.name)
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.expose_app = expose_app
        self.proc: subprocess.Popen | None = None
        self.log = self.tmp / "lab.log"

    def __enter__(self) -> "Lab":
        env = dict(os.environ)
        for k, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTERLAB_SETTINGS_DIR", "user-settings"),
                       ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                       ("IPYTHONDIR", "ipython")):
            (self.tmp / sub).mkdir()
            env[k] = str(self.tmp / sub)
        env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        cmd = [sys.executable, "-m", "jupyter", "lab", f"--config={CONFIG}",
               f"--ServerApp.root_dir={self.book}", f"--ServerApp.port={self.port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}"]
        if self.expose_app:
            cmd.append("--LabApp.expose_app_in_browser=True")
        if hasattr(os, "getuid") and os.getuid() == 0:
            cmd.append("--allow-root")
        self.proc = subprocess.Popen(cmd, cwd=self.tmp, env=env, stdout=self.log.open("w"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.__exit__()
        raise RuntimeError(f"JupyterLab did not answer within 60 s:\n{self.log.read_text()[-3000:]}")

    def __exit__(self, *exc) -> None:
        import shutil
        stop_process_group(self.proc)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def url(self, path: str = "lab", **query) -> str:
        q = "&".join([f"token={self.token}"] + [f"{k}={v}" for k, v in query.items()])
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}?{q}"

    def api(self, path: str) -> dict:
        with urllib.request.urlopen(self.url(path), timeout=10) as r:
            return json.load(r)


# JavaScript run in the page (window.jupyterapp: --LabApp.expose_app_in_browser)
JS_KERNEL_IDLE = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle'; }"""
JS_RUNNING = """() => { const w = window.jupyterapp.shell.currentWidget;
  return w.content.widgets.filter(c => c.model.type === 'code' && c.model.executionState === 'running').length; }"""
JS_OUTPUTS = """() => { const w = window.jupyterapp.shell.currentWidget; const out = [];
  w.content.widgets.forEach((c, i) => { if (c.model.type !== 'code') return;
    for (const o of c.model.outputs.toJSON()) out.push({cell: i, type: o.output_type, name: o.name || '',
      text: o.output_type === 'error' ? `${o.ename}: ${o.evalue}` : (o.output_type === 'stream' ? String(o.text).slice(0, 300) : '')}); });
  return out; }"""


def run_all(page, timeout_s: float = 120) -> float:
    """Run > Run All Cells from the menu bar (real clicks); wait until every cell has run and the
    kernel is idle. Returns the seconds it took."""
    page.click(".lm-MenuBar-item:has-text('Run')")
    t0 = time.monotonic()
    page.click(".lm-Menu-item:has-text('Run All Cells')")
    page.wait_for_function(JS_RUNNING, timeout=30_000, polling=100)          # queued or running
    page.wait_for_function(f"() => ({JS_RUNNING})() === 0 && ({JS_KERNEL_IDLE})()",
                           timeout=timeout_s * 1000, polling=200)
    return time.monotonic() - t0


def range_thumb_x(box: dict, i: int, n: int, thumb: float = 16.0) -> float:
    """Screen x of the thumb of an <input type=range> (min 0, max n-1, step 1) at position i."""
    if n <= 1:
        return box["x"] + box["width"] / 2
    return box["x"] + thumb / 2 + (box["width"] - thumb) * i / (n - 1)


def drag_range(page, handle, to: int) -> None:
    """Drag a range input's thumb with the mouse (press on the thumb, move, release) to position `to`."""
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    n = int(handle.get_attribute("max")) + 1
    cur = int(handle.input_value())
    y = box["y"] + box["height"] / 2
    page.mouse.move(range_thumb_x(box, cur, n), y)
    page.mouse.down()
    page.mouse.move(range_thumb_x(box, to, n), y, steps=max(2, 2 * abs(to - cur)))
    page.mouse.up()


def drag_live_slider(page, root, selector: str, index: int = 0) -> None:
    """Drag the first slider of the live explorer `root` (the index-th match of `selector` in the
    page) to its other end with the mouse, then wait until the renderer has drawn the answer to
    its last request (data-kx-seq == data-kx-sent, with a new request sent)."""
    slider = root.locator("input[type=range]").first
    sent_before = int(root.get_attribute("data-kx-sent") or 0)
    n = int(slider.get_attribute("max")) + 1
    target = n - 1 if int(slider.input_value()) < n - 1 else 0
    drag_range(page, slider, target)
    assert int(slider.input_value()) == target, "the mouse did not move the slider"
    page.wait_for_function(
        "([sel, i, s]) => { const e = document.querySelectorAll(sel)[i];"
        " const sent = +(e.getAttribute('data-kx-sent') || 0);"
        " return sent > s && +e.getAttribute('data-kx-seq') === sent; }",
        arg=[selector, index, sent_before], timeout=30_000, polling=50)
