"""Retry decisions and backoff: pure functions, no sleeping and no I/O."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping

from ollama_wire._errors import CONNECT_FAILED, CONNECT_TIMED_OUT, DROPPED

__all__ = [
    "BACKOFF_BASE",
    "DEFAULT_MAX_RETRIES",
    "MAX_BACKOFF",
    "MAX_RETRY_AFTER",
    "RETRY_STATUSES",
    "Retrying",
    "backoff",
    "parse_retry_after",
    "retry_delay",
    "should_retry",
]

DEFAULT_MAX_RETRIES = 2
BACKOFF_BASE = 0.5
MAX_BACKOFF = 8.0
#: A longer ``Retry-After`` is ignored in favour of the normal backoff.
MAX_RETRY_AFTER = 60.0
RETRY_STATUSES = frozenset({429, 502, 503, 504})

#: Failures where nothing was sent: always safe to retry.
_NOTHING_SENT = frozenset({CONNECT_FAILED, CONNECT_TIMED_OUT})


def should_retry(
    attempt: int,
    max_retries: int,
    *,
    status: int | None = None,
    failure: str | None = None,
    side_effects: bool = False,
    yielded: bool = False,
) -> bool:
    """Decide whether to retry after ``attempt`` failed attempts (1 = the first one).

    Connection failures before sending are always retried. Retryable statuses and dropped
    connections are retried only for calls without side effects. Read timeouts are not
    retried (the server is still working), nor is anything once a stream has yielded.
    """
    if attempt > max_retries or yielded:
        return False
    if failure in _NOTHING_SENT:
        return True
    if side_effects:
        return False
    if failure == DROPPED:
        return True
    return status in RETRY_STATUSES


def _seconds(value: str | None) -> float | None:
    """Return a header's number of seconds if it is one that can be waited (finite, >= 0)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds < float("inf") else None


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Return the delay the server asks for (``retry-after-ms`` or ``Retry-After``), if any."""
    lowered = {k.lower(): v for k, v in headers.items() if k.lower().startswith("retry-after")}
    millis = _seconds(lowered.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    value = lowered.get("retry-after")
    if value is None:
        return None
    seconds = _seconds(value)
    if seconds is not None or not value.strip() or value.strip()[0] in "+-.0123456789":
        return seconds  # a negative or unreadable number asks for nothing: normal backoff
    import email.utils  # only for the rare HTTP-date form

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def backoff(retry: int, jitter: float) -> float:
    """Return ``min(0.5 * 2**retry, 8) * jitter`` (retry counts from 0)."""
    return min(BACKOFF_BASE * 2.0**retry, MAX_BACKOFF) * jitter


def retry_delay(
    retry: int,
    headers: Mapping[str, str] | None = None,
    *,
    rand: Callable[[], float] = random.random,
    now: float | None = None,
) -> float:
    """Return seconds to wait before retry number ``retry`` (from 0).

    A server-given delay between 0 and ``MAX_RETRY_AFTER`` wins; otherwise exponential
    backoff with a jitter in [0.75, 1].
    """
    asked = parse_retry_after(headers, now) if headers else None
    if asked is not None and asked <= MAX_RETRY_AFTER:
        return asked
    return backoff(retry, 1.0 - 0.25 * rand())


class Retrying:
    """Count the attempts of one call; after each failure say whether to retry, and when.

    ::

        retrying = Retrying(max_retries, call.side_effects)
        while True:
            ...send...
            delay = retrying.delay(status=503, headers=headers)  # or failure=...
            if delay is None:
                raise error
            sleep(delay)
    """

    __slots__ = ("_rand", "attempt", "max_retries", "side_effects")

    def __init__(
        self, max_retries: int, side_effects: bool, rand: Callable[[], float] = random.random
    ) -> None:
        self.max_retries = max_retries
        self.side_effects = side_effects
        self.attempt = 0
        self._rand = rand

    def start(self) -> None:
        """Count one more attempt."""
        self.attempt += 1

    def delay(
        self,
        *,
        status: int | None = None,
        failure: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> float | None:
        """Return the seconds to wait before the next attempt, or None to give up."""
        if not should_retry(
            self.attempt, self.max_retries, status=status, failure=failure,
            side_effects=self.side_effects,
        ):
            return None
        return retry_delay(self.attempt - 1, headers, rand=self._rand)
