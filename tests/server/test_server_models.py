"""The registry over HTTP: pull, push, create, copy, delete, blobs, ps and keep_alive."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any

import pytest
from server_wire import Wire

from ollama_wire.server import OllamaServer


def names(wire: Wire, path: str = "/api/tags") -> list[str]:
    return [m["name"] for m in wire.get(path).json()["models"]]


def parse_time(value: str) -> dt.datetime:
    head, _, rest = value.partition(".")
    frac = ""
    tz = rest
    for i, ch in enumerate(rest):
        if not ch.isdigit():
            frac, tz = rest[:i], rest[i:]
            break
    tz = "+00:00" if tz == "Z" else tz
    return dt.datetime.fromisoformat(f"{head}.{(frac or '0')[:6].ljust(6, '0')}{tz}")


def test_pull_streams_progress_and_adds_the_model(wire: Wire) -> None:
    assert "gemma3:1b" not in names(wire)
    reply = wire.post("/api/pull", {"model": "gemma3:1b"})
    assert reply.headers["content-type"] == "application/x-ndjson"
    lines = reply.lines()
    statuses = [ln["status"] for ln in lines]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    layers = [ln for ln in lines if "digest" in ln]
    assert layers
    for ln in layers:
        assert ln["status"] == f"pulling {ln['digest'][7:19]}"
        assert ln["digest"].startswith("sha256:")
        assert len(ln["digest"]) == 71
        assert ln.get("completed", 0) <= ln["total"]
    by_digest: dict[str, list[dict[str, Any]]] = {}
    for ln in layers:
        by_digest.setdefault(ln["digest"], []).append(ln)
    # A new layer starts at 0 (completed left out); one another model has is sent once, done.
    for runs in by_digest.values():
        assert "completed" not in runs[0] or runs == [{**runs[0], "completed": runs[0]["total"]}]
    assert "completed" not in layers[0]
    last = {ln["digest"]: ln for ln in layers}
    assert all(ln["completed"] == ln["total"] for ln in last.values())
    assert "gemma3:1b" in names(wire)
    gen = wire.post("/api/generate", {"model": "gemma3:1b", "prompt": "hi", "stream": False})
    assert gen.status == 200


def test_pull_again_sends_each_layer_once_complete(wire: Wire) -> None:
    lines = wire.post("/api/pull", {"model": "llama3.2"}).lines()
    layers = [ln for ln in lines if "digest" in ln]
    assert len({ln["digest"] for ln in layers}) == len(layers)
    assert all(ln["completed"] == ln["total"] for ln in layers)


def test_pull_without_stream(wire: Wire) -> None:
    reply = wire.post("/api/pull", {"model": "phi3", "stream": False})
    assert (reply.status, reply.json()) == (200, {"status": "success"})
    assert reply.headers["content-type"] == "application/json"
    assert "phi3:latest" in names(wire)


def test_pull_a_missing_model(wire: Wire) -> None:
    streamed = wire.post("/api/pull", {"model": "missing-model"})
    assert streamed.status == 200
    assert streamed.lines() == [
        {"status": "pulling manifest"},
        {"error": "pull model manifest: file does not exist"},
    ]
    whole = wire.post("/api/pull", {"model": "missing-model", "stream": False})
    assert (whole.status, whole.json()) == (
        500,
        {"error": "pull model manifest: file does not exist"},
    )
    assert "missing-model:latest" not in names(wire)


@pytest.mark.parametrize("body", [{}, {"model": ""}, {"model": "bad name!"}])
def test_pull_invalid_name(wire: Wire, body: dict[str, Any]) -> None:
    reply = wire.post("/api/pull", body)
    assert (reply.status, reply.json()) == (400, {"error": "invalid model name"})


def test_generating_with_an_unpulled_model_is_404_until_pulled(wire: Wire) -> None:
    body = {"model": "mistral", "prompt": "hi", "stream": False}
    assert wire.post("/api/generate", body).json() == {"error": "model 'mistral' not found"}
    wire.post("/api/pull", {"model": "mistral", "stream": False})
    assert wire.post("/api/generate", body).status == 200


def test_namespaced_and_hosted_names(wire: Wire) -> None:
    wire.post("/api/pull", {"model": "someone/tool:7b", "stream": False})
    wire.post("/api/pull", {"model": "example.com/team/tool:1b", "stream": False})
    assert {"someone/tool:7b", "example.com/team/tool:1b"} <= set(names(wire))


def test_copy_and_delete(wire: Wire) -> None:
    reply = wire.post("/api/copy", {"source": "llama3.2", "destination": "mine"})
    assert (reply.status, reply.body) == (200, b"")
    tags = {m["name"]: m for m in wire.get("/api/tags").json()["models"]}
    assert tags["mine:latest"]["digest"] == tags["llama3.2:latest"]["digest"]
    reply = wire.request("DELETE", "/api/delete", {"model": "mine"})
    assert (reply.status, reply.body) == (200, b"")
    assert "mine:latest" not in names(wire)
    again = wire.request("DELETE", "/api/delete", {"model": "mine"})
    assert (again.status, again.json()) == (404, {"error": "model 'mine' not found"})


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"source": "nope", "destination": "x"}, 404, 'model "nope" not found'),
        ({"source": "", "destination": "x"}, 400, 'source "" is invalid'),
        ({"source": "llama3.2", "destination": "a b"}, 400, 'destination "a b" is invalid'),
    ],
)
def test_copy_errors(wire: Wire, body: dict[str, str], status: int, error: str) -> None:
    reply = wire.post("/api/copy", body)
    assert (reply.status, reply.json()) == (status, {"error": error})


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({}, 400, "model is required"),
        ({"model": "a b"}, 400, 'name "a b" is invalid'),
    ],
)
def test_delete_errors(wire: Wire, body: dict[str, str], status: int, error: str) -> None:
    reply = wire.request("DELETE", "/api/delete", body)
    assert (reply.status, reply.json()) == (status, {"error": error})


def test_delete_unloads(wire: Wire) -> None:
    wire.post("/api/generate", {"model": "llama3.2"})
    assert names(wire, "/api/ps") == ["llama3.2:latest"]
    wire.request("DELETE", "/api/delete", {"model": "llama3.2"})
    assert names(wire, "/api/ps") == []


def test_create_from_an_existing_model(wire: Wire) -> None:
    lines = wire.post(
        "/api/create",
        {
            "model": "pirate",
            "from": "llama3.2",
            "system": "Talk like a pirate.",
            "parameters": {"temperature": 0.1},
        },
    ).lines()
    statuses = [ln["status"] for ln in lines]
    assert statuses[-2:] == ["writing manifest", "success"]
    assert any(s.startswith("using existing layer sha256:") for s in statuses)
    assert any(s.startswith("creating new layer sha256:") for s in statuses)
    show = wire.post("/api/show", {"model": "pirate"}).json()
    assert show["system"] == "Talk like a pirate."
    assert "temperature" in show["parameters"]
    assert show["details"]["parent_model"] == "llama3.2:latest"
    assert "pirate:latest" in names(wire)


def test_create_from_an_unpulled_model_pulls_it(wire: Wire) -> None:
    statuses = [
        ln["status"]
        for ln in wire.post("/api/create", {"model": "derived", "from": "granite3"}).lines()
    ]
    assert statuses[0] == "pulling manifest"
    assert statuses[-1] == "success"
    assert {"granite3:latest", "derived:latest"} <= set(names(wire))


def test_create_from_a_missing_model_fails(wire: Wire) -> None:
    lines = wire.post("/api/create", {"model": "derived", "from": "missing-base"}).lines()
    assert lines[-1] == {"error": "pull model manifest: file does not exist"}


def test_create_without_stream(wire: Wire) -> None:
    reply = wire.post("/api/create", {"model": "quiet", "from": "llama3.2", "stream": False})
    assert (reply.status, reply.json()) == (200, {"status": "success"})


def test_blobs_and_create_from_files(wire: Wire) -> None:
    data = b"GGUF fake model weights"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = f"/api/blobs/{digest}"
    assert wire.request("HEAD", path).status == 404
    first = wire.post(path, data)
    assert (first.status, first.body) == (201, b"")
    assert wire.post(path, data).status == 200
    head = wire.request("HEAD", path)
    assert (head.status, head.body) == (200, b"")
    dash = wire.request("HEAD", f"/api/blobs/sha256-{digest[7:]}")
    assert dash.status == 200
    lines = wire.post(
        "/api/create", {"model": "fromfiles", "files": {"model.gguf": digest}, "quantize": "q4_K_M"}
    ).lines()
    statuses = [ln["status"] for ln in lines]
    assert statuses[0] == "parsing GGUF"
    quant = [ln for ln in lines if ln["status"].startswith("quantizing")]
    assert quant[0]["status"] == "quantizing F16 model to Q4_K_M"
    assert quant[0]["digest"] == "0000000000000000000"
    assert statuses[-1] == "success"
    details = wire.post("/api/show", {"model": "fromfiles"}).json()["details"]
    assert details["quantization_level"] == "Q4_K_M"


def test_blob_errors(wire: Wire) -> None:
    good = "sha256:" + "a" * 64
    reply = wire.post(f"/api/blobs/{good}", b"other bytes")
    got = "sha256:" + hashlib.sha256(b"other bytes").hexdigest()
    assert (reply.status, reply.json()) == (
        400,
        {"error": f'digest mismatch, expected "{good}", got "{got}"'},
    )
    bad = wire.post("/api/blobs/md5:abc", b"x")
    assert (bad.status, bad.json()) == (400, {"error": "invalid digest format"})
    head = wire.request("HEAD", "/api/blobs/md5:abc")
    assert (head.status, head.body) == (400, b"")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"model": "x"}, "neither 'from' or 'files' was specified"),
        ({"model": ""}, "invalid model name"),
        (
            {"model": "x", "files": {"/abs/model.gguf": "sha256:" + "0" * 64}},
            "file path must be relative",
        ),
        ({"model": "x", "files": {"model.gguf": ""}}, "invalid digest format"),
        (
            {"model": "x", "from": "llama3.2", "quantize": "q8_0"},
            "quantization is only supported for F16, BF16 and F32 models",
        ),
    ],
)
def test_create_errors(wire: Wire, body: dict[str, Any], error: str) -> None:
    reply = wire.post("/api/create", body)
    got = reply.json() if reply.status == 400 else reply.lines()[-1]
    assert got == {"error": error}


def test_push_streams_progress(wire: Wire) -> None:
    lines = wire.post("/api/push", {"model": "llama3.2"}).lines()
    statuses = [ln["status"] for ln in lines]
    assert statuses[0] == "retrieving manifest"
    assert statuses[-2:] == ["pushing manifest", "success"]
    assert any(
        s.startswith("pushing ") and "digest" in ln for s, ln in zip(statuses, lines, strict=True)
    )
    missing = wire.post("/api/push", {"model": "nope"}).lines()
    assert missing[:2] == [
        {"status": "retrieving manifest"},
        {"status": "couldn't retrieve manifest"},
    ]
    assert "error" in missing[-1]
    empty = wire.post("/api/push", {})
    assert (empty.status, empty.json()) == (400, {"error": "model is required"})


def test_ps_shape_and_keep_alive(wire: Wire) -> None:
    before = dt.datetime.now(dt.timezone.utc)
    wire.post(
        "/api/generate", {"model": "llama3.2", "prompt": "x", "keep_alive": "10m", "stream": False}
    )
    wire.post("/api/generate", {"model": "qwen3", "prompt": "x", "keep_alive": -1, "stream": False})
    models = wire.get("/api/ps").json()["models"]
    assert [m["name"] for m in models] == ["qwen3:latest", "llama3.2:latest"]
    first = models[1]
    assert list(first) == [
        "name",
        "model",
        "size",
        "digest",
        "details",
        "expires_at",
        "size_vram",
        "context_length",
    ]
    assert first["details"]["parent_model"] == ""
    ten = parse_time(first["expires_at"]) - before
    assert dt.timedelta(minutes=9) < ten <= dt.timedelta(minutes=10, seconds=5)
    forever = parse_time(models[0]["expires_at"]) - before
    assert forever > dt.timedelta(days=365 * 290)


def test_keep_alive_zero_unloads_after_the_request(wire: Wire) -> None:
    wire.post(
        "/api/generate", {"model": "llama3.2", "prompt": "x", "keep_alive": 0, "stream": False}
    )
    assert wire.get("/api/ps").json()["models"] == []


def test_expired_models_leave_ps(wire: Wire, ollama_server: OllamaServer) -> None:
    wire.post("/api/embed", {"model": "all-minilm", "input": "x", "keep_alive": "1ns"})
    assert "all-minilm:latest" not in names(wire, "/api/ps")
    assert not ollama_server.engine.is_loaded("all-minilm:latest")  # type: ignore[attr-defined]


def test_an_engine_known_file_digest_is_the_model_layer(ollama_server: OllamaServer) -> None:
    base = ollama_server.registry.get("llama3.2")
    assert base is not None
    known = hashlib.sha256(b"weights").hexdigest()
    entry = ollama_server.registry.add("known", dataclasses.replace(base.card, digest=known))
    assert entry.layers[0].digest == f"sha256:{known}"
    show = Wire(ollama_server.url).post("/api/show", {"model": "known"}).json()
    assert f"sha256-{known}" in show["modelfile"]


def test_create_with_a_badly_typed_parameter(wire: Wire) -> None:
    reply = wire.post(
        "/api/create",
        {"model": "bad", "from": "llama3.2", "parameters": {"temperature": "hot"}},
    )
    assert (reply.status, reply.json()) == (
        400,
        {"error": 'option "temperature" must be of type float32'},
    )
    assert "bad:latest" not in names(wire)


def test_show_modelfile_has_the_messages(wire: Wire) -> None:
    messages = [
        {"role": "User", "content": "hi"},
        {"role": "assistant", "content": "arr, matey"},
        {"role": "user", "content": "two\nlines"},
        {"role": "assistant", "content": 'say "yo"\nok'},
        {"role": "user", "content": " padded"},
    ]
    reply = wire.post(
        "/api/create",
        {"model": "pirate", "from": "llama3.2", "messages": messages, "stream": False},
    )
    assert reply.status == 200, reply.body
    show = wire.post("/api/show", {"model": "pirate"}).json()
    assert [m["role"] for m in show["messages"]] == ["user", "assistant"] * 2 + ["user"]
    assert show["modelfile"].endswith(
        "MESSAGE user hi\n"
        "MESSAGE assistant arr, matey\n"
        'MESSAGE user "two\nlines"\n'
        'MESSAGE assistant """say "yo"\nok"""\n'
        'MESSAGE user " padded"\n'
    )
