"""HTTP/1.1 on plain sockets: the sync Client's transport for ``http://`` hosts.

When requests would add nothing to a call (the client's own session, no proxy, no auth
handler, no cookie, not an upload), the `Client` sends it here instead of through requests,
urllib3 and http.client, whose per-call work (building the request objects, validating each
header again, ``email.parser`` reading the response head) costs several times what the
exchange itself does. The HTTP/1.1 is the sans-IO ``_http11``, shared with the AsyncClient's
transport; this module moves the bytes:

=============================================  ===============================================
``SocketTransport(host, port, fields)``        one origin's idle keep-alive connections
``.send(method, target, body, timeouts)``      a `SocketResponse` once its head arrived
``SocketResponse.read()``                      the next block of the body, b"" at its end
``SocketResponse.to_urllib3()``                the same response as urllib3's, for requests
=============================================  ===============================================

Failures are ``_http11``'s: `ConnectFailed` and `ConnectTimedOut` before a connection
exists, `ReadTimedOut` when the server is silent for longer than the read timeout,
`RemoteProtocolError` for what cannot be read as HTTP/1.1 or a body cut short, and the
socket's own `OSError` (reset, broken pipe) otherwise. Broken chunked framing is
`InvalidResponseError`.
"""

from __future__ import annotations

import collections
import socket
import weakref
from typing import Any

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

__all__ = ["READ_SIZE", "SocketResponse", "SocketTransport"]


