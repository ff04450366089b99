"""A wall-clock deadline for one delivery attempt, enforced on the attempt's sockets.

Library timeouts (httpx, smtplib) bound each socket operation, not the whole exchange:
a receiver that sends one header line a second never trips them. So every attempt
registers its connection here as soon as it exists, and when the deadline passes the
runner (:mod:`pipeline.alerts.deliveries`) calls :meth:`Deadline.expire`, which shuts the
connection down: a blocked read or write returns at once with an error, and the
attempt ends. A connection registered after the deadline is shut down on the spot, so
an attempt the runner has given up on can never send late.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class Deadline:
    """The end of one attempt, ``seconds`` from now (monotonic clock)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._expired = False
        # Duplicates of the attempt's sockets: shutting down a duplicate cuts the one
        # connection both refer to, and a duplicate stays valid (its descriptor cannot be
        # reused by another connection) even after the library closed or wrapped its own.
        self._sockets: list[socket.socket] = []

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._end - time.monotonic())

    @property
    def expired(self) -> bool:
        return self._expired or time.monotonic() >= self._end

    def watch(self, sock: socket.socket) -> None:
        """Cut ``sock`` when the deadline passes (now, if it already has)."""
        duplicate = sock.dup()
        with self._lock:
            self._sockets.append(duplicate)
            if self._expired:
                _cut(duplicate)

    def expire(self) -> None:
        """The deadline has passed: cut every connection of this attempt."""
        with self._lock:
            self._expired = True
            for sock in self._sockets:
                _cut(sock)

    def release(self) -> None:
        """The attempt is over: close the duplicates (the connections close with the last)."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()

    def timeout_message(self) -> str:
        """What an attempt cut short by this deadline records."""
        return f"no complete answer within {self.seconds:g} s"


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer: nothing left to cut
        sock.shutdown(socket.SHUT_RDWR)
