"""TLS verification, redirects, cookies, bounded bodies and closing, for both clients."""

from __future__ import annotations

import http.server
import os
import signal
import ssl
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from client_helpers import ClientKind, client_sockets
from urllib3.exceptions import InsecureRequestWarning

from ollama_wire import (
    Client,
    ConnectError,
    LineTooLongError,
    OllamaError,
    RequestError,
    ResponseError,
)
from ollama_wire.server import OllamaServer
from ollama_wire.testing import CHAT_MODEL, self_signed_certificate

MESSAGES = [{"role": "user", "content": "hi"}]


# TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Two self-signed certificates for 127.0.0.1: the server's and an unrelated one."""
    folder = tmp_path_factory.mktemp("tls")
    return {name: self_signed_certificate(folder, name) for name in ("server", "other")}


@pytest.fixture
def tls_server(
    certificates: dict[str, tuple[Path, Path]],
    ollama_server_factory: Callable[..., OllamaServer],
    monkeypatch: pytest.MonkeyPatch,
) -> OllamaServer:
    """Serve HTTPS with the "server" certificate; the environment trusts the "other" one."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificates["server"])
    other = str(certificates["other"][0])
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.setenv(name, other)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return ollama_server_factory(ssl_context=context)


def test_an_explicit_verify_beats_the_environment(
    make_client: ClientKind, tls_server: OllamaServer, certificates: dict[str, tuple[Path, Path]],
    sleeps: list[float],
) -> None:
    with pytest.raises(ConnectError, match=r"(?i)TLS error .*certificate verify failed"):
        make_client(tls_server.url).version()
    assert len(tls_server.requests) == 0
    bundle = certificates["server"][0]
    for verify in (str(bundle), bundle, False):
        c = make_client(tls_server.url, verify=verify)
        assert c.version().version
        assert list(c.chat(CHAT_MODEL, MESSAGES, stream=True))[-1].done is True
    assert len(tls_server.requests) == 6
    assert sleeps == []


def test_an_explicit_verify_beats_the_sessions(
    tls_server: OllamaServer, certificates: dict[str, tuple[Path, Path]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name)
    session = requests.Session()
    session.verify = str(certificates["other"][0])
    with (
        Client(tls_server.url, session=session, max_retries=0) as c,
        pytest.raises(ConnectError, match="TLS error"),
    ):
        c.version()
    with Client(tls_server.url, session=session, verify=certificates["server"][0]) as c:
        assert c.version().version
    session.close()


@pytest.mark.parametrize(
    ("verify", "message"),
    [("missing-ca.pem", "no CA bundle at 'missing-ca.pem'"), (None, "verify must be"),
     ("", "no CA bundle"), (1, "verify must be")],
)
def test_a_bad_verify_fails_before_anything_is_sent(
    make_client: ClientKind, ollama_server: OllamaServer, verify: Any, message: str
) -> None:
    with pytest.raises(RequestError, match=message):
        make_client(ollama_server.url, verify=verify)
    assert len(ollama_server.requests) == 0


# Redirects and cookies -----------------------------------------------------------------------


class _Redirect(http.server.BaseHTTPRequestHandler):
    """Redirect every request to ``target`` + its path, setting a cookie on the way."""

    target = ""

    def _redirect(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(307)
        self.send_header("Location", (self.target or "/loop") + self.path)
        self.send_header("Set-Cookie", "ticket=abc123; Path=/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _redirect

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""


@pytest.fixture
def redirect_to(serve_handler: Callable[[type], str]) -> Callable[[str], str]:
    """Start a loopback server that redirects to a URL ("" redirects to itself)."""
    return lambda target: serve_handler(type("Redirect", (_Redirect,), {"target": target}))


def test_a_cookie_set_on_a_redirect_goes_to_the_next_hop(
    make_client: ClientKind, ollama_server: OllamaServer, redirect_to: Callable[[str], str]
) -> None:
    c = make_client(redirect_to(ollama_server.url))
    assert c.chat(CHAT_MODEL, MESSAGES).done is True
    record = ollama_server.requests.last("/api/chat")
    assert record.header("cookie") == "ticket=abc123"
    assert record.body["messages"] == MESSAGES  # a 307 keeps the method and the body


def test_session_cookies_are_sent(ollama_server: OllamaServer) -> None:
    session = requests.Session()
    session.cookies.set("team", "blue")
    with Client(ollama_server.url, session=session) as c:
        c.version()
    assert ollama_server.requests.last("/api/version").header("cookie") == "team=blue"
    session.close()


def test_a_redirect_loop_is_a_clear_error_and_not_retried(
    make_client: ClientKind, redirect_to: Callable[[str], str], sleeps: list[float]
) -> None:
    c = make_client(redirect_to(""))
    with pytest.raises(OllamaError, match=r"(?i)redirects") as info:
        c.list()
    assert not isinstance(info.value, ConnectError)  # nothing dropped
    assert sleeps == []


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_redirect_not_followed_is_an_error(
    make_client: ClientKind, ollama_server: OllamaServer, redirect_to: Callable[[str], str],
    sleeps: list[float], stream: bool,
) -> None:
    """``follow_redirects=False`` (an official SDK setting): the 3xx is the answer, an error.

    On each path: the client's own connections, and for the sync Client, requests.
    """
    url = redirect_to(ollama_server.url)
    clients = [make_client(url, follow_redirects=False)]
    if make_client.name == "sync":
        clients.append(Client(url, follow_redirects=False, session=requests.Session()))
    for c in clients:
        with pytest.raises(ResponseError) as info:
            list(c.chat(CHAT_MODEL, MESSAGES, stream=True)) if stream else c.chat(
                CHAT_MODEL, MESSAGES)
        assert info.value.status_code == 307
        assert "follow_redirects=False" in str(info.value)
    assert len(ollama_server.requests) == 0
    assert sleeps == []


# Bad values fail at the call, streams included ------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_a_value_json_cannot_carry_fails_at_the_call(
    client: Any, ollama_server: OllamaServer, stream: bool
) -> None:
    with pytest.raises(RequestError, match=r"^options\['temperature'\] is nan"):
        client.chat(CHAT_MODEL, MESSAGES, options={"temperature": float("nan")}, stream=stream)
    assert len(ollama_server.requests) == 0


# Whole bodies are bounded ----------------------------------------------------------------------


def test_a_whole_body_past_max_line_size_is_refused_unread(
    make_client: ClientKind, ollama_server: OllamaServer
) -> None:
    ollama_server.faults.add(path="/api/generate", long_line=1024 * 1024)
    c = make_client(ollama_server.url, max_line_size=16 * 1024)
    with pytest.raises(LineTooLongError, match="response body is longer than the 16384-byte"):
        c.generate(CHAT_MODEL, "hi")
    assert client_sockets(ollama_server.port) == 0  # the rest was not read: the socket closed
    assert c.generate(CHAT_MODEL, "short").done is True  # the limit leaves normal bodies be


# Closing -----------------------------------------------------------------------------------


def test_close_closes_pooled_sockets_while_an_error_is_kept(ollama_server: OllamaServer) -> None:
    c = Client(ollama_server.url)
    for _ in range(3):
        assert c.version().version
    ollama_server.faults.add(path="/api/generate", status=500, error="boom")
    with pytest.raises(OllamaError) as info:
        c.generate(CHAT_MODEL, "hi")
    assert client_sockets(ollama_server.port) == 1
    c.close()
    assert client_sockets(ollama_server.port) == 0  # ``info`` still holds the client
    assert str(info.value).startswith("boom")
    assert c.version().version  # a closed client opens new connections when used again
    c.close()


def test_verify_false_does_not_warn_per_request(
    make_client: ClientKind, tls_server: OllamaServer, recwarn: pytest.WarningsRecorder
) -> None:
    # recwarn shows every warning every time, as ``python -W always`` would.
    c = make_client(tls_server.url, verify=False)
    for _ in range(3):
        assert c.version().version
    assert list(c.chat(CHAT_MODEL, MESSAGES, stream=True))[-1].done is True
    assert [str(w.message) for w in recwarn] == []


def test_verify_false_quiets_only_urllib3s_warning_for_its_host(
    tls_server: OllamaServer, recwarn: pytest.WarningsRecorder
) -> None:
    def warn(host: str, module: str = "urllib3.connectionpool") -> None:
        text = f"Unverified HTTPS request is being made to host '{host}'. Adding certificate..."
        warnings.warn_explicit(text, InsecureRequestWarning, "connectionpool.py", 1, module)

    with Client(tls_server.url, verify=False):
        pass
    warn("127.0.0.1")  # quiet
    warn("127.0.0.2")  # another host
    warn("127.0.0.1", "myapp.http")  # another module
    warnings.warn_explicit("something else", UserWarning, "connectionpool.py", 1,
                           "urllib3.connectionpool")
    assert [str(w.message)[:60] for w in recwarn] == [
        "Unverified HTTPS request is being made to host '127.0.0.2'. ",
        "Unverified HTTPS request is being made to host '127.0.0.1'. ",
        "something else",
    ]


# Exceptions that are not the transport's --------------------------------------------------------


class SoftTimeLimitExceeded(Exception):  # Celery's name
    """What a task runner's signal handler raises into the code it interrupts."""


