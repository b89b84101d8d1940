"""Logging: retries on ``ollama_wire``, the wire trace on ``ollama_wire.wire``; secrets redacted."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import Any

from ollama_wire._host import redact_url

__all__ = [
    "TRACE_ENV",
    "TRACE_LINE_LIMIT",
    "log",
    "log_retry",
    "redact_headers",
    "redact_text",
    "trace_enabled",
    "wire",
]

log = logging.getLogger("ollama_wire")
wire = logging.getLogger("ollama_wire.wire")

TRACE_ENV = "OLLAMA_WIRE_TRACE"
#: Longer traced lines and bodies are cut to this many characters.
TRACE_LINE_LIMIT = 1000
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)
_SECRET_TEXT = re.compile(
    r"(?i)(\"?(?:api[_-]?key|token|password|secret|authorization)\"?\s*[:=]\s*\"?)([^\",\s}]+)"
)


def trace_enabled(flag: bool | None) -> bool:
    """Resolve ``trace=`` against ``OLLAMA_WIRE_TRACE`` and make sure the trace shows.

    When tracing is on and nobody configured logging, a stderr handler is added so that
    ``trace=True`` prints something.
    """
    if flag is None:
        flag = os.environ.get(TRACE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}
    if flag:
        if wire.getEffectiveLevel() > logging.DEBUG:
            wire.setLevel(logging.DEBUG)
        if not wire.hasHandlers():
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
            wire.addHandler(handler)
    return flag


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return headers with credentials replaced by ``***``."""
    return {k: ("***" if k.lower() in _SECRET_HEADERS else v) for k, v in headers.items()}


def redact_text(text: str) -> str:
    """Hide URL passwords and key-like values in free text."""
    text = re.sub(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/@]+@)", lambda m: redact_url(m.group(1)), text)
    return _SECRET_TEXT.sub(r"\1***", text)


def cut(data: bytes | str, limit: int = TRACE_LINE_LIMIT) -> str:
    """Render bytes for the trace, cut to ``limit`` characters."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if len(text) > limit:
        return f"{text[:limit]}... [{len(text) - limit} more chars]"
    return text


def trace_request(method: str, url: str, headers: Mapping[str, str], body: Any) -> None:
    """Log an outgoing request."""
    if isinstance(body, bytes):
        shown = cut(redact_text(body.decode("utf-8", "replace")))
    else:
        shown = "<no body>" if body is None else f"<{body}>"
    wire.debug(
        "> %s %s %s %s", method, redact_url(url), redact_headers(headers), shown
    )


def trace_status(status: int, reason: str, headers: Mapping[str, str]) -> None:
    """Log a response's status line and headers."""
    wire.debug("< %s %s %s", status, reason, redact_headers(dict(headers)))


def trace_line(line: bytes) -> None:
    """Log one response line or body."""
    wire.debug("< %s", cut(line))


def log_retry(
    method: str, path: str, delay: float, retry: int, max_retries: int, reason: str
) -> None:
    """Log a retry at INFO on ``ollama_wire``: what, when, which one and why."""
    log.info(
        "Retrying %s %s in %.2f s (retry %d of %d): %s",
        method, path, delay, retry, max_retries, reason,
    )
