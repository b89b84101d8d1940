"""The AsyncClient's own HTTP/1.1 on asyncio: the pool, stale connections, bodies, errors, routes.

To a plain ``http://`` host that no proxy claims, with no cookie in httpx's jar and not an
upload, `AsyncClient` sends on its own asyncio connections (``_aio_transport``), one pool
per event loop; the rest goes through httpx. These tests go through the public
`AsyncClient` against the project's server and raw loopback servers that misbehave in ways
it does not, as ``test_sock_transport.py`` does for the sync client, plus what is the async
client's own: which calls go through httpx (proxies, https, uploads, a cookie set, a
redirect) and each event loop's connections. Every test here checks, when it ends, that
nothing went through httpx (``through_httpx``), but a test that takes ``through_httpx``
checks it itself. The sans-IO HTTP/1.1 both transports speak is tested byte by byte in
``test_http11.py``; compressed bodies on this path, for both clients, in
``test_compression.py``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from client_helpers import (
    STREAM,
    VERSION,
    RawServer,
    RawServerFactory,
    Reply,
    client_sockets,
    connections,
    http_response,
    with_length,
)

from ollama_wire import (
    AsyncClient,
    AsyncStream,
    ConnectError,
    GenerateResponse,
    IncompleteStreamError,
    ReadTimeout,
    ResponseError,
)
from ollama_wire._aio_transport import AioPool
from ollama_wire._http11 import MAX_HEAD_SIZE, ONE_WRITE_LIMIT
from ollama_wire._protocol import DEFAULT_POOL_SIZE
from ollama_wire.server import OllamaServer
from ollama_wire.testing import (
    CHAT_MODEL,
    EMBED_MODEL,
    loopback_socket_states,
    self_signed_certificate,
    wait_for_generation_stop,
)

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def _direct(request: pytest.FixtureRequest, through_httpx: list[str]) -> Iterator[None]:
    """Fail a test whose calls went through httpx, unless it takes ``through_httpx`` itself."""
    yield
    if "through_httpx" not in inspect.signature(request.function).parameters:
        assert through_httpx == [], "these calls went through httpx, not the client's own"


def answer(data: bytes, keep: bool = True) -> Reply:
    """Return a raw server's script that answers each request with ``data``."""

    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        conn.sendall(data)
        return keep

    return reply


async def generate(
    c: AsyncClient, stream: bool, received: list[str] | None = None, **options: Any
) -> Any:
    """Run a generate call whole, or streamed to its end with each part's text in ``received``."""
    if not stream:
        return await c.generate(CHAT_MODEL, "hi", **options)
    async for part in await c.generate(CHAT_MODEL, "hi", stream=True, **options):
        if received is not None:
            received.append(part.response)
    return None


async def sockets_now(port: int) -> int:
    """Count the client's sockets to ``port`` once the loop closed those the client dropped.

    A dropped connection's socket is closed by the loop at its next turn; this gives it one.
    """
    await asyncio.sleep(0)
    return client_sockets(port)


def wait_until_closed_by_server(port: int) -> None:
    """Wait until the server's FIN reached the client's one socket to ``port`` (CLOSE_WAIT).

    It blocks the thread, the event loop's too: that loop cannot read the FIN meanwhile.
    The kernel has no event for it that a test can wait on; on loopback it is there at once,
    so the first look almost always sees it.
    """
    deadline = time.monotonic() + 5
    while loopback_socket_states(port) != ["CLOSE_WAIT"]:
        assert time.monotonic() < deadline, loopback_socket_states(port)
        time.sleep(0.001)


async def closed_by_the_loop(port: int) -> None:
    """Wait, with the loop running, until it read the server's FIN and closed the socket."""
    deadline = time.monotonic() + 5
    while client_sockets(port):
        assert time.monotonic() < deadline, loopback_socket_states(port)
        await asyncio.sleep(0.001)


# Keep-alive and the pool -----------------------------------------------------------------------


