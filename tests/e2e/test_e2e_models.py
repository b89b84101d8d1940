"""The bundled model in tags, show, ps and pull, with facts from its GGUF file."""

from __future__ import annotations

import pytest

from ollama_wire import Client, ResponseError

MODEL = "gemma3:270m"
SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


def test_tags_list_the_bundled_model(client: Client) -> None:
    models = {m.model: m for m in client.list().models}
    entry = models[MODEL]
    assert entry.size > 240_000_000
    assert len(entry.digest) == 64
    d = entry.details
    assert (d.family, d.format, d.quantization_level, d.parameter_size) == (
        "gemma3", "gguf", "Q4_K_M", "268.10M"
    )


def test_show_reports_gguf_metadata(client: Client) -> None:
    r = client.show(MODEL)
    info = r.modelinfo
    assert info["general.architecture"] == "gemma3"
    assert info["gemma3.embedding_length"] == 640
    assert info["gemma3.context_length"] == 32768
    assert info["general.parameter_count"] == 268_098_176
    assert "<start_of_turn>" in (r.template or "")
    assert r.capabilities == ["completion"]
    assert SHA256 in (r.modelfile or "")


def test_pull_succeeds_at_once(client: Client) -> None:
    assert client.pull(MODEL).status == "success"


def test_unknown_models_give_ollamas_errors(client: Client) -> None:
    with pytest.raises(ResponseError) as info:
        client.generate("llama3.2", "Hi")
    assert info.value.status_code == 404
    assert "not found" in str(info.value)
    with pytest.raises(ResponseError) as pulled:
        client.pull("llama3.2")
    assert pulled.value.status_code == 500
    assert "file does not exist" in str(pulled.value)
