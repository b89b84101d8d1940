"""Every client method against the project's server, with the JSON the server received."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from pathlib import Path

import pytest
from client_helpers import AnyClient, ClientKind

from ollama_wire import (
    ChatResponse,
    EmbeddingsResponse,
    EmbedResponse,
    GenerateResponse,
    Image,
    ListResponse,
    Message,
    NotFoundError,
    Options,
    ProcessResponse,
    ProgressResponse,
    RequestError,
    ServerError,
    ShowResponse,
    StatusResponse,
    StreamError,
)
from ollama_wire.server import OllamaServer
from ollama_wire.testing import CHAT_MODEL, EMBED_MODEL

VISION_THINKING_MODEL = "qwen3-vision"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(32))


def test_chat(client: AnyClient, ollama_server: OllamaServer) -> None:
    r = client.chat(CHAT_MODEL, [{"role": "user", "content": "Why is the sky blue?"}])
    assert isinstance(r, ChatResponse)
    assert r.message.role == "assistant"
    assert r.message.content
    assert r.done is True
    assert r.done_reason == "stop"
    assert r.eval_count
    assert r.tokens_per_second
    assert ollama_server.requests.last("/api/chat").body == {
        "model": CHAT_MODEL,
        "messages": [{"role": "user", "content": "Why is the sky blue?"}],
        "tools": [],
        "stream": False,
    }


def test_chat_stream(client: AnyClient, make_client: ClientKind) -> None:
    stream = client.chat(CHAT_MODEL, [Message(role="user", content="hi")], stream=True)
    assert isinstance(make_client.unwrap(stream), make_client.stream_type)
    chunks = list(stream)
    assert all(isinstance(c, ChatResponse) for c in chunks)
    assert chunks[-1].done is True
    assert not any(c.done for c in chunks[:-1])
    text = "".join(c.message.content for c in chunks)
    assert text == client.chat(CHAT_MODEL, [{"role": "user", "content": "hi"}]).message.content


def test_chat_with_every_input_form(client: AnyClient, ollama_server: OllamaServer,
                                    tmp_path: Path) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(PNG)
    encoded = base64.b64encode(PNG).decode()
    client.pull(VISION_THINKING_MODEL)
    r = client.chat(
        VISION_THINKING_MODEL,
        [
            {"role": "system", "content": "Be brief."},
            Message(role="user", content="look", images=[image, PNG, Image(encoded)]),
        ],
        think="low",
        options=Options(temperature=0, seed=7, min_p=0.05, num_ctx=2048),
        keep_alive="1m",
        format={"type": "object", "properties": {"a": {"type": "integer"}},
                "required": ["a"]},
        logprobs=True,
        top_logprobs=2,
    )
    assert r.message.thinking
    assert isinstance(json.loads(r.message.content)["a"], int)
    sent = ollama_server.requests.last("/api/chat").body
    assert sent["messages"][1]["images"] == [encoded] * 3
    assert sent["options"] == {"temperature": 0, "seed": 7, "min_p": 0.05, "num_ctx": 2048}
    assert sent["think"] == "low"
    assert sent["keep_alive"] == "1m"
    assert sent["top_logprobs"] == 2


def test_chat_with_tools(client: AnyClient) -> None:
    tool = {"type": "function", "function": {
        "name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "required": ["city"],
                       "properties": {"city": {"type": "string"}}}}}
    r = client.chat(CHAT_MODEL, [{"role": "user", "content": "Weather in Paris?"}], tools=[tool])
    call = r.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert isinstance(call.function.arguments, dict)


def test_generate(client: AnyClient, ollama_server: OllamaServer) -> None:
    r = client.generate(CHAT_MODEL, "Why is the sky blue?", options={"num_predict": 4})
    assert isinstance(r, GenerateResponse)
    assert r.response
    assert r.done_reason == "length"
    assert r.context
    assert ollama_server.requests.last("/api/generate").body == {
        "model": CHAT_MODEL, "prompt": "Why is the sky blue?", "options": {"num_predict": 4},
        "stream": False,
    }


def test_generate_stream_and_images(client: AnyClient, ollama_server: OllamaServer) -> None:
    client.pull("llava")
    parts = list(client.generate("llava", "hi", images=[PNG], stream=True))
    assert parts[-1].done
    assert "".join(p.response for p in parts)
    assert ollama_server.requests.last("/api/generate").body["images"] == [
        base64.b64encode(PNG).decode()
    ]


def test_generate_json_format(client: AnyClient) -> None:
    r = client.generate(CHAT_MODEL, "a json object please", format="json")
    assert isinstance(r.parse(dict), dict)


def test_embed_and_embeddings(client: AnyClient, ollama_server: OllamaServer) -> None:
    r = client.embed(EMBED_MODEL, ["hello world", "hello there"], dimensions=8)
    assert isinstance(r, EmbedResponse)
    assert len(r.embeddings) == 2
    assert len(r.embeddings[0]) == 8
    assert ollama_server.requests.last("/api/embed").body == {
        "model": EMBED_MODEL, "input": ["hello world", "hello there"], "dimensions": 8,
    }
    single = client.embed(EMBED_MODEL, "hello")
    assert len(single.embeddings) == 1
    legacy = client.embeddings(EMBED_MODEL, "hello")
    assert isinstance(legacy, EmbeddingsResponse)
    assert legacy.embedding


def test_list_show_ps_version(client: AnyClient) -> None:
    models = client.list()
    assert isinstance(models, ListResponse)
    names = {m.name for m in models.models}
    assert f"{CHAT_MODEL}:latest" in names
    entry = models.models[0]
    assert isinstance(entry.modified_at, datetime)
    assert entry.modified_at.tzinfo is not None
    assert entry["name"] == entry.model
    assert entry.details.family
    assert "capabilities" in entry  # a field the SDK drops, kept here

    info = client.show(CHAT_MODEL)
    assert isinstance(info, ShowResponse)
    assert info.modelinfo["general.architecture"]
    assert info.capabilities
    assert isinstance(info.modified_at, datetime)
    assert client.show(CHAT_MODEL, verbose=True).modelinfo

    client.generate(CHAT_MODEL)  # load it
    running = client.ps()
    assert isinstance(running, ProcessResponse)
    loaded = running.models[0]
    assert loaded.name.startswith(CHAT_MODEL)
    assert isinstance(loaded.expires_at, datetime)
    assert client.version().version == "0.12.6"


def test_unload(client: AnyClient) -> None:
    client.generate(CHAT_MODEL)
    assert client.unload(CHAT_MODEL).done_reason == "unload"
    assert all(not m.name.startswith(CHAT_MODEL) for m in client.ps().models)


def test_pull_push_create_copy_delete(client: AnyClient, ollama_server: OllamaServer) -> None:
    pulled = client.pull("tinyllama")
    assert isinstance(pulled, ProgressResponse)
    assert pulled.status == "success"
    statuses = [p.status for p in client.pull("phi3", stream=True)]
    assert statuses[0] == "pulling manifest"
    assert statuses[-1] == "success"
    assert ollama_server.requests.last("/api/pull").body == {
        "model": "phi3", "insecure": False, "stream": True,
    }

    created = client.create("mine", from_=CHAT_MODEL, system="You are terse.",
                            parameters={"temperature": 0.1})
    assert created.status == "success"
    assert ollama_server.requests.last("/api/create").body == {
        "model": "mine", "from": CHAT_MODEL, "system": "You are terse.",
        "parameters": {"temperature": 0.1}, "stream": False,
    }
    progress = list(client.create("mine2", from_=CHAT_MODEL, stream=True))
    assert progress[-1].status == "success"

    copied = client.copy("mine", "mine-copy")
    assert isinstance(copied, StatusResponse)
    assert copied.status == "success"
    assert client.delete("mine-copy").status == "success"
    assert ollama_server.requests.last("/api/delete").method == "DELETE"
    with pytest.raises(NotFoundError):
        client.delete("mine-copy")

    client.copy("mine", "me/mine")
    pushed = list(client.push("me/mine", stream=True))
    assert pushed[-1].status == "success"
    assert client.push("me/mine").status == "success"


def test_push_of_a_missing_model_is_an_error(client: AnyClient) -> None:
    with pytest.raises(ServerError, match="file does not exist"):
        client.push("me/nothing-here")
    with pytest.raises(StreamError, match="file does not exist") as info:
        list(client.push("me/nothing-here", stream=True))
    assert info.value.status_code == -1


def test_create_blob_and_create_from_files(client: AnyClient, ollama_server: OllamaServer,
                                           tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + bytes(1000))
    digest = client.create_blob(path)
    assert digest == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert client.create_blob(str(path)) == digest  # already there: 200, same digest
    record = ollama_server.requests.last(f"/api/blobs/{digest}")
    assert record.raw_body == path.read_bytes()
    assert record.header("content-type") == "application/octet-stream"


def test_bad_input_is_rejected_before_anything_is_sent(client: AnyClient,
                                                       ollama_server: OllamaServer) -> None:
    before = len(ollama_server.requests)
    bad_calls = [
        lambda: client.chat(CHAT_MODEL, [{"content": "no role"}]),
        lambda: client.chat(CHAT_MODEL, keep_alive="300"),
        lambda: client.generate(CHAT_MODEL, "x", images=["nope.png"]),
        lambda: client.generate(CHAT_MODEL, "x", think="extreme"),  # type: ignore[call-overload]
        lambda: client.chat("", []),
        lambda: client.create_blob("/no/such/file"),
        lambda: client.embed(EMBED_MODEL, [1, 2]),  # type: ignore[list-item]
        lambda: client.chat(CHAT_MODEL, timeout=-1),
        # Values of the wrong type, which JSON could carry but Ollama would not read as meant.
        lambda: client.chat(CHAT_MODEL, [{"role": "user", "content": b"hi"}]),
        lambda: client.chat(CHAT_MODEL, [{"role": "tool", "content": "1", "tool_name": 2}]),
        lambda: client.generate(CHAT_MODEL, 123),  # type: ignore[call-overload]
        lambda: client.generate(CHAT_MODEL, "x", system=["be brief"]),  # type: ignore[call-overload]
        lambda: client.generate(CHAT_MODEL, "x", context="abc"),  # type: ignore[call-overload]
        lambda: client.generate(CHAT_MODEL, "x", context=5),  # type: ignore[call-overload]
        lambda: client.generate(CHAT_MODEL, "x", context=[1, "2"]),  # type: ignore[list-item]
    ]
    for call in bad_calls:
        with pytest.raises(RequestError):
            call()
    assert len(ollama_server.requests) == before


def test_server_side_errors(client: AnyClient) -> None:
    with pytest.raises(NotFoundError) as info:
        client.chat("missing-model", [{"role": "user", "content": "hi"}])
    assert info.value.status_code == 404
    assert "ollama pull missing-model" in str(info.value)
    with pytest.raises(NotFoundError):
        list(client.generate("missing-model", "hi", stream=True))


def test_a_missing_model_hints_what_fits_the_call(client: AnyClient) -> None:
    """Pull a model to use it; a model to show, copy, delete or unload was probably misnamed."""
    using = [lambda: client.generate("missing-model", "hi"),
             lambda: client.embed("missing-model", "hi")]
    managing = [lambda: client.show("missing-model"),
                lambda: client.copy("missing-model", "other"),
                lambda: client.delete("missing-model"),
                lambda: client.unload("missing-model")]
    for call, hint in [*((c, "ollama pull missing-model") for c in using),
                       *((c, "ollama_wire.list() shows the models") for c in managing)]:
        with pytest.raises(NotFoundError) as info:
            call()
        assert hint in info.value.hint
        assert "pull" not in info.value.hint or call in using


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_run_tools_runs_the_tool_loop(client: AnyClient, ollama_server: OllamaServer,
                                      stream: bool) -> None:
    asked: list[str] = []

    def get_weather(city: str) -> str:
        """Get the current weather in a city.

        Args:
            city: The city's name.
        """
        asked.append(city)
        return f"Sunny in {city}"

    question = [{"role": "user", "content": "Weather in Paris?"}]
    run = client.run_tools(CHAT_MODEL, question, [get_weather], stream=stream)
    assert [m["role"] for m in run.messages] == ["user", "assistant", "tool", "assistant"]
    assert len(asked) == 1
    assert run.messages[2]["content"] == f"Sunny in {asked[0]}"
    assert run.messages[2]["tool_name"] == "get_weather"
    assert run.response.done is True
    assert run.response.message.content
    sent = [r.body for r in ollama_server.requests.matching("/api/chat")]
    assert len(sent) == 2
    assert sent[1]["messages"][2]["content"] == f"Sunny in {asked[0]}"
    assert all(body["stream"] is stream for body in sent)