def test_sequential_calls_of_every_kind_share_one_connection(ollama_server: OllamaServer) -> None:
    async def main() -> None:
        async with AsyncClient(ollama_server.url) as c:
            for _ in range(3):
                assert (await c.version()).version  # GET, Content-Length body
                assert (await c.chat(CHAT_MODEL, MESSAGES)).done is True
                assert [p async for p in await c.chat(CHAT_MODEL, MESSAGES, stream=True)
                        ][-1].done is True  # chunked
                async with c.generate(CHAT_MODEL, "hi", stream=True) as stream:
                    assert [part.done async for part in stream][-1] is True
                assert len((await c.embed(EMBED_MODEL, ["a", "b"])).embeddings) == 2
                assert client_sockets(ollama_server.port) == 1
        assert await sockets_now(ollama_server.port) == 0

    asyncio.run(main())
    assert len(ollama_server.requests) == 15
    assert connections(ollama_server) == 1


@pytest.mark.ollama_server(engine_options={"tokens_per_second": 200})
def test_closing_a_stream_early_closes_its_socket(ollama_server: OllamaServer) -> None:
    async def main() -> None:
        async with AsyncClient(ollama_server.url) as c:
            assert (await c.version()).version
            stream = c.generate(CHAT_MODEL, "hi", stream=True, options={"num_predict": 100_000})
            assert (await stream.__anext__()).done is False
            await stream.aclose()
            assert await sockets_now(ollama_server.port) == 0  # not back in the pool
            record = await asyncio.to_thread(wait_for_generation_stop, ollama_server,
                                             "/api/generate")
            assert record.disconnected
            assert record.tokens < 1000
            assert (await c.version()).version  # on a new connection

    asyncio.run(main())
    assert connections(ollama_server) == 2


def close_after_pooled(how: str, pooled: threading.Semaphore) -> Reply:
    """Return a script that answers, then ends the connection once the client pooled it.

    With ``shutdown`` it keeps reading after its FIN, so a request sent on the old
    connection would show in its log (and go unanswered).
    """

    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        conn.sendall(with_length(VERSION))
        assert pooled.acquire(timeout=5)
        conn.shutdown(socket.SHUT_RDWR if how == "close" else socket.SHUT_WR)
        return how == "shutdown"

    return reply


@pytest.mark.parametrize("how", ["shutdown", "close"])
def test_an_idle_connection_the_server_closed_is_closed_and_not_reused(
    raw_server: RawServerFactory, how: str
) -> None:
    """The loop reads the server's FIN on an idle connection and closes it at once."""
    pooled = threading.Semaphore(0)
    server = raw_server(close_after_pooled(how, pooled))

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            for _ in range(3):
                assert (await c.version()).version == "9.9.9"
                assert client_sockets(server.port) == 1  # in the pool
                pooled.release()
                await closed_by_the_loop(server.port)

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 2, 3]  # one request per connection


@pytest.mark.parametrize("how", ["shutdown", "close"])
def test_an_idle_connection_closed_before_the_loop_noticed_is_not_reused(
    raw_server: RawServerFactory, how: str
) -> None:
    """The FIN is on the socket, but the loop was busy and has not read it: ask the socket."""
    pooled = threading.Semaphore(0)
    server = raw_server(close_after_pooled(how, pooled))

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            for _ in range(3):
                assert (await c.version()).version == "9.9.9"
                pooled.release()
                wait_until_closed_by_server(server.port)  # blocks the loop until then

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 2, 3]


@pytest.mark.parametrize(
    "response",
    [
        http_response(VERSION, f"Content-Length: {len(VERSION)}", "Connection: close"),
        with_length(VERSION, version="HTTP/1.0"),
        with_length(VERSION) + b"junk past the end",
    ],
    ids=["connection-close", "http-1.0", "bytes-past-the-end"],
)
def test_a_connection_that_cannot_be_reused_is_closed(
    raw_server: RawServerFactory, response: bytes
) -> None:
    server = raw_server(answer(response))  # keeps the connection open: the client must close it

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            for _ in range(3):
                assert (await c.version()).version == "9.9.9"
                assert await sockets_now(server.port) == 0  # closed, not pooled
                assert await asyncio.to_thread(server.finished.acquire, True, 5)  # seen to go

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 2, 3]


