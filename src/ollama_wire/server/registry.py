"""The model registry: local models, uploaded blobs, and what is loaded until when."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field, replace

from ollama_wire.server._wire import FOREVER_NS, ModelName, parse_name
from ollama_wire.server.engine import LoadInfo, ModelCard

__all__ = ["Layer", "LoadedModel", "ModelEntry", "Registry"]


@dataclass(frozen=True)
class Layer:
    """One manifest layer."""

    media_type: str
    digest: str
    size: int


@dataclass
class ModelEntry:
    """A local model: its name, card, layers and manifest digest (hex, no prefix)."""

    name: ModelName
    card: ModelCard
    layers: list[Layer]
    modified_ns: int = field(default_factory=time.time_ns)

    @property
    def digest(self) -> str:
        """Return the manifest's sha256 hex digest."""
        manifest = json.dumps([[x.media_type, x.digest, x.size] for x in self.layers])
        return hashlib.sha256(manifest.encode()).hexdigest()

    @property
    def size(self) -> int:
        """Return the total size of the layers in bytes."""
        return sum(x.size for x in self.layers)


@dataclass
class LoadedModel:
    """A model in memory, as ``/api/ps`` shows it."""

    entry: ModelEntry
    info: LoadInfo
    expires_ns: int
    #: The keep-alive its clock restarts with when its last request ends (< 0: forever).
    keep_alive_ns: int = 0
    #: Requests using it now: its keep-alive clock runs only while there are none.
    busy: int = 0

    def restart(self, keep_alive_ns: int) -> None:
        """Start its keep-alive clock now, with ``keep_alive_ns`` (< 0: forever)."""
        self.expires_ns = _until(keep_alive_ns)
        self.keep_alive_ns = keep_alive_ns

    def idle_expired(self, now: int) -> bool:
        """Tell whether it is unused and its keep-alive ran out."""
        return self.busy == 0 and self.expires_ns <= now


def layers_for(name: str, card: ModelCard) -> list[Layer]:
    """Return deterministic manifest layers for a model named ``name``."""

    def digest(kind: str, text: str) -> str:
        return "sha256:" + hashlib.sha256(f"{kind}\0{text}".encode()).hexdigest()

    model_digest = f"sha256:{card.digest}" if card.digest else digest("model", name)
    layers = [Layer("application/vnd.ollama.image.model", model_digest, card.size)]
    params = json.dumps(card.parameters, sort_keys=True) if card.parameters else ""
    texts = (("template", card.template), ("system", card.system), ("license", card.license),
             ("params", params))
    for kind, text in texts:
        if text:
            layers.append(Layer(f"application/vnd.ollama.image.{kind}", digest(kind, text),
                                len(text)))
    return layers


