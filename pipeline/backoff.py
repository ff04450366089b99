"""The one back-off rule finsent uses for anything it retries (feeds, deliveries)."""

from __future__ import annotations

from datetime import timedelta

# 2**30 times any sensible base is far past any cap; bounding the exponent keeps the
# arithmetic small (and finite) for a row that has failed thousands of times.
_MAX_EXPONENT = 30


def exponential_backoff(*, attempt: int, base_seconds: float, max_seconds: float) -> timedelta:
    """How long to wait after the ``attempt``-th consecutive failure.

    ``base_seconds`` after the first failure, then twice as long after each further one,
    never more than ``max_seconds``: ``base * 2**(attempt - 1)`` capped at ``max``.
    ``attempt`` below 1 counts as 1, so the result is always between ``min(base, max)``
    and ``max``.

    >>> exponential_backoff(attempt=3, base_seconds=60, max_seconds=3600)
    datetime.timedelta(seconds=240)
    >>> exponential_backoff(attempt=10, base_seconds=60, max_seconds=3600)
    datetime.timedelta(seconds=3600)
    """
    exponent = min(max(attempt - 1, 0), _MAX_EXPONENT)
    return timedelta(seconds=min(base_seconds * 2**exponent, max_seconds))
