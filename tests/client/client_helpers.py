"""Helpers shared by the client tests."""

from __future__ import annotations

import asyncio
import inspect
import json
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Generic, TypeAlias, TypeVar

from ollama_wire import AsyncClient, Client, Stream
from ollama_wire._async_client import AsyncStream
from ollama_wire.server import OllamaServer
from ollama_wire.testing import CHAT_MODEL, open_loopback_sockets

T = TypeVar("T")


#: Count this process's sockets connected to a loopback ``port``: the client's side only.
client_sockets = open_loopback_sockets


#: What the shared tests get as ``client``: a `Client` or a `SyncAsyncClient`.
AnyClient: TypeAlias = "Client | SyncAsyncClient"


def connections(server: OllamaServer) -> int:
    """Count the connections the server saw requests on."""
    return len({record.connection for record in server.requests})


class LoopThread:
    """An event loop running in its own thread, as in an async application."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run ``awaitable`` on the loop and return its result (or raise its error)."""

        async def wrap() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result()

    def stop(self) -> None:
        """Close the loop's async generators, then stop and close the loop."""
        self.run(self.loop.shutdown_asyncgens())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class _Driven:
    """An async object (``inner``) driven from sync code on a `LoopThread`."""

    def __init__(self, inner: Any, loop: LoopThread) -> None:
        self.inner = inner
        self._loop = loop

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self.inner)

    def close(self) -> None:
        closing = getattr(self.inner, "aclose", None) or self.inner.close
        self._loop.run(closing())


class SyncStream(_Driven, Generic[T]):
    """An `AsyncStream` driven from sync code."""

    inner: AsyncStream[T]

    @property
    def chunks(self) -> list[T]:
        return self.inner.chunks

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        try:
            return self._loop.run(self.inner.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None


class SyncAsyncClient(_Driven):
    """An `AsyncClient` driven from sync code, so one test body serves both clients.

    Each method call runs on the loop thread; a stream comes back as a `SyncStream`. Bad
    input raises at the call, as it does in async code before any ``await``.
    """

    inner: AsyncClient

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name.startswith("_") or not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if isinstance(result, AsyncStream):
                return SyncStream(result, self._loop)
            return self._loop.run(result) if inspect.isawaitable(result) else result

        return call


class ClientKind:
    """Make clients of one kind (``"sync"`` or ``"async"``) for the shared client tests.

    ``kind(url, **options)`` makes one (closed after the test); ``kind.stream_type`` is the
    class its streams are; ``kind.unwrap(obj)`` is the real client or stream behind one.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.stream_type: type[Any] = Stream if name == "sync" else AsyncStream
        self._loop: LoopThread | None = None
        self._made: list[Any] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        made: Any
        if self.name == "sync":
            made = Client(*args, **kwargs)
        else:
            inner = AsyncClient(*args, **kwargs)
            if self._loop is None:
                self._loop = LoopThread()
            made = SyncAsyncClient(inner, self._loop)
        self._made.append(made)
        return made

    def __repr__(self) -> str:
        return self.name

    @staticmethod
    def unwrap(obj: Any) -> Any:
        return getattr(obj, "inner", obj)

    def close(self) -> None:
        for made in self._made:
            made.close()
        if self._loop is not None:
            self._loop.stop()


# Raw loopback servers --------------------------------------------------------------------------

#: What a raw server's ``/api/version`` answers.
VERSION = b'{"version":"9.9.9"}'


def http_response(body: bytes, *headers: str, status: str = "200 OK",
                  version: str = "HTTP/1.1") -> bytes:
    """Return a response head with ``headers`` (and a JSON content type), then ``body``."""
    lines = [f"{version} {status}", "Content-Type: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def with_length(body: bytes, version: str = "HTTP/1.1") -> bytes:
    """Return a response of ``body`` framed by its Content-Length."""
    return http_response(body, f"Content-Length: {len(body)}", version=version)


def ndjson(*chunks: dict[str, Any]) -> bytes:
    """Return ``chunks`` as the lines of a streamed body."""
    return b"".join(json.dumps(chunk).encode() + b"\n" for chunk in chunks)


#: A whole ``/api/generate`` stream: two tokens, then the final chunk.
STREAM = ndjson(
    {"model": CHAT_MODEL, "response": "Hello", "done": False},
    {"model": CHAT_MODEL, "response": " there", "done": False},
    {"model": CHAT_MODEL, "response": "", "done": True, "done_reason": "stop"},
)

#: ``reply(connection, index, request_line) -> keep reading``: a raw server's script.
Reply = Callable[[socket.socket, int, bytes], bool]


class RawServer:
    """A loopback HTTP server scripted by ``reply(connection, index, request_line)``.

    For servers that misbehave in ways the project's server does not. Each connection is
    served in its own thread: read a request (head and Content-Length body), log it, and call
    ``reply`` with the socket, the request's number on that connection (from 1) and its
    request line; ``reply`` sends what it likes and returns whether to read another request
    from the connection (else the server closes it). ``log`` holds (connection number,
    request line) per request read, ``headers`` its header fields (names lower-case);
    ``finished`` is released each time a connection ended on the server's side.
    """

    def __init__(self, reply: Reply) -> None:
        self._reply = reply
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log: list[tuple[int, bytes]] = []
        self.headers: list[dict[str, str]] = []
        self.finished = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def connections(self) -> int:
        """Count the connections the server read a request on."""
        return len({number for number, _ in self.log})

    def _accept(self) -> None:
        number = 0
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            number += 1
            self._open.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn, number), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        with conn, conn.makefile("rb") as file:
            index = 0
            while True:
                request = read_request(file)
                if request is None:
                    break
                request_line, headers = request
                index += 1
                self.headers.append(headers)
                self.log.append((number, request_line))
                if not self._reply(conn, index, request_line):
                    break
        self.finished.release()

    def close(self) -> None:
        """Stop accepting, end every connection and wait for the server's threads."""
        # Closing a listening socket does not wake a thread blocked in accept(); shutdown does.
        for sock in [self._listener, *self._open]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed
        self._listener.close()
        for thread in [self._accepting, *self._threads]:
            thread.join(5)


def read_request(file: Any) -> tuple[bytes, dict[str, str]] | None:
    """Read one request (head and Content-Length body); return its request line and headers.

    The headers' names are lower-case; None: the connection ended before a request.
    """
    try:
        request_line = file.readline()
    except OSError:  # the client reset the connection
        return None
    if not request_line:
        return None
    headers: dict[str, str] = {}
    while (line := file.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    file.read(int(headers.get("content-length", 0)))
    return bytes(request_line.rstrip(b"\r\n")), headers


#: ``raw_server(reply)``: the ``raw_server`` fixture, which starts `RawServer`s.
RawServerFactory = Callable[[Reply], RawServer]
