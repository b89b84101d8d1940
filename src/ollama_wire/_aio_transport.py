"""HTTP/1.1 on asyncio: the AsyncClient's transport for ``http://`` hosts.

When httpx would add nothing to a call (no proxy claims the host, no cookie, not an upload),
the `AsyncClient` sends it here instead of through httpx, whose per-call work (the request
and response objects, header and URL encoding, a task per timed read in httpcore) costs
more than the exchange itself; everything else stays httpx's. It is the sync client's
``_sock_transport`` on an event loop: the HTTP/1.1 is the sans-IO ``_http11``, and this
module moves the bytes, through an `asyncio.Protocol` that keeps what arrives until it is
read and times each wait with one timer, not a task.

=============================================  ===============================================
``AioPool(host, port, fields)``                one loop's idle connections to one origin
``await .send(method, target, body, limits)``  an `AioResponse` once its head arrived
``await AioResponse.read()``                   the next block of the body, b"" at its end
``AioResponse.to_httpx(url)``                  the same response as httpx's, for httpx
=============================================  ===============================================

Failures are ``_http11``'s, as in the sync transport: `ConnectFailed`, `ConnectTimedOut`,
`ReadTimedOut` (no byte, or no room to write, within the read timeout),
`RemoteProtocolError` and the socket's own `OSError`. Broken chunked framing is
`InvalidResponseError`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx

from ollama_wire._http11 import (
    ONE_WRITE_LIMIT,
    READ_SIZE,
    ConnectFailed,
    ConnectTimedOut,
    Framing,
    Headers,
    HeadParser,
    ReadTimedOut,
    ResponseHead,
    body_framing,
    encode_fields,
    keeps_alive,
    payload_of,
    readable,
    request_head,
)
from ollama_wire._protocol import DEFAULT_POOL_SIZE

__all__ = ["AioPool", "AioResponse"]

#: Bytes received and not yet read past which the socket is left unread until they are: the
#: kernel's buffers then fill and TCP holds the server back, as a blocking socket would, so a
#: consumer slower than the server does not collect the rest of the body in memory.
PAUSE_AT = 4 * READ_SIZE


class _Connection(asyncio.BufferedProtocol):
    """One connection: what arrives is kept until read; each wait is timed by one timer.

    Past `PAUSE_AT` bytes unread, the socket is not read until they are.

    The socket is read into this connection's own buffer, ``READ_SIZE`` bytes at most, as
    the sync transport reads, and only the bytes received are copied out. A plain
    `asyncio.Protocol` is given a new 256 KiB block per read, cut down to what arrived:
    where glibc's malloc takes such blocks from the system, each read of a large body maps
    fresh memory and pays a page fault for every 4 KiB of it.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._buffer = memoryview(bytearray(READ_SIZE))
        self._received: list[bytes] = []
        self._unread = 0  # bytes in ``_received``
        self._paused = False  # reading paused until ``_received`` is read
        self._ended = False  # the server closed its side (or the connection is gone)
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None  # set while writing is paused

    @classmethod
    async def open(cls, host: str, port: int, timeout: float | None) -> _Connection:
        """Connect within ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        try:
            _, connection = await asyncio.wait_for(
                loop.create_connection(cls, host, port), timeout)
        except asyncio.TimeoutError:
            raise ConnectTimedOut(f"no connection to {host}:{port} within {timeout} s") from None
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {host}:{port}: {exc}") from exc
        return connection

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self._received.append(self._buffer[:nbytes].tobytes())
        self._unread += nbytes
        if self._unread > PAUSE_AT and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake(self._waiter)

    def eof_received(self) -> bool:
        self._ended = True
        self._wake(self._waiter)
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended = True
        self._transport = None  # done with: asyncio's transports fail if aborted now
        if exc is not None and self._error is None:
            self._error = exc
        self._wake(self._waiter)
        self._wake(self._writable)

    def pause_writing(self) -> None:
        self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        self._wake(self._writable)
        self._writable = None

    @staticmethod
    def _wake(waiter: asyncio.Future[None] | None) -> None:
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # Reading and writing

    async def read(self, timeout: float | None) -> bytes:
        """Return what arrived since the last read (waiting for some), b"" once it ended."""
        if not self._received and not self._ended:
            self._waiter = self._loop.create_future()
            try:
                await self._wait(self._waiter, timeout, "no bytes from the server")
            finally:
                self._waiter = None
        received = self._received
        if received:
            self._received, self._unread = [], 0
            if self._paused:
                self._paused = False
                if self._transport is not None and not self._transport.is_closing():
                    self._transport.resume_reading()
            return received[0] if len(received) == 1 else b"".join(received)
        if self._error is not None:
            raise self._error
        return b""

    async def write(self, data: bytes, timeout: float | None) -> None:
        """Write ``data``; wait, at most ``timeout`` seconds, only if the socket is full."""
        if self._error is not None:
            raise self._error
        transport = self._transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the connection closed before the request was sent")
        transport.write(data)
        if self._writable is not None:
            await self._wait(self._writable, timeout, "no room to send to the server")
            if self._error is not None:
                raise self._error

    async def _wait(self, future: asyncio.Future[None], timeout: float | None,
                    what: str) -> None:
        if timeout is None:
            await future
            return
        timer = self._loop.call_later(timeout, self._expire, future, f"{what} within {timeout} s")
        try:
            await future
        finally:
            timer.cancel()

    @staticmethod
    def _expire(future: asyncio.Future[None], message: str) -> None:
        if not future.done():
            future.set_exception(ReadTimedOut(message))

    def usable(self) -> bool:
        """Tell whether an idle connection is still open at both ends, with nothing unread.

        Besides what the protocol was told, the socket is asked: the loop may not have read
        a FIN (or stray bytes) that already arrived.
        """
        transport = self._transport
        if self._ended or self._received or transport is None or transport.is_closing():
            return False
        sock = transport.get_extra_info("socket")
        return sock is None or not readable(sock.fileno())

    def close(self) -> None:
        """Drop the connection now, unsent bytes and all (the server sees it go)."""
        self._ended = True
        if self._transport is not None:
            try:
                self._transport.abort()
            except RuntimeError:  # its loop is closed: the socket closes when freed
                pass


class AioPool:
    """HTTP/1.1 to one ``http://`` origin on one event loop, with its idle connections.

    As the sync ``SocketTransport``: ``fields`` are the header lines every request carries,
    checked and encoded once; at most ``pool_size`` idle connections are kept; a request is
    never sent twice here (the client's retry policy decides).
    """

    def __init__(
        self, host: str, port: int, fields: list[tuple[bytes, bytes]],
        pool_size: int = DEFAULT_POOL_SIZE,
    ) -> None:
        self.address = (host, port)
        self._fields = encode_fields(fields)
        self._connection_header = b",".join(
            value for name, value in fields if name.lower() == b"connection")
        self._pool_size = pool_size
        self._idle: list[_Connection] = []
        self._closed = False

    async def send(
        self, method: str, target: str, body: bytes | None,
        timeouts: tuple[float | None, float | None] | None,
    ) -> AioResponse:
        """Send a request; return its response once the head arrived (the body is unread)."""
        connect, read = timeouts if timeouts is not None else (None, None)
        head = request_head(method, target, self._fields, body)
        connection = self._take() or await _Connection.open(*self.address, connect)
        parser = HeadParser()
        try:
            try:
                if body is not None and len(body) <= ONE_WRITE_LIMIT:
                    await connection.write(head + body, read)
                else:
                    await connection.write(head, read)
                    if body is not None:
                        await connection.write(body, read)
            except (BrokenPipeError, ConnectionResetError) as exc:
                # The server may have answered and closed before reading it all (a 413 for a
                # body too big): that answer, already received, says more than the reset.
                written: OSError | None = exc
            else:
                written = None
            response = None
            while response is None:
                try:
                    data = await connection.read(read)
                except OSError:
                    if written is None:
                        raise
                    data = b""
                if not data:
                    raise written if written is not None else parser.closed()
                response = parser.feed(data)
            framing = body_framing(method, response)
        except BaseException:
            connection.close()
            raise
        return AioResponse(self, connection, response, framing, parser.rest,
                           keeps_alive(response, self._connection_header), read)

    def _take(self) -> _Connection | None:
        """Return the most recently used idle connection still open, if any."""
        idle = self._idle
        while idle:
            connection = idle.pop()
            if connection.usable():
                return connection
            connection.close()
        return None

    def release(self, connection: _Connection) -> None:
        """Keep a connection whose exchange ended cleanly, closing the oldest past the limit."""
        if self._closed or not connection.usable():
            connection.close()
            return
        self._idle.append(connection)
        if len(self._idle) > self._pool_size:
            self._idle.pop(0).close()

    def close(self) -> None:
        """Close the idle connections; connections in use close when their response ends."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


class AioResponse:
    """A response whose head arrived; ``await read()`` returns its body in blocks.

    However it ends, its connection goes back to the pool only if the body was read to the
    end with clean framing and both sides keep the connection alive; otherwise it is closed,
    which is how closing a stream early (or cancelling its task) stops Ollama generating.
    """

    __slots__ = ("_connection", "_first", "_framing", "_pool", "_reusable", "_timeout",
                 "headers", "reason", "status")

    def __init__(
        self, pool: AioPool, connection: _Connection, head: ResponseHead, framing: Framing,
        first: bytes, reusable: bool, timeout: float | None,
    ) -> None:
        self._pool = pool
        self._connection: _Connection | None = connection
        self.status = head.status
        self.reason = head.reason.decode("latin-1")
        self.headers = Headers(head.headers)
        self._framing = framing
        self._first = first
        self._reusable = reusable
        self._timeout = timeout
        if framing.done and not first:
            self._finish()  # no body (HEAD, 204, Content-Length: 0)

    async def read(self) -> bytes:
        """Return the next block of the body as it arrives, or b"" once the body ended."""
        framing = self._framing
        if framing.error is not None:  # broken framing after the payload last returned
            raise framing.error
        while (connection := self._connection) is not None:
            try:
                data, self._first = self._first or await connection.read(self._timeout), b""
                payload = payload_of(framing, data)
            except BaseException:
                self.close()  # a cut body, broken framing, a timeout or a cancelled task
                raise
            if framing.error is not None:
                self.close()
            elif framing.done or not data:
                self._finish()
            if payload:
                return payload
        return b""

    def _finish(self) -> None:
        """Hand the connection back to the pool if the exchange ended cleanly, else close it."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        framing = self._framing
        if self._reusable and framing.done and not framing.extra and not self._first:
            self._pool.release(connection)
        else:
            connection.close()

    def close(self) -> None:
        """Close the connection unless the body was read to its end. Safe to call twice."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def to_httpx(self, request: httpx.Request) -> httpx.Response:
        """Return this response to ``request`` as an ``httpx.Response``, for httpx to take over.

        Its body is this one's, framing undone, so httpx decodes a ``Content-Encoding``
        (the client's own code reads only plain bodies), keeps a cookie it sets and follows a
        redirect.
        """
        kept = [(name, value) for name, value in self.headers.fields
                if name.lower() not in (b"transfer-encoding", b"content-length")]
        return httpx.Response(self.status, headers=kept, stream=_Body(self),
                              request=request,
                              extensions={"reason_phrase": self.reason.encode("latin-1")})


class _Body(httpx.AsyncByteStream):
    """An `AioResponse`'s body as httpx reads a response stream."""

    def __init__(self, response: AioResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while data := await self._response.read():
            yield data

    async def aclose(self) -> None:
        self._response.close()
