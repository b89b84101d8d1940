"""The sync Client's own HTTP/1.1 on sockets: the pool, stale connections, bodies, errors.

To a plain ``http://`` host, with its own session and nothing for requests to add, `Client`
speaks HTTP/1.1 itself (``_sock_transport``) over a pool of idle keep-alive connections.
These tests go through the public `Client` against the project's server and raw loopback
servers that misbehave in ways it does not, as ``test_aio_transport.py`` does for the
AsyncClient's transport, plus what is the sync client's own: threads sharing the pool, a
client dropped without ``close()``, and a request in one write. Every test here checks,
when it ends, that nothing went through requests (``through_requests``).
"""

from __future__ import annotations

import gc
import json
import re
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
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
    Client,
    ConnectError,
    IncompleteStreamError,
    ReadTimeout,
    ResponseError,
)
from ollama_wire._http11 import MAX_HEAD_SIZE, ONE_WRITE_LIMIT
from ollama_wire._protocol import DEFAULT_POOL_SIZE
from ollama_wire.server import OllamaServer
from ollama_wire.testing import (
    CHAT_MODEL,
    EMBED_MODEL,
    loopback_socket_states,
    wait_for_generation_stop,
)

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def _on_sockets(through_requests: list[str]) -> Iterator[None]:
    """Fail a test whose calls went through requests: they are here for the sockets."""
    yield
    assert through_requests == [], "these calls went through requests, not the sockets"


def answer(data: bytes, keep: bool = True) -> Reply:
    """Return a raw server's script that answers each request with ``data``."""

    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        conn.sendall(data)
        return keep

    return reply


def generate(c: Client, stream: bool, received: list[str] | None = None, **options: Any) -> Any:
    """Run a generate call whole, or streamed to its end with each part's text in ``received``."""
    if not stream:
        return c.generate(CHAT_MODEL, "hi", **options)
    for part in c.generate(CHAT_MODEL, "hi", stream=True, **options):
        if received is not None:
            received.append(part.response)
    return None


def wait_until_closed_by_server(port: int) -> None:
    """Wait until the server's FIN reached the client's one socket to ``port`` (CLOSE_WAIT).

    The kernel has no event for it that a test can wait on; on loopback it is there at once,
    so the first look almost always sees it.
    """
    deadline = time.monotonic() + 5
    while loopback_socket_states(port) != ["CLOSE_WAIT"]:
        assert time.monotonic() < deadline, loopback_socket_states(port)
        time.sleep(0.001)


# Keep-alive and the pool -----------------------------------------------------------------------


def test_sequential_calls_of_every_kind_share_one_connection(ollama_server: OllamaServer) -> None:
    with Client(ollama_server.url) as c:
        for _ in range(3):
            assert c.version().version  # GET, Content-Length body
            assert c.chat(CHAT_MODEL, MESSAGES).done is True
            assert list(c.chat(CHAT_MODEL, MESSAGES, stream=True))[-1].done is True  # chunked
            with c.generate(CHAT_MODEL, "hi", stream=True) as stream:
                assert [part.done for part in stream][-1] is True
            assert len(c.embed(EMBED_MODEL, ["a", "b"]).embeddings) == 2
            assert client_sockets(ollama_server.port) == 1
    assert client_sockets(ollama_server.port) == 0
    assert len(ollama_server.requests) == 15
    assert connections(ollama_server) == 1


@pytest.mark.ollama_server(engine_options={"tokens_per_second": 200})
def test_closing_a_stream_early_closes_its_socket(ollama_server: OllamaServer) -> None:
    with Client(ollama_server.url) as c:
        assert c.version().version
        stream = c.generate(CHAT_MODEL, "hi", stream=True, options={"num_predict": 100_000})
        assert next(stream).done is False
        stream.close()
        assert client_sockets(ollama_server.port) == 0  # not back in the pool
        record = wait_for_generation_stop(ollama_server, "/api/generate")
        assert record.disconnected
        assert record.tokens < 1000
        assert c.version().version  # on a new connection
    assert connections(ollama_server) == 2


