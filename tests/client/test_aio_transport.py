"""The AsyncClient's asyncio transport: the pool, retries, bodies, proxies, its errors.

Everything the clients share runs through this transport already in the other tests of this
folder; these cover what they do not: the connection handling against raw loopback servers
that misbehave in ways the project's server does not. The sans-IO HTTP/1.1 it speaks is
tested byte by byte in ``test_http11.py``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from client_helpers import (
    STREAM,
    VERSION,
    RawServer,
    RawServerFactory,
    client_sockets,
    connections,
    http_response,
    with_length,
)

from ollama_wire import AsyncClient, ConnectError, IncompleteStreamError, RequestError
from ollama_wire._aio_transport import AioTransport
from ollama_wire._http11 import MAX_HEAD_SIZE
from ollama_wire.server import OllamaServer
from ollama_wire.testing import CHAT_MODEL, EMBED_MODEL, wait_for_generation_stop

MESSAGES = [{"role": "user", "content": "hi"}]


async def wait_finished(server: RawServer) -> None:
    """Wait (in a thread, so the loop keeps reading its sockets) until a connection ended."""
    assert await asyncio.to_thread(server.finished.acquire, True, 5)


# Errors at the transport's boundary ------------------------------------------------------------


def test_a_header_with_a_newline_fails_at_the_call(ollama_server: OllamaServer) -> None:
    async def main() -> None:
        async with AsyncClient(ollama_server.url, headers={"X-Evil": "a\r\nInjected: 1"}) as c:
            with pytest.raises(RequestError, match="invalid header"):
                await c.version()

    asyncio.run(main())
    assert len(ollama_server.requests) == 0


@pytest.mark.parametrize(
    ("answer", "message"),
    [(b"HTTP/2 200 OK\r\n\r\n", "invalid status line from the server: 'HTTP/2 200 OK'"),
     (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
      "invalid header line from the server: 'no colon here'"),
     (b"HTTP/1.1 200 OK\r\nBig: " + b"x" * MAX_HEAD_SIZE + b"\r\n\r\n",
      f"the response head is longer than {MAX_HEAD_SIZE} bytes: 'HTTP/1.1 200 OK")],
    ids=["status-line", "header-line", "too-long"],
)
def test_a_bad_head_is_httpx_remote_protocol_error(
    raw_server: RawServerFactory, answer: bytes, message: str
) -> None:
    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        conn.sendall(answer)
        return False

    server = raw_server(reply)

    async def main() -> None:
        async with httpx.AsyncClient(transport=AioTransport(httpx.AsyncHTTPTransport)) as http:
            with pytest.raises(httpx.RemoteProtocolError, match=message):
                await http.get(server.url + "/api/version")

    asyncio.run(main())
    assert len(server.log) == 1


def test_a_header_that_would_split_the_head_is_httpx_local_protocol_error(
    ollama_server: OllamaServer,
) -> None:
    async def main() -> None:
        async with httpx.AsyncClient(transport=AioTransport(httpx.AsyncHTTPTransport)) as http:
            with pytest.raises(httpx.LocalProtocolError, match="invalid header") as info:
                await http.get(ollama_server.url + "/api/version",
                               headers={"X-Evil": "a\r\nInjected: 1"})
            assert "Injected" not in str(info.value)

    asyncio.run(main())
    assert len(ollama_server.requests) == 0


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


#: What a raw server answers to a whole ``/api/generate``.
GENERATED = json.dumps({"model": CHAT_MODEL, "response": "ok", "done": True}).encode()


def stale_second(conn: socket.socket, index: int, request_line: bytes) -> bool:
    """Answer each request but the second on a connection: it arrives, and the server goes."""
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
            with pytest.raises(ConnectError, match="Server disconnected without sending"):
                await c.version()

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

    asyncio.run(main())
    assert server.log == [(1, b"GET /api/version HTTP/1.1"), (1, b"DELETE /api/delete HTTP/1.1")]
    assert sleeps == []


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

