"""Model management and metadata as Ollama's own code writes them: show, tags, blobs, create."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from server_wire import Wire

from ollama_wire.server._wire import go_float, go_syntax

PIRATE = {
    "model": "pirate",
    "from": "llama3.2",
    "template": "{{ .Prompt }}",
    "system": "Talk like a pirate.",
    "license": "MIT",
    "parameters": {"temperature": 1, "num_ctx": 1000000, "use_mmap": True, "stop": ["\n", "é"]},
    "messages": [{"role": "User", "content": "hi", "images": ["aGk="]}],
    "stream": False,
}


def show(wire: Wire, **body: Any) -> dict[str, Any]:
    reply = wire.post("/api/show", body)
    assert reply.status == 200, reply.body
    return reply.json()  # type: ignore[no-any-return]


@pytest.fixture
def pirate(wire: Wire) -> dict[str, Any]:
    assert wire.post("/api/create", PIRATE).status == 200
    return show(wire, model="pirate")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.8, "0.8"),
        (1.0, "1"),
        (4096, "4096"),
        (100000, "100000"),
        (1000000, "1e+06"),
        (1234567, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5, "-2.5"),
    ],
)
def test_go_float_prints_as_percent_v(value: float, text: str) -> None:
    assert go_float(value) == text


def test_go_syntax_quotes_as_strconv() -> None:
    assert go_syntax('é\n"x"\x01') == '"é\\n\\"x\\"\\x01"'
    assert go_syntax(True) == "true"


def test_show_modelfile_quotes_a_value_only_when_it_must(pirate: dict[str, Any]) -> None:
    lines = pirate["modelfile"].split("\n")
    assert "TEMPLATE {{ .Prompt }}" in lines
    assert "SYSTEM Talk like a pirate." in lines
    assert "LICENSE MIT" in lines
    assert "MESSAGE user hi" in lines
    # Go prints the JSON numbers and booleans it decoded: float64 and bool.
    assert {"PARAMETER temperature 1", "PARAMETER num_ctx 1e+06", "PARAMETER use_mmap true",
            "PARAMETER stop é"} <= set(lines)
    assert 'PARAMETER stop "\n"' in pirate["modelfile"]


def test_show_parameters_are_go_syntax(pirate: dict[str, Any]) -> None:
    assert set(pirate["parameters"].split("\n")) == {
        "temperature                    1",
        "num_ctx                        1e+06",
        "use_mmap                       true",
        'stop                           "\\n"',
        'stop                           "é"',
    }


def test_show_options_reach_the_modelfile_only(wire: Wire, pirate: dict[str, Any]) -> None:
    reply = show(wire, model="pirate", options={"temperature": 0.25})
    assert "PARAMETER temperature 0.25" in reply["modelfile"].split("\n")
    assert reply["parameters"] == pirate["parameters"]


def test_show_messages_are_role_and_content(pirate: dict[str, Any]) -> None:
    assert pirate["messages"] == [{"role": "user", "content": "hi"}]


def test_show_leaves_out_an_empty_template(wire: Wire) -> None:
    reply = show(wire, model="all-minilm")
    assert "template" not in reply
    assert "template" in show(wire, model="llama3.2")


def test_show_verbose_keeps_long_arrays(wire: Wire) -> None:
    short = show(wire, model="llama3.2")["model_info"]
    full = show(wire, model="llama3.2", verbose=True)["model_info"]
    assert short["tokenizer.ggml.tokens"] == []
    assert len(full["tokenizer.ggml.tokens"]) > 5
    assert {k: v for k, v in full.items() if not isinstance(v, list)} == {
        k: v for k, v in short.items() if not isinstance(v, list)
    }


def test_tags_details_leave_the_parent_out(wire: Wire, pirate: dict[str, Any]) -> None:
    assert pirate["details"]["parent_model"] == "llama3.2:latest"
    tags = {m["name"]: m for m in wire.get("/api/tags").json()["models"]}
    assert tags["pirate:latest"]["details"]["parent_model"] == ""


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/pull", {"model": "missing-x", "stream": False}),
        ("/api/create", {"model": "x", "from": "missing-x", "stream": False}),
    ],
)
def test_errors_without_stream_are_plain_json(wire: Wire, path: str, body: dict[str, Any]) -> None:
    reply = wire.post(path, body)
    assert (reply.status, reply.headers["content-type"]) == (500, "application/json")
    assert reply.json() == {"error": "pull model manifest: file does not exist"}


def test_a_blob_must_be_named_by_its_exact_digest(wire: Wire) -> None:
    data = b"GGUF exact"
    hexdigest = hashlib.sha256(data).hexdigest()
    for spelled in (f"sha256-{hexdigest}", f"sha256:{hexdigest.upper()}"):
        reply = wire.post(f"/api/blobs/{spelled}", data)
        assert (reply.status, reply.json()) == (
            400,
            {"error": f'digest mismatch, expected "{spelled}", got "sha256:{hexdigest}"'},
        )
    assert wire.request("HEAD", f"/api/blobs/sha256:{hexdigest}").status == 404
    assert wire.post(f"/api/blobs/sha256:{hexdigest}", data).status == 201
    # Once there, it is there: Ollama does not read the body again.
    assert wire.post(f"/api/blobs/sha256:{hexdigest}", b"other").status == 200
    assert wire.request("HEAD", f"/api/blobs/sha256-{hexdigest}").status == 200


@pytest.mark.parametrize(
    ("source", "quantize", "error"),
    [
        ("all-minilm", "q9", "unsupported quantization type Q9 - supported types are F32, F16, "
                             "Q4_K_S, Q4_K_M, Q8_0"),
        ("llama3.2", "q8_0", "quantization is only supported for F16, BF16 and F32 models"),
    ],
)
def test_create_quantize_errors(wire: Wire, source: str, quantize: str, error: str) -> None:
    reply = wire.post("/api/create", {"model": "q", "from": source, "quantize": quantize})
    assert (reply.status, reply.json()) == (500, {"error": error})


def test_create_quantize_names_the_file_type(wire: Wire) -> None:
    body = {"model": "q", "from": "all-minilm", "quantize": "q4_K"}
    lines = wire.post("/api/create", body).lines()
    statuses = [ln["status"] for ln in lines]
    assert "quantizing F16 model to Q4_K" in statuses
    assert any(s.startswith("creating new layer sha256:") for s in statuses)
    assert show(wire, model="q")["details"]["quantization_level"] == "Q4_K_M"
    same = wire.post("/api/create", {"model": "q2", "from": "all-minilm", "quantize": "f16"})
    assert not any(ln["status"].startswith("quantizing") for ln in same.lines())


def test_pull_sends_a_layer_on_disk_once_complete(wire: Wire) -> None:
    template = {ln["digest"] for ln in wire.post("/api/pull", {"model": "llama3.2"}).lines()
                if "digest" in ln}
    lines = wire.post("/api/pull", {"model": "gemma3:1b"}).lines()
    shared = [ln for ln in lines if ln.get("digest") in template]
    assert shared
    for ln in shared:
        assert ln["completed"] == ln["total"]
        assert sum(x.get("digest") == ln["digest"] for x in lines) == 1


def test_pull_again_writes_the_manifest_again(wire: Wire) -> None:
    first = wire.get("/api/tags").json()["models"][0]["name"]
    assert first != "llama3.2:latest"
    wire.post("/api/pull", {"model": "llama3.2", "stream": False})
    assert wire.get("/api/tags").json()["models"][0]["name"] == "llama3.2:latest"


def test_copy_onto_itself_changes_nothing(wire: Wire) -> None:
    wire.post("/api/generate", {"model": "llama3.2"})
    before = wire.get("/api/tags").json()
    reply = wire.post("/api/copy", {"source": "llama3.2", "destination": "LLAMA3.2:latest"})
    assert (reply.status, reply.body) == (200, b"")
    assert wire.get("/api/tags").json() == before
    assert [m["name"] for m in wire.get("/api/ps").json()["models"]] == ["llama3.2:latest"]


def test_copy_onto_another_spelling_keeps_the_name(wire: Wire) -> None:
    assert wire.post("/api/copy", {"source": "qwen3", "destination": "LLAMA3.2"}).status == 200
    names = [m["name"] for m in wire.get("/api/tags").json()["models"]]
    assert "llama3.2:latest" in names
    assert "LLAMA3.2:latest" not in names


def test_an_http_name_needs_insecure(wire: Wire) -> None:
    name = "http://localhost:5000/team/tool:1b"
    refused = wire.post("/api/pull", {"model": name})
    assert (refused.status, refused.json()) == (500, {"error": "insecure protocol http"})
    pulled = wire.post("/api/pull", {"model": name, "insecure": True, "stream": False})
    assert (pulled.status, pulled.json()) == (200, {"status": "success"})
    tags = wire.get("/api/tags").json()["models"]
    assert "localhost:5000/team/tool:1b" in [m["name"] for m in tags]
    pushed = wire.post("/api/push", {"model": name}).lines()
    assert pushed == [{"status": "retrieving manifest"}, {"error": "insecure protocol http"}]
    assert wire.post("/api/push", {"model": name, "insecure": True}).lines()[-1] == {
        "status": "success"
    }


ZEROS = "sha256:" + "0" * 64
RELATIVE = "file path must be relative"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"model": "x", "files": {"./model.gguf": ZEROS}}, RELATIVE),
        ({"model": "x", "files": {"a//model.gguf": ZEROS}}, RELATIVE),
        ({"model": "x", "files": {"dir/": ZEROS}}, RELATIVE),
        # The files are checked before the name, as Ollama does.
        ({"model": "", "files": {"/model.gguf": ZEROS}}, RELATIVE),
        ({"model": "", "files": {"model.gguf": ""}}, "invalid digest format"),
    ],
)
def test_create_checks_file_paths_as_go(wire: Wire, body: dict[str, Any], error: str) -> None:
    reply = wire.post("/api/create", body)
    assert (reply.status, reply.json()) == (400, {"error": error})
