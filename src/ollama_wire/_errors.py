"""The exception tree.

::

    OllamaError
    ├── RequestError (also ValueError)       input rejected before anything was sent
    ├── ResponseError(error, status_code)    the server answered with an error
    │   ├── BadRequestError                  400
    │   ├── NotFoundError                    404 (model not found: hints `ollama pull`)
    │   ├── ServerBusyError                  429, 503
    │   ├── ServerError                      other 5xx
    │   ├── StreamError                      an {"error": ...} line inside a 200 stream
    │   └── InvalidResponseError             a body or line that is not what Ollama sends
    │       └── LineTooLongError             a stream line past the line size limit
    ├── ConnectError (also ConnectionError)  could not reach the server
    │   └── ConnectTimeout (also Timeout)
    ├── Timeout (also TimeoutError)
    │   └── ReadTimeout                      no byte arrived within the read timeout
    └── IncompleteStreamError (also ConnectionError)
                                             a stream dropped or ended before its final chunk

Errors raised while a stream is read carry the chunks received so far in ``.chunks``.
"""

from __future__ import annotations

import json

# Not typing.TYPE_CHECKING: this module is imported with the package's public names and
# importing typing would cost more than the module itself.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = [
    "BadRequestError",
    "ConnectError",
    "ConnectTimeout",
    "IncompleteStreamError",
    "InvalidResponseError",
    "LineTooLongError",
    "NotFoundError",
    "OllamaError",
    "ReadTimeout",
    "RequestError",
    "ResponseError",
    "ServerBusyError",
    "ServerError",
    "StreamError",
    "Timeout",
    "error_from_status",
    "transport_error",
]

#: How much of an unexpected body an error message shows.
SHOWN_BODY_CHARS = 200


class OllamaError(Exception):
    """Base of every error this library raises."""

    #: The chunks a stream yielded before it failed (empty outside streams).
    chunks: Sequence[Any] = ()


class RequestError(OllamaError, ValueError):
    """Reject input before anything is sent."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error: str = error


class ResponseError(OllamaError):
    """Report an error the server sent, as the official SDK does.

    ``str(e)`` is ``"<error> (status code: <n>)"``, followed by a hint where one helps.
    A stream error line has ``status_code == -1``.
    """

    def __init__(self, error: str, status_code: int = -1, hint: str = "") -> None:
        try:
            parsed = json.loads(error)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
            error = parsed["error"]
        super().__init__(error)
        self.error: str = error
        self.status_code = status_code
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.error} (status code: {self.status_code})"
        return f"{text}. {self.hint}" if self.hint else text


class BadRequestError(ResponseError):
    """The server rejected the request (400)."""


class NotFoundError(ResponseError):
    """The model or endpoint does not exist (404)."""


class ServerBusyError(ResponseError):
    """The server is overloaded or rate limiting (429, 503)."""


class ServerError(ResponseError):
    """The server failed (5xx)."""


class StreamError(ResponseError):
    """The server reported an error in the middle of a stream."""


class InvalidResponseError(ResponseError):
    """The server sent something that is not a valid Ollama response."""


class LineTooLongError(InvalidResponseError):
    """A stream line grew past the line size limit."""


class ConnectError(OllamaError, ConnectionError):
    """Could not connect to the server."""


class Timeout(OllamaError, TimeoutError):
    """A timeout expired."""


class ConnectTimeout(ConnectError, Timeout):
    """Connecting took longer than the connect timeout."""


class ReadTimeout(Timeout):
    """The server sent no byte within the read timeout."""


class IncompleteStreamError(OllamaError, ConnectionError):
    """A stream dropped or ended before its final chunk."""


for _cls in list(globals().values()):
    if isinstance(_cls, type) and issubclass(_cls, OllamaError):
        _cls.__module__ = "ollama_wire"
del _cls


def preview(data: bytes | str, limit: int = SHOWN_BODY_CHARS) -> str:
    """Render received bytes for an error message, truncated."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if len(text) > limit:
        return f"{text[:limit]!r}... ({len(text)} chars)"
    return repr(text)


