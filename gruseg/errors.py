"""The one exception type for problems a user can fix (bad data, bad arguments).

Anything raised as :class:`GrusegError` carries a message that names the problem, the file or
argument involved, and the fix. The command line turns it into one line on stderr and exit code 2.
"""

__all__ = ["GrusegError"]


class GrusegError(ValueError):
    """A problem with the user's input that the user can fix.

    Subclasses :class:`ValueError`, so code that already catches ``ValueError`` for bad
    arguments keeps working.

    Example:
        >>> raise GrusegError("masks/cat.png: labels {0, 7} but num_classes=2; pass --num-classes 8")
    """
