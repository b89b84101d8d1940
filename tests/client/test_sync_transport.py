"""The sync Client's two paths: its own HTTP/1.1 on sockets, or requests for the rest.

To a plain ``http://`` host, with its own session and nothing for requests to add (no proxy
from the environment, no netrc auth, no cookie in the jar; not an upload), `Client` speaks
HTTP/1.1 itself on a pool of sockets (``_sock_transport``, tested in
``test_sock_transport.py``); ``https://`` and everything else goes through requests'
`Session`. These tests check each thing that sends a call through requests instead, and
what the socket path must still do as requests would. ``through_requests`` tells the paths
apart: it lists the calls that went through requests.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from client_helpers import STREAM, RawServerFactory, http_response

from ollama_wire import Client, IncompleteStreamError, ReadTimeout
from ollama_wire.server import OllamaServer
from ollama_wire.testing import CHAT_MODEL, self_signed_certificate

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
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch, through_requests: list[str]
) -> None:
    proxy, seen = recorder()
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "")
    # The proxy answers itself; the name behind it is never looked up (.test is reserved).
    with Client("http://ollama.test:11434", max_retries=0) as c:
        assert c.version().version == "0.12.0"
    assert seen[0][0] == "GET http://ollama.test:11434/api/version HTTP/1.1"  # absolute form
    assert len(through_requests) == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_environments_proxy_never_takes_a_loopback_host(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch, through_requests: list[str], host: str
) -> None:
    proxy, proxied = recorder()
    url, seen = recorder()
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("ALL_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "")
    port = url.rsplit(":", 1)[1]
    with Client(f"http://{host}:{port}", max_retries=0) as c:
        c.version()
    session = requests.Session()  # through requests, with its environment settings
    with Client(f"http://{host}:{port}", max_retries=0, session=session) as c:
        c.version()
    assert proxied == []
    assert [line for line, _ in seen] == ["GET /api/version HTTP/1.1"] * 2
    assert len(through_requests) == 1
    # What a session was given itself still applies.
    session.proxies = {"http": proxy}
    with Client(f"http://{host}:{port}", max_retries=0, session=session) as c:
        c.version()
    assert [line for line, _ in proxied] == [f"GET http://{host}:{port}/api/version HTTP/1.1"]


def test_no_proxy_sends_directly(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch, through_requests: list[str]
) -> None:
    url, seen = recorder()
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.9:1")  # would fail if it were used
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with Client(url + "/prefix", max_retries=0) as c:
        c.version()
    assert seen[0][0] == "GET /prefix/api/version HTTP/1.1"
    assert through_requests == []  # on the client's own sockets


def test_netrc_credentials_go_through_requests(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    through_requests: list[str],
) -> None:
    url, seen = recorder()
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login ann password s3cret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with Client(url, max_retries=0) as c:
        c.version()
    assert seen[0][1]["authorization"] == "Basic " + base64.b64encode(b"ann:s3cret").decode()
    assert through_requests == [f"GET {url}/api/version"]


@pytest.mark.parametrize("variable", ["FTP_PROXY", "https_proxy"])
def test_a_proxy_for_another_scheme_leaves_the_sockets(
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch, through_requests: list[str],
    variable: str,
) -> None:
    """A proxy variable makes the client ask requests, which picks no proxy for http://."""
    url, seen = recorder()
    monkeypatch.setenv(variable, "http://127.0.0.9:1")  # would fail if it were used
    with Client(url, max_retries=0) as c:
        assert c.version().version == "0.12.0"
    assert seen[0][0] == "GET /api/version HTTP/1.1"  # to the server, not through a proxy
    assert through_requests == []


def test_a_url_requests_would_requote_is_requoted(
    recorder: Recorder, through_requests: list[str]
) -> None:
    url, seen = recorder()
    with Client(url + "/a b", max_retries=0) as c:
        c.version()
    assert seen[0][0] == "GET /a%20b/api/version HTTP/1.1"
    assert through_requests == []


def test_a_client_on_its_own_sockets_never_imports_requests(
    ollama_server: OllamaServer, tmp_path: Path
) -> None:
    """Calls, streams and errors on the sockets need neither requests nor urllib3 loaded."""
    script = f"""
import socket
import sys
from ollama_wire import Client, ConnectError, ResponseError
closed = socket.socket()
closed.bind(("127.0.0.1", 0))
port = closed.getsockname()[1]
closed.close()
try:
    Client(f"http://127.0.0.1:{{port}}", max_retries=0).version()
except ConnectError:
    pass
else:
    raise AssertionError("no error")
with Client({ollama_server.url!r}, max_retries=0) as c:
    c.version()
    assert c.generate({CHAT_MODEL!r}, "hi").response
    assert list(c.chat({CHAT_MODEL!r}, [{{"role": "user", "content": "hi"}}], stream=True))
    try:
        c.show("no-such-model")
    except ResponseError as exc:
        assert exc.status_code == 404
    else:
        raise AssertionError("no error")
print(sorted(m for m in sys.modules if m.split(".")[0] in ("requests", "urllib3")))
"""
    env = {k: v for k, v in os.environ.items()
           if not k.lower().endswith("_proxy") and k != "NETRC"}
    env["HOME"] = str(tmp_path)  # no netrc there
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_cookie_the_server_sets_is_sent_on_later_calls(
    recorder: Recorder, through_requests: list[str]
) -> None:
    url, seen = recorder(cookie="session=s1; Path=/")
    with Client(url) as c:
        c.version()  # on the sockets; the cookie goes to the session's jar
        c.version()  # through requests, which sends the jar's cookies
    assert "cookie" not in seen[0][1]
    assert seen[1][1]["cookie"] == "session=s1"
    assert through_requests == [f"GET {url}/api/version"]