@pytest.mark.parametrize("how", ["shutdown", "close"])
def test_an_idle_connection_the_server_closed_is_not_reused(
    raw_server: RawServerFactory, how: str
) -> None:
    """The server ends each connection after answering, without saying so in the response.

    With ``shutdown`` it keeps reading after its FIN, so a request sent on the old
    connection would show in its log (and go unanswered).
    """
    ended = threading.Semaphore(0)

    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        conn.sendall(with_length(VERSION))
        conn.shutdown(socket.SHUT_RDWR if how == "close" else socket.SHUT_WR)
        ended.release()
        return how == "shutdown"

    server = raw_server(reply)
    with Client(server.url, max_retries=0) as c:
        for _ in range(3):
            assert c.version().version == "9.9.9"
            assert ended.acquire(timeout=5)
            wait_until_closed_by_server(server.port)  # one socket: the last one, in the pool
    assert client_sockets(server.port) == 0
    assert [number for number, _ in server.log] == [1, 2, 3]  # one request per connection


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
    with Client(server.url, max_retries=0) as c:
        for _ in range(3):
            assert c.version().version == "9.9.9"
            assert client_sockets(server.port) == 0  # closed, not pooled
            assert server.finished.acquire(timeout=5)  # and the server saw it go
    assert [number for number, _ in server.log] == [1, 2, 3]


def test_a_connection_the_client_says_to_close_is_not_kept(raw_server: RawServerFactory) -> None:
    server = raw_server(answer(with_length(VERSION)))
    with Client(server.url, headers={"Connection": "close"}, max_retries=0) as c:
        for _ in range(2):
            assert c.version().version == "9.9.9"
            assert client_sockets(server.port) == 0
    assert [number for number, _ in server.log] == [1, 2]


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
    with Client(server.url, max_retries=0) as c:
        assert c.version().version == "9.9.9"
        with pytest.raises(ConnectError, match=r"dropped before a response arrived \(the server "
                           "closed the connection without sending a response"):
            c.version()
        assert client_sockets(server.port) == 0
    assert [number for number, _ in server.log] == [1, 1]  # the transport never resends


def test_a_stale_connection_is_retried_by_the_retry_policy(
    raw_server: RawServerFactory, sleeps: list[float]
) -> None:
    server = raw_server(stale_second)
    with Client(server.url) as c:
        assert c.version().version == "9.9.9"
        assert c.generate(CHAT_MODEL, "hi").response == "ok"  # dropped, then retried
        assert client_sockets(server.port) == 1  # the new connection; the stale one closed
    assert [number for number, _ in server.log] == [1, 1, 2]
    assert len(sleeps) == 1


def test_a_call_with_side_effects_on_a_stale_connection_is_not_retried(
    raw_server: RawServerFactory, sleeps: list[float]
) -> None:
    server = raw_server(stale_second)
    with Client(server.url) as c:
        assert c.version().version == "9.9.9"
        with pytest.raises(ConnectError, match="dropped before a response arrived"):
            c.delete(CHAT_MODEL)  # it may have run: not sent again
        assert client_sockets(server.port) == 0
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
    with Client(server.url, max_retries=0) as c:
        assert c.version().version == "9.9.9"
        with pytest.raises(ConnectError, match="in the middle of the response head, after 25"):
            c.version()
        assert client_sockets(server.port) == 0
    assert [number for number, _ in server.log] == [1, 1]


def test_a_new_connection_that_drops_is_not_sent_again(raw_server: RawServerFactory) -> None:
    server = raw_server(lambda conn, index, request_line: False)  # never answers
    with Client(server.url, max_retries=0) as c, pytest.raises(
        ConnectError, match="without sending a response"
    ):
        c.version()
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
    with Client(server.url, max_retries=0) as c:
        assert c.version().version == "9.9.9"
        assert [p.response for p in c.generate(CHAT_MODEL, "hi", stream=True)] == [
            "Hello", " there", ""]
        assert client_sockets(server.port) == 0
    assert [number for number, _ in server.log] == [1, 2]


def test_a_length_body_sent_in_pieces(raw_server: RawServerFactory) -> None:
    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        body = body_for(request_line)
        data = http_response(body, f"Content-Length: {len(body)}")
        for start in range(0, len(data), 7):
            conn.sendall(data[start:start + 7])
        return True

    server = raw_server(reply)
    with Client(server.url, max_retries=0) as c:
        for _ in range(2):
            assert c.version().version == "9.9.9"
            stream = c.generate(CHAT_MODEL, "hi", stream=True)
            assert [p.response for p in stream] == ["Hello", " there", ""]
        assert client_sockets(server.port) == 1
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
    with Client(server.url, max_retries=0) as c:
        with pytest.raises(IncompleteStreamError,
                           match="closed the connection before the end of the response") as info:
            generate(c, stream, received)
        assert client_sockets(server.port) == 0
    assert received == (["Hello"] if stream else [])
    assert [part.response for part in info.value.chunks] == received
    assert len(server.log) == 1


def test_an_interim_100_continue_is_skipped(raw_server: RawServerFactory) -> None:
    server = raw_server(answer(b"HTTP/1.1 100 Continue\r\n\r\n" + with_length(VERSION)))
    with Client(server.url, max_retries=0) as c:
        for _ in range(2):
            assert c.version().version == "9.9.9"
    assert [number for number, _ in server.log] == [1, 1]


