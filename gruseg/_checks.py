"""The one set of argument checks used across gruseg (layers, models, data, metrics, training, CLI).

Every check takes the argument's ``name`` and ``value`` and either returns the value in a
canonical form (a plain ``int``, ``float``, ``bool`` or tuple) or raises :class:`ValueError`
naming the argument, the value received and what is allowed::

    >>> positive_int("units", np.int64(8))
    8
    >>> positive_int("units", 0)
    Traceback (most recent call last):
    ...
    ValueError: units must be a positive integer, got 0

A ``ValueError`` is a programmer error (a function called with a bad argument); see
:mod:`gruseg.errors` for when :class:`~gruseg.errors.GrusegError` is raised instead. The command
line wraps these same checks as argparse types (:func:`argparse_type`), so a bad ``--epochs`` gets
the same wording as a bad ``epochs=``.

Booleans are never accepted as numbers (``True`` is an ``int`` in Python): ``units=True`` is a
mistake, not ``units=1``. NumPy integer and floating scalars are accepted wherever Python ones are.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "MAX_SEED",
    "integer",
    "positive_int",
    "non_negative_int",
    "number",
    "positive_number",
    "fraction",
    "number_range",
    "choice",
    "boolean",
    "seed",
    "num_classes",
    "int_tuple",
    "image_size",
    "parse_image_size",
    "argparse_type",
]

MAX_SEED = 2**32 - 1
"""The largest seed NumPy, Python and every Keras backend accept alike."""


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _range_text(minimum, maximum) -> str:
    if maximum is None:
        return f">= {minimum}"
    return f"in [{minimum}, {maximum}]"


def integer(name, value, minimum=None, maximum=None) -> int:
    """An integer within ``[minimum, maximum]`` (either bound may be None).

    Example:
        >>> integer("depth", 3, minimum=1, maximum=6)
        3
    """
    ok = _is_int(value) and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        if minimum == 1 and maximum is None:
            what = "a positive integer"
        elif minimum == 0 and maximum is None:
            what = "a non-negative integer"
        elif minimum is None and maximum is None:
            what = "an integer"
        elif minimum is None:
            what = f"an integer <= {maximum}"
        else:
            what = f"an integer {_range_text(minimum, maximum)}"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def positive_int(name, value, maximum=None) -> int:
    """An integer >= 1 (``np.integer`` accepted), optionally <= ``maximum``."""
    return integer(name, value, 1, maximum)


def non_negative_int(name, value, maximum=None) -> int:
    """An integer >= 0, optionally <= ``maximum``."""
    return integer(name, value, 0, maximum)


def number(name, value, minimum=None, maximum=None, *, open_min=False, open_max=False) -> float:
    """A finite real number within the bounds (``open_min``/``open_max`` exclude the bound itself).

    Example:
        >>> number("alpha", 0.5, 0, 1)
        0.5
    """
    ok = _is_real(value) and math.isfinite(value)
    if ok and minimum is not None:
        ok = value > minimum if open_min else value >= minimum
    if ok and maximum is not None:
        ok = value < maximum if open_max else value <= maximum
    if not ok:
        if minimum is None and maximum is None:
            what = "a finite number"
        elif maximum is None:
            what = f"a number {'>' if open_min else '>='} {minimum}"
        elif minimum is None:
            what = f"a number {'<' if open_max else '<='} {maximum}"
        else:
            what = f"a number in {'(' if open_min else '['}{minimum}, {maximum}{')' if open_max else ']'}"
        if minimum == 0 and maximum is None:
            what = "a positive number" if open_min else "a non-negative number"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return float(value)


def positive_number(name, value, maximum=None) -> float:
    """A finite number > 0, optionally <= ``maximum``."""
    return number(name, value, 0, maximum, open_min=True)


def fraction(name, value) -> float:
    """A number in [0, 1), e.g. a dropout rate or a validation fraction."""
    return number(name, value, 0, 1, open_max=True)


def number_range(name, value, minimum, maximum=None, integer=False):
    """A number or a ``(low, high)`` pair with ``minimum <= low <= high <= maximum``, as ``(low, high)``.

    Example:
        >>> number_range("radius", 0.2, 0.01, 0.5), number_range("count", (1, 4), 1, integer=True)
        ((0.2, 0.2), (1, 4))
    """
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        low = high = value
    else:
        try:
            low, high = value
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number or a (low, high) pair, got {value!r}") from None
    cast = int if integer else float
    if integer and (float(low) != int(low) or float(high) != int(high)):
        raise ValueError(f"{name} must hold integers, got {value!r}")
    low, high = cast(low), cast(high)
    if not low <= high or low < minimum or (maximum is not None and high > maximum):
        allowed = f">= {minimum}" if maximum is None else f"within [{minimum}, {maximum}]"
        raise ValueError(f"{name} must be (low, high) with low <= high, {allowed}, got {value!r}")
    return low, high



def choice(name, value, allowed):
    """One of ``allowed`` (compared with ``==``).

    Example:
        >>> choice("merge_mode", "sum", ("concat", "sum"))
        'sum'
    """
    if isinstance(value, (list, dict, set)) or value not in tuple(allowed):
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def boolean(name, value) -> bool:
    """``True`` or ``False`` (``np.bool_`` accepted; 0 and 1 are not)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def seed(name, value, allow_none=True):
    """None (when allowed) or an integer in [0, 2**32 - 1]."""
    if value is None and allow_none:
        return None
    try:
        return integer(name, value, 0, MAX_SEED)
    except ValueError:
        none = "None or " if allow_none else ""
        raise ValueError(f"{name} must be {none}an integer in [0, {MAX_SEED}], got {value!r}") from None


