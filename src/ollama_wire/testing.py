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

Helpers: `DEFAULT_MODELS`, `CHAT_MODEL`, `THINKING_MODEL`, `EMBED_MODEL`,
`wait_for_generation_stop(server, path)` which waits (no sleeping) until the latest
generation on ``path`` finished and returns its `RequestRecord`, and
`open_loopback_sockets(port)` (with `loopback_socket_states(port)`), which counts this
process's sockets still connected to the server, for tests that check a client closes its
connections (Linux only: it reads ``/proc``), and `self_signed_certificate(folder)` for an
HTTPS server (``OllamaServer(ssl_context=...)``) that nothing trusts until told to.
"""

from __future__ import annotations

import ipaddress
import os
import struct
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    # Imported when a fixture starts a server: this module is a pytest plugin, loaded by every
    # pytest run where ollama-wire is installed, and the server's imports cost ~100 ms.
    from ollama_wire.server import OllamaServer, RequestRecord

__all__ = [
    "CHAT_MODEL",
    "DEFAULT_MODELS",
    "EMBED_MODEL",
    "THINKING_MODEL",
    "loopback_socket_states",
    "ollama_server",
    "ollama_server_factory",
    "ollama_url",
    "open_loopback_sockets",
    "self_signed_certificate",
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


#: Where this process's descriptors and TCP tables are (Linux's procfs).
_PROC_SELF = "/proc/self"
#: The TCP states ``/proc/net/tcp`` reports, by their hex code (``include/net/tcp_states.h``).
_TCP_STATES = {
    0x01: "ESTABLISHED", 0x02: "SYN_SENT", 0x03: "SYN_RECV", 0x04: "FIN_WAIT1",
    0x05: "FIN_WAIT2", 0x06: "TIME_WAIT", 0x07: "CLOSE", 0x08: "CLOSE_WAIT", 0x09: "LAST_ACK",
    0x0A: "LISTEN", 0x0B: "CLOSING", 0x0C: "NEW_SYN_RECV",
}


def open_loopback_sockets(port: int) -> int:
    """Count this process's open TCP sockets connected to ``port`` on a loopback address.

    For tests that check a client closes its connections, with the server in the same
    process: ``assert open_loopback_sockets(server.port) == 0`` after ``client.close()``.
    Only the connecting side counts (the server's side has ``port`` as its local port, not
    its remote one), in whatever state it is while its descriptor is open: a socket the
    server closed but the client never did (CLOSE_WAIT) is a leak, and counts.

    Linux only: it reads ``/proc/self/fd`` and ``/proc/self/net/tcp{,6}``, and raises
    `RuntimeError` saying so where those cannot be read, rather than count nothing.
    """
    return len(loopback_socket_states(port))


def loopback_socket_states(port: int) -> list[str]:
    """Return the TCP state of each socket `open_loopback_sockets` counts, sorted.

    ``["CLOSE_WAIT", "ESTABLISHED"]``: a failing ``== []`` then shows what was left open.
    """
    if not 0 < port < 65536:
        raise ValueError(f"port must be 1 to 65535, not {port}")
    inodes = _socket_inodes()
    states = []
    for family in ("tcp", "tcp6"):
        for remote, remote_port, state, inode in _tcp_table(family):
            if remote_port == port and inode in inodes and _is_loopback(remote):
                states.append(_TCP_STATES.get(state, f"0x{state:02X}"))
    return sorted(states)


def _no_proc(path: str, exc: OSError) -> RuntimeError:
    return RuntimeError(
        f"open_loopback_sockets reads /proc (Linux only), and cannot read {path}: {exc}"
    )


def _socket_inodes() -> set[int]:
    """Return the inodes of the sockets among this process's open descriptors."""
    folder = f"{_PROC_SELF}/fd"
    try:
        descriptors = os.listdir(folder)
    except OSError as exc:
        raise _no_proc(folder, exc) from exc
    inodes = set()
    for fd in descriptors:
        try:
            target = os.readlink(f"{folder}/{fd}")
        except OSError:  # closed since the listing (the listing's own descriptor, say)
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _tcp_table(family: str) -> Iterator[tuple[bytes, int, int, int]]:
    """Yield (remote address, remote port, state, inode) for each row of ``/proc`` ``family``.

    ``tcp6`` is absent when the kernel has no IPv6; ``tcp`` must be there.
    """
    path = f"{_PROC_SELF}/net/{family}"
    if family == "tcp6" and not os.path.exists(path):
        return
    try:
        with open(path) as file:
            rows = file.read().splitlines()[1:]
    except OSError as exc:
        raise _no_proc(path, exc) from exc
    for row in rows:
        fields = row.split()
        address, _, remote_port = fields[2].partition(":")
        # Addresses are 32-bit words in host byte order, as hex.
        words = (int(address[i:i + 8], 16) for i in range(0, len(address), 8))
        remote = b"".join(struct.pack("=I", word) for word in words)
        yield remote, int(remote_port, 16), int(fields[3], 16), int(fields[9])


def _is_loopback(packed: bytes) -> bool:
    address = ipaddress.ip_address(packed)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def self_signed_certificate(folder: Path, name: str = "server") -> tuple[Path, Path]:
    """Make a self-signed certificate for 127.0.0.1 in ``folder``; return (cert, key) paths.

    Made with the ``openssl`` command (an EC P-256 key, valid for two days)::

        cert, key = self_signed_certificate(tmp_path)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server = ollama_server_factory(ssl_context=context)   # https://127.0.0.1:PORT
    """
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out", str(cert),
             "-days", "2", "-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True, timeout=60,
        )
    except FileNotFoundError:
        raise RuntimeError("self_signed_certificate needs the openssl command") from None
    return cert, key


@pytest.fixture
def ollama_server_factory() -> Iterator[Callable[..., OllamaServer]]:
    """Start servers with custom options; stop them all after the test."""
    started: list[OllamaServer] = []

    def factory(**kwargs: Any) -> OllamaServer:
        from ollama_wire.server import OllamaServer

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
