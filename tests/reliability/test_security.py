"""Security: secrets never leak, credentials stay with their host, TLS is verified."""

from __future__ import annotations

import base64
import http.server
import logging
import ssl
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from reliability_helpers import ClientKind

from ollama_wire import ConnectError, OllamaError
from ollama_wire.server import OllamaServer
from ollama_wire.testing import self_signed_certificate

MODEL = "llama3.2"
PASSWORD = "pw-9f3c1e-secret"
API_KEY = "sk-live-7d2a4b-secret"
TOKEN = "tok-5e8f0a-secret"
BASIC = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
SECRETS = (PASSWORD, API_KEY, TOKEN, BASIC)


def leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def describe(exc: BaseException) -> str:
    """Everything an exception shows: str, repr, args, attributes, the printed traceback."""
    parts = [str(exc), repr(exc), repr(exc.args), repr(vars(exc))]
    parts.extend(traceback.format_exception(exc))
    return "\n".join(parts)


def everything_about(kind: ClientKind, url: str, server: OllamaServer) -> list[str]:
    """Run every path that logs or raises, with tracing on; return all text it produced."""
    seen = [repr(kind.client), str(kind.client.host)]
    assert kind.call("generate", model=MODEL, prompt="hi").done is True
    assert kind.stream("chat", model=MODEL, messages=[{"role": "user", "content": "hi"}])
    server.faults.add(model=MODEL, status=503, retry_after="0")
    assert kind.call("generate", model=MODEL, prompt="retried").done is True
    failures: list[Callable[[], Any]] = [
        lambda: kind.call("generate", model="missing-model", prompt="hi"),
        lambda: kind.stream("generate", model=MODEL, prompt="hi"),
        lambda: kind.call("generate", model=MODEL, prompt="hi", timeout=(5.0, 0.05)),
        lambda: kind.call("generate", model=MODEL, prompt="hi"),
    ]
    server.faults.add(model="missing-model", status=404, error="model 'missing-model' not found")
    for i, fail in enumerate(failures):
        if i == 1:
            server.faults.add(model=MODEL, error_after=1, error="boom")
        if i == 2:
            server.faults.add(model=MODEL, delay_headers=1.0)
        if i == 3:
            server.faults.add(model=MODEL, reset_after=0, times=None)
        with pytest.raises(OllamaError) as caught:
            fail()
        seen.append(describe(caught.value))
    return seen


@pytest.fixture
def capture_all(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every logger at DEBUG (the wire trace included)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="ollama_wire")
    caplog.set_level(logging.DEBUG, logger="ollama_wire.wire")
    return caplog


