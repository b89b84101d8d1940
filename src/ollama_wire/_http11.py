"""HTTP/1.1, sans-IO: the request head, the response head and the body framing.

Both clients' own transports speak HTTP/1.1 with these: the sync `Client`'s on sockets
(``_sock_transport``) and the AsyncClient's on asyncio (``_aio_transport``). Each reads the
socket in big blocks and hands them here; nothing here does I/O but `readable`.

=======================================  =====================================================
``origin(url)``                          the host and port to dial, the ``Host`` header
``encode_fields(headers)``               header lines, refusing one that could split the head
``request_head(method, target, ...)``    the request line, those lines, the body's length
``HeadParser().feed(bytes)``             the response head (interim 1xx skipped) once whole
``Headers(head.headers)``                the head's fields as a case-insensitive mapping
``body_framing(method, head)``           the decoder that cuts the body out of what follows
``payload_of(framing, bytes)``           the payload of a block read; b"" read: the end
``ChunkedDecoder().feed(bytes)``         the payload of a chunked body, many chunks per call
``keeps_alive(head, connection)``        whether the connection may serve another request
``readable(fd)``                         whether an idle socket has something (its end) to read
=======================================  =====================================================

What the server sent that cannot be read as HTTP/1.1 raises `RemoteProtocolError`, saying
what arrived; broken chunked framing is `ChunkedDecoder`'s `InvalidResponseError`. The
transports' other failures are defined here too, so both clients classify them alike.
"""

from __future__ import annotations

import re
import select
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from typing import NamedTuple, Protocol

from ollama_wire._errors import InvalidResponseError, preview

__all__ = [
    "BODY_CUT",
    "MAX_HEADERS",
    "MAX_HEAD_SIZE",
    "ONE_WRITE_LIMIT",
    "READ_SIZE",
    "ChunkedDecoder",
    "ConnectFailed",
    "ConnectTimedOut",
    "Framing",
    "HeadParser",
    "Headers",
    "LengthDecoder",
    "LocalProtocolError",
    "ReadTimedOut",
    "RemoteProtocolError",
    "ResponseHead",
    "UntilClose",
    "body_framing",
    "keeps_alive",
    "origin",
    "parse_head",
    "payload_of",
    "readable",
    "request_head",
]

#: Bytes asked for per read from a socket; a read returns as soon as some bytes arrive.
READ_SIZE = 64 * 1024
#: What a connection closed before the end of the response body it was sending is.
BODY_CUT = "the server closed the connection before the end of the response body"
#: A response head (status line and headers) longer than this is refused.
MAX_HEAD_SIZE = 64 * 1024
#: A response head with more header lines than this is refused.
MAX_HEADERS = 100

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?:[ \t](.*))?")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*")
_BAD_VALUE = re.compile(rb"[\x00\r\n]")


class RemoteProtocolError(OSError):
    """What the server sent cannot be read as HTTP/1.1 (the message quotes what arrived)."""


class LocalProtocolError(ValueError):
    """A request that cannot be written as HTTP/1.1 (a header that could split the head)."""


# What the transports raise besides those two and the socket's own `OSError`s.


class ConnectFailed(ConnectionError):
    """No connection to the server could be made (refused, unreachable, no such host)."""


class ConnectTimedOut(TimeoutError):
    """No connection to the server within the connect timeout."""


class ReadTimedOut(TimeoutError):
    """The server sent nothing (or took nothing) for longer than the read timeout."""


# The response head, sans-IO ------------------------------------------------------------------


class ResponseHead(NamedTuple):
    """A response's status line and headers, as they arrived."""

    version: bytes  # b"HTTP/1.1" or b"HTTP/1.0"
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]

    def field(self, name: bytes) -> bytes | None:
        """Return the values of header ``name`` (lower case) joined by commas, or None."""
        values = [value for key, value in self.headers if key.lower() == name]
        return b", ".join(values) if values else None


