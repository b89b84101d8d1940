"""Embeddings from the real model: dimensions, norms, and meaningful similarity."""

from __future__ import annotations

import math

import pytest

from ollama_wire import Client, ResponseError

MODEL = "gemma3:270m"


def norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (norm(a) * norm(b))


def test_embed_has_model_dimensions_and_unit_norm(client: Client) -> None:
    texts = ["The cat sat on the mat", "A kitten sat on a rug", "Stock prices fell sharply"]
    r = client.embed(MODEL, texts)
    assert len(r.embeddings) == 3
    assert all(len(v) == 640 for v in r.embeddings)
    assert all(abs(norm(v) - 1) < 1e-5 for v in r.embeddings)
    assert r.prompt_eval_count is not None
    assert r.prompt_eval_count >= 15
    cat, kitten, stocks = r.embeddings
    assert cosine(cat, kitten) > cosine(cat, stocks) + 0.1


def test_identical_texts_give_identical_vectors(client: Client) -> None:
    r = client.embed(MODEL, ["Why is the sky blue?", "Why is the sky blue?"])
    assert r.embeddings[0] == r.embeddings[1]
    again = client.embed(MODEL, "Why is the sky blue?")
    assert again.embeddings[0] == pytest.approx(r.embeddings[0], abs=1e-6)


def test_dimensions_truncates_and_renormalises(client: Client) -> None:
    full = client.embed(MODEL, "Hello world").embeddings[0]
    short = client.embed(MODEL, "Hello world", dimensions=64).embeddings[0]
    assert len(short) == 64
    assert abs(norm(short) - 1) < 1e-5
    scale = norm(full[:64])
    assert short == pytest.approx([x / scale for x in full[:64]], abs=1e-5)


def test_legacy_embeddings_are_raw(client: Client) -> None:
    raw = client.embeddings(MODEL, "Hello world").embedding
    normalised = client.embed(MODEL, "Hello world").embeddings[0]
    assert len(raw) == 640
    assert abs(norm(raw) - 1) > 0.01
    assert [x / norm(raw) for x in raw] == pytest.approx(normalised, abs=1e-5)


def test_truncate_false_rejects_input_longer_than_the_context(client: Client) -> None:
    long_text = "word " * 100
    options = {"num_ctx": 64}
    with pytest.raises(ResponseError) as info:
        client.embed(MODEL, long_text, truncate=False, options=options)
    assert info.value.status_code == 400
    assert "exceeds the context length" in str(info.value)
    r = client.embed(MODEL, long_text, options=options)
    assert len(r.embeddings[0]) == 640
    assert r.prompt_eval_count == 64
