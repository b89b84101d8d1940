"""``/api/embed`` and ``/api/embeddings``."""

from __future__ import annotations

import math
from typing import Any

import pytest
from server_wire import Wire


def embed(wire: Wire, **body: Any) -> dict[str, Any]:
    body.setdefault("model", "all-minilm")
    reply = wire.post("/api/embed", body)
    assert reply.status == 200, reply.body
    return reply.json()  # type: ignore[no-any-return]


def norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (norm(a) * norm(b))


def test_embed_shape_and_normalisation(wire: Wire) -> None:
    body = embed(wire, input=["Why is the sky blue?", "Why is the grass green?"])
    assert list(body) == [
        "model",
        "embeddings",
        "total_duration",
        "load_duration",
        "prompt_eval_count",
    ]
    assert body["model"] == "all-minilm"
    assert len(body["embeddings"]) == 2
    width = wire.post("/api/show", {"model": "all-minilm"}).json()["details"]["embedding_length"]
    for vec in body["embeddings"]:
        assert len(vec) == width
        assert norm(vec) == pytest.approx(1.0)
    assert body["prompt_eval_count"] > 0


def test_single_string_input(wire: Wire) -> None:
    one = embed(wire, input="hello world")["embeddings"]
    listed = embed(wire, input=["hello world"])["embeddings"]
    assert one == listed


def test_equal_texts_equal_vectors_and_shared_words_closer(wire: Wire) -> None:
    a, b, c, d = embed(
        wire,
        input=[
            "the cat sat on the mat",
            "the cat sat on the mat",
            "a cat sat on a rug",
            "stock prices fell sharply",
        ],
    )["embeddings"]
    assert a == b
    assert cosine(a, c) > cosine(a, d)


def test_dimensions_truncate_and_renormalise(wire: Wire) -> None:
    full = embed(wire, input="hello world")["embeddings"][0]
    short = embed(wire, input="hello world", dimensions=8)["embeddings"][0]
    assert len(short) == 8
    assert norm(short) == pytest.approx(1.0)
    scale = norm(full[:8])
    assert short == pytest.approx([x / scale for x in full[:8]])


@pytest.mark.parametrize("empty", ["", []])
def test_empty_input_loads_only(wire: Wire, empty: Any) -> None:
    assert embed(wire, input=empty) == {"model": "all-minilm", "embeddings": []}


def test_legacy_embeddings_are_raw_and_match_direction(wire: Wire) -> None:
    raw = wire.post("/api/embeddings", {"model": "all-minilm", "prompt": "hello world"})
    assert raw.status == 200
    body = raw.json()
    assert list(body) == ["embedding"]
    vec = body["embedding"]
    assert norm(vec) != pytest.approx(1.0)
    normalised = embed(wire, input="hello world")["embeddings"][0]
    assert [x / norm(vec) for x in vec] == pytest.approx(normalised)


def test_legacy_empty_prompt(wire: Wire) -> None:
    assert wire.post("/api/embeddings", {"model": "all-minilm", "prompt": ""}).json() == {
        "embedding": []
    }


def test_truncate_false_on_a_too_long_input(wire: Wire) -> None:
    long_text = " ".join(f"w{i}" for i in range(600))
    reply = wire.post("/api/embed", {"model": "all-minilm", "input": long_text, "truncate": False})
    assert (reply.status, reply.json()) == (
        400,
        {"error": "the input length exceeds the context length"},
    )
    assert wire.post("/api/embed", {"model": "all-minilm", "input": long_text}).status == 200


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/embed", {"input": "x"}, 404, "model '' not found"),
        ("/api/embed", {"model": "nope", "input": "x"}, 404, "model 'nope' not found"),
        ("/api/embed", {"model": "all-minilm", "input": 5}, 400, "invalid input type"),
        ("/api/embed", {"model": "all-minilm", "input": ["a", 1]}, 400, "invalid input type"),
        ("/api/embeddings", {"prompt": "x"}, 400, "model is required"),
        (
            "/api/embeddings",
            {"model": "nope", "prompt": "x"},
            404,
            'model "nope" not found, try pulling it first',
        ),
        (
            "/api/embed",
            {"model": "all-minilm", "input": "x", "options": {"seed": "s"}},
            500,
            'option "seed" must be of type integer',
        ),
    ],
)
def test_errors(wire: Wire, path: str, body: dict[str, Any], status: int, error: str) -> None:
    reply = wire.post(path, body)
    assert (reply.status, reply.json()) == (status, {"error": error})
