"""Hardening: bind address, body and connection limits, idle timeout, reset and UTF-8 faults."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator

import pytest
from server_wire import Wire, parse_raw

from ollama_wire.server import (
    DEFAULT_MAX_BLOB_SIZE,
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_CONNECTIONS,
    TOO_MANY_CONNECTIONS,
    OllamaServer,
    PublicBindWarning,
)
from ollama_wire.server._http import INVALID_UTF8
from ollama_wire.server.app import allowed_host, is_loopback
from ollama_wire.server.log import BODY_DROPPED, DEFAULT_LOG_BODY_BYTES, RequestLog, RequestRecord

GEN = {"model": "llama3.2", "prompt": "Tell me a story"}
# TEST-NET-1 (RFC 5737): never assigned to this machine, so binding it fails after the warning.
UNREACHABLE = "192.0.2.1"


def read_all(sock: socket.socket) -> tuple[bytes, bool]:
    """Read until EOF; return the bytes and whether the connection was reset."""
    data = b""
    while True:
        try:
            piece = sock.recv(65536)
        except ConnectionResetError:
            return data, True
        if not piece:
            return data, False
        data += piece


def send_raw(server: OllamaServer, request: bytes) -> tuple[bytes, bool]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        return read_all(sock)


def post_head(path: str, length: int | None, extra: str = "") -> bytes:
    size = f"Content-Length: {length}\r\n" if length is not None else ""
    return f"POST {path} HTTP/1.1\r\nHost: x\r\n{size}{extra}\r\n".encode()


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.005)


# binding


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.20", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_binds_loopback_by_default_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with OllamaServer() as server:
            assert server.host == "127.0.0.1"
            assert server.url.startswith("http://127.0.0.1:")


def test_binding_elsewhere_warns() -> None:
    server = OllamaServer(host=UNREACHABLE)
    with pytest.warns(PublicBindWarning, match=r"192\.0\.2\.1.*no authentication"), \
            pytest.raises(OSError, match=r"(?i)assign|address"):
        server.start()


def test_command_line_warns_on_stderr() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ollama_wire.server", "--host", UNREACHABLE, "--port", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 1
    assert f"warning: the server listens on '{UNREACHABLE}'" in proc.stderr
    assert "no authentication" in proc.stderr


# request bodies


def test_default_limits_are_named() -> None:
    server = OllamaServer()
    assert (server.max_body, server.max_blob_size) == (DEFAULT_MAX_BODY, DEFAULT_MAX_BLOB_SIZE)
    assert DEFAULT_MAX_BODY == 64 * 1024 * 1024
    assert DEFAULT_MAX_BLOB_SIZE > DEFAULT_MAX_BODY
    assert server.max_connections == DEFAULT_MAX_CONNECTIONS >= 200


def test_body_over_the_limit_is_413_before_it_is_read(
    ollama_server_factory: Callable[..., OllamaServer],
) -> None:
    server = ollama_server_factory(max_body=1024)
    # Announce a gigabyte, send none of it: the answer comes from the header alone.
    data, reset = send_raw(server, post_head("/api/generate", 1 << 30))
    reply = parse_raw(data)
    assert not reset
    assert reply.status == 413
    assert reply.headers["connection"] == "close"
    assert json.loads(reply.chunks[0]) == {
        "error": "request body too large: 1073741824 bytes, "
        "the limit for requests (max_body) is 1024 bytes"
    }
    assert server.requests.last("/api/generate").status == 413


def test_body_sent_whole_still_gets_its_413(
    ollama_server_factory: Callable[..., OllamaServer],
) -> None:
    server = ollama_server_factory(max_body=1024)
    body = json.dumps({**GEN, "prompt": "x" * 3_000_000}).encode()
    reply = Wire(server.url).post("/api/generate", body)
    assert reply.status == 413
    assert "limit for requests (max_body) is 1024 bytes" in reply.json()["error"]


def test_body_at_the_limit_is_accepted(
    ollama_server_factory: Callable[..., OllamaServer],
) -> None:
    body = json.dumps({**GEN, "stream": False}).encode()
    server = ollama_server_factory(max_body=len(body))
    reply = Wire(server.url).post("/api/generate", body)
    assert reply.status == 200
    assert reply.json()["done"] is True


def test_chunked_body_over_the_limit_is_413(
    ollama_server_factory: Callable[..., OllamaServer],
) -> None:
    server = ollama_server_factory(max_body=100)
    chunk = b"x" * 80
    request = post_head("/api/chat", None, "Transfer-Encoding: chunked\r\n")
    request += (b"50\r\n" + chunk + b"\r\n") * 2 + b"0\r\n\r\n"
    reply = parse_raw(send_raw(server, request)[0])
    assert reply.status == 413
    assert "more than 100 bytes" in json.loads(reply.chunks[0])["error"]


def test_blob_uploads_have_their_own_limit(
    ollama_server_factory: Callable[..., OllamaServer],
) -> None:
    import hashlib

    server = ollama_server_factory(max_body=100, max_blob_size=1000)
    wire = Wire(server.url)
    fits = b"b" * 500
    digest = "sha256:" + hashlib.sha256(fits).hexdigest()
    assert wire.post(f"/api/blobs/{digest}", fits).status == 201
    big = b"b" * 1001
    digest = "sha256:" + hashlib.sha256(big).hexdigest()
    reply = wire.post(f"/api/blobs/{digest}", big)
    assert reply.status == 413
    assert "blob uploads (max_blob_size) is 1000 bytes" in reply.json()["error"]


@pytest.mark.parametrize("length", ["-5", "12abc", "1e3"])
def test_bad_content_length_is_400(ollama_server: OllamaServer, length: str) -> None:
    data, _ = send_raw(ollama_server, f"POST /api/tags HTTP/1.1\r\nContent-Length: {length}\r\n\r\n"
                       .encode())
    reply = parse_raw(data)
    assert reply.status == 400
    assert "invalid Content-Length" in json.loads(reply.chunks[0])["error"]


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        OllamaServer(max_connections=0)
    with pytest.raises(ValueError, match="max_body"):
        OllamaServer(max_body=-1)
    with pytest.raises(ValueError, match="idle_timeout"):
        OllamaServer(idle_timeout=0)


# connections


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def test_connections_past_the_limit_get_503(
    ollama_server_factory: Callable[..., OllamaServer], sockets: list[socket.socket]
) -> None:
    server = ollama_server_factory(max_connections=3)
    for _ in range(3):
        sockets.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
    wait_until(lambda: len(server.threads()) == 4)  # 3 connections and the acceptor
    data, reset = send_raw(server, b"GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n")
    reply = parse_raw(data)
    assert not reset
    assert (reply.status, reply.headers["retry-after"]) == (503, "1")
    assert json.loads(reply.chunks[0]) == {"error": TOO_MANY_CONNECTIONS}
    assert server.refused_connections == 1
    assert len(server.threads()) == 4
    sockets.pop().close()
    wait_until(lambda: len(server.threads()) == 3)
    assert Wire(server.url).get("/api/version").status == 200


def test_holds_200_concurrent_connections(ollama_server: OllamaServer) -> None:
    conns = [http.client.HTTPConnection("127.0.0.1", ollama_server.port, timeout=10)
             for _ in range(200)]
    try:
        for conn in conns:
            conn.connect()
        wait_until(lambda: len(ollama_server.threads()) == 201)
        for conn in conns:
            conn.request("POST", "/api/show", body=json.dumps({"model": "llama3.2"}))
        replies = [conn.getresponse() for conn in conns]
        assert [r.status for r in replies] == [200] * 200
        assert all(json.loads(r.read())["details"]["family"] for r in replies)
        assert ollama_server.refused_connections == 0
    finally:
        for conn in conns:
            conn.close()
    wait_until(lambda: len(ollama_server.threads()) == 1)


def test_silent_connection_is_closed_after_the_idle_timeout(
    ollama_server_factory: Callable[..., OllamaServer], sockets: list[socket.socket]
) -> None:
    server = ollama_server_factory(idle_timeout=0.1)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sockets.append(sock)
    sock.sendall(b"GET /api/version HTTP/1.1\r\nHost: x\r\n")  # headers never finished
    assert read_all(sock) == (b"", False)
    wait_until(lambda: len(server.threads()) == 1)


# faults: reset, invalid UTF-8, restart


def test_reset_before_the_response(ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model="llama3.2", reset_after=0)
    body = json.dumps(GEN).encode()
    data, reset = send_raw(ollama_server, post_head("/api/generate", len(body)) + body)
    assert (data, reset) == (b"", True)
    record = ollama_server.requests.wait_for(lambda r: r.path == "/api/generate")[0]
    assert (record.status, record.error) == (499, "connection reset by fault")


def test_reset_on_a_path_without_a_model(ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(path="/api/tags", reset_after=0)
    assert send_raw(ollama_server, b"GET /api/tags HTTP/1.1\r\n\r\n") == (b"", True)
    assert Wire(ollama_server.url).get("/api/tags").status == 200


def test_reset_mid_stream(ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model="llama3.2", reset_after=2)
    body = json.dumps(GEN).encode()
    data, reset = send_raw(ollama_server, post_head("/api/generate", len(body)) + body)
    # Bytes that arrived before the RST stay readable; the read after them fails.
    assert reset
    reply = parse_raw(data)
    assert reply.status == 200
    assert not reply.complete
    assert [line["done"] for line in reply.lines()] == [False, False]


def test_reset_instead_of_a_whole_reply(wire: Wire, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model="llama3.2", reset_after=3)
    body = json.dumps({**GEN, "stream": False}).encode()
    assert send_raw(ollama_server, post_head("/api/generate", len(body)) + body) == (b"", True)


def test_invalid_utf8_line_mid_stream(wire: Wire, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model="llama3.2", invalid_utf8_after=1)
    raw = wire.raw("POST", "/api/generate", json.dumps(GEN).encode())
    assert raw.complete
    assert INVALID_UTF8 in raw.chunks[1]
    with pytest.raises(UnicodeDecodeError):
        raw.chunks[1].decode("utf-8")
    assert b'"response":"' in raw.chunks[1]
    assert json.loads(raw.chunks[0])["done"] is False
    assert json.loads(raw.chunks[-1])["done"] is True


def test_invalid_utf8_and_malformed_whole_replies(wire: Wire, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model="llama3.2", invalid_utf8_after=0)
    chat = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}], "stream": False}
    reply = wire.post("/api/chat", chat)
    assert reply.status == 200
    assert INVALID_UTF8 in reply.body
    ollama_server.faults.add(model="llama3.2", malformed_after=0)
    reply = wire.post("/api/generate", {**GEN, "stream": False})
    assert reply.status == 200
    with pytest.raises(json.JSONDecodeError):
        reply.json()


def test_new_fault_fields_from_the_header(wire: Wire) -> None:
    raw = wire.raw(
        "POST", "/api/generate", json.dumps(GEN).encode(),
        headers="X-Ollama-Wire-Fault: invalid_utf8_after=0\r\n",
    )
    assert INVALID_UTF8 in raw.chunks[0]
    assert wire.post("/_wire/faults", {"reset_after": -1}).status == 400


def test_restart_keeps_the_port_and_state(ollama_server: OllamaServer) -> None:
    wire = Wire(ollama_server.url)
    port = ollama_server.port
    assert wire.post("/api/generate", {**GEN, "stream": False}).status == 200
    assert wire.get("/api/ps").json()["models"]
    conn = wire.connect()
    assert wire.get("/api/version", conn=conn).status == 200
    ollama_server.faults.add(path="/api/tags", status=502)
    ollama_server.restart()
    assert ollama_server.port == port
    # The old keep-alive connection was closed by the restart.
    with pytest.raises((http.client.HTTPException, OSError)):
        wire.get("/api/version", conn=conn)
    conn.close()
    assert wire.get("/api/ps").json() == {"models": []}
    assert wire.get("/api/tags").status == 502
    assert "llama3.2:latest" in [m["name"] for m in wire.get("/api/tags").json()["models"]]


# Host header (DNS rebinding)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        (None, True),
        ("", True),
        ("localhost", True),
        ("LOCALHOST:11434", True),
        ("127.0.0.1:11434", True),
        ("[::1]:11434", True),
        ("::1", True),
        ("0.0.0.0", True),
        ("10.1.2.3:80", True),
        ("192.168.0.7", True),
        ("ollama", True),
        ("my-box.local", True),
        ("api.localhost:8080", True),
        ("svc.internal", True),
        ("evil.example.com", False),
        ("evil.example.com.", False),
        ("8.8.8.8", False),
        ("[2606:4700::1111]:80", False),
        ("attacker.com:11434", False),
    ],
)
def test_allowed_host(host: str | None, allowed: bool) -> None:
    assert allowed_host(host) is allowed


def test_a_foreign_host_header_gets_an_empty_403(ollama_server: OllamaServer) -> None:
    body = json.dumps({**GEN, "stream": False}).encode()
    data, _ = send_raw(
        ollama_server,
        f"POST /api/generate HTTP/1.1\r\nHost: rebind.attacker.example:{ollama_server.port}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body,
    )
    reply = parse_raw(data)
    assert (reply.status, reply.chunks) == (403, [])
    record = ollama_server.requests.last("/api/generate")
    assert (record.status, record.tokens) == (403, 0)


def test_the_host_check_follows_the_bind_address(
    ollama_server_factory: Callable[..., OllamaServer],
) -> None:
    assert OllamaServer().check_host is True
    assert OllamaServer(host=UNREACHABLE).check_host is False
    server = ollama_server_factory(check_host=False)
    data, _ = send_raw(server, b"GET /api/version HTTP/1.1\r\nHost: a.example\r\n"
                       b"Connection: close\r\n\r\n")
    assert parse_raw(data).status == 200


# the request log's memory


def test_the_request_log_keeps_the_latest_bodies_only() -> None:
    log = RequestLog(limit=10, max_body_bytes=100)
    records = []
    for i in range(3):
        record = RequestRecord("POST", "/api/generate", {})
        log.add(record)
        record.raw_body = json.dumps({"prompt": str(i) * 40}).encode()
        record.body = json.loads(record.raw_body)
        log.finish(record)
        records.append(record)
    assert [r.raw_body == b"" for r in records] == [True, True, False]
    assert records[0].body == BODY_DROPPED
    assert records[2].body == {"prompt": "2" * 40}
    assert len(log) == 3  # the records stay, with their status and timings
    assert DEFAULT_LOG_BODY_BYTES == 256 * 1024 * 1024


def test_limits_from_the_command_line() -> None:
    from ollama_wire.server.__main__ import build_parser, server_from_args

    args = build_parser().parse_args(["--max-connections", "7", "--max-body", "1000"])
    server = server_from_args(args)
    assert (server.max_connections, server.max_body, server.host) == (7, 1000, "127.0.0.1")
    defaults = server_from_args(build_parser().parse_args([]))
    assert (defaults.max_connections, defaults.max_body) == (
        DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_BODY
    )
