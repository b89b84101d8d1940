"""Retries, connection failures and timeouts, with the retry clock patched."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from client_helpers import AnyClient, ClientKind, client_sockets, connections

from ollama_wire import (
    ConnectError,
    ReadTimeout,
    ServerBusyError,
    Timeout,
)
from ollama_wire.server import OllamaServer
from ollama_wire.testing import CHAT_MODEL

MESSAGES = [{"role": "user", "content": "hi"}]
#: Options for a stream far longer than one read of the client (64 KiB).
LONG = {"num_predict": 100_000}


def test_503_then_success_without_retry_after(client: AnyClient, ollama_server: OllamaServer,
                                              sleeps: list[float],
                                              caplog: pytest.LogCaptureFixture) -> None:
    ollama_server.faults.add(path="/api/chat", status=503, times=2)
    with caplog.at_level(logging.INFO, logger="ollama_wire"):
        assert client.chat(CHAT_MODEL, MESSAGES).done
    assert len(ollama_server.requests.matching("/api/chat")) == 3
    assert len(sleeps) == 2
    assert 0.375 <= sleeps[0] <= 0.5
    assert 0.75 <= sleeps[1] <= 1.0
    retries = [r for r in caplog.records if r.name == "ollama_wire"]
    assert len(retries) == 2
    assert retries[0].levelno == logging.INFO
    assert "HTTP 503" in retries[0].getMessage()
    assert "/api/chat" in retries[0].getMessage()


def test_503_with_retry_after(client: AnyClient, ollama_server: OllamaServer,
                              sleeps: list[float]) -> None:
    ollama_server.faults.add(path="/api/generate", status=503, retry_after="3")
    assert client.generate(CHAT_MODEL, "hi").done
    assert sleeps == [3.0]


def test_429_on_a_stream_is_retried_before_yielding(client: AnyClient,
                                                    ollama_server: OllamaServer,
                                                    sleeps: list[float]) -> None:
    ollama_server.faults.add(path="/api/chat", status=429, retry_after="1")
    chunks = list(client.chat(CHAT_MODEL, MESSAGES, stream=True))
    assert chunks[-1].done
    assert sleeps == [1.0]


def test_retries_run_out(client: AnyClient, ollama_server: OllamaServer,
                         sleeps: list[float]) -> None:
    ollama_server.faults.add(path="/api/chat", status=503, times=None, error="server busy")
    with pytest.raises(ServerBusyError, match="server busy") as info:
        client.chat(CHAT_MODEL, MESSAGES)
    assert info.value.status_code == 503
    assert len(sleeps) == 2
    assert len(ollama_server.requests.matching("/api/chat")) == 3


def test_max_retries_zero_disables_retries(ollama_server: OllamaServer, sleeps: list[float],
                                           make_client: ClientKind) -> None:
    ollama_server.faults.add(path="/api/chat", status=503)
    with make_client(ollama_server.url, max_retries=0) as c, pytest.raises(ServerBusyError):
        c.chat(CHAT_MODEL, MESSAGES)
    assert sleeps == []


def test_calls_with_side_effects_are_not_retried_after_sending(
    client: AnyClient, ollama_server: OllamaServer, sleeps: list[float]
) -> None:
    ollama_server.faults.add(path="/api/delete", status=503)
    with pytest.raises(ServerBusyError):
        client.delete(CHAT_MODEL)
    assert sleeps == []
    assert len(ollama_server.requests.matching("/api/delete")) == 1
    assert CHAT_MODEL in [m.model.split(":")[0] for m in client.list().models]


@pytest.mark.parametrize("fault", [{"status": 503}, {"drop_after": 0}], ids=["503", "dropped"])
def test_copy_and_create_blob_are_retried_as_they_may_be_sent_twice(
    client: AnyClient, ollama_server: OllamaServer, sleeps: list[float], tmp_path: Path,
    fault: dict[str, int],
) -> None:
    blob = tmp_path / "weights.bin"
    blob.write_bytes(b"gguf" * 1000)
    ollama_server.faults.add(path="/api/copy", **fault)
    assert client.copy(CHAT_MODEL, "other").status == "success"
    digest = client.create_blob(blob)
    ollama_server.faults.add(path=f"/api/blobs/{digest}", **fault)
    assert client.create_blob(blob) == digest
    assert len(sleeps) == 2
    assert len(ollama_server.requests.matching("/api/copy")) == 2
    assert "other:latest" in [m.model for m in client.list().models]


def test_500_is_not_retried(client: AnyClient, ollama_server: OllamaServer,
                            sleeps: list[float]) -> None:
    ollama_server.faults.add(path="/api/chat", status=500)
    with pytest.raises(Exception, match="status code: 500"):
        client.chat(CHAT_MODEL, MESSAGES)
    assert sleeps == []


def test_no_retry_once_a_stream_yielded(client: AnyClient, ollama_server: OllamaServer,
                                        sleeps: list[float]) -> None:
    ollama_server.faults.add(path="/api/chat", drop_after=1)
    with pytest.raises(ConnectionError):
        list(client.chat(CHAT_MODEL, MESSAGES, stream=True))
    assert sleeps == []
    assert len(ollama_server.requests.matching("/api/chat")) == 1


def test_connection_refused(refused_url: str, sleeps: list[float],
                            make_client: ClientKind) -> None:
    with make_client(refused_url) as c:
        with pytest.raises(ConnectError) as info:
            c.chat(CHAT_MODEL, MESSAGES)
        with pytest.raises(ConnectError):
            list(c.chat(CHAT_MODEL, MESSAGES, stream=True))
        # Side effects or not: nothing was sent, so a refused connection is retried.
        with pytest.raises(ConnectError):
            c.delete("x")
    message = str(info.value)
    assert refused_url in message
    assert "Start it with `ollama serve`, or set OLLAMA_HOST" in message
    assert isinstance(info.value, ConnectionError)
    assert len(sleeps) == 6


def test_read_timeout_before_headers(ollama_server: OllamaServer, sleeps: list[float],
                                     make_client: ClientKind) -> None:
    ollama_server.faults.add(path="/api/chat", delay_headers=1.0)
    with make_client(ollama_server.url) as c, pytest.raises(ReadTimeout) as info:
        c.chat(CHAT_MODEL, MESSAGES, timeout=(1, 0.1))
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, Timeout)
    assert "read timeout" in str(info.value)
    assert sleeps == []  # the server is still busy with it: not retried


def test_read_timeout_mid_stream_keeps_chunks(ollama_server: OllamaServer,
                                              make_client: ClientKind) -> None:
    with make_client(ollama_server.url, timeout=(1, 0.1)) as c:
        stream = c.generate(CHAT_MODEL, "hi", stream=True)
        first = next(stream)
        ollama_server.faults.add(path="/api/generate", delay_chunks=1.0)
        second_stream = c.generate(CHAT_MODEL, "hello", stream=True)
        with pytest.raises(ReadTimeout) as info:
            list(second_stream)
        assert list(info.value.chunks) == second_stream.chunks
        stream.close()
        assert first.response is not None


def test_no_socket_leaked_after_retries_and_early_closes(ollama_server: OllamaServer,
                                                         sleeps: list[float],
                                                         make_client: ClientKind) -> None:
    with make_client(ollama_server.url) as c:
        c.chat(CHAT_MODEL, MESSAGES)  # one pooled connection
        assert client_sockets(ollama_server.port) == 1
        ollama_server.faults.add(path="/api/chat", status=503, times=2)
        c.chat(CHAT_MODEL, MESSAGES)  # succeeds on the last of three attempts
        for _ in range(10):
            for _chunk in c.chat(CHAT_MODEL, MESSAGES, stream=True):
                break
        with c.generate(CHAT_MODEL, "hi", stream=True) as stream:
            next(stream)
        ollama_server.faults.add(path="/api/chat", drop_after=1, times=3)
        for _ in range(3):
            with pytest.raises(ConnectionError):
                list(c.chat(CHAT_MODEL, MESSAGES, stream=True))
        assert client_sockets(ollama_server.port) <= 1
    assert client_sockets(ollama_server.port) == 0
    assert len(sleeps) == 2


def test_streams_read_to_the_end_reuse_one_connection(
    client: AnyClient, ollama_server: OllamaServer
) -> None:
    for _ in range(5):
        assert list(client.chat(CHAT_MODEL, MESSAGES, stream=True))[-1].done
        assert client.chat(CHAT_MODEL, MESSAGES).done
        assert list(client.pull(CHAT_MODEL, stream=True))[-1].status == "success"
    assert connections(ollama_server) == 1


def test_early_close_replaces_only_that_connection(
    client: AnyClient, ollama_server: OllamaServer
) -> None:
    client.list()
    for _ in range(3):
        # Long enough that the first read cannot hold the whole reply: a short stream can be
        # read to its end with its first chunk, and its connection goes back to the pool.
        with client.chat(CHAT_MODEL, MESSAGES, stream=True, options=LONG) as s:
            next(s)
    client.list()
    assert connections(ollama_server) == 4


def test_a_connection_dropped_before_the_reply_is_retried(client: AnyClient,
                                                         ollama_server: OllamaServer,
                                                         sleeps: list[float]) -> None:
    ollama_server.faults.add(path="/api/chat", drop_after=0)
    assert client.chat(CHAT_MODEL, MESSAGES).done
    assert len(sleeps) == 1
    assert len(ollama_server.requests.matching("/api/chat")) == 2


def test_a_dropped_call_with_side_effects_is_not_retried(client: AnyClient,
                                                         ollama_server: OllamaServer,
                                                         sleeps: list[float]) -> None:
    ollama_server.faults.add(path="/api/push", drop_after=0)
    with pytest.raises(ConnectError, match="dropped"):
        client.push("me/model")
    assert sleeps == []
    assert len(ollama_server.requests.matching("/api/push")) == 1


def test_close_releases_every_socket(ollama_server: OllamaServer,
                                     make_client: ClientKind) -> None:
    with make_client(ollama_server.url) as c:
        list(c.chat(CHAT_MODEL, MESSAGES, stream=True))
        assert client_sockets(ollama_server.port) == 1  # back in the pool
        with c.chat(CHAT_MODEL, MESSAGES, stream=True, options=LONG) as s:
            next(s)
            c.list()  # the stream holds the pooled connection: a second one opens
            assert client_sockets(ollama_server.port) == 2
        assert client_sockets(ollama_server.port) == 1  # the stream's is closed
    assert client_sockets(ollama_server.port) == 0
