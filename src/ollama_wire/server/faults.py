"""Deterministic fault injection, scripted per model, per path or per request.

A `Fault` says what goes wrong; `Faults` holds the queue the server consults. Each request
takes the first matching fault that has uses left (``times``; ``None`` means every time) and
uses it up by one. Counts, never probabilities, so a test knows exactly what happens.

Fields (all optional; combine them freely):

========================  =========================================================================
``model``, ``path``       match only this model (any spelling of the name) / this path
``status``                answer with this HTTP status and ``{"error": error}`` before any byte
``retry_after``           with ``status``: send ``Retry-After`` with this value (seconds or a date)
``error_after``           after k chunks, send ``{"error": error}`` and end the stream (status 200)
``drop_after``            after k chunks, drop the connection (no terminating chunk)
``truncate_after``        after k chunks, end the stream cleanly without ``done: true``
``malformed_after``       after k chunks, send a line that is not JSON
``invalid_utf8_after``    after k chunks, send a line whose text holds bytes that are not UTF-8
``reset_after``           after k chunks, abort the connection with a TCP reset (0: before any byte)
``long_line``             make the first chunk's text this many characters long
``delay_headers``         seconds to wait before sending the status line
``delay_chunks``          seconds to wait before each chunk
``error``                 the message (default: `DEFAULT_FAULT_ERROR`)
========================  =========================================================================

For a ``stream: false`` request, and on every route that does not stream (embed, show, tags,
ps, version...), ``error_after`` gives HTTP 500 (a generation's once it made k chunks),
``drop_after`` and ``reset_after`` close the connection before the reply, ``malformed_after``
sends a body that is not JSON and ``invalid_utf8_after`` one that is not UTF-8.

``drop_after`` closes cleanly (FIN: the client sees the body end early); ``reset_after`` aborts
(RST: the client's next read fails with "connection reset by peer"). A server restart between
two attempts is `OllamaServer.restart`.

From another process:

- header ``X-Ollama-Wire-Fault: status=503; retry_after=1`` applies to that request only
  (``key=value`` pairs separated by ``;`` or ``,``);
- ``POST /_wire/faults`` with a JSON object of the fields above (plus ``times``) queues a fault;
  ``GET /_wire/faults`` lists them; ``DELETE /_wire/faults`` clears them.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any

from ollama_wire.server._wire import parse_name

__all__ = ["DEFAULT_FAULT_ERROR", "Fault", "Faults"]

DEFAULT_FAULT_ERROR = "an error was encountered while running the model"

_AFTER_FIELDS = (
    "error_after",
    "drop_after",
    "truncate_after",
    "malformed_after",
    "invalid_utf8_after",
    "reset_after",
)
_INT_FIELDS = ("status", *_AFTER_FIELDS, "long_line", "times")
_FLOAT_FIELDS = ("delay_headers", "delay_chunks")
_STR_FIELDS = ("model", "path", "error", "retry_after")


@dataclass
class Fault:
    """One scripted failure; see the module docstring for the fields."""

    model: str | None = None
    path: str | None = None
    times: int | None = 1
    status: int | None = None
    error: str | None = None
    retry_after: str | None = None
    error_after: int | None = None
    drop_after: int | None = None
    truncate_after: int | None = None
    malformed_after: int | None = None
    invalid_utf8_after: int | None = None
    reset_after: int | None = None
    long_line: int | None = None
    delay_headers: float = 0.0
    delay_chunks: float = 0.0

    def __post_init__(self) -> None:
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {self.status}")
        if self.times is not None and self.times < 1:
            raise ValueError(f"times must be at least 1 or None, got {self.times}")
        if self.retry_after is not None and not isinstance(self.retry_after, str):
            self.retry_after = str(self.retry_after)
        for name in _AFTER_FIELDS:
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if self.delay_headers < 0 or self.delay_chunks < 0:
            raise ValueError("delays must be >= 0")

    @property
    def message(self) -> str:
        """Return the error message this fault sends."""
        return self.error or DEFAULT_FAULT_ERROR

    def matches(self, model: str | None, path: str) -> bool:
        """Tell whether this fault applies to a request for ``model`` at ``path``."""
        if self.path is not None and self.path != path:
            return False
        if self.model is None:
            return True
        if model is None:
            return False
        want, got = parse_name(self.model), parse_name(model)
        if want is None or got is None:
            return self.model == model
        return want.key == got.key

    def to_json(self) -> dict[str, Any]:
        """Return the fields that are set, as JSON."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v not in (None, 0.0)}

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> Fault:
        """Build a fault from JSON or header fields; raise ValueError on bad ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(unknown)}")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if value is None:
                kwargs[key] = None
            elif key in _INT_FIELDS:
                if isinstance(value, bool) or not isinstance(value, (int, str)):
                    raise ValueError(f"fault field {key} must be an integer")
                kwargs[key] = int(value)
            elif key in _FLOAT_FIELDS:
                if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                    raise ValueError(f"fault field {key} must be a number")
                kwargs[key] = float(value)
            else:
                kwargs[key] = str(value)
        return cls(**kwargs)

    @classmethod
    def from_header(cls, header: str) -> Fault:
        """Parse ``X-Ollama-Wire-Fault: key=value; key=value``."""
        fields: dict[str, Any] = {}
        for item in header.replace(",", ";").split(";"):
            item = item.strip()
            if not item:
                continue
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"fault header item {item!r} is not key=value")
            fields[key.strip()] = value.strip()
        fields.setdefault("times", 1)
        return cls.from_mapping(fields)


class Faults:
    """The server's queue of faults; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._left: list[int | None] = []

    def add(self, fault: Fault | None = None, /, **fields: Any) -> Fault:
        """Queue ``fault`` (or one built from ``fields``) and return it.

        ``server.faults.add(model="llama3.2", status=503, times=2)`` fails the next two
        requests for that model with 503, then lets them through.
        """
        if fault is None:
            fault = Fault(**fields)
        elif fields:
            fault = dataclasses.replace(fault, **fields)
        with self._lock:
            self._faults.append(fault)
            self._left.append(fault.times)
        return fault

    def clear(self) -> None:
        """Remove every queued fault."""
        with self._lock:
            self._faults.clear()
            self._left.clear()

    def pending(self) -> list[Fault]:
        """Return the faults that still have uses left."""
        with self._lock:
            return [f for f, n in zip(self._faults, self._left, strict=False) if n is None or n > 0]

    def take(self, model: str | None, path: str) -> Fault | None:
        """Use up and return the first fault matching this request, if any."""
        with self._lock:
            for i, fault in enumerate(self._faults):
                left = self._left[i]
                if (left is None or left > 0) and fault.matches(model, path):
                    if left is not None:
                        self._left[i] = left - 1
                    return fault
        return None

    def __len__(self) -> int:
        return len(self.pending())
