"""Redaction and trace helpers."""

from __future__ import annotations

import logging

import pytest

from ollama_wire import _trace


def test_redact_headers() -> None:
    headers = {"Authorization": "Bearer x", "Cookie": "c", "X-Api-Key": "k", "Accept": "a",
               "Set-Cookie": "session=s"}
    assert _trace.redact_headers(headers) == {
        "Authorization": "***", "Cookie": "***", "X-Api-Key": "***", "Accept": "a",
        "Set-Cookie": "***",
    }


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ('{"api_key":"sk-1"}', "sk-1"),
        ("token=abc123 rest", "abc123"),
        ("see http://me:pw@host:1/x", "pw"),
        ('{"password": "hunter2"}', "hunter2"),
    ],
)
def test_redact_text(text: str, hidden: str) -> None:
    redacted = _trace.redact_text(text)
    assert hidden not in redacted
    assert "***" in redacted


def test_cut() -> None:
    assert _trace.cut(b"abc", 10) == "abc"
    assert _trace.cut("x" * 20, 5) == "xxxxx... [15 more chars]"
    assert _trace.cut(b"\xff", 10) == "\ufffd"


def test_trace_enabled_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_trace.wire, "level", logging.NOTSET)
    monkeypatch.setattr(_trace.wire, "handlers", [])
    monkeypatch.setenv(_trace.TRACE_ENV, "0")
    assert _trace.trace_enabled(None) is False
    assert _trace.trace_enabled(False) is False
    monkeypatch.setenv(_trace.TRACE_ENV, "1")
    assert _trace.trace_enabled(None) is True
    assert _trace.wire.isEnabledFor(logging.DEBUG)


def test_log_retry_is_lazy_and_at_info(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ollama_wire"):
        _trace.log_retry("POST", "/api/chat", 1.5, 1, 2, "HTTP 503")
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    assert record.getMessage() == "Retrying POST /api/chat in 1.50 s (retry 1 of 2): HTTP 503"
    assert record.args  # formatted only when emitted
