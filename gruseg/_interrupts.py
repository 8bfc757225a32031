"""Ctrl-C during a Keras call is held until Python code can raise it cleanly.

A ``KeyboardInterrupt`` raised by the default SIGINT handler lands wherever the interpreter happens
to be; inside TensorFlow's C++ (which calls back into Python) it can surface as a ``SystemError``
or an ``AttributeError`` instead, and the command line could not tell it from a bug. While a
:meth:`DeferredInterrupt.deferred` block runs, the first Ctrl-C only sets a flag; the interrupt is
raised at the next batch boundary (by :meth:`DeferredInterrupt.callback`) or when the block ends.
A second Ctrl-C while one is pending raises at once.
"""

from __future__ import annotations

import contextlib
import signal
import threading

__all__ = ["DeferredInterrupt"]


class DeferredInterrupt:
    """Hold SIGINT inside :meth:`deferred` blocks; raise ``KeyboardInterrupt`` at safe points.

    Example:
        >>> interrupts = DeferredInterrupt()
        >>> with interrupts.installed(), interrupts.deferred():
        ...     pass                                  # a Keras call goes here
    """

    def __init__(self):
        self.pending = False
        self.depth = 0

    def _handle(self, signum, frame):
        if self.depth and not self.pending:
            self.pending = True
            return
        self.pending = False
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self):
        """Use this handler for SIGINT inside the block (main thread only; elsewhere a no-op)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.signal(signal.SIGINT, self._handle)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)

    @contextlib.contextmanager
    def deferred(self):
        """Hold a Ctrl-C that arrives inside the block; raise it when the block ends."""
        self.depth += 1
        try:
            yield self
        finally:
            self.depth -= 1
        self.check()

    def check(self):
        """Raise the held ``KeyboardInterrupt``, if there is one."""
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt

    def callback(self):
        """A Keras callback that raises a held interrupt at every batch boundary."""
        from gruseg.progress import RaiseHeldInterrupt  # Keras only when a Keras call is running

        return RaiseHeldInterrupt(self)
