"""A plain HTTP client for the server tests: http.client and raw sockets, never the library."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Reply:
    """A complete HTTP reply."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.body.splitlines() if line]


@dataclass
class RawReply:
    """A reply read off a raw socket, with its chunks kept apart."""

    status: int
    headers: dict[str, str]
    chunks: list[bytes] = field(default_factory=list)
    complete: bool = False

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(c) for c in self.chunks]


class Wire:
    """Talk to a server with http.client (one connection per call unless ``conn`` is given)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=10)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        conn: http.client.HTTPConnection | None = None,
    ) -> Reply:
        own = conn is None
        conn = conn or self.connect()
        try:
            data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
            hdrs = {"Content-Type": "application/json"} if data is not None else {}
            hdrs.update(headers or {})
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            payload = resp.read()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload)
        finally:
            if own:
                conn.close()

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("POST", path, body, **kw)

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def open_stream(
        self, path: str, body: Any, headers: dict[str, str] | None = None
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = self.connect()
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        conn.request("POST", path, body=json.dumps(body).encode(), headers=hdrs)
        return conn, conn.getresponse()

    def raw(self, method: str, path: str, body: bytes = b"", headers: str = "") -> RawReply:
        """Send one request on a raw socket and parse the reply, chunk by chunk."""
        with socket.create_connection((self.host, self.port), timeout=10) as sock:
            head = (
                f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n{headers}\r\n"
            )
            sock.sendall(head.encode() + body)
            data = b""
            while True:
                try:
                    piece = sock.recv(65536)
                except OSError:
                    break
                if not piece:
                    break
                data += piece
        return parse_raw(data)


def parse_raw(data: bytes) -> RawReply:
    """Parse a raw HTTP/1.1 reply; chunked bodies become their chunks (status 0: no bytes)."""
    if not data:
        return RawReply(0, {})
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    reply = RawReply(status, headers)
    if headers.get("transfer-encoding") == "chunked":
        while rest:
            size_line, sep, rest = rest.partition(b"\r\n")
            if not sep:
                break
            size = int(size_line, 16)
            if size == 0:
                reply.complete = True
                break
            reply.chunks.append(rest[:size])
            rest = rest[size + 2 :]
    else:
        reply.chunks = [rest] if rest else []
        reply.complete = len(rest) == int(headers.get("content-length", len(rest)))
    return reply


def stream_lines(resp: http.client.HTTPResponse) -> Iterator[dict[str, Any]]:
    """Yield the JSON lines of a streamed reply as they arrive."""
    while True:
        line = resp.readline()
        if not line:
            return
        yield json.loads(line)
