"""Ctrl-C as a request: a long run stops at the end of its current step, after saving."""

from __future__ import annotations

import signal
from typing import Any


class StopRequest:
    """Turns the first Ctrl-C (SIGINT) into ``requested = True``; a second one stops at once.

    Use it as a context manager around a loop that checks ``requested`` after each step and,
    if set, saves a checkpoint and exits; the previous handler is restored on exit.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> StopRequest:
        self._previous = signal.signal(signal.SIGINT, self._request)
        return self

    def __exit__(self, *exc_info: object) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _request(self, signum: int, frame: Any) -> None:
        del signum, frame
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
