"""The AsyncClient's asyncio transport: the head parser, framing, the pool, retries, proxies.

Everything the clients share runs through this transport already in the other tests of this
folder; these cover what they do not: the sans-IO parts byte by byte, and the connection
handling against raw loopback servers that misbehave in ways the project's server does not.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from client_helpers import client_sockets, connections

from ollama_wire import AsyncClient, ConnectError, IncompleteStreamError, RequestError
from ollama_wire._aio_transport import (
    MAX_HEAD_SIZE,
    MAX_HEADERS,
    AioTransport,
    HeadParser,
    LengthDecoder,
    ResponseHead,
    UntilClose,
    body_framing,
    encode_head,
    keeps_alive,
)
from ollama_wire._protocol import ChunkedDecoder
from ollama_wire.server import OllamaServer
from ollama_wire.testing import CHAT_MODEL, EMBED_MODEL, wait_for_generation_stop

MESSAGES = [{"role": "user", "content": "hi"}]

# The head parser ----------------------------------------------------------------------------

GOOD_HEADS = [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
     ResponseHead(b"HTTP/1.1", 200, b"OK", [(b"Content-Length", b"2")])),
    (b"HTTP/1.0 404 Not Found\r\nA: 1\r\nB:2\r\nC:  spaced \t\r\n\r\n",
     ResponseHead(b"HTTP/1.0", 404, b"Not Found", [(b"A", b"1"), (b"B", b"2"), (b"C", b"spaced")])),
    (b"HTTP/1.1 204\r\n\r\n", ResponseHead(b"HTTP/1.1", 204, b"", [])),
    (b"HTTP/1.1 200 OK\nBare: newlines\n\n",
     ResponseHead(b"HTTP/1.1", 200, b"OK", [(b"Bare", b"newlines")])),
    (b"HTTP/1.1 200 OK\r\nX-Folded: one\r\n  two\r\n\r\n",
     ResponseHead(b"HTTP/1.1", 200, b"OK", [(b"X-Folded", b"one two")])),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nA: b\r\n\r\n"
     b"HTTP/1.1 201 Created\r\n\r\n", ResponseHead(b"HTTP/1.1", 201, b"Created", [])),
    (b"HTTP/1.1 500 Internal Server Error \xe9\r\nEmpty:\r\n\r\n",
     ResponseHead(b"HTTP/1.1", 500, b"Internal Server Error \xe9", [(b"Empty", b"")])),
]


def feed_in_pieces(data: bytes, cuts: list[int]) -> tuple[ResponseHead | None, HeadParser]:
    """Feed ``data`` cut at ``cuts``; return the first head the parser gives, and the parser."""
    parser = HeadParser()
    for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
        head = parser.feed(data[start:end])
        if head is not None:
            parser.rest += data[end:]
            return head, parser
    return None, parser


@pytest.mark.parametrize(("raw", "expected"), GOOD_HEADS)
def test_a_head_parses_however_it_is_split(raw: bytes, expected: ResponseHead) -> None:
    data = raw + b"body\r\n\r\nmore"
    splits = [[cut] for cut in range(len(data) + 1)] + [list(range(1, len(data)))]
    for cuts in splits:
        head, parser = feed_in_pieces(data, cuts)
        assert head == expected, cuts
        assert parser.rest == b"body\r\n\r\nmore", cuts
        assert parser.received <= len(data)


def test_nothing_is_returned_until_the_blank_line() -> None:
    parser = HeadParser()
    assert parser.feed(b"HTTP/1.1 200 OK\r\nA: b\r\n") is None
    assert parser.feed(b"\r") is None
    assert parser.received == 24
    assert parser.feed(b"\nrest") == ResponseHead(b"HTTP/1.1", 200, b"OK", [(b"A", b"b")])
    assert parser.rest == b"rest"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"HTTP/2 200 OK\r\n\r\n", r"invalid status line from the server: 'HTTP/2 200 OK'"),
        (b"HTTP/1.1 20 OK\r\n\r\n", "invalid status line"),
        (b"ICY 200 OK\r\n\r\n", "invalid status line"),
        (b"<html>hello</html>\r\n\r\n", r"invalid status line from the server: '<html>"),
        (b"\r\n\r\n", "invalid status line from the server: ''"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
         "invalid header line from the server: 'no colon here'"),
        (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "invalid header line"),
        (b"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", "invalid header line"),
        (b"HTTP/1.1 200 OK\r\n folded first\r\n\r\n", "invalid header line"),
        (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "switched protocols"),
        (b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * (MAX_HEADERS + 1) + b"\r\n",
         f"more than {MAX_HEADERS} header lines"),
        (b"HTTP/1.1 200 OK\r\nBig: " + b"x" * MAX_HEAD_SIZE + b"\r\n\r\n",
         f"longer than {MAX_HEAD_SIZE} bytes: 'HTTP/1.1 200 OK"),
    ],
)
def test_a_bad_head_says_what_arrived(raw: bytes, message: str) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match=message):
        HeadParser().feed(raw)


def test_a_head_without_end_is_refused_once_past_the_limit() -> None:
    parser = HeadParser()
    assert parser.feed(b"HTTP/1.1 200 OK\r\n") is None
    for _ in range(MAX_HEAD_SIZE // 1024 - 1):
        assert parser.feed(b"X: " + b"y" * 1019 + b"\r\n") is None
    with pytest.raises(httpx.RemoteProtocolError, match="longer than"):
        parser.feed(b"X: " + b"y" * 2000)


def test_exactly_the_header_limit_is_accepted() -> None:
    raw = b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * MAX_HEADERS + b"\r\n"
    head = HeadParser().feed(raw)
    assert head is not None
    assert len(head.headers) == MAX_HEADERS


# Framing and keep-alive ------------------------------------------------------------------------


def head(status: int = 200, *headers: tuple[bytes, bytes], version: bytes = b"HTTP/1.1"
         ) -> ResponseHead:
    return ResponseHead(version, status, b"", list(headers))


@pytest.mark.parametrize(
    ("method", "response", "kind", "payload", "extra"),
    [
        ("GET", head(200, (b"Content-Length", b"3")), LengthDecoder, b"abc", b"def"),
        ("GET", head(200, (b"content-length", b"3, 3")), LengthDecoder, b"abc", b"def"),
        ("HEAD", head(200, (b"Content-Length", b"3")), LengthDecoder, b"", b"abcdef"),
        ("GET", head(204), LengthDecoder, b"", b"abcdef"),
        ("GET", head(304, (b"Content-Length", b"3")), LengthDecoder, b"", b"abcdef"),
        ("GET", head(200, (b"Transfer-Encoding", b"Chunked"), (b"Content-Length", b"1")),
         ChunkedDecoder, b"abc", b"def"),
        ("GET", head(200), UntilClose, b"abcdef", b""),
        ("GET", head(200, version=b"HTTP/1.0"), UntilClose, b"abcdef", b""),
    ],
)
def test_the_body_framing_follows_the_head(
    method: str, response: ResponseHead, kind: type, payload: bytes, extra: bytes
) -> None:
    framing = body_framing(method, response)
    assert type(framing) is kind
    wire = b"3\r\nabc\r\n0\r\n\r\ndef" if kind is ChunkedDecoder else b"abcdef"
    assert framing.feed(wire) == payload
    assert framing.done is (kind is not UntilClose)
    assert framing.extra == extra


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (head(200, (b"Transfer-Encoding", b"gzip, chunked")), "unsupported Transfer-Encoding"),
        (head(200, (b"Content-Length", b"-1")), "invalid Content-Length from the server: '-1'"),
        (head(200, (b"Content-Length", b"1, 2")), "invalid Content-Length"),
        (head(200, (b"Content-Length", b"1"), (b"Content-Length", b"2")),
         "invalid Content-Length from the server: '1, 2'"),
        (head(200, (b"Content-Length", b"")), "invalid Content-Length"),
        (head(200, (b"Content-Length", b"9" * 30)), "invalid Content-Length"),
    ],
)
def test_bad_framing_headers_are_refused(response: ResponseHead, message: str) -> None:
    with pytest.raises(httpx.RemoteProtocolError, match=message):
        body_framing("GET", response)


def test_a_length_body_split_anywhere() -> None:
    for cut in range(12):
        framing = LengthDecoder(10)
        data = b"0123456789NEXT"
        out = framing.feed(data[:cut])
        assert framing.done is (cut >= 10)
        out += framing.feed(data[cut:])
        assert (out, framing.done, framing.extra) == (b"0123456789", True, b"NEXT")


@pytest.mark.parametrize(
    ("response", "request_headers", "expected"),
    [
        (head(200), {}, True),
        (head(200, (b"Connection", b"keep-alive")), {}, True),
        (head(200, (b"Connection", b"Close")), {}, False),
        (head(200, (b"Connection", b"upgrade, close")), {}, False),
        (head(200), {"Connection": "close"}, False),
        (head(200, (b"Connection", b"keep-alive"), version=b"HTTP/1.0"), {}, False),
    ],
)
def test_keep_alive(response: ResponseHead, request_headers: dict[str, str],
                    expected: bool) -> None:
    request = httpx.Request("GET", "http://127.0.0.1/", headers=request_headers)
    assert keeps_alive(request, response) is expected


def test_the_request_head_is_what_httpx_built() -> None:
    request = httpx.Request("POST", "http://127.0.0.1:8/api/chat?x=1%202", content=b"{}",
                            headers={"X-Tag": "a"})
    assert encode_head(request) == (
        b"POST /api/chat?x=1%202 HTTP/1.1\r\nHost: 127.0.0.1:8\r\nX-Tag: a\r\n"
        b"Content-Length: 2\r\n\r\n"
    )


@pytest.mark.parametrize(
    "headers",
    [{"X-Evil": "a\r\nInjected: 1"}, {"X-Evil": "a\nb"}, {"Bad Name": "x"}],
)
def test_a_header_that_would_split_the_head_is_not_sent(headers: dict[str, str]) -> None:
    request = httpx.Request("GET", "http://127.0.0.1/", headers=headers)
    with pytest.raises(httpx.LocalProtocolError, match="invalid header") as info:
        encode_head(request)
    assert "Injected" not in str(info.value)  # the value may be a secret: never shown


def test_a_header_with_a_newline_fails_at_the_call(ollama_server: OllamaServer) -> None:
    async def main() -> None:
        async with AsyncClient(ollama_server.url, headers={"X-Evil": "a\r\nInjected: 1"}) as c:
            with pytest.raises(RequestError, match="invalid header"):
                await c.version()

    asyncio.run(main())
    assert len(ollama_server.requests) == 0


# Raw loopback servers --------------------------------------------------------------------------

#: Answers a raw server gives: what to send back for the n-th request on a connection.
VERSION = b'{"version":"9.9.9"}'


def http_response(body: bytes, *headers: str, status: str = "200 OK",
                  version: str = "HTTP/1.1") -> bytes:
    lines = [f"{version} {status}", "Content-Type: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def with_length(body: bytes, version: str = "HTTP/1.1") -> bytes:
    return http_response(body, f"Content-Length: {len(body)}", version=version)


class RawServer:
    """A loopback HTTP server scripted by ``reply(connection, index, request_line)``.

    Each connection is served in its own thread: read a request (head and Content-Length
    body), log it, and call ``reply`` with the socket, the request's number on that
    connection (from 1) and its request line; ``reply`` sends what it likes and returns
    whether to read another request from the connection (else the server closes it).
    ``log`` holds (connection number, request line) per request read; ``finished`` is
    released each time a connection ended on the server's side.
    """

    def __init__(self, reply: Callable[[socket.socket, int, bytes], bool]) -> None:
        self._reply = reply
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log: list[tuple[int, bytes]] = []
        self.finished = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def connections(self) -> int:
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
                request_line = read_request(file)
                if request_line is None:
                    break
                index += 1
                self.log.append((number, request_line))
                if not self._reply(conn, index, request_line):
                    break
        self.finished.release()

    def close(self) -> None:
        # Closing a listening socket does not wake a thread blocked in accept(); shutdown does.
        for sock in [self._listener, *self._open]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed
        self._listener.close()
        for thread in [self._accepting, *self._threads]:
            thread.join(5)


def read_request(file: Any) -> bytes | None:
    """Read one request (head and Content-Length body); return its request line, or None."""
    request_line = file.readline()
    if not request_line:
        return None
    length = 0
    while (line := file.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    file.read(length)
    return bytes(request_line.rstrip(b"\r\n"))


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket, int, bytes], bool]], RawServer]]:
    """Start `RawServer`s; closed after the test."""
    servers: list[RawServer] = []

    def start(reply: Callable[[socket.socket, int, bytes], bool]) -> RawServer:
        servers.append(RawServer(reply))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


RawServerFactory = Callable[[Callable[[socket.socket, int, bytes], bool]], RawServer]


async def wait_finished(server: RawServer) -> None:
    """Wait (in a thread, so the loop keeps reading its sockets) until a connection ended."""
    assert await asyncio.to_thread(server.finished.acquire, True, 5)


# Keep-alive and the pool -----------------------------------------------------------------------


def test_sequential_calls_of_every_kind_share_one_connection(ollama_server: OllamaServer) -> None:
    async def main() -> None:
        async with AsyncClient(ollama_server.url) as c:
            for _ in range(3):
                assert (await c.version()).version  # GET, Content-Length body
                assert (await c.chat(CHAT_MODEL, MESSAGES)).done is True
                assert [p async for p in await c.chat(CHAT_MODEL, MESSAGES, stream=True)
                        ][-1].done is True  # chunked
                assert len((await c.embed(EMBED_MODEL, ["a", "b"])).embeddings) == 2
            assert client_sockets(ollama_server.port) == 1

    asyncio.run(main())
    assert len(ollama_server.requests) == 12
    assert connections(ollama_server) == 1


@pytest.mark.parametrize("how", ["shutdown", "close"])
def test_an_idle_connection_the_server_closed_is_not_reused(
    raw_server: RawServerFactory, how: str
) -> None:
    """The server ends each connection once the client pooled it, without saying so before.

    With ``shutdown`` it keeps reading after its FIN, so a request sent on the old
    connection would show in its log (and go unanswered).
    """
    pooled = threading.Semaphore(0)
    ended = threading.Semaphore(0)  # released once per connection, when the server ended it

    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        conn.sendall(with_length(VERSION))
        assert pooled.acquire(timeout=5)
        conn.shutdown(socket.SHUT_RDWR if how == "close" else socket.SHUT_WR)
        ended.release()
        return how == "shutdown"

    server = raw_server(reply)

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            for _ in range(3):
                assert (await c.version()).version == "9.9.9"
                assert client_sockets(server.port) == 1  # in the pool
                pooled.release()
                assert await asyncio.to_thread(ended.acquire, True, 5)

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 2, 3]  # one request per connection


def test_an_idle_connection_closed_before_the_loop_noticed_is_not_reused(
    raw_server: RawServerFactory,
) -> None:
    """The FIN is on the socket, but the loop was busy and has not read it: ask the socket."""
    pooled = threading.Semaphore(0)
    ended = threading.Semaphore(0)

    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        conn.sendall(with_length(VERSION))
        assert pooled.acquire(timeout=5)
        conn.shutdown(socket.SHUT_WR)
        ended.release()
        return True  # and go on reading: a request sent on this connection would show

    server = raw_server(reply)

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            for _ in range(2):
                assert (await c.version()).version == "9.9.9"
                pooled.release()
                assert ended.acquire(timeout=5)  # blocks the loop, which so cannot see the FIN

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 2]


@pytest.mark.parametrize(
    "answer",
    [
        http_response(VERSION, f"Content-Length: {len(VERSION)}", "Connection: close"),
        with_length(VERSION, version="HTTP/1.0"),
        with_length(VERSION) + b"junk past the end",
    ],
    ids=["connection-close", "http-1.0", "bytes-past-the-end"],
)
def test_a_connection_that_cannot_be_reused_is_closed(
    raw_server: RawServerFactory, answer: bytes
) -> None:
    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        conn.sendall(answer)
        return True  # keep the connection open: the client must close it

    server = raw_server(reply)

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            for _ in range(3):
                assert (await c.version()).version == "9.9.9"
                await wait_finished(server)  # the client closed it

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 2, 3]


def test_a_stale_connection_is_retried_once_on_a_new_one(raw_server: RawServerFactory) -> None:
    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        if index == 2:
            return False  # the request arrived, and the server went away without a byte
        conn.sendall(with_length(VERSION))
        return True

    server = raw_server(reply)

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            assert (await c.version()).version == "9.9.9"
            assert (await c.version()).version == "9.9.9"  # sent twice, answered once

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 1, 2]


def test_a_stale_connection_is_retried_only_once(raw_server: RawServerFactory) -> None:
    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        if index == 2 or server.connections() > 1:
            return False
        conn.sendall(with_length(VERSION))
        return True

    server = raw_server(reply)

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            assert (await c.version()).version == "9.9.9"
            with pytest.raises(ConnectError, match="Server disconnected without sending"):
                await c.version()

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 1, 2]


def test_no_retry_once_a_byte_of_the_response_arrived(raw_server: RawServerFactory) -> None:
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
            with pytest.raises(ConnectError, match="in the middle of the response head"):
                await c.version()

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 1]


# Bodies ----------------------------------------------------------------------------------------


def ndjson(*chunks: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(chunk).encode() + b"\n" for chunk in chunks)


STREAM = ndjson(
    {"model": CHAT_MODEL, "response": "Hello", "done": False},
    {"model": CHAT_MODEL, "response": " there", "done": False},
    {"model": CHAT_MODEL, "response": "", "done": True, "done_reason": "stop"},
)


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
def test_a_body_delimited_by_the_close_of_the_connection(
    raw_server: RawServerFactory, version: str
) -> None:
    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        body = STREAM if b"generate" in request_line else VERSION
        conn.sendall(http_response(body[:10], version=version))
        conn.sendall(body[10:])
        return False

    server = raw_server(reply)

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            assert (await c.version()).version == "9.9.9"
            parts = [p.response async for p in await c.generate(CHAT_MODEL, "hi", stream=True)]
            assert parts == ["Hello", " there", ""]

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 2]


def test_a_length_body_sent_in_pieces(raw_server: RawServerFactory) -> None:
    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        data = http_response(STREAM, f"Content-Length: {len(STREAM)}")
        for start in range(0, len(data), 7):
            conn.sendall(data[start:start + 7])
        return True

    server = raw_server(reply)

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            for _ in range(2):
                stream = await c.generate(CHAT_MODEL, "hi", stream=True)
                assert [p.response async for p in stream] == ["Hello", " there", ""]

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 1]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_length_body_cut_short(raw_server: RawServerFactory, stream: bool) -> None:
    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        conn.sendall(http_response(STREAM[:60], f"Content-Length: {len(STREAM)}"))
        return False

    server = raw_server(reply)

    async def generate(c: AsyncClient) -> Any:
        if stream:
            return [p async for p in await c.generate(CHAT_MODEL, "hi", stream=True)]
        return await c.generate(CHAT_MODEL, "hi")

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            with pytest.raises(IncompleteStreamError,
                               match="closed the connection before the end of the response"):
                await generate(c)

    asyncio.run(main())
    assert len(server.log) == 1


def test_an_interim_100_continue_is_skipped(raw_server: RawServerFactory) -> None:
    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        conn.sendall(with_length(VERSION))
        return True

    server = raw_server(reply)

    async def main() -> None:
        async with AsyncClient(server.url, max_retries=0) as c:
            for _ in range(2):
                assert (await c.version()).version == "9.9.9"

    asyncio.run(main())
    assert [number for number, _ in server.log] == [1, 1]


def test_a_streamed_upload_follows_its_framing_headers(ollama_server: OllamaServer) -> None:
    payload = json.dumps({"model": CHAT_MODEL, "messages": MESSAGES, "stream": False}).encode()

    async def blocks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 10):
            yield payload[start:start + 10]

    async def main() -> None:
        transport = AioTransport(httpx.AsyncHTTPTransport)
        async with httpx.AsyncClient(transport=transport, base_url=ollama_server.url) as http:
            chunked = await http.post("/api/chat", content=blocks())
            assert chunked.status_code == 200
            assert chunked.json()["done"] is True
            sized = await http.post("/api/chat", content=blocks(),
                                    headers={"Content-Length": str(len(payload))})
            assert sized.json()["message"] == chunked.json()["message"]
            with pytest.raises(httpx.LocalProtocolError, match="longer than its Content-Length"):
                await http.post("/api/chat", content=blocks(), headers={"Content-Length": "5"})
            with pytest.raises(httpx.LocalProtocolError, match="ended after"):
                await http.post("/api/chat", content=blocks(),
                                headers={"Content-Length": str(len(payload) + 1)})

    asyncio.run(main())
    chats = ollama_server.requests.matching("/api/chat")
    assert [record.body for record in chats[:2]] == [json.loads(payload)] * 2
    assert [record.body for record in chats[2:]] == [None] * (len(chats) - 2)  # cut short
    assert chats[0].header("transfer-encoding") == "chunked"
    assert chats[1].header("content-length") == str(len(payload))


# Closing ---------------------------------------------------------------------------------------


@pytest.mark.ollama_server(engine_options={"tokens_per_second": 200})
def test_closing_a_stream_early_closes_its_socket(ollama_server: OllamaServer) -> None:
    async def main() -> None:
        async with AsyncClient(ollama_server.url) as c:
            assert (await c.version()).version
            stream = await c.generate(CHAT_MODEL, "hi", stream=True,
                                      options={"num_predict": 100_000})
            assert (await stream.__anext__()).done is False
            await stream.aclose()
            assert client_sockets(ollama_server.port) == 0  # not back in the pool
            record = await asyncio.to_thread(wait_for_generation_stop, ollama_server,
                                             "/api/generate")
            assert record.disconnected
            assert record.tokens < 1000
            assert (await c.version()).version  # on a new connection

    asyncio.run(main())
    assert connections(ollama_server) == 2


def test_closing_the_transport_closes_idle_connections(ollama_server: OllamaServer) -> None:
    async def main() -> None:
        transport = AioTransport(httpx.AsyncHTTPTransport)
        async with httpx.AsyncClient(transport=transport, base_url=ollama_server.url) as http:
            responses = await asyncio.gather(*(http.get("/api/version") for _ in range(4)))
            assert {r.status_code for r in responses} == {200}
            assert client_sockets(ollama_server.port) == 4
        assert client_sockets(ollama_server.port) == 0
        await transport.aclose()  # twice is fine

    asyncio.run(main())


# Proxies ---------------------------------------------------------------------------------------

PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY",
                   "https_proxy", "NO_PROXY", "no_proxy")


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
def test_an_http_proxy_from_the_environment_keeps_httpx_transport(
    raw_server: RawServerFactory, ollama_server: OllamaServer,
    monkeypatch: pytest.MonkeyPatch, variable: str,
) -> None:
    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        conn.sendall(with_length(VERSION))
        return True

    proxy = raw_server(reply)
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, proxy.url)

    async def main() -> None:
        async with AsyncClient(ollama_server.url, max_retries=0) as c:
            assert (await c.version()).version == "9.9.9"  # the proxy's answer
            http = await c._http()
            used = http._transport_for_url(httpx.URL(ollama_server.url))
            assert isinstance(used, httpx.AsyncHTTPTransport)

    asyncio.run(main())
    assert proxy.log == [(1, f"GET {ollama_server.url}/api/version HTTP/1.1".encode())]
    assert len(ollama_server.requests) == 0


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "*", "localhost, 127.0.0.1"])
def test_a_host_the_environment_does_not_proxy_gets_the_asyncio_transport(
    raw_server: RawServerFactory, ollama_server: OllamaServer,
    monkeypatch: pytest.MonkeyPatch, no_proxy: str,
) -> None:
    proxy = raw_server(lambda conn, index, request_line: False)
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)

    async def main() -> None:
        async with AsyncClient(ollama_server.url, max_retries=0) as c:
            assert (await c.version()).version == "0.12.6"
            http = await c._http()
            assert isinstance(http._transport_for_url(httpx.URL(ollama_server.url)),
                              AioTransport)

    asyncio.run(main())
    assert proxy.log == []
    assert len(ollama_server.requests) == 1


def test_https_goes_through_httpx_transport() -> None:
    made: list[httpx.AsyncBaseTransport] = []

    class Answer(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, content=str(request.url).encode())

    def other() -> httpx.AsyncBaseTransport:
        made.append(Answer())
        return made[-1]

    async def main() -> None:
        transport = AioTransport(other)
        async with httpx.AsyncClient(transport=transport) as http:
            for _ in range(2):
                response = await http.get("https://ollama.invalid/api/version")
                assert response.text == "https://ollama.invalid/api/version"

    asyncio.run(main())
    assert len(made) == 1  # made on first use, then kept

