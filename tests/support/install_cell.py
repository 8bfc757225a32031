"""The chapters' install cell, pinned to the version of gruseg the book is built from.

The pin lives in one place, ``gruseg_install_ref`` in ``_config.yml`` (the git tag ``v<version>``
of pyproject's version); every notebook's first code cell must be exactly :data:`INSTALL_CELL`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def install_ref() -> str:
    """The git ref the install cell installs (``_config.yml``: ``gruseg_install_ref``)."""
    return yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))["gruseg_install_ref"]


def install_cell(ref: str | None = None) -> str:
    """The first code cell of every chapter, installing ``ref`` (default :func:`install_ref`)."""
    ref = ref or install_ref()
    return (
        "try:\n"
        "    import gruseg  # installed already (this book's build, CI, a clone): nothing to install\n"
        "except ModuleNotFoundError:  # Colab, or this notebook on its own: the gruseg this book was built from\n"
        "    import importlib.util\n"
        '    extra = "" if importlib.util.find_spec("tensorflow") else "[tf]"  # keep a TensorFlow already there\n'
        f'    %pip install -q "gruseg{{extra}} @ git+https://github.com/gruseg/gruseg@{ref}"'
    )


INSTALL_CELL = install_cell()
INSTALL_TAGS = ("remove-input", "hide-output")   # the reader sees nothing of it on the rendered page
ENVIRONMENT_TAGS = ("hide-input",)               # the imports, one click away
