"""The one exception type for problems a user can fix, and the rule for when it is raised.

The rule:

* :class:`GrusegError` means *the input is unusable and the user can fix it*: a data file (a
  missing mask, an unreadable image, labels out of range), a model or checkpoint file, an output
  directory, or a value typed on the command line. It is raised where the problem is found, and
  its message names the file or argument, the problem, and the fix:
  ``"<file or argument>: <what is wrong>; <what to do>"``. The command line prints it as one line,
  ``gruseg: error: ...``, and exits with code 2.
* ``ValueError`` / ``TypeError`` mean *a function was called wrongly*: a programmer error, such
  as ``ReNet2D(units=0)``. They come from ``gruseg._checks`` (one wording everywhere:
  ``"<name> must be <what>, got <value>"``) and stay ordinary tracebacks; the command line never
  turns them into user errors, except where the user typed the value (``--model-arg``).
* :class:`GrusegError` subclasses ``ValueError``, so code that catches ``ValueError`` for bad
  arguments keeps working.

Example:
    >>> raise GrusegError("masks/cat.png: labels {0, 7} but num_classes=2; pass --num-classes 8")
    Traceback (most recent call last):
    ...
    gruseg.errors.GrusegError: masks/cat.png: labels {0, 7} but num_classes=2; pass --num-classes 8
"""

__all__ = ["GrusegError"]


class GrusegError(ValueError):
    """A problem with the user's input that the user can fix (see the module docstring for the rule)."""
