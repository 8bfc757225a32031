"""The built book (issue "Foundation"): every page exists, is executed, launches Colab and works offline.

One build per session (``book`` fixture in tests/support/bookbuild.py; slow: it executes every chapter);
tests/test_browser.py then checks the same pages in a real browser.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup

from tests.support.bookbuild import toc_pages

pytestmark = pytest.mark.slow

PAGES = toc_pages()
NOTEBOOKS = [p for p in PAGES if p.is_notebook]
# Chapters whose design includes an ipywidgets explorer (gruseg.book.widgets): their state must be saved.
WIDGET_CHAPTERS = {"chapters/02_core_concepts", "chapters/03_algorithm"}
# Log lines TensorFlow/absl print when they are not silenced (TF_CPP_MIN_LOG_LEVEL, TF_ENABLE_ONEDNN_OPTS).
TF_CHATTER = re.compile(
    r"oneDNN custom operations|Unable to register cu(DNN|FFT|BLAS)|TF-TRT Warning|absl::InitializeLog|"
    r"cpu_feature_guard|This TensorFlow binary is optimized|^[IWE]\d{4} \d\d:\d\d:\d\d", re.M)


def soup(book, page):
    path = book.html / page.html_name
    assert path.exists(), f"{page.docname} (from _toc.yml) was not built: {path} is missing"
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def local_target(book, page, url):
    """The file a relative URL on ``page`` points to inside the built site."""
    path = urlsplit(url).path
    return (book.html / page.html_name).parent.joinpath(path).resolve()


def test_toc_pages_exist_in_source():
    missing = [p.docname for p in PAGES if not p.source.exists()]
    assert not missing, f"_toc.yml lists pages with no .ipynb/.md source: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.docname)
def test_page_is_built_and_loads_only_local_assets(book, page):
    html = soup(book, page)
    remote, missing = [], []
    for tag, attr in (("script", "src"), ("img", "src"), ("link", "href")):
        for node in html.find_all(tag):
            url = node.get(attr)
            if not url or (tag == "link" and not {"stylesheet", "preload", "icon"} & set(node.get("rel", []))):
                continue
            if urlsplit(url).scheme or url.startswith("//"):
                remote.append(url)
            elif url.startswith("data:"):
                continue
            elif not local_target(book, page, url).exists():
                missing.append(url)
    assert not remote, f"{page.docname} loads assets from the network (offline it breaks): {remote}"
    assert not missing, f"{page.docname} references files missing from the build: {missing}"


@pytest.mark.parametrize("page", NOTEBOOKS, ids=lambda p: p.docname)
def test_chapter_is_executed_without_errors_or_chatter(book, page):
    html = soup(book, page)
    outputs = html.select("div.cell_output")
    assert outputs, f"{page.docname} has no cell outputs: was it executed when the book was built?"
    assert not html.select("div.output.error, div.output.traceback"), f"{page.docname} shows an error output"
    assert not html.select("div.output.stderr"), f"{page.docname} shows stderr output"
    text = "\n".join(o.get_text() for o in outputs)
    chatter = TF_CHATTER.search(text)
    assert chatter is None, f"{page.docname} shows TensorFlow log chatter: {chatter.group(0)!r}"


@pytest.mark.parametrize("page", NOTEBOOKS, ids=lambda p: p.docname)
def test_chapter_title_is_numbered_once(book, page):
    # _toc.yml numbers chapters; a heading "# 2. Title" would then read "2. 2. Title".
    html = soup(book, page)
    heading = html.select_one("article h1") or html.find_all("h1")[-1]  # the first h1 is the print header
    title = heading.get_text(" ", strip=True).rstrip("#").strip()
    assert not re.match(r"^(\d+(\.\d+)*)\.?\s+\1\.\s", title), f"{page.docname}: title numbered twice: {title!r}"


@pytest.mark.parametrize("page", NOTEBOOKS, ids=lambda p: p.docname)
def test_chapter_has_colab_launch_button(book, page):
    links = [a["href"] for a in soup(book, page).find_all("a", href=True)]
    colab = [u for u in links if u.startswith("https://colab.research.google.com/github/")]
    assert page.colab_url in colab, f"{page.docname}: no Colab link to {page.colab_url}; found {colab}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.docname)
def test_math_is_served_by_the_book(book, page):
    html = soup(book, page)
    if not html.select(".math"):
        pytest.skip(f"{page.docname} has no math")
    scripts = [s["src"] for s in html.find_all("script", src=True) if "mathjax" in s["src"].lower()]
    assert scripts, f"{page.docname} has math but loads no MathJax"
    assert all(not urlsplit(s).scheme for s in scripts), f"{page.docname} loads MathJax from a CDN: {scripts}"
    assert all(local_target(book, page, s).is_file() for s in scripts), f"MathJax missing from build: {scripts}"


@pytest.mark.parametrize("docname", sorted(WIDGET_CHAPTERS))
def test_widget_state_is_saved_and_manager_vendored(book, docname):
    page = next(p for p in PAGES if p.docname == docname)
    html = soup(book, page)
    state = html.find("script", type="application/vnd.jupyter.widget-state+json")
    views = html.find_all("script", type="application/vnd.jupyter.widget-view+json")
    assert state is not None and views, f"{docname}: no saved widget state/views (widgets would be blank)"
    managers = [s["src"] for s in html.find_all("script", src=True) if "embed-amd" in s["src"]]
    assert managers and not urlsplit(managers[0]).scheme, f"{docname}: widget manager not vendored: {managers}"


def test_api_page_has_autodoc_content(book):
    page = next(p for p in PAGES if p.docname == "chapters/appendix_api")
    html = soup(book, page)
    source = page.source.read_text(encoding="utf-8")
    modules = re.findall(r"automodule(?:::|\})\s+([\w.]+)", source)
    assert modules, "appendix_api has no automodule directive"
    for module in modules:
        assert html.find(id=f"module-{module}") is not None, f"appendix_api: {module} was not documented"
    documented = html.select("dl.py dt[id^='gruseg.']")
    assert len(documented) >= len(modules), "appendix_api documents almost nothing: are docstrings missing?"
    assert all(d.find_next_sibling("dd").get_text(strip=True) for d in documented), "an API entry has no text"


def test_book_has_copyright(book):
    assert "2026, The gruseg authors" in soup(book, PAGES[0]).get_text(), "copyright line missing from the footer"


def test_executing_the_chapters_leaves_no_files_behind(book):
    # Notebooks run with chapters/ as their working directory (as in Jupyter, Colab and nbval): whatever
    # they save must go to a temporary directory, or the next run (and other chapters) would see it.
    assert not book.new_files, f"executing the chapters wrote files into the repository: {book.new_files}"
