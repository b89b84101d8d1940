"""HTTP/1.1 on plain asyncio streams: the AsyncClient's transport for ``http://`` hosts.

httpx stays the API layer (requests, redirects, cookies, timeouts, the response object);
this transport only moves bytes. httpx reads a chunked stream through httpcore and h11,
which parse each chunk header and run a state machine once per HTTP chunk, and Ollama sends
one chunk per token; here the socket is read 64 KiB at a time and the framing undone in bulk
by the sans-IO `ChunkedDecoder`, as the sync `Client` does. The HTTP/1.1 itself is the
sans-IO ``_http11``, shared with the sync client's socket transport.

``AioTransport(other)`` is the transport: ``http://`` here, other schemes ``other()``.

Failures are httpx's exception types, as httpcore raises them, so the client classifies
them as it does httpx's own: `httpx.ConnectError`, `httpx.ConnectTimeout`,
`httpx.ReadTimeout`, `httpx.WriteTimeout`, `httpx.ReadError`, `httpx.WriteError`,
`httpx.RemoteProtocolError` (a bad head, a body cut short) and
`httpx.LocalProtocolError` (a request that cannot be written). Broken chunked framing is
`ChunkedDecoder`'s `InvalidResponseError`, as in the sync client.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable

import httpx

from ollama_wire._http11 import (
    Framing,
    HeadParser,
    LocalProtocolError,
    RemoteProtocolError,
    ResponseHead,
    UntilClose,
    body_framing,
    encode_head,
    keeps_alive,
    readable,
)
from ollama_wire._protocol import DEFAULT_POOL_SIZE

__all__ = ["READ_SIZE", "AioTransport"]

#: Bytes asked for per read; a read returns as soon as some bytes arrive.
READ_SIZE = 64 * 1024


# The request and the response head, with httpx's exceptions ------------------------------------


def _body_length(request: httpx.Request) -> int | None:
    """Return the ``Content-Length`` a streamed body must match, None when it is chunked."""
    if request.headers.get("transfer-encoding", "").lower() == "chunked":
        return None
    length = request.headers.get("content-length")
    return int(length) if length is not None else 0


def _encode_head(request: httpx.Request) -> bytes:
    """Return the request line and headers of ``request``, as httpx built them."""
    try:
        return encode_head(request.method, request.url.raw_path, request.headers.raw)
    except LocalProtocolError as exc:
        raise httpx.LocalProtocolError(str(exc)) from None


def _keeps_alive(request: httpx.Request, head: ResponseHead) -> bool:
    said = [value for name, value in request.headers.raw if name.lower() == b"connection"]
    return keeps_alive(head, b",".join(said))


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
        return not self.writer.is_closing() and (sock is None or not readable(sock.fileno()))

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
    connection the server closed is discarded. A request is never sent twice here: when a
    connection drops before the answer, the client's retry policy decides (a call with side
    effects may have run), as with the sync client's transport.
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
        # A body httpx holds in memory goes out with the head in one write; a streamed one
        # (an upload) goes block by block.
        body = b"".join(request.stream) if isinstance(request.stream, httpx.ByteStream) else None
        connection = self._take(key) or await _Connection.open(key, timeouts.get("connect"))
        return await self._exchange(connection, request, body, timeouts)

    async def _exchange(
        self, connection: _Connection, request: httpx.Request, body: bytes | None,
        timeouts: dict[str, float | None],
    ) -> httpx.Response:
        """Send ``request`` and read the response head; close the connection on failure."""
        read_timeout = timeouts.get("read")
        parser = HeadParser()
        try:
            if body is not None:
                await connection.write(_encode_head(request) + body, timeouts.get("write"))
            else:
                await _send_stream(connection, request, timeouts.get("write"))
            head = None
            while head is None:
                data = await connection.read(read_timeout)
                if not data:
                    raise _closed_before_head(parser)
                head = parser.feed(data)
            framing = body_framing(request.method, head)
        except RemoteProtocolError as exc:
            connection.close()
            raise httpx.RemoteProtocolError(str(exc)) from None
        except BaseException:
            connection.close()
            raise
        stream = _Body(self, connection, framing, parser.rest, _keeps_alive(request, head),
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
    await connection.write(_encode_head(request), timeout)
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
