"""HTTP/1.1 on plain asyncio streams: the AsyncClient's transport for ``http://`` hosts.

httpx stays the API layer (requests, redirects, cookies, timeouts, the response object);
this transport only moves bytes. httpx reads a chunked stream through httpcore and h11,
which parse each chunk header and run a state machine once per HTTP chunk, and Ollama sends
one chunk per token; here the socket is read 64 KiB at a time and the framing undone in bulk
by the sans-IO `ChunkedDecoder`, as the sync `Client` does.

==================================  ==========================================================
``HeadParser().feed(bytes)``        the response head (interim 1xx skipped) once complete
``body_framing(method, head)``      the decoder that cuts the body out of what follows
``keeps_alive(request, head)``      whether the connection may serve another request
``AioTransport(other)``             the transport: ``http://`` here, other schemes ``other()``
==================================  ==========================================================

Failures are httpx's exception types, as httpcore raises them, so the client classifies
them as it does httpx's own: `httpx.ConnectError`, `httpx.ConnectTimeout`,
`httpx.ReadTimeout`, `httpx.WriteTimeout`, `httpx.ReadError`, `httpx.WriteError`,
`httpx.RemoteProtocolError` (a bad head, a body cut short) and
`httpx.LocalProtocolError` (a request that cannot be written). Broken chunked framing is
`ChunkedDecoder`'s `InvalidResponseError`, as in the sync client.
"""

from __future__ import annotations

import asyncio
import re
import select
import socket
from collections.abc import AsyncIterator, Callable
from typing import NamedTuple, Protocol

import httpx

from ollama_wire._errors import InvalidResponseError, preview
from ollama_wire._protocol import DEFAULT_POOL_SIZE, ChunkedDecoder

__all__ = [
    "MAX_HEADERS",
    "MAX_HEAD_SIZE",
    "READ_SIZE",
    "AioTransport",
    "HeadParser",
    "LengthDecoder",
    "ResponseHead",
    "UntilClose",
    "body_framing",
    "encode_head",
    "keeps_alive",
]

#: Bytes asked for per read; a read returns as soon as some bytes arrive.
READ_SIZE = 64 * 1024
#: A response head (status line and headers) longer than this is refused.
MAX_HEAD_SIZE = 64 * 1024
#: A response head with more header lines than this is refused.
MAX_HEADERS = 100

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?:[ \t](.*))?")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*")
_BAD_VALUE = re.compile(rb"[\x00\r\n]")


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
    heads (``100 Continue``); bytes past the head are kept in ``rest``. ``received`` counts
    every byte fed, so a caller can tell "no answer at all" from "a broken answer". A head
    past `MAX_HEAD_SIZE` bytes or `MAX_HEADERS` lines, or one that is not HTTP/1.x, raises
    `httpx.RemoteProtocolError` quoting what arrived.
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
                raise httpx.RemoteProtocolError(
                    "the server switched protocols (101) though nothing asked it to"
                )


