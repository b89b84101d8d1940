"""Sans-IO core: one function per endpoint builds a ``Call``; bytes become typed responses.

Nothing here touches the network. A client (sync or async) only moves bytes:

=====================================  ==============================================
``generate(...)``, ``chat(...)``, ...  check the input, build the `Call` to send
``client_headers(headers, auth)``      the headers every request carries
``check_timeout(timeout)``             ``(connect, read)`` seconds, or None
``check_verify(verify)``               True, False or a CA bundle path
``encode_json(call.body)``             the request body
``parse_body(call, status, body)``     the typed result, or the matching error
``StreamDecoder(call).feed(bytes)``    typed chunks (or ``.parts``, lazily); ``finish()`` at the end
``BodyReader(max_size).feed(bytes)``   a whole body, refused past ``max_size``
``Exchange(call, ...)``                the attempts of one call: retries, trace, errors
=====================================  ==============================================
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import platform
import re
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, Literal, NamedTuple, TypeAlias, TypeVar

from ollama_wire import _trace
from ollama_wire._errors import (
    IncompleteStreamError,
    InvalidResponseError,
    LineTooLongError,
    OllamaError,
    RequestError,
    StreamError,
    error_from_status,
    preview,
)
from ollama_wire._retry import Retrying
from ollama_wire._types import (
    ChatResponse,
    EmbeddingsResponse,
    EmbedResponse,
    GenerateResponse,
    Image,
    ListResponse,
    Message,
    Options,
    ProcessResponse,
    ProgressResponse,
    ShowResponse,
    StatusResponse,
    SubscriptableBaseModel,
    Tool,
    VersionResponse,
    WebFetchResponse,
    WebSearchResponse,
    _to_json,
    encode_image,
)
from ollama_wire._version import __version__

__all__ = [
    "DEFAULT_MAX_LINE_SIZE",
    "DEFAULT_MAX_ROUNDS",
    "DEFAULT_POOL_SIZE",
    "DEFAULT_TIMEOUT",
    "READ",
    "SEND",
    "SLEEP",
    "UNSET",
    "BodyReader",
    "Call",
    "Exchange",
    "Failure",
    "Head",
    "LineDecoder",
    "StreamDecoder",
    "blob",
    "chat",
    "check_timeout",
    "check_verify",
    "client_headers",
    "copy",
    "create",
    "delete",
    "embed",
    "embeddings",
    "encode_json",
    "generate",
    "list_models",
    "parse_body",
    "ps",
    "pull",
    "push",
    "show",
    "unload",
    "user_agent",
    "version",
]

T = TypeVar("T")
#: (connect, read) seconds; read is the idle time between bytes, long because Ollama sends
#: nothing while it loads a model.
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 300.0)
#: Connections kept open per host, enough for 16 threads (or tasks) and their streams.
DEFAULT_POOL_SIZE = 32
_raw_decode = json.JSONDecoder().raw_decode
#: The largest stream line accepted (16 MiB): bigger means a broken server or proxy.
DEFAULT_MAX_LINE_SIZE = 16 * 1024 * 1024
#: How many chat calls ``run_tools`` makes at most before giving up.
DEFAULT_MAX_ROUNDS = 8
THINK_LEVELS = ("low", "medium", "high", "max")

MessageLike: TypeAlias = "Mapping[str, Any] | Message"
OptionsLike: TypeAlias = "Mapping[str, Any] | Options"
ImageLike: TypeAlias = "str | bytes | Path | Image"
ToolLike: TypeAlias = "Mapping[str, Any] | Tool | Callable[..., Any]"
FormatLike: TypeAlias = "Literal['', 'json'] | Mapping[str, Any] | type | None"
ThinkLike: TypeAlias = "bool | Literal['low', 'medium', 'high', 'max'] | None"
KeepAlive: TypeAlias = "float | str | None"
TimeoutLike: TypeAlias = "float | tuple[float | None, float | None] | None"


class _Unset:
    """The type of `UNSET`, which tells "not given" apart from ``None``."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


