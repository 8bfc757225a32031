"""A guard against asking for more memory than the machine has, before the allocation kills the process.

A data set of ``n`` images of ``H x W`` pixels held in memory takes ``n * H * W * 13`` bytes
(float32 RGB plus a uint8 mask); a few numbers that each pass their own bounds (``--samples
1000000 --size 1024``) can multiply to terabytes. NumPy would then raise ``MemoryError`` or, with
the kernel's overcommit, the process would be killed later, half-way through. :func:`check_fits`
refuses such a request up front with a :class:`~gruseg.errors.GrusegError` naming the numbers.

Example:
    >>> check_fits(1000, "a tiny array", "ask for less")      # fits: returns None
    >>> check_fits(2**80, "a huge array", "ask for less")     # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gruseg.errors.GrusegError: a huge array need about 1099511627776.0 TB of memory, ...; ask for less
"""

from __future__ import annotations

import os

from gruseg.errors import GrusegError

__all__ = ["physical_memory", "check_fits", "human_bytes"]

FRACTION = 0.9
"""The share of the physical memory one request may take before :func:`check_fits` refuses it."""


def physical_memory() -> int | None:
    """The machine's physical memory in bytes, or None where the platform does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def human_bytes(count: float) -> str:
    """``1536`` -> ``"1.5 KB"`` (powers of 1024).

    Example:
        >>> human_bytes(3 * 2**30)
        '3.0 GB'
    """
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TB"


def check_fits(nbytes: int, what: str, fix: str) -> None:
    """Raise GrusegError when ``nbytes`` exceed :data:`FRACTION` of the physical memory.

    Args:
        nbytes: the estimated size of the request.
        what: what needs it, for the message (``"runs/x: 40 images of 128x128"``).
        fix: what to do instead (``"pass a smaller --size"``).
    """
    total = physical_memory()
    if total is not None and nbytes > FRACTION * total:
        raise GrusegError(f"{what} need about {human_bytes(nbytes)} of memory, more than this machine's "
                          f"{human_bytes(total)} can hold; {fix}")
