"""gruseg.book.glue: myst-nb's glue where the book is built, and a no-op returning the value elsewhere."""

import builtins
import sys

import gruseg.book.glue as book_glue


def test_without_myst_nb_glue_returns_the_value_and_prints_nothing(monkeypatch, capsys):
    real_import = builtins.__import__

    def no_myst(name, *args, **kwargs):
        if name.startswith("myst_nb"):
            raise ImportError("no myst_nb here (Colab)")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "myst_nb", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_myst)
    assert book_glue.glue("miou", 0.5) == 0.5
    assert capsys.readouterr().out == ""


def test_with_myst_nb_glue_hands_the_value_on(monkeypatch):
    calls = []
    import myst_nb

    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: calls.append((name, value, display)))
    assert book_glue.glue("speedup", 7.1) == 7.1
    assert calls == [("speedup", 7.1, False)]
