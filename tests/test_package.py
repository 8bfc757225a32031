"""The package's front door: public API, import cost, install requirements, README <-> CI."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import gruseg

ROOT = Path(__file__).resolve().parents[1]


def test_import_is_light_and_silent():
    code = (
        "import sys, gruseg, gruseg.gru, gruseg.errors\n"
        "heavy = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""


@pytest.mark.parametrize("name", gruseg.__all__)
def test_every_public_name_resolves(name):
    assert getattr(gruseg, name) is not None


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        gruseg.nope  # noqa: B018


def test_version_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == gruseg.__version__


def test_install_requirements_do_not_name_tensorflow():
    """Colab ships its own TensorFlow; a requirement would make pip replace it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[<>=!~\[ ;]", req)[0].lower() for req in project["dependencies"]]
    assert not [n for n in names if n.startswith("tensorflow")], names
    assert "tf" in project["optional-dependencies"]


def _readme_commands():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", readme, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_readme_has_two_quick_start_commands_and_ci_runs_the_test_one():
    build, test = _readme_commands()
    assert "jupyter-book build --all -W -n --keep-going ." in build
    test_cmd = test.split("&&")[-1].strip()
    assert test_cmd.startswith("python -m pytest")
    assert test_cmd in (ROOT / ".ci" / "run").read_text()
    assert "requirements.txt" in (ROOT / ".ci" / "run").read_text()