class SocketTransport:
    """HTTP/1.1 to one ``http://`` origin, with a pool of idle keep-alive connections.

    ``fields`` are the header lines every request carries (``Host`` first); they are checked
    and encoded once, here. The pool keeps at most ``pool_size`` idle connections; connections
    in use are not limited, and no request waits for one. Threads may share a transport: the
    pool is a deque, whose appends and pops are atomic. An idle connection the server closed
    is discarded. A request is never sent twice here: when a connection drops before the
    answer, the client's retry policy decides (a call with side effects may have run).
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
        self._idle: collections.deque[socket.socket] = collections.deque()
        self._closed = False
        # A client dropped without close() must not leave its idle sockets to the collector,
        # which warns about each one.
        self._finalizer = weakref.finalize(self, _close_all, self._idle)

    def send(
        self, method: str, target: str, body: bytes | None,
        timeouts: tuple[float | None, float | None] | None,
    ) -> SocketResponse:
        """Send a request; return its response once the head arrived (the body is unread).

        ``target`` is the path and query, already quoted; ``timeouts`` is (connect, read)
        seconds, None for no limit.
        """
        connect, read = timeouts if timeouts is not None else (None, None)
        data = request_head(method, target, self._fields, body)
        sock = self._take() or self._connect(connect)
        return self._exchange(sock, method, data, body, read)

    def _exchange(
        self, sock: socket.socket, method: str, head: bytes, body: bytes | None,
        read_timeout: float | None,
    ) -> SocketResponse:
        """Write the request and read the response head; close the socket on failure."""
        parser = HeadParser()
        try:
            sock.settimeout(read_timeout)
            try:
                if body is not None and len(body) <= ONE_WRITE_LIMIT:
                    sock.sendall(head + body)
                else:
                    sock.sendall(head)
                    if body is not None:
                        sock.sendall(body)
            except (BrokenPipeError, ConnectionResetError) as exc:
                # The server may have answered and closed before reading it all (a 413 for a
                # body too big): that answer says more than the broken pipe.
                written: OSError | None = exc
            else:
                written = None
            response = None
            while response is None:
                try:
                    data = _recv(sock, read_timeout)
                except OSError:
                    if written is None:
                        raise
                    data = b""
                if not data:
                    raise written if written is not None else parser.closed()
                response = parser.feed(data)
            framing = body_framing(method, response)
        except BaseException:
            sock.close()
            raise
        return SocketResponse(self, sock, response, framing, parser.rest,
                              keeps_alive(response, self._connection_header))

    def _take(self) -> socket.socket | None:
        """Return the most recently used idle connection still open, if any."""
        idle = self._idle
        while True:
            try:
                sock = idle.pop()
            except IndexError:
                return None
            if not readable(sock.fileno()):
                return sock
            sock.close()

    def _connect(self, timeout: float | None) -> socket.socket:
        """Open a connection within ``timeout`` seconds."""
        host, port = self.address
        try:
            sock = socket.create_connection(self.address, timeout)
        except TimeoutError:
            raise ConnectTimedOut(f"no connection to {host}:{port} within {timeout} s") from None
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {host}:{port}: {exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def release(self, sock: socket.socket) -> None:
        """Keep a connection whose exchange ended cleanly, closing the oldest past the limit."""
        if self._closed:
            sock.close()
            return
        idle = self._idle
        idle.append(sock)
        while len(idle) > self._pool_size:
            try:
                idle.popleft().close()
            except IndexError:
                break

    def forget_idle(self) -> None:
        """Close the idle connections and go on: in a child process after ``os.fork()``, whose
        copies they are (closing a descriptor does not shut the parent's connection)."""
        _close_all(self._idle)

    def close(self) -> None:
        """Close the idle connections; connections in use close when their response ends."""
        self._closed = True
        _close_all(self._idle)


def _close_all(idle: collections.deque[socket.socket]) -> None:
    while True:
        try:
            idle.pop().close()
        except IndexError:
            return


def _recv(sock: socket.socket, timeout: float | None) -> bytes:
    try:
        return sock.recv(READ_SIZE)
    except TimeoutError:
        raise ReadTimedOut(f"no bytes from the server within {timeout} s") from None


class SocketResponse:
    """A response whose head arrived; ``read()`` returns its body in blocks.

    However it ends, its connection goes back to the pool only if the body was read to the
    end with clean framing and both sides keep the connection alive; otherwise it is closed,
    which is how closing a stream early stops Ollama generating.
    """

    __slots__ = ("_first", "_framing", "_reusable", "_sock", "_transport", "headers", "reason",
                 "status")

    def __init__(
        self, transport: SocketTransport, sock: socket.socket, head: ResponseHead,
        framing: Framing, first: bytes, reusable: bool,
    ) -> None:
        self._transport = transport
        self._sock: socket.socket | None = sock
        self.status = head.status
        self.reason = head.reason.decode("latin-1")
        self.headers = Headers(head.headers)
        self._framing = framing
        self._first = first
        self._reusable = reusable
        if framing.done and not first:
            self._finish()  # no body (HEAD, 204, Content-Length: 0)

    def read(self) -> bytes:
        """Return the next block of the body as it arrives, or b"" once the body ended."""
        framing = self._framing
        if framing.error is not None:  # broken framing after the payload last returned
            raise framing.error
        while (sock := self._sock) is not None:
            try:
                data, self._first = self._first or _recv(sock, sock.gettimeout()), b""
                payload = payload_of(framing, data)
            except BaseException:
                self.close()  # a cut body, broken framing, a timeout or a reset
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
        sock, self._sock = self._sock, None
        if sock is None:
            return
        framing = self._framing
        if self._reusable and framing.done and not framing.extra and not self._first:
            self._transport.release(sock)
        else:
            sock.close()

    def finish_within(self, seconds: float) -> None:
        """Read the rest of a body that is about to end, waiting ``seconds`` at most.

        If it ends in time with nothing more in it, the connection goes back to the pool;
        otherwise it is closed.
        """
        sock = self._sock
        if sock is None:
            return
        try:
            sock.settimeout(seconds)
            while self._sock is not None:
                if self.read():  # more payload after what was to be the end
                    self.close()
        except Exception:
            self.close()

    def close(self) -> None:
        """Close the connection unless the body was read to its end. Safe to call twice."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def to_urllib3(self) -> Any:
        """Return this response as a urllib3 response, for requests to take over.

        Its body is this one's, framing undone, so urllib3 decodes a ``Content-Encoding``
        (the client's own code reads only plain bodies) and requests can follow a redirect
        or keep a cookie. ``original_response.msg`` is what requests reads cookies from.
        """
        import http.client

        import urllib3

        message = http.client.HTTPMessage()  # repeated fields (Set-Cookie) kept apart
        for name, value in self.headers.fields:
            message[name.decode("latin-1")] = value.decode("latin-1")
        kept = {name: value for name, value in self.headers.items()
                if name.lower() not in ("transfer-encoding", "content-length")}
        body = _Payload(self)
        file: Any = body  # a file as urllib3 reads one
        original: Any = _Original(message, body)
        return urllib3.HTTPResponse(
            body=file, headers=kept, status=self.status, reason=self.reason,
            preload_content=False, decode_content=True, original_response=original,
        )


class _Payload:
    """A response's body with its framing undone, as the file urllib3 reads it from."""

    def __init__(self, response: SocketResponse) -> None:
        self._response = response
        self._buffer = b""
        self.closed = False

    def read1(self, size: int = -1) -> bytes:
        data = self._buffer or self._response.read()
        if not data:
            self.closed = True
        if size < 0 or len(data) <= size:
            self._buffer = b""
            return data
        data, self._buffer = data[:size], data[size:]
        return data

    def read(self, size: int = -1) -> bytes:
        parts = []
        left = size
        while left != 0:
            data = self.read1(left)
            if not data:
                break
            parts.append(data)
            left -= len(data) if left > 0 else 0
        return b"".join(parts)

    def close(self) -> None:
        self.closed = True
        self._response.close()


class _Original:
    """What urllib3 and requests use of http.client's response: the header message (for
    cookies), ``close()`` and ``isclosed()``."""

    def __init__(self, msg: Any, body: _Payload) -> None:
        self.msg = msg
        self._body = body

    def close(self) -> None:
        self._body.close()

    def isclosed(self) -> bool:
        return self._body.closed