class Registry:
    """Thread-safe store of models, blobs and loaded-model lifetimes."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._models: dict[str, ModelEntry] = {}
        self._blobs: dict[str, bytes] = {}
        self._loaded: dict[str, LoadedModel] = {}

    # models

    def get(self, raw: str) -> ModelEntry | None:
        """Return the model named ``raw`` (any spelling), or None."""
        name = parse_name(raw)
        if name is None:
            return None
        with self._lock:
            return self._models.get(name.key)

    def add(self, raw: str, card: ModelCard, layers: list[Layer] | None = None) -> ModelEntry:
        """Add or replace the model named ``raw``; raise ValueError if the name is invalid.

        A model replaced keeps its name as first spelled (Ollama matches names in any case
        and writes to the manifest that exists).
        """
        name = parse_name(raw)
        if name is None:
            raise ValueError(f"invalid model name: {raw!r}")
        with self._lock:
            old = self._models.get(name.key)
            if old is not None:
                name = old.name
                self._loaded.pop(name.key, None)
            entry = ModelEntry(
                name, card, layers if layers is not None else layers_for(name.full, card)
            )
            self._models[name.key] = entry
        return entry

    def remove(self, raw: str) -> ModelEntry | None:
        """Remove the model named ``raw`` and return it (None if absent)."""
        name = parse_name(raw)
        if name is None:
            return None
        with self._lock:
            self._loaded.pop(name.key, None)
            return self._models.pop(name.key, None)

    def models(self) -> list[ModelEntry]:
        """Return the local models, most recently modified first."""
        with self._lock:
            return sorted(self._models.values(), key=lambda e: e.modified_ns, reverse=True)

    # blobs

    def has_layer(self, digest: str) -> bool:
        """Tell whether a layer ``sha256:<hex>`` is on disk: a model's, or an uploaded blob."""
        with self._lock:
            return digest in self._blobs or any(
                x.digest == digest for e in self._models.values() for x in e.layers
            )

    def has_blob(self, digest: str) -> bool:
        """Tell whether a blob ``sha256:<hex>`` exists."""
        with self._lock:
            return digest in self._blobs

    def add_blob(self, digest: str, data: bytes) -> bool:
        """Store a blob; return True if it was new."""
        with self._lock:
            fresh = digest not in self._blobs
            self._blobs[digest] = data
            return fresh

    def blob(self, digest: str) -> bytes | None:
        """Return a blob's bytes, or None."""
        with self._lock:
            return self._blobs.get(digest)

    # loaded models

    def mark_loaded(self, entry: ModelEntry, info: LoadInfo, keep_alive_ns: int) -> None:
        """Record that ``entry`` is loaded until ``keep_alive_ns`` from now (< 0: forever)."""
        with self._lock:
            self._loaded[entry.name.key] = LoadedModel(
                entry, info, _until(keep_alive_ns), keep_alive_ns)

    def touch(self, entry: ModelEntry, keep_alive_ns: int) -> None:
        """Restart ``entry``'s keep-alive clock if it is loaded."""
        with self._lock:
            loaded = self._loaded.get(entry.name.key)
            if loaded is not None:
                loaded.restart(keep_alive_ns)

    def update_info(self, entry: ModelEntry, info: LoadInfo) -> None:
        """Replace the sizes ``/api/ps`` shows for ``entry`` if it is loaded."""
        with self._lock:
            loaded = self._loaded.get(entry.name.key)
            if loaded is not None:
                loaded.info = info

    def begin(self, entry: ModelEntry) -> None:
        """Count a request that uses ``entry``: it is not unloaded until the request ends."""
        with self._lock:
            loaded = self._loaded.get(entry.name.key)
            if loaded is not None:
                loaded.busy += 1

    def end(self, entry: ModelEntry, keep_alive_ns: int) -> bool:
        """End a request on ``entry``: its keep-alive clock starts now, as Ollama's does.

        Return whether no other request uses it.
        """
        with self._lock:
            loaded = self._loaded.get(entry.name.key)
            if loaded is None:
                return True
            loaded.busy = max(0, loaded.busy - 1)
            loaded.restart(keep_alive_ns)
            return loaded.busy == 0

    def loaded(self, entry: ModelEntry) -> LoadedModel | None:
        """Return ``entry``'s loaded state if it is loaded and not expired."""
        with self._lock:
            loaded = self._loaded.get(entry.name.key)
            if loaded is None or loaded.idle_expired(time.time_ns()):
                return None
            return loaded

    def unload(self, entry: ModelEntry) -> None:
        """Forget that ``entry`` is loaded."""
        with self._lock:
            self._loaded.pop(entry.name.key, None)

    def expired(self) -> list[ModelEntry]:
        """Remove and return the unused models whose keep-alive has run out."""
        now = time.time_ns()
        with self._lock:
            gone = [k for k, v in self._loaded.items() if v.idle_expired(now)]
            return [self._loaded.pop(k).entry for k in gone]

    def running(self) -> list[LoadedModel]:
        """Return the loaded models, longest remaining lifetime first.

        A model in use expires no sooner than its keep-alive after now: its clock starts
        when its requests end.
        """
        with self._lock:
            now = time.time_ns()
            alive = [
                replace(v, expires_ns=max(v.expires_ns, _until(v.keep_alive_ns, now)))
                if v.busy else v
                for v in self._loaded.values() if not v.idle_expired(now)
            ]
        return sorted(alive, key=lambda v: v.expires_ns, reverse=True)


def _until(keep_alive_ns: int, now: int | None = None) -> int:
    """Return when a keep-alive that starts now runs out (< 0: forever)."""
    now = time.time_ns() if now is None else now
    return now + FOREVER_NS if keep_alive_ns < 0 else now + keep_alive_ns
