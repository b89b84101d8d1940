"""Pytest fixtures and helpers for testing Ollama apps against the project's server.

Registered as a pytest plugin (entry point ``ollama_wire``), so the fixtures are available in
any test once ``ollama-wire`` is installed:

==========================  ===================================================================
``ollama_server``           a running `OllamaServer` (function scope, scripted engine, as
                            fast as possible) with `DEFAULT_MODELS` pulled; ``.url``,
                            ``.faults``, ``.requests``, ``.engine``, ``.registry``
``ollama_url``              ``ollama_server.url``
``ollama_server_factory``   ``factory(**kwargs) -> OllamaServer``: start servers with other
                            options (``models=``, ``engine_options=``, ``num_parallel=``...);
                            all are stopped at the end of the test
==========================  ===================================================================

A test can mark itself to change the default fixture's options::

    @pytest.mark.ollama_server(models=["gpt-oss:20b"], engine_options={"tokens_per_second": 50})
    def test_slow_stream(ollama_server): ...

The default models: ``llama3.2`` (`CHAT_MODEL`: completion, tools), ``qwen3``
(`THINKING_MODEL`: completion, tools, thinking on by default), ``all-minilm`` (`EMBED_MODEL`:
embedding only, 384 dimensions) and ``nomic-embed-text`` (embedding only, 768 dimensions). Any
other well-formed name can be pulled through ``/api/pull``; names starting with ``missing``
fail like an unknown manifest.

Scripted output: without ``num_predict`` an answer is 6 to 16 tokens (``done_reason`` "stop");
with it the answer runs into the limit ("length"), so a disconnect test can use
``engine_options={"tokens_per_second": 200}`` and ``options={"num_predict": 100_000}``.

Helpers: `DEFAULT_MODELS`, `CHAT_MODEL`, `THINKING_MODEL`, `EMBED_MODEL`, and
`wait_for_generation_stop(server, path)` which waits (no sleeping) until the latest
generation on ``path`` finished and returns its `RequestRecord`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ollama_wire.server import OllamaServer, RequestRecord

__all__ = [
    "CHAT_MODEL",
    "DEFAULT_MODELS",
    "EMBED_MODEL",
    "THINKING_MODEL",
    "ollama_server",
    "ollama_server_factory",
    "ollama_url",
    "wait_for_generation_stop",
]

CHAT_MODEL = "llama3.2"
THINKING_MODEL = "qwen3"
EMBED_MODEL = "all-minilm"
DEFAULT_MODELS: tuple[str, ...] = (CHAT_MODEL, THINKING_MODEL, EMBED_MODEL, "nomic-embed-text")


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``ollama_server`` marker."""
    config.addinivalue_line(
        "markers", "ollama_server(**kwargs): options for the ollama_server fixture's OllamaServer"
    )


def wait_for_generation_stop(
    server: OllamaServer, path: str = "/api/chat", timeout: float = 5.0
) -> RequestRecord:
    """Wait until the latest request to ``path`` is finished and return its record."""
    records = server.requests.wait_for(lambda r: r.path == path, timeout=timeout)
    return records[-1]


@pytest.fixture
def ollama_server_factory() -> Iterator[Callable[..., OllamaServer]]:
    """Start servers with custom options; stop them all after the test."""
    started: list[OllamaServer] = []

    def factory(**kwargs: Any) -> OllamaServer:
        kwargs.setdefault("models", DEFAULT_MODELS)
        server = OllamaServer(**kwargs).start()
        started.append(server)
        return server

    try:
        yield factory
    finally:
        for server in reversed(started):
            server.stop()


@pytest.fixture
def ollama_server(
    request: pytest.FixtureRequest, ollama_server_factory: Callable[..., OllamaServer]
) -> OllamaServer:
    """Yield a running scripted server with `DEFAULT_MODELS` pulled."""
    marker = request.node.get_closest_marker("ollama_server")
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    return ollama_server_factory(**kwargs)


@pytest.fixture
def ollama_url(ollama_server: OllamaServer) -> str:
    """Return the base URL of `ollama_server`."""
    return ollama_server.url
