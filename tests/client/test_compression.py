"""Compressed replies (a proxy in front of Ollama may gzip them) are decoded, for both clients."""

from __future__ import annotations

import gzip
import http.server
import json
from collections.abc import Callable
from typing import Any

import pytest
from client_helpers import ClientKind

TOKENS = [f"token{i} " for i in range(300)]


def _stream_body() -> bytes:
    lines = [json.dumps({"model": "m", "response": t, "done": False}) for t in TOKENS]
    lines.append(json.dumps({"model": "m", "response": "", "done": True, "done_reason": "stop"}))
    return "".join(line + "\n" for line in lines).encode()


class _Gzipping(http.server.BaseHTTPRequestHandler):
    """Answer /api/generate gzipped: whole, or as a chunked NDJSON stream."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        if request.get("stream", True):
            packed = gzip.compress(_stream_body())
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(packed), 100):  # many small chunks, as a proxy sends
                piece = packed[start:start + 100]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            body = json.dumps({"model": "m", "response": "".join(TOKENS), "done": True})
            packed = gzip.compress(body.encode())
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(packed)))
            self.end_headers()
            self.wfile.write(packed)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""


@pytest.fixture
def gzip_url(serve_handler: Callable[[type], str]) -> str:
    return serve_handler(_Gzipping)


def test_a_gzipped_body_is_decoded(make_client: ClientKind, gzip_url: str) -> None:
    c = make_client(gzip_url)
    assert c.generate("m", "hi").response == "".join(TOKENS)


def test_a_gzipped_stream_is_decoded(make_client: ClientKind, gzip_url: str) -> None:
    c = make_client(gzip_url)
    parts = list(c.generate("m", "hi", stream=True))
    assert [p.response for p in parts[:-1]] == TOKENS
    assert parts[-1].done is True
