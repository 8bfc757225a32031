"""Numbers in the chapters' prose come from the run: myst-nb ``glue``, never typed by hand.

The rule, checked on every notebook in chapters/ without executing it:

1. Every ``{glue}`` / ``{glue:text}`` / ``{glue:md}`` role and ``{glue:figure}`` / ``{glue:math}``
   directive in a markdown cell names a value that a code cell of the same notebook glues
   (``glue("name", value)``); and every glued value is used somewhere (no dead measurements).
2. A markdown cell states no *measured-looking* number by hand: a decimal (``0.87``), a percentage
   (``12 %``), a ratio (``15x``, ``2.5×``) or a duration (``150 s``, ``84 ms``), outside math, code
   spans, links and glue roles. Numbers that are not measurements (a learning rate the text sets,
   a paper's published figure, a threshold) are declared with the reason in the notebook's metadata::

       "gruseg": {"fixed_numbers": {"1e-3": "the learning rate we choose", "58.8 %": "ReSeg's published mIoU"}}

   A declared number that no longer appears is an error too, so the list cannot rot.
"""

import json
import re
from pathlib import Path

import pytest

CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"
NOTEBOOKS = sorted(CHAPTERS.glob("*.ipynb"))

GLUE_CALL = re.compile(r"""\bglue\(\s*(?:f?["'])([\w.\-]+)["']""")
GLUE_ROLE = re.compile(r"\{glue(?::(?:text|md|any))?\}`([\w.\-]+)(?::[^`]*)?`")
GLUE_DIRECTIVE = re.compile(r"^[`:]{3,}\{glue:(?:figure|math)\}\s+([\w.\-]+)", re.M)
# what is not prose: math, code, links' targets, glue roles, HTML tags
STRIP = [
    re.compile(r"\$\$.*?\$\$", re.S), re.compile(r"\$[^$\n]+\$"), re.compile(r"```.*?```", re.S),
    re.compile(r"`[^`\n]*`"), re.compile(r"\]\([^)]*\)"), re.compile(r"<[^>\n]+>"),
    re.compile(r"\\begin\{.*?\\end\{[^}]*\}", re.S),
    re.compile(r"^#+ .*$", re.M),                                            # headings ("## 4.2 ...")
    re.compile(r"(?:§|[Ss]ections?|[Cc]hapters?|[Ss]teps?|its|[Rr]epeat|[Ss]ee)\s*\d+(?:\.\d+)*(?:\s*(?:and|[-–,])\s*\d+(?:\.\d+)*)*"),
    re.compile(r"(?:Keras|TensorFlow|TF|Python|Jupyter Book|NumPy|JAX|version|v)\s*\d+(?:\.\d+)+"),
]
MEASURED = re.compile(
    r"(?<![\w.])("
    r"\d+(?:\.\d+)?\s?(?:%|％)"                        # 12 %, 3.5%
    r"|\d+(?:\.\d+)?\s?[x×](?![\w])"                  # 15x, 2.5×
    r"|\d+(?:\.\d+)?\s?(?:ms|s|seconds|minutes|min)\b"  # 150 s, 84 ms
    r"|\d+\.\d+(?:e-?\d+)?"                           # 0.87, 1.2e-7
    r"|\d+e-?\d+"                                      # 1e-3
    r")(?![\w.]*\d)")


def _cells(path, kind):
    nb = json.loads(path.read_text(encoding="utf-8"))
    return nb, ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == kind]


def _prose(text):
    text = GLUE_ROLE.sub(" ", text)
    for pattern in STRIP:
        text = pattern.sub(" ", text)
    return text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_glue_reference_is_glued_and_every_glue_is_used(path):
    _, code = _cells(path, "code")
    _, markdown = _cells(path, "markdown")
    glued = {name for cell in code for name in GLUE_CALL.findall(cell)}
    text = "\n".join(markdown)
    used = set(GLUE_ROLE.findall(text)) | set(GLUE_DIRECTIVE.findall(text))
    assert not used - glued, f"{path.name}: prose uses values no cell glues: {sorted(used - glued)}"
    assert not glued - used, f"{path.name}: glued but never used in the prose: {sorted(glued - used)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_prose_states_no_measured_number_by_hand(path):
    nb, markdown = _cells(path, "markdown")
    fixed = nb.get("metadata", {}).get("gruseg", {}).get("fixed_numbers", {})
    found = {}
    for i, cell in enumerate(markdown):
        for match in MEASURED.finditer(_prose(cell)):
            found.setdefault(match.group(1).replace(" ", ""), i)
    declared = {k.replace(" ", "") for k in fixed}
    typed = sorted(n for n in found if n not in declared)
    assert not typed, (f"{path.name}: numbers typed into the prose (glue them from the cell that measures them, "
                       f"or declare a non-measured one in metadata.gruseg.fixed_numbers with the reason): {typed}")
    stale = sorted(declared - set(found))
    assert not stale, f"{path.name}: fixed_numbers declared but not in the prose any more: {stale}"


def test_the_checker_catches_what_it_should():
    prose = _prose("IoU reached 0.87 (15x faster, 84 ms, 12 %); see $0.5$ and `1.0` and {glue:text}`miou:.3f`.")
    assert [m.group(1).replace(" ", "") for m in MEASURED.finditer(prose)] == ["0.87", "15x", "84ms", "12%"]
    assert not list(MEASURED.finditer(_prose("Chapter 2, section 3.2, ReNet 2015, 3 gates, 64x64 images")))
