"""Scripted servers for the tool loop, one per tool-call placement."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from ollama_wire import Client
from ollama_wire.server import OllamaServer
from ollama_wire.testing import CHAT_MODEL


@pytest.fixture(params=["chunk", "final"])
def tool_server(
    request: pytest.FixtureRequest, ollama_server_factory: Callable[..., OllamaServer]
) -> OllamaServer:
    """Serve the test models; tool calls arrive on a ``done: false`` chunk or on the final one."""
    return ollama_server_factory(engine_options={"tool_placement": request.param})


@pytest.fixture
def tool_model() -> str:
    """Return the name of a model with the ``tools`` capability on ``tool_server``."""
    return CHAT_MODEL


@pytest.fixture
def tool_client(tool_server: OllamaServer) -> Iterator[Client]:
    """Return a client of ``tool_server``."""
    with Client(tool_server.url) as client:
        yield client
