"""Small build fixes for the book (a local Sphinx extension named in _config.yml).

* sphinx-thebe registers its inline configuration script twice under Jupyter Book 1; the page
  then throws "Identifier 'THEBE_JS_URL' has already been declared". Keep one copy of every
  script a page lists.
* The widget manager (require.js module, served from _static/vendor/html-manager) loads its
  fonts relative to the URL require.js resolves for it, which is the page's own folder unless
  told otherwise. Tell require.js where the module lives, relative to each page, before the
  manager's script runs: no request then leaves the book's files, and none fails.
* The explorers' renderer lives in the package (kexue/widgets/kexue-explorer.js, an ES module
  that JupyterLab loads through anywidget). Write its classic-script copy
  (:func:`kexue.widgets.renderer_script`) to _static/kexue-explorer.js, the name _config.yml
  lists, so the book and JupyterLab draw with one file and pages work from file:// too.
* The live explorers (anywidget models, module "anywidget") are stored in the executed
  notebooks' widget state, but the book has no kernel and no anywidget front end: the widget
  manager would try to fetch the module and fail. Drop those models from each page's widget
  state (their outputs are removed anyway; the kernel-free explorer follows them).
* pydata-sphinx-theme logs "Got invalid theme mode" on every page when no default mode is set
  (Jupyter Book 1 sets none): default to "auto", i.e. follow the reader's light/dark setting.
"""
import json
from pathlib import Path

from sphinx.builders.html._assets import _JavaScript

from kexue.widgets import renderer_script

MANAGER = "@jupyter-widgets/html-manager/dist"
STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_SCRIPTS = ("vendor/require.min.js", "vendor/html-manager/embed-amd.js")


def strip_live_widgets(body: str) -> str | None:
    """The widget state `body` without its anywidget models; None when nothing is left."""
    state = json.loads(body)
    models = {k: v for k, v in state.get("state", {}).items() if v.get("model_module") != "anywidget"}
    if all(v.get("model_module") == "@jupyter-widgets/base" for v in models.values()):
        return None           # only the layouts of the dropped models: nothing to render
    return json.dumps({**state, "state": models}).replace("</", "<\\/")


def _fix_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for js in context.get("script_files", []):
        name = getattr(js, "filename", None) or ""          # inline scripts: None or ""
        key = (name, tuple(sorted((k, str(v)) for k, v in getattr(js, "attributes", {}).items())))
        if key in seen:
            continue
        seen.add(key)
        attrs = getattr(js, "attributes", {})
        if attrs.get("type") == STATE and attrs.get("body"):
            body = strip_live_widgets(attrs["body"])
            if body is None:
                continue
            js = _JavaScript(None, priority=getattr(js, "priority", 500), type=STATE, body=body)
        unique.append(js)
        if name.endswith("vendor/require.min.js"):
            where = context["pathto"]("_static/vendor/html-manager", 1)
            body = f"requirejs.config({{paths: {{{json.dumps(MANAGER)}: {json.dumps(where)}}}}});"
            unique.append(_JavaScript(None, priority=getattr(js, "priority", 500), body=body))
    if not any(getattr(js, "attributes", {}).get("type") == STATE for js in unique):
        # no widget left to render on this page: no require.js and no widget manager either (its
        # Font Awesome 5 stylesheet would restyle the theme's icons and fetch fonts it cannot find)
        unique = [js for js in unique
                  if not (getattr(js, "filename", None) or "").endswith(WIDGET_SCRIPTS)
                  and "requirejs.config" not in (getattr(js, "attributes", {}).get("body") or "")]
    context["script_files"] = unique
    if not context.get("default_mode"):           # the theme reads it from the page context
        context["default_mode"] = "auto"


def _write_renderer(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    (static / "kexue-explorer.js").write_text(renderer_script(), encoding="utf-8")


def setup(app):
    # run after the handlers that add page scripts (myst-nb, thebe, togglebutton)
    app.connect("html-page-context", _fix_scripts, priority=999)
    app.connect("build-finished", _write_renderer)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
