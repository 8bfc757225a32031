"""Session fixtures for the book tests: build the book once, share it between test modules.

Registered as a plugin by the root conftest.py. The build is exactly the documented one
(``jupyter-book build --all -W -n --keep-going``) but writes to ``--path-output`` (default
``_build/pytest/`` in the repository, git-ignored), so the jupyter-cache there makes a re-run with
unchanged notebooks fast, while a fresh clone (CI) always executes every notebook.

Environment:
    GRUSEG_BOOK_OUT   where to build (a directory; ``<it>/_build/html`` is the site).
    GRUSEG_BOOK_FRESH set to 1 to delete that directory first (a cold build, no cached executions).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

__all__ = ["REPO", "Book", "TocPage", "book", "toc_pages"]

REPO = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT_S = 60 * 60
LOG_TAIL_CHARS = 6000


@dataclass(frozen=True)
class TocPage:
    """One page listed in _toc.yml: ``docname`` like "chapters/02_core_concepts", its source file
    (``.ipynb`` or ``.md``; the bare docname path, with no suffix, when the source is missing)."""

    docname: str
    source: Path

    @property
    def is_notebook(self) -> bool:
        return self.source.suffix == ".ipynb"

    @property
    def html_name(self) -> str:
        return self.docname + ".html"

    @property
    def colab_url(self) -> str:
        rel = self.source.relative_to(REPO).as_posix()
        return f"https://colab.research.google.com/github/gruseg/gruseg/blob/main/{rel}"


def toc_pages(repo: Path = REPO) -> list[TocPage]:
    """Every page of _toc.yml in reading order (root first), resolved to its source file."""
    toc = yaml.safe_load((repo / "_toc.yml").read_text(encoding="utf-8"))
    names = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                names.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    pages = []
    for name in names:
        name = name.removesuffix(".ipynb").removesuffix(".md")
        found = [repo / f"{name}{ext}" for ext in (".ipynb", ".md") if (repo / f"{name}{ext}").exists()]
        pages.append(TocPage(name, found[0] if found else repo / name))  # missing: no suffix
    return pages


@dataclass
class Book:
    """A built book: ``html`` is the site root; ``log`` the build output; ``seconds`` its wall time."""

    out: Path
    html: Path
    log: Path
    seconds: float
    new_files: list  # files that appeared under chapters/ while the notebooks executed (should be none)

    @property
    def screenshots(self) -> Path:
        return self.out / "_build" / "screenshots"


def build_env() -> dict:
    """The environment the book is built with: TF quiet, network guard on, inline plots."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    env.pop("MPLBACKEND", None)  # kernels must use the inline backend, as readers' do
    return env


@pytest.fixture(scope="session")
def book() -> Book:
    """Build the book once per session (slow: it executes every chapter) and return where it is."""
    out = Path(os.environ.get("GRUSEG_BOOK_OUT", REPO / "_build" / "pytest")).resolve()
    if os.environ.get("GRUSEG_BOOK_FRESH") == "1" and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "build.log"
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book) if jupyter_book.exists() else "jupyter-book",
               "build", "--all", "-W", "-n", "--keep-going", "--path-output", str(out), str(REPO)]
    def chapter_files():
        return {p for p in (REPO / "chapters").rglob("*") if ".ipynb_checkpoints" not in p.parts}

    before = chapter_files()
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as handle:
        handle.write(" ".join(command) + "\n")
        handle.flush()
        result = subprocess.run(command, cwd=REPO, env=build_env(), stdout=handle,
                                stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S, check=False)
    seconds = time.perf_counter() - start
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"\n[gruseg tests] jupyter-book build took {seconds:.1f} s (exit {result.returncode})\n")
    text = log.read_text(encoding="utf-8", errors="replace")
    if result.returncode != 0:
        pytest.fail(f"jupyter-book build failed (exit {result.returncode}, {seconds:.0f} s); "
                    f"full log: {log}\n...{text[-LOG_TAIL_CHARS:]}", pytrace=False)
    new_files = sorted(str(p.relative_to(REPO)) for p in chapter_files() - before)
    return Book(out=out, html=out / "_build" / "html", log=log, seconds=seconds, new_files=new_files)
