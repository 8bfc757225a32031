"""The chapters' install cell: pinned to the book's version, guarded, hidden; Colab keeps its packages.

``tests/test_notebooks.py`` checks that each notebook's first code cell is exactly
:data:`tests.support.install_cell.INSTALL_CELL`; this file checks what that cell does.
"""

import json
import re
import subprocess
import sys
import tomllib

import nbformat
import pytest
from packaging.requirements import Requirement

import gruseg
from tests.support.install_cell import ENVIRONMENT_TAGS, INSTALL_CELL, INSTALL_TAGS, REPO, install_ref

NOTEBOOKS = sorted((REPO / "chapters").glob("*.ipynb"))
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_the_pin_is_the_package_version():
    assert install_ref() == f"v{gruseg.__version__}" == f"v{PROJECT['version']}"
    assert f"@{install_ref()}\"" in INSTALL_CELL


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_install_and_environment_cells_are_hidden_on_the_page(path):
    install, environment = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"][:2]
    assert set(INSTALL_TAGS) <= set(install.metadata.get("tags", [])), path.name
    assert set(ENVIRONMENT_TAGS) <= set(environment.metadata.get("tags", [])), path.name
    assert re.search(r"@v\d+\.\d+\.\d+\"", install.source) and install_ref() in install.source


# Runs the cell in a real IPython shell whose %pip only records its (expanded) arguments.
_RUN = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
for name in sys.argv[2:]:
    sys.modules[name] = None          # as if not installed
calls = []
shell = InteractiveShell.instance()
shell.register_magic_function(lambda line: calls.append(line), "line", "pip")
result = shell.run_cell(sys.argv[1], silent=True)
print(json.dumps({"ok": result.success, "calls": calls}))
"""


def _run_cell(*missing):
    out = subprocess.run([sys.executable, "-c", _RUN, INSTALL_CELL, *missing], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_guard_installs_nothing_when_gruseg_imports():
    """The book build and CI (network off) run this cell: it must not try to install."""
    assert _run_cell() == {"ok": True, "calls": []}


def test_without_gruseg_it_installs_the_books_version_and_keeps_a_tensorflow_that_is_there():
    url = f"git+https://github.com/gruseg/gruseg@{install_ref()}"
    assert _run_cell("gruseg") == {"ok": True, "calls": [f'install -q "gruseg @ {url}"']}
    assert _run_cell("gruseg", "tensorflow") == {"ok": True, "calls": [f'install -q "gruseg[tf] @ {url}"']}


# Colab preinstalls these (2026) and imports ipywidgets when the kernel starts: a requirement they
# do not satisfy makes pip upgrade them under the running kernel, and the reader must restart it.
COLAB_PREINSTALLED = {"numpy": "2.0.2", "ipywidgets": "7.7.1"}


@pytest.mark.parametrize("name, version", COLAB_PREINSTALLED.items())
def test_install_requirements_accept_colabs_own_versions(name, version):
    requirement = next(Requirement(r) for r in PROJECT["dependencies"] if Requirement(r).name == name)
    assert requirement.specifier.contains(version), f"{requirement} would replace Colab's {name} {version}"


def test_ipywidgets_requirement_admits_both_majors():
    requirement = next(Requirement(r) for r in PROJECT["dependencies"] if Requirement(r).name == "ipywidgets")
    assert requirement.specifier.contains("7.7.1") and requirement.specifier.contains("8.1.9")
