"""The AsyncClient's two paths against the sync Client: the same bytes give the same results.

An `AsyncClient` sends on its own connections (``_aio_transport``) unless it was given
httpx's options, a ``transport=`` here, when every call goes through httpx. Each test runs
three times: the sync `Client`, the AsyncClient on its own path, and on httpx's, driven from
the test's sync code as in the shared client tests (`client_helpers.SyncAsyncClient`).
"""

from __future__ import annotations

import gzip
import itertools
import json
import socket
import threading
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from client_helpers import ClientKind, RawServerFactory, Reply

from ollama_wire import IncompleteStreamError, LineTooLongError
from ollama_wire.server import OllamaServer
from ollama_wire.testing import CHAT_MODEL

MakeClient = Callable[..., Any]


@pytest.fixture(params=["sync", "async", "async-httpx"])
def make_on_path(request: pytest.FixtureRequest) -> Iterator[MakeClient]:
    """Make clients of one kind and path: ``make_on_path(url, **options)``."""
    kind = ClientKind("sync" if request.param == "sync" else "async")

    def make(url: str, **options: Any) -> Any:
        if request.param == "async-httpx":
            import httpx

            options["transport"] = httpx.AsyncHTTPTransport()
        return kind(url, **options)

    try:
        yield make
    finally:
        kind.close()


def compressed_reply(coding: str, body: bytes) -> Reply:
    """Return a raw server's script that answers every request with ``body`` as it is."""
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
            f"Content-Encoding: {coding}\r\nContent-Length: {len(body)}\r\n\r\n").encode()

    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        try:
            conn.sendall(head + body)
        except OSError:  # the client hung up on a body it refused
            return False
        return True

    return reply


def gzip_of_repeated(piece: bytes, size: int) -> bytes:
    """Return gzip of ``piece`` repeated to ``size`` bytes, compressed without holding them."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = piece * (1024 * 1024 // len(piece))
    packed = [packer.compress(block) for _ in range(size // len(block))]
    packed.append(packer.flush())
    return b"".join(packed)


# Compressed bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_a_gzip_bomb_is_inflated_a_block_at_a_time(
    make_on_path: MakeClient, raw_server: RawServerFactory, stream: bool
) -> None:
    """64 MiB of one line, gzipped to 64 KiB, fails at the line limit having held little of it.

    httpx inflates each block received whole: 64 KiB of this is 64 MiB at once.
    """
    limit = 256 * 1024
    server = raw_server(compressed_reply("gzip", gzip_of_repeated(b"x", 64 * 1024 * 1024)))
    c = make_on_path(server.url, max_line_size=limit, max_retries=0)

    def call() -> None:
        def run() -> Any:
            return list(c.generate(CHAT_MODEL, "hi", stream=True)) if stream else (
                c.generate(CHAT_MODEL, "hi"))

        with pytest.raises(LineTooLongError, match="262144-byte limit"):
            run()

    call()  # the first call sets up the transport and imports what it needs
    tracemalloc.start()
    try:
        call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024


STREAM_LINES = b"".join(
    json.dumps({"model": CHAT_MODEL, "response": f"t{i} ", "done": False}).encode() + b"\n"
    for i in range(2000)
) + json.dumps({"model": CHAT_MODEL, "response": "", "done": True}).encode() + b"\n"
WHOLE_TEXT = "".join(f"t{i} " for i in range(2000))


@pytest.mark.parametrize(
    ("coding", "packed"),
    [
        ("x-gzip", gzip.compress(STREAM_LINES)),
        # Two gzip members back to back, as a proxy that compresses each flush may send.
        ("gzip", gzip.compress(STREAM_LINES[:5000]) + gzip.compress(STREAM_LINES[5000:])),
        ("gzip, deflate", zlib.compress(gzip.compress(STREAM_LINES))),
    ],
    ids=["x-gzip", "two-gzip-members", "gzip-then-deflate"],
)
def test_every_coding_the_sync_client_decodes_is_decoded_whole(
    make_on_path: MakeClient, raw_server: RawServerFactory, coding: str, packed: bytes
) -> None:
    server = raw_server(compressed_reply(coding, packed))
    c = make_on_path(server.url)
    parts = list(c.generate(CHAT_MODEL, "hi", stream=True))
    assert "".join(p.response for p in parts) == WHOLE_TEXT
    assert parts[-1].done is True


# Flow control ----------------------------------------------------------------------------------


def test_a_reader_slower_than_the_server_leaves_the_rest_in_the_socket(
    make_on_path: MakeClient, raw_server: RawServerFactory
) -> None:
    """A stream read slowly holds a few blocks, not what the server sent meanwhile (TCP waits).

    The server would send 256 MiB as fast as it can, more than any socket buffers hold; the
    test reads one chunk, then gives the server 0.3 s to send it all (~1 GB/s), which it can only
    if the client reads it into memory. Then reading goes on where it stopped.
    """
    line = json.dumps({"model": CHAT_MODEL, "response": "x" * 4000, "done": False}).encode()
    block = (line + b"\n") * 256
    count = 256 * 1024 * 1024 // len(block)
    sent_all = threading.Event()

    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                         b"Content-Length: %d\r\n\r\n" % (count * len(block)))
            for _ in range(count):
                conn.sendall(block)
        except OSError:  # the client closed the stream
            return False
        sent_all.set()
        return True

    server = raw_server(reply)
    c = make_on_path(server.url)
    with c.generate(CHAT_MODEL, "hi", stream=True) as stream:
        tracemalloc.start()
        try:
            next(stream)
            # The loop of an AsyncClient runs on in its own thread meanwhile.
            assert not sent_all.wait(0.3)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 8 * 1024 * 1024
        more = [part.response for part in itertools.islice(stream, 4000)]  # 16 MB more
    assert more == ["x" * 4000] * 4000


# Errors ----------------------------------------------------------------------------------------


def test_a_reset_says_the_connection_was_reset(
    make_on_path: MakeClient, ollama_server: OllamaServer
) -> None:
    """Not httpx's bare "ReadError": what the socket said, as on the other paths."""
    ollama_server.faults.add(path="/api/chat", reset_after=2)
    c = make_on_path(ollama_server.url)
    with pytest.raises(IncompleteStreamError, match="Connection reset by peer") as caught:
        list(c.chat(CHAT_MODEL, [{"role": "user", "content": "hi"}], stream=True))
    assert len(caught.value.chunks) == 2