class HeadParser:
    """Parse a response head from bytes as they arrive, however they are split.

    ``feed`` returns the final head once its blank line arrived, skipping interim ``1xx``
    heads (``100 Continue``); bytes past the head are kept in ``rest``. ``closed()`` is the
    error for a server that closed the connection before the head was whole, telling "no
    answer at all" from "a head cut short". A head past `MAX_HEAD_SIZE` bytes or
    `MAX_HEADERS` lines, or one that is not HTTP/1.x, raises `RemoteProtocolError` quoting
    what arrived.
    """

    __slots__ = ("_buffer", "_scanned", "received", "rest")

    def __init__(self) -> None:
        self._buffer = b""
        self._scanned = 0  # where the search for the blank line resumes
        self.received = 0
        self.rest = b""

    def feed(self, data: bytes) -> ResponseHead | None:
        """Return the final response head once ``data`` completes it, else None."""
        self.received += len(data)
        self._buffer += data
        while True:
            found = _HEAD_END.search(self._buffer, self._scanned)
            if found is None:
                if len(self._buffer) > MAX_HEAD_SIZE:
                    raise _head_too_long(self._buffer)
                self._scanned = max(0, len(self._buffer) - 3)  # a blank line may span reads
                return None
            raw = self._buffer[:found.start()]
            self._buffer, self._scanned = self._buffer[found.end():], 0
            if len(raw) > MAX_HEAD_SIZE:
                raise _head_too_long(raw)
            head = parse_head(raw)
            if head.status >= 200:
                self.rest, self._buffer = self._buffer, b""
                return head
            if head.status == 101:
                raise RemoteProtocolError(
                    "the server switched protocols (101) though nothing asked it to"
                )

    def closed(self) -> RemoteProtocolError:
        """Return the error for a connection the server closed before the head was whole."""
        if not self.received:
            return RemoteProtocolError(
                "the server closed the connection without sending a response")
        return RemoteProtocolError(
            f"the server closed the connection in the middle of the response head, after "
            f"{self.received} bytes")


class Headers(Mapping[str, str]):
    """A response's headers as a client shows them: names in any case, repeats joined by ", ".

    ``fields`` keeps them as they arrived, a repeated field apart (``Set-Cookie``).
    """

    __slots__ = ("_store", "fields")

    def __init__(self, fields: list[tuple[bytes, bytes]]) -> None:
        self.fields = fields
        store: dict[str, tuple[str, str]] = {}
        for raw_name, raw_value in fields:
            name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
            key = name.lower()
            seen = store.get(key)
            store[key] = (name, value) if seen is None else (seen[0], f"{seen[1]}, {value}")
        self._store = store

    def __getitem__(self, name: str) -> str:
        return self._store[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._store

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._store.values())

    def __len__(self) -> int:
        return len(self._store)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


def parse_head(raw: bytes) -> ResponseHead:
    """Parse a status line and its header lines (``raw``: the head without its blank line)."""
    lines = raw.split(b"\n")
    status_line = lines[0].removesuffix(b"\r")
    matched = _STATUS_LINE.fullmatch(status_line)
    if matched is None:
        raise RemoteProtocolError(
            f"invalid status line from the server: {preview(status_line)}"
        )
    if len(lines) - 1 > MAX_HEADERS:
        raise RemoteProtocolError(
            f"more than {MAX_HEADERS} header lines in the response: {preview(raw)}"
        )
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        line = line.removesuffix(b"\r")
        if line[:1] in (b" ", b"\t") and headers:  # obsolete line folding: one space
            name, value = headers[-1]
            headers[-1] = (name, value + b" " + line.strip(b" \t"))
            continue
        header = _HEADER_LINE.fullmatch(line)
        if header is None:
            raise RemoteProtocolError(
                f"invalid header line from the server: {preview(line)}"
            )
        headers.append((header.group(1), header.group(2)))
    version = b"HTTP/1." + matched.group(1)
    return ResponseHead(version, int(matched.group(2)), matched.group(3) or b"", headers)


def _head_too_long(data: bytes) -> RemoteProtocolError:
    return RemoteProtocolError(
        f"the response head is longer than {MAX_HEAD_SIZE} bytes: {preview(data)}"
    )


# The response body, sans-IO -------------------------------------------------------------------


class Framing(Protocol):
    """What cuts a body out of the bytes after the head: `ChunkedDecoder` and the two below."""

    @property
    def done(self) -> bool: ...
    @property
    def extra(self) -> bytes: ...
    @property
    def error(self) -> InvalidResponseError | None: ...
    def feed(self, data: bytes) -> bytes: ...


