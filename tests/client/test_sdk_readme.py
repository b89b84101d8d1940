"""The official SDK README's examples, run unchanged with ``import ollama_wire as ollama``.

The README's AsyncClient examples are here too, as written: each makes an AsyncClient per
call and never closes it (the end of ``asyncio.run()`` does).
"""

from __future__ import annotations

import asyncio

import pytest

import ollama_wire as ollama
from ollama_wire import ChatResponse, Client, chat
from ollama_wire.server import OllamaServer


@pytest.fixture
def sdk_env(ollama_server: OllamaServer, monkeypatch: pytest.MonkeyPatch) -> OllamaServer:
    """Point the default client at the test server and pull the README's model."""
    monkeypatch.setenv("OLLAMA_HOST", ollama_server.url)
    ollama_server.pull("gemma3")
    return ollama_server


def test_readme_chat(sdk_env: OllamaServer, capsys: pytest.CaptureFixture[str]) -> None:
    response: ChatResponse = chat(model="gemma3", messages=[
        {"role": "user", "content": "Why is the sky blue?"},
    ])
    print(response["message"]["content"])
    print(response.message.content)
    first, second, _ = capsys.readouterr().out.split("\n")
    assert first == second != ""


def test_readme_streaming(sdk_env: OllamaServer, capsys: pytest.CaptureFixture[str]) -> None:
    stream = chat(
        model="gemma3",
        messages=[{"role": "user", "content": "Why is the sky blue?"}],
        stream=True,
    )
    for chunk in stream:
        print(chunk["message"]["content"], end="", flush=True)
    assert capsys.readouterr().out == chat(
        model="gemma3", messages=[{"role": "user", "content": "Why is the sky blue?"}]
    ).message.content


def test_readme_custom_client(sdk_env: OllamaServer) -> None:
    client = Client(host=sdk_env.url, headers={"x-some-header": "some-value"})
    response = client.chat(model="gemma3", messages=[
        {"role": "user", "content": "Why is the sky blue?"},
    ])
    assert response.message.content
    assert sdk_env.requests.last("/api/chat").header("x-some-header") == "some-value"


def test_readme_api(sdk_env: OllamaServer) -> None:
    assert ollama.chat(model="gemma3", messages=[
        {"role": "user", "content": "Why is the sky blue?"}]).message.content
    assert ollama.generate(model="gemma3", prompt="Why is the sky blue?").response
    assert "gemma3:latest" in [m.model for m in ollama.list().models]
    assert ollama.show("gemma3").modelinfo
    assert ollama.create(model="example", from_="gemma3",
                         system="You are Mario from Super Mario Bros.").status == "success"
    assert ollama.copy("gemma3", "user/gemma3").status == "success"
    assert ollama.push("user/gemma3").status == "success"
    assert ollama.delete("gemma3").status == "success"
    assert ollama.pull("gemma3").status == "success"
    assert ollama.embed(model="all-minilm",
                        input="The sky is blue because of rayleigh scattering").embeddings
    batch = ollama.embed(model="all-minilm", input=[
        "The sky is blue because of rayleigh scattering",
        "Grass is green because of chlorophyll",
    ])
    assert len(batch["embeddings"]) == 2
    assert ollama.ps().models


def test_readme_errors(sdk_env: OllamaServer) -> None:
    model = "does-not-yet-exist"
    try:
        ollama.chat(model)
    except ollama.ResponseError as e:
        print("Error:", e.error)
        if e.status_code == 404:
            ollama.pull(model)
    assert ollama.chat(model).done_reason == "load"


def test_module_functions_share_one_default_client(sdk_env: OllamaServer) -> None:
    assert ollama._default_client is None
    ollama.version()
    default = ollama._default_client
    assert default is not None
    assert default.host == sdk_env.url
    ollama.list()
    assert ollama._default_client is default
    assert ollama.chat.__name__ == "chat"
    assert "default client" in (ollama.chat.__doc__ or "")


def test_readme_async_client(sdk_env: OllamaServer, capsys: pytest.CaptureFixture[str]) -> None:
    async def chat() -> None:
        message = {"role": "user", "content": "Why is the sky blue?"}
        response = await ollama.AsyncClient().chat(model="gemma3", messages=[message])
        print(response["message"]["content"])

    asyncio.run(chat())
    assert capsys.readouterr().out == chat_text(sdk_env) + "\n"


def test_readme_async_streaming(sdk_env: OllamaServer,
                                capsys: pytest.CaptureFixture[str]) -> None:
    async def chat() -> None:
        message = {"role": "user", "content": "Why is the sky blue?"}
        async for part in await ollama.AsyncClient().chat(model="gemma3", messages=[message],
                                                          stream=True):
            print(part["message"]["content"], end="", flush=True)

    asyncio.run(chat())
    assert capsys.readouterr().out == chat_text(sdk_env)


def chat_text(server: OllamaServer) -> str:
    """Return the README question's answer, asked with the sync client."""
    with Client(server.url) as c:
        answer = c.chat("gemma3", [{"role": "user", "content": "Why is the sky blue?"}])
    return answer.message.content
