"""The examples in the docstrings of the NumPy modules and of the book's instruments run and print what
they say (``doctest``); the other library modules' examples are in tests/test_library_doctests.py.

The NumPy modules (the argument checks, the GRU and minGRU reference, sweeps, receptive fields) run
in milliseconds; the book's Keras instruments build tiny layers and models (a few seconds in all).
"""

import doctest
import importlib

import pytest

NUMPY_MODULES = ["gruseg._checks", "gruseg.gru", "gruseg.book.sweeps", "gruseg.book.receptive_field",
                 "gruseg.book.diagrams"]   # diagrams: matplotlib, no Keras
KERAS_MODULES = ["gruseg.book.gates", "gruseg.book.analysis", "gruseg.book.experiments", "gruseg.book.faq",
                 "gruseg.book.sgd", "gruseg.book.widgets"]


@pytest.mark.parametrize("name", NUMPY_MODULES + KERAS_MODULES)
def test_docstring_examples(name):
    if name in KERAS_MODULES:
        pytest.importorskip("keras")
    if name == "gruseg.book.widgets":
        pytest.importorskip("ipywidgets")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=False)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (run it verbosely: " \
                               f"python -m doctest -v {module.__file__})"