def num_classes(name, value) -> int:
    """The number of classes of a segmentation task: an integer >= 2 (binary is 2 classes)."""
    return integer(name, value, 2)


def int_tuple(name, value, minimum=1, length=None) -> tuple:
    """A non-empty tuple of integers >= ``minimum`` (a bare integer becomes a 1-tuple).

    Example:
        >>> int_tuple("filters", [16, 32])
        (16, 32)
    """
    if _is_int(value):
        value = (value,)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{name} must be a sequence of integers >= {minimum}, got {value!r}")
    items = tuple(value)
    if not items or not all(_is_int(v) and v >= minimum for v in items):
        raise ValueError(f"{name} must be a non-empty sequence of integers >= {minimum}, got {value!r}")
    if length is not None and len(items) != length:
        raise ValueError(f"{name} must hold {length} integers, got {value!r}")
    return tuple(int(v) for v in items)


def image_size(name, value, allow_none=False, maximum=None) -> tuple | None:
    """An image size ``(height, width)`` from an int (a square) or a pair of positive ints.

    Example:
        >>> image_size("size", 64), image_size("size", (120, 160))
        ((64, 64), (120, 160))
    """
    if value is None and allow_none:
        return None
    if _is_int(value):
        value = (value, value)
    try:
        h, w = value
        return integer(name, h, 1, maximum), integer(name, w, 1, maximum)
    except (TypeError, ValueError):
        none = "None, " if allow_none else ""
        limit = "" if maximum is None else f" (each at most {maximum})"
        raise ValueError(f"{name} must be {none}a positive integer or a (height, width) pair of positive "
                         f"integers{limit}, got {value!r}") from None


def parse_image_size(text, maximum=None) -> tuple:
    """Parse ``"128"`` or ``"120x160"`` (height x width) into ``(height, width)``.

    Example:
        >>> parse_image_size("120x160"), parse_image_size("64")
        ((120, 160), (64, 64))
    """
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or min(values) < 1 or (maximum is not None and max(values) > maximum):
        limit = "" if maximum is None else f", each side at most {maximum}"
        raise ValueError(f"must be a side in pixels (128) or HEIGHTxWIDTH (120x160){limit}, got {text!r}")
    return (values[0], values[-1])


def argparse_type(check, parse=int, **bounds):
    """An argparse ``type=`` that parses the text and applies ``check``: one wording for both.

    Example:
        >>> argparse_type(positive_int, maximum=10)("3")
        3
    """
    import argparse

    def convert(text):
        try:
            value = parse(text)
        except ValueError:
            value = text
        try:
            return check("the value", value, **bounds)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err).replace("the value must be", "must be")) from None

    convert.__name__ = check.__name__
    return convert