def error_from_status(
    status: int, body: bytes, reason: str = "", model: str | None = None, pull: bool = True
) -> ResponseError:
    """Map an HTTP error status and body to the matching exception, with a hint.

    ``model`` is the model the call is about; when the server says it is missing, the hint
    is to pull it if ``pull`` (a call that uses the model), else to list the models there
    are (a call that manages one: show, copy, delete, unload).
    """
    text = body.decode("utf-8", "replace").strip()
    message = text
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "error" in parsed:
        message = str(parsed["error"])
    elif not text:
        message = f"{status} {reason}".strip() + " (empty body)"
    hint = ""
    cls: type[ResponseError] = ResponseError
    if status == 400:
        cls = BadRequestError
    elif status == 404:
        cls = NotFoundError
        if model and "model" in message and pull:
            hint = f"Pull it first: `ollama pull {model}` or ollama_wire.pull({model!r})"
        elif model and "model" in message:
            hint = "Check the name: `ollama list` or ollama_wire.list() shows the models there are"
        elif not isinstance(parsed, dict):
            hint = "The server has no such endpoint: check the host URL and its path"
    elif 300 <= status < 400:
        hint = ("A redirect that was not followed (the client has follow_redirects=False, "
                "or the answer names no Location)")
    elif status in (429, 503):
        cls = ServerBusyError
    elif status >= 500:
        cls = ServerError
    return cls(message, status, hint)


#: Transport failures, as both clients classify their HTTP library's exceptions.
CONNECT_FAILED = "connect"
CONNECT_TIMED_OUT = "connect timeout"
READ_TIMED_OUT = "read timeout"
DROPPED = "dropped"
DROPPED_READING = "dropped while reading"
TLS_FAILED = "tls"
INVALID_REQUEST = "invalid request"
OTHER = "other"


def transport_error(
    failure: str, host: str, path: str, reason: str, local: bool = True
) -> OllamaError:
    """Build the exception for a transport failure, with what to do next.

    ``host`` is the base URL as shown to users (no password); ``reason`` is the library's
    own description, already redacted. ``local`` is False for ollama.com's web API, which
    no ``ollama serve`` or OLLAMA_HOST can fix.
    """
    url = host + path
    if not local and failure in (CONNECT_FAILED, CONNECT_TIMED_OUT):
        kind = ConnectError if failure == CONNECT_FAILED else ConnectTimeout
        return kind(f"Could not reach {host}: check the network and any proxy ({reason})")
    if failure == CONNECT_FAILED:
        return ConnectError(
            f"Could not connect to Ollama at {host}: is it running? "
            f"Start it with `ollama serve`, or set OLLAMA_HOST. ({reason})"
        )
    if failure == CONNECT_TIMED_OUT:
        return ConnectTimeout(
            f"Timed out connecting to Ollama at {host}: is it running and reachable? "
            "Start it with `ollama serve`, or set OLLAMA_HOST, or raise the connect timeout."
        )
    if failure == READ_TIMED_OUT:
        return ReadTimeout(
            f"Ollama at {url} sent nothing for longer than the read timeout; "
            "pass a longer timeout= if the model is slow to load"
        )
    if failure == DROPPED:
        return ConnectError(
            f"The connection to Ollama at {url} dropped before a response arrived ({reason})"
        )
    if failure == DROPPED_READING:
        return IncompleteStreamError(
            f"the connection to {url} dropped while reading the response ({reason})"
        )
    if failure == TLS_FAILED:
        return ConnectError(f"TLS error talking to {url}: {reason}")
    if failure == INVALID_REQUEST:
        return RequestError(f"invalid request to {url}: {reason}")
    return OllamaError(f"request to {url} failed: {reason}")
