"""Fixtures for client tests: clients, raw servers, a retry clock, which path a call took.

Every test that takes ``client`` or ``make_client`` runs twice: with the sync `Client` and
with the `AsyncClient`, driven from the test's sync code by `client_helpers.SyncAsyncClient`
on an event loop in its own thread. Async-only behaviour is tested in ``test_async.py``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from client_helpers import ClientKind, RawServer, RawServerFactory, Reply

import ollama_wire
from ollama_wire import _async_client as async_client_module
from ollama_wire import _client as client_module
from ollama_wire.server import OllamaServer


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep the user's Ollama settings and proxies out of the tests."""
    for name in ("OLLAMA_HOST", "OLLAMA_API_KEY", "OLLAMA_WIRE_TRACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost,::1")
    yield
    default = ollama_wire._default_client
    if default is not None:
        default.close()
    ollama_wire._default_client = None


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record retry delays instead of sleeping, for both clients."""
    delays: list[float] = []

    async def async_sleep(delay: float) -> None:
        delays.append(delay)

    monkeypatch.setattr(client_module, "sleep", delays.append)
    monkeypatch.setattr(async_client_module, "sleep", async_sleep)
    return delays


@pytest.fixture(params=["sync", "async"])
def make_client(request: pytest.FixtureRequest) -> Iterator[ClientKind]:
    """Make clients of one kind, ``make_client(url, **options)``; closed after the test."""
    kind = ClientKind(request.param)
    try:
        yield kind
    finally:
        kind.close()


@pytest.fixture
def client(make_client: ClientKind, ollama_server: OllamaServer) -> Any:
    """Return a client (sync, then async) on the test's server."""
    return make_client(ollama_server.url)


@pytest.fixture
def refused_url() -> str:
    """Return a loopback URL where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def raw_server() -> Iterator[RawServerFactory]:
    """Start `client_helpers.RawServer`s: ``server = raw_server(reply)``; closed after the test."""
    servers: list[RawServer] = []

    def start(reply: Reply) -> RawServer:
        servers.append(RawServer(reply))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def through_requests(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the requests that went through requests and urllib3, as ``"METHOD url"``.

    The sync `Client` sends on its own sockets when requests would add nothing, so this
    tells which path a call took: urllib3's pools are where every request of requests goes.
    """
    import urllib3

    sent: list[str] = []
    urlopen = urllib3.HTTPConnectionPool.urlopen

    def spy(pool: urllib3.HTTPConnectionPool, method: str, url: str, *args: Any,
            **kwargs: Any) -> Any:
        sent.append(f"{method} {pool.scheme}://{pool.host}:{pool.port}{url}")
        return urlopen(pool, method, url, *args, **kwargs)

    monkeypatch.setattr(urllib3.HTTPConnectionPool, "urlopen", spy)
    return sent


@pytest.fixture
def through_httpx(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the requests the AsyncClient sent through httpx, as ``"METHOD url"``.

    To a plain ``http://`` host it sends on its own connections when httpx would add
    nothing, so this tells which path a call took: every call of httpx's goes through
    ``AsyncClient.send`` (redirects followed inside it), which still sends for real.
    """
    import httpx

    sent: list[str] = []
    send = httpx.AsyncClient.send

    async def spy(http: httpx.AsyncClient, request: httpx.Request, *args: Any,
                  **kwargs: Any) -> httpx.Response:
        sent.append(f"{request.method} {request.url}")
        return await send(http, request, *args, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "send", spy)
    return sent
