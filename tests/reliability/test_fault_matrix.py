"""The fault matrix: every way the network and the server fail, for each client kind.

For each fault: the exception type, what the caller keeps (the chunks received), how many
requests reached the server, and that no socket is left open.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any

import pytest
from reliability_helpers import ClientKind, open_sockets, socket_states, wait_until

from ollama_wire import (
    ConnectError,
    IncompleteStreamError,
    InvalidResponseError,
    LineTooLongError,
    ReadTimeout,
    ServerBusyError,
    ServerError,
    StreamError,
)
from ollama_wire.server import OllamaServer

MODEL = "llama3.2"
PATH = "/api/generate"
# Long enough that every fault below happens before the stream's natural end.
LONG = {"num_predict": 40}

streaming = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])


@dataclass
class Outcome:
    """What the caller got (the chunks, or the one result) and the error that ended the call."""

    got: list[Any]
    error: Exception | None


def run(kind: ClientKind, stream: bool, **kwargs: Any) -> Outcome:
    """Call generate, streaming or not."""
    kwargs = {"model": MODEL, "prompt": "Tell me a story", "options": LONG, **kwargs}
    if stream:
        return Outcome(*kind.collect("generate", **kwargs))
    try:
        return Outcome([kind.call("generate", **kwargs)], None)
    except Exception as exc:
        return Outcome([], exc)


def arrived(server: OllamaServer) -> int:
    """Return how many generate requests reached the server."""
    return len(server.requests.matching(PATH))


def assert_closed(kind: ClientKind, server: OllamaServer, out: Outcome | None = None) -> None:
    """After close, the client holds no socket and the server serves no connection.

    The outcome's error is let go and garbage collected first: its traceback holds the client,
    and that close() alone closes every socket is `test_close_closes_every_socket_at_once`'s
    business, not every row's.
    """
    kind.close()
    if out is not None:
        out.error = None
    gc.collect()
    assert socket_states(server.port) == []
    wait_until(lambda: len(server.threads()) == 1, what="server connections closed")


def backoff_ok(delays: list[float]) -> bool:
    """Tell whether ``delays`` are the default backoff: 0.5 * 2**n times a jitter in [0.75, 1]."""
    return all(0.375 * 2**n <= d <= 0.5 * 2**n for n, d in enumerate(delays))


# connection refused


@streaming
def test_connection_refused(kind: ClientKind, free_port: int, stream: bool) -> None:
    kind.open(f"http://127.0.0.1:{free_port}")
    out = run(kind, stream)
    assert isinstance(out.error, ConnectError)
    assert f"127.0.0.1:{free_port}" in str(out.error)
    assert "is it running?" in str(out.error)
    assert (out.got, list(out.error.chunks)) == ([], [])
    assert len(kind.sleeps) == 2  # refused before sending: always retried
    assert backoff_ok(kind.sleeps)
    assert open_sockets(free_port) == 0


# reset before the response


@streaming
def test_reset_before_the_response_is_retried(
    kind: ClientKind, ollama_server: OllamaServer, stream: bool
) -> None:
    ollama_server.faults.add(model=MODEL, reset_after=0)
    kind.open(ollama_server.url)
    out = run(kind, stream)
    assert out.error is None
    assert out.got[-1].done is True
    assert arrived(ollama_server) == 2
    assert len(kind.sleeps) == 1
    assert_closed(kind, ollama_server, out)


@streaming
def test_reset_every_time(kind: ClientKind, ollama_server: OllamaServer, stream: bool) -> None:
    ollama_server.faults.add(model=MODEL, reset_after=0, times=None)
    kind.open(ollama_server.url)
    out = run(kind, stream)
    assert isinstance(out.error, ConnectError)
    assert "dropped before a response arrived" in str(out.error)
    assert (out.got, list(out.error.chunks)) == ([], [])
    assert arrived(ollama_server) == 3
    assert open_sockets(ollama_server.port) == 0
    assert_closed(kind, ollama_server, out)


# 5xx bursts


@streaming
@pytest.mark.parametrize(
    ("status", "times", "error_type", "requests"),
    [
        (503, 2, None, 3),
        (504, 1, None, 2),
        (502, 3, ServerError, 3),
        (503, 3, ServerBusyError, 3),
        (500, 1, ServerError, 1),
    ],
)
def test_5xx_bursts(
    kind: ClientKind,
    ollama_server: OllamaServer,
    stream: bool,
    status: int,
    times: int,
    error_type: type[Exception] | None,
    requests: int,
) -> None:
    ollama_server.faults.add(model=MODEL, status=status, times=times, error="overloaded")
    kind.open(ollama_server.url)
    out = run(kind, stream)
    if error_type is None:
        assert out.error is None
        assert out.got[-1].done is True
    else:
        assert type(out.error) is error_type
        assert out.error.status_code == status  # type: ignore[attr-defined]
        assert str(out.error).startswith(f"overloaded (status code: {status})")
        assert (out.got, list(out.error.chunks)) == ([], [])
    assert arrived(ollama_server) == requests
    assert len(kind.sleeps) == requests - 1
    assert backoff_ok(kind.sleeps)
    assert_closed(kind, ollama_server, out)


# 429 and 503, with and without Retry-After


@streaming
@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(
    ("retry_after", "delay"),
    [("2", 2.0), ("0.25", 0.25), (None, None), ("3600", None), ("soon", None)],
    ids=["2s", "quarter", "absent", "too-long", "garbage"],
)
def test_busy_with_and_without_retry_after(
    kind: ClientKind,
    ollama_server: OllamaServer,
    stream: bool,
    status: int,
    retry_after: str | None,
    delay: float | None,
) -> None:
    ollama_server.faults.add(model=MODEL, status=status, retry_after=retry_after)
    kind.open(ollama_server.url)
    out = run(kind, stream)
    assert out.error is None
    assert out.got[-1].done is True
    assert arrived(ollama_server) == 2
    if delay is None:
        assert backoff_ok(kind.sleeps)  # absent or unusable: the client's own backoff
    else:
        assert kind.sleeps == [delay]
    assert_closed(kind, ollama_server, out)


@streaming
def test_busy_until_retries_run_out(
    kind: ClientKind, ollama_server: OllamaServer, stream: bool
) -> None:
    ollama_server.faults.add(model=MODEL, status=429, retry_after="1", times=None)
    kind.open(ollama_server.url, max_retries=4)
    out = run(kind, stream)
    assert isinstance(out.error, ServerBusyError)
    assert out.error.status_code == 429
    assert out.got == []
    assert kind.sleeps == [1.0] * 4
    assert arrived(ollama_server) == 5


# headers slower than the read timeout


@streaming
def test_headers_slower_than_the_read_timeout(
    kind: ClientKind, ollama_server: OllamaServer, stream: bool
) -> None:
    ollama_server.faults.add(model=MODEL, delay_headers=2.0)
    kind.open(ollama_server.url, timeout=(5.0, 0.2))
    out = run(kind, stream)
    assert isinstance(out.error, ReadTimeout)
    assert isinstance(out.error, TimeoutError)
    assert "read timeout" in str(out.error)
    assert (out.got, list(out.error.chunks)) == ([], [])
    assert kind.sleeps == []  # the server may still be working: never retried
    assert arrived(ollama_server) == 1
    assert open_sockets(ollama_server.port) == 0


# a connection dropped mid-stream


def test_connection_dropped_mid_stream(kind: ClientKind, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model=MODEL, drop_after=3)
    kind.open(ollama_server.url)
    out = run(kind, True)
    assert isinstance(out.error, IncompleteStreamError)
    assert isinstance(out.error, ConnectionError)
    assert len(out.got) == 3
    assert list(out.error.chunks) == out.got
    assert [c.done for c in out.got] == [False] * 3
    assert kind.sleeps == []  # never retried once a chunk was yielded
    assert arrived(ollama_server) == 1
    assert open_sockets(ollama_server.port) == 0
    assert_closed(kind, ollama_server, out)


def test_connection_dropped_before_a_whole_reply_is_retried(
    kind: ClientKind, ollama_server: OllamaServer
) -> None:
    ollama_server.faults.add(model=MODEL, drop_after=0)
    kind.open(ollama_server.url)
    out = run(kind, False)
    assert out.error is None
    assert out.got[0].done is True
    assert arrived(ollama_server) == 2
    assert_closed(kind, ollama_server, out)


def test_connection_dropped_before_the_first_chunk(
    kind: ClientKind, ollama_server: OllamaServer
) -> None:
    ollama_server.faults.add(model=MODEL, drop_after=0)
    kind.open(ollama_server.url)
    out = run(kind, True)
    # The 200 and its headers arrived: the server accepted the work, so no retry.
    assert isinstance(out.error, IncompleteStreamError)
    assert (out.got, list(out.error.chunks)) == ([], [])
    assert arrived(ollama_server) == 1
    assert open_sockets(ollama_server.port) == 0


def test_reset_mid_stream(kind: ClientKind, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model=MODEL, reset_after=2)
    kind.open(ollama_server.url)
    out = run(kind, True)
    assert isinstance(out.error, IncompleteStreamError)
    assert list(out.error.chunks) == out.got
    # Chunks already read stay read; chunks in flight when the RST landed may be lost.
    assert len(out.got) <= 2
    assert arrived(ollama_server) == 1
    assert open_sockets(ollama_server.port) == 0


# a stream without its final chunk


def test_stream_without_its_final_chunk(kind: ClientKind, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model=MODEL, truncate_after=2)
    kind.open(ollama_server.url)
    out = run(kind, True)
    assert isinstance(out.error, IncompleteStreamError)
    assert "without its final chunk" in str(out.error)
    assert len(out.got) == 2
    assert list(out.error.chunks) == out.got
    assert arrived(ollama_server) == 1
    assert_closed(kind, ollama_server, out)


def test_error_line_mid_stream(kind: ClientKind, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model=MODEL, error_after=2, error="out of memory")
    kind.open(ollama_server.url)
    out = run(kind, True)
    assert isinstance(out.error, StreamError)
    assert out.error.error == "out of memory"
    assert len(out.got) == 2
    assert list(out.error.chunks) == out.got
    assert arrived(ollama_server) == 1
    assert_closed(kind, ollama_server, out)


# malformed JSON, invalid UTF-8


@pytest.mark.parametrize("fault", ["malformed_after", "invalid_utf8_after"])
def test_bad_line_mid_stream(kind: ClientKind, ollama_server: OllamaServer, fault: str) -> None:
    ollama_server.faults.add(model=MODEL, **{fault: 2})
    kind.open(ollama_server.url)
    out = run(kind, True)
    assert isinstance(out.error, InvalidResponseError)
    assert "invalid JSON line in the stream" in str(out.error)
    assert len(out.got) == 2
    assert list(out.error.chunks) == out.got
    assert arrived(ollama_server) == 1
    assert open_sockets(ollama_server.port) == 0
    assert_closed(kind, ollama_server, out)


@pytest.mark.parametrize("fault", ["malformed_after", "invalid_utf8_after"])
def test_bad_whole_body(kind: ClientKind, ollama_server: OllamaServer, fault: str) -> None:
    ollama_server.faults.add(model=MODEL, **{fault: 0})
    kind.open(ollama_server.url)
    out = run(kind, False)
    assert isinstance(out.error, InvalidResponseError)
    assert out.error.status_code == 200
    assert "invalid JSON from the server" in str(out.error)
    assert '{"model":"llama3.2"' in str(out.error)  # says what arrived
    assert out.got == []
    assert arrived(ollama_server) == 1
    assert_closed(kind, ollama_server, out)


# a very long line


def test_very_long_line_in_a_stream(kind: ClientKind, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model=MODEL, long_line=4 * 1024 * 1024)
    kind.open(ollama_server.url, max_line_size=64 * 1024)
    out = run(kind, True)
    assert isinstance(out.error, LineTooLongError)
    assert "65536-byte limit (max_line_size)" in str(out.error)
    assert (out.got, list(out.error.chunks)) == ([], [])
    assert arrived(ollama_server) == 1
    assert open_sockets(ollama_server.port) == 0
    record = ollama_server.requests.wait_for(lambda r: r.path == PATH)[0]
    assert record.disconnected  # the client hung up instead of reading 4 MiB


def test_very_long_whole_body(kind: ClientKind, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model=MODEL, long_line=4 * 1024 * 1024)
    kind.open(ollama_server.url, max_line_size=64 * 1024)
    out = run(kind, False)
    # A whole reply is one JSON line: the same limit bounds it.
    assert isinstance(out.error, LineTooLongError)
    assert out.got == []
    assert open_sockets(ollama_server.port) == 0


def test_long_line_within_a_raised_limit(kind: ClientKind, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model=MODEL, long_line=2 * 1024 * 1024)
    kind.open(ollama_server.url, max_line_size=3 * 1024 * 1024)
    out = run(kind, True)
    assert out.error is None
    assert out.got[0].response.endswith("x" * 2 * 1024 * 1024)
    assert out.got[-1].done is True


# the server restarted between retries


@streaming
def test_server_restarted_between_retries(
    kind: ClientKind, ollama_server: OllamaServer, stream: bool
) -> None:
    ollama_server.faults.add(model=MODEL, status=503)
    kind.open(ollama_server.url)
    kind.before_retry = ollama_server.restart
    out = run(kind, stream)
    assert out.error is None
    assert out.got[-1].done is True
    assert arrived(ollama_server) == 2
    assert len(kind.sleeps) == 1
    assert_closed(kind, ollama_server, out)


@streaming
def test_server_down_then_back_between_retries(
    kind: ClientKind, ollama_server: OllamaServer, stream: bool
) -> None:
    ollama_server.stop()
    kind.open(ollama_server.url)

    def come_back() -> None:
        if len(kind.sleeps) == 2:
            ollama_server.start()

    kind.before_retry = come_back
    out = run(kind, stream)
    assert out.error is None
    assert out.got[-1].done is True
    assert arrived(ollama_server) == 1
    assert len(kind.sleeps) == 2
    assert_closed(kind, ollama_server, out)


def test_pooled_connection_gone_stale_after_a_restart(
    kind: ClientKind, ollama_server: OllamaServer
) -> None:
    kind.open(ollama_server.url)
    assert kind.call("version").version
    ollama_server.restart()  # closes the connection the client keeps in its pool
    assert kind.call("generate", model=MODEL, prompt="again").done is True
    assert kind.stream("generate", model=MODEL, prompt="and again")[-1].done is True
    assert len(ollama_server.requests.matching("/api/version")) == 1
    assert arrived(ollama_server) == 2
    assert_closed(kind, ollama_server)


# closing


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("fault", [{"status": 500}, {"reset_after": 0, "times": None}])
def test_close_closes_every_socket_at_once(
    kind: ClientKind, ollama_server: OllamaServer, fault: dict[str, Any], stream: bool
) -> None:
    """close() closes the pooled sockets itself, even while the caller keeps an error.

    An error's traceback holds the client; urllib3 2's ``PoolManager.clear()`` drops its
    pools without closing them, so only an explicit close (or the garbage collector, once
    the error is gone) shuts their sockets.
    """
    kind.open(ollama_server.url)
    assert kind.call("generate", model=MODEL, prompt="warm up").done is True  # one pooled
    ollama_server.faults.add(model=MODEL, **fault)
    kept = run(kind, stream)
    assert kept.error is not None
    kind.close()
    assert socket_states(ollama_server.port) == []


# calls with side effects


# (copy and create_blob are not among them: sent twice, they do what they do once.)
SIDE_EFFECTS = {
    "create": ("/api/create", {"model": "copy-of-llama", "from_": MODEL}),
    "delete": ("/api/delete", {"model": "qwen3"}),
    "push": ("/api/push", {"model": MODEL}),
}


@pytest.mark.parametrize("method", sorted(SIDE_EFFECTS))
@pytest.mark.parametrize(
    ("fault", "error_type"),
    [({"status": 503}, ServerBusyError), ({"reset_after": 0}, ConnectError)],
    ids=["503", "reset"],
)
def test_side_effects_are_not_retried_once_sent(
    kind: ClientKind,
    ollama_server: OllamaServer,
    method: str,
    fault: dict[str, Any],
    error_type: type[Exception],
) -> None:
    path, kwargs = SIDE_EFFECTS[method]
    ollama_server.faults.add(path=path, **fault)
    kind.open(ollama_server.url)
    with pytest.raises(error_type):
        kind.call(method, **kwargs)
    assert kind.sleeps == []
    assert len(ollama_server.requests.matching(path)) == 1
    assert_closed(kind, ollama_server)


@pytest.mark.parametrize("method", sorted(SIDE_EFFECTS))
def test_side_effects_are_retried_when_nothing_was_sent(
    kind: ClientKind, ollama_server: OllamaServer, method: str
) -> None:
    path, kwargs = SIDE_EFFECTS[method]
    ollama_server.stop()
    kind.open(ollama_server.url)

    def come_back() -> None:
        if len(kind.sleeps) == 1:
            ollama_server.start()

    kind.before_retry = come_back
    assert kind.call(method, **kwargs).status == "success"
    assert len(kind.sleeps) == 1
    assert len(ollama_server.requests.matching(path)) == 1
