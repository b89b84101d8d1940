"""An Ollama-compatible server with a scripted engine, for tests and offline use.

Start it one of three ways:

- ``python -m ollama_wire.server --host 127.0.0.1 --port 11434`` (or ``ollama-wire-server``);
  ``--engine llama`` for the llama.cpp engine, ``--model NAME`` (repeatable) to start with
  models pulled (default: none, like a fresh Ollama), ``--token-rate`` to pace tokens;
- ``with OllamaServer(models=["llama3.2"]) as server: server.url`` (free loopback port);
- the ``ollama_server`` pytest fixture from `ollama_wire.testing`.

Any well-formed name can be pulled; names whose model part starts with ``missing`` fail like
an unknown manifest. The scripted engine guesses capabilities from the name: ``*embed*``,
``*minilm*``, ``bge*`` are embedding models; ``qwen3``, ``deepseek-r1``, ``gpt-oss``, ``*think*``
think; ``*coder*`` supports ``suffix``; ``llava``, ``gemma3``, ``*vision*`` accept images.

Faults (see `ollama_wire.server.faults`): ``server.faults.add(model=..., status=503, times=2)``
in-process, the ``X-Ollama-Wire-Fault`` request header or ``POST /_wire/faults`` from outside.
Requests are recorded in ``server.requests`` (also ``GET /_wire/requests``).

Like Ollama it queues requests per model (``num_parallel`` at a time, 503 ``server busy`` past
``max_queue`` waiting), answers CORS for local origins (more with ``origins=``), stops a
generation as soon as its client goes, and serves ``/``, ``/api/version``, ``/api/tags``,
``/api/show``, ``/api/ps``, ``/api/generate``, ``/api/chat``, ``/api/embed``,
``/api/embeddings``, ``/api/pull``, ``/api/push``, ``/api/create``, ``/api/copy``,
``DELETE /api/delete`` and ``HEAD``/``POST /api/blobs/:digest``.

It binds loopback unless told otherwise (and warns when told), answers 413 to bodies past
``max_body`` (64 MiB; blobs ``max_blob_size``, 1 GiB) and 503 to connections past
``max_connections`` (512), and closes connections silent for ``idle_timeout`` (300 s).
"""

from __future__ import annotations

from ollama_wire.server.app import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_BLOB_SIZE,
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_VERSION,
    QUEUE_FULL,
    TOO_MANY_CONNECTIONS,
    OllamaServer,
    PublicBindWarning,
    make_engine,
)
from ollama_wire.server.engine import (
    EmbedResult,
    Engine,
    EngineError,
    Generation,
    GenerationRequest,
    GenerationResult,
    LoadInfo,
    ModelCard,
    Piece,
)
from ollama_wire.server.faults import Fault, Faults
from ollama_wire.server.log import RequestLog, RequestRecord
from ollama_wire.server.scripted import ScriptedEngine

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_MAX_BLOB_SIZE",
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_VERSION",
    "QUEUE_FULL",
    "TOO_MANY_CONNECTIONS",
    "EmbedResult",
    "Engine",
    "EngineError",
    "Fault",
    "Faults",
    "Generation",
    "GenerationRequest",
    "GenerationResult",
    "LoadInfo",
    "ModelCard",
    "OllamaServer",
    "Piece",
    "PublicBindWarning",
    "RequestLog",
    "RequestRecord",
    "ScriptedEngine",
    "make_engine",
]
