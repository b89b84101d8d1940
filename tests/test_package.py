"""The public surface: one sorted ``__all__``, SDK names, and a cheap, side-effect-free import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import ollama_wire

#: The official SDK's ``__all__`` (0.6.3 adds ``systemone`` and its 12 ``SystemOne*`` types,
#: for a ``/v1/systemone`` that Ollama's API does not have; they are left out).
SDK_EXPORTS = [
    "AsyncClient", "ChatResponse", "Client", "EmbedResponse", "EmbeddingsResponse",
    "GenerateResponse", "Image", "ListResponse", "Message", "Options", "ProcessResponse",
    "ProgressResponse", "RequestError", "ResponseError", "ShowResponse", "StatusResponse", "Tool",
    "WebFetchResponse", "WebSearchResponse",
]
SDK_FUNCTIONS = [
    "chat", "copy", "create", "delete", "embed", "embeddings", "generate", "list", "ps",
    "pull", "push", "show", "web_fetch", "web_search",
]


def test_version_is_a_string() -> None:
    assert isinstance(ollama_wire.__version__, str)
    assert ollama_wire.__version__.count(".") >= 2


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert ollama_wire.__all__ == sorted(ollama_wire.__all__)
    assert len(set(ollama_wire.__all__)) == len(ollama_wire.__all__)
    for name in ollama_wire.__all__:
        assert getattr(ollama_wire, name) is not None, name
    assert set(dir(ollama_wire)) >= set(ollama_wire.__all__)


def test_the_sdk_names_exist() -> None:
    for name in SDK_EXPORTS + SDK_FUNCTIONS:
        assert name in ollama_wire.__all__, name
    assert issubclass(ollama_wire.RequestError, ValueError)
    for name in SDK_FUNCTIONS:
        assert callable(getattr(ollama_wire, name))


def test_unknown_attribute() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        ollama_wire.no_such_name  # type: ignore[attr-defined]  # noqa: B018


def test_import_is_cheap_and_makes_no_client() -> None:
    code = (
        "import json, sys, socket\n"
        "made = []\n"
        "real = socket.socket.connect\n"
        "socket.socket.connect = lambda *a: made.append(a) or real(*a)\n"
        "import ollama_wire\n"
        "from ollama_wire import chat, generate, ResponseError\n"
        "print(json.dumps({\n"
        "  'requests': 'requests' in sys.modules, 'httpx': 'httpx' in sys.modules,\n"
        "  'urllib3': 'urllib3' in sys.modules, 'typing': 'typing' in sys.modules,\n"
        "  'client': ollama_wire._default_client is not None, 'connects': len(made)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"OLLAMA_HOST": "http://u:p@h:1"})
    assert json.loads(out.stdout) == {
        "requests": False, "httpx": False, "urllib3": False, "typing": False,
        "client": False, "connects": 0,
    }


def test_a_bad_proxy_environment_does_not_break_import() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import ollama_wire; print('ok')"], capture_output=True,
        text=True, check=True, env={"HTTP_PROXY": "socks5h://nowhere:1", "OLLAMA_HOST": "::::"},
    )
    assert out.stdout.strip() == "ok"
