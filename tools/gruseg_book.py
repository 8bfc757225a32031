"""Sphinx extension for the gruseg book: every page must work with no network.

Loaded through ``sphinx.local_extensions`` in ``_config.yml``. It does three things:

0. Marks a page's language: a page whose front matter says ``lang: zh-Hans`` is wrapped in
   ``<div lang="zh-Hans">``, so the browser draws it with Chinese (not Japanese) glyph forms.
1. Swaps remote images that have a vendored stand-in (the "Open in Colab" badge in each chapter's
   first cell) for the local copy under ``assets/`` (served as ``_static/``). The notebooks keep
   the remote URL, so the badge still works on GitHub and in Colab.
2. Drops duplicate inline scripts (sphinx-thebe adds its config twice, a JavaScript error).
3. Warns (so ``-W`` fails the build) about any other remote image, script or stylesheet, naming it and
   the fix: vendor it under ``assets/`` instead.
"""

from __future__ import annotations

import html
import os

from docutils import nodes
from sphinx.util import logging
from sphinx.util.osutil import relative_uri

__all__ = ["LOCAL_STAND_INS", "setup"]

logger = logging.getLogger(__name__)

# remote URL -> file under assets/ (copied to _static/ by html_static_path)
LOCAL_STAND_INS = {
    "https://colab.research.google.com/assets/colab-badge.svg": "colab-badge.svg",
}


def _is_remote(uri: str) -> bool:
    return "://" in uri or uri.startswith("//")


def _localise_images(app, doctree, docname):
    if app.builder.format != "html":
        return
    page = app.builder.get_target_uri(docname)
    for node in doctree.findall(nodes.image):
        uri = node.get("uri", "")
        if uri in LOCAL_STAND_INS:
            node["uri"] = relative_uri(page, "_static/" + LOCAL_STAND_INS[uri])
        elif _is_remote(uri):
            logger.warning(
                "remote image %s would not show offline: vendor it under assets/ and add it to "
                "LOCAL_STAND_INS in tools/gruseg_book.py", uri, location=node)


def _check_assets(app, pagename, templatename, context, doctree):
    # sphinx-thebe 0.3.1 registers its inline config script twice ("const THEBE_JS_URL = ..."), and
    # the second copy throws "Identifier 'THEBE_JS_URL' has already been declared" on every page.
    scripts = context.get("script_files")
    if scripts:
        seen, unique = set(), []
        for js in scripts:
            filename = getattr(js, "filename", js) or None  # inline scripts come as None or ""
            key = (filename, (getattr(js, "attributes", None) or {}).get("body"))
            if key not in seen:
                seen.add(key)
                unique.append(js)
        context["script_files"] = unique
    for key in ("script_files", "css_files"):
        for asset in context.get(key, []):
            uri = getattr(asset, "filename", asset) or ""
            if _is_remote(str(uri)):
                logger.warning(
                    "page %s loads %s from the network; vendor it under assets/ (see "
                    "nb_ipywidgets_js in _config.yml for the pattern)", pagename, uri)


def _page_language(app, pagename, templatename, context, doctree):
    lang = app.env.metadata.get(pagename, {}).get("lang")
    if lang and context.get("body"):
        context["body"] = f'<div lang="{html.escape(str(lang), quote=True)}">{context["body"]}</div>'


def setup(app):
    # autodoc imports gruseg (and so TensorFlow) in the Sphinx process itself; keep TensorFlow's
    # C++ start-up logs out of the build log, as the notebooks' own setup cells do for the kernels.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    app.connect("doctree-resolved", _localise_images)
    app.connect("html-page-context", _check_assets)
    app.connect("html-page-context", _page_language)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
