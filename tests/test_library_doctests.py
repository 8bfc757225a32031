"""The docstring examples of the library's modules run (the book's are in tests/test_doctests.py).

Examples that need files or long training are marked ``# doctest: +SKIP`` in place.
"""

import doctest
import importlib
import importlib.util

import numpy as np
import pytest

MODULES = [
    "gruseg", "gruseg.errors", "gruseg._files", "gruseg._lock", "gruseg._memory", "gruseg._interrupts", "gruseg.layers", "gruseg.models", "gruseg.metrics", "gruseg.losses",
    "gruseg.inference", "gruseg.training", "gruseg.plotting", "gruseg.checkpoints", "gruseg.data.synthetic",
    "gruseg.data.folder", "gruseg.data.camvid", "gruseg.data.sources", "gruseg.data.pipeline", "gruseg.data.resize",
    "gruseg.runtime", "gruseg.progress", "gruseg.export",
]

NEEDS_TENSORFLOW = {"gruseg.data.pipeline.to_dataset"}  # examples that build a tf.data pipeline


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    globs = {"np": np, **{k: getattr(module, k) for k in getattr(module, "__all__", []) if hasattr(module, k)}}
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    for test in doctest.DocTestFinder().find(module, name, extraglobs=globs):
        if test.name in NEEDS_TENSORFLOW and importlib.util.find_spec("tensorflow") is None:
            continue  # the JAX pass (no TensorFlow): tests/test_jax.py checks the one-line message instead
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