def test_a_connection_the_client_says_to_close_is_not_kept(raw_server: RawServerFactory) -> None:
    server = raw_server(answer(with_length(VERSION)))

    async def main() -> None:
        async with AsyncClient(server.url, headers={"Connection": "close"}, max_retries=0) as c:
            for _ in range(2):
                assert (await c.version()).version == "9.9.9"
                assert await sockets_now(server.port) == 0

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 2]
    assert server.headers[0]["connection"] == "close"


#: What a raw server answers to a whole ``/api/generate``.
GENERATED = json.dumps({"model": CHAT_MODEL, "response": "ok", "done": True}).encode()


def stale_second(conn: socket.socket, index: int, request_line: bytes) -> bool:
    """Answer each request, but the second on a connection: it arrives, and the server goes.

    That is a keep-alive connection the server closed while the client sent on it: the
    client cannot tell whether the request ran.
    """
    if index == 2:
        return False
    conn.sendall(with_length(GENERATED if b"generate" in request_line else VERSION))
    return True


def test_a_stale_connection_is_a_dropped_connection_not_sent_again(
    raw_server: RawServerFactory,
) -> None:
    server = raw_server(stale_second)

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            assert (await c.version()).version == "9.9.9"
            with pytest.raises(ConnectError, match=r"dropped before a response arrived \(the "
                               "server closed the connection without sending a response"):
                await c.version()
            assert await sockets_now(server.port) == 0

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 1]  # the transport never resends


def test_a_stale_connection_is_retried_by_the_retry_policy(
    raw_server: RawServerFactory, sleeps: list[float]
) -> None:
    server = raw_server(stale_second)

    async def main() -> None:
        async with AsyncClient(server.url) as c:
            assert (await c.version()).version == "9.9.9"
            assert (await c.generate(CHAT_MODEL, "hi")).response == "ok"  # dropped, retried
            assert await sockets_now(server.port) == 1  # the new one; the stale one closed

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 1, 2]
    assert len(sleeps) == 1


def test_a_call_with_side_effects_on_a_stale_connection_is_not_retried(
    raw_server: RawServerFactory, sleeps: list[float]
) -> None:
    server = raw_server(stale_second)

    async def main() -> None:
        async with AsyncClient(server.url) as c:
            assert (await c.version()).version == "9.9.9"
            with pytest.raises(ConnectError, match="dropped before a response arrived"):
                await c.delete(CHAT_MODEL)  # it may have run: not sent again
            assert await sockets_now(server.port) == 0

    asyncio.run(main())
    assert server.log == [(1, b"GET /api/version HTTP/1.1"), (1, b"DELETE /api/delete HTTP/1.1")]
    assert sleeps == []


def test_a_connection_dropped_in_the_response_head_says_so(raw_server: RawServerFactory) -> None:
    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        if index == 2:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-")
            return False
        conn.sendall(with_length(VERSION))
        return True

    server = raw_server(reply)

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            assert (await c.version()).version == "9.9.9"
            with pytest.raises(ConnectError,
                               match="in the middle of the response head, after 25"):
                await c.version()
            assert await sockets_now(server.port) == 0

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 1]


def test_a_new_connection_that_drops_is_not_sent_again(raw_server: RawServerFactory) -> None:
    server = raw_server(lambda conn, index, request_line: False)  # never answers

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            with pytest.raises(ConnectError, match="without sending a response"):
                await c.version()

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1]


# Bodies ----------------------------------------------------------------------------------------


def body_for(request_line: bytes) -> bytes:
    """Return what a raw server answers: a stream to ``/api/generate``, else the version."""
    return STREAM if b"generate" in request_line else VERSION


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
def test_a_body_delimited_by_the_close_of_the_connection(
    raw_server: RawServerFactory, version: str
) -> None:
    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        body = body_for(request_line)
        conn.sendall(http_response(body[:10], version=version))
        conn.sendall(body[10:])
        return False

    server = raw_server(reply)

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            assert (await c.version()).version == "9.9.9"
            parts = [p.response async for p in await c.generate(CHAT_MODEL, "hi", stream=True)]
            assert parts == ["Hello", " there", ""]
            assert await sockets_now(server.port) == 0

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 2]


