"""Fixtures shared by every test folder."""

from __future__ import annotations

import http.server
import signal
import threading
from collections.abc import Callable, Iterator

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Let Ctrl-C reach the commands the tests start, even from a background job.

    A shell starts background jobs with SIGINT ignored, and an ignored signal stays ignored
    across ``exec``: the CLI tests that send SIGINT to a child would then see nothing happen.
    A handler (unlike "ignore") is reset to the default in a child, so installing Python's own
    gives every child the usual Ctrl-C.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def serve_handler() -> Iterator[Callable[[type], str]]:
    """Serve ``http.server`` handler classes on loopback: ``url = serve_handler(Handler)``.

    For servers that misbehave in ways the project's server does not (redirects, cookies,
    compression, a recording proxy); each runs in its own thread and stops after the test.
    """
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(handler: type) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
