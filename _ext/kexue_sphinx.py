"""Small build fixes for the book (a local Sphinx extension named in _config.yml).

* sphinx-thebe registers its inline configuration script twice under Jupyter Book 1; the page
  then throws "Identifier 'THEBE_JS_URL' has already been declared". Keep one copy of every
  script a page lists.
* The widget manager (require.js module, served from _static/vendor/html-manager) loads its
  fonts relative to the URL require.js resolves for it, which is the page's own folder unless
  told otherwise. Tell require.js where the module lives, relative to each page, before the
  manager's script runs: no request then leaves the book's files, and none fails.
* pydata-sphinx-theme logs "Got invalid theme mode" on every page when no default mode is set
  (Jupyter Book 1 sets none): default to "auto", i.e. follow the reader's light/dark setting.
"""
import json

from sphinx.builders.html._assets import _JavaScript

MANAGER = "@jupyter-widgets/html-manager/dist"


def _fix_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for js in context.get("script_files", []):
        name = getattr(js, "filename", None) or ""          # inline scripts: None or ""
        key = (name, tuple(sorted((k, str(v)) for k, v in getattr(js, "attributes", {}).items())))
        if key in seen:
            continue
        seen.add(key)
        unique.append(js)
        if name.endswith("vendor/require.min.js"):
            where = context["pathto"]("_static/vendor/html-manager", 1)
            body = f"requirejs.config({{paths: {{{json.dumps(MANAGER)}: {json.dumps(where)}}}}});"
            unique.append(_JavaScript(None, priority=getattr(js, "priority", 500), body=body))
    context["script_files"] = unique
    if not context.get("default_mode"):           # the theme reads it from the page context
        context["default_mode"] = "auto"


def setup(app):
    # run after the handlers that add page scripts (myst-nb, thebe, togglebutton)
    app.connect("html-page-context", _fix_scripts, priority=999)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
