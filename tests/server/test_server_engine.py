"""The engine interface: a custom engine plugs in, and its failures reach the client."""

from __future__ import annotations

from typing import Any

import pytest
from server_wire import Wire

from ollama_wire.server import (
    EngineError,
    Generation,
    GenerationRequest,
    GenerationResult,
    ModelCard,
    OllamaServer,
    Piece,
    ScriptedEngine,
)


class EchoEngine(ScriptedEngine):
    """Echo the prompt word by word; fail on request, to exercise the server's error paths."""

    name = "echo"

    def describe(self, name: str) -> ModelCard | None:
        if name.startswith("broken"):
            raise RuntimeError("registry unreachable")
        return super().describe(name)

    def generate(self, request: GenerationRequest) -> Generation:
        words = request.prompt.split()
        for i, word in enumerate(words):
            if word == "FAIL":
                raise EngineError("the input length exceeds the context length", 400)
            if word == "CRASH":
                raise RuntimeError("segfault")
            yield Piece(content=word if i == 0 else " " + word)
        return GenerationResult(
            done_reason="stop",
            prompt_eval_count=len(words),
            prompt_eval_duration=1000,
            eval_count=len(words),
            eval_duration=2000,
            context=[1, 2, 3],
        )


@pytest.fixture
def echo(ollama_server_factory: Any) -> OllamaServer:
    server: OllamaServer = ollama_server_factory(engine=EchoEngine(), models=["llama3.2"])
    return server


def test_a_custom_engine_serves_requests(echo: OllamaServer) -> None:
    body = {"model": "llama3.2", "prompt": "one two three", "stream": False}
    reply = Wire(echo.url).post("/api/generate", body).json()
    assert reply["response"] == "one two three"
    assert reply["context"] == [1, 2, 3]
    assert reply["eval_count"] == 3
    assert echo.requests.last("/api/generate").tokens == 3


def test_engine_error_before_output_keeps_its_status(echo: OllamaServer) -> None:
    reply = Wire(echo.url).post("/api/generate", {"model": "llama3.2", "prompt": "FAIL"})
    assert (reply.status, reply.json()) == (
        400,
        {"error": "the input length exceeds the context length"},
    )


def test_engine_error_after_output_is_an_error_line(echo: OllamaServer) -> None:
    reply = Wire(echo.url).post("/api/generate", {"model": "llama3.2", "prompt": "a b FAIL"})
    assert reply.status == 200
    lines = reply.lines()
    assert [ln.get("response") for ln in lines[:2]] == ["a", " b"]
    assert lines[2] == {"error": "the input length exceeds the context length"}


def test_unexpected_engine_failure_is_a_500_and_the_server_survives(echo: OllamaServer) -> None:
    wire = Wire(echo.url)
    reply = wire.post("/api/generate", {"model": "llama3.2", "prompt": "CRASH", "stream": False})
    assert reply.status == 500
    assert reply.json()["error"].startswith("model runner has unexpectedly stopped")
    assert "segfault" in reply.json()["error"]
    ok = wire.post("/api/generate", {"model": "llama3.2", "prompt": "fine", "stream": False})
    assert ok.json()["response"] == "fine"


def test_a_failure_after_a_stream_started_ends_it_with_an_error_line(echo: OllamaServer) -> None:
    wire = Wire(echo.url)
    raw = wire.raw("POST", "/api/pull", b'{"model": "broken"}')
    assert raw.status == 200
    assert raw.complete
    lines = raw.lines()
    assert lines[0] == {"status": "pulling manifest"}
    assert lines[-1]["error"].endswith("RuntimeError: registry unreachable")
    assert wire.get("/api/version").status == 200
