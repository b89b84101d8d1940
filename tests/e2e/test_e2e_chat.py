"""Chat through Gemma's turn format against the real model."""

from __future__ import annotations

from ollama_wire import Client
from ollama_wire.server import OllamaServer
from ollama_wire.testing import wait_for_generation_stop

MODEL = "gemma3:270m"
GREEDY = {"temperature": 0, "num_predict": 8}


def test_two_turn_chat(client: Client) -> None:
    messages = [{"role": "user", "content": "Hello! My name is Ada."}]
    first = client.chat(MODEL, messages, options=GREEDY)
    assert first.message.role == "assistant"
    assert first.message.content
    assert first.done
    assert first.done_reason in ("stop", "length")
    messages += [
        {"role": "assistant", "content": first.message.content},
        {"role": "user", "content": "What is my name?"},
    ]
    second = client.chat(MODEL, messages, options=GREEDY)
    assert second.message.role == "assistant"
    assert second.message.content
    assert first.prompt_eval_count is not None
    assert second.prompt_eval_count is not None
    # The second prompt holds the whole first exchange.
    assert second.prompt_eval_count > first.prompt_eval_count + 8


def test_chat_is_deterministic_and_streams_the_same_text(client: Client) -> None:
    messages = [{"role": "user", "content": "Name a colour."}]
    whole = client.chat(MODEL, messages, options=GREEDY)
    with client.chat(MODEL, messages, options=GREEDY, stream=True) as stream:
        chunks = list(stream)
    assert "".join(c.message.content for c in chunks) == whole.message.content
    assert chunks[-1].done
    assert chunks[-1].eval_count == whole.eval_count


def test_system_message_is_part_of_the_prompt(client: Client) -> None:
    user = {"role": "user", "content": "Hi"}
    plain = client.chat(MODEL, [user], options=GREEDY)
    system = {"role": "system", "content": "You are a pirate. Always talk like one."}
    with_system = client.chat(MODEL, [system, user], options=GREEDY)
    assert plain.prompt_eval_count is not None
    assert with_system.prompt_eval_count is not None
    assert with_system.prompt_eval_count >= plain.prompt_eval_count + 10


def test_chat_chat_and_generate_share_the_turn_format(client: Client) -> None:
    chat = client.chat(MODEL, [{"role": "user", "content": "Why is the sky blue?"}],
                       options=GREEDY)
    gen = client.generate(MODEL, "Why is the sky blue?", options=GREEDY)
    assert chat.message.content == gen.response
    assert chat.prompt_eval_count == gen.prompt_eval_count


def test_empty_messages_load_the_model(client: Client) -> None:
    r = client.chat(MODEL, [])
    assert r.done
    assert r.done_reason == "load"
    assert r.message.content == ""


def test_closing_a_chat_stream_stops_generation(client: Client, server: OllamaServer) -> None:
    stream = client.chat(MODEL, [{"role": "user", "content": "Tell me a long story."}],
                         options={"temperature": 0, "num_predict": 2000}, stream=True)
    for _ in range(2):
        next(stream)
    stream.close()
    record = wait_for_generation_stop(server, "/api/chat", timeout=30)
    assert record.disconnected
    assert record.tokens < 60
