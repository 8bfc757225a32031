"""``glue``: hand a measured value to the book's prose, and do nothing where there is no book.

The chapters put every measured number into their Markdown with myst-nb's ``glue`` (the built
page shows the value the run produced). In Colab or a plain Jupyter there is no myst-nb: this
``glue`` then only returns the value, so a chapter runs anywhere unchanged.

Example:
    >>> glue("answer", 42)          # doctest: +SKIP
    42
"""

from __future__ import annotations

__all__ = ["glue"]


def glue(name: str, value, display: bool = False):
    """Record ``value`` under ``name`` for ``{glue:text}`name``` roles (myst-nb), and return it.

    Args:
        name: the key the Markdown refers to.
        value: any value (a number, a string, a figure).
        display: also show the value in the cell's output (myst-nb's default is True; the
            chapters show values through their prose, so the default here is False).

    Returns:
        ``value``, unchanged.
    """
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # Colab, plain Jupyter: nothing to glue into
        return value
    myst_glue(name, value, display=display)
    return value
