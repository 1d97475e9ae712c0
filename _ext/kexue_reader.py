"""The reader's and teacher's pages (a local Sphinx extension named in _config.yml).

* ``kexue-api``: the API reference. Every public function and class of the nine parts of
  ``kexue``, grouped by part, with its signature, its docstring, the docstring's equation set as
  math, and links to the chapters that call it. Calls are found by reading the chapters' text
  notebooks (book/<part>/<slug>.md) for the fixed part aliases (``P.softmax(``, ``A.attention``...).
  Each chapter gets a generated "Library functions used" line at its end, linking back.
* ``kexue-chapter-map``: the front page's map of the book: parts, the blog's series, and which
  chapter builds on which, drawn as an SVG from the ``kexue:`` block of each chapter's front
  matter (``requires: [slug, ...]``, ``series: name``, ``series_part: n``), and reading orders for
  a course (the directive's content names the goal chapters of each course; the prerequisites
  they need are added in order).
* ``kexue-macros`` and ``kexue-glossary``: the notation page (the MathJax macros of
  kexue.notebook.MACROS, which _config.yml repeats) and the English-Chinese glossary, with the
  chapters each term appears in.
* The student edition: with KEXUE_EDITION=student (``make book-student``) the Solution
  dropdowns of the Exercises and their hidden code cells are left out of the pages, and out of
  the downloadable .ipynb.
* The footer names the versions of numpy, torch and kexue the book was built with.
"""
from __future__ import annotations

import html
import importlib
import inspect
import json
import os
import re
import sys
from importlib import metadata
from pathlib import Path

import yaml
from docutils import nodes
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import booktoc  # noqa: E402

API_DOC = "book/api"
PARTS = [("probability", "P"), ("attention", "A"), ("codes", "C"), ("diffusion", "D"),
         ("training", "T"), ("moe", "E"), ("matrices", "M"), ("text", "S"), ("mathematics", "Z")]
ALIAS = dict(PARTS)
STUDENT = os.environ.get("KEXUE_EDITION", "") == "student"


# --- the chapters and their metadata ---------------------------------------------------------

def front_matter(md: Path) -> dict:
    text = md.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        return {}
    return yaml.safe_load(text[4:text.index("\n---", 4)]) or {}


def chapters() -> list[dict]:
    """Every chapter of _toc.yml in book order: doc, slug, part caption, title, kexue metadata."""
    out = []
    for caption, files in booktoc.parts():
        for f in files:
            md = ROOT / f"{f}.md"
            if f.count("/") != 2 or not md.exists():
                continue
            text = md.read_text(encoding="utf-8")
            title = re.search(r"^# (.+)$", text, re.M)
            meta = front_matter(md).get("kexue") or {}
            out.append({"doc": f, "slug": f.split("/")[-1], "part": caption,
                        "title": title.group(1).strip() if title else f, "text": text,
                        "requires": list(meta.get("requires") or []),
                        "series": meta.get("series"), "series_part": meta.get("series_part")})
    return out


# --- the API catalogue -----------------------------------------------------------------------

def public_callables(part: str) -> list[tuple[str, object]]:
    mod = importlib.import_module(f"kexue.{part}")
    names = getattr(mod, "__all__", None) or [n for n in dir(mod) if not n.startswith("_")]
    out = []
    for n in names:
        obj = getattr(mod, n, None)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and \
                getattr(obj, "__module__", "").startswith(f"kexue.{part}"):
            out.append((n, obj))
    return sorted(out, key=lambda t: t[0].lower())


def calls_in(text: str) -> set[tuple[str, str]]:
    """(alias, name) of every ``A.name`` in a chapter that imports the part as that alias."""
    found = set()
    for part, alias in PARTS:
        if re.search(rf"from kexue import (?:[\w ,]+, )?{part} as {alias}\b", text):
            found |= {(alias, n) for n in re.findall(rf"(?<![\w.]){alias}\.([A-Za-z]\w*)", text)}
    return found


def api_id(alias: str, name: str) -> str:
    return f"api-{alias}-{name}"


def usage(chs: list[dict]) -> dict[tuple[str, str], list[str]]:
    uses: dict[tuple[str, str], list[str]] = {}
    for ch in chs:
        for key in sorted(calls_in(ch["text"])):
            uses.setdefault(key, []).append(ch["doc"])
    return uses


