"""The error tree: classes, builtins, SDK message format, status mapping, hints."""

from __future__ import annotations

import pytest

import ollama_wire
from ollama_wire import _errors
from ollama_wire._errors import error_from_status


def test_every_error_class_lives_in_the_package() -> None:
    classes = [v for v in vars(_errors).values()
               if isinstance(v, type) and issubclass(v, ollama_wire.OllamaError)]
    assert len(classes) == 15
    for cls in classes:
        assert cls.__module__ == "ollama_wire"
        assert getattr(ollama_wire, cls.__name__) is cls
        assert cls.__name__ in (_errors.__doc__ or "")


def test_builtin_bases() -> None:
    assert issubclass(ollama_wire.RequestError, ValueError)
    assert issubclass(ollama_wire.ConnectError, ConnectionError)
    assert issubclass(ollama_wire.ConnectTimeout, TimeoutError)
    assert issubclass(ollama_wire.ReadTimeout, TimeoutError)
    assert issubclass(ollama_wire.IncompleteStreamError, ConnectionError)


def test_response_error_matches_the_sdk() -> None:
    err = ollama_wire.ResponseError('{"error": "model \'x\' not found"}', 404)
    assert err.error == "model 'x' not found"
    assert err.status_code == 404
    assert str(err) == "model 'x' not found (status code: 404)"
    assert str(ollama_wire.ResponseError("boom")) == "boom (status code: -1)"


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, "BadRequestError"), (404, "NotFoundError"), (429, "ServerBusyError"),
     (503, "ServerBusyError"), (500, "ServerError"), (502, "ServerError"),
     (403, "ResponseError"), (401, "ResponseError")],
)
def test_status_mapping(status: int, cls: str) -> None:
    err = error_from_status(status, b'{"error":"nope"}')
    assert type(err) is getattr(ollama_wire, cls)
    assert err.status_code == status
    assert err.error == "nope"


def test_404_model_not_found_hints_pull() -> None:
    err = error_from_status(404, b'{"error":"model \'llama9\' not found"}', model="llama9")
    assert str(err).startswith("model 'llama9' not found (status code: 404)")
    assert "ollama pull llama9" in str(err)
    assert "ollama_wire.pull('llama9')" in str(err)


def test_plain_text_and_empty_bodies() -> None:
    err = error_from_status(404, b"404 page not found", "Not Found", model="m")
    assert err.error == "404 page not found"
    assert "no such endpoint" in err.hint
    empty = error_from_status(403, b"", "Forbidden")
    assert empty.error == "403 Forbidden (empty body)"
    odd = error_from_status(500, b"\xff\xfe garbage")
    assert "garbage" in odd.error


@pytest.mark.parametrize(
    ("failure", "cls", "text"),
    [
        (_errors.CONNECT_FAILED, "ConnectError", "`ollama serve`, or set OLLAMA_HOST"),
        (_errors.CONNECT_TIMED_OUT, "ConnectTimeout", "raise the connect timeout"),
        (_errors.READ_TIMED_OUT, "ReadTimeout", "longer timeout="),
        (_errors.DROPPED, "ConnectError", "dropped before a response"),
        (_errors.DROPPED_READING, "IncompleteStreamError", "dropped while reading"),
        (_errors.TLS_FAILED, "ConnectError", "TLS error"),
        (_errors.INVALID_REQUEST, "RequestError", "invalid request"),
        (_errors.OTHER, "OllamaError", "failed"),
    ],
)
def test_transport_errors(failure: str, cls: str, text: str) -> None:
    err = _errors.transport_error(failure, "http://h:1", "/api/chat", "reason")
    assert type(err) is getattr(ollama_wire, cls)
    assert text in str(err)
    assert "http://h:1" in str(err)