class LengthDecoder:
    """Cut a body of ``length`` bytes (``Content-Length``) out of what arrives.

    Like `ChunkedDecoder`: ``feed`` returns the payload, ``done`` turns true at the body's
    end, bytes past it are kept in ``extra``.
    """

    __slots__ = ("_left", "done", "extra")
    error = None

    def __init__(self, length: int) -> None:
        self._left = length
        self.done = length == 0
        self.extra = b""

    def feed(self, data: bytes) -> bytes:
        """Return the payload in ``data``."""
        if self.done:
            self.extra += data
            return b""
        if len(data) < self._left:
            self._left -= len(data)
            return data
        payload, self.extra = data[:self._left], data[self._left:]
        self._left, self.done = 0, True
        return payload


class UntilClose:
    """A body with neither length nor chunks: it ends when the server closes the connection."""

    __slots__ = ()
    done = False
    extra = b""
    error = None

    def feed(self, data: bytes) -> bytes:
        """Return ``data``: all of it is payload."""
        return data


#: A chunk-size line (with extensions) longer than this is broken framing, as in Go's server.
_MAX_CHUNK_LINE = 4096
#: The trailer section after the last chunk is refused past this many bytes.
_MAX_TRAILER = 64 * 1024
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\n")
#: The states of `ChunkedDecoder`: in a size line, in a chunk, before its CRLF, in trailers.
_SIZE, _DATA, _CRLF, _TRAILER = range(4)


class ChunkedDecoder:
    """Undo HTTP/1.1 chunked framing: bytes in, the body's payload out.

    ``feed`` takes any split of the framed bytes and returns the payload they complete, many
    chunks at a time. ``done`` turns true after the last chunk, its trailers and the final
    CRLF; bytes past that end are kept in ``extra``. Broken framing raises
    `InvalidResponseError`; when the same bytes completed some payload first, that payload is
    returned, the error is kept in ``error`` and raised by the next ``feed``.
    """

    __slots__ = ("_left", "_pending", "_state", "_trailer", "done", "error", "extra")

    def __init__(self) -> None:
        self._state = _SIZE
        self._left = 0  # payload bytes still due in the current chunk
        self._pending = b""  # an incomplete size line, CRLF or trailer line
        self._trailer = 0
        self.done = False
        self.extra = b""
        self.error: InvalidResponseError | None = None

    def feed(self, data: bytes) -> bytes:
        """Return the payload that ``data`` completes."""
        if self.error is not None:
            raise self.error
        out: list[bytes] = []
        try:
            self._feed(data, out)
        except InvalidResponseError as exc:
            if not out:
                raise
            self.error = exc
        return b"".join(out)

    def _feed(self, data: bytes, out: list[bytes]) -> None:
        if self.done:
            self.extra += data
            return
        if self._pending:
            data = self._pending + data
            self._pending = b""
        pos, end = 0, len(data)
        match = _CHUNK_SIZE.match
        append = out.append
        while pos < end:
            state = self._state
            if state == _SIZE:
                found = match(data, pos)
                if found is None:
                    self._need_line(data, pos, _MAX_CHUNK_LINE, "chunk size")
                    break
                size = int(found.group(1), 16)
                pos = found.end()
                if size == 0:
                    self._state = _TRAILER
                    continue
                # The common case: the whole chunk and its CRLF are here.
                stop = pos + size
                if data[stop:stop + 2] == b"\r\n":
                    append(data[pos:stop])
                    pos = stop + 2
                    continue
                self._left, self._state = size, _DATA
            elif state == _DATA:
                stop = min(pos + self._left, end)
                append(data[pos:stop])
                self._left -= stop - pos
                pos = stop
                if not self._left:
                    self._state = _CRLF
            elif state == _CRLF:
                if end - pos < 2:
                    if data[pos:] != b"\r":
                        self._bad(data, pos, "CRLF after a chunk")
                    self._pending = data[pos:]
                    break
                if data[pos:pos + 2] != b"\r\n":
                    self._bad(data, pos, "CRLF after a chunk")
                pos += 2
                self._state = _SIZE
            else:
                newline = data.find(b"\n", pos)
                if newline < 0:
                    self._need_line(data, pos, _MAX_TRAILER - self._trailer, "trailer")
                    break
                line = data[pos:newline + 1]
                pos = newline + 1
                self._trailer += len(line)
                if self._trailer > _MAX_TRAILER:
                    self._bad(line, 0, f"trailers within {_MAX_TRAILER} bytes")
                if line in (b"\r\n", b"\n"):
                    self.done = True
                    self.extra = data[pos:]
                    break

    def _need_line(self, data: bytes, pos: int, limit: int, what: str) -> None:
        """Keep a line that has not ended yet, or raise if it cannot be one."""
        rest = data[pos:]
        if b"\n" in rest or len(rest) > limit:
            self._bad(data, pos, f"a {what} line")
        self._pending = rest

    def _bad(self, data: bytes, pos: int, expected: str) -> None:
        raise InvalidResponseError(
            f"broken chunked encoding from the server: expected {expected}, "
            f"got {preview(data[pos:pos + 100])}"
        )


