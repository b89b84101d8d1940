"""Streams: error lines, drops, early ends, odd bytes, close and cancellation."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
import requests
from client_helpers import AnyClient, ClientKind, connections

from ollama_wire import (
    Client,
    IncompleteStreamError,
    InvalidResponseError,
    LineTooLongError,
    ServerError,
    StreamError,
)
from ollama_wire import _sock_transport as sock_transport
from ollama_wire.server import OllamaServer
from ollama_wire.testing import CHAT_MODEL, wait_for_generation_stop

MESSAGES = [{"role": "user", "content": "Why is the sky blue?"}]


def test_stream_is_lazy_and_a_context_manager(client: AnyClient,
                                               ollama_server: OllamaServer) -> None:
    stream = client.chat(CHAT_MODEL, MESSAGES, stream=True)
    assert len(ollama_server.requests.matching("/api/chat")) == 0
    with stream as s:
        first = next(s)
        assert first.message.content
    assert s.chunks == [first]
    assert "Stream POST /api/chat" in repr(s)
    with pytest.raises(StopIteration):
        next(s)


def test_mid_stream_error_line_raises_with_chunks(client: AnyClient,
                                                  ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(path="/api/chat", error_after=3, error="model crashed")
    stream = client.chat(CHAT_MODEL, MESSAGES, stream=True)
    received = []
    with pytest.raises(StreamError) as info:  # noqa: PT012
        for chunk in stream:
            received.append(chunk)
    err = info.value
    assert err.error == "model crashed"
    assert err.status_code == -1
    assert len(received) == 3
    assert list(err.chunks) == received


def test_error_after_output_without_stream_is_a_500(client: AnyClient,
                                                    ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(path="/api/chat", error_after=2, error="runner died")
    with pytest.raises(ServerError, match="runner died") as info:
        client.chat(CHAT_MODEL, MESSAGES)
    assert info.value.status_code == 500


def test_dropped_connection_raises_with_chunks(client: AnyClient,
                                               ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(path="/api/generate", drop_after=2)
    received = []
    with pytest.raises(IncompleteStreamError) as info:  # noqa: PT012
        for chunk in client.generate(CHAT_MODEL, "hello", stream=True):
            received.append(chunk)
    assert len(received) == 2
    assert list(info.value.chunks) == received
    assert isinstance(info.value, ConnectionError)
    assert "dropped" in str(info.value) or "final chunk" in str(info.value)
    assert len(ollama_server.requests.matching("/api/generate")) == 1  # never retried


def test_truncated_stream_without_final_chunk(client: AnyClient,
                                              ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(path="/api/chat", truncate_after=2)
    with pytest.raises(IncompleteStreamError, match="without its final chunk") as info:
        list(client.chat(CHAT_MODEL, MESSAGES, stream=True))
    assert len(info.value.chunks) == 2


def test_malformed_line_shows_what_arrived(client: AnyClient, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(path="/api/chat", malformed_after=1)
    with pytest.raises(InvalidResponseError, match="invalid JSON line") as info:
        list(client.chat(CHAT_MODEL, MESSAGES, stream=True))
    assert len(info.value.chunks) == 1


def test_a_very_long_line(client: AnyClient, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(path="/api/generate", long_line=2_000_000)
    chunks = list(client.generate(CHAT_MODEL, "hello", stream=True))
    assert len(chunks[0].response) >= 2_000_000
    assert chunks[-1].done


def test_a_line_past_max_line_size(ollama_server: OllamaServer,
                                   make_client: ClientKind) -> None:
    ollama_server.faults.add(path="/api/generate", long_line=200_000)
    with make_client(ollama_server.url, max_line_size=100_000) as c:
        with pytest.raises(LineTooLongError, match="100000-byte limit"):
            list(c.generate(CHAT_MODEL, "hello", stream=True))
        # The connection was discarded, the client still works.
        assert c.generate(CHAT_MODEL, "hello").done


def test_unicode_separators_and_utf8_split_across_reads(
    ollama_server_factory: object, monkeypatch: pytest.MonkeyPatch, make_client: ClientKind
) -> None:
    reply = "naïve\u2028line\x85next\u2029para 😀 end"
    server = ollama_server_factory(engine_options={"replies": {"tricky": reply}})  # type: ignore[operator]
    # Split every multi-byte character (the sync client; httpx hands over what arrives).
    monkeypatch.setattr(sock_transport, "READ_SIZE", 3)
    with make_client(server.url) as c:
        parts = list(c.generate(CHAT_MODEL, "tricky", stream=True))
        assert "".join(p.response for p in parts) == reply
        chat = list(c.chat(CHAT_MODEL, [{"role": "user", "content": "tricky"}], stream=True))
        assert "".join(p.message.content for p in chat) == reply


def test_leaving_the_loop_cancels_generation(ollama_server_factory: object,
                                             make_client: ClientKind) -> None:
    server = ollama_server_factory(engine_options={"tokens_per_second": 200})  # type: ignore[operator]
    with make_client(server.url) as c:
        for i, _ in enumerate(c.chat(CHAT_MODEL, MESSAGES, stream=True,
                                     options={"num_predict": 1000})):
            if i == 2:
                break
        record = wait_for_generation_stop(server, "/api/chat")
        assert record.wait_finished()
        assert record.disconnected
        assert record.tokens < 1000


def test_close_cancels_generation(ollama_server_factory: object,
                                  make_client: ClientKind) -> None:
    server = ollama_server_factory(engine_options={"tokens_per_second": 200})  # type: ignore[operator]
    with make_client(server.url) as c:
        stream = c.generate(CHAT_MODEL, "hello", stream=True, options={"num_predict": 1000})
        next(stream)
        stream.close()
        stream.close()  # idempotent
        record = wait_for_generation_stop(server, "/api/generate")
        assert record.wait_finished()
        assert record.disconnected
        assert record.tokens < 1000
        with pytest.raises(StopIteration):
            next(stream)


def test_closing_an_unstarted_stream_sends_nothing(client: AnyClient,
                                                   ollama_server: OllamaServer) -> None:
    stream = client.chat(CHAT_MODEL, MESSAGES, stream=True)
    stream.close()
    assert list(stream) == []
    assert ollama_server.requests.matching("/api/chat") == []


def test_thinking_and_tool_calls_in_stream(ollama_server_factory: object,
                                           make_client: ClientKind) -> None:
    server = ollama_server_factory(engine_options={"tool_placement": "final"})  # type: ignore[operator]
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}
    with make_client(server.url) as c:
        chunks = list(c.chat("qwen3", MESSAGES, tools=[tool], think=True, stream=True))
    assert any(ch.message.thinking for ch in chunks)
    assert chunks[-1].done
    assert chunks[-1].message.tool_calls[0].function.name == "lookup"


def test_a_long_fast_stream_keeps_every_chunk_and_its_connection(
    client: AnyClient, ollama_server: OllamaServer
) -> None:
    # Sent as fast as possible, many chunks arrive in each read of the socket.
    options = {"num_predict": 3000, "seed": 7}
    whole = client.generate(CHAT_MODEL, "hello", options=options)
    with client.generate(CHAT_MODEL, "hello", stream=True, options=options) as stream:
        parts = list(stream)
        assert stream.chunks == parts
    assert len(parts) == 3001
    assert "".join(p.response for p in parts) == whole.response
    assert parts[-1].done
    assert parts[-1].eval_count == whole.eval_count == 3000
    assert client.generate(CHAT_MODEL, "hello").done
    assert connections(ollama_server) == 1


def test_leaving_a_stream_at_its_last_chunk_keeps_the_connection(
    client: AnyClient, ollama_server: OllamaServer
) -> None:
    """``if part.done: break`` leaves before the body's end arrived; it follows at once."""
    for _ in range(20):
        for part in client.chat(CHAT_MODEL, [{"role": "user", "content": "hi"}], stream=True):
            if part.done:
                break
    # One connection for all of them; a slow machine may miss the end once or twice.
    assert connections(ollama_server) <= 3