@pytest.mark.parametrize("session", [False, True], ids=["own-sockets", "requests"])
@pytest.mark.parametrize("stream", [False, True], ids=["call", "stream"])
def test_an_exception_a_signal_handler_raises_mid_call_is_raised_as_it_is(
    ollama_server: OllamaServer, session: bool, stream: bool
) -> None:
    def interrupt(signum: int, frame: Any) -> None:
        raise SoftTimeLimitExceeded("soft time limit")

    # The answer takes a second; the timer fires while the client waits for it.
    delay = {"delay_chunks" if stream else "delay_headers": 1.0}
    ollama_server.faults.add(path="/api/generate", **delay)
    client = Client(ollama_server.url, max_retries=0,
                    session=requests.Session() if session else None)
    def call() -> object:
        if stream:
            return list(client.generate(CHAT_MODEL, "hi", stream=True))
        return client.generate(CHAT_MODEL, "hi")

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(SoftTimeLimitExceeded, match="soft time limit"):
            call()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert client.version().version  # and the client goes on
    client.close()


# Processes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("session", [False, True], ids=["own-sockets", "requests"])
def test_a_client_used_before_fork_gives_each_process_its_own_answers(
    ollama_server: OllamaServer, session: bool
) -> None:
    """Parent and child must not share the keep-alive connection of the call before fork."""
    client = Client(ollama_server.url, max_retries=0, timeout=(5, 10),
                    session=requests.Session() if session else None)
    prompts = {"parent": "why is the sky blue", "child": "tell me about cats"}
    expected = {who: client.generate(CHAT_MODEL, p).response for who, p in prompts.items()}
    assert expected["parent"] != expected["child"]

    def ask(who: str) -> int:
        wrong = 0
        for _ in range(30):
            wrong += client.generate(CHAT_MODEL, prompts[who]).response != expected[who]
        return wrong

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: forking with threads
        pid = os.fork()
    if pid == 0:  # the child: report through the exit status, never return into pytest
        status = 99
        try:
            status = min(ask("child"), 90)
        finally:
            os._exit(status)
    parent_wrong = ask("parent")
    _, status = os.waitpid(pid, 0)
    assert (parent_wrong, os.waitstatus_to_exitcode(status)) == (0, 0)
    client.close()