def test_the_headers_are_those_requests_would_send(
    recorder: Recorder, through_requests: list[str]
) -> None:
    url, seen = recorder()
    with Client(url, headers={"X-Team": "blue"}) as c:
        c.version()
    assert through_requests == []
    session = requests.Session()
    with Client(url, headers={"X-Team": "blue"}, session=session) as c:
        c.version()
    session.close()
    assert through_requests == [f"GET {url}/api/version"]
    sockets, by_requests = (headers for _, headers in seen)
    assert sockets == by_requests
    assert sockets["user-agent"].startswith("ollama-wire/")
    assert sockets["x-team"] == "blue"
    assert sockets["accept"] == "application/json"
    assert sockets["connection"] == "keep-alive"
    assert sockets["host"] == url.removeprefix("http://")


def test_https_goes_through_requests(
    tmp_path: Path, ollama_server_factory: Callable[..., OllamaServer],
    through_requests: list[str],
) -> None:
    cert, key = self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ollama_server_factory(ssl_context=context)
    with Client(server.url, verify=cert) as c:
        assert c.version().version
        assert list(c.chat(CHAT_MODEL, [{"role": "user", "content": "hi"}], stream=True)
                    )[-1].done is True
    assert through_requests == [f"GET {server.url}/api/version", f"POST {server.url}/api/chat"]
    assert len({record.connection for record in server.requests}) == 1  # requests' pool


def test_a_client_closed_and_used_again_opens_a_new_pool(ollama_server: OllamaServer) -> None:
    c = Client(ollama_server.url)
    c.version()
    c.close()
    assert c.version().version
    c.close()
    assert len({record.connection for record in ollama_server.requests}) == 2


def test_many_threads_start_on_a_new_client_at_once(ollama_server: OllamaServer) -> None:
    with Client(ollama_server.url) as c:
        start = threading.Barrier(16)

        def call(_: int) -> str:
            start.wait()
            return str(c.version().version)

        with ThreadPoolExecutor(16) as pool:
            assert len(set(pool.map(call, range(16)))) == 1


@pytest.mark.parametrize("path", ["sockets", "requests"])
def test_a_server_that_stops_reading_the_body_is_a_read_timeout(
    path: str, sleeps: list[float]
) -> None:
    """A write that times out is the server not reading: ReadTimeout, never retried.

    requests wraps it as "Connection aborted." (a ConnectionError); it must not read as a
    dropped connection, which would be retried and the whole body sent again.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(listener.accept()[0])  # never read, never answered

    threading.Thread(target=accept, daemon=True).start()
    session = requests.Session() if path == "requests" else None
    image = bytes(12 * 1024 * 1024)  # 16 MiB of base64: more than both buffers hold
    try:
        with Client(url, timeout=(2, 0.3), session=session) as client, \
                pytest.raises(ReadTimeout):
            client.generate(CHAT_MODEL, "hi", images=[image])
    finally:
        listener.close()
        for conn in accepted:
            conn.close()
    assert len(accepted) == 1
    assert sleeps == []


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_body_cut_short_through_requests_is_an_incomplete_stream(
    raw_server: RawServerFactory, stream: bool
) -> None:
    """The client reads http.client's response itself, so it must see a Content-Length cut."""
    first = STREAM[:STREAM.index(b"\n") + 1]
    cut = http_response(first + b'{"', f"Content-Length: {len(STREAM)}")

    def reply(conn: socket.socket, index: int, request_line: bytes) -> bool:
        conn.sendall(cut)
        return False

    server = raw_server(reply)
    def call(client: Client) -> None:
        if stream:
            for _ in client.generate(CHAT_MODEL, "hi", stream=True):
                pass
        else:
            client.generate(CHAT_MODEL, "hi")

    with (Client(server.url, max_retries=0, session=requests.Session()) as client,
          pytest.raises(IncompleteStreamError,
                        match="closed the connection before the end of the response") as info):
        call(client)
    assert [part.response for part in info.value.chunks] == (["Hello"] if stream else [])


def test_a_socket_timeout_under_a_connect_timeout_stays_a_connect_failure() -> None:
    """requests' exceptions as it raises them: only a write's timeout reads as the server's.

    (A proxy that cannot be reached in time cannot be made on loopback.)
    """
    import urllib3.exceptions as u3

    from ollama_wire import _client
    from ollama_wire import _errors as E

    write = requests.exceptions.ConnectionError(
        u3.ProtocolError("Connection aborted.", TimeoutError("timed out")))
    connect = u3.ConnectTimeoutError(None, "timed out")
    connect.__cause__ = TimeoutError("timed out")
    proxy = requests.exceptions.ProxyError(u3.MaxRetryError(
        None, "http://127.0.0.1:1/", reason=u3.ProxyError("Unable to connect to proxy", connect)))
    assert _client._classify(write, reading=False) == E.READ_TIMED_OUT
    assert _client._classify(proxy, reading=False) == E.CONNECT_FAILED