def test_closing_inside_a_block_keeps_what_was_yielded(
    client: AnyClient, ollama_server: OllamaServer
) -> None:
    received = []
    with client.generate(CHAT_MODEL, "hello", stream=True,
                         options={"num_predict": 3000}) as stream:
        for part in stream:
            received.append(part)
            if len(received) == 10:
                break
    assert stream.chunks == received
    assert "10 chunks" in repr(stream)
    assert client.generate(CHAT_MODEL, "hello").done  # a new connection replaced the closed one
    assert connections(ollama_server) == 2


def test_the_requests_read_path_gives_the_same_stream(
    ollama_server: OllamaServer, through_requests: list[str]
) -> None:
    # A session of your own (or a proxy, a cookie, https) sends through requests, whose
    # streams are read from http.client's response instead of the client's own socket.
    options = {"num_predict": 500, "seed": 3}
    with Client(ollama_server.url) as c:
        fast = [p.response for p in c.generate(CHAT_MODEL, "hello", stream=True, options=options)]
    assert through_requests == []
    session = requests.Session()
    with Client(ollama_server.url, session=session) as c:
        for _ in range(2):
            with c.generate(CHAT_MODEL, "hello", stream=True, options=options) as stream:
                plain = [p.response for p in stream]
            assert plain == fast
        assert len(plain) == 501
        assert c.version().version
    session.close()
    assert len(through_requests) == 3
    assert connections(ollama_server) == 2  # one per client: requests reused its connection


@pytest.fixture
def broken_framing() -> Iterator[str]:
    """A loopback server whose stream's chunked framing breaks after two good lines."""
    lines = [b'{"model":"m","response":"a","done":false}\n',
             b'{"model":"m","response":"b","done":false}\n']
    body = b"".join(b"%x\r\n%s\r\n" % (len(line), line) for line in lines) + b"zz\r\njunk\r\n"
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                with conn:
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n" + body)
                    conn.shutdown(socket.SHUT_WR)
                    conn.recv(65536)  # until the client hangs up

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_broken_chunked_framing_is_an_invalid_response_with_the_chunks_before_it(
    make_client: ClientKind, broken_framing: str
) -> None:
    c = make_client(broken_framing, max_retries=0)
    received: list[str] = []

    def read() -> None:
        for part in c.generate("m", "hi", stream=True):
            received.append(part.response)

    with pytest.raises(InvalidResponseError, match="broken chunked encoding") as info:
        read()
    assert received == ["a", "b"]
    assert [chunk.response for chunk in info.value.chunks] == ["a", "b"]
