"""The scripted engine: deterministic output derived from the request, at a chosen pace.

- The same request gives the same tokens; ``options.seed`` changes them. Text is words from a
  fixed vocabulary, one word per token. Without ``num_predict`` an answer is 6 to 16 tokens
  ending in ``.`` (``done_reason`` "stop"); with ``num_predict`` it runs into that limit
  ("length"), so a long ``num_predict`` makes a long stream. A ``stop`` string ends it early
  ("stop").
- ``format: "json"`` gives a JSON object; a JSON-Schema ``format`` gives a value valid for it.
- With ``tools`` (and a model that has the ``tools`` capability) the answer is a tool call,
  unless the last message is a tool result; ``tool_placement`` is ``"chunk"`` (a ``done:
  false`` chunk, Ollama's template path) or ``"final"`` (the final chunk, llama-server's path).
- Thinking models think first (``thinking`` pieces) unless ``think`` is off.
- Embeddings are sums of per-word pseudo-random vectors: equal texts give equal vectors and
  texts that share words are closer.
- ``replies`` maps a prompt (or the last user message) to a fixed reply text, for tests that
  want a known answer.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import re
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, Literal

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

__all__ = ["ScriptedEngine", "scripted_card"]

_VOCABULARY = [
    "the",
    "sky",
    "is",
    "blue",
    "because",
    "of",
    "rayleigh",
    "scattering",
    "light",
    "from",
    "sun",
    "hits",
    "air",
    "molecules",
    "and",
    "short",
    "wavelengths",
    "scatter",
    "more",
    "than",
    "long",
    "ones",
    "so",
    "we",
    "see",
    "blue",
    "during",
    "day",
    "while",
    "sunsets",
    "look",
    "red",
    "orange",
    "as",
    "path",
    "through",
    "atmosphere",
    "grows",
    "longer",
    "water",
    "reflects",
    "this",
    "color",
    "too",
    "clouds",
    "stay",
    "white",
    "since",
    "droplets",
    "scatter",
    "all",
    "colors",
    "equally",
    "ocean",
    "waves",
    "carry",
    "energy",
    "across",
    "vast",
    "distances",
    "mountains",
    "rise",
    "slowly",
    "over",
    "millions",
    "of",
    "years",
    "rivers",
    "carve",
    "valleys",
    "stars",
    "burn",
    "hydrogen",
    "into",
    "helium",
    "planets",
    "orbit",
    "in",
    "ellipses",
    "gravity",
    "bends",
    "space",
    "time",
]

_THOUGHTS = [
    "let",
    "me",
    "think",
    "about",
    "this",
    "carefully",
    "first",
    "consider",
    "what",
    "the",
    "user",
    "asks",
    "then",
    "check",
    "the",
    "facts",
    "and",
    "plan",
    "a",
    "short",
    "clear",
    "answer",
]

_WORD = re.compile(r"[a-z0-9]+")


def scripted_card(name: str) -> ModelCard:
    """Return the card a scripted model named ``name`` gets, its capabilities guessed from it."""
    base = name.rsplit("/", 1)[-1].lower()
    family, _, tag = base.partition(":")
    if any(k in family for k in ("embed", "minilm", "bge", "e5-", "gte")):
        return ModelCard(
            family="bert",
            families=("bert",),
            parameter_size="22.6M" if "minilm" in family else "137M",
            quantization_level="F16",
            capabilities=("embedding",),
            context_length=512 if "minilm" in family else 2048,
            embedding_length=384 if "minilm" in family else 768,
            size=45_960_996 if "minilm" in family else 274_302_450,
            template="",
            model_info=_model_info("bert", 512, 384 if "minilm" in family else 768),
        )
    thinking = any(k in family for k in ("qwen3", "deepseek-r1", "think", "gpt-oss", "magistral"))
    caps = ["completion", "tools"]
    if thinking:
        caps.append("thinking")
    if any(k in family for k in ("vision", "llava", "gemma3")):
        caps.append("vision")
    if "coder" in family or "code" in family:
        caps.append("insert")
    fam = re.sub(r"[^a-z]", "", family.split("-")[0].split(".")[0]) or "llama"
    size_label = _size_label(tag)
    digest_seed = int(hashlib.sha256(base.encode()).hexdigest()[:8], 16)
    size = int(_parameters(size_label) * 0.6) + digest_seed % 1_000_000
    return ModelCard(
        family=fam,
        families=(fam,),
        parameter_size=size_label,
        quantization_level="Q4_K_M",
        capabilities=tuple(caps),
        context_length=4096,
        embedding_length=3072,
        size=size,
        template="{{ if .System }}{{ .System }}\n{{ end }}{{ .Prompt }}",
        parameters={"temperature": 0.8, "stop": ["<|eot|>"]},
        model_info=_model_info(fam, 131072, 3072),
    )


def _size_label(tag: str) -> str:
    m = re.match(r"^(\d+(?:\.\d+)?)([bm])", tag)
    if m:
        return f"{float(m.group(1)):.1f}{m.group(2).upper()}"
    return "3.2B"


def _parameters(label: str) -> int:
    unit = 1e9 if label.endswith("B") else 1e6
    return int(float(label[:-1]) * unit)


def _model_info(arch: str, ctx: int, emb: int) -> dict[str, Any]:
    # The vocabulary is there so that ``verbose`` shows: non-verbose show empties the long
    # arrays, as Ollama does.
    tokens = sorted(set(_VOCABULARY) | set(_THOUGHTS))
    return {
        "general.architecture": arch,
        "general.file_type": 15,
        "general.parameter_count": 3_212_749_888,
        "general.quantization_version": 2,
        f"{arch}.context_length": ctx,
        f"{arch}.embedding_length": emb,
        f"{arch}.block_count": 28,
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.token_type": [1] * len(tokens),
        "tokenizer.ggml.tokens": tokens,
    }


def _token_id(word: str) -> int:
    return zlib.crc32(word.encode()) % 128_000 + 1


def _count_tokens(text: str) -> int:
    return max(1, len(text.split()))


@lru_cache(maxsize=4096)
def _word_vector(word: str, dim: int) -> tuple[float, ...]:
    rng = random.Random(zlib.crc32(word.encode()) ^ (dim << 32))
    return tuple(rng.gauss(0.0, 1.0) for _ in range(dim))


class ScriptedEngine:
    """Deterministic engine for tests; see the module docstring.

    ``tokens_per_second`` paces tokens (0 means as fast as possible); ``load_seconds`` is how
    long a first load takes; ``answer_tokens`` fixes the natural length of free-text answers
    (default: 6 to 16 tokens, chosen by the request); ``missing`` names models that cannot be
    pulled (besides names starting with ``missing``).
    """

    name = "scripted"

    def __init__(
        self,
        *,
        tokens_per_second: float = 0.0,
        load_seconds: float = 0.0,
        tool_placement: Literal["chunk", "final"] = "chunk",
        replies: dict[str, str] | None = None,
        answer_tokens: int | None = None,
        missing: tuple[str, ...] = (),
    ) -> None:
        self.tokens_per_second = tokens_per_second
        self.load_seconds = load_seconds
        self.tool_placement: Literal["chunk", "final"] = tool_placement
        self.replies: dict[str, str] = dict(replies or {})
        self.answer_tokens = answer_tokens
        self.missing = {_name_key(m) for m in missing}
        self._loaded: set[str] = set()
        self._lock = threading.Lock()

    def describe(self, name: str) -> ModelCard | None:
        """Return a card for any name, or None for names starting with ``missing``."""
        base = name.rsplit("/", 1)[-1].lower()
        if base.startswith("missing") or _name_key(name) in self.missing:
            return None
        return scripted_card(name)

    def load(self, model: str, card: ModelCard, options: dict[str, Any]) -> LoadInfo:
        """Mark ``model`` loaded, taking ``load_seconds`` the first time."""
        with self._lock:
            fresh = model not in self._loaded
            self._loaded.add(model)
        if fresh and self.load_seconds > 0:
            time.sleep(self.load_seconds)
        ctx = int(options.get("num_ctx", card.context_length))
        return LoadInfo(size=card.size + ctx * 1024, size_vram=0, context_length=ctx)

    def unload(self, model: str) -> None:
        """Mark ``model`` unloaded."""
        with self._lock:
            self._loaded.discard(model)

    def is_loaded(self, model: str) -> bool:
        """Tell whether ``model`` is loaded."""
        with self._lock:
            return model in self._loaded

    def close(self) -> None:
        """Unload everything."""
        with self._lock:
            self._loaded.clear()

    def embed(
        self, model: str, card: ModelCard, texts: list[str], options: dict[str, Any], truncate: bool
    ) -> EmbedResult:
        """Return bag-of-words vectors of the model's width."""
        dim = card.embedding_length
        vectors: list[list[float]] = []
        count = 0
        for text in texts:
            words = _WORD.findall(text.lower()) or ["<empty>"]
            if len(words) > card.context_length:
                if not truncate:
                    raise EngineError("the input length exceeds the context length", 400)
                words = words[: card.context_length]
            count += len(words)
            acc = [0.0] * dim
            for w in words:
                acc = [a + x for a, x in zip(acc, _word_vector(w, dim), strict=True)]
            scale = math.sqrt(len(words))
            vectors.append([x / scale for x in acc])
        return EmbedResult(vectors=vectors, prompt_eval_count=count)

    # generation

    def generate(self, request: GenerationRequest) -> Generation:
        """Produce the scripted answer for ``request`` piece by piece."""
        started = time.perf_counter_ns()
        key = self._key(request)
        rng = random.Random(key)
        prompt_text = self._prompt_text(request)
        prompt_tokens = [_token_id(w) for w in prompt_text.split()] or [1]
        if request.context:
            prompt_tokens = list(request.context) + prompt_tokens
        prompt_done = time.perf_counter_ns()

        opts = request.options
        num_predict = int(opts.get("num_predict", -1))
        stops = [s for s in opts.get("stop", []) if s]
        delay = 1.0 / self.tokens_per_second if self.tokens_per_second > 0 else 0.0

        thinking = self._thinking(request, rng)
        calls = self._tool_calls(request, rng)
        text_tokens = iter(()) if calls else self._answer_tokens(request, rng)
        steps: Iterator[tuple[str, Any]] = itertools.chain(
            (("thinking", t) for t in thinking),
            [("calls", calls)] if calls else [],
            (("content", t) for t in text_tokens),
        )
        lp_rng = random.Random(key ^ 0x5EED)

        produced = 0
        out_text = ""
        done_reason = "stop"
        final_calls: list[dict[str, Any]] = []
        for kind, value in steps:
            if num_predict >= 0 and produced >= num_predict:
                done_reason = "length"
                break
            if delay and request.cancelled.wait(delay):
                break
            if request.cancelled.is_set():
                break
            produced += 1
            if kind == "thinking":
                yield Piece(thinking=value, logprobs=self._logprobs(request, value, lp_rng))
            elif kind == "calls":
                if self.tool_placement == "chunk":
                    yield Piece(tool_calls=value)
                else:
                    final_calls = value
            else:
                hit = _first_stop(out_text + value, stops)
                if hit is not None:
                    rest = (out_text + value)[:hit][len(out_text) :]
                    if rest:
                        out_text += rest
                        yield Piece(content=rest, logprobs=self._logprobs(request, rest, lp_rng))
                    else:
                        produced -= 1
                    break
                out_text += value
                yield Piece(content=value, logprobs=self._logprobs(request, value, lp_rng))
        ended = time.perf_counter_ns()
        context = None
        if request.kind == "generate" and not request.raw:
            context = prompt_tokens + [_token_id(w) for w in out_text.split()]
        return GenerationResult(
            done_reason=done_reason,
            prompt_eval_count=len(prompt_tokens),
            prompt_eval_duration=max(1, prompt_done - started),
            eval_count=produced,
            eval_duration=max(1, ended - prompt_done) if produced else 0,
            context=context,
            tool_calls=final_calls,
        )

    def _key(self, request: GenerationRequest) -> int:
        material = json.dumps(
            [
                request.model,
                request.kind,
                request.prompt,
                request.suffix,
                request.system,
                request.messages,
                request.context,
                request.format,
                [t.get("function", {}).get("name") for t in request.tools],
                request.options.get("seed", -1),
                request.think,
            ],
            sort_keys=True,
            default=str,
        )
        return int.from_bytes(hashlib.sha256(material.encode()).digest()[:8], "big")

    @staticmethod
    def _prompt_text(request: GenerationRequest) -> str:
        if request.kind == "generate":
            parts = [request.system or request.card.system, request.prompt, request.suffix]
        else:
            parts = [str(m.get("content", "")) for m in request.messages]
        return " ".join(p for p in parts if p)

    def _reply_for(self, request: GenerationRequest) -> str | None:
        if request.kind == "generate":
            return self.replies.get(request.prompt)
        users = [m for m in request.messages if m.get("role") == "user"]
        return self.replies.get(str(users[-1].get("content", ""))) if users else None

    def _thinking(self, request: GenerationRequest, rng: random.Random) -> list[str]:
        if request.think is None or request.think is False:
            return []
        n = rng.randint(4, 8)
        words = [rng.choice(_THOUGHTS) for _ in range(n)]
        return [w if i == 0 else " " + w for i, w in enumerate(words)]

    def _answer_tokens(self, request: GenerationRequest, rng: random.Random) -> Iterator[str]:
        fixed = self._reply_for(request)
        if fixed is not None:
            return iter(re.findall(r"\S+\s*|\s+", fixed) or [fixed])
        if request.format is not None:
            value: Any
            if isinstance(request.format, dict):
                value = _value_for_schema(request.format, rng, request.format, 0)
            else:
                value = {"answer": " ".join(rng.choice(_VOCABULARY) for _ in range(3))}
            return iter(_json_tokens(json.dumps(value)))
        n = rng.randint(6, 16)
        limit = int(request.options.get("num_predict", -1))
        if self.answer_tokens is not None:
            n = self.answer_tokens
        elif limit >= 0:
            # A rambling model: it runs into the limit, so a long num_predict gives a long stream.
            n = limit + 1
        return _words(rng, n)

    def _tool_calls(self, request: GenerationRequest, rng: random.Random) -> list[dict[str, Any]]:
        if not request.tools or "tools" not in request.card.capabilities:
            return []
        if request.messages and request.messages[-1].get("role") == "tool":
            return []
        tool = request.tools[rng.randrange(len(request.tools))]
        fn = tool.get("function") or {}
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        args = _value_for_schema(params, rng, params, 0)
        if not isinstance(args, dict):
            args = {}
        call_id = "call_" + "".join(
            rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8)
        )
        return [
            {
                "id": call_id,
                "function": {"index": 0, "name": str(fn.get("name", "")), "arguments": args},
            }
        ]

    @staticmethod
    def _logprobs(
        request: GenerationRequest, token: str, rng: random.Random
    ) -> list[dict[str, Any]]:
        if not request.logprobs:
            return []
        lp = -round(rng.random() * 2, 6)
        entry: dict[str, Any] = {"token": token, "logprob": lp, "bytes": list(token.encode())}
        if request.top_logprobs:
            alts = [{"token": token, "logprob": lp}]
            for i in range(1, request.top_logprobs):
                alts.append({"token": rng.choice(_VOCABULARY), "logprob": lp - i})
            entry["top_logprobs"] = alts
        return [entry]


