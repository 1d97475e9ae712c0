"""Small build fixes for the book (a local Sphinx extension named in _config.yml).

* sphinx-thebe registers its inline configuration script twice under Jupyter Book 1; the page
  then throws "Identifier 'THEBE_JS_URL' has already been declared". Keep one copy of every
  script a page lists.
"""


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for js in context.get("script_files", []):
        key = (str(js), tuple(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