def parse_head(raw: bytes) -> ResponseHead:
    """Parse a status line and its header lines (``raw``: the head without its blank line)."""
    lines = raw.split(b"\n")
    status_line = lines[0].removesuffix(b"\r")
    matched = _STATUS_LINE.fullmatch(status_line)
    if matched is None:
        raise httpx.RemoteProtocolError(
            f"invalid status line from the server: {preview(status_line)}"
        )
    if len(lines) - 1 > MAX_HEADERS:
        raise httpx.RemoteProtocolError(
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
            raise httpx.RemoteProtocolError(
                f"invalid header line from the server: {preview(line)}"
            )
        headers.append((header.group(1), header.group(2)))
    version = b"HTTP/1." + matched.group(1)
    return ResponseHead(version, int(matched.group(2)), matched.group(3) or b"", headers)


def _head_too_long(data: bytes) -> httpx.RemoteProtocolError:
    return httpx.RemoteProtocolError(
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


def body_framing(method: str, head: ResponseHead) -> Framing:
    """Return the decoder for the body of ``head``, the answer to a ``method`` request."""
    if method == "HEAD" or head.status in (204, 304):
        return LengthDecoder(0)
    coding = head.field(b"transfer-encoding")
    if coding is not None:
        if coding.strip().lower() != b"chunked":
            raise httpx.RemoteProtocolError(
                f"unsupported Transfer-Encoding from the server: {preview(coding)}"
            )
        return ChunkedDecoder()
    length = head.field(b"content-length")
    if length is None:
        return UntilClose()
    values = {value.strip() for value in length.split(b",")}
    value = values.pop() if len(values) == 1 else b""  # several lengths that differ: bad
    if not value.isdigit() or len(value) > 18:
        raise httpx.RemoteProtocolError(
            f"invalid Content-Length from the server: {preview(length)}"
        )
    return LengthDecoder(int(value))


def keeps_alive(request: httpx.Request, head: ResponseHead) -> bool:
    """Tell whether the connection may carry another request after this exchange."""
    if head.version != b"HTTP/1.1":
        return False
    said = [value for name, value in request.headers.raw if name.lower() == b"connection"]
    said.append(head.field(b"connection") or b"")
    return b"close" not in {token.strip().lower() for token in b",".join(said).split(b",")}


# The request, sans-IO -------------------------------------------------------------------------


def encode_head(request: httpx.Request) -> bytes:
    """Return the request line and headers of ``request``, as httpx built them.

    A header that could end a line early or start a new one raises
    `httpx.LocalProtocolError` instead of being sent.
    """
    method = request.method.encode("ascii")
    if not _TOKEN.fullmatch(method):
        raise httpx.LocalProtocolError(f"invalid method {request.method!r}")
    lines = [b"%s %s HTTP/1.1\r\n" % (method, request.url.raw_path)]
    for name, value in request.headers.raw:
        if not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
            # The value is left out of the message: it may be a credential.
            raise httpx.LocalProtocolError(
                f"invalid header {name.decode('latin-1')!r}: a name must be a token, and a "
                "value cannot hold CR, LF or NUL"
            )
        lines.append(b"%s: %s\r\n" % (name, value))
    lines.append(b"\r\n")
    return b"".join(lines)


def _body_length(request: httpx.Request) -> int | None:
    """Return the ``Content-Length`` a streamed body must match, None when it is chunked."""
    if request.headers.get("transfer-encoding", "").lower() == "chunked":
        return None
    length = request.headers.get("content-length")
    return int(length) if length is not None else 0


# I/O --------------------------------------------------------------------------------------


class _Connection:
    """One socket to ``key`` (host, port), read and written with timeouts and httpx's errors."""

    __slots__ = ("key", "reader", "writer")

    def __init__(
        self, key: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.key = key
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, key: tuple[str, int], timeout: float | None) -> _Connection:
        """Connect to ``key`` within ``timeout`` seconds."""
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*key), timeout)
        except asyncio.TimeoutError:
            raise httpx.ConnectTimeout(f"no connection within {timeout} s") from None
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(key, reader, writer)

    async def read(self, timeout: float | None) -> bytes:
        """Return the next bytes (at most `READ_SIZE`), or b"" once the server closed."""
        try:
            if timeout is None:
                return await self.reader.read(READ_SIZE)
            return await asyncio.wait_for(self.reader.read(READ_SIZE), timeout)
        except asyncio.TimeoutError:
            raise httpx.ReadTimeout(f"no bytes from the server within {timeout} s") from None
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc

    async def write(self, data: bytes, timeout: float | None) -> None:
        """Write ``data``; wait, at most ``timeout`` seconds, only if the socket is full."""
        self.writer.write(data)
        if not self.writer.transport.get_write_buffer_size():
            return
        try:
            await asyncio.wait_for(self.writer.drain(), timeout)
        except asyncio.TimeoutError:
            raise httpx.WriteTimeout(f"could not send within {timeout} s") from None
        except OSError as exc:
            raise httpx.WriteError(str(exc) or type(exc).__name__) from exc

    def usable(self) -> bool:
        """Tell whether an idle connection is still open at both ends.

        Besides what the stream knows, the socket is asked: the loop may not have read a FIN
        (or stray bytes) that already arrived, and an idle connection has nothing to read.
        """
        if self.reader.at_eof() or self.reader.exception() is not None:
            return False
        sock = self.writer.get_extra_info("socket")
        return not self.writer.is_closing() and (sock is None or not _readable(sock.fileno()))

    def close(self) -> None:
        """Drop the connection now, unsent bytes and all (the server sees it go)."""
        try:
            self.writer.transport.abort()
        except RuntimeError:  # its loop is closed: the socket closes when freed
            pass

    async def wait_closed(self) -> None:
        """Wait until a closed connection's socket is released."""
        try:
            await self.writer.wait_closed()
        except OSError:
            pass


def _readable(fd: int) -> bool:
    """Tell, without waiting, whether the socket ``fd`` has something to read (or its end)."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])  # Windows: no poll(), and no fd limit


class _Body(httpx.AsyncByteStream):
    """The body of one response, in big blocks: all the payload each read completes.

    However it ends, its connection goes back to the pool only if the body was read to the
    end with clean framing and both sides keep the connection alive; otherwise it is closed,
    which is how closing a stream early (or cancelling its task) stops Ollama generating.
    """

    def __init__(
        self, transport: AioTransport, connection: _Connection, framing: Framing, first: bytes,
        reusable: bool, timeout: float | None,
    ) -> None:
        self._transport = transport
        self._connection: _Connection | None = connection
        self._dropped: _Connection | None = None  # closed by `_finish`, for `aclose` to await
        self._framing = framing
        self._first = first
        self._reusable = reusable
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if connection is None:
            return
        framing = self._framing
        data, self._first = self._first, b""
        try:
            while True:
                if data:
                    # Broken framing raises `InvalidResponseError`, as in the sync client.
                    payload = framing.feed(data)
                    if payload:
                        yield payload
                    if framing.error is not None:  # broken after the payload just handed over
                        raise framing.error
                if framing.done:
                    return
                data = await connection.read(self._timeout)
                if not data:
                    if isinstance(framing, UntilClose):
                        return
                    raise httpx.RemoteProtocolError(
                        "the server closed the connection before the end of the response body"
                    )
        finally:
            self._finish()

    def _finish(self) -> None:
        """Hand the connection back to the pool if the exchange ended cleanly, else close it."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        framing = self._framing
        if self._reusable and framing.done and not framing.extra and not self._first:
            self._transport._release(connection)
        else:
            connection.close()
            self._dropped = connection

    async def aclose(self) -> None:
        self._finish()
        if self._dropped is not None:
            await self._dropped.wait_closed()


class AioTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 for ``http://`` URLs on asyncio streams, with a pool of idle connections.

    Requests to other schemes (``https://``) go to the transport ``other()`` makes on first
    use. The pool is keyed by (host, port) and keeps at most ``pool_size`` idle keep-alive
    connections; connections in use are not limited, and no request waits for one. An idle
    connection the server closed is discarded; when a request sent on a reused connection
    gets no byte back (the server closed it meanwhile), it is sent once more on a new one.
    """

    def __init__(
        self, other: Callable[[], httpx.AsyncBaseTransport], pool_size: int = DEFAULT_POOL_SIZE
    ) -> None:
        self._make_other = other
        self._other: httpx.AsyncBaseTransport | None = None
        self._pool_size = pool_size
        self._idle: list[_Connection] = []
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http":
            if self._other is None:
                self._other = self._make_other()
            return await self._other.handle_async_request(request)
        timeouts = request.extensions.get("timeout", {})
        key = (request.url.host, request.url.port or 80)
        # A body httpx holds in memory goes out with the head in one write, and can be sent
        # again; a streamed one (an upload) cannot.
        body = b"".join(request.stream) if isinstance(request.stream, httpx.ByteStream) else None
        connection = self._take(key)
        if connection is not None:
            parser = HeadParser()
            try:
                return await self._exchange(connection, parser, request, body, timeouts)
            except (httpx.WriteError, httpx.ReadError, httpx.RemoteProtocolError):
                if parser.received or body is None:
                    raise
        connection = await _Connection.open(key, timeouts.get("connect"))
        return await self._exchange(connection, HeadParser(), request, body, timeouts)

    async def _exchange(
        self, connection: _Connection, parser: HeadParser, request: httpx.Request,
        body: bytes | None, timeouts: dict[str, float | None],
    ) -> httpx.Response:
        """Send ``request`` and read the response head; close the connection on failure."""
        read_timeout = timeouts.get("read")
        try:
            if body is not None:
                await connection.write(encode_head(request) + body, timeouts.get("write"))
            else:
                await _send_stream(connection, request, timeouts.get("write"))
            head = None
            while head is None:
                data = await connection.read(read_timeout)
                if not data:
                    raise _closed_before_head(parser)
                head = parser.feed(data)
            framing = body_framing(request.method, head)
        except BaseException:
            connection.close()
            raise
        stream = _Body(self, connection, framing, parser.rest, keeps_alive(request, head),
                       read_timeout)
        return httpx.Response(
            head.status, headers=head.headers, stream=stream,
            extensions={"http_version": head.version, "reason_phrase": head.reason},
        )

    def _take(self, key: tuple[str, int]) -> _Connection | None:
        """Return the most recently used idle connection to ``key`` still open, if any."""
        idle = self._idle
        for index in range(len(idle) - 1, -1, -1):
            if idle[index].key == key:
                connection = idle.pop(index)
                if connection.usable():
                    return connection
                connection.close()
        return None

    def _release(self, connection: _Connection) -> None:
        """Keep a connection whose exchange ended cleanly, closing the oldest past the limit."""
        if self._closed or not connection.usable():
            connection.close()
            return
        self._idle.append(connection)
        if len(self._idle) > self._pool_size:
            self._idle.pop(0).close()

    async def aclose(self) -> None:
        """Close the idle connections (and the other schemes' transport)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
        for connection in idle:
            await connection.wait_closed()
        if self._other is not None:
            await self._other.aclose()


async def _send_stream(connection: _Connection, request: httpx.Request,
                       timeout: float | None) -> None:
    """Send the head, then each block of a streamed body, chunk-encoded if the head says so."""
    stream = request.stream
    if not isinstance(stream, httpx.AsyncByteStream):
        raise httpx.LocalProtocolError("a request body to send with asyncio must be async")
    length = _body_length(request)
    await connection.write(encode_head(request), timeout)
    sent = 0
    async for block in stream:
        sent += len(block)
        if length is not None and sent > length:
            raise httpx.LocalProtocolError(f"the body is longer than its Content-Length {length}")
        if length is None and block:
            block = b"%x\r\n%s\r\n" % (len(block), block)
        await connection.write(block, timeout)
    if length is None:
        await connection.write(b"0\r\n\r\n", timeout)
    elif sent < length:
        raise httpx.LocalProtocolError(
            f"the body ended after {sent} of its Content-Length {length} bytes"
        )


def _closed_before_head(parser: HeadParser) -> httpx.RemoteProtocolError:
    if not parser.received:
        return httpx.RemoteProtocolError("Server disconnected without sending a response.")
    return httpx.RemoteProtocolError(
        f"the server closed the connection in the middle of the response head, after "
        f"{parser.received} bytes"
    )
