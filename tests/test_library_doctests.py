"""The docstring examples of the library's modules run (the book's are in tests/test_doctests.py).

Examples that need files or long training are marked ``# doctest: +SKIP`` in place.
"""

import doctest
import importlib

import numpy as np
import pytest

MODULES = [
    "gruseg", "gruseg.errors", "gruseg._files", "gruseg.layers", "gruseg.models", "gruseg.metrics", "gruseg.losses",
    "gruseg.inference", "gruseg.training", "gruseg.plotting", "gruseg.checkpoints", "gruseg.data.synthetic",
    "gruseg.data.folder", "gruseg.data.camvid", "gruseg.data.sources", "gruseg.data.pipeline", "gruseg.data.resize",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    globs = {"np": np, **{k: getattr(module, k) for k in getattr(module, "__all__", []) if hasattr(module, k)}}
    result = doctest.testmod(module, extraglobs=globs, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
