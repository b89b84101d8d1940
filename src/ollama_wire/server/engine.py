"""The engine interface: what the server asks of a model backend.

The server owns HTTP, validation, the model registry, ``keep_alive`` and ``/api/ps``
bookkeeping, per-model queueing, ``stream: false`` aggregation, fault injection and the
request log. An engine only has to:

- ``describe(name)``: say what a model pulled under ``name`` looks like (a `ModelCard`), or
  ``None`` when no such model exists (the server then fails the pull like Ollama's unknown
  manifest);
- ``load(card, options)`` / ``unload(card)``: bring a model into memory and drop it; ``load``
  returns a `LoadInfo` with the sizes ``/api/ps`` reports;
- ``generate(request)``: return a generator that yields `Piece` objects as tokens are produced
  and *returns* a `GenerationResult` (``return result`` inside a generator function). The
  server calls ``close()`` on the generator when the client disconnects or the server shuts
  down, which raises ``GeneratorExit`` at the current ``yield``: put clean-up in ``finally``.
  Between tokens an engine may also poll ``request.cancelled`` (a ``threading.Event``), which
  the server sets at the same moments;
- ``embed(card, texts, options, truncate)``: return raw (unnormalised) vectors; the server
  normalises them for ``/api/embed`` and applies ``dimensions``.

Two methods are optional (the server looks for them): ``render(request)`` returns the prompt
text the engine would give the model, which ``_debug_render_only`` shows (else the server
shows a plain ``<|role|>`` rendering); ``loaded_info(model)`` returns the model's sizes as
loaded now, or None, which ``/api/ps`` shows after each request (a request may reload the
model for another ``num_ctx``, or add an embedding context). ``load`` is called for every
request: it must be quick when nothing changed.

Calls for one model never overlap (the server queues them), but calls for different models
can run at the same time on different threads. An engine raises `EngineError` with an HTTP
status and Ollama's message for failures the client should see (for example 400
``the input length exceeds the context length``).

``request.options`` holds the model's parameters overlaid with the request's ``options``,
already type-checked (ints are ints, ``stop`` is a list of strings). ``request.think`` is
``None`` for a model without the thinking capability or when thinking is off, else ``True`` or
a level string. ``request.format`` is ``None``, ``"json"`` or a JSON-Schema dict.

The server picks an engine by name: ``OllamaServer(engine="scripted")`` (the default) or
``engine="llama"``, which imports ``ollama_wire.server.llama`` lazily and builds
``LlamaEngine(**engine_options)``; any object implementing `Engine` can also be passed.

A tool call is ``{"id": "call_xxxxxxxx", "function": {"index": 0, "name": ..., "arguments":
{...}}}``. Yield it in a `Piece` to place it on a ``done: false`` chunk, or put it in
`GenerationResult.tool_calls` to deliver it on the final chunk (llama-server's placement).
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = [
    "EmbedResult",
    "Engine",
    "EngineError",
    "Generation",
    "GenerationRequest",
    "GenerationResult",
    "LoadInfo",
    "ModelCard",
    "Piece",
]


class EngineError(Exception):
    """A failure reported to the client as ``{"error": message}`` with ``status``."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class ModelCard:
    """What the registry knows about a model: ``/api/tags``, ``/api/show`` and ``/api/ps`` facts.

    ``capabilities`` uses Ollama's words: ``completion``, ``tools``, ``thinking``, ``embedding``,
    ``vision``, ``insert``. ``size`` is the size on disk in bytes.
    """

    family: str = "llama"
    families: tuple[str, ...] = ("llama",)
    format: str = "gguf"
    parameter_size: str = "3.2B"
    quantization_level: str = "Q4_K_M"
    capabilities: tuple[str, ...] = ("completion", "tools")
    context_length: int = 4096
    embedding_length: int = 3072
    size: int = 2_019_393_189
    template: str = "{{ .Prompt }}"
    system: str = ""
    license: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    messages: tuple[dict[str, Any], ...] = ()
    model_info: dict[str, Any] = field(default_factory=dict)
    parent_model: str = ""
    # sha256 hex of the model file when the engine knows it (the llama engine does); the
    # registry uses it as the model layer's digest instead of a made-up one.
    digest: str = ""

    @property
    def details(self) -> dict[str, Any]:
        """Return Ollama's ``details`` object for this model."""
        return {
            "parent_model": self.parent_model,
            "format": self.format,
            "family": self.family,
            "families": list(self.families),
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization_level,
            "context_length": self.context_length,
            "embedding_length": self.embedding_length,
        }


@dataclass(frozen=True)
class LoadInfo:
    """Sizes of a loaded model, as ``/api/ps`` reports them (bytes, tokens)."""

    size: int
    size_vram: int = 0
    context_length: int = 4096


@dataclass
class GenerationRequest:
    """A validated ``/api/generate`` or ``/api/chat`` request, as an engine sees it."""

    kind: Literal["generate", "chat"]
    model: str
    card: ModelCard
    prompt: str = ""
    suffix: str = ""
    system: str | None = None
    template: str | None = None
    raw: bool = False
    context: list[int] | None = None
    images: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)
    format: str | dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    think: bool | str | None = None
    logprobs: bool = False
    top_logprobs: int = 0
    cancelled: threading.Event = field(default_factory=threading.Event)


@dataclass
class Piece:
    """Output produced since the previous yield: one streamed chunk's worth."""

    content: str = ""
    thinking: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    logprobs: list[dict[str, Any]] = field(default_factory=list)
    tokens: int = 1


@dataclass
class GenerationResult:
    """How a generation ended, with its metrics (durations in nanoseconds)."""

    done_reason: str = "stop"
    prompt_eval_count: int = 0
    prompt_eval_duration: int = 0
    eval_count: int = 0
    eval_duration: int = 0
    context: list[int] | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class EmbedResult:
    """Raw embedding vectors, one per input text, and the tokens they took."""

    vectors: list[list[float]]
    prompt_eval_count: int = 0


Generation = Generator[Piece, None, GenerationResult]


class Engine(Protocol):
    """A model backend the server drives; see the module docstring for the contract."""

    name: str

    def describe(self, name: str) -> ModelCard | None:
        """Return the card of the model pulled as ``name``, or None if it does not exist."""
        ...

    def load(self, model: str, card: ModelCard, options: dict[str, Any]) -> LoadInfo:
        """Load ``model`` into memory (a no-op if it is loaded) and return its sizes."""
        ...

    def unload(self, model: str) -> None:
        """Drop ``model`` from memory (a no-op if it is not loaded)."""
        ...

    def generate(self, request: GenerationRequest) -> Generation:
        """Return a generator of `Piece` that returns a `GenerationResult`."""
        ...

    def embed(
        self, model: str, card: ModelCard, texts: list[str], options: dict[str, Any], truncate: bool
    ) -> EmbedResult:
        """Return one raw vector per text."""
        ...

    def close(self) -> None:
        """Release everything the engine holds; called once when the server stops."""
        ...
