"""Request and response value types: dict-backed, attribute and item access, unknown fields kept.

Every object wraps the JSON dict it was built from; nested objects are wrapped when they are
read, so building one per streamed chunk costs one allocation. ``to_dict()`` returns plain JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar, TypeVar

__all__ = [
    "ChatResponse",
    "EmbedResponse",
    "EmbeddingsResponse",
    "GenerateResponse",
    "Image",
    "ListResponse",
    "Logprob",
    "Message",
    "ModelDetails",
    "Options",
    "ProcessResponse",
    "ProgressResponse",
    "ShowResponse",
    "StatusResponse",
    "SubscriptableBaseModel",
    "TokenLogprob",
    "Tool",
    "VersionResponse",
    "parse_datetime",
]

_T = TypeVar("_T", bound="SubscriptableBaseModel")
_Wrap = Callable[[Any], Any]
_MISSING = object()

_DATETIME = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)?$", re.IGNORECASE
)


def parse_datetime(value: Any) -> Any:
    """Parse an RFC 3339 timestamp with 0 to 9 fractional digits; leave anything else as is."""
    if not isinstance(value, str):
        return value
    match = _DATETIME.match(value)
    if match is None:
        return value
    stamp, fraction, zone = match.groups()
    result = datetime.fromisoformat(stamp)
    if fraction:
        result = result.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    if zone:
        if zone.upper() == "Z":
            result = result.replace(tzinfo=timezone.utc)
        else:
            sign = 1 if zone[0] == "+" else -1
            offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
            result = result.replace(tzinfo=timezone(sign * offset))
    return result


def _to_json(value: Any) -> Any:
    if isinstance(value, SubscriptableBaseModel):
        return _to_json(value._data)
    if isinstance(value, Mapping):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _each(wrap: _Wrap) -> _Wrap:
    def wrap_list(value: Any) -> Any:
        return [wrap(v) for v in value] if isinstance(value, list) else value

    return wrap_list


class _Field:
    """A declared field: reads the JSON key, wrapping nested objects; absent reads as None."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def __get__(self, obj: Any, owner: Any) -> Any:
        if obj is None:
            return self
        value = obj._data.get(self.key)
        if value is None:
            return None
        wrap = owner._nested.get(self.key)
        return value if wrap is None else wrap(value)