def test_a_length_body_sent_in_pieces(raw_server: RawServerFactory) -> None:
    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        body = body_for(request_line)
        data = http_response(body, f"Content-Length: {len(body)}")
        for start in range(0, len(data), 7):
            conn.sendall(data[start:start + 7])
        return True

    server = raw_server(reply)

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            for _ in range(2):
                assert (await c.version()).version == "9.9.9"
                stream = c.generate(CHAT_MODEL, "hi", stream=True)
                assert [p.response async for p in stream] == ["Hello", " there", ""]
            assert client_sockets(server.port) == 1

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 1, 1, 1]


def chunk(data: bytes) -> bytes:
    """Return ``data`` as one chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


#: The first line of `STREAM`: one chunk, "Hello".
FIRST_LINE = STREAM[:STREAM.index(b"\n") + 1]
#: Bodies cut after `FIRST_LINE` and two bytes of the next line.
CUT_SHORT = {
    "length": http_response(FIRST_LINE + b'{"', f"Content-Length: {len(STREAM)}"),
    "chunked": http_response(b"", "Transfer-Encoding: chunked") + chunk(FIRST_LINE)
    + chunk(b'{"'),
}


@pytest.mark.parametrize("framing", list(CUT_SHORT))
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_body_cut_short_is_an_incomplete_stream(
    raw_server: RawServerFactory, framing: str, stream: bool
) -> None:
    server = raw_server(answer(CUT_SHORT[framing], keep=False))
    received: list[str] = []

    async def main() -> IncompleteStreamError:
        async with AsyncClient(server.url, max_retries=0) as c:
            with pytest.raises(IncompleteStreamError, match="closed the connection before the "
                               "end of the response") as info:
                await generate(c, stream, received)
            assert await sockets_now(server.port) == 0
        return info.value

    error = asyncio.run(main())
    assert received == (["Hello"] if stream else [])
    assert [part.response for part in error.chunks] == received
    assert len(server.log) == 1


def test_an_interim_100_continue_is_skipped(raw_server: RawServerFactory) -> None:
    server = raw_server(answer(b"HTTP/1.1 100 Continue\r\n\r\n" + with_length(VERSION)))

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            for _ in range(2):
                assert (await c.version()).version == "9.9.9"

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 1]


def test_a_response_without_a_body_keeps_its_connection(raw_server: RawServerFactory) -> None:
    """A 204 has no body: the connection is free again as soon as the head arrived."""
    server = raw_server(answer(b"HTTP/1.1 204 No Content\r\n\r\n"))

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            for _ in range(2):
                assert (await c.copy(CHAT_MODEL, "copied")).status == "success"
                assert await sockets_now(server.port) == 1

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 1]


# Failures --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (b"HTTP/2 200 OK\r\n\r\n", r"invalid status line from the server: 'HTTP/2 200 OK'"),
        (b"<html>hello</html>\r\n\r\n", r"invalid status line from the server: '<html>hello"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
         "invalid header line from the server: 'no colon here'"),
        (b"HTTP/1.1 200 OK\r\nBig: " + b"x" * MAX_HEAD_SIZE + b"\r\n\r\n",
         f"response head is longer than {MAX_HEAD_SIZE} bytes: 'HTTP/1.1 200 OK"),
    ],
    ids=["status-line", "html", "header-line", "too-long"],
)
def test_a_bad_head_is_a_connect_error_that_says_what_arrived(
    raw_server: RawServerFactory, response: bytes, message: str
) -> None:
    server = raw_server(answer(response, keep=False))

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            with pytest.raises(ConnectError, match=message):
                await c.version()
            assert await sockets_now(server.port) == 0

    asyncio.run(main())
    assert len(server.log) == 1


def test_a_refused_connection_is_a_connect_error(refused_url: str) -> None:
    async def main() -> None:
        async with AsyncClient(refused_url, max_retries=0) as c:
            with pytest.raises(ConnectError, match=re.escape(
                    f"Could not connect to Ollama at {refused_url}: is it")):
                await c.version()

    asyncio.run(main())


@pytest.mark.parametrize("stream", [False, True], ids=["head", "stream"])
def test_silence_past_the_read_timeout_is_a_read_timeout(
    raw_server: RawServerFactory, stream: bool
) -> None:
    """The server reads the request, then sends nothing (or one chunk) until the test ends."""
    release = threading.Event()

    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        if stream:
            conn.sendall(http_response(b"", "Transfer-Encoding: chunked") + chunk(FIRST_LINE))
        release.wait(5)
        return False

    server = raw_server(reply)

    async def main() -> ReadTimeout:
        async with AsyncClient(server.url, timeout=(5, 0.1), max_retries=0) as c:
            with pytest.raises(ReadTimeout, match="sent nothing for longer than the read") as info:
                await generate(c, stream)
            assert await sockets_now(server.port) == 0
        return info.value

    try:
        error = asyncio.run(main())
    finally:
        release.set()
    assert [part.response for part in error.chunks] == (["Hello"] if stream else [])
    assert len(server.log) == 1


@pytest.mark.parametrize("drain", [False, True], ids=["closes", "drains"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_an_answer_before_the_body_was_sent_is_the_servers_error(
    stream: bool, drain: bool
) -> None:
    """A server may answer (413) before it read a big body the client is writing.

    The body is bigger than both sockets' buffers, so the client is still writing when the
    answer arrives. The server then closes at once, and the client's writes fail, or it
    shuts its side and reads the rest away (as the project's server does), and the
    connection ends while the answer is read. Either way the answer is what is raised.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    error = b'{"error":"request body too large"}'
    received: list[int] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            received.append(len(data))
            conn.sendall(http_response(error, f"Content-Length: {len(error)}",
                                       "Connection: close", status="413 Payload Too Large"))
            if drain:
                conn.shutdown(socket.SHUT_WR)
                conn.settimeout(5)
                while conn.recv(1 << 20):
                    pass
        # Otherwise closed with the body unread: the client's next writes fail.

    async def main() -> ResponseError:
        async with AsyncClient(url, max_retries=0) as c:
            with pytest.raises(ResponseError) as info:
                await generate(c, stream, images=[image])
        return info.value

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    image = bytes(12 * 1024 * 1024)  # 16 MiB of base64: more than both buffers hold
    try:
        raised = asyncio.run(main())
    finally:
        listener.close()
        thread.join(5)
    assert raised.status_code == 413
    assert raised.error == "request body too large"
    assert received[0] < len(image)  # it answered before the body arrived


# Closing, the pool's size, many streams --------------------------------------------------------


@pytest.fixture
def held(raw_server: RawServerFactory) -> Iterator[tuple[RawServer, threading.Event]]:
    """Return a raw server whose streams stop after their first line until the event is set.

    A stream's connection is surely in use while it waits: a whole body that arrived at
    once would free its connection before the stream's chunks were handed over.
    """
    release = threading.Event()

    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        if b"generate" not in request_line:
            conn.sendall(with_length(VERSION))
            return True
        conn.sendall(http_response(FIRST_LINE, f"Content-Length: {len(STREAM)}"))
        release.wait(5)
        conn.sendall(STREAM[len(FIRST_LINE):])
        return True

    yield raw_server(reply), release
    release.set()


async def open_streams(c: AsyncClient, count: int) -> list[AsyncStream[GenerateResponse]]:
    """Start ``count`` streams at once on one loop, each on its own connection; return them."""
    streams = [c.generate(CHAT_MODEL, "hi", stream=True) for _ in range(count)]
    firsts = await asyncio.gather(*(stream.__anext__() for stream in streams))
    assert [first.response for first in firsts] == ["Hello"] * count
    return streams


async def read_to_the_end(streams: list[AsyncStream[GenerateResponse]]) -> None:
    """Read the rest of each stream: each connection goes back to the pool."""
    for stream in streams:
        assert [part.response async for part in stream] == [" there", ""]


def test_close_closes_the_idle_connections_and_the_client_still_works(
    held: tuple[RawServer, threading.Event],
) -> None:
    server, release = held

    async def main() -> None:
        c = AsyncClient(server.url, max_retries=0)
        streams = await open_streams(c, 3)
        release.set()
        await read_to_the_end(streams)
        assert client_sockets(server.port) == 3
        await c.close()
        assert await sockets_now(server.port) == 0
        assert (await c.version()).version == "9.9.9"
        assert client_sockets(server.port) == 1
        await c.close()
        await c.close()  # twice is fine
        assert await sockets_now(server.port) == 0

    asyncio.run(main())
    assert server.connections() == 4


def test_64_streams_at_once_and_the_pool_keeps_at_most_its_size(
    held: tuple[RawServer, threading.Event],
) -> None:
    server, release = held
    count = 64
    assert count > DEFAULT_POOL_SIZE

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            streams = await open_streams(c, count)
            assert client_sockets(server.port) == count
            release.set()
            await read_to_the_end(streams)  # the oldest idle connections closed past the size
            assert await sockets_now(server.port) == DEFAULT_POOL_SIZE
            for _ in range(count):
                assert (await c.version()).version == "9.9.9"  # on the newest idle connection
            assert client_sockets(server.port) == DEFAULT_POOL_SIZE
        assert await sockets_now(server.port) == 0

    asyncio.run(main())
    assert server.connections() == count


# One write per request -------------------------------------------------------------------------


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], list[bytes]]:
    """Record the writes of this process's sockets: ``writes(port)`` lists those to ``port``.

    asyncio's transport writes with ``send`` (or ``sendmsg``): a ``transport.write`` on an
    empty buffer is one ``send`` of all its bytes, and what the kernel did not take then goes
    out in later sends of the rest. A write here is what a send was given when the previous
    one to that port was sent whole; its continuations are folded into it. The peer's port
    tells the client's writes from the server's (those go to the client's port).
    """
    seen: list[tuple[int, bytes, int]] = []

    def recording(name: str) -> Callable[..., Any]:
        original = getattr(socket.socket, name)

        def write(sock: socket.socket, data: Any, *args: Any) -> Any:
            try:
                peer = sock.getpeername()
            except OSError:
                peer = None
            sent = original(sock, data, *args)
            if isinstance(peer, tuple):  # not the loop's own socketpair
                whole = b"".join(data) if name == "sendmsg" else bytes(data)
                seen.append((peer[1], whole, sent))
            return sent

        return write

    def writes(port: int) -> list[bytes]:
        found: list[bytes] = []
        unsent = 0
        for peer, data, sent in seen:
            if peer != port:
                continue
            if unsent:
                assert data == found[-1][-unsent:]  # the rest of the last write, nothing else
            else:
                found.append(data)
            unsent = len(data) - sent
        return found

    for name in ("send", "sendmsg"):
        monkeypatch.setattr(socket.socket, name, recording(name))
    return writes


