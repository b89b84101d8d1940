"""``web_search`` and ``web_fetch``: ollama.com's web API, whatever the client's host.

A loopback server stands in for ollama.com (``_protocol.WEB_ORIGIN`` points at it).
"""

from __future__ import annotations

import http.server
import json
import socket
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from client_helpers import ClientKind

from ollama_wire import (
    ConnectError,
    RequestError,
    ResponseError,
    WebFetchResponse,
    WebSearchResponse,
)
from ollama_wire import _protocol as P
from ollama_wire.server import OllamaServer

RESULTS = {"results": [
    {"title": "Ollama", "url": "https://ollama.com", "content": "Run models locally."},
    {"title": "Docs", "url": "https://docs.ollama.com", "content": "The API."},
]}
PAGE = {"title": "Ollama", "content": "Get up and running.", "links": ["https://ollama.com/x"]}


class _Web(http.server.BaseHTTPRequestHandler):
    """Answer ollama.com's two web endpoints; remember each request."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, dict[str, str], Any]]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        if self.headers.get("Authorization") != "Bearer sk-web":
            self._answer(401, {"error": "unauthorized"})
        elif self.path == "/api/web_search":
            self._answer(200, RESULTS)
        elif self.path == "/api/web_fetch":
            self._answer(200, PAGE)
        else:
            self._answer(404, {"error": "not found"})

    def _answer(self, status: int, data: Any) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""


@pytest.fixture
def web(serve_handler: Callable[[type], str],
        monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, str], Any]]:
    """Stand a loopback server in for ollama.com; return the requests it saw."""
    seen: list[tuple[str, dict[str, str], Any]] = []
    url = serve_handler(type("Web", (_Web,), {"seen": seen}))
    monkeypatch.setattr(P, "WEB_ORIGIN", url)
    monkeypatch.setenv("OLLAMA_API_KEY", "sk-web")
    return seen


def test_web_search_and_fetch_go_to_ollama_com_with_the_key(
    make_client: ClientKind, ollama_server: OllamaServer,
    web: list[tuple[str, dict[str, str], Any]],
) -> None:
    c = make_client(ollama_server.url)
    found = c.web_search("what is ollama?")
    assert isinstance(found, WebSearchResponse)
    assert [r.title for r in found.results] == ["Ollama", "Docs"]
    assert found["results"][0]["url"] == "https://ollama.com"
    page = c.web_fetch("https://ollama.com")
    assert isinstance(page, WebFetchResponse)
    assert (page.title, page.content, page.links) == (
        PAGE["title"], PAGE["content"], PAGE["links"])
    # As the SDK sends them: the default max_results is 3.
    assert [(path, body) for path, _, body in web] == [
        ("/api/web_search", {"query": "what is ollama?", "max_results": 3}),
        ("/api/web_fetch", {"url": "https://ollama.com"}),
    ]
    assert all(headers["authorization"] == "Bearer sk-web" for _, headers, _ in web)
    assert len(ollama_server.requests) == 0  # nothing went to the client's host
    assert c.web_search("q", max_results=5).results
    assert web[-1][2] == {"query": "q", "max_results": 5}


def test_web_calls_need_a_bearer_key_and_check_their_input(
    make_client: ClientKind, ollama_server: OllamaServer,
    web: list[tuple[str, dict[str, str], Any]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OLLAMA_API_KEY")
    c = make_client(ollama_server.url)
    for call in (lambda: c.web_search("q"), lambda: c.web_fetch("https://ollama.com")):
        with pytest.raises(RequestError, match=r"Bearer token is required.*OLLAMA_API_KEY"):
            call()
    with pytest.raises(ResponseError) as info:  # a key that ollama.com refuses
        make_client(ollama_server.url, headers={"Authorization": "Bearer nope"}).web_search("q")
    assert info.value.status_code == 401
    keyed = make_client(ollama_server.url, headers={"Authorization": "Bearer sk-web"})
    for bad in (lambda: keyed.web_search(""), lambda: keyed.web_search("q", max_results=0),
                lambda: keyed.web_fetch(None)):  # type: ignore[arg-type]
        with pytest.raises(RequestError):
            bad()
    assert len(web) == 1  # only the refused key was sent


def test_ollama_com_out_of_reach_is_not_an_ollama_serve_problem(
    make_client: ClientKind, ollama_server: OllamaServer, monkeypatch: pytest.MonkeyPatch,
    sleeps: list[float],
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setattr(P, "WEB_ORIGIN", closed)
    monkeypatch.setenv("OLLAMA_API_KEY", "sk-web")
    with pytest.raises(ConnectError, match=f"Could not reach {closed}") as info:
        make_client(ollama_server.url).web_search("q")
    assert "ollama serve" not in str(info.value)
