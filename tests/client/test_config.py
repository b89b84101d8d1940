"""Host, headers, auth, sessions, timeouts and the wire trace."""

from __future__ import annotations

import logging
import math
import platform
import re

import pytest
import requests
from client_helpers import ClientKind

import ollama_wire
from ollama_wire import Client, ConnectError, RequestError
from ollama_wire.server import OllamaServer
from ollama_wire.testing import CHAT_MODEL

MESSAGES = [{"role": "user", "content": "hi"}]


def test_headers_user_agent_and_custom_ones(ollama_server: OllamaServer,
                                            make_client: ClientKind) -> None:
    with make_client(ollama_server.url, headers={"X-Custom": "yes", "Content-Type": "text/plain",
                                            "X-Dropped": None}) as c:
        c.list()
    record = ollama_server.requests.last("/api/tags")
    assert record.header("x-custom") == "yes"
    assert record.header("content-type") == "application/json"
    assert record.header("x-dropped") is None
    assert record.header("accept") == "application/json"
    agent = record.header("user-agent")
    assert agent == (
        f"ollama-wire/{ollama_wire.__version__} "
        f"({platform.machine().lower()} {platform.system().lower()}) "
        f"Python/{platform.python_version()}"
    )


@pytest.mark.parametrize(
    "headers",
    [{"X-Evil": "a\r\nInjected: 1"}, {"X-Evil": "a\nb"}, {"X-Evil": "a\x00"}, {"Bad Name": "x"},
     {"X-Euro": "\u20ac"}],
    ids=["crlf", "lf", "nul", "space-in-name", "not-latin-1"],
)
def test_a_header_that_cannot_be_sent_fails_when_the_client_is_made(
    ollama_server: OllamaServer, make_client: ClientKind, headers: dict[str, str]
) -> None:
    with pytest.raises(RequestError) as info:
        make_client(ollama_server.url, headers=headers)
    assert "Injected" not in str(info.value)  # a value may be a credential: not quoted
    assert len(ollama_server.requests) == 0


def test_ollama_api_key_becomes_bearer(ollama_server: OllamaServer,
                                       monkeypatch: pytest.MonkeyPatch,
                                       make_client: ClientKind) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", "sk-secret")
    with make_client(ollama_server.url) as c:
        c.version()
    assert ollama_server.requests.last("/api/version").header("authorization") == (
        "Bearer sk-secret"
    )
    with make_client(ollama_server.url, headers={"Authorization": "Bearer mine"}) as c:
        c.version()
    assert ollama_server.requests.last("/api/version").header("authorization") == "Bearer mine"


def test_basic_auth_from_the_url_is_sent_and_never_shown(
    ollama_server: OllamaServer, caplog: pytest.LogCaptureFixture, make_client: ClientKind
) -> None:
    url = ollama_server.url.replace("http://", "http://ada:s3cret@")
    with caplog.at_level(logging.DEBUG, logger="ollama_wire"), make_client(url, trace=True) as c:
        c.version()
        assert "s3cret" not in repr(c)
        assert "ada:***@" in repr(c)
        with pytest.raises(ollama_wire.NotFoundError) as info:
            c.show("missing-model")
    assert ollama_server.requests.last("/api/version").header("authorization") == (
        "Basic YWRhOnMzY3JldA=="
    )
    assert "s3cret" not in str(info.value)
    assert "YWRhOnMzY3JldA" not in caplog.text
    assert "s3cret" not in caplog.text


