"""Sphinx extension: small fixes to what the Jupyter Book 1.x toolchain puts on every page.

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
    return (getattr(script, "filename", str(script)) or "", attributes.get("body", ""), attributes.get("src", ""))


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


def _quiet_progress_bars(app):
    os.environ.setdefault("EQUINOTES_PROGRESS", "0")  # inherited by the notebook kernels of this build


def setup(app):
    app.connect("builder-inited", _quiet_progress_bars)
    app.connect("html-page-context", _dedupe_page_scripts, priority=1)  # first: emit_firstresult may stop before later handlers
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
