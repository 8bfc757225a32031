"""Issue "Reliability": every page of the built book, opened offline in headless Chromium, shows its
figures, typeset math and widgets, has a Colab button for its own notebook and logs no console errors.

The book is served on 127.0.0.1 and every other request is aborted and recorded: a page that needs a
CDN fails here. Screenshots land in <build>/_build/screenshots/<page>.png (CI artifacts).
Needs Debian's chromium (``apt-get install -y chromium``; .ci/run installs it) and the ``playwright``
package, driven with ``executable_path`` (never ``playwright install``, which downloads a browser).
The 中文 page (chapters/appendix_zh) must also be *drawn* in Chinese, which needs a CJK font
(Debian's ``fonts-noto-cjk``, also installed by .ci/run): without one Chromium draws boxes ("tofu").
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading

import pytest

from tests.support.bookbuild import toc_pages

pytestmark = pytest.mark.slow

PAGES = toc_pages()
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage",
]
RENDER_TIMEOUT_MS = 30_000
# Console messages that are not errors of the book (none needed so far; add with a reason).
IGNORED_CONSOLE = ("favicon.ico",)  # the book has no favicon; Chromium asks for one by itself


def find_chromium():
    for candidate in (os.environ.get("GRUSEG_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(book):
    handler = functools.partial(_QuietHandler, directory=str(book.html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        message = "chromium not found: apt-get install -y chromium (as .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser, site):
    """Open a page offline; return (page, report) where report lists blocked/failed requests and errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    report = {"blocked": [], "failed": [], "console": [], "pageerrors": []}

    def route(r):
        if r.request.url.startswith(site):
            r.continue_()
        else:
            report["blocked"].append(r.request.url)
            r.abort("internetdisconnected")

    context.route("**/*", route)
    pages = []

    def opener(docname):
        page = context.new_page()
        pages.append(page)
        page.on("console", lambda m: m.type == "error" and report["console"].append(
            f"{m.text} [{(m.location or {}).get('url', '')}]"))
        page.on("pageerror", lambda e: report["pageerrors"].append(str(e)))
        page.on("requestfailed", lambda r: report["failed"].append(f"{r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and report["failed"].append(f"{r.url} (HTTP {r.status})"))
        page.goto(site + docname + ".html", wait_until="load")
        return page, report

    yield opener
    context.close()


WAIT_FOR_MATHJAX = """async () => {
  if (!document.querySelector('script[src*="mathjax"]')) return 'none';
  for (let i = 0; i < 200 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
    await new Promise(r => setTimeout(r, 50));
  if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return 'not loaded';
  await MathJax.startup.promise;
  return 'ok';
}"""

MATH_STATE = """() => {
  const article = document.querySelector('article') || document.body;
  const clone = article.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(n => n.remove());
  const text = clone.textContent;
  return {
    sources: article.querySelectorAll('.math').length,
    typeset: article.querySelectorAll('mjx-container').length,
    raw: ['\\\\(', '\\\\[', '$$'].filter(d => text.includes(d)),
    errors: article.querySelectorAll('mjx-merror, [data-mjx-error]').length,
  };
}"""

BROKEN_IMAGES = """async () => {
  const images = Array.from(document.images);
  images.forEach(i => { i.loading = 'eager'; });
  await Promise.all(images.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  return images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.currentSrc || i.src);
}"""

WIDGETS_RENDERED = """(n) => {
  const areas = document.querySelectorAll('.widget-subarea');
  return areas.length >= n && Array.from(areas).every(a => a.querySelector('.jupyter-widgets, .lm-Widget'));
}"""


@pytest.mark.parametrize("docname", [p.docname for p in PAGES])
def test_page_renders_offline(book, open_page, docname):
    toc_page = next(p for p in PAGES if p.docname == docname)
    page, report = open_page(docname)

    # Math: every math node typeset by the book's own MathJax, no raw TeX delimiters left.
    assert page.evaluate(WAIT_FOR_MATHJAX) in ("ok", "none"), f"{docname}: MathJax did not load"
    math = page.evaluate(MATH_STATE)
    if math["sources"]:
        assert math["typeset"] >= math["sources"], f"{docname}: math not typeset: {math}"
    assert not math["raw"], f"{docname}: raw TeX delimiters left in the text: {math['raw']}"
    assert not math["errors"], f"{docname}: MathJax reported {math['errors']} TeX error(s)"

    # Widgets: one rendered widget area for every saved widget view.
    views = page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count()
    if views:
        page.wait_for_function(WIDGETS_RENDERED, arg=views, timeout=RENDER_TIMEOUT_MS)

    # Figures: every <img> loaded with real pixels.
    broken = page.evaluate(BROKEN_IMAGES)
    assert not broken, f"{docname}: images not shown: {broken}"

    # Colab launch button for this chapter's own notebook.
    if toc_page.is_notebook:
        colab = page.locator(f'a[href="{toc_page.colab_url}"]')
        assert colab.count() >= 1, f"{docname}: no Colab button pointing to {toc_page.colab_url}"

    page.wait_for_timeout(300)  # let late console messages arrive
    book.screenshots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(book.screenshots / (docname.replace("/", "__") + ".png")), full_page=True)

    assert not report["blocked"], f"{docname} tried to reach the network: {report['blocked']}"
    assert not report["pageerrors"], f"{docname}: JavaScript errors: {report['pageerrors']}"
    failed = [f for f in report["failed"] if "/favicon.ico" not in f]  # Chromium's own request; no favicon
    assert not failed, f"{docname}: failed requests: {failed}"
    console = [m for m in report["console"] if not any(s in m for s in IGNORED_CONSOLE)]
    assert not console, f"{docname}: console errors: {console}"


# --- The 中文 page: its Chinese text is in the page AND drawn with a font that has Chinese glyphs. ---------
# A DOM text check alone proves nothing about rendering: with no CJK font installed the same DOM is drawn
# as identical boxes. Two independent checks: Chromium's own record of the platform fonts that drew the
# text (DevTools' "Rendered Fonts", CSS.getPlatformFontsForNode) must name fonts that fontconfig says
# cover Chinese, for every Han character; and the page's font, drawn on a canvas, must give every Han
# character its own inked glyph, unlike the .notdef box of a code point no font has (U+10FFFD).
ZH_DOCNAME = "chapters/appendix_zh"
ZH_STRINGS = ("中文导读", "原文勘误与本书对照", "重置门", "保存门", "逐元素乘积", "小批量随机梯度下降", "各章中文摘要")
ZH_GLYPHS = "门控循环单元重置"  # distinct Han characters drawn one by one on the canvas
# Elements whose own text nodes are Chinese: the title, and the first paragraph of the introduction.
ZH_NODES = ("article h1", "article section p")

OWN_TEXT = """(selector) => {
  const el = document.querySelector(selector);
  if (!el) return null;
  return Array.from(el.childNodes).filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.textContent).join('');
}"""

CANVAS_GLYPHS = """async (chars) => {
  await document.fonts.ready;
  const el = document.querySelector('article h1') || document.body;
  const cs = getComputedStyle(el);
  const font = `${cs.fontStyle} ${cs.fontWeight} 48px ${cs.fontFamily}`;
  const canvas = document.createElement('canvas');
  canvas.width = 64; canvas.height = 64;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const draw = (ch) => {
    ctx.clearRect(0, 0, 64, 64);
    ctx.font = font; ctx.fillStyle = '#000'; ctx.textBaseline = 'top';
    ctx.fillText(ch, 8, 4);
    const alpha = ctx.getImageData(0, 0, 64, 64).data.filter((_, i) => i % 4 === 3);
    return {bits: Array.from(alpha, a => (a > 127 ? '1' : '0')).join(''), ink: alpha.filter(a => a > 127).length};
  };
  const tofu = draw(String.fromCodePoint(0x10FFFD));
  return {font, tofu, glyphs: Array.from(chars, ch => Object.assign({ch}, draw(ch)))};
}"""


def fontconfig_families(lang="zh"):
    """Family names fontconfig says cover ``lang`` (``fc-list :lang=zh family``); None without fc-list."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    out = subprocess.run([fc_list, f":lang={lang}", "family"], capture_output=True, text=True, timeout=60,
                         check=False).stdout
    return {name.strip() for line in out.splitlines() for name in line.split(",") if name.strip()}


def han_count(text):
    return sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf")


def test_zh_page_text_is_drawn_with_a_cjk_font(book, open_page):
    page, report = open_page(ZH_DOCNAME)
    text = page.evaluate("() => (document.querySelector('article') || document.body).innerText")
    missing = [s for s in ZH_STRINGS if s not in text]
    assert not missing, f"{ZH_DOCNAME}: Chinese text missing from the rendered page: {missing}"
    lang = page.evaluate("() => (document.querySelector('article h1').closest('[lang]') || {}).lang || ''")
    assert lang.startswith("zh"), f"{ZH_DOCNAME}: the page is marked lang={lang!r}; Chinese needs lang=zh-* (else Japanese glyphs)"
    page.evaluate("async () => { await document.fonts.ready; }")

    # 1. The platform fonts Chromium used for each node's own text cover every Han character in it.
    chinese = fontconfig_families("zh")
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    for selector in ZH_NODES:
        own = page.evaluate(OWN_TEXT, selector)
        assert own and han_count(own) >= 4, f"{ZH_DOCNAME}: {selector!r} has no Chinese text of its own: {own!r}"
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        used = {f["familyName"]: f["glyphCount"] for f in fonts}
        if chinese is not None:
            assert chinese, "fontconfig knows no font for Chinese: apt-get install -y fonts-noto-cjk (as .ci/run does)"
            drawn = sum(n for family, n in used.items() if family in chinese)
            assert drawn >= han_count(own), (
                f"{ZH_DOCNAME}: {selector!r} has {han_count(own)} Han characters but fonts covering Chinese drew "
                f"only {drawn} glyphs; fonts used: {used}; fonts covering Chinese: {sorted(chinese)[:5]}...")
    cdp.detach()

    # 2. The page's font gives each Han character its own glyph, with ink, unlike the missing-glyph box.
    drawn = page.evaluate(CANVAS_GLYPHS, ZH_GLYPHS)
    tofu_like = [g["ch"] for g in drawn["glyphs"] if g["ink"] == 0 or g["bits"] == drawn["tofu"]["bits"]]
    assert not tofu_like, f"{ZH_DOCNAME}: drawn as empty or as the missing-glyph box in {drawn['font']!r}: {tofu_like}"
    shapes = {g["bits"] for g in drawn["glyphs"]}
    assert len(shapes) == len(ZH_GLYPHS), (
        f"{ZH_DOCNAME}: {len(ZH_GLYPHS)} different Han characters drew only {len(shapes)} different shapes "
        f"in {drawn['font']!r}: boxes, not glyphs")
    assert not report["pageerrors"], f"{ZH_DOCNAME}: JavaScript errors: {report['pageerrors']}"