def _name_key(name: str) -> str:
    parsed = parse_name(name)
    return parsed.key if parsed is not None else name.lower()


def _words(rng: random.Random, n: int) -> Iterator[str]:
    """Yield a sentence of ``n`` tokens: words, then a full stop."""
    for i in range(n - 1):
        word = rng.choice(_VOCABULARY)
        yield word.capitalize() if i == 0 else " " + word
    if n > 0:
        yield "."


def _first_stop(text: str, stops: list[str]) -> int | None:
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(hits) if hits else None


def _json_tokens(text: str) -> list[str]:
    return (
        re.findall(r'"[^"]*"|[^"]', text)
        if len(text) < 64
        else [text[i : i + 4] for i in range(0, len(text), 4)]
    )


def _value_for_schema(schema: Any, rng: random.Random, root: Any, depth: int) -> Any:
    """Return a value valid for ``schema`` (a practical subset of JSON Schema)."""
    if not isinstance(schema, dict) or depth > 6:
        return None
    if "$ref" in schema and isinstance(schema["$ref"], str):
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return _value_for_schema(target, rng, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return rng.choice(schema["enum"])
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            options = [s for s in schema[key] if isinstance(s, dict) and s.get("type") != "null"]
            return _value_for_schema((options or schema[key])[0], rng, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        props = schema.get("properties") or {}
        return {
            str(name): _value_for_schema(sub, rng, root, depth + 1) for name, sub in props.items()
        }
    if kind == "array":
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list):  # a fixed tuple: one value per place
            return [_value_for_schema(sub, rng, root, depth + 1) for sub in prefix]
        lo = int(schema.get("minItems", 1))
        hi = max(lo, min(int(schema.get("maxItems", 3)), lo + 2))
        return [
            _value_for_schema(schema.get("items", {}), rng, root, depth + 1)
            for _ in range(rng.randint(lo, hi))
        ]
    if kind == "integer":
        lo = int(schema.get("minimum", 0))
        hi = int(schema.get("maximum", lo + 100))
        return rng.randint(lo, hi)
    if kind == "number":
        low = float(schema.get("minimum", 0))
        high = float(schema.get("maximum", low + 100))
        return round(rng.uniform(low, high), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    made = _FORMATS.get(str(schema.get("format")))
    if made is not None:
        return made(rng)
    return " ".join(rng.choice(_VOCABULARY) for _ in range(rng.randint(1, 3)))


def _date(rng: random.Random) -> str:
    return f"{rng.randint(2000, 2030):04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _time(rng: random.Random) -> str:
    return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"


#: Strings for the JSON Schema formats a class's schema names (dates, times, UUIDs...).
_FORMATS: dict[str, Any] = {
    "date": _date,
    "time": _time,
    "date-time": lambda rng: f"{_date(rng)}T{_time(rng)}Z",
    "uuid": lambda rng: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    "email": lambda rng: f"{rng.choice(_VOCABULARY)}@example.com",
    "uri": lambda rng: f"https://example.com/{rng.choice(_VOCABULARY)}",
}
