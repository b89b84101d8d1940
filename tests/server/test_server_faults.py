"""Fault injection: scripted per model, per path, per request header and over HTTP."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from server_wire import Wire

from ollama_wire.server import Fault, OllamaServer

GEN = {"model": "llama3.2", "prompt": "Tell me a story"}
DEFAULT_ERROR = "an error was encountered while running the model"


def raw_generate(wire: Wire, headers: str = "", **extra: Any) -> Any:
    return wire.raw("POST", "/api/generate", json.dumps({**GEN, **extra}).encode(), headers)


def test_http_error_n_times_then_success(wire: Wire, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model="llama3.2", status=503, error="model is overloaded", times=2)
    for _ in range(2):
        reply = wire.post("/api/generate", {**GEN, "stream": False})
        assert (reply.status, reply.json()) == (503, {"error": "model is overloaded"})
        assert "retry-after" not in reply.headers
    assert wire.post("/api/generate", {**GEN, "stream": False}).status == 200
    assert len(ollama_server.faults) == 0


def test_http_error_with_retry_after(wire: Wire, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(Fault(status=429, error="rate limit exceeded", retry_after="2"))
    reply = wire.post("/api/chat", {"model": "llama3.2", "messages": []})
    assert (reply.status, reply.json()) == (429, {"error": "rate limit exceeded"})
    assert reply.headers["retry-after"] == "2"
    record = ollama_server.requests.last("/api/chat")
    assert record.fault is not None
    assert record.status == 429


def test_faults_match_model_and_path(wire: Wire, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model="qwen3:latest", path="/api/chat", status=500, times=None)
    assert wire.post("/api/chat", {"model": "llama3.2", "messages": []}).status == 200
    assert wire.post("/api/generate", {"model": "qwen3", "prompt": ""}).status == 200
    for _ in range(3):
        assert wire.post("/api/chat", {"model": "QWEN3", "messages": []}).status == 500
    ollama_server.faults.clear()
    assert wire.post("/api/chat", {"model": "qwen3", "messages": []}).status == 200


def test_fault_on_a_non_model_endpoint(wire: Wire, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(path="/api/tags", status=502)
    assert wire.get("/api/tags").status == 502
    assert wire.get("/api/tags").status == 200


def test_mid_stream_error_line(wire: Wire, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model="llama3.2", error_after=3)
    raw = raw_generate(wire)
    assert raw.status == 200
    assert raw.complete
    lines = raw.lines()
    assert len(lines) == 4
    assert all(ln["done"] is False for ln in lines[:3])
    assert lines[3] == {"error": DEFAULT_ERROR}


def test_mid_stream_error_without_stream_is_500(wire: Wire, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model="llama3.2", error_after=3, error="boom")
    reply = wire.post("/api/generate", {**GEN, "stream": False})
    assert (reply.status, reply.json()) == (500, {"error": "boom"})


def test_connection_dropped_after_k_chunks(wire: Wire, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model="llama3.2", drop_after=2)
    raw = raw_generate(wire)
    assert raw.status == 200
    assert not raw.complete
    assert len(raw.chunks) == 2
    record = ollama_server.requests.wait_for(lambda r: r.path == "/api/generate")[0]
    assert record.error == "connection dropped by fault"


def test_connection_dropped_before_a_single_reply(wire: Wire, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model="llama3.2", drop_after=0)
    data = wire.raw("POST", "/api/generate", json.dumps({**GEN, "stream": False}).encode())
    assert (data.status, data.chunks) == (0, [])
    record = ollama_server.requests.wait_for(lambda r: r.path == "/api/generate")[0]
    assert record.status == 499


def test_stream_that_ends_without_done(wire: Wire, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model="llama3.2", truncate_after=2)
    raw = raw_generate(wire)
    assert raw.complete
    assert [ln["done"] for ln in raw.lines()] == [False, False]


def test_malformed_line(wire: Wire, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model="llama3.2", malformed_after=1)
    raw = raw_generate(wire)
    assert raw.complete
    json.loads(raw.chunks[0])
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw.chunks[1])
    assert json.loads(raw.chunks[-1])["done"] is True


def test_very_long_line(wire: Wire, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model="llama3.2", long_line=1_000_000)
    raw = raw_generate(wire)
    assert raw.complete
    assert len(raw.chunks[0]) > 1_000_000
    assert json.loads(raw.chunks[0])["response"].endswith("x" * 1000)


def test_delays_before_headers_and_between_chunks(wire: Wire, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model="llama3.2", delay_headers=0.15)
    started = time.monotonic()
    wire.post("/api/generate", {**GEN, "options": {"num_predict": 2}})
    assert time.monotonic() - started >= 0.15
    ollama_server.faults.add(model="llama3.2", delay_chunks=0.05)
    started = time.monotonic()
    lines = wire.post("/api/generate", {**GEN, "options": {"num_predict": 2}}).lines()
    assert len(lines) == 3
    assert time.monotonic() - started >= 0.15


def test_fault_header_from_another_process(wire: Wire, ollama_server: OllamaServer) -> None:
    reply = wire.post(
        "/api/generate",
        {**GEN, "stream": False},
        headers={"X-Ollama-Wire-Fault": "status=503; retry_after=1; error=busy"},
    )
    assert (reply.status, reply.json()) == (503, {"error": "busy"})
    assert reply.headers["retry-after"] == "1"
    raw = raw_generate(wire, headers="X-Ollama-Wire-Fault: error_after=1\r\n")
    assert raw.lines()[-1] == {"error": DEFAULT_ERROR}
    assert wire.post("/api/generate", {**GEN, "stream": False}).status == 200


def test_bad_fault_header_is_a_clear_400(wire: Wire) -> None:
    reply = wire.post("/api/generate", GEN, headers={"X-Ollama-Wire-Fault": "stauts=503"})
    assert reply.status == 400
    assert "stauts" in reply.json()["error"]


def test_fault_control_endpoint(wire: Wire) -> None:
    added = wire.post("/_wire/faults", {"model": "llama3.2", "status": 502, "times": 2})
    assert added.status == 200
    assert wire.get("/_wire/faults").json()["faults"][0]["status"] == 502
    assert [wire.post("/api/generate", {**GEN, "stream": False}).status for _ in range(3)] == [
        502,
        502,
        200,
    ]
    wire.post("/_wire/faults", {"status": 500, "times": None})
    assert wire.request("DELETE", "/_wire/faults").status == 200
    assert wire.get("/_wire/faults").json() == {"faults": []}
    bad = wire.post("/_wire/faults", {"status": "often"})
    assert bad.status == 400


def test_fault_on_a_pull_stream(wire: Wire, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(path="/api/pull", error_after=1, error="network down")
    lines = wire.post("/api/pull", {"model": "phi3"}).lines()
    assert lines == [{"status": "pulling manifest"}, {"error": "network down"}]


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="status"):
        Fault(status=42)
    with pytest.raises(ValueError, match="times"):
        Fault(times=0)
    with pytest.raises(ValueError, match="unknown fault field"):
        Fault.from_header("nonsense=1")


def test_faults_match_a_json_body_sent_as_a_form(wire: Wire, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(model="llama3.2", status=503)
    reply = wire.post(
        "/api/generate",
        {**GEN, "stream": False},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 503
    assert ollama_server.requests.last("/api/generate").body == {**GEN, "stream": False}


WHOLE_REPLIES = [
    ("POST", "/api/embed", {"model": "all-minilm", "input": "a cat"}),
    ("POST", "/api/embeddings", {"model": "all-minilm", "prompt": "a cat"}),
    ("POST", "/api/show", {"model": "llama3.2"}),
    ("GET", "/api/tags", None),
    ("GET", "/api/version", None),
]


@pytest.mark.parametrize(("method", "path", "body"), WHOLE_REPLIES,
                         ids=[path for _, path, _ in WHOLE_REPLIES])
def test_a_route_that_does_not_stream_takes_every_fault(
    wire: Wire, ollama_server: OllamaServer, method: str, path: str, body: Any
) -> None:
    """A fault a test queues for embed or show must not be used up doing nothing."""
    data = b"" if body is None else json.dumps(body).encode()
    ollama_server.faults.add(path=path, error_after=1, error="boom")
    reply = wire.request(method, path, body)
    assert (reply.status, reply.json()) == (500, {"error": "boom"})
    for fault in ({"drop_after": 1}, {"reset_after": 1}):
        ollama_server.faults.add(path=path, **fault)
        assert wire.raw(method, path, data).status == 0  # no reply at all
    ollama_server.faults.add(path=path, malformed_after=1)
    with pytest.raises(json.JSONDecodeError):
        wire.request(method, path, body).json()
    assert wire.request(method, path, body).status == 200  # each fault used once
