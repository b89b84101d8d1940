"""Bad input: every argument the client checks fails before a single byte is sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import ClientKind, open_sockets

from ollama_wire import RequestError
from ollama_wire.server import OllamaServer

MODEL = "llama3.2"
USER = [{"role": "user", "content": "hi"}]


def assert_nothing_sent(server: OllamaServer) -> None:
    assert len(server.requests) == 0
    assert open_sockets(server.port) == 0  # not even a connection


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"host": "http://127.0.0.1:99999"}, "Invalid Ollama host"),
        ({"host": "ht tp://127.0.0.1"}, "bad scheme"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": "2"}, "max_retries"),
        ({"max_line_size": 0}, "max_line_size"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": "5"}, "timeout"),
        ({"timeout": (1, 2, 3)}, "timeout"),
        ({"timeout": (1, -2)}, "timeout"),
    ],
)
def test_bad_client_settings(
    kind: ClientKind, ollama_server: OllamaServer, options: dict[str, Any], message: str
) -> None:
    options = dict(options)  # shared between the kinds' runs
    url = options.pop("host", ollama_server.url)
    with pytest.raises(RequestError, match=message):
        kind.open(url, **options)
    assert_nothing_sent(ollama_server)


GENERATE = {"model": MODEL, "prompt": "hi"}
CHAT = {"model": MODEL, "messages": USER}

CASES: list[tuple[str, dict[str, Any], str]] = [
    # the model
    ("generate", {"model": ""}, "model is required"),
    ("generate", {"model": "   "}, "model is required"),
    ("generate", {"model": None}, "model is required"),
    ("generate", {"model": 3}, "model is required"),
    ("chat", {**CHAT, "model": ""}, "model is required"),
    ("embed", {"model": "", "input": "x"}, "model is required"),
    ("embeddings", {"model": "", "prompt": "x"}, "model is required"),
    ("show", {"model": ""}, "model is required"),
    ("pull", {"model": ""}, "model is required"),
    ("push", {"model": ""}, "model is required"),
    ("create", {"model": "", "from_": MODEL}, "model is required"),
    ("delete", {"model": ""}, "model is required"),
    ("unload", {"model": ""}, "model is required"),
    ("copy", {"source": "", "destination": "b"}, "source is required"),
    ("copy", {"source": "a", "destination": ""}, "destination is required"),
    # timeouts per call
    ("generate", {**GENERATE, "timeout": -1}, "timeout"),
    ("generate", {**GENERATE, "timeout": (1, 2, 3)}, "timeout"),
    ("list", {"timeout": "soon"}, "timeout"),
    # options, keep_alive, think, format
    ("generate", {**GENERATE, "options": "fast"}, "options must be a dict"),
    ("generate", {**GENERATE, "options": {"stop": "\n"}}, r"options\['stop'\]"),
    ("chat", {**CHAT, "options": {"stop": "END"}}, r"options\['stop'\]"),
    ("create", {"model": "m2", "from_": MODEL, "parameters": {"stop": "x"}}, r"\['stop'\]"),
    ("generate", {**GENERATE, "keep_alive": "5 minutes"}, "is not a duration"),
    ("generate", {**GENERATE, "keep_alive": True}, "keep_alive must be"),
    ("embed", {"model": MODEL, "input": "x", "keep_alive": [5]}, "keep_alive must be"),
    ("generate", {**GENERATE, "think": "extreme"}, "think must be"),
    ("chat", {**CHAT, "think": 1}, "think must be"),
    ("generate", {**GENERATE, "format": 42}, "format must be"),
    ("chat", {**CHAT, "format": ["json"]}, "format must be"),
    # images
    ("generate", {**GENERATE, "images": ["missing-cat.png"]}, "does not exist"),
    ("generate", {**GENERATE, "images": ["!!not base64!!"]}, "neither an existing file"),
    ("generate", {**GENERATE, "images": [3.5]}, "an image must be"),
    ("generate", {**GENERATE, "images": ["data:image/png;base64"]}, "no ','"),
    ("chat", {**CHAT, "messages": [{"role": "user", "images": ["gone.jpg"]}]}, "messages"),
    # messages and tools
    ("chat", {**CHAT, "messages": {"role": "user", "content": "hi"}}, "must be a list"),
    ("chat", {**CHAT, "messages": "hi"}, "must be a list"),
    ("chat", {**CHAT, "messages": [42]}, r"messages\[0\] must be"),
    ("chat", {**CHAT, "messages": [*USER, {"content": "no role"}]}, r"messages\[1\] needs"),
    ("chat", {**CHAT, "tools": [42]}, r"tools\[0\] must be"),
    # embed input
    ("embed", {"model": MODEL, "input": [1, 2]}, "input must be"),
    ("embed", {"model": MODEL, "input": ["ok", None]}, "input must be"),
    ("embed", {"model": MODEL, "input": 42}, "input must be"),
]


@pytest.mark.parametrize(
    ("method", "kwargs", "message"), CASES, ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(CASES)]
)
def test_bad_arguments_fail_before_anything_is_sent(
    kind: ClientKind, ollama_server: OllamaServer, method: str, kwargs: dict[str, Any],
    message: str,
) -> None:
    kind.open(ollama_server.url)
    with pytest.raises(RequestError, match=message) as caught:
        kind.call(method, **kwargs)
    assert isinstance(caught.value, ValueError)  # plain ``except ValueError`` works too
    assert_nothing_sent(ollama_server)


STREAMING = [case for case in CASES if case[0] in ("generate", "chat", "pull", "push", "create")]


@pytest.mark.parametrize(
    ("method", "kwargs", "message"), STREAMING,
    ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(STREAMING)],
)
def test_bad_arguments_fail_before_a_stream_sends(
    kind: ClientKind, ollama_server: OllamaServer, method: str, kwargs: dict[str, Any],
    message: str,
) -> None:
    kind.open(ollama_server.url)
    got, error = kind.collect(method, **kwargs)
    assert got == []
    assert isinstance(error, RequestError)
    assert error.args
    assert_nothing_sent(ollama_server)


def test_an_unreadable_blob_fails_before_anything_is_sent(
    kind: ClientKind, ollama_server: OllamaServer, tmp_path: Path
) -> None:
    kind.open(ollama_server.url)
    with pytest.raises(RequestError, match="cannot read blob file"):
        kind.call("create_blob", tmp_path / "missing.gguf")
    with pytest.raises(RequestError, match="cannot read blob file"):
        kind.call("create_blob", tmp_path)  # a directory
    assert_nothing_sent(ollama_server)


@pytest.mark.parametrize(
    "options",
    [{"temperature": float("nan")}, {"temperature": float("inf")}, {"seed": object()}],
    ids=["nan", "inf", "object"],
)
def test_values_json_cannot_carry_fail_before_anything_is_sent(
    kind: ClientKind, ollama_server: OllamaServer, options: dict[str, Any]
) -> None:
    """NaN would go out as invalid JSON, an object would crash the encoder mid-call."""
    kind.open(ollama_server.url)
    with pytest.raises(RequestError, match="options"):
        kind.call("generate", **GENERATE, options=options)
    assert_nothing_sent(ollama_server)