def test_the_environment_is_read_when_a_client_is_made(
    ollama_server: OllamaServer, monkeypatch: pytest.MonkeyPatch, make_client: ClientKind
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", f"  '{ollama_server.url}'  ")
    c = make_client()
    assert c.host == ollama_server.url
    assert c.version().version
    c.close()
    monkeypatch.setenv("OLLAMA_HOST", "h:99999")
    with pytest.raises(RequestError, match="port"):
        make_client()


def test_own_session_is_used_and_left_open(ollama_server: OllamaServer) -> None:
    session = requests.Session()
    session.headers["X-From-Session"] = "1"
    seen: list[int] = []
    session.hooks["response"].append(lambda r, *a, **k: seen.append(r.status_code))
    with Client(ollama_server.url, session=session) as c:
        c.list()
        assert list(c.chat(CHAT_MODEL, MESSAGES, stream=True))[-1].done
    assert seen == [200, 200]
    assert ollama_server.requests.last("/api/tags").header("x-from-session") == "1"
    assert session.get(ollama_server.url + "/api/version").json()["version"]
    session.close()


def test_per_call_and_client_timeouts(ollama_server: OllamaServer,
                                      make_client: ClientKind) -> None:
    ollama_server.faults.add(path="/api/chat", delay_headers=0.3)
    with make_client(ollama_server.url, timeout=0.05) as c:
        with pytest.raises(ollama_wire.ReadTimeout):
            c.chat(CHAT_MODEL, MESSAGES)
        ollama_server.faults.add(path="/api/chat", delay_headers=0.1)
        assert c.chat(CHAT_MODEL, MESSAGES, timeout=5).done
        assert c.chat(CHAT_MODEL, MESSAGES, timeout=(5, None)).done
        # Longer than a socket can wait is no limit.
        assert c.chat(CHAT_MODEL, MESSAGES, timeout=math.inf).done
        assert c.chat(CHAT_MODEL, MESSAGES, timeout=(5, 1e300)).done
    assert repr(make_client(timeout=None)).endswith("timeout=None, max_retries=2)")
    assert repr(make_client(timeout=math.inf)).endswith("timeout=None, max_retries=2)")
    for bad in (0, -1, "5", (1, 2, 3), (1, "x"), True, math.nan):
        with pytest.raises(RequestError, match="timeout"):
            make_client(timeout=bad)  # type: ignore[arg-type]
    with pytest.raises(RequestError, match="max_retries"):
        make_client(max_retries=-1)


def test_settings_of_the_wrong_type_fail_when_the_client_is_made(
    make_client: ClientKind,
) -> None:
    for settings, match in [
        ({"host": 5}, "host must be a URL"),
        ({"headers": {"X-Id": 1}}, "headers: names and values must be strings"),
        ({"headers": {1: "x"}}, "headers: names and values must be strings"),
        ({"max_line_size": "1mb"}, "max_line_size"),
        ({"max_line_size": 0}, "max_line_size"),
    ]:
        with pytest.raises(RequestError, match=match):
            make_client(**settings)


def test_trace_logs_requests_and_lines_redacted(
    ollama_server: OllamaServer, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch, make_client: ClientKind,
) -> None:
    monkeypatch.setenv("OLLAMA_WIRE_TRACE", "1")
    monkeypatch.setenv("OLLAMA_API_KEY", "sk-very-secret")
    with caplog.at_level(logging.DEBUG, logger="ollama_wire.wire"), \
            make_client(ollama_server.url) as c:
        c.chat(CHAT_MODEL, MESSAGES, options={"api_key": "sk-in-body"})
        chunks = list(c.generate(CHAT_MODEL, "hi", stream=True))
    wire = [r.getMessage() for r in caplog.records if r.name == "ollama_wire.wire"]
    assert any(m.startswith("> POST " + ollama_server.url + "/api/chat") for m in wire)
    assert any('"messages":[{"role":"user","content":"hi"}]' in m for m in wire)
    assert any(m.startswith("< 200") for m in wire)
    streamed = [m for m in wire if m.startswith('< {"model"')]
    assert len(streamed) >= len(chunks)
    assert "sk-very-secret" not in caplog.text
    assert "sk-in-body" not in caplog.text
    assert "'authorization': '***'" in caplog.text


def test_trace_cuts_long_lines(ollama_server: OllamaServer,
                               caplog: pytest.LogCaptureFixture, make_client: ClientKind) -> None:
    ollama_server.faults.add(path="/api/generate", long_line=50_000)
    with caplog.at_level(logging.DEBUG, logger="ollama_wire.wire"), \
            make_client(ollama_server.url, trace=True) as c:
        list(c.generate(CHAT_MODEL, "hi", stream=True))
    assert max(len(r.getMessage()) for r in caplog.records) < 2000
    assert re.search(r"\.\.\. \[\d+ more chars\]", caplog.text)


def test_no_logging_work_when_trace_is_off(ollama_server: OllamaServer,
                                           caplog: pytest.LogCaptureFixture,
                                           make_client: ClientKind) -> None:
    with caplog.at_level(logging.DEBUG, logger="ollama_wire"), make_client(ollama_server.url) as c:
        c.chat(CHAT_MODEL, MESSAGES)
    assert [r for r in caplog.records if r.name.startswith("ollama_wire")] == []


def test_plain_text_404_from_a_wrong_path_prefix(ollama_server: OllamaServer,
                                                 make_client: ClientKind) -> None:
    with make_client(ollama_server.url + "/not-ollama") as c:
        with pytest.raises(ollama_wire.NotFoundError) as info:
            c.list()
        with pytest.raises(ollama_wire.NotFoundError):
            list(c.chat(CHAT_MODEL, MESSAGES, stream=True))
    assert info.value.error == "404 page not found"
    assert "check the host URL" in str(info.value)


def test_connect_error_names_the_url_for_host_env(monkeypatch: pytest.MonkeyPatch,
                                                  refused_url: str,
                                                  sleeps: list[float]) -> None:
    monkeypatch.setenv("OLLAMA_HOST", refused_url)
    with pytest.raises(ConnectError, match=re.escape(refused_url)):
        ollama_wire.list()


def test_an_httpx_timeout_gives_its_connect_and_read_limits(
    ollama_server: OllamaServer, make_client: ClientKind
) -> None:
    """Code written for the official SDK may pass an ``httpx.Timeout``."""
    import httpx

    ollama_server.faults.add(path="/api/chat", delay_headers=0.3)
    with make_client(ollama_server.url, timeout=httpx.Timeout(5.0, read=0.05)) as c:
        assert repr(c).endswith("timeout=(5.0, 0.05), max_retries=2)")
        with pytest.raises(ollama_wire.ReadTimeout):
            c.chat(CHAT_MODEL, MESSAGES)
    assert repr(make_client(timeout=httpx.Timeout(None))).endswith(
        "timeout=(None, None), max_retries=2)")


def test_httpx_options_to_the_sync_client_say_what_to_do_instead() -> None:
    with pytest.raises(TypeError, match=r"'auth'.*runs on requests.*session="):
        Client(auth=("me", "pw"))
