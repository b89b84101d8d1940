"""Replies match the shape of the verbatim exchanges in Ollama's docs (reference section 10).

Each example is kept verbatim in ``data/ollama_docs_examples.json``. The server's reply to the
same kind of request must have the same keys in the same order and the same value types;
the only differences allowed are the ones the reference documents for current servers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from server_wire import Wire

from ollama_wire.server import OllamaServer

EXAMPLES: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "ollama_docs_examples.json").read_text()
)


def assert_same_shape(
    ours: Any, theirs: Any, *, added: tuple[str, ...] = (), dropped: tuple[str, ...] = ()
) -> None:
    """Check ``ours`` has ``theirs``' keys in order (give or take the named ones) and types."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict)
        want = [k for k in theirs if k not in dropped]
        got = [k for k in ours if k not in added]
        assert got == want, f"keys {list(ours)} vs docs {list(theirs)}"
        for key in want:
            assert_same_shape(ours[key], theirs[key], added=added, dropped=dropped)
    elif isinstance(theirs, list):
        assert isinstance(ours, list)
        if theirs and ours:
            assert_same_shape(ours[0], theirs[0], added=added, dropped=dropped)
    elif isinstance(theirs, bool):
        assert isinstance(ours, bool)
    elif isinstance(theirs, (int, float)):
        assert isinstance(ours, type(theirs))
    else:
        assert isinstance(ours, type(theirs))


def test_generate_stream(wire: Wire) -> None:
    lines = wire.post("/api/generate", {"model": "llama3.2", "prompt": "Why?"}).lines()
    docs = EXAMPLES["generate_stream"]
    for line in lines[:-1]:
        assert_same_shape(line, docs[0])
    # The docs trim the final chunk; the full one is "generate_final" plus done_reason.
    assert_same_shape(lines[-1], EXAMPLES["generate_final"], added=("done_reason",))


def test_generate_non_stream(wire: Wire) -> None:
    body = wire.post(
        "/api/generate", {"model": "llama3.2", "prompt": "Hello", "stream": False}
    ).json()
    # docs/api/usage.mdx trims `context`, which the server sends unless `raw` is set.
    assert_same_shape(body, EXAMPLES["generate_non_stream"], added=("context",))
    raw = wire.post(
        "/api/generate", {"model": "llama3.2", "prompt": "Hello", "stream": False, "raw": True}
    ).json()
    assert_same_shape(raw, EXAMPLES["generate_non_stream"])


def test_generate_mid_stream_error(wire: Wire, ollama_server: OllamaServer) -> None:
    docs = EXAMPLES["generate_mid_stream_error"]
    ollama_server.faults.add(model="llama3.2", error_after=4, error=docs[-1]["error"])
    lines = wire.post("/api/generate", {"model": "llama3.2", "prompt": "Can you?"}).lines()
    assert len(lines) == len(docs)
    for ours, theirs in zip(lines[:-1], docs[:-1], strict=True):
        assert_same_shape(ours, theirs)
    assert lines[-1] == docs[-1]


def test_chat_stream(wire: Wire) -> None:
    lines = wire.post(
        "/api/chat", {"model": "llama3.2", "messages": [{"role": "user", "content": "Hi"}]}
    ).lines()
    # Current servers omit `images: null` and add done_reason.
    for line in lines[:-1]:
        assert_same_shape(line, EXAMPLES["chat_chunk"], dropped=("images",))
    assert_same_shape(lines[-1], EXAMPLES["chat_final"], added=("done_reason",))


def test_chat_tool_call_stream(wire: Wire) -> None:
    docs = EXAMPLES["chat_tools_stream"]
    lines = wire.post(
        "/api/chat",
        {
            "model": "llama3.2",
            "messages": [{"role": "user", "content": "What is the weather in Tokyo?"}],
            "tools": EXAMPLES["chat_tools_request_tools"],
        },
    ).lines()
    assert len(lines) == len(docs)
    # Current servers add the call's `id` and `function.index`.
    assert_same_shape(lines[0], docs[0], added=("id", "index"))
    call = lines[0]["message"]["tool_calls"][0]["function"]
    assert call["name"] == docs[0]["message"]["tool_calls"][0]["function"]["name"]
    assert set(call["arguments"]) == {"city"}
    # The docs put done_reason before done; the server's struct order puts it after.
    final_docs = dict(docs[1])
    reason = final_docs.pop("done_reason")
    final_docs = {
        **{k: final_docs[k] for k in ("model", "created_at", "message", "done")},
        "done_reason": reason,
        **{k: v for k, v in final_docs.items() if k.endswith(("duration", "count"))},
    }
    assert_same_shape(lines[1], final_docs)


def test_pull_stream(wire: Wire) -> None:
    docs = EXAMPLES["pull_stream"]
    lines = wire.post("/api/pull", {"model": "llama3.2:1b"}).lines()
    assert lines[0] == docs[0]
    layer = next(ln for ln in lines if "completed" in ln)
    assert_same_shape(layer, docs[1])
    # The prune step only follows replacing an older version; the rest is verbatim.
    assert lines[-3:] == [docs[2], docs[3], docs[5]]


def test_create_stream_ends_like_the_docs(wire: Wire) -> None:
    docs = EXAMPLES["create_stream"]
    lines = wire.post("/api/create", {"model": "mario", "from": "llama3.2", "system": "Mario"})
    got = lines.lines()
    assert got[-2:] == docs[-2:]
    for line in got:
        assert list(line) == ["status"]


def test_embed(wire: Wire) -> None:
    body = wire.post("/api/embed", {"model": "all-minilm", "input": "Why is the sky blue?"})
    assert_same_shape(body.json(), EXAMPLES["embed"])


def test_embeddings_legacy(wire: Wire) -> None:
    body = wire.post("/api/embeddings", {"model": "all-minilm", "prompt": "Here is an article"})
    assert_same_shape(body.json(), EXAMPLES["embeddings_legacy"])


def test_tags(wire: Wire) -> None:
    # v0.30.0 added `capabilities` and the details' context and embedding lengths.
    assert_same_shape(
        wire.get("/api/tags").json(),
        EXAMPLES["tags"],
        added=("capabilities", "context_length", "embedding_length"),
    )


def test_ps(wire: Wire) -> None:
    wire.post("/api/generate", {"model": "llama3.2"})
    # Current servers add context_length (v0.10.0), and details' lengths (v0.30.0).
    assert_same_shape(
        wire.get("/api/ps").json(),
        EXAMPLES["ps"],
        added=("context_length", "embedding_length"),
    )


def test_version(wire: Wire) -> None:
    assert_same_shape(wire.get("/api/version").json(), EXAMPLES["version"])
