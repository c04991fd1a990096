"""One progress contract and one cancel token for every long operation in the core.

``Progress`` is the callback shape: ``progress(stage, done, total)`` where ``stage`` names
what runs ("decode", "asr.faster_whisper", "hash", "train"), ``done`` counts work units
finished and ``total`` their number, or ``None`` when unknown (a download without a
length).  ``fraction(done, total)`` turns it into 0..1.

``CancelToken`` is passed down the same call chain: the front end (or the job worker's
heartbeat) calls ``cancel()``; long loops call ``raise_if_cancelled()`` between chunks,
which raises ``Cancelled``.  A token may also watch other conditions (``checks``): the job
worker's token is cancelled when the user cancels the job *or* the pool is stopping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from .errors import Cancelled

T = TypeVar("T")


class Progress(Protocol):
    def __call__(self, stage: str, done: float, total: float | None) -> None: ...


def no_progress(stage: str, done: float, total: float | None) -> None:
    """The ``Progress`` that reports nowhere."""


def fraction(done: float, total: float | None) -> float:
    """``done / total`` clipped to 0..1; 0 when the total is unknown or zero."""
    if not total:
        return 0.0
    return max(0.0, min(1.0, float(done) / float(total)))


def scaled(progress: Progress, stage: str, start: float, span: float) -> Progress:
    """A ``Progress`` that maps a sub-task's 0..1 onto ``start .. start + span`` of a
    parent total of 1 (for a step inside a bigger job), under the parent's ``stage``."""
    def report(_stage: str, done: float, total: float | None) -> None:
        progress(stage, start + span * fraction(done, total), 1.0)

    return report


class CancelToken:
    """Set once, seen by every thread; ``checks`` are extra conditions that also count."""

    __slots__ = ("_checks", "_event", "_reason")

    def __init__(self, checks: Iterable[Callable[[], bool]] = ()) -> None:
        self._event = threading.Event()
        self._checks = tuple(checks)
        self._reason = "cancelled"

    def cancel(self, reason: str = "cancelled") -> None:
        self._reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        if self._event.is_set():
            return True
        return any(check() for check in self._checks)

    @property
    def reason(self) -> str:
        return self._reason

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled(self._reason)

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until cancelled (True) or ``timeout`` passes (False); a sleep that a cancel
        cuts short.  Extra ``checks`` are polled every 0.1 s."""
        if not self._checks:
            return self._event.wait(timeout)
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.cancelled:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self._event.wait(0.1 if left is None else min(0.1, left))
        return True


def run_cancellable(fn: Callable[[], T], cancel: CancelToken | None, poll: float = 0.05) -> T:
    """``fn()``, but a cancel returns at once (``Cancelled``) even while ``fn`` is inside one
    long native call that cannot be interrupted (a Whisper window, say).

    ``fn`` runs in a helper thread and should check the same token between its chunks:
    after a cancel it stops at its next check, so at most one chunk of work goes on in the
    background.  The thread is not a daemon on purpose: interpreter shutdown waits for that
    chunk instead of killing a thread inside native code (CTranslate2 aborts the process
    with "terminate called without an active exception" when that happens).  Without a
    token ``fn`` simply runs here."""
    if cancel is None:
        return fn()
    result: list[T] = []
    failure: list[BaseException] = []
    finished = threading.Event()

    def work() -> None:
        try:
            result.append(fn())
        except BaseException as err:  # noqa: BLE001 - handed to the caller (or dropped when cancelled)
            failure.append(err)
        finally:
            finished.set()

    threading.Thread(target=work, name="tt-cancellable", daemon=False).start()
    while not finished.wait(poll):
        cancel.raise_if_cancelled()
    if failure:
        raise failure[0]
    return result[0]


def check(cancel: CancelToken | None) -> None:
    """``cancel.raise_if_cancelled()`` when a token was given."""
    if cancel is not None:
        cancel.raise_if_cancelled()
