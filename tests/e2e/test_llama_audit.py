"""The llama.cpp engine's audit findings: schema key order, sizes after a reload, the render."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

from ollama_wire import Client
from ollama_wire.server import OllamaServer
from ollama_wire.server._gemma import render_chat
from ollama_wire.server.engine import GenerationRequest
from ollama_wire.server.llama import LlamaEngine

MODEL = "gemma3:270m"
PIRATE = (
    "<start_of_turn>user\nYou are a pirate.\n\nHello there<end_of_turn>\n"
    "<start_of_turn>model\n"
)


def greedy(n: int, **extra: object) -> dict[str, object]:
    return {"temperature": 0, "num_predict": n, **extra}


def engine_of(server: OllamaServer) -> LlamaEngine:
    assert isinstance(server.engine, LlamaEngine)
    return server.engine


def post(server: OllamaServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(server.url + path, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        reply: dict[str, Any] = json.loads(resp.read())
    return reply


def test_format_schema_keeps_the_declared_key_order(client: Client) -> None:
    schema = {
        "type": "object",
        "properties": {"zeta": {"type": "integer"}, "alpha": {"type": "boolean"}},
        "required": ["zeta", "alpha"],
    }
    r = client.generate(MODEL, "Give JSON.", format=schema, options=greedy(8))
    first = re.search(r'"(\w+)"', r.response)
    assert first is not None, r.response
    assert first.group(1) == "zeta"


def test_loaded_info_follows_a_reload_and_the_embedding_context(
    client: Client, server: OllamaServer
) -> None:
    engine = engine_of(server)
    client.generate(MODEL, "Hi", options=greedy(1))
    default = engine.loaded_info(MODEL)
    assert default is not None
    assert default.context_length == 2048
    client.generate(MODEL, "Hi", options=greedy(1, num_ctx=512))
    small = engine.loaded_info(MODEL)
    assert small is not None
    assert small.context_length == 512
    assert small.size < default.size
    client.embed(MODEL, "x", options={"num_ctx": 512})
    embedded = engine.loaded_info(MODEL)
    assert embedded is not None
    assert embedded.context_length == 512
    assert embedded.size > small.size + 100_000_000  # the embedding context's own buffers


def test_ps_and_load_duration_follow_a_reload(client: Client, server: OllamaServer) -> None:
    client.generate(MODEL, "Hi", options=greedy(1))
    r = client.generate(MODEL, "Hi", options=greedy(1, num_ctx=512))
    assert r.load_duration is not None
    assert r.load_duration > 20_000_000
    entry = next(m for m in client.ps().models if m.model == MODEL)
    info = engine_of(server).loaded_info(MODEL)
    assert info is not None
    assert (entry.context_length, entry.size) == (512, info.size)


def test_render_is_the_prompt_the_model_gets(client: Client, server: OllamaServer) -> None:
    engine = engine_of(server)
    card = engine.describe(MODEL)
    assert card is not None
    request = GenerationRequest(
        kind="generate", model=MODEL, card=card, prompt="Hello there", system="You are a pirate."
    )
    assert engine.render(request) == PIRATE
    r = client.generate(MODEL, "Hello there", system="You are a pirate.", options=greedy(1))
    raw = client.generate(MODEL, PIRATE, raw=True, options=greedy(1))
    assert r.prompt_eval_count == raw.prompt_eval_count
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    chat = GenerationRequest(kind="chat", model=MODEL, card=card, messages=messages)
    assert engine.render(chat) == render_chat(messages)
    assert engine.render(chat).startswith("<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>")


def test_debug_render_only_shows_gemma_turns(server: OllamaServer) -> None:
    gen = post(server, "/api/generate", {
        "model": MODEL, "prompt": "Hello there", "system": "You are a pirate.",
        "_debug_render_only": True,
    })
    assert gen["_debug_info"]["rendered_template"] == PIRATE
    chat = post(server, "/api/chat", {
        "model": MODEL, "messages": [{"role": "user", "content": "Hi"}],
        "_debug_render_only": True,
    })
    expected = "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"
    assert chat["_debug_info"]["rendered_template"] == expected