@pytest.mark.parametrize("how", ["url-password", "api-key-env", "authorization-header"])
def test_secrets_never_appear_in_logs_traces_reprs_or_errors(
    kind: ClientKind,
    ollama_server: OllamaServer,
    capture_all: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    url = ollama_server.url
    options: dict[str, Any] = {"trace": True}
    if how == "url-password":
        url = url.replace("http://", f"http://alice:{PASSWORD}@")
        expected = f"Basic {BASIC}"
    elif how == "api-key-env":
        monkeypatch.setenv("OLLAMA_API_KEY", API_KEY)
        expected = f"Bearer {API_KEY}"
    else:
        options["headers"] = {"Authorization": f"Bearer {TOKEN}"}
        expected = f"Bearer {TOKEN}"
    kind.open(url, **options)
    seen = everything_about(kind, url, ollama_server)
    # The credentials did reach the server: the test would be empty otherwise.
    assert ollama_server.requests.last("/api/chat").header("authorization") == expected
    # The header is traced, its value is not.
    assert "'authorization': '***'" in capture_all.text.lower()
    out = capsys.readouterr()
    everything = "\n".join([*seen, capture_all.text, out.out, out.err])
    assert leaked(everything) == []


def test_a_password_in_an_unreachable_url_stays_out_of_the_error(
    kind: ClientKind, free_port: int, capture_all: pytest.LogCaptureFixture
) -> None:
    kind.open(f"http://alice:{PASSWORD}@127.0.0.1:{free_port}", trace=True)
    with pytest.raises(ConnectError) as caught:
        kind.call("list")
    assert f"alice:***@127.0.0.1:{free_port}" in str(caught.value)
    assert leaked(describe(caught.value) + capture_all.text + repr(kind.client)) == []


# redirects


class _Redirector(http.server.BaseHTTPRequestHandler):
    """Answer everything with a redirect to ``target`` and remember the headers that came."""

    target = ""
    status = 307
    seen: list[dict[str, str]]

    def _redirect(self) -> None:
        self.seen.append({k.lower(): v for k, v in self.headers.items()})
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(self.status)
        self.send_header("Location", self.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_HEAD = do_DELETE = _redirect

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""


@pytest.fixture
def redirector(
    serve_handler: Callable[[type], str],
) -> Callable[[str, int], tuple[str, list[dict[str, str]]]]:
    """Start a loopback server that redirects every request; return its URL and its log."""

    def start(target: str, status: int) -> tuple[str, list[dict[str, str]]]:
        seen: list[dict[str, str]] = []
        handler = type("Redirect", (_Redirector,), {"target": target, "status": status,
                                                     "seen": seen})
        return serve_handler(handler), seen

    return start


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("how", ["url-password", "api-key-env", "authorization-header"])
def test_credentials_are_not_sent_to_another_host_on_a_redirect(
    kind: ClientKind,
    ollama_server_factory: Callable[..., OllamaServer],
    redirector: Callable[[str, int], tuple[str, list[dict[str, str]]]],
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    how: str,
) -> None:
    other = ollama_server_factory(host="127.0.0.2")
    start, seen = redirector(other.url, status)
    options: dict[str, Any] = {}
    if how == "url-password":
        start = start.replace("http://", f"http://alice:{PASSWORD}@")
    elif how == "api-key-env":
        monkeypatch.setenv("OLLAMA_API_KEY", API_KEY)
    else:
        options["headers"] = {"Authorization": f"Bearer {TOKEN}"}
    kind.open(start, **options)
    try:
        kind.call("list")
    except OllamaError:
        pass  # not following the redirect at all is as safe as following it bare
    assert "authorization" in seen[0]  # the first host got the credentials
    for record in other.requests:
        assert record.header("authorization") is None
        assert leaked(repr(record.headers)) == []


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_followed_like_the_sdk(
    kind: ClientKind,
    ollama_server_factory: Callable[..., OllamaServer],
    redirector: Callable[[str, int], tuple[str, list[dict[str, str]]]],
    status: int,
) -> None:
    """The official SDK follows redirects (httpx ``follow_redirects=True``); so must we."""
    other = ollama_server_factory(host="127.0.0.2")
    start, seen = redirector(other.url, status)
    kind.open(start)
    assert [m.model for m in kind.call("list").models]
    if status in (307, 308):  # these keep the method and the body
        assert kind.call("generate", model=MODEL, prompt="moved").done is True
        assert other.requests.last("/api/generate").body["prompt"] == "moved"
    assert len(seen) == len(other.requests)


# TLS


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Make a self-signed certificate for 127.0.0.1; return (cert, key)."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_server(
    certificate: tuple[Path, Path], ollama_server_factory: Callable[..., OllamaServer]
) -> OllamaServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return ollama_server_factory(ssl_context=context)


def test_tls_is_verified_by_default(kind: ClientKind, tls_server: OllamaServer) -> None:
    assert tls_server.url.startswith("https://127.0.0.1:")
    kind.open(tls_server.url)
    with pytest.raises(ConnectError, match=r"(?i)certificate verify failed") as caught:
        kind.call("version")
    assert "TLS" in str(caught.value)
    assert kind.sleeps == []  # a bad certificate is not retried
    assert len(tls_server.requests) == 0  # nothing was sent


def test_a_ca_bundle_from_the_environment_is_trusted(
    kind: ClientKind,
    tls_server: OllamaServer,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    kind.open(tls_server.url)
    assert kind.call("version").version
    assert kind.stream("generate", model=MODEL, prompt="over TLS")[-1].done is True
    assert len(tls_server.requests) == 2


def test_a_session_with_a_ca_bundle_is_trusted(
    tls_server: OllamaServer, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ollama_wire import Client

    # requests lets these beat ``session.verify``; keep the machine's settings out.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    session = requests.Session()
    session.verify = str(certificate[0])
    with Client(tls_server.url, session=session) as client:
        assert client.version().version
    session.close()


@pytest.mark.parametrize("verify", ["bundle", False])
def test_the_verify_option(
    kind: ClientKind,
    tls_server: OllamaServer,
    certificate: tuple[Path, Path],
    verify: str | bool,
) -> None:
    """``verify=`` takes a CA bundle path (or False), as requests and httpx do."""
    kind.open(tls_server.url, verify=str(certificate[0]) if verify == "bundle" else False)
    assert kind.call("version").version
    assert kind.stream("generate", model=MODEL, prompt="over TLS")[-1].done is True
