"""`stop_on_signals`: SIGINT and SIGTERM ask once, a quick repeat is the same request (also in
an enclosing context), a later one interrupts at once, and the previous handlers come back.
Real signals to this process."""

from __future__ import annotations

import os
import signal
import time

import pytest

from reasonloop.interrupt import stop_on_signals

REPEAT_S = 1.0


@pytest.fixture(autouse=True)
def apart() -> None:
    """Each test's first signal is not a repeat of the previous test's last one."""
    time.sleep(REPEAT_S)


def send(sig: signal.Signals) -> None:
    """Deliver `sig` to this process and let Python run its handler."""
    os.kill(os.getpid(), sig)
    time.sleep(0.01)  # handlers run between bytecodes of the main thread


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_first_signal_asks_once_and_a_quick_repeat_is_ignored(sig: signal.Signals) -> None:
    asked = []
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with stop_on_signals(lambda: asked.append(1), repeat_s=REPEAT_S):
        send(sig)
        send(sig)
        send(signal.SIGINT if sig == signal.SIGTERM else signal.SIGTERM)
    assert asked == [1]
    send(sig)  # a repeat after the block (a run that stopped at once): still ignored
    time.sleep(REPEAT_S)
    with pytest.raises(KeyboardInterrupt):  # later: the handler from before, SIGINT's default
        send(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) == before[1]  # the guard handed it back


def test_a_later_repeat_interrupts_at_once() -> None:
    asked = []
    with pytest.raises(KeyboardInterrupt), stop_on_signals(lambda: asked.append(1), repeat_s=0.1):
        send(signal.SIGTERM)
        time.sleep(0.2)
        send(signal.SIGINT)
        raise AssertionError("not interrupted")
    assert asked == [1]


def test_without_a_graceful_stop_sigterm_interrupts_and_the_repeat_is_ignored() -> None:
    reached = []
    with pytest.raises(KeyboardInterrupt), stop_on_signals(repeat_s=REPEAT_S):
        try:
            send(signal.SIGTERM)
            raise AssertionError("not interrupted")
        finally:
            send(signal.SIGINT)  # during the clean-up: the same request, ignored
            reached.append("clean-up finished")
    assert reached == ["clean-up finished"]


def test_a_repeat_reaching_the_enclosing_context_is_still_ignored() -> None:
    asked = []
    with stop_on_signals(repeat_s=REPEAT_S):  # a CLI around a trainer
        with stop_on_signals(lambda: asked.append(1), repeat_s=REPEAT_S):
            send(signal.SIGINT)
        send(signal.SIGINT)  # arrives as the trainer returned: not a KeyboardInterrupt
    assert asked == [1]