def body_framing(method: str, head: ResponseHead) -> Framing:
    """Return the decoder for the body of ``head``, the answer to a ``method`` request."""
    if method == "HEAD" or head.status in (204, 304):
        return LengthDecoder(0)
    coding = head.field(b"transfer-encoding")
    if coding is not None:
        if coding.strip().lower() != b"chunked":
            raise RemoteProtocolError(
                f"unsupported Transfer-Encoding from the server: {preview(coding)}"
            )
        return ChunkedDecoder()
    length = head.field(b"content-length")
    if length is None:
        return UntilClose()
    values = {value.strip() for value in length.split(b",")}
    value = values.pop() if len(values) == 1 else b""  # several lengths that differ: bad
    if not value.isdigit() or len(value) > 18:
        raise RemoteProtocolError(
            f"invalid Content-Length from the server: {preview(length)}"
        )
    return LengthDecoder(int(value))


def payload_of(framing: Framing, data: bytes) -> bytes:
    """Return the payload in ``data``, read after the head; b"" read means the server closed.

    A close ends an `UntilClose` body and cuts any other short: `RemoteProtocolError`.
    """
    if data:
        return framing.feed(data)
    if isinstance(framing, UntilClose):
        return b""
    raise RemoteProtocolError(BODY_CUT)


def keeps_alive(head: ResponseHead, connection: bytes = b"") -> bool:
    """Tell whether the connection may carry another request after this exchange.

    ``connection`` is the request's ``Connection`` header (its values joined by commas).
    """
    if head.version != b"HTTP/1.1":
        return False
    said = connection + b"," + (head.field(b"connection") or b"")
    return b"close" not in {token.strip().lower() for token in said.split(b",")}


# The request, sans-IO -------------------------------------------------------------------------


def origin(url: str) -> tuple[str, int, bytes]:
    """Return the host to dial, the port and the ``Host`` header of an ``http://`` URL.

    The header leaves out the default port, as requests and httpx do.
    """
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or 80
    shown = f"[{host}]" if ":" in host else host
    return host, port, (shown if port == 80 else f"{shown}:{port}").encode("ascii")


#: The largest request body written in the same write as its head: one system call and one
#: wake-up of the server; a bigger body (images, say) goes apart rather than be copied.
ONE_WRITE_LIMIT = 1024 * 1024


def request_head(method: str, target: str, fields: bytes, body: bytes | None) -> bytes:
    """Return a request's head: its line, ``fields`` (from `encode_fields`), its length.

    ``method`` and ``target`` are the client's own (a token, and a path already quoted),
    so they are not checked again on every call.
    """
    line = f"{method} {target} HTTP/1.1\r\n".encode("latin-1")
    if body is None:
        # What requests sends: a request that may have a body says it has none.
        length = b"" if method in ("GET", "HEAD") else b"Content-Length: 0\r\n"
    else:
        length = b"Content-Length: %d\r\n" % len(body)
    return b"%s%s%s\r\n" % (line, fields, length)


def encode_fields(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Return header lines (each ending in CRLF).

    A name that is not a token, or a value that could end a line early or start a new one,
    raises `LocalProtocolError` instead of being sent.
    """
    lines = []
    for name, value in headers:
        if not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
            # The value is left out of the message: it may be a credential.
            raise LocalProtocolError(
                f"invalid header {name.decode('latin-1')!r}: a name must be a token, and a "
                "value cannot hold CR, LF or NUL"
            )
        lines.append(b"%s: %s\r\n" % (name, value))
    return b"".join(lines)


# I/O help ---------------------------------------------------------------------------------------


def readable(fd: int) -> bool:
    """Tell, without waiting, whether the socket ``fd`` has something to read (or its end).

    An idle keep-alive connection has nothing to read: if it has, the server closed it (or
    sent stray bytes), and it must not carry another request.
    """
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])  # Windows: no poll(), and no fd limit
