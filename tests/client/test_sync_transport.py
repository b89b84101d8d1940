"""The sync Client's two paths: urllib3's pool directly, or requests when it adds something.

With its own session and nothing for requests to add (no proxy, client certificate, auth
handler or cookie), `Client` sends through urllib3's pool for the host, in one write. These
tests check each thing that sends a call through requests instead, and what the direct path
must still do as requests would.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import urllib3

from ollama_wire import Client
from ollama_wire._client import ONE_WRITE_LIMIT, _one_write_class
from ollama_wire.server import OllamaServer

#: ``url, seen = recorder(cookie="")``: a server's URL and the requests it saw.
Recorder = Callable[..., tuple[str, list[tuple[str, dict[str, str]]]]]


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answer like Ollama's ``/api/version``; remember each request line and its headers."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, dict[str, str]]]
    cookie = ""

    def do_GET(self) -> None:
        self.seen.append((self.requestline, {k.lower(): v for k, v in self.headers.items()}))
        body = json.dumps({"version": "0.12.0"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if self.cookie:
            self.send_header("Set-Cookie", self.cookie)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""


@pytest.fixture
def recorder(serve_handler: Callable[[type], str]) -> Recorder:
    """Start loopback servers that record requests: ``url, seen = recorder(cookie=...)``."""

    def start(cookie: str = "") -> tuple[str, list[tuple[str, dict[str, str]]]]:
        seen: list[tuple[str, dict[str, str]]] = []
        return serve_handler(type("Recorder", (_Recorder,), {"seen": seen, "cookie": cookie})), seen

    return start


def test_a_proxy_from_the_environment_is_used(
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy, seen = recorder()
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "")
    # The proxy answers itself; nothing goes to the (unused) address behind it.
    with Client("http://127.0.0.9:1", max_retries=0) as c:
        assert c.version().version == "0.12.0"
    assert seen[0][0] == "GET http://127.0.0.9:1/api/version HTTP/1.1"  # absolute form


def test_no_proxy_sends_directly(
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, seen = recorder()
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.9:1")  # would fail if it were used
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with Client(url + "/prefix", max_retries=0) as c:
        c.version()
    assert seen[0][0] == "GET /prefix/api/version HTTP/1.1"


def test_a_cookie_the_server_sets_is_sent_on_later_calls(
    recorder: Recorder,
) -> None:
    url, seen = recorder(cookie="session=s1; Path=/")
    with Client(url) as c:
        c.version()
        c.version()
    assert "cookie" not in seen[0][1]
    assert seen[1][1]["cookie"] == "session=s1"


def test_the_headers_are_those_requests_would_send(
    recorder: Recorder,
) -> None:
    url, seen = recorder()
    with Client(url, headers={"X-Team": "blue"}) as c:
        c.version()
    headers = seen[0][1]
    assert headers["user-agent"].startswith("ollama-wire/")
    assert headers["x-team"] == "blue"
    assert headers["accept"] == "application/json"
    assert headers["connection"] == "keep-alive"
    assert headers["host"] == url.removeprefix("http://")


def test_a_client_closed_and_used_again_opens_a_new_pool(ollama_server: OllamaServer) -> None:
    c = Client(ollama_server.url)
    c.version()
    c.close()
    assert c.version().version
    c.close()
    assert len({record.connection for record in ollama_server.requests}) == 2


def test_a_request_with_a_body_is_one_write() -> None:
    """urllib3 writes the head and the body apart; the client's connections write once."""
    listener = socket.create_server(("127.0.0.1", 0))
    writes: list[bytes] = []

    def read_all(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while conn.recv(65536):
                pass

    def drain() -> None:  # read what comes, so that no write waits for room
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                threading.Thread(target=read_all, args=(conn,), daemon=True).start()

    threading.Thread(target=drain, daemon=True).start()

    class Recorded:
        """A socket that records what is written to it."""

        def __init__(self, sock: socket.socket) -> None:
            self._sock = sock

        def sendall(self, data: bytes) -> None:
            writes.append(bytes(data))
            self._sock.sendall(data)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._sock, name)

    class Counted(_one_write_class(urllib3.connection.HTTPConnection)):  # type: ignore[misc]
        def connect(self) -> None:
            super().connect()
            self.sock = Recorded(self.sock)

    port = listener.getsockname()[1]
    post, get, big = (Counted("127.0.0.1", port) for _ in range(3))
    try:
        post.request("POST", "/api/embed", body=b'{"model":"m","input":"hi"}',
                     headers={"Content-Type": "application/json"})
        get.request("GET", "/api/version")  # no body: the head alone, as before
        big.request("POST", "/api/chat", body=b"x" * (ONE_WRITE_LIMIT + 1))
    finally:
        for conn in (post, get, big):
            conn.close()
        listener.close()
    assert len(writes) == 4
    assert writes[0].startswith(b"POST /api/embed HTTP/1.1\r\n")
    assert writes[0].endswith(b'\r\n\r\n{"model":"m","input":"hi"}')
    assert b"Content-Length: 26\r\n" in writes[0]
    assert writes[1].startswith(b"GET /api/version HTTP/1.1\r\n")
    assert writes[2].startswith(b"POST /api/chat HTTP/1.1\r\n")  # a big body goes apart
    assert writes[3] == b"x" * (ONE_WRITE_LIMIT + 1)


def test_the_one_write_class_is_made_once_per_connection_class() -> None:
    # Threads opening the pool at once may hand over the class another thread already set.
    once = _one_write_class(urllib3.connection.HTTPConnection)
    assert _one_write_class(once) is once
    assert _one_write_class(urllib3.connection.HTTPConnection) is once
    assert once.__mro__[2] is urllib3.connection.HTTPConnection


def test_many_threads_start_on_a_new_client_at_once(ollama_server: OllamaServer) -> None:
    with Client(ollama_server.url) as c:
        start = threading.Barrier(16)

        def call(_: int) -> str:
            start.wait()
            return str(c.version().version)

        with ThreadPoolExecutor(16) as pool:
            assert len(set(pool.map(call, range(16)))) == 1