# --- the equation of a docstring, from its plain-text notation to TeX --------------------------

GREEK = ("alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu "
         "nu xi pi rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi "
         "Sigma Phi Psi Omega").split()
OPS = {"exp", "log", "sin", "cos", "tan", "tanh", "max", "min", "sup", "inf", "det", "lim",
       "arg", "ln", "cosh", "sinh", "arctan", "arcsin"}
NAMED = {"relu", "softmax", "sigmoid", "sg", "diag", "logit", "onehot", "argmax", "argmin",
         "tr", "sign", "erf", "var", "Var", "std", "rms", "msign", "NS", "mean", "E", "KL",
         "logsumexp", "lse", "clip", "round", "floor", "ceil", "cov", "Cov", "erfc", "rank",
         "sinc", "GradTopK", "ThreTopK", "idf", "tf", "mask"}
BIG = {"sum": r"\sum", "prod": r"\prod", "int": r"\int"}
STOP = {"the", "of", "and", "is", "a", "an", "with", "for", "by", "at", "on", "from", "as", "to",
        "its", "each", "every", "where", "which", "that", "when", "per", "or", "if", "in", "over",
        "one", "all", "are", "be", "into", "than", "not", "this", "their", "numpy", "torch",
        "returns", "return", "given", "chapter", "post", "eq", "times", "vs"}
TOKEN = re.compile(r"\|\||<=|>=|!=|->|~=|\+-|\.\.\.|\.\.|[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z][A-Za-z0-9]+)+|"
                   r"[A-Za-z][A-Za-z0-9]*(?:'+)?|\d+(?:\.\d+)?|"
                   r"\s+|.", re.S)


def _is_word(tok: str) -> bool:
    low = tok.lower()
    return (tok.isalpha() and len(tok) >= 3 and tok not in GREEK and low not in OPS
            and tok not in NAMED and low not in BIG) or (tok in STOP and len(tok) > 1)


def ascii_to_tex(s: str) -> str | None:
    """TeX for a docstring formula written in plain text (``softmax(x / tau)_i = exp(x_i / tau) /
    sum_j exp(x_j / tau)``); None when the result would not be balanced TeX."""
    out: list[str] = []
    brace: list[str] = []             # "g" for a TeX group (after ^ or _), "s" for a literal set
    toks = TOKEN.findall(s.replace("**", "^").replace("<-", "\x00"))
    i = 0
    while i < len(toks):
        t = toks[i]
        prev = out[-1] if out else ""
        if t.isspace():
            out.append(" ")
        elif t == "\x00":
            out.append(r"\leftarrow ")
        elif t == "{":
            kind = "g" if prev in ("^", "_") or prev.endswith("{") and False else (
                "g" if prev in ("^", "_") else "s")
            brace.append(kind)
            out.append("{" if kind == "g" else r"\{")
        elif t == "}":
            if not brace:
                return None
            out.append("}" if brace.pop() == "g" else r"\}")
        elif t == "||":
            out.append(r"\|")
        elif t in ("<=", ">=", "!=", "->", "~=", "+-"):
            out.append({"<=": r"\le ", ">=": r"\ge ", "!=": r"\ne ", "->": r"\to ",
                        "~=": r"\approx ", "+-": r"\pm "}[t])
        elif t in ("...", ".."):
            out.append(r"\dots ")
        elif t == "~":
            out.append(r"\sim ")
        elif t == "*":
            nxt = toks[i + 1] if i + 1 < len(toks) else " "
            before = toks[i - 1] if i else " "
            out.append(r"\cdot " if before.isspace() and nxt.isspace() else "^*")
        elif t in "#$%&":
            out.append("\\" + t)
        elif t == "\\":
            out.append(r"\backslash ")
        elif t[0].isalpha() and re.fullmatch(r"\w+_\w+", t) and len(t.split("_")) > 1 and (
                len(t.split("_")) > 2 or (len(t.split("_")[0]) > 1 and t.split("_")[0] not in GREEK)):
            out.append(r"\mathrm{" + t.replace("_", r"\_") + "}")     # alphas_cumprod: a name
        elif t[0].isalpha() and "_" in t:
            head, sub = t.split("_", 1)
            head = "\\" + head + " " if head in GREEK else head
            out.append(head + "_{" + (sub if len(sub) == 1 else r"\mathrm{" + sub + "}") + "}")
        elif t[0].isalpha():
            base = t.rstrip("'")
            primes = t[len(base):]
            if base in GREEK:
                out.append("\\" + base + " " + primes)
            elif base.lower() in OPS:
                out.append("\\" + base.lower() + " " + primes)
            elif base in BIG:
                out.append(BIG[base] + " ")
            elif base == "in" and prev.strip() not in ("", "("):
                out.append(r"\in ")
            elif base == "sqrt":
                out.append(r"\sqrt")
            elif base in STOP and len(base) > 1:
                out.append(r"\text{ " + base + " }")
            elif len(base) == 1 or base.isdigit() or re.fullmatch(r"[A-Za-z]\d+", base):
                out.append(t)
            else:
                out.append(r"\operatorname{" + base + "}" + primes if (base in NAMED or
                           (i + 1 < len(toks) and toks[i + 1] == "(")) else
                           r"\mathrm{" + base + "}" + primes)
        else:
            out.append(t)
        i += 1
    if brace:
        return None
    tex = "".join(out)
    if re.search(r"_(?:\{[^{}]*\}|\\?\w+)\s*_|\^(?:\{[^{}]*\}|\w)\s*\^", tex):
        return None                                            # a double sub- or superscript
    # sqrt(...) -> \sqrt{...}
    while r"\sqrt(" in tex:
        k = tex.index(r"\sqrt(") + 5
        depth, j = 0, k
        while j < len(tex):
            depth += {"(": 1, ")": -1}.get(tex[j], 0)
            if depth == 0:
                break
            j += 1
        if j >= len(tex):
            return None
        tex = tex[:k] + "{" + tex[k + 1:j] + "}" + tex[j + 1:]
    tex = re.sub(r"\^-(\w+|\\[a-z]+)", r"^{-\1}", tex)          # e^-x -> e^{-x}
    tex = re.sub(r"\^\(([^()]*)\)", r"^{(\1)}", tex)               # a^(1-q) -> a^{(1-q)}
    return re.sub(r"\s+", " ", tex).strip()


