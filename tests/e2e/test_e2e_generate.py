"""Generation through the client against the real model: determinism, streaming, limits."""

from __future__ import annotations

import json
import threading

import pytest

from ollama_wire import Client, ResponseError
from ollama_wire.server import OllamaServer
from ollama_wire.testing import wait_for_generation_stop

MODEL = "gemma3:270m"
PROMPT = "Write one sentence about the sea."


def greedy(n: int, **extra: object) -> dict[str, object]:
    return {"temperature": 0, "num_predict": n, **extra}


@pytest.mark.parametrize(
    "options",
    [greedy(12, seed=7), {"temperature": 0.9, "top_k": 50, "seed": 1234, "num_predict": 12}],
    ids=["temperature-0", "sampled-with-seed"],
)
def test_same_seed_same_text(client: Client, options: dict[str, object]) -> None:
    first = client.generate(MODEL, PROMPT, options=options)
    second = client.generate(MODEL, PROMPT, options=options)
    assert first.response
    assert first.response == second.response
    assert first.eval_count == second.eval_count


def test_streamed_text_equals_non_streamed(client: Client) -> None:
    whole = client.generate(MODEL, PROMPT, options=greedy(12))
    with client.generate(MODEL, PROMPT, options=greedy(12), stream=True) as stream:
        chunks = list(stream)
    assert len(chunks) > 2
    assert all(not c.done for c in chunks[:-1])
    final = chunks[-1]
    assert final.done
    assert "".join(c.response for c in chunks) == whole.response
    assert final.eval_count == whole.eval_count
    assert final.context == whole.context


def test_num_predict_bounds_eval_count(client: Client) -> None:
    r = client.generate(MODEL, "Count from one to one hundred:", options=greedy(5))
    assert r.done_reason == "length"
    assert r.eval_count == 5
    assert r.response


def test_metrics_are_real_and_in_nanoseconds(client: Client) -> None:
    r = client.generate(MODEL, PROMPT, options=greedy(6))
    assert r.prompt_eval_count is not None
    assert r.prompt_eval_count >= 8
    assert r.eval_count == 6
    assert r.prompt_eval_duration is not None
    assert r.prompt_eval_duration > 0
    assert r.eval_duration is not None
    assert r.eval_duration > 0
    assert r.total_duration is not None
    assert r.total_duration >= r.eval_duration
    # 6 tokens take well under a minute and more than a microsecond each.
    assert 6_000 < r.eval_duration < 60_000_000_000


def test_stop_sequence_ends_the_text(client: Client) -> None:
    free = client.generate(MODEL, PROMPT, options=greedy(16)).response
    words = free.split()
    assert len(words) >= 3, free
    stop = words[2]
    cut = free[: free.index(stop)]
    r = client.generate(MODEL, PROMPT, options=greedy(16, stop=[stop]))
    assert r.response == cut
    assert stop not in r.response
    assert r.done_reason == "stop"
    assert r.eval_count is not None
    assert r.eval_count < 16


def test_context_continues_a_generation(client: Client) -> None:
    first = client.generate(MODEL, "My name is Ada.", options=greedy(4))
    assert first.context
    assert first.context[0] == 2
    assert len(first.context) == first.prompt_eval_count + first.eval_count
    second = client.generate(MODEL, "What is my name?", context=first.context, options=greedy(4))
    assert second.prompt_eval_count is not None
    assert second.prompt_eval_count > len(first.context)
    assert second.context is not None
    assert second.context[: len(first.context)] == first.context
    alone = client.generate(MODEL, "What is my name?", options=greedy(4))
    assert alone.prompt_eval_count == second.prompt_eval_count - len(first.context) + 1


def test_raw_prompt_is_not_templated_and_returns_no_context(client: Client) -> None:
    templated = client.generate(MODEL, "Hello", options=greedy(2))
    raw = client.generate(MODEL, "Hello", raw=True, options=greedy(2))
    assert raw.context is None
    # <bos> + "Hello" against the turn markers around it.
    assert raw.prompt_eval_count == 2
    assert templated.prompt_eval_count is not None
    assert templated.prompt_eval_count > 6


def test_system_and_template_are_applied(client: Client) -> None:
    base = client.generate(MODEL, "Hi", options=greedy(2))
    with_system = client.generate(MODEL, "Hi", system="Answer in French.", options=greedy(2))
    assert with_system.prompt_eval_count is not None
    assert base.prompt_eval_count is not None
    assert with_system.prompt_eval_count > base.prompt_eval_count
    custom = client.generate(MODEL, "Hi", template="Q: {{ .Prompt }}\nA:", options=greedy(2))
    assert custom.prompt_eval_count is not None
    assert custom.prompt_eval_count < base.prompt_eval_count


def test_unsupported_template_is_a_clear_400(client: Client) -> None:
    with pytest.raises(ResponseError) as info:
        client.generate(MODEL, "Hi", template="{{ range .Messages }}x{{ end }}")
    assert info.value.status_code == 400
    assert "template" in str(info.value)


