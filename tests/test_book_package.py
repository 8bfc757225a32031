"""gruseg.book's front door: the lazy table and each module's __all__ agree, and importing it is light."""

import importlib
import subprocess
import sys

import pytest

import gruseg
import gruseg.book as book


@pytest.mark.parametrize("module", sorted(book._EXPORTS))
def test_export_table_is_each_modules_all(module):
    assert sorted(book._EXPORTS[module]) == sorted(importlib.import_module(f"gruseg.book.{module}").__all__)


def test_every_book_name_resolves_and_none_is_also_a_library_name():
    pytest.importorskip("keras")
    assert all(getattr(book, name) is not None for name in book.__all__)
    assert not set(book.__all__) & set(gruseg.__all__)


def test_importing_the_book_imports_no_keras():
    code = ("import sys, gruseg.book\n"
            "heavy = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == "" and out.stderr == "", out.stderr
