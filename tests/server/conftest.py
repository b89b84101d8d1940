"""Fixtures for the server tests."""

from __future__ import annotations

import pytest
from server_wire import Wire

from ollama_wire.server import OllamaServer


@pytest.fixture
def wire(ollama_server: OllamaServer) -> Wire:
    """Return a plain HTTP client for the default test server."""
    return Wire(ollama_server.url)