def test_schema_constrained_reply_parses(client: Client) -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 12},
            "age": {"type": "integer"},
            "mood": {"enum": ["happy", "sad"]},
        },
        "required": ["name", "age", "mood"],
    }
    r = client.generate(
        # The schema bounds the reply to about 50 tokens, so it always closes within 64.
        MODEL, "Describe a person as JSON.", format=schema, options=greedy(64)
    )
    value = json.loads(r.response)
    assert set(value) == {"name", "age", "mood"}
    assert isinstance(value["name"], str)
    assert len(value["name"]) <= 12
    assert isinstance(value["age"], int)
    assert value["mood"] in ("happy", "sad")
    assert r.done_reason == "stop"


def test_format_json_constrains_the_reply(client: Client) -> None:
    # The base model never closes a free-form JSON object within a few tokens, so check that
    # the grammar turned prose into JSON rather than waiting for the object to end.
    prompt = "Say hello."
    free = client.generate(MODEL, prompt, options=greedy(8))
    constrained = client.generate(MODEL, prompt, format="json", options=greedy(8))
    assert not free.response.lstrip().startswith(("{", "["))
    assert constrained.response.lstrip().startswith(("{", "["))
    assert constrained.eval_count == 8


def test_logprobs_are_real_log_probabilities(client: Client) -> None:
    r = client.generate(MODEL, PROMPT, logprobs=True, top_logprobs=3, options=greedy(3))
    assert r.logprobs is not None
    assert len(r.logprobs) == 3
    for entry in r.logprobs:
        assert entry["logprob"] <= 0
        top = entry["top_logprobs"]
        assert len(top) == 3
        assert [t["logprob"] for t in top] == sorted((t["logprob"] for t in top), reverse=True)
        # Greedy decoding picks the most likely token.
        assert top[0]["token"] == entry["token"]
        assert top[0]["logprob"] == entry["logprob"]


def test_closing_a_stream_stops_generation(client: Client, server: OllamaServer) -> None:
    stream = client.generate(MODEL, "Tell me a very long story.", stream=True,
                             options=greedy(2000))
    received = [next(stream) for _ in range(3)]
    stream.close()
    assert all(not c.done for c in received)
    record = wait_for_generation_stop(server, "/api/generate", timeout=30)
    assert record.disconnected
    assert 3 <= record.tokens < 60


def test_empty_prompt_loads_and_keep_alive_zero_unloads(client: Client) -> None:
    loaded = client.generate(MODEL, "")
    assert loaded.done
    assert loaded.done_reason == "load"
    assert loaded.response == ""
    entry = next(m for m in client.ps().models if m.model == MODEL)
    assert entry.size > 240_000_000  # the weights alone are about 246 MB
    assert entry.expires_at is not None
    assert entry.details.family == "gemma3"
    unloaded = client.generate(MODEL, "", keep_alive=0)
    assert unloaded.done_reason == "unload"
    assert all(m.model != MODEL for m in client.ps().models)
    again = client.generate(MODEL, "Hi", options=greedy(2))
    assert again.eval_count == 2


def test_requests_for_the_model_are_served_one_at_a_time(
    client: Client, server: OllamaServer
) -> None:
    first = client.generate(MODEL, "Tell me a very long story.", stream=True,
                            options=greedy(2000))
    next(first)
    results: list[object] = []
    second = threading.Thread(
        target=lambda: results.append(client.generate(MODEL, "Hi", options=greedy(2)))
    )
    second.start()
    try:
        server.wait_queued(1, timeout=30)
        waiting = server.requests.wait_for(
            lambda r: isinstance(r.body, dict) and r.body.get("prompt") == "Hi",
            finished=False, timeout=30,
        )[0]
        for _ in range(3):
            next(first)  # the first request keeps generating while the second waits
        assert not waiting.finished.is_set()
        assert results == []
    finally:
        first.close()
        second.join(60)
    assert len(results) == 1
    assert waiting.status == 200


def test_reply_without_num_predict_is_capped_by_the_engine(client: Client) -> None:
    # The session's engine caps such replies at 16 tokens (the default cap is 256): the base
    # model would otherwise run to the end of its context.
    r = client.generate(MODEL, "Count to one hundred.", options={"temperature": 0})
    assert r.eval_count == 16
    assert r.done_reason == "length"


def test_full_queue_gets_ollamas_503(
    client: Client, server: OllamaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "max_queue", 1)
    running = client.generate(MODEL, "Tell me a very long story.", stream=True,
                              options=greedy(2000))
    next(running)
    queued: list[object] = []
    waiter = threading.Thread(
        target=lambda: queued.append(client.generate(MODEL, "Hi", options=greedy(2)))
    )
    waiter.start()
    try:
        server.wait_queued(1, timeout=30)
        with Client(server.url, max_retries=0) as impatient, pytest.raises(ResponseError) as info:
            impatient.generate(MODEL, "Hello", options=greedy(2))
    finally:
        running.close()
        waiter.join(60)
    assert info.value.status_code == 503
    assert str(info.value.error) == (
        "server busy, please try again.  maximum pending requests exceeded"
    )
    assert len(queued) == 1