def split_request(data: bytes) -> tuple[bytes, bytes]:
    """Return a request's head (with its blank line) and its body."""
    head, _, body = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", body


def test_a_request_is_one_write_up_to_the_limit_then_head_and_body(
    raw_server: RawServerFactory, writes: Callable[[int], list[bytes]]
) -> None:
    """The head and a body up to `ONE_WRITE_LIMIT` go in one write, a bigger body apart.

    One write wakes the server once and costs one system call; a big body (images) is not
    copied behind the head. The writes are counted at the client's socket, which is exact:
    what the server's reads return depends on timing.
    """

    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        conn.sendall(with_length(VERSION if b"version" in request_line else GENERATED))
        return True

    server = raw_server(reply)

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            assert (await c.version()).version == "9.9.9"
            [get] = writes(server.port)
            assert get.startswith(b"GET /api/version HTTP/1.1\r\n")
            assert get.endswith(b"\r\n\r\n")  # no body: the head alone
            assert (await c.generate(CHAT_MODEL, "x")).done
            [small] = writes(server.port)[1:]
            head, body = split_request(small)
            assert head.startswith(b"POST /api/generate HTTP/1.1\r\n")
            assert b"\r\nContent-Length: %d\r\n" % len(body) in head
            assert json.loads(body)["prompt"] == "x"
            # Prompts that make the body exactly the limit, then one byte more.
            fill = "x" * (1 + ONE_WRITE_LIMIT - len(body))
            assert (await c.generate(CHAT_MODEL, fill)).done
            [limit] = writes(server.port)[2:]
            assert len(split_request(limit)[1]) == ONE_WRITE_LIMIT
            assert (await c.generate(CHAT_MODEL, fill + "x")).done
            head, rest = writes(server.port)[3:]
            assert split_request(head) == (head, b"")  # the head alone...
            assert b"\r\nContent-Length: %d\r\n" % (ONE_WRITE_LIMIT + 1) in head
            assert len(rest) == ONE_WRITE_LIMIT + 1  # ...then the body
            assert json.loads(rest)["prompt"] == fill + "x"

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 1, 1, 1]


