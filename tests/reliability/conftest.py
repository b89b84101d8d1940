"""Fixtures for the reliability tests: one client kind at a time, on the project's server.

``kind`` is parametrized over `reliability_helpers.KINDS`; every test that takes it runs once
per client kind. Retry delays are recorded, never slept.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from reliability_helpers import KINDS, ClientKind

import ollama_wire


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep the user's Ollama settings and proxies out of the tests."""
    for name in ("OLLAMA_HOST", "OLLAMA_API_KEY", "OLLAMA_WIRE_TRACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,127.0.0.2,localhost,::1")
    yield
    default = ollama_wire._default_client
    if default is not None:
        default.close()
    ollama_wire._default_client = None


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[ClientKind]:
    """Yield a client kind (sync, async...); its client is closed after the test."""
    made = KINDS[request.param](monkeypatch)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def free_port() -> int:
    """Return a loopback port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