def _split_top(s: str, seps: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for i, c in enumerate(s):
        depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(c, 0)
        if depth == 0 and c in seps and (i + 1 == len(s) or s[i + 1] == " "):
            parts.append(cur)
            cur = ""
        else:
            cur += c
    return parts + [cur]


def equation_of(doc: str) -> str | None:
    """The formula of a docstring's first paragraph, as TeX, or None when it states none."""
    first = " ".join(doc.split("\n\n")[0].split())
    first = re.sub(r":(?:func|data|class|mod|meth|attr):`~?([^`]*)`", r"\1", first)
    if "``" in first:
        first = re.sub(r"``[^`]*``", " ", first)
    best = None
    for seg in _split_top(first, ":;,."):
        if "=" not in seg or "==" in seg or "`" in seg or '"' in seg:
            continue
        spans = [(m.start(), m.end()) for m in TOKEN.finditer(seg) if not m.group().isspace()]
        toks = [seg[x:y] for x, y in spans]
        lo, hi = 0, len(toks)
        while lo < hi and (_is_word(toks[lo]) or toks[lo] in "()"):
            lo += 1
        while hi > lo and (_is_word(toks[hi - 1]) or toks[hi - 1] in "("):
            hi -= 1
        toks = toks[lo:hi]
        if not toks or "=" not in toks or toks[0] == "=" or toks[-1] == "=":
            continue
        if sum(_is_word(t) for t in toks) > 1 or len(toks) < 3:
            continue
        text = seg[spans[lo][0]:spans[hi - 1][1]]
        lhs, _, rhs = text.partition("=")
        if re.fullmatch(r"\s*\w+\s*", lhs) and (".." in rhs or re.match(r"\s*[\d.eE+-]+\s*(\(|$)", rhs)):
            continue                              # a range or a value (k = 0..L-1, alpha = 1.5)
        if text.count("(") != text.count(")"):
            continue
        tex = ascii_to_tex(text)
        if tex:
            return tex                            # the first formula is the function's own
    return None


# --- docstrings as nodes ---------------------------------------------------------------------

ROLE = re.compile(r":(?:func|data|class|mod|meth|attr|obj):`~?([^`]*)`|``([^`]*)``|`([^`]*)`")


def inline_nodes(text: str) -> list[nodes.Node]:
    out: list[nodes.Node] = []
    pos = 0
    for m in ROLE.finditer(text):
        if m.start() > pos:
            out.append(nodes.Text(text[pos:m.start()]))
        code = next(g for g in m.groups() if g is not None)
        out.append(nodes.literal(code, code))
        pos = m.end()
    if pos < len(text):
        out.append(nodes.Text(text[pos:]))
    return out


def doc_nodes(doc: str) -> list[nodes.Node]:
    out = []
    for para in re.split(r"\n\s*\n", doc.strip()):
        lines = para.split("\n")
        if all(l.startswith(("    ", ">>>", "...")) for l in lines) or para.lstrip().startswith(">>>"):
            out.append(nodes.literal_block(para, para, classes=["kx-api-example"]))
        else:
            out.append(nodes.paragraph("", "", *inline_nodes(" ".join(l.strip() for l in lines))))
    return out


def doc_ref(target: str, fromdoc: str, text: str | None = None) -> nodes.Node:
    """A link to a page of the book by docname (resolved by Sphinx: a missing page warns)."""
    ref = addnodes.pending_xref("", refdomain="std", reftype="doc", reftarget="/" + target,
                                refexplicit=text is not None, refwarn=True, refdoc=fromdoc)
    ref += nodes.inline(text or "", text or "")
    return ref


class _Shown:
    """An annotation written as a string (``from __future__ import annotations``), shown bare."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def signature(name: str, obj) -> str:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return f"{name}(...)"
    bare = lambda a: _Shown(a) if isinstance(a, str) else a  # noqa: E731
    sig = sig.replace(parameters=[p.replace(annotation=bare(p.annotation))
                                  for p in sig.parameters.values()],
                      return_annotation=bare(sig.return_annotation))
    text = re.sub(r"<function (\w+) at 0x[0-9a-f]+>", r"\1", str(sig))
    return f"{name}{re.sub(r' at 0x[0-9a-f]+', '', text)}"


class Api(SphinxDirective):
    """The API reference: one section per part, one entry per public function or class."""

    def run(self):
        chs = chapters()
        uses = usage(chs)
        titles = {c["doc"]: c for c in chs}
        result = []
        for part, alias in PARTS:
            mod = importlib.import_module(f"kexue.{part}")
            items = public_callables(part)
            sec = nodes.section(ids=[f"part-{part}"], names=[f"kexue.{part}"])
            sec += nodes.title("", f"{alias} = kexue.{part}")
            summary = (inspect.getdoc(mod) or "").split("\n\n")[0]
            if summary:
                sec += nodes.paragraph("", "", *inline_nodes(" ".join(summary.split())))
            used_here = sum(1 for n, _ in items if (alias, n) in uses)
            sec += nodes.paragraph("", f"{len(items)} public functions and classes; "
                                       f"{used_here} of them are called from a chapter.",
                                   classes=["kx-api-count"])
            for name, obj in items:
                box = nodes.container(ids=[api_id(alias, name)], classes=["kx-api-entry"])
                kind = "class " if inspect.isclass(obj) else ""
                sig = nodes.paragraph(classes=["kx-api-sig"])
                sig += nodes.literal("", f"{kind}{alias}.{signature(name, obj)}")
                src = obj.__module__
                sig += nodes.inline("", f"  {src}", classes=["kx-api-module"])
                box += sig
                doc = inspect.getdoc(obj) or ""
                tex = equation_of(doc) if doc else None
                if tex:
                    box += nodes.math_block(tex, tex, nowrap=False, number=None, label=None,
                                            docname=self.env.docname, classes=["kx-api-eq"])
                box.extend(doc_nodes(doc) if doc else [nodes.paragraph("", "(no docstring)")])
                docs = uses.get((alias, name), [])
                p = nodes.paragraph(classes=["kx-api-used"])
                if docs:
                    p += nodes.strong("", "Called in: ")
                    for k, d in enumerate(docs):
                        if k:
                            p += nodes.Text("; ")
                        p += doc_ref(d, self.env.docname, plain_title(titles[d]["title"]))
                else:
                    p += nodes.Text("Not called from a chapter's text (used by other functions, "
                                    "the explorers or the tests).")
                box += p
                sec += box
            result.append(sec)
        for ch in chs:
            self.env.note_dependency(str(ROOT / f"{ch['doc']}.md"))
        return result


def plain_title(title: str) -> str:
    return re.sub(r"\$([^$]*)\$", lambda m: m.group(1).replace("\\", ""), title)


def _used_line(app, doctree, docname) -> None:
    """The end of a chapter: links to the API entries of the functions it calls."""
    if docname.count("/") != 2 or not docname.startswith("book/"):
        return
    md = ROOT / f"{docname}.md"
    if not md.exists() or API_DOC not in app.env.found_docs:
        return
    calls = calls_in(md.read_text(encoding="utf-8"))
    known = getattr(app, "kexue_api_names", None)
    if known is None:
        known = app.kexue_api_names = {(a, n) for p, a in PARTS for n, _ in public_callables(p)}
    calls = sorted(c for c in calls if c in known)
    if not calls:
        return
    uri = app.builder.get_relative_uri(docname, API_DOC)
    p = nodes.paragraph(classes=["kx-used"])
    p += nodes.strong("", "Library functions used: ")
    for k, (alias, name) in enumerate(calls):
        if k:
            p += nodes.Text(", ")
        ref = nodes.reference("", "", refuri=f"{uri}#{api_id(alias, name)}", internal=True)
        ref += nodes.literal("", f"{alias}.{name}")
        p += ref
    p += nodes.Text(".")
    box = nodes.container(classes=["kx-used-box"])
    box += p
    top = next(iter(doctree.findall(nodes.section)), None)
    (top if top is not None else doctree).append(box)


# --- the chapter map -------------------------------------------------------------------------

def topo_course(goals: list[str], chs: list[dict]) -> list[str]:
    """The goals with everything they require, in book order."""
    req = {c["slug"]: c["requires"] for c in chs}
    order = [c["slug"] for c in chs]
    need: set[str] = set()

    def add(s):
        if s in need or s not in req:
            return
        need.add(s)
        for r in req[s]:
            add(r)

    for g in goals:
        add(g)
    return [s for s in order if s in need]


def map_svg(chs: list[dict], here: str) -> str:
    """Rows = parts, boxes = chapters in book order, arrows = 'builds on', bands = series."""
    parts: list[str] = []
    for c in chs:
        if c["part"] not in parts:
            parts.append(c["part"])
    bw, bh, gx, gy, left, top, per_line = 132, 44, 14, 30, 118, 10, 4
    pos, line_of, y = {}, {}, top
    for part in parts:
        row = [c for c in chs if c["part"] == part]
        line_of[part] = y
        for k, c in enumerate(row):
            pos[c["slug"]] = (left + (k % per_line) * (bw + gx), y + (k // per_line) * (bh + gy))
        y += ((len(row) - 1) // per_line + 1) * (bh + gy)
    width = max(x for x, _ in pos.values()) + bw + 10
    height = y
    here_dir = here.rsplit("/", 1)[0]
    out = [f'<svg class="kx-map-svg" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="Map of the chapters: '
           f'parts in rows, arrows from a chapter to the chapters that build on it">',
           '<defs><marker id="kx-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
           'class="kx-map-arrowhead"/></marker></defs>']
    for part in parts:
        words, lines = part.split(), [""]
        for w in words:
            if len(lines[-1]) + len(w) > 14 and lines[-1]:
                lines.append("")
            lines[-1] = (lines[-1] + " " + w).strip()
        y0 = line_of[part] + bh / 2 + 4 - 7 * (len(lines) - 1)
        spans = "".join(f'<tspan x="4" dy="{0 if k == 0 else 14}">{html.escape(t)}</tspan>'
                        for k, t in enumerate(lines))
        out.append(f'<text class="kx-map-part" x="4" y="{y0:.0f}">{spans}</text>')
    # series: a band under the boxes of one series
    series = {}
    for c in chs:
        if c["series"]:
            series.setdefault(c["series"], []).append(c)
    for name, members in series.items():
        if len(members) < 2:
            continue
        xs = [pos[m["slug"]][0] for m in members]
        ys = {pos[m["slug"]][1] for m in members}
        for y in ys:
            row = [x for m, x in zip(members, xs) if pos[m["slug"]][1] == y]
            out.append(f'<rect class="kx-map-series" x="{min(row) - 6}" y="{y - 6}" '
                       f'width="{max(row) - min(row) + bw + 12}" height="{bh + 20}" rx="10">'
                       f'<title>Series: {html.escape(name)}</title></rect>')
    for c in chs:
        for r in c["requires"]:
            if r not in pos:
                continue
            (x1, y1), (x2, y2) = pos[r], pos[c["slug"]]
            if y1 == y2:
                a, b = (x1 + bw, y1 + bh / 2), (x2, y2 + bh / 2)
                if x2 < x1:
                    a, b = (x1, y1 + bh / 2), (x2 + bw, y2 + bh / 2)
                path = f"M{a[0]},{a[1]} L{b[0]},{b[1]}"
                if abs(x2 - x1) > bw + gx + 1:          # skip over the boxes between
                    mid = min(a[1], b[1]) - bh / 2 - 12
                    a, b = (x1 + bw / 2, y1), (x2 + bw / 2, y2)
                    path = f"M{a[0]},{a[1]} C{a[0]},{mid} {b[0]},{mid} {b[0]},{b[1]}"
            else:
                a = (x1 + bw / 2, y1 + (bh if y2 > y1 else 0))
                b = (x2 + bw / 2, y2 + (0 if y2 > y1 else bh))
                my = (a[1] + b[1]) / 2
                path = f"M{a[0]},{a[1]} C{a[0]},{my} {b[0]},{my} {b[0]},{b[1]}"
            out.append(f'<path class="kx-map-edge" d="{path}" marker-end="url(#kx-arrow)">'
                       f'<title>{html.escape(c["slug"])} builds on {html.escape(r)}</title></path>')
    for number, c in enumerate(chs, 1):
        x, y = pos[c["slug"]]
        href = os.path.relpath(c["doc"], here_dir) + ".html"
        words = [f"{number}."] + plain_title(c["title"]).split()
        lines, cur = [], ""
        for w in words:
            if len(cur) + len(w) + 1 > 21 and cur:
                lines.append(cur)
                cur = w
            else:
                cur = (cur + " " + w).strip()
        lines.append(cur)
        if len(lines) > 2:
            lines = [lines[0], (lines[1] + " " + " ".join(lines[2:]))[:19] + "…"]
        tspans = "".join(f'<tspan x="{x + bw / 2}" dy="{0 if k == 0 else 14}">{html.escape(t)}</tspan>'
                         for k, t in enumerate(lines))
        ty = y + bh / 2 + (4 if len(lines) == 1 else -3)
        out.append(f'<a href="{html.escape(href)}" class="kx-map-node" data-slug="{c["slug"]}">'
                   f'<title>{html.escape(plain_title(c["title"]))}</title>'
                   f'<rect x="{x}" y="{y}" width="{bw}" height="{bh}" rx="6"/>'
                   f'<text x="{x + bw / 2}" y="{ty}" text-anchor="middle">{tspans}</text></a>')
    out.append("</svg>")
    return "\n".join(out)


class ChapterMap(SphinxDirective):
    """The map, the series and the reading orders. Content: one course a line,
    ``Title | goal-slug, goal-slug, ...``."""
    has_content = True

    def run(self):
        chs = chapters()
        by_slug = {c["slug"]: c for c in chs}
        for c in chs:
            self.env.note_dependency(str(ROOT / f"{c['doc']}.md"))
            for r in c["requires"]:
                if r not in by_slug:
                    raise self.error(f"{c['doc']}: requires unknown chapter {r!r}")
        box = nodes.container(classes=["kx-map"])
        box += nodes.raw("", '<div class="kx-map-scroll">' + map_svg(chs, self.env.docname) +
                         "</div>", format="html")
        lines = ["Each box is a chapter (rows are the parts); an arrow goes from a chapter to one "
                 "that builds on it; a shaded band joins the chapters of one series of posts.", ""]
        series: dict[str, list[dict]] = {}
        for c in chs:
            if c["series"]:
                series.setdefault(c["series"], []).append(c)
        lines += ["**The series.** The blog publishes some topics as numbered series; the book "
                  "keeps each series' chapters together:", ""]
        for name, members in series.items():
            members = sorted(members, key=lambda m: m["series_part"] or 0)
            lines.append(f"* *{name}*: " + ", ".join(
                (f"part {m['series_part']} " if m["series_part"] else "") + f"{{doc}}`/{m['doc']}`"
                for m in members))
        lines += ["", "**Reading orders for a course.** Each list adds, in book order, the "
                  "chapters its goals build on:", ""]
        for k, line in enumerate(l for l in self.content if l.strip()):
            title, _, goals = line.partition("|")
            slugs = topo_course([g.strip() for g in goals.split(",") if g.strip()], chs)
            lines.append(f"{k + 1}. **{title.strip()}** ({len(slugs)} chapters): " +
                         " → ".join(f"{{doc}}`/{by_slug[s]['doc']}`" for s in slugs))
        inner = nodes.container(classes=["kx-map-text"])
        self.state.nested_parse(StringList(lines, source="chapter metadata"), self.content_offset,
                                inner)
        box += inner
        return [box]


# --- notation and glossary -------------------------------------------------------------------

def book_macros(app) -> dict[str, tuple[str, int]]:
    """The macros of _config.yml's MathJax configuration, as (definition, number of arguments)."""
    cfg = (app.config.mathjax3_config or {}).get("tex", {}).get("macros", {})
    return {k: (v[0], v[1]) if isinstance(v, list) else (v, 0) for k, v in cfg.items()}


class Macros(SphinxDirective):
    def run(self):
        from kexue.notebook import MACROS  # noqa: PLC0415 (the library's copy, read at build)
        cfg = book_macros(self.env.app)
        if cfg != dict(MACROS):
            raise self.error("the MathJax macros of _config.yml and kexue.notebook.MACROS differ")
        table = nodes.table(classes=["kx-macros"])
        group = nodes.tgroup(cols=4)
        table += group
        for w in (14, 30, 14, 42):
            group += nodes.colspec(colwidth=w)
        head = nodes.thead()
        group += head
        body = nodes.tbody()
        group += body
        row = nodes.row()
        for t in ("You write", "It means", "It reads", "Example"):
            row += nodes.entry("", nodes.paragraph("", t))
        head += row
        examples = {"R": r"x\in\R^n", "E": r"\E[x]", "sg": r"\sg[F - P]", "softmax": r"\softmax(x)",
                    "relu": r"\relu(x-\lambda)", "diag": r"\diag(p) - pp^\top",
                    "lse": r"\lse(x)", "topk": r"\topk{k}(x)", "stopk": r"\stopk{k}(x)"}
        for name, (body_tex, nargs) in MACROS.items():
            use = "\\" + name + "".join("{" + "kx"[a % 2] + "}" for a in range(nargs))
            shown = "\\" + name + "".join("{#" + str(a + 1) + "}" for a in range(nargs))
            row = nodes.row()
            row += nodes.entry("", nodes.paragraph("", "", nodes.literal("", shown)))
            row += nodes.entry("", nodes.paragraph("", "", nodes.literal("", body_tex)))
            row += nodes.entry("", nodes.paragraph("", "", nodes.math(use.replace("{x}", "{k}"),
                                                                      use.replace("{x}", "{k}"))))
            ex = examples.get(name, use)
            row += nodes.entry("", nodes.paragraph("", "", nodes.math(ex, ex), nodes.Text("  "),
                                                   nodes.literal("", ex)))
            body += row
        return [table]


class Glossary(SphinxDirective):
    """Content: ``English | 中文`` a line. A table with the chapters each term appears in."""
    has_content = True

    def run(self):
        chs = chapters()
        rows = []
        for line in self.content:
            if "|" not in line:
                continue
            en, zh = (s.strip() for s in line.split("|", 1))
            rows.append((en, zh))
        rows.sort(key=lambda r: r[0].lower())
        table = nodes.table(classes=["kx-glossary"])
        group = nodes.tgroup(cols=3)
        table += group
        for w in (28, 18, 54):
            group += nodes.colspec(colwidth=w)
        head = nodes.thead()
        group += head
        row = nodes.row()
        for t in ("English", "中文", "Chapters"):
            row += nodes.entry("", nodes.paragraph("", t))
        head += row
        body = nodes.tbody()
        group += body
        for en, zh in rows:
            names = [en.split(" (")[0]] + re.findall(r"\(([^()]*)\)", en)   # the term or its gloss
            words = "|".join(re.escape(k).replace(r"\ ", r"[\s-]+").replace("–", "[-–]")
                             .replace(r"\-", "[-–]") for k in names)
            pat = re.compile(rf"(?<![\w-])(?:{words})(?:s|es)?(?![\w])", re.I)
            where = [c for c in chs if pat.search(c["text"].split("\n## Exercises")[0])]
            row = nodes.row(ids=[nodes.make_id("term-" + en)])
            row += nodes.entry("", nodes.paragraph("", "", nodes.strong("", en)))
            row += nodes.entry("", nodes.paragraph("", zh, classes=["kx-zh"]))
            p = nodes.paragraph()
            for k, c in enumerate(where[:6]):
                if k:
                    p += nodes.Text(", ")
                p += doc_ref(c["doc"], self.env.docname, plain_title(c["title"]))
            if len(where) > 6:
                p += nodes.Text(f" and {len(where) - 6} more")
            row += nodes.entry("", p)
            body += row
        for c in chs:
            self.env.note_dependency(str(ROOT / f"{c['doc']}.md"))
        return [table]


# --- the student edition ---------------------------------------------------------------------

def _is_solution(n: nodes.Node) -> bool:
    if isinstance(n, nodes.admonition) and "dropdown" in n.get("classes", []):
        title = next(iter(n.findall(nodes.title)), None)
        return title is not None and title.astext().strip().startswith("Solution")
    return False


def _strip_solutions(app, doctree) -> None:
    if not STUDENT:
        return
    for sec in list(doctree.findall(nodes.section)):
        if "exercises" not in sec.get("ids", []):
            continue
        gone = [n for n in sec.findall(nodes.Element) if _is_solution(n) or (
            isinstance(n, nodes.container) and "tag_hide-cell" in n.get("classes", []))]
        for n in gone:
            if n.parent is not None:
                n.parent.remove(n)
        note = nodes.paragraph(classes=["kx-student-note"])
        note += nodes.emphasis("", "Student edition: the solutions are left out.")
        sec.insert(1, note)


SOLUTION_MD = re.compile(r"^:::+\{admonition\} Solution.*?^:::+[ \t]*$\n?", re.S | re.M)


def student_notebook(nb: dict) -> dict:
    """The same notebook without its solutions: the Solution blocks of the markdown after the
    Exercises heading and the code cells tagged hide-cell there."""
    cells, in_ex, seen = [], False, False
    for c in nb["cells"]:
        src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        if c["cell_type"] == "markdown":
            if re.search(r"^## Exercises", src, re.M):
                in_ex = seen = True
            elif src.startswith("## "):
                in_ex = False
            if seen and SOLUTION_MD.search(src):
                src = SOLUTION_MD.sub("", src).strip()
                if not src:
                    continue
                c = dict(c, source=src)
        elif in_ex and "hide-cell" in c.get("metadata", {}).get("tags", []):
            continue
        cells.append(c)
    return dict(nb, cells=cells)


def _student_sources(app, exception) -> None:
    if exception or not STUDENT or app.builder.format != "html":
        return
    for nb_path in (Path(app.outdir) / "_sources").rglob("*.ipynb"):
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        nb_path.write_text(json.dumps(student_notebook(nb), ensure_ascii=False, indent=1) + "\n",
                           encoding="utf-8")


# --- the footer ------------------------------------------------------------------------------

def versions() -> dict[str, str]:
    out = {}
    for dist in ("numpy", "torch", "kexue"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _footer(app, config) -> None:
    v = versions()
    text = ", ".join(f"{k} {html.escape(x)}" for k, x in v.items())
    edition = " Student edition (no solutions)." if STUDENT else ""
    opts = dict(config.html_theme_options or {})
    opts["extra_footer"] = (f'<p class="kx-versions">Library versions: {text} (read when this page was built).{edition}</p>'
                            + opts.get("extra_footer", ""))
    config.html_theme_options = opts


def setup(app):
    app.add_directive("kexue-api", Api)
    app.add_directive("kexue-chapter-map", ChapterMap)
    app.add_directive("kexue-macros", Macros)
    app.add_directive("kexue-glossary", Glossary)
    app.connect("config-inited", _footer)
    app.connect("doctree-read", _strip_solutions, priority=100)
    app.connect("doctree-resolved", _used_line, priority=400)
    app.connect("build-finished", _student_sources)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