# Proxies, https, uploads: through httpx --------------------------------------------------------

PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY",
                   "https_proxy", "NO_PROXY", "no_proxy")


@pytest.fixture
def proxy(raw_server: RawServerFactory, monkeypatch: pytest.MonkeyPatch) -> RawServer:
    """Return a raw server that answers as a proxy would, the environment's proxies cleared."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return raw_server(answer(with_length(VERSION)))


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
def test_an_http_proxy_from_the_environment_is_used_through_httpx(
    proxy: RawServer, monkeypatch: pytest.MonkeyPatch, through_httpx: list[str], variable: str,
) -> None:
    monkeypatch.setenv(variable, proxy.url)
    target = "http://ollama.test:11434"  # the proxy answers itself: the name is never looked up

    async def main() -> None:
        async with AsyncClient(target, max_retries=0) as c:
            assert (await c.version()).version == "9.9.9"
            assert (await c._transport()).pool is None

    asyncio.run(main())
    assert proxy.log == [(1, f"GET {target}/api/version HTTP/1.1".encode())]  # absolute form
    assert through_httpx == [f"GET {target}/api/version"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_environments_proxy_never_takes_a_loopback_host(
    proxy: RawServer, raw_server: RawServerFactory, monkeypatch: pytest.MonkeyPatch,
    through_httpx: list[str], host: str,
) -> None:
    server = raw_server(answer(with_length(VERSION)))
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("ALL_PROXY", proxy.url)
    url = server.url.replace("127.0.0.1", host)

    async def main() -> None:
        async with AsyncClient(url, max_retries=0) as c:
            assert (await c.version()).version == "9.9.9"
            assert (await c._transport()).pool is not None  # the client's own connections
        # A proxy given to httpx itself is the user's choice, and is used.
        async with AsyncClient(url, max_retries=0, proxy=proxy.url) as c:
            assert (await c.version()).version == "9.9.9"

    asyncio.run(main())
    assert server.log == [(1, b"GET /api/version HTTP/1.1")]
    assert proxy.log == [(1, f"GET {url}/api/version HTTP/1.1".encode())]
    assert through_httpx == [f"GET {url}/api/version"]  # the proxied call only


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "*", "localhost, 127.0.0.1"])
def test_a_host_the_environment_does_not_proxy_gets_the_clients_own_connections(
    proxy: RawServer, raw_server: RawServerFactory, monkeypatch: pytest.MonkeyPatch,
    no_proxy: str,
) -> None:
    server = raw_server(answer(with_length(VERSION)))
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            assert (await c.version()).version == "9.9.9"
            assert (await c._transport()).pool is not None

    asyncio.run(main())
    assert proxy.log == []
    assert server.log == [(1, b"GET /api/version HTTP/1.1")]


def test_https_goes_through_httpx(
    tmp_path: Path, ollama_server_factory: Callable[..., OllamaServer],
    through_httpx: list[str],
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ollama_server_factory(ssl_context=context)

    async def main() -> None:
        async with AsyncClient(server.url, verify=str(cert)) as c:
            assert (await c.version()).version
            assert [p async for p in c.chat(CHAT_MODEL, MESSAGES, stream=True)][-1].done is True
            assert (await c._transport()).pool is None

    asyncio.run(main())
    assert through_httpx == [f"GET {server.url}/api/version", f"POST {server.url}/api/chat"]
    assert connections(server) == 1  # httpx's pool


def test_an_upload_goes_through_httpx_and_the_next_call_does_not(
    ollama_server: OllamaServer, tmp_path: Path, through_httpx: list[str]
) -> None:
    path = tmp_path / "layer.bin"
    path.write_bytes(bytes(range(256)) * 64)

    async def main() -> str:
        async with AsyncClient(ollama_server.url) as c:
            digest = await c.create_blob(path)  # streamed from the file by httpx
            assert (await c.version()).version  # on the client's own connection
            return digest

    digest = asyncio.run(main())
    assert through_httpx == [f"POST {ollama_server.url}/api/blobs/{digest}"]
    assert [record.path for record in ollama_server.requests] == [
        f"/api/blobs/{digest}", "/api/version"]
    assert connections(ollama_server) == 2


# Hand-offs to httpx: a cookie set, a redirect --------------------------------------------------


def test_a_cookie_the_server_sets_goes_to_httpx_which_sends_it_on_later_calls(
    raw_server: RawServerFactory, through_httpx: list[str]
) -> None:
    server = raw_server(answer(http_response(VERSION, f"Content-Length: {len(VERSION)}",
                                             "Set-Cookie: session=s1; Path=/")))

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            assert (await c.version()).version == "9.9.9"  # on the client's own connection
            assert through_httpx == []
            http = (await c._transport()).http
            assert dict(http.cookies) == {"session": "s1"}  # kept in httpx's jar
            for _ in range(2):
                assert (await c.version()).version == "9.9.9"  # through httpx, with it

    asyncio.run(main())
    assert "cookie" not in server.headers[0]
    assert [headers.get("cookie") for headers in server.headers[1:]] == ["session=s1"] * 2
    assert through_httpx == [f"GET {server.url}/api/version"] * 2


def test_a_redirect_on_the_clients_own_connection_is_followed_by_httpx(
    raw_server: RawServerFactory, through_httpx: list[str]
) -> None:
    """httpx takes the redirect over and sends the next request; the first is not sent again."""

    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        if b" /moved/" in request_line:
            conn.sendall(with_length(VERSION))
        else:
            conn.sendall(http_response(b"", "Location: /moved/api/version",
                                       "Content-Length: 0", status="307 Temporary Redirect"))
        return True

    server = raw_server(reply)

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            for _ in range(2):
                assert (await c.version()).version == "9.9.9"

    asyncio.run(main())
    assert server.log == [
        (1, b"GET /api/version HTTP/1.1"),  # on the client's own connection, kept
        (2, b"GET /moved/api/version HTTP/1.1"),  # through httpx, on its own
    ] * 2
    assert through_httpx == [f"GET {server.url}/moved/api/version"] * 2


# Event loops -----------------------------------------------------------------------------------


@pytest.mark.ollama_server(engine_options={"tokens_per_second": 200})
def test_a_loops_connections_close_when_it_ends_and_the_next_loop_has_its_own(
    ollama_server: OllamaServer,
) -> None:
    """``asyncio.run()`` closes the pool of its loop: idle connections and open streams."""
    c = AsyncClient(ollama_server.url)
    pools: list[AioPool | None] = []

    async def first() -> AsyncStream[GenerateResponse]:
        pools.append((await c._transport()).pool)
        stream = c.generate(CHAT_MODEL, "hi", stream=True, options={"num_predict": 100_000})
        assert (await stream.__anext__()).done is False
        assert (await c.version()).version  # on a second connection, then idle
        assert client_sockets(ollama_server.port) == 2
        return stream  # left open as the loop ends

    async def second() -> str | None:
        pools.append((await c._transport()).pool)
        return (await c.version()).version

    stream = asyncio.run(first())
    assert client_sockets(ollama_server.port) == 0
    record = wait_for_generation_stop(ollama_server, "/api/generate")
    assert record.disconnected
    assert record.tokens < 1000
    assert asyncio.run(second()) == "0.12.6"
    assert client_sockets(ollama_server.port) == 0
    assert [part.done for part in stream.chunks] == [False]  # what came before its loop ended
    assert None not in pools
    assert pools[0] is not pools[1]
    assert connections(ollama_server) == 3
