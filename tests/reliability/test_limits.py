"""Limits: a line past the maximum line size fails fast and costs bounded memory; a full
server answers busy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import pytest
from reliability_helpers import wait_until

from ollama_wire import Client, ServerBusyError
from ollama_wire import _client as client_module
from ollama_wire._protocol import DEFAULT_MAX_LINE_SIZE
from ollama_wire.server import OllamaServer

MIB = 1024 * 1024
HUGE_LINE = 300 * 1000 * 1000
#: How much a 300 MB line may grow the client process's peak memory.
GROWTH_LIMIT = 48 * MIB

# Runs in a fresh process so that its peak RSS is the client's alone (the server lives in the
# test process). Prints one JSON object.
PROBE = r"""
import json, resource, sys, time
from ollama_wire import Client, LineTooLongError

url, size, limit, trace = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
options = {} if limit == "default" else {"max_line_size": int(limit)}
with Client(url, trace=trace, **options) as warm:
    for _ in warm.generate("llama3.2", "warm up", stream=True):
        pass
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
started = time.monotonic()
result = {"error": None, "chunks": None}
with Client(url, headers={"X-Ollama-Wire-Fault": f"long_line={size}"}, trace=trace,
            **options) as client:
    try:
        for _ in client.generate("llama3.2", "a story", stream=True):
            pass
    except LineTooLongError as exc:
        result = {"error": str(exc), "chunks": len(exc.chunks)}
result["seconds"] = time.monotonic() - started
result["growth"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
print(json.dumps(result))
"""


def probe(server: OllamaServer, size: int, limit: str = "default", trace: bool = False) -> dict:
    env = {**os.environ, "NO_PROXY": "127.0.0.1", "OLLAMA_WIRE_TRACE": ""}
    if trace:
        env["PYTHONWARNINGS"] = "ignore"
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, server.url, str(size), limit, "1" if trace else "0"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_the_default_limit_is_16_mib() -> None:
    assert DEFAULT_MAX_LINE_SIZE == 16 * MIB


@pytest.mark.parametrize("trace", [False, True], ids=["plain", "traced"])
def test_a_300_mb_line_costs_a_few_tens_of_mib(ollama_server: OllamaServer, trace: bool) -> None:
    result = probe(ollama_server, HUGE_LINE, trace=trace)
    assert result["error"] is not None, "the 300 MB line was accepted"
    assert f"{DEFAULT_MAX_LINE_SIZE}-byte limit (max_line_size)" in result["error"]
    assert result["chunks"] == 0
    assert result["growth"] < GROWTH_LIMIT, f"grew {result['growth'] / MIB:.1f} MiB"
    record = ollama_server.requests.wait_for(
        lambda r: r.path == "/api/generate" and r.fault is not None
    )[0]
    # The client hung up long before the server could send 300 MB.
    assert record.disconnected


def test_a_configured_limit_is_honoured(ollama_server: OllamaServer) -> None:
    result = probe(ollama_server, 3 * MIB, limit=str(MIB))
    assert f"{MIB}-byte limit (max_line_size)" in result["error"]
    assert result["growth"] < 16 * MIB
    fits = probe(ollama_server, 3 * MIB, limit=str(4 * MIB))
    assert fits["error"] is None


def test_a_full_server_answers_busy_and_the_client_retries(
    ollama_server_factory: Callable[..., OllamaServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(client_module, "sleep", sleeps.append)
    server = ollama_server_factory(
        max_connections=2, num_parallel=2, engine_options={"tokens_per_second": 100}
    )
    long = {"num_predict": 100_000}
    with Client(server.url) as first, Client(server.url) as second:
        streams = [c.generate("llama3.2", "go on", stream=True, options=long)
                   for c in (first, second)]
        for stream in streams:
            next(stream)  # both connections are now busy streaming
        with Client(server.url) as third:
            with pytest.raises(ServerBusyError, match="too many open connections") as caught:
                third.version()
            assert caught.value.status_code == 503
            assert sleeps == [1.0, 1.0]  # Retry-After: 1, twice
            assert server.refused_connections == 3
            streams[0].close()
            wait_until(lambda: len(server.threads()) == 2, what="one connection freed")
            assert third.version().version
        streams[1].close()