def test_a_response_without_a_body_keeps_its_connection(raw_server: RawServerFactory) -> None:
    """A 204 has no body: the connection is free again as soon as the head arrived."""
    server = raw_server(answer(b"HTTP/1.1 204 No Content\r\n\r\n"))
    with Client(server.url, max_retries=0) as c:
        for _ in range(2):
            assert c.copy(CHAT_MODEL, "copied").status == "success"
            assert client_sockets(server.port) == 1
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
    with Client(server.url, max_retries=0) as c:
        with pytest.raises(ConnectError, match=message):
            c.version()
        assert client_sockets(server.port) == 0
    assert len(server.log) == 1


def test_a_refused_connection_is_a_connect_error(refused_url: str) -> None:
    with Client(refused_url, max_retries=0) as c, pytest.raises(
        ConnectError, match=re.escape(f"Could not connect to Ollama at {refused_url}: is it")
    ):
        c.version()


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
    try:
        with Client(server.url, timeout=0.2, max_retries=0) as c:
            with pytest.raises(ReadTimeout, match="sent nothing for longer than the read") as info:
                generate(c, stream)
            assert client_sockets(server.port) == 0
    finally:
        release.set()
    assert [part.response for part in info.value.chunks] == (["Hello"] if stream else [])
    assert len(server.log) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_an_answer_before_the_body_was_sent_is_the_servers_error(stream: bool) -> None:
    """A server may answer (413) and close before it read a big body the client is writing.

    The body is bigger than both sockets' buffers, so the client is still writing when the
    answer arrives and its writes then fail; the answer says more than the broken pipe.
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
        # Closed with the body unread: the client's next writes fail.

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    image = bytes(12 * 1024 * 1024)  # 16 MiB of base64: more than both buffers hold
    try:
        with Client(url, max_retries=0) as c, pytest.raises(ResponseError) as info:
            generate(c, stream, images=[image])
    finally:
        listener.close()
        thread.join(5)
    assert info.value.status_code == 413
    assert info.value.error == "request body too large"
    assert received[0] < len(image)  # it answered before the body arrived


# Closing ---------------------------------------------------------------------------------------


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


def open_streams(c: Client, count: int) -> list[Any]:
    """Start ``count`` streams at once, each on its own connection; return them."""
    streams = [c.generate(CHAT_MODEL, "hi", stream=True) for _ in range(count)]
    assert [next(stream).response for stream in streams] == ["Hello"] * count
    return streams


def read_to_the_end(streams: list[Any]) -> None:
    """Read the rest of each stream: each connection goes back to the pool."""
    for stream in streams:
        assert [part.response for part in stream] == [" there", ""]


def test_close_closes_the_idle_connections_and_the_client_still_works(
    held: tuple[RawServer, threading.Event],
) -> None:
    server, release = held
    c = Client(server.url, max_retries=0)
    streams = open_streams(c, 3)
    release.set()
    read_to_the_end(streams)
    assert client_sockets(server.port) == 3
    c.close()
    assert client_sockets(server.port) == 0
    assert c.version().version == "9.9.9"
    assert client_sockets(server.port) == 1
    c.close()
    c.close()  # twice is fine
    assert client_sockets(server.port) == 0
    assert server.connections() == 4


@pytest.mark.ollama_server(engine_options={"tokens_per_second": 200})
@pytest.mark.parametrize("left", ["idle", "open-stream"])
def test_a_client_dropped_without_close_leaves_no_socket_and_no_warning(
    ollama_server: OllamaServer, left: str
) -> None:
    options = {"num_predict": 100_000} if left == "open-stream" else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c = Client(ollama_server.url)
        assert c.version().version
        stream = c.generate(CHAT_MODEL, "hi", stream=True, options=options)
        assert next(stream).done is False
        if left == "idle":
            assert [part.done for part in stream][-1] is True
        assert client_sockets(ollama_server.port) == 1  # the stream took the idle connection
        del c, stream
        gc.collect()
        assert client_sockets(ollama_server.port) == 0
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []
    if left == "open-stream":
        assert wait_for_generation_stop(ollama_server, "/api/generate").disconnected


# Threads and the pool's size -------------------------------------------------------------------


def test_the_pool_keeps_at_most_its_size_of_idle_connections(
    held: tuple[RawServer, threading.Event],
) -> None:
    server, release = held
    count = DEFAULT_POOL_SIZE + 8
    with Client(server.url, max_retries=0) as c:
        streams = open_streams(c, count)
        assert client_sockets(server.port) == count
        release.set()
        read_to_the_end(streams)  # the oldest idle connections closed past the pool's size
        assert client_sockets(server.port) == DEFAULT_POOL_SIZE
        for _ in range(count):
            assert c.version().version == "9.9.9"  # on the newest idle connection
        assert client_sockets(server.port) == DEFAULT_POOL_SIZE
    assert client_sockets(server.port) == 0
    assert server.connections() == count


@pytest.mark.ollama_server(num_parallel=4)
def test_sixteen_threads_share_one_client(ollama_server: OllamaServer) -> None:
    def work(i: int) -> tuple[list[str], list[str], int]:
        messages = [{"role": "user", "content": f"q{i % 4}"}]
        streams = [c.chat(CHAT_MODEL, messages, stream=True) for _ in range(3)]
        firsts = [next(stream).message.content or "" for stream in streams]  # three at once
        streamed = ["".join([first, *(p.message.content or "" for p in stream)])
                    for first, stream in zip(firsts, streams, strict=True)]
        whole = [c.chat(CHAT_MODEL, messages).message.content or "",
                 c.generate(CHAT_MODEL, f"q{i % 4}").response or ""]
        with c.generate(CHAT_MODEL, "early", stream=True) as early:
            next(early)
        streamed.append("".join(p.response or "" for p in c.generate(CHAT_MODEL, f"q{i % 4}",
                                                                      stream=True)))
        return whole, streamed, len(c.embed(EMBED_MODEL, [f"text {i}", "b"]).embeddings)

    with Client(ollama_server.url) as c:
        expected = [(c.chat(CHAT_MODEL, [{"role": "user", "content": f"q{i}"}]).message.content,
                     c.generate(CHAT_MODEL, f"q{i}").response) for i in range(4)]
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(work, range(48)))
        assert 0 < client_sockets(ollama_server.port) <= DEFAULT_POOL_SIZE
    for i, (whole, streamed, vectors) in enumerate(results):
        chat, generate = expected[i % 4]
        assert whole == [chat, generate]
        assert streamed == [chat, chat, chat, generate]
        assert vectors == 2
    assert client_sockets(ollama_server.port) == 0


# One write per request -------------------------------------------------------------------------


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], list[bytes]]:
    """Record what each socket write sends: ``writes(port)`` lists those to ``port``.

    Every write of a socket in this process is recorded with its peer's port (so the server's
    own writes, to the client's port, are told apart); the bytes still go out as usual.
    """
    seen: list[tuple[int, bytes]] = []

    def recording(name: str) -> Callable[..., Any]:
        original = getattr(socket.socket, name)

        def write(sock: socket.socket, data: Any, *args: Any) -> Any:
            try:
                port = sock.getpeername()[1]
            except OSError:
                port = 0
            sent = original(sock, data, *args)
            whole = b"".join(data) if name == "sendmsg" else bytes(data)
            seen.append((port, whole if name != "send" else whole[:sent]))
            return sent

        return write

    for name in ("send", "sendall", "sendmsg"):
        monkeypatch.setattr(socket.socket, name, recording(name))
    return lambda port: [data for peer, data in seen if peer == port]


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
    with Client(server.url, max_retries=0) as c:
        assert c.version().version == "9.9.9"
        [get] = writes(server.port)
        assert get.startswith(b"GET /api/version HTTP/1.1\r\n")
        assert get.endswith(b"\r\n\r\n")  # no body: the head alone
        assert c.generate(CHAT_MODEL, "x").done
        [small] = writes(server.port)[1:]
        head, body = split_request(small)
        assert head.startswith(b"POST /api/generate HTTP/1.1\r\n")
        assert b"\r\nContent-Length: %d\r\n" % len(body) in head
        assert json.loads(body)["prompt"] == "x"
        # Prompts that make the body exactly the limit, then one byte more.
        fill = "x" * (1 + ONE_WRITE_LIMIT - len(body))
        assert c.generate(CHAT_MODEL, fill).done
        [limit] = writes(server.port)[2:]
        assert len(split_request(limit)[1]) == ONE_WRITE_LIMIT
        assert c.generate(CHAT_MODEL, fill + "x").done
        head, *rest = writes(server.port)[3:]
        assert split_request(head) == (head, b"")  # the head alone...
        assert b"\r\nContent-Length: %d\r\n" % (ONE_WRITE_LIMIT + 1) in head
        assert len(b"".join(rest)) == ONE_WRITE_LIMIT + 1  # ...then the body
        assert json.loads(b"".join(rest))["prompt"] == fill + "x"
    assert [number for number, _ in server.log] == [1, 1, 1, 1]
