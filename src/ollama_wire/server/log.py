"""The server's record of every request it handled, for assertions in tests."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ollama_wire.server.faults import Fault

__all__ = ["BODY_DROPPED", "DEFAULT_LOG_BODY_BYTES", "RequestLog", "RequestRecord"]

#: The request bodies a log keeps in all (older ones are dropped): 256 MiB.
DEFAULT_LOG_BODY_BYTES = 256 * 1024 * 1024
#: What ``body`` reads once a record's body was dropped to keep the log within its budget.
BODY_DROPPED = "<dropped: the request log keeps the latest bodies only>"


@dataclass
class RequestRecord:
    """One request: what arrived and how it ended.

    ``tokens`` counts the tokens the engine produced (for generate and chat);
    ``disconnected`` says the client went away before the reply was complete; ``peer`` is
    the client's ``host:port``; ``connection`` numbers the server's connections from 1, the
    same for requests on one connection (a peer address can come back on a new connection).
    ``finished`` is set once the server is done with the request (use `wait_finished`).
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any = None
    peer: str = ""
    connection: int = 0
    raw_body: bytes = b""
    status: int | None = None
    tokens: int = 0
    chunks: int = 0
    disconnected: bool = False
    fault: Fault | None = None
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    finished: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def model(self) -> str | None:
        """Return the request's ``model`` (or deprecated ``name``) field, if any."""
        if isinstance(self.body, dict):
            value = self.body.get("model") or self.body.get("name")
            return value if isinstance(value, str) else None
        return None

    def header(self, name: str) -> str | None:
        """Return a request header, matched case-insensitively."""
        return self.headers.get(name.lower())

    def wait_finished(self, timeout: float = 5.0) -> bool:
        """Wait until the server is done with this request; return whether it is."""
        return self.finished.wait(timeout)


class RequestLog:
    """A thread-safe list of `RequestRecord` with waiting helpers.

    It keeps the latest ``limit`` records, and the bodies of the latest ones up to
    ``max_body_bytes`` in all (older records lose ``raw_body`` and ``body``, set to ``b""``
    and `BODY_DROPPED`), so a long-running server does not grow forever.
    """

    def __init__(self, limit: int = 10_000, max_body_bytes: int = DEFAULT_LOG_BODY_BYTES) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if max_body_bytes < 0:
            raise ValueError("max_body_bytes must be >= 0")
        self.limit = limit
        self.max_body_bytes = max_body_bytes
        self._records: list[RequestRecord] = []
        self._cond = threading.Condition()
        self._body_bytes = 0
        self._kept: collections.deque[RequestRecord] = collections.deque()

    def add(self, record: RequestRecord) -> None:
        """Append ``record``, dropping the oldest beyond ``limit``."""
        with self._cond:
            self._records.append(record)
            if len(self._records) > self.limit:
                del self._records[: len(self._records) - self.limit]
            self._cond.notify_all()

    def progress(self) -> None:
        """Wake waiters after a record changed (for example, a token was produced)."""
        with self._cond:
            self._cond.notify_all()

    def finish(self, record: RequestRecord) -> None:
        """Mark ``record`` finished and wake waiters."""
        with self._cond:
            record.ended = time.monotonic()
            if record.raw_body:
                self._kept.append(record)
                self._body_bytes += len(record.raw_body)
                while self._kept and (
                    self._body_bytes > self.max_body_bytes or len(self._kept) > self.limit
                ):
                    old = self._kept.popleft()
                    self._body_bytes -= len(old.raw_body)
                    old.raw_body = b""
                    old.body = BODY_DROPPED
            record.finished.set()
            self._cond.notify_all()

    def clear(self) -> None:
        """Forget every record."""
        with self._cond:
            self._records.clear()
            self._kept.clear()
            self._body_bytes = 0

    def snapshot(self) -> list[RequestRecord]:
        """Return the records so far."""
        with self._cond:
            return list(self._records)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        with self._cond:
            return len(self._records)

    def __getitem__(self, index: int) -> RequestRecord:
        with self._cond:
            return self._records[index]

    def matching(self, path: str | None = None, method: str | None = None) -> list[RequestRecord]:
        """Return the records for ``path`` and/or ``method``."""
        return [
            r
            for r in self.snapshot()
            if (path is None or r.path == path) and (method is None or r.method == method)
        ]

    def last(self, path: str | None = None) -> RequestRecord:
        """Return the latest record (for ``path``); raise LookupError if there is none."""
        found = self.matching(path)
        if not found:
            raise LookupError(f"no request recorded for {path or 'any path'}")
        return found[-1]

    def wait_for(
        self,
        predicate: Callable[[RequestRecord], bool] | None = None,
        *,
        count: int = 1,
        finished: bool = True,
        timeout: float = 5.0,
    ) -> list[RequestRecord]:
        """Wait until ``count`` records match ``predicate`` (and are finished); return them.

        Raises TimeoutError naming what was seen if that does not happen within ``timeout``.
        """
        deadline = time.monotonic() + timeout

        def ready() -> list[RequestRecord]:
            return [
                r
                for r in self._records
                if (predicate is None or predicate(r)) and (not finished or r.finished.is_set())
            ]

        with self._cond:
            while True:
                found = ready()
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [f"{r.method} {r.path} -> {r.status}" for r in self._records]
                    raise TimeoutError(
                        f"waited {timeout}s for {count} matching request(s), "
                        f"found {len(found)}; seen: {seen}"
                    )
                self._cond.wait(left)