class SubscriptableBaseModel:
    """A JSON object with attribute access, item access, ``get``, ``in`` and ``to_dict``.

    Fields the class does not know are kept and readable both ways; a known field that is
    absent reads as ``None`` (``r.thinking``) but ``r["thinking"]`` raises ``KeyError``.
    """

    __slots__ = ("_data",)
    _data: dict[str, Any]

    #: Nested fields wrapped on access: name -> wrapper.
    _nested: ClassVar[dict[str, _Wrap]] = {}
    #: Attribute names that differ from the JSON key: attribute -> key.
    _aliases: ClassVar[dict[str, str]] = {}
    _known: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        known: set[str] = set()
        for klass in cls.__mro__:
            for name, annotation in vars(klass).get("__annotations__", {}).items():
                if not name.startswith("_") and not str(annotation).startswith("ClassVar"):
                    known.add(name)
                    if klass is cls and name not in vars(cls):
                        setattr(cls, name, _Field(cls._aliases.get(name, name)))
        cls._known = frozenset(known)

    def __init__(self, data: Mapping[str, Any] | None = None, /, **fields: Any) -> None:
        merged: dict[str, Any] = dict(data) if data is not None else {}
        for name, value in fields.items():
            if value is not None:
                merged[self._aliases.get(name, name)] = value
        object.__setattr__(self, "_data", merged)

    @classmethod
    def _wrap(cls: type[_T], data: dict[str, Any]) -> _T:
        """Wrap a decoded JSON dict without copying it (the per-chunk hot path)."""
        obj = _new(cls)
        _set_data(obj, data)
        return obj

    @classmethod
    def _coerce(cls, value: Any) -> Any:
        if type(value) is dict:
            obj = _new(cls)
            _set_data(obj, value)
            return obj
        return value

    def __getattr__(self, name: str) -> Any:
        if name == "_data" or name.startswith("__"):
            raise AttributeError(name)
        key = self._aliases.get(name, name)
        value = self._data.get(key, _MISSING)
        if value is _MISSING:
            if name in self._known or key in self._known:
                return None
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        wrap = self._nested.get(key)
        return wrap(value) if wrap is not None else value

    def __setattr__(self, name: str, value: Any) -> None:
        self._data[self._aliases.get(name, name)] = value

    def __delattr__(self, name: str) -> None:
        self._data.pop(self._aliases.get(name, name), None)

    def __getitem__(self, key: str) -> Any:
        key = self._aliases.get(key, key)
        value = self._data[key]
        wrap = self._nested.get(key)
        return wrap(value) if wrap is not None else value

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[self._aliases.get(key, key)] = value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and bool(self._aliases.get(key, key) in self._data)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        """Yield ``(key, value)`` pairs, as pydantic models do."""
        for key in self._data:
            yield key, self[key]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SubscriptableBaseModel):
            return type(self) is type(other) and self.to_dict() == other.to_dict()
        if isinstance(other, Mapping):
            return bool(self.to_dict() == _to_json(other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like dict

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={_short(v)}" for k, v in self._data.items())
        return f"{type(self).__name__}({parts})"

    def __getstate__(self) -> dict[str, Any]:
        return self._data

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "_data", state)

    def get(self, key: str, default: Any = None) -> Any:
        """Return the field's value, or ``default`` when it is absent."""
        return self[key] if key in self else default  # noqa: SIM401

    def to_dict(self) -> dict[str, Any]:
        """Return a deep copy as plain JSON-compatible data."""
        result: dict[str, Any] = _to_json(self._data)
        return result

    def model_dump(self, **_: Any) -> dict[str, Any]:
        """Return ``to_dict()``; for code written for the official SDK's pydantic models."""
        return self.to_dict()

    def model_dump_json(self, **_: Any) -> str:
        """Return the object as a JSON string."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def model_validate(cls: type[_T], data: Mapping[str, Any]) -> _T:
        """Build from a mapping (pydantic-compatible spelling)."""
        return cls(data)


_new = object.__new__
_set_data = SubscriptableBaseModel.__dict__["_data"].__set__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:70]}...({len(text)} chars)"


# Requests ------------------------------------------------------------------------------------


class Image(SubscriptableBaseModel):
    """An image given as a path, raw bytes or a base64 string."""

    __slots__ = ()
    value: str | bytes | Path

    def __init__(self, value: str | bytes | Path | None = None, /, **fields: Any) -> None:
        if value is not None:
            fields["value"] = value
        super().__init__(**fields)


class Options(SubscriptableBaseModel):
    """Model options; keys Ollama does not know are passed through unchanged."""

    __slots__ = ()
    # Load time.
    numa: bool | None
    num_ctx: int | None
    num_batch: int | None
    num_gpu: int | None
    main_gpu: int | None
    low_vram: bool | None
    f16_kv: bool | None
    logits_all: bool | None
    vocab_only: bool | None
    use_mmap: bool | None
    use_mlock: bool | None
    embedding_only: bool | None
    num_thread: int | None
    draft_num_predict: int | None
    # Runtime.
    num_keep: int | None
    seed: int | None
    num_predict: int | None
    top_k: int | None
    top_p: float | None
    min_p: float | None
    tfs_z: float | None
    typical_p: float | None
    repeat_last_n: int | None
    temperature: float | None
    repeat_penalty: float | None
    presence_penalty: float | None
    frequency_penalty: float | None
    mirostat: int | None
    mirostat_tau: float | None
    mirostat_eta: float | None
    penalize_newline: bool | None
    stop: Sequence[str] | None


class Tool(SubscriptableBaseModel):
    """A tool the model may call (a JSON-Schema function description)."""

    __slots__ = ()

    class Function(SubscriptableBaseModel):
        """The function part of a tool."""

        __slots__ = ()

        class Parameters(SubscriptableBaseModel):
            """The JSON-Schema object describing the arguments."""

            __slots__ = ()

            class Property(SubscriptableBaseModel):
                """One argument."""

                __slots__ = ()
                type: str | Sequence[str] | None
                items: Any | None
                description: str | None
                enum: Sequence[Any] | None

            type: str | None
            defs: Any | None
            items: Any | None
            required: Sequence[str] | None
            properties: Mapping[str, Tool.Function.Parameters.Property] | None
            _aliases: ClassVar[dict[str, str]] = {"defs": "$defs"}

        name: str | None
        description: str | None
        parameters: Tool.Function.Parameters | None

    type: str | None
    function: Tool.Function | None

    def __init__(self, data: Mapping[str, Any] | None = None, /, **fields: Any) -> None:
        super().__init__(data, **fields)
        self._data.setdefault("type", "function")


Tool.Function.Parameters._nested = {
    "properties": lambda v: (
        {k: Tool.Function.Parameters.Property._coerce(p) for k, p in v.items()}
        if isinstance(v, dict)
        else v
    )
}
Tool.Function._nested = {"parameters": Tool.Function.Parameters._coerce}
Tool._nested = {"function": Tool.Function._coerce}


class Message(SubscriptableBaseModel):
    """A chat message; ``role`` is any string (system, user, assistant, tool)."""

    __slots__ = ()

    class ToolCall(SubscriptableBaseModel):
        """A tool call the model made."""

        __slots__ = ()

        class Function(SubscriptableBaseModel):
            """The called function and its arguments (a JSON object)."""

            __slots__ = ()
            name: str
            arguments: Mapping[str, Any]
            index: int | None

        id: str | None
        function: Message.ToolCall.Function

    role: str
    content: str | None
    thinking: str | None
    images: Sequence[Image | str | bytes] | None
    tool_name: str | None
    tool_call_id: str | None
    tool_calls: Sequence[Message.ToolCall] | None


Message.ToolCall._nested = {"function": Message.ToolCall.Function._coerce}
Message._nested = {"tool_calls": _each(Message.ToolCall._coerce)}


# Responses -----------------------------------------------------------------------------------


class TokenLogprob(SubscriptableBaseModel):
    """A token and its log probability."""

    __slots__ = ()
    token: str
    logprob: float
    bytes: Sequence[int] | None


class Logprob(TokenLogprob):
    """A token's log probability and its most likely alternatives."""

    __slots__ = ()
    top_logprobs: Sequence[TokenLogprob] | None


Logprob._nested = {"top_logprobs": _each(TokenLogprob._coerce)}

_NS = 1e9


class BaseGenerateResponse(SubscriptableBaseModel):
    """Fields shared by generate, chat and embed responses, with metric helpers."""

    __slots__ = ()
    model: str | None
    created_at: str | None
    done: bool | None
    done_reason: str | None
    total_duration: int | None
    load_duration: int | None
    prompt_eval_count: int | None
    prompt_eval_duration: int | None
    eval_count: int | None
    eval_duration: int | None

    def _seconds(self, key: str) -> float | None:
        value = self._data.get(key)
        return value / _NS if isinstance(value, (int, float)) else None

    def _rate(self, count: str, duration: str) -> float | None:
        tokens, nanos = self._data.get(count), self._data.get(duration)
        if isinstance(tokens, (int, float)) and isinstance(nanos, (int, float)) and nanos > 0:
            return tokens * _NS / nanos
        return None

    @property
    def total_seconds(self) -> float | None:
        """Return ``total_duration`` in seconds."""
        return self._seconds("total_duration")

    @property
    def load_seconds(self) -> float | None:
        """Return ``load_duration`` in seconds."""
        return self._seconds("load_duration")

    @property
    def prompt_eval_seconds(self) -> float | None:
        """Return ``prompt_eval_duration`` in seconds."""
        return self._seconds("prompt_eval_duration")

    @property
    def eval_seconds(self) -> float | None:
        """Return ``eval_duration`` in seconds."""
        return self._seconds("eval_duration")

    @property
    def prompt_tokens_per_second(self) -> float | None:
        """Return the prompt evaluation speed, or None before the final chunk."""
        return self._rate("prompt_eval_count", "prompt_eval_duration")

    @property
    def tokens_per_second(self) -> float | None:
        """Return the generation speed, or None before the final chunk."""
        return self._rate("eval_count", "eval_duration")


def _parse_structured(cls: type[Any], text: str | None) -> Any:
    from ollama_wire import _tools

    return _tools.parse_structured(cls, text or "")


class GenerateResponse(BaseGenerateResponse):
    """A /api/generate response or chunk."""

    __slots__ = ()
    response: str | None
    thinking: str | None
    context: Sequence[int] | None
    logprobs: Sequence[Logprob] | None
    tool_calls: Sequence[Message.ToolCall] | None
    image: str | None
    completed: int | None
    total: int | None

    def parse(self, cls: type[Any]) -> Any:
        """Parse ``response`` as structured output into ``cls``."""
        return _parse_structured(cls, self.response)


class ChatResponse(BaseGenerateResponse):
    """A /api/chat response or chunk."""

    __slots__ = ()
    message: Message
    logprobs: Sequence[Logprob] | None

    def parse(self, cls: type[Any]) -> Any:
        """Parse ``message.content`` as structured output into ``cls``."""
        message = self._data.get("message")
        return _parse_structured(cls, message.get("content") if isinstance(message, dict) else None)


_logprobs = _each(Logprob._coerce)
GenerateResponse._nested = {"logprobs": _logprobs, "tool_calls": _each(Message.ToolCall._coerce)}
ChatResponse._nested = {"message": Message._coerce, "logprobs": _logprobs}


class EmbedResponse(BaseGenerateResponse):
    """A /api/embed response."""

    __slots__ = ()
    embeddings: Sequence[Sequence[float]]


class EmbeddingsResponse(SubscriptableBaseModel):
    """A legacy /api/embeddings response."""

    __slots__ = ()
    embedding: Sequence[float]


class StatusResponse(SubscriptableBaseModel):
    """A status-only response (``status='success'`` for copy and delete)."""

    __slots__ = ()
    status: str | None


class ProgressResponse(StatusResponse):
    """A pull, push or create progress chunk."""

    __slots__ = ()
    completed: int | None
    total: int | None
    digest: str | None


class ModelDetails(SubscriptableBaseModel):
    """A model's family, format, size and quantization."""

    __slots__ = ()
    parent_model: str | None
    format: str | None
    family: str | None
    families: Sequence[str] | None
    parameter_size: str | None
    quantization_level: str | None


class ListResponse(SubscriptableBaseModel):
    """The local models (/api/tags)."""

    __slots__ = ()

    class Model(SubscriptableBaseModel):
        """A local model; ``name`` is kept."""

        __slots__ = ()
        name: str | None
        model: str | None
        modified_at: datetime | None
        digest: str | None
        size: int | None
        details: ModelDetails | None

    models: Sequence[ListResponse.Model]


class ProcessResponse(SubscriptableBaseModel):
    """The loaded models (/api/ps)."""

    __slots__ = ()

    class Model(SubscriptableBaseModel):
        """A loaded model."""

        __slots__ = ()
        name: str | None
        model: str | None
        digest: str | None
        expires_at: datetime | None
        size: int | None
        size_vram: int | None
        details: ModelDetails | None
        context_length: int | None

    models: Sequence[ProcessResponse.Model]


_model_fields: dict[str, _Wrap] = {"details": ModelDetails._coerce, "modified_at": parse_datetime,
                 "expires_at": parse_datetime}
ListResponse.Model._nested = _model_fields
ProcessResponse.Model._nested = _model_fields
ListResponse._nested = {"models": _each(ListResponse.Model._coerce)}
ProcessResponse._nested = {"models": _each(ProcessResponse.Model._coerce)}


class ShowResponse(SubscriptableBaseModel):
    """A model's details (/api/show); ``modelinfo`` reads ``model_info`` as in the SDK."""

    __slots__ = ()
    modified_at: datetime | None
    template: str | None
    modelfile: str | None
    license: str | None
    system: str | None
    details: ModelDetails | None
    modelinfo: Mapping[str, Any] | None
    projector_info: Mapping[str, Any] | None
    parameters: str | None
    capabilities: Sequence[str] | None
    messages: Sequence[Message] | None
    tensors: Sequence[Mapping[str, Any]] | None
    _aliases: ClassVar[dict[str, str]] = {"modelinfo": "model_info"}


_show_fields: dict[str, _Wrap] = {
    "details": ModelDetails._coerce,
    "modified_at": parse_datetime,
    "messages": _each(Message._coerce),
}
ShowResponse._nested = _show_fields


class VersionResponse(SubscriptableBaseModel):
    """The server version (/api/version)."""

    __slots__ = ()
    version: str | None


# Image encoding --------------------------------------------------------------------------------

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")


def encode_image(image: Any) -> str:
    """Return an image as standard base64, or raise ``ValueError`` saying why it is bad."""
    if isinstance(image, Image):
        image = image._data.get("value")
    if isinstance(image, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(image)).decode("ascii")
    if isinstance(image, Path):
        try:
            return base64.b64encode(image.read_bytes()).decode("ascii")
        except OSError as exc:
            raise ValueError(f"cannot read image file {str(image)!r}: {exc.strerror}") from None
    if not isinstance(image, str):
        raise ValueError(
            f"an image must be a path, bytes or a base64 string, not {type(image).__name__}"
        )
    text = image.strip()
    if text.startswith("data:"):
        _, comma, text = text.partition(",")
        if not comma:
            raise ValueError("a data: URL image has no ',' before its data")
    elif len(text) < 4096:
        path = Path(text)
        try:
            if path.is_file():
                return base64.b64encode(path.read_bytes()).decode("ascii")
        except OSError:
            pass
        if text.lower().endswith(_IMAGE_SUFFIXES):
            raise ValueError(f"image file {text!r} does not exist")
    compact = "".join(text.split())
    try:
        base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        shown = compact if len(compact) <= 40 else compact[:40] + "..."
        raise ValueError(
            f"image {shown!r} is neither an existing file nor valid base64"
        ) from None
    return compact
