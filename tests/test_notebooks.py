"""The committed chapters follow the notebook rules (README, "Adding a chapter") and stand alone.

Cheap, structural checks: nbval (``pytest chapters --nbval-lax --nbval-current-env``) executes each
notebook, and tests/test_book.py builds the book.

Order independence: nbval starts a fresh kernel for every .ipynb file, so no notebook can lean on
another's *in-memory* state. What a fresh kernel cannot catch is state left on *disk*: chapter 5
passing only because chapter 4, run first, saved a model file. ``test_no_notebook_reads_another_ones_files``
looks for that: a relative path literal used by two notebooks that is not a file committed to the repo.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from tests.support.bookbuild import REPO, toc_pages
from tests.support.install_cell import INSTALL_CELL  # pinned to _config.yml's gruseg_install_ref

CHAPTERS = REPO / "chapters"
NOTEBOOKS = sorted(CHAPTERS.glob("*.ipynb"))
TOC = toc_pages()
INSTALL_PATTERN = re.compile(r"(%pip|!pip|pip install|%conda|!conda|!apt|apt-get)")
COLAB_BADGE = re.compile(r"\[!\[[^\]]*\]\((?P<img>[^)]+)\)\]\((?P<href>https://colab\.research\.google\.com/[^)]+)\)")
FILE_SUFFIXES = r"keras|h5|npz|npy|json|csv|png|jpe?g|pkl|pickle|txt|tfrecord|zip"
OUTPUT_DIRS = r"runs?|checkpoints?|outputs?|out|models?|data|artifacts|cache|tmp"
PATH_LITERAL = re.compile(
    rf"^(?!\w+://)(?:[\w.\-]+/)*[\w.\-]+\.(?:{FILE_SUFFIXES})$"   # a file name: model.keras, runs/a/b.json
    rf"|^\.{{1,2}}/[\w.\-/]+$"                                    # ./anything or ../anything
    rf"|^(?:runs?|checkpoints?|outputs|artifacts)/?$"                # an output folder: runs
    rf"|^(?:{OUTPUT_DIRS})(?:/[\w.\-]+)+/?$")                        # below one: runs/ch4, data/x


def read(path):
    return nbformat.read(path, as_version=4)


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def colab_url(path):
    return f"https://colab.research.google.com/github/gruseg/gruseg/blob/main/{path.relative_to(REPO).as_posix()}"


def test_there_are_chapters():
    assert NOTEBOOKS, "no chapters/*.ipynb found"


def test_toc_and_chapters_agree():
    missing = [p.docname for p in TOC if not p.source.exists()]
    assert not missing, f"_toc.yml lists pages with no .ipynb/.md source: {missing}"
    listed = {p.source for p in TOC if p.is_notebook}
    unlisted = sorted(n.name for n in set(NOTEBOOKS) - listed)
    assert not unlisted, f"chapters/ notebooks missing from _toc.yml: {unlisted}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    dirty = [i for i, c in enumerate(read(path).cells) if c.cell_type == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs or execution counts; strip them"
    assert "widgets" not in read(path).metadata, f"{path.name}: saved widget state in metadata; strip it"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_the_only_install_cell(path):
    cells = code_cells(read(path))
    assert cells, f"{path.name} has no code cells"
    first = cells[0]
    assert first.source.strip() == INSTALL_CELL, f"{path.name}: the first code cell must be exactly\n{INSTALL_CELL}"
    assert "hide-output" in first.metadata.get("tags", []), f"{path.name}: tag the install cell hide-output"
    others = [i for i, c in enumerate(cells[1:], 2) if INSTALL_PATTERN.search(c.source)]
    assert not others, f"{path.name}: code cells {others} install packages; only the first may"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_tensorflow_is_quietened_before_anything_imports_it(path):
    cells = code_cells(read(path))
    assert len(cells) >= 2 and all(v in cells[1].source for v in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")), \
        f"{path.name}: the second code cell must set TF_CPP_MIN_LOG_LEVEL and TF_ENABLE_ONEDNN_OPTS"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_title_cell_has_colab_badge_to_itself(path):
    first = read(path).cells[0]
    assert first.cell_type == "markdown" and first.source.lstrip().startswith("# "), \
        f"{path.name}: the first cell must be markdown starting with '# '"
    badges = [m["href"] for m in COLAB_BADGE.finditer(first.source)]
    assert colab_url(path) in badges, f"{path.name}: first cell needs a Colab badge linking to {colab_url(path)}; found {badges}"


def path_literals(nb):
    """String constants in a notebook's code that look like relative file or folder paths."""
    found = set()
    for cell in code_cells(nb):
        source = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                           for line in cell.source.splitlines())
        try:
            nodes = ast.walk(ast.parse(source))
        except SyntaxError:
            continue
        for node in nodes:
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and PATH_LITERAL.match(node.value):
                if not node.value.startswith("/"):
                    found.add(node.value.rstrip("/"))
    return found


def test_no_notebook_reads_another_ones_files():
    users = {}
    for path in NOTEBOOKS:
        for literal in path_literals(read(path)):
            users.setdefault(literal, set()).add(path.name)
    committed = lambda p: (REPO / p).exists() or (CHAPTERS / p).exists()  # noqa: E731
    shared = {p: sorted(n) for p, n in users.items() if len(n) > 1 and not committed(p)}
    assert not shared, (
        "these paths are used by more than one notebook but are not committed, so a notebook may pass "
        f"only after another has written them (make each notebook create what it reads): {shared}")
