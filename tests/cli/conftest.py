"""Fixtures that run `python -m ollama_wire` against the project's server."""

from __future__ import annotations

import io
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_helpers import COMMAND, TIMEOUT, InProcess, Run, Terminal, cli_env

from ollama_wire.server import OllamaServer
from ollama_wire.testing import self_signed_certificate


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Return the environment the command runs in."""
    return cli_env(tmp_path)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Make a self-signed certificate for 127.0.0.1; return (cert, key)."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_server(certificate: tuple[Path, Path], env: dict[str, str],
               ollama_server_factory: Callable[..., OllamaServer],
               monkeypatch: pytest.MonkeyPatch) -> OllamaServer:
    """Serve HTTPS with `certificate`, which neither the environment nor the system trusts."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        env.pop(name, None)  # for `run`
        monkeypatch.delenv(name, raising=False)  # for `cli`
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return ollama_server_factory(ssl_context=context)


@pytest.fixture
def run(ollama_server: OllamaServer, env: dict[str, str]) -> Run:
    """Return `run(*args, input=None)`: the command against `ollama_server`, piped."""

    def run_cli(*args: str, input: str | None = None, host: str | None = None,
                extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*COMMAND, "--host", host or ollama_server.url, *args],
            input=input, stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True, text=True, timeout=TIMEOUT, env={**env, **(extra_env or {})},
        )

    return run_cli


@pytest.fixture
def terminal(env: dict[str, str]) -> Iterator[Callable[..., Terminal]]:
    """Return `terminal(*args, **env)`: start the command on a pseudo-terminal."""
    started: list[Terminal] = []

    def start(*args: str, **extra: str) -> Terminal:
        term = Terminal(args, {**env, **extra})
        started.append(term)
        return term

    yield start
    for term in started:
        term.close()


@pytest.fixture
def cli(ollama_server: OllamaServer, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> InProcess:
    """Return `cli(*args, input="")`: `main()` in this process -> (exit code, stdout, stderr).

    For variations on behaviour the subprocess tests already show end to end: it skips the
    interpreter start, which is most of a subprocess test's time.
    """
    from ollama_wire.cli import main

    for name in ("OLLAMA_HOST", "NO_COLOR", "OLLAMA_WIRE_TRACE", "OLLAMA_WIRE_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OLLAMA_WIRE_ENGINE", "scripted")
    monkeypatch.setenv("HOME", str(tmp_path))

    def call(*args: str, input: str = "", host: str | None = None) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(input))
        try:
            code = main(["--host", host or ollama_server.url, *args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return call
