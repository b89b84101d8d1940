"""Check the benchmark harness: the fast server speaks Ollama; contenders get the same data.

No time is asserted here: the benchmark itself runs with `python bench/run.py`, never in tests.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import contenders  # noqa: E402
import fastserver  # noqa: E402
import instructions  # noqa: E402
import run  # noqa: E402
import worker  # noqa: E402

TOKENS = 57


class Server:
    def __init__(self, proc: subprocess.Popen[str], port: int, control_port: int) -> None:
        self.proc = proc
        self.port = port
        self.control_port = control_port

    def connections(self) -> int:
        return worker.control_stats("127.0.0.1", self.control_port)["connections"]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / "fastserver.py"), "--warm-streams", "", "--warm-embeds", ""],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdin is not None
    port, control_port = map(int, proc.stdout.readline().split())
    yield Server(proc, port, control_port)
    proc.stdin.close()
    proc.wait(timeout=10)


def _post(server: Server, path: str, body: object) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    return conn.getresponse()


def test_streamed_generate_is_chunked_ndjson_with_a_final_context(server: Server) -> None:
    resp = _post(
        server,
        "/api/generate",
        {"model": "bench", "prompt": "hi", "options": {"num_predict": TOKENS}},
    )
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "application/x-ndjson"
    assert resp.getheader("Transfer-Encoding") == "chunked"
    lines = resp.read().split(b"\n")
    assert lines.pop() == b""
    parts = [json.loads(line) for line in lines]
    assert len(parts) == TOKENS + 1
    assert all(p["model"] == "bench" and p["done"] is False for p in parts[:-1])
    final = parts[-1]
    assert final["done"] is True
    assert final["done_reason"] == "stop"
    assert final["eval_count"] == TOKENS
    assert len(final["context"]) == fastserver.PROMPT_TOKENS + TOKENS
    assert "".join(p["response"] for p in parts) == fastserver.expected_text(TOKENS)


def test_each_chunk_of_a_stream_holds_exactly_one_line() -> None:
    body = fastserver.render_generate_stream(5)
    chunks, pos, done = contenders.split_chunks(body, body.index(b"\r\n\r\n") + 4)
    assert done
    assert pos == len(body)
    assert len(chunks) == 6
    assert all(c.endswith(b"\n") and c.count(b"\n") == 1 for c in chunks)


def test_split_chunks_resumes_at_every_split_offset() -> None:
    body = fastserver.render_generate_stream(3)
    start = body.index(b"\r\n\r\n") + 4
    whole, _, _ = contenders.split_chunks(body, start)
    for cut in range(start, len(body)):
        first, pos, done = contenders.split_chunks(body[:cut], start)
        assert not done
        rest, end, done = contenders.split_chunks(body, pos)
        assert done
        assert end == len(body)
        assert first + rest == whole


def test_non_stream_generate_has_a_length_and_the_whole_answer(server: Server) -> None:
    resp = _post(
        server,
        "/api/generate",
        {"model": "bench", "prompt": "hi", "stream": False, "options": {"num_predict": TOKENS}},
    )
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "application/json; charset=utf-8"
    body = resp.read()
    assert int(resp.getheader("Content-Length") or -1) == len(body)
    obj = json.loads(body)
    assert obj["response"] == fastserver.expected_text(TOKENS)
    assert obj["done"] is True
    assert len(obj["context"]) == fastserver.PROMPT_TOKENS + TOKENS


def test_embed_answers_one_normalish_vector_per_input(server: Server) -> None:
    resp = _post(server, "/api/embed", {"model": "bench", "input": ["a", "b", "c"]})
    vectors = json.loads(resp.read())["embeddings"]
    assert len(vectors) == 3
    assert all(len(v) == fastserver.EMBED_DIMS for v in vectors)
    assert vectors[1] == fastserver.embed_vector(1, fastserver.EMBED_DIMS)
    assert vectors[0] != vectors[1]


def test_unknown_paths_and_bad_bodies_get_ollama_errors(server: Server) -> None:
    assert _post(server, "/api/nope", {}).status == 404
    resp = _post(server, "/api/generate", "not an object")
    assert resp.status == 400
    assert "error" in json.loads(resp.read())


@pytest.mark.parametrize("name", ["floor", "requests", "session"])
def test_sync_contenders_receive_the_same_records(server: Server, name: str) -> None:
    c = contenders.CONTENDERS[name]("127.0.0.1", server.port)
    try:
        assert c.stream(TOKENS) == (
            fastserver.expected_text(TOKENS),
            TOKENS + 1,
            fastserver.PROMPT_TOKENS + TOKENS,
        )
        assert c.call(20) == fastserver.expected_text(20)
        inputs = worker.embed_inputs()
        expected = [fastserver.embed_vector(r, fastserver.EMBED_DIMS) for r in range(16)]
        assert c.embed(inputs) == expected
    finally:
        c.close()


def test_async_floor_receives_the_same_records(server: Server) -> None:
    async def scenario() -> list[contenders.StreamResult]:
        c = contenders.AsyncFloor("127.0.0.1", server.port)
        try:
            return list(await asyncio.gather(*(c.astream(TOKENS) for _ in range(4))))
        finally:
            await c.aclose()

    expected = (fastserver.expected_text(TOKENS), TOKENS + 1, fastserver.PROMPT_TOKENS + TOKENS)
    assert asyncio.run(scenario()) == [expected] * 4


def test_control_port_counts_new_connections(server: Server) -> None:
    before = server.connections()
    session = contenders.RequestsSession("127.0.0.1", server.port)
    for _ in range(3):
        session.call(5)
    session.close()
    assert server.connections() == before + 1
    plain = contenders.RequestsRecipe("127.0.0.1", server.port)
    for _ in range(3):
        plain.call(5)
    assert server.connections() == before + 4


def test_worker_checks_what_a_contender_received(server: Server) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "worker.py"),
            "short",
            "floor",
            "--port",
            str(server.port),
            "--control-port",
            str(server.control_port),
            "--n",
            "3",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=BENCH,
        timeout=60,
    )
    out = json.loads(proc.stdout)
    assert out["ok"] is True, out["problems"]
    assert out["connections_per_unit"] == 0
    assert out["cpu_us"] > 0


def test_worker_check_reports_a_mismatch() -> None:
    check = worker.Check()
    worker.check_stream(check, ("x", 2, fastserver.PROMPT_TOKENS + 1), 1)
    assert len(check.problems) == 1
    assert check.problems[0].startswith("text: got 'x'")


def test_importtime_line_is_read_for_the_top_module() -> None:
    stderr = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       120 |        120 |   requests.compat\n"
        "import time:      2048 |      95123 | requests\n"
    )
    assert run._importtime_us(stderr, "requests") == 95123
    assert run._importtime_us(stderr, "ollama") is None


def test_instruction_counts_are_read_and_taken_per_call() -> None:
    stderr = "==2160== Events    : Ir\n==2160== Collected : 788,587,457\n==2160==\n"
    assert instructions.collected(stderr) == 788_587_457
    assert instructions.per_call(390_000_000, 790_000_000, 40) == 10_000_000
    with pytest.raises(RuntimeError, match="no instruction count"):
        instructions.collected("valgrind: command failed")
    with pytest.raises(ValueError, match="cannot take one call"):
        instructions.per_call(10, 5, 30)  # a second run that did less cannot be read


def test_instruction_counts_need_valgrind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instructions.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit, match="valgrind is not on the PATH"):
        instructions.main([])


def test_every_contender_is_compared_with_the_floor_of_its_kind() -> None:
    assert instructions.FLOOR_OF["wire"] == "floor"
    assert instructions.FLOOR_OF["sdk-async"] == "floor-async"
    assert set(instructions.FLOOR_OF) == set(run.LABELS)
