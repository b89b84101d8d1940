"""Concurrency, disconnects, queueing, shutdown and the ways to start the server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from server_wire import Wire, stream_lines

from ollama_wire.server import QUEUE_FULL, OllamaServer, ScriptedEngine
from ollama_wire.testing import DEFAULT_MODELS, wait_for_generation_stop

SLOW = {"tokens_per_second": 200, "answer_tokens": 100_000}


def test_fifty_concurrent_streams_all_complete_correctly(wire: Wire) -> None:
    prompts = [f"question number {i}" for i in range(50)]
    models = ["llama3.2", "qwen3"]
    expected = {}
    for i, prompt in enumerate(prompts):
        model = models[i % 2]
        whole = wire.post("/api/generate", {"model": model, "prompt": prompt, "stream": False})
        expected[prompt] = whole.json()["response"]

    def run(i: int) -> tuple[str, list[dict[str, Any]]]:
        body = {"model": models[i % 2], "prompt": prompts[i]}
        return prompts[i], wire.post("/api/generate", body).lines()

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(run, range(50)))
    assert len(results) == 50
    for i, (prompt, lines) in enumerate(results):
        assert lines[-1]["done"] is True
        assert all(ln["model"] == models[i % 2] for ln in lines)
        assert "".join(ln["response"] for ln in lines) == expected[prompt]
        assert lines[-1]["eval_count"] == len(lines) - 1


@pytest.mark.ollama_server(engine_options={"tokens_per_second": 200})
def test_client_disconnect_stops_generation(wire: Wire, ollama_server: OllamaServer) -> None:
    conn, resp = wire.open_stream(
        "/api/chat",
        {
            "model": "llama3.2",
            "messages": [{"role": "user", "content": "go on forever"}],
            "options": {"num_predict": 100_000},
        },
    )
    lines = stream_lines(resp)
    for _ in range(3):
        assert next(lines)["done"] is False
    conn.close()
    record = wait_for_generation_stop(ollama_server, "/api/chat")
    assert record.disconnected is True
    # 100 000 tokens at 200/s would take over 8 minutes; a stop within seconds is the point.
    assert 3 <= record.tokens < 1000
    assert record.status == 200
    assert record.chunks <= record.tokens + 1


@pytest.mark.ollama_server(engine_options=SLOW)
def test_disconnect_without_stream_stops_generation(
    wire: Wire, ollama_server: OllamaServer
) -> None:
    conn = wire.connect()
    conn.request(
        "POST",
        "/api/generate",
        body=json.dumps(
            {
                "model": "llama3.2",
                "prompt": "x",
                "stream": False,
                "options": {"num_predict": 100_000},
            }
        ),
    )
    ollama_server.requests.wait_for(lambda r: r.tokens >= 2, finished=False)
    conn.close()
    record = wait_for_generation_stop(ollama_server, "/api/generate")
    assert record.disconnected is True
    assert record.tokens < 1000


def test_requests_for_one_model_are_served_one_at_a_time(ollama_server_factory: Any) -> None:
    server = ollama_server_factory(engine_options=SLOW, max_queue=1)
    wire = Wire(server.url)
    conn, resp = wire.open_stream(
        "/api/generate", {"model": "llama3.2", "prompt": "x", "options": {"num_predict": 100_000}}
    )
    lines = stream_lines(resp)
    assert next(lines)["done"] is False
    queued: list[Any] = []
    waiter = threading.Thread(
        target=lambda: queued.append(
            wire.post(
                "/api/generate",
                {
                    "model": "llama3.2",
                    "prompt": "y",
                    "stream": False,
                    "options": {"num_predict": 2},
                },
            )
        )
    )
    waiter.start()
    server.wait_queued(1)
    full = wire.post("/api/generate", {"model": "llama3.2", "prompt": "z"})
    assert (full.status, full.json()) == (503, {"error": QUEUE_FULL})
    other_model = wire.post(
        "/api/generate",
        {"model": "qwen3", "prompt": "z", "stream": False, "options": {"num_predict": 1}},
    )
    assert other_model.status == 200
    conn.close()
    waiter.join(10)
    assert queued[0].status == 200
    server.wait_queued(0)


def test_queued_requests_are_served_in_the_order_they_came(
    ollama_server_factory: Any,
) -> None:
    server = ollama_server_factory(engine_options=SLOW, max_queue=8)
    wire = Wire(server.url)
    conn, resp = wire.open_stream(
        "/api/generate", {"model": "llama3.2", "prompt": "x", "options": {"num_predict": 100_000}}
    )
    assert next(stream_lines(resp))["done"] is False
    served: list[int] = []

    def ask(number: int) -> None:
        body = {"model": "llama3.2", "prompt": f"q{number}", "stream": False,
                "options": {"num_predict": 1}}
        assert wire.post("/api/generate", body).status == 200
        served.append(number)

    waiters = [threading.Thread(target=ask, args=(n,)) for n in range(6)]
    for count, waiter in enumerate(waiters, 1):
        waiter.start()
        server.wait_queued(count)  # each one waits before the next comes
        # ... and some way into a waiter's poll: waiters that poll a lock in turn are woken
        # in the order of their polls' phases, not of their arrival.
        time.sleep(0.03)
    conn.close()
    for waiter in waiters:
        waiter.join(10)
    assert served == list(range(6))
    assert [r.body["prompt"] for r in server.requests.matching("/api/generate")][1:] == [
        f"q{n}" for n in range(6)]


@pytest.mark.ollama_server(engine_options={"tokens_per_second": 100})
def test_a_model_in_use_outlives_its_keep_alive_and_expires_after(
    wire: Wire, ollama_server: OllamaServer
) -> None:
    """The keep-alive clock starts when the model's last request ends, as Ollama's does;
    then the model is unloaded when it runs out, with no request to notice."""
    conn, resp = wire.open_stream("/api/generate", {
        "model": "llama3.2", "prompt": "x", "keep_alive": "50ms",
        "options": {"num_predict": 100_000}})
    lines = stream_lines(resp)
    for _ in range(10):  # 0.1 s at 100 tokens/s: twice the keep-alive
        next(lines)
    running = wire.get("/api/ps").json()["models"]
    assert [m["model"] for m in running] == ["llama3.2:latest"]
    conn.close()
    wait_for_generation_stop(ollama_server, "/api/generate")
    deadline = time.monotonic() + 5
    while ollama_server.registry.running() and time.monotonic() < deadline:
        time.sleep(0.01)  # the server unloads it within REAP_EVERY of its expiry
    assert ollama_server.registry.running() == []


def test_shutdown_closes_slow_streams_and_leaves_no_threads() -> None:
    before = {t.name for t in threading.enumerate()}
    server = OllamaServer(models=["llama3.2"], engine_options=SLOW).start()
    wire = Wire(server.url)
    streaming = socket.create_connection((wire.host, wire.port), timeout=10)
    body = json.dumps({"model": "llama3.2", "prompt": "x"}).encode()
    streaming.sendall(
        b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
        % (len(body), body)
    )
    received = streaming.recv(65536)
    assert received.startswith(b"HTTP/1.1 200 OK")
    idle = wire.connect()
    assert wire.get("/api/version", conn=idle).status == 200
    assert len(server.threads()) == 3
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    assert server.threads() == []
    leftover = {t.name for t in threading.enumerate()} - before
    assert not [n for n in leftover if n.startswith("ollama-wire")]
    while piece := streaming.recv(65536):
        received += piece
    streaming.close()
    idle.close()
    assert b"0\r\n\r\n" not in received  # cut off: no terminating chunk
    assert b'"done":true' not in received
    with pytest.raises(ConnectionRefusedError):
        Wire(server.url).get("/api/version")


def test_context_manager_and_free_port() -> None:
    with OllamaServer() as a, OllamaServer() as b:
        assert a.port != b.port
        assert a.url.startswith("http://127.0.0.1:")
        assert Wire(a.url).get("/api/version").status == 200
    assert a.threads() == []
    assert b.threads() == []


def test_start_is_cheap() -> None:
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        server = OllamaServer(models=DEFAULT_MODELS).start()
        timings.append(time.perf_counter() - started)
        server.stop()
    assert min(timings) < 0.05


def test_unknown_engine_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown engine 'gpt'"):
        OllamaServer(engine="gpt")


def test_preloading_a_missing_model_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="file does not exist"):
        OllamaServer(models=["missing-one"])


@pytest.mark.ollama_server(models=["phi3"])
def test_fixture_marker_options(ollama_server: OllamaServer, ollama_url: str) -> None:
    assert ollama_url == ollama_server.url
    assert [e.name.display for e in ollama_server.registry.models()] == ["phi3:latest"]


def test_python_dash_m_starts_and_stops_cleanly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ollama_wire.server", "--port", "0", "--model", "llama3.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        url = banner.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:")
        wire = Wire(url)
        reply = wire.post("/api/generate", {"model": "llama3.2", "prompt": "hi", "stream": False})
        assert reply.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def test_busy_port_is_a_clear_error(ollama_server: OllamaServer) -> None:
    from ollama_wire.server.__main__ import main

    assert main(["--port", str(ollama_server.port)]) == 1


def test_command_line_options_build_the_server() -> None:
    from ollama_wire.server.__main__ import build_parser, main, server_from_args

    args = build_parser().parse_args(
        [
            "--port",
            "0",
            "--model",
            "llama3.2",
            "--model",
            "qwen3",
            "--token-rate",
            "7",
            "--tool-placement",
            "final",
            "--keep-alive",
            "30",
            "--num-parallel",
            "2",
        ]
    )
    server = server_from_args(args)
    assert server.host == "127.0.0.1"
    assert [e.name.display for e in server.registry.models()] == ["qwen3:latest", "llama3.2:latest"]
    assert server.default_keep_alive_ns == 30_000_000_000
    assert server.num_parallel == 2
    engine = server.engine
    assert isinstance(engine, ScriptedEngine)
    assert (engine.tokens_per_second, engine.tool_placement) == (7, "final")
    assert main(["--keep-alive", "soon"]) == 2


@pytest.mark.parametrize("value", ["", "+", "inf", "nan", "1e3", "300x"])
def test_a_bad_default_keep_alive_is_a_usage_error(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from ollama_wire.server.__main__ import main

    assert main(["--port", "0", "--keep-alive", value]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: keep_alive: time: "), err
    assert "Traceback" not in err
