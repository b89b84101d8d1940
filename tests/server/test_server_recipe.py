"""The seed recipe's plain-requests code works unchanged against the server."""

from __future__ import annotations

import json

import requests

from ollama_wire.server import OllamaServer


def test_generate_json_response(ollama_url: str) -> None:
    r = requests.post(
        ollama_url + "/api/generate",
        json={"model": "llama3.2", "prompt": "Why is the sky blue?", "stream": False},
        timeout=10,
    )
    r.raise_for_status()
    assert isinstance(r.json()["response"], str)
    assert r.json()["response"]


def test_iter_lines_streaming_loop(ollama_url: str) -> None:
    parts = []
    final = {}
    with requests.post(
        ollama_url + "/api/generate",
        json={"model": "llama3.2", "prompt": "Why is the sky blue?"},
        stream=True,
        timeout=10,
    ) as r:
        for line in r.iter_lines():
            if line:
                chunk = json.loads(line)
                parts.append(chunk["response"])
                if chunk["done"]:
                    final = chunk
    whole = requests.post(
        ollama_url + "/api/generate",
        json={"model": "llama3.2", "prompt": "Why is the sky blue?", "stream": False},
        timeout=10,
    ).json()
    assert "".join(parts) == whole["response"]
    assert final["eval_count"] == len(parts) - 1


def test_chat(ollama_url: str) -> None:
    r = requests.post(
        ollama_url + "/api/chat",
        json={
            "model": "llama3.2",
            "messages": [{"role": "user", "content": "Why is the sky blue?"}],
            "stream": False,
        },
        timeout=10,
    )
    assert r.json()["message"]["role"] == "assistant"
    assert r.json()["message"]["content"]


def test_embeddings(ollama_url: str) -> None:
    r = requests.post(
        ollama_url + "/api/embeddings",
        json={"model": "nomic-embed-text", "prompt": "The sky is blue because of Rayleigh"},
        timeout=10,
    )
    assert len(r.json()["embedding"]) == 768


def test_one_session_reuses_its_connection(ollama_server: OllamaServer) -> None:
    with requests.Session() as session:
        for _ in range(5):
            session.post(
                ollama_server.url + "/api/generate",
                json={"model": "llama3.2", "prompt": "hi", "stream": False},
                timeout=10,
            ).raise_for_status()
    records = ollama_server.requests.matching("/api/generate")
    assert len(records) == 5
    assert len({r.peer for r in records}) == 1
    assert {r.connection for r in records} == {records[0].connection} != {0}
