"""gruseg._interrupts: a Ctrl-C inside a Keras call is held until a safe point, then raised cleanly."""

import os
import signal

import pytest

from gruseg._interrupts import DeferredInterrupt


def _ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)


def test_outside_a_deferred_block_ctrl_c_raises_at_once():
    interrupts = DeferredInterrupt()
    with interrupts.installed(), pytest.raises(KeyboardInterrupt):
        _ctrl_c()
        raise AssertionError("not interrupted")


def test_inside_a_block_ctrl_c_is_held_and_raised_when_the_block_ends():
    interrupts = DeferredInterrupt()
    reached = []
    with interrupts.installed(), pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            _ctrl_c()
            reached.append("the rest of the block ran")
    assert reached == ["the rest of the block ran"] and not interrupts.pending


def test_a_held_ctrl_c_is_raised_at_the_next_batch_and_a_second_one_at_once():
    interrupts = DeferredInterrupt()
    callback = interrupts.callback()
    with interrupts.installed():
        with interrupts.deferred():
            callback.on_train_batch_end(0)             # nothing held: nothing raised
            _ctrl_c()
            with pytest.raises(KeyboardInterrupt):
                callback.on_train_batch_end(1)
        with pytest.raises(KeyboardInterrupt), interrupts.deferred():
            _ctrl_c()                                  # held ...
            _ctrl_c()                                  # ... and a second Ctrl-C does not wait
            raise AssertionError("not interrupted")


def test_the_previous_handler_comes_back():
    before = signal.getsignal(signal.SIGINT)
    with DeferredInterrupt().installed():
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before