class Call(Generic[T]):
    """One request to send, and how to read its answer.

    A plain class, not a dataclass: ``dataclasses`` imports ``inspect`` and ``ast``, which
    would add some 0.8 MiB to every process that makes a client.
    """

    __slots__ = ("body", "empty", "final", "method", "model", "origin", "path", "pull",
                 "result", "side_effects", "stream", "upload", "wrap")

    def __init__(
        self,
        method: str,
        path: str,
        wrap: Callable[[dict[str, Any]], T],
        body: dict[str, Any] | None = None,
        *,
        upload: Path | None = None,
        stream: bool = False,
        side_effects: bool = False,
        final: tuple[str, Any] = ("done", True),
        empty: Mapping[str, Any] | None = None,
        result: Any = None,
        model: str | None = None,
        pull: bool = True,
        origin: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.wrap = wrap
        self.body = body
        #: A file to send as the raw body instead of JSON (blob upload).
        self.upload = upload
        self.stream = stream
        #: Sending it twice may do twice what it does (push, create, delete): it is retried
        #: only when nothing was sent.
        self.side_effects = side_effects
        #: The key and value that mark a stream's final chunk.
        self.final = final
        #: The JSON object an empty 2xx body stands for (copy and delete answer with nothing).
        self.empty = empty
        #: A fixed result that replaces the body (create_blob returns the digest).
        self.result = result
        #: The model the call is about, for error hints.
        self.model = model
        #: Whether pulling a missing ``model`` is the hint (a call that uses the model; not
        #: one that manages it, as show, copy, delete and unload do).
        self.pull = pull
        #: The server to send to when it is not the client's host (ollama.com's web API).
        self.origin = origin

    def __repr__(self) -> str:
        return f"Call({self.method} {self.path}, stream={self.stream})"


def encode_json(body: Mapping[str, Any]) -> bytes:
    """Serialize a request body compactly as UTF-8; a value JSON cannot carry is a `RequestError`.

    NaN and infinity are refused: Python would write them as ``NaN``, which is not JSON.
    """
    try:
        return json.dumps(
            body, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        found = _unencodable(body, "", set())
        where, problem = found if found is not None else ("the request", f"failed: {exc}")
        raise RequestError(f"{where} {problem}; nothing was sent") from None


def _unencodable(value: Any, where: str, seen: set[int]) -> tuple[str, str] | None:
    """Find the first value that JSON cannot carry: (where it is, what is wrong), or None."""
    cannot = "which JSON cannot carry"
    if value is None or isinstance(value, (bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (where, f"is {value!r}, {cannot}")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return (where or "a key", "holds a lone surrogate, which UTF-8 cannot carry")
        return None
    if isinstance(value, (dict, list, tuple)):
        if id(value) in seen:
            return (where or "the request", "contains itself")
        seen.add(id(value))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if key is not None and not isinstance(key, (str, int, float)):
                return (where or "the request", f"has a key of type {type(key).__name__}, {cannot}")
            inner = f"{where}[{key!r}]" if where else str(key)
            found = _unencodable(key, inner, seen) or _unencodable(item, inner, seen)
            if found is not None:
                return found
        seen.discard(id(value))
        return None
    return (where or "the request", f"is of type {type(value).__name__}, {cannot}")


def parse_body(call: Call[T], status: int, body: bytes, reason: str = "") -> T:
    """Turn a whole response body into the call's result, or raise the matching error."""
    if status >= 300:  # a redirect here was not followed
        raise error_from_status(status, body, reason, call.model, call.pull)
    if call.result is not None:
        return call.result  # type: ignore[no-any-return]
    if not body or body.isspace():  # not strip(): that copies the body
        if call.empty is not None:
            return call.wrap(dict(call.empty))
        raise InvalidResponseError(f"empty response body from {call.path}", status)
    data = _loads(body, status)
    if "error" in data:  # an error in a 2xx body
        raise error_from_status(500, body, reason, call.model, call.pull)
    return call.wrap(data)


def _loads(line: bytes, status: int = -1) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        message = f"invalid JSON from the server: {preview(line)}"
        raise InvalidResponseError(message, status) from None
    if not isinstance(data, dict):
        raise InvalidResponseError(f"expected a JSON object, got {preview(line)}", status)
    return data


class LineDecoder:
    """Split bytes into lines on ``b"\\n"`` only; keep partial lines across chunks.

    Feeding is linear in the input: a partial line is kept as a list of parts and joined once.
    A line longer than ``max_line_size`` raises ``LineTooLongError`` as soon as it is
    detected, without buffering the rest of it.
    """

    __slots__ = ("_max", "_parts", "_size")

    def __init__(self, max_line_size: int = DEFAULT_MAX_LINE_SIZE) -> None:
        if max_line_size < 1:
            raise RequestError(f"max_line_size must be at least 1, got {max_line_size}")
        self._max = max_line_size
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Return the complete, non-blank lines ``data`` finishes (without newlines)."""
        if b"\n" not in data:
            if data:
                self._keep(data)
            return []
        lines = data.split(b"\n")
        if self._parts:
            self._parts.append(lines[0])
            self._size += len(lines[0])
            lines[0] = b"".join(self._parts)
            self._parts, self._size = [], 0
        tail = lines.pop()
        if tail:
            self._keep(tail)
        limit = self._max
        out = []
        for line in lines:
            if len(line) > limit:
                self._too_long(line)
            if line and line != b"\r":
                out.append(line)
        return out

    def flush(self) -> list[bytes]:
        """Return the last line when the input ended without a newline."""
        line = b"".join(self._parts)
        self._parts, self._size = [], 0
        return [line] if line.strip() else []

    def _keep(self, part: bytes) -> None:
        self._parts.append(part)
        self._size += len(part)
        if self._size > self._max:
            head = b"".join(self._parts)[:200]
            self._parts, self._size = [], 0
            self._too_long(head)

    def _too_long(self, head: bytes) -> None:
        raise LineTooLongError(
            f"a stream line is longer than the {self._max}-byte limit "
            f"(max_line_size); it starts with {preview(head, 100)}"
        )


#: A stream's received bytes are kept as they are up to this size; past it they are kept
#: compressed (zlib level 1: NDJSON shrinks ~15x for ~0.4 µs a line), so that keeping a long
#: stream's history for `StreamDecoder.chunks` costs little memory, and a short one nothing.
KEEP_RAW = 256 * 1024


class _History:
    """Every byte a stream received, in order; compressed once it passes `KEEP_RAW`."""

    __slots__ = ("_packed", "_raw", "_zip")

    def __init__(self) -> None:
        self._raw = bytearray()
        self._zip: Any = None
        self._packed: list[bytes] = []

    def add(self, data: bytes) -> None:
        """Keep ``data``, after what came before."""
        if self._zip is not None:
            packed = self._zip.compress(data)
            if packed:
                self._packed.append(packed)
            return
        self._raw += data
        if len(self._raw) > KEEP_RAW:
            # Level 1 with a 4 KiB window and little state (~24 KiB): NDJSON lines repeat
            # their field names, so a small window finds nearly all there is to find.
            self._zip = zlib.compressobj(1, zlib.DEFLATED, 12, 4)
            self._packed.append(self._zip.compress(self._raw))
            self._raw = bytearray()

    def received(self) -> bytes:
        """Return the bytes received so far."""
        if self._zip is None:
            return bytes(self._raw)
        self._packed.append(self._zip.flush(zlib.Z_SYNC_FLUSH))  # and go on compressing
        return zlib.decompressobj().decompress(b"".join(self._packed))


class StreamDecoder(Generic[T]):
    """Turn NDJSON bytes into typed chunks; raise on error lines and on early ends.

    ``chunks`` gives every chunk decoded so far and errors raised here carry it. It is
    rebuilt from the bytes received on each access: keeping those (compressed past
    `KEEP_RAW`) costs a fraction of keeping the typed chunks, which matters for long
    streams. With ``trace=True`` each line is logged on the wire trace before it is decoded.
    """

    __slots__ = ("_call", "_history", "_lines", "_trace", "count", "done")

    def __init__(
        self, call: Call[T], max_line_size: int = DEFAULT_MAX_LINE_SIZE, *, trace: bool = False
    ) -> None:
        self._call = call
        self._lines = LineDecoder(max_line_size)
        self._trace = trace
        self._history = _History()
        #: How many chunks were decoded so far.
        self.count = 0
        self.done = False

    @property
    def chunks(self) -> list[T]:
        """Return the chunks decoded so far, decoding again the lines they came from."""
        out: list[T] = []
        wrap = self._call.wrap
        received = self._history.received()
        start = 0
        # Each counted chunk came from a line held in ``received``, in order.
        while len(out) < self.count and start <= len(received):
            end = received.find(b"\n", start)
            if end < 0:
                end = len(received)  # the last line of a body without a final newline
            data = self._decode(received[start:end])
            if data is not None:
                out.append(wrap(data))
            start = end + 1
        return out

    def feed(self, data: bytes) -> list[T]:
        """Return the chunks completed by ``data``."""
        return list(self.parts(data))

    def parts(self, data: bytes) -> Iterator[T]:
        """Take ``data`` now; return an iterator over the chunks it completes.

        A chunk counts (in ``count``, ``chunks`` and the errors) once it is handed over, so
        a consumer that stops inside a block leaves the rest of it uncounted, and a bad line
        raises after the chunks before it were handed over: a block read holds many lines,
        yet the caller sees what it would see if each read brought one.
        """
        try:
            lines = self._lines.feed(data)
        except LineTooLongError as exc:
            exc.chunks = self.chunks
            raise
        self._history.add(data)
        return self._records(lines)

    def finish(self) -> list[T]:
        """Decode what is left at the end of the body; raise if the final chunk never came."""
        out = list(self._records(self._lines.flush()))
        if not self.done:
            key, value = self._call.final
            err = IncompleteStreamError(
                f"the stream from {self._call.path} ended after {self.count} chunk(s) "
                f"without its final chunk ({key}={json.dumps(value)}); "
                "the server or a proxy cut it short"
            )
            err.chunks = self.chunks
            raise err
        return out

    def fail(self, exc: OllamaError) -> OllamaError:
        """Attach the chunks received so far to an error and return it."""
        exc.chunks = self.chunks
        return exc

    def _records(self, lines: list[bytes]) -> Iterator[T]:
        key, value = self._call.final
        wrap = self._call.wrap
        trace = self._trace
        for line in lines:
            if trace:
                _trace.trace_line(line)
            try:
                data = self._decode(line)
                if data is None:
                    continue
                if "error" in data:
                    raise StreamError(str(data["error"]))
            except OllamaError as exc:
                raise self.fail(exc) from None
            part = wrap(data)
            if data.get(key) == value:
                self.done = True
            self.count += 1
            yield part

    def _decode(self, line: bytes) -> dict[str, Any] | None:
        """Decode one line to a JSON object; None for a blank line."""
        # The hot path: one UTF-8 decode and one raw_decode per line, no encoding sniffing.
        try:
            text = line.decode("utf-8")
            data, end = _raw_decode(text)
            if end != len(text) and not text[end:].isspace():
                raise ValueError("extra data after the JSON object")
        except (ValueError, RecursionError):
            data = self._slow(line)
            if data is None:
                return None
        if type(data) is not dict:
            raise InvalidResponseError(f"expected a JSON object in the stream, got {preview(line)}")
        return data

    def _slow(self, line: bytes) -> Any:
        """Decode a line the fast path refused: blank (None), padded, or invalid (raise)."""
        if not line.strip():
            return None
        try:
            return json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError):
            message = f"invalid JSON line in the stream: {preview(line)}"
            raise InvalidResponseError(message) from None



class BodyReader:
    """Collect a whole response body, refusing one longer than ``max_size``.

    A whole reply is one JSON line, so the stream's ``max_line_size`` bounds it too: a
    broken server or proxy cannot make the client read gigabytes into memory.
    """

    __slots__ = ("_max", "_parts", "_size")

    def __init__(self, max_size: int = DEFAULT_MAX_LINE_SIZE) -> None:
        self._max = max_size
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, data: bytes) -> None:
        """Keep ``data``; raise `LineTooLongError` once the body passes the limit."""
        self._parts.append(data)
        self._size += len(data)
        if self._size > self._max:
            head = b"".join(self._parts)[:200]
            self._parts = []
            raise LineTooLongError(
                f"the response body is longer than the {self._max}-byte limit "
                f"(max_line_size); it starts with {preview(head, 100)}"
            )

    def body(self) -> bytes:
        """Return the body received."""
        return b"".join(self._parts)


# The attempts of one call -----------------------------------------------------------------

#: The steps `Exchange` asks its client to perform, with what each gets back in ``result``:
#: send the request (a `Head`, or a `Failure`)...
SEND = "send"
#: ...read the whole body of the response given and close it (bytes, or a `Failure`)...
READ = "read"
#: ...wait the seconds given before the next attempt (None).
SLEEP = "sleep"


class Head(NamedTuple):
    """A response whose status line and headers arrived; ``response`` is the client's own."""

    status: int
    reason: str
    headers: Mapping[str, str]
    response: Any


class Failure(NamedTuple):
    """A transport failure: its kind (an ``_errors`` constant) and the exception to raise."""

    kind: str
    error: OllamaError


class Exchange:
    """Decide the attempts of one call, for both clients: retries, backoff, trace and errors.

    The client moves the bytes: it performs each step and puts the outcome in ``result``.
    Its loop is the same in both clients but for ``await``::

        exchange = Exchange(call, url, headers, max_retries, trace)
        for step, arg in exchange:
            exchange.result = perform(step, arg)    # SEND, READ or SLEEP
        return exchange.value  # the call's result, or the open response of a stream

    The server's errors, and the transport's once retries run out, are raised from the loop.
    """

    __slots__ = ("call", "data", "headers", "max_retries", "result", "trace", "url", "value")

    def __init__(
        self, call: Call[Any], url: str, headers: Mapping[str, str], max_retries: int,
        trace: bool,
    ) -> None:
        self.call = call
        self.url = url
        self.headers = headers
        self.max_retries = max_retries
        self.trace = trace
        #: The request body as sent (None for a GET or a file upload).
        self.data = None if call.body is None else encode_json(call.body)
        self.result: Any = None
        self.value: Any = None

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        call = self.call
        retrying = Retrying(self.max_retries, call.side_effects)
        while True:
            retrying.start()
            if self.trace:
                _trace.trace_request(call.method, self.url, self.headers,
                                     call.upload or self.data)
            yield SEND, None
            head = self.result
            if isinstance(head, Failure):
                delay = retrying.delay(failure=head.kind)
                if delay is None:
                    raise head.error
                reason = str(head.error)
            else:
                if self.trace:
                    _trace.trace_status(head.status, head.reason, head.headers)
                if head.status < 300 and call.stream:
                    self.value = head.response
                    return
                yield READ, head.response
                body = self.result
                if head.status < 300 and isinstance(body, Failure):
                    raise body.error
                if isinstance(body, Failure):
                    body = b""  # the status says enough
                if self.trace:
                    _trace.trace_line(body)
                if head.status < 300:
                    self.value = parse_body(call, head.status, body, head.reason)
                    return
                delay = retrying.delay(status=head.status, headers=head.headers)
                if delay is None:
                    raise error_from_status(head.status, body, head.reason, call.model,
                                            call.pull)
                reason = f"HTTP {head.status}"
            _trace.log_retry(call.method, call.path, delay, retrying.attempt, self.max_retries,
                             reason)
            yield SLEEP, delay


# Client settings ---------------------------------------------------------------------------


def user_agent() -> str:
    """Return ``ollama-wire/<version> (<arch> <os>) Python/<version>``."""
    return (
        f"ollama-wire/{__version__} ({platform.machine().lower()} {platform.system().lower()}) "
        f"Python/{platform.python_version()}"
    )


def client_headers(
    headers: Mapping[str, str | None] | None, auth: tuple[str, str] | None
) -> dict[str, str]:
    """Return the headers every request carries, lower-cased, as the official SDK sends them.

    The user's headers come first (``None`` drops one); ``Content-Type``, ``Accept`` and
    ``User-Agent`` are forced. ``Authorization`` is, in order: the user's, basic auth from
    the host URL, then ``Bearer $OLLAMA_API_KEY``.
    """
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not isinstance(value, (str, type(None))):
            raise RequestError(f"headers: names and values must be strings (None drops a "
                               f"header), not {name!r}: {value!r}")
    merged = {k.lower(): v for k, v in (headers or {}).items() if v is not None}
    merged["content-type"] = "application/json"
    merged["accept"] = "application/json"
    merged["user-agent"] = user_agent()
    if auth is not None and "authorization" not in merged:
        token = base64.b64encode(":".join(auth).encode()).decode("ascii")
        merged["authorization"] = f"Basic {token}"
    api_key = os.environ.get("OLLAMA_API_KEY", "").strip()
    if api_key and "authorization" not in merged:
        merged["authorization"] = f"Bearer {api_key}"
    return merged


# Input conversion ------------------------------------------------------------------------------

_GO_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$")


#: Longer than a socket can wait (about 292 years); a timeout this long means no limit.
_FOREVER = 2**63 / 1e9


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value) if value < _FOREVER else None  # math.inf: no limit
    raise RequestError(f"a timeout must be a positive number of seconds or None, not {value!r}")


def check_timeout(value: Any) -> tuple[float | None, float | None] | None:
    """Check ``timeout=``: seconds for both phases, a (connect, read) pair, or None (no limit).

    ``math.inf`` (or any time too long for a socket to wait) is no limit, as None is. An
    ``httpx.Timeout``, which code written for the official SDK may pass, gives its connect
    and read limits (its write limit is the read one here, as with requests).
    """
    if hasattr(value, "connect") and hasattr(value, "read"):  # httpx.Timeout, not imported
        return (_seconds(value.connect), _seconds(value.read))
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise RequestError(f"timeout must be seconds or a (connect, read) pair, not {value!r}")
        return (_seconds(value[0]), _seconds(value[1]))
    seconds = _seconds(value)
    return None if seconds is None else (seconds, seconds)


def check_verify(value: Any) -> bool | str:
    """Check ``verify=``: True, False, or the path of a CA bundle file or directory."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if isinstance(path, str) and path and os.path.exists(path):
            return path
        raise RequestError(f"verify: no CA bundle at {path!r}; pass a PEM file, a directory, "
                           "True (the system's or the environment's) or False (no checks)")
    raise RequestError(f"verify must be True, False or a CA bundle path, not {value!r}")


def _model(model: Any, what: str = "model") -> str:
    if not isinstance(model, str) or not model.strip():
        raise RequestError(f"{what} is required: pass a model name such as 'llama3.2'")
    return model


def _plain(value: Any) -> Any:
    return _to_json(value) if isinstance(value, SubscriptableBaseModel) else value


def convert_options(options: OptionsLike | None) -> dict[str, Any] | None:
    """Return options as a dict, checking the one type Ollama is strict and unclear about."""
    if options is None:
        return None
    if isinstance(options, Options):
        result = {k: v for k, v in _to_json(options).items() if v is not None}
    elif isinstance(options, Mapping):
        result = dict(options)
    else:
        raise RequestError(f"options must be a dict or Options, not {type(options).__name__}")
    stop = result.get("stop")
    if isinstance(stop, str):
        raise RequestError(f"options['stop'] must be a list of strings, e.g. [{stop!r}]")
    return result


def convert_keep_alive(keep_alive: KeepAlive) -> float | str | None:
    """Check ``keep_alive``: seconds as a number, or a Go duration such as ``"5m"``."""
    if keep_alive is None:
        return None
    if isinstance(keep_alive, bool) or not isinstance(keep_alive, (int, float, str)):
        raise RequestError(
            f"keep_alive must be seconds or a duration string like '5m', not {keep_alive!r}"
        )
    if isinstance(keep_alive, str):
        text = keep_alive.strip()
        if text != "0" and not _GO_DURATION.match(text):
            raise RequestError(
                f"keep_alive {keep_alive!r} is not a duration: use a unit, as in '300s', "
                "'5m' or '1h', or pass a number of seconds"
            )
        return text
    return keep_alive


def convert_think(think: ThinkLike) -> bool | str | None:
    """Check ``think``: a bool or one of the levels."""
    if think is None or isinstance(think, bool):
        return think
    if isinstance(think, str) and think in THINK_LEVELS:
        return think
    raise RequestError(f"think must be True, False or one of {THINK_LEVELS}, not {think!r}")


def convert_format(fmt: FormatLike) -> str | dict[str, Any] | None:
    """Return ``format`` as "json", a schema dict, or a schema built from a class or type."""
    if fmt is None or fmt in ("", "json"):
        return fmt
    if isinstance(fmt, Mapping):
        return dict(fmt)
    if isinstance(fmt, (str, bytes, int, float, list, tuple, set)):
        raise RequestError(f"format must be 'json', a JSON schema dict or a class, not {fmt!r}")
    from ollama_wire._tools import format_schema

    # Classes, and annotations such as list[Point]; format_schema names what it cannot express.
    return format_schema(fmt)


def convert_images(images: Sequence[ImageLike] | None) -> list[str] | None:
    """Return images as base64 strings, rejecting bad ones before sending."""
    if images is None:
        return None
    if isinstance(images, (str, bytes, Path, Image)):
        images = [images]
    out = []
    for index, image in enumerate(images):
        try:
            out.append(encode_image(image))
        except ValueError as exc:
            raise RequestError(f"images[{index}]: {exc}") from None
    return out


#: A message's fields that are text.
_MESSAGE_TEXT = ("content", "thinking", "tool_name")


def _text(value: Any, what: str) -> Any:
    """Return ``value`` if it is a string or None; else fail naming ``what``."""
    if value is not None and not isinstance(value, str):
        raise RequestError(f"{what} must be a string, not {type(value).__name__} {value!r:.60}")
    return value


def convert_context(context: Sequence[int] | None) -> list[int] | None:
    """Return ``context=`` (the token numbers an earlier generate returned) as a list."""
    if context is None:
        return None
    if isinstance(context, (str, bytes)) or not isinstance(context, Sequence) or not all(
        isinstance(token, int) and not isinstance(token, bool) for token in context
    ):
        raise RequestError(f"context must be the list of token numbers an earlier generate "
                           f"returned, not {context!r:.60}")
    return list(context)


def convert_messages(messages: Sequence[MessageLike] | None) -> list[dict[str, Any]]:
    """Return messages as dicts without empty fields, with images encoded."""
    if messages is None:
        return []
    if isinstance(messages, (Mapping, Message, str)):
        raise RequestError("messages must be a list of messages, e.g. [{'role': 'user', ...}]")
    out = []
    for index, message in enumerate(messages):
        data: Mapping[str, Any]
        if isinstance(message, Message):
            data = message._data
        elif isinstance(message, Mapping):
            data = message
        else:
            raise RequestError(f"messages[{index}] must be a dict or Message, not {message!r}")
        if not isinstance(data.get("role"), str):
            raise RequestError(f"messages[{index}] needs a 'role' string: {message!r}")
        for key in _MESSAGE_TEXT:
            _text(data.get(key), f"messages[{index}].{key}")
        item: dict[str, Any] = {}
        for key, value in data.items():
            if not value:
                continue
            if key == "images":
                try:
                    item[key] = convert_images(value)
                except RequestError as exc:
                    raise RequestError(f"messages[{index}].{exc.error}") from None
            else:
                item[key] = _to_json(value)
        out.append(item)
    return out


def convert_tools(tools: Sequence[ToolLike] | None) -> list[dict[str, Any]]:
    """Return tools as JSON-Schema dicts; Python functions go through ``_tools``."""
    out = []
    for index, tool in enumerate(tools or ()):
        if isinstance(tool, (Mapping, Tool)):
            out.append(_to_json(tool))
        elif callable(tool):
            from ollama_wire._tools import tool_from_function

            out.append(tool_from_function(tool))
        else:
            raise RequestError(f"tools[{index}] must be a dict, Tool or function, not {tool!r}")
    return out


def _body(required: dict[str, Any], **optional: Any) -> dict[str, Any]:
    """Return the required fields plus every optional one that is not None."""
    for key, value in optional.items():
        if value is not None:
            required[key.rstrip("_")] = value
    return required


# Endpoints -------------------------------------------------------------------------------------

_PROGRESS_FINAL = ("status", "success")


def generate(
    model: str = "",
    prompt: str | None = None,
    suffix: str | None = None,
    *,
    system: str | None = None,
    template: str | None = None,
    context: Sequence[int] | None = None,
    stream: bool = False,
    think: ThinkLike = None,
    logprobs: bool | None = None,
    top_logprobs: int | None = None,
    raw: bool | None = None,
    format: FormatLike = None,
    images: Sequence[ImageLike] | None = None,
    options: OptionsLike | None = None,
    keep_alive: KeepAlive = None,
    width: int | None = None,
    height: int | None = None,
    steps: int | None = None,
) -> Call[GenerateResponse]:
    """Build POST /api/generate."""
    body = _body(
        {"model": _model(model)},
        prompt=_text(prompt, "prompt"),
        suffix=_text(suffix, "suffix"),
        system=_text(system, "system"),
        template=_text(template, "template"),
        context=convert_context(context),
        think=convert_think(think),
        logprobs=logprobs,
        top_logprobs=top_logprobs,
        raw=raw,
        format=convert_format(format),
        images=convert_images(images),
        options=convert_options(options),
        keep_alive=convert_keep_alive(keep_alive),
        width=width,
        height=height,
        steps=steps,
    )
    body["stream"] = bool(stream)
    return Call("POST", "/api/generate", GenerateResponse._wrap, body, stream=stream, model=model)


def chat(
    model: str = "",
    messages: Sequence[MessageLike] | None = None,
    *,
    tools: Sequence[ToolLike] | None = None,
    stream: bool = False,
    think: ThinkLike = None,
    logprobs: bool | None = None,
    top_logprobs: int | None = None,
    format: FormatLike = None,
    options: OptionsLike | None = None,
    keep_alive: KeepAlive = None,
) -> Call[ChatResponse]:
    """Build POST /api/chat."""
    body = _body(
        {
            "model": _model(model),
            "messages": convert_messages(messages),
            "tools": convert_tools(tools),
            "stream": bool(stream),
        },
        think=convert_think(think),
        logprobs=logprobs,
        top_logprobs=top_logprobs,
        format=convert_format(format),
        options=convert_options(options),
        keep_alive=convert_keep_alive(keep_alive),
    )
    return Call("POST", "/api/chat", ChatResponse._wrap, body, stream=stream, model=model)


def embed(
    model: str = "",
    input: str | Sequence[str] = "",
    truncate: bool | None = None,
    options: OptionsLike | None = None,
    keep_alive: KeepAlive = None,
    dimensions: int | None = None,
) -> Call[EmbedResponse]:
    """Build POST /api/embed."""
    if not isinstance(input, str):
        if not isinstance(input, Sequence) or not all(isinstance(i, str) for i in input):
            raise RequestError(f"input must be a string or a list of strings, not {input!r:.80}")
        input = list(input)
    body = _body(
        {"model": _model(model), "input": input},
        truncate=truncate,
        options=convert_options(options),
        keep_alive=convert_keep_alive(keep_alive),
        dimensions=dimensions,
    )
    return Call("POST", "/api/embed", EmbedResponse._wrap, body, model=model)


def embeddings(
    model: str = "",
    prompt: str | None = None,
    options: OptionsLike | None = None,
    keep_alive: KeepAlive = None,
) -> Call[EmbeddingsResponse]:
    """Build POST /api/embeddings (legacy; prefer ``embed``)."""
    body = _body(
        {"model": _model(model)},
        prompt=prompt,
        options=convert_options(options),
        keep_alive=convert_keep_alive(keep_alive),
    )
    return Call("POST", "/api/embeddings", EmbeddingsResponse._wrap, body, model=model)


def pull(model: str, *, insecure: bool = False, stream: bool = False) -> Call[ProgressResponse]:
    """Build POST /api/pull."""
    body = {"model": _model(model), "insecure": insecure, "stream": bool(stream)}
    return Call(
        "POST", "/api/pull", ProgressResponse._wrap, body, stream=stream,
        final=_PROGRESS_FINAL, model=model,
    )


def push(model: str, *, insecure: bool = False, stream: bool = False) -> Call[ProgressResponse]:
    """Build POST /api/push."""
    body = {"model": _model(model), "insecure": insecure, "stream": bool(stream)}
    return Call(
        "POST", "/api/push", ProgressResponse._wrap, body, stream=stream, side_effects=True,
        final=_PROGRESS_FINAL, model=model,
    )


def create(
    model: str,
    quantize: str | None = None,
    from_: str | None = None,
    files: Mapping[str, str] | None = None,
    adapters: Mapping[str, str] | None = None,
    template: str | None = None,
    license: str | Sequence[str] | None = None,
    system: str | None = None,
    parameters: OptionsLike | None = None,
    messages: Sequence[MessageLike] | None = None,
    *,
    stream: bool = False,
) -> Call[ProgressResponse]:
    """Build POST /api/create."""
    body = _body(
        {"model": _model(model), "stream": bool(stream)},
        from_=from_,
        quantize=quantize,
        files=None if files is None else dict(files),
        adapters=None if adapters is None else dict(adapters),
        template=template,
        license=license if license is None or isinstance(license, str) else list(license),
        system=system,
        parameters=convert_options(parameters),
        messages=None if messages is None else convert_messages(messages),
    )
    return Call(
        "POST", "/api/create", ProgressResponse._wrap, body, stream=stream, side_effects=True,
        final=_PROGRESS_FINAL, model=model,
    )


def blob(path: str | Path) -> Call[str]:
    """Build POST /api/blobs/sha256:<hex> for a file; the result is the digest."""
    path = Path(path)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise RequestError(f"cannot read blob file {str(path)!r}: {exc.strerror}") from None
    name = f"sha256:{digest.hexdigest()}"
    # Named by its content: sent twice, the blob is there once (the second answer is 200).
    return Call("POST", f"/api/blobs/{name}", _no_wrap, upload=path, result=name)


def _no_wrap(data: dict[str, Any]) -> Any:
    return data


def list_models() -> Call[ListResponse]:
    """Build GET /api/tags."""
    return Call("GET", "/api/tags", ListResponse._wrap)


def show(model: str, verbose: bool | None = None) -> Call[ShowResponse]:
    """Build POST /api/show."""
    body = _body({"model": _model(model)}, verbose=verbose)
    return Call("POST", "/api/show", ShowResponse._wrap, body, model=model, pull=False)


def ps() -> Call[ProcessResponse]:
    """Build GET /api/ps."""
    return Call("GET", "/api/ps", ProcessResponse._wrap)


_SUCCESS = {"status": "success"}


def copy(source: str, destination: str) -> Call[StatusResponse]:
    """Build POST /api/copy."""
    body = {"source": _model(source, "source"), "destination": _model(destination, "destination")}
    # Sent twice, the copy is made once: the same destination with the same manifest.
    return Call(
        "POST", "/api/copy", StatusResponse._wrap, body, empty=_SUCCESS, model=source, pull=False
    )


def delete(model: str) -> Call[StatusResponse]:
    """Build DELETE /api/delete."""
    return Call(
        "DELETE", "/api/delete", StatusResponse._wrap, {"model": _model(model)},
        side_effects=True, empty=_SUCCESS, model=model, pull=False,
    )


def version() -> Call[VersionResponse]:
    """Build GET /api/version."""
    return Call("GET", "/api/version", VersionResponse._wrap)


#: Where ``web_search`` and ``web_fetch`` go, whatever the client's host, as with the SDK.
WEB_ORIGIN = "https://ollama.com"


def web_search(query: str, max_results: int = 3) -> Call[WebSearchResponse]:
    """Build POST https://ollama.com/api/web_search."""
    if not isinstance(query, str) or not query.strip():
        raise RequestError(f"web_search needs a query string, not {query!r}")
    if not isinstance(max_results, int) or isinstance(max_results, bool) or max_results < 1:
        raise RequestError(f"max_results must be a whole number >= 1, not {max_results!r}")
    body = {"query": query, "max_results": max_results}
    return Call("POST", "/api/web_search", WebSearchResponse._wrap, body, origin=WEB_ORIGIN)


def web_fetch(url: str) -> Call[WebFetchResponse]:
    """Build POST https://ollama.com/api/web_fetch."""
    if not isinstance(url, str) or not url.strip():
        raise RequestError(f"web_fetch needs a URL string, not {url!r}")
    return Call("POST", "/api/web_fetch", WebFetchResponse._wrap, {"url": url},
                origin=WEB_ORIGIN)


def unload(model: str) -> Call[GenerateResponse]:
    """Build a generate call with ``keep_alive=0`` that unloads the model."""
    body = {"model": _model(model), "keep_alive": 0, "stream": False}
    return Call("POST", "/api/generate", GenerateResponse._wrap, body, model=model, pull=False)
