"""Sphinx extension: small fixes to what the Jupyter Book 1.x toolchain puts on every page.

The ipywidgets HTML manager typesets widget labels with MathJax 2's ``MathJax.Hub.Queue``; the site
uses MathJax 3, which has no ``Hub``, so every page with both maths and a widget threw a TypeError.
A small inline script gives MathJax 3 a ``Hub`` whose ``Queue`` typesets with the MathJax 3 API.

Progress bars are for readers running a chapter live. Executed for the static site, tqdm's notebook
bars would be saved as dozens of frozen widgets per page, so the build sets ``EQUINOTES_PROGRESS=0``
(read by ``equinotes.utils.progress``) for the kernels it starts.

Under Jupyter Book 1.0.4 the inline setup scripts of sphinx-thebe and sphinx-togglebutton reach each
page twice, so every page declared ``const THEBE_JS_URL`` twice and the browser console showed a
SyntaxError. We keep the first copy of each identical script when a page is rendered.
"""

from __future__ import annotations

import os


def _script_key(script):
    attributes = getattr(script, "attributes", None) or {}
    return (
        getattr(script, "filename", str(script)) or "",
        attributes.get("body", ""),
        attributes.get("src", ""),
    )


def _dedupe_page_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    scripts[:] = kept  # in place: the builder keeps a reference to this list


MATHJAX_HUB_SHIM = """(function () {
  function addHub() {
    var mj = window.MathJax;
    if (!mj || mj.Hub) { return; }
    mj.Hub = {Queue: function (job) {
      var element = Array.isArray(job) ? job[2] : undefined;
      if (mj.typesetPromise && element) { mj.typesetPromise([element]).catch(function () {}); }
    }};
  }
  addHub();
  document.addEventListener("DOMContentLoaded", addHub);
})();"""


def _quiet_progress_bars(app):
    os.environ.setdefault(
        "EQUINOTES_PROGRESS", "0"
    )  # inherited by the notebook kernels of this build


def setup(app):
    app.connect("builder-inited", _quiet_progress_bars)
    app.add_js_file(
        None, body=MATHJAX_HUB_SHIM, priority=900
    )  # after MathJax (defer) and the widget manager
    app.connect(
        "html-page-context", _dedupe_page_scripts, priority=1
    )  # first: emit_firstresult may stop before later handlers
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
