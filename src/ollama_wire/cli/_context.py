"""What every command gets: parsed options, output streams, styles and a lazily made client."""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING, Any

from ollama_wire.cli._render import Style, color_enabled, dump_json, is_tty

if TYPE_CHECKING:
    from ollama_wire import Client


class UsageError(Exception):
    """Bad command-line input found after parsing; exits 2."""


class CommandError(Exception):
    """A failure the command explains itself; exits 1 with this one line."""


class Context:
    """Options, streams and the client for one run of the command."""

    def __init__(self, args: argparse.Namespace, stdout: IO[str] | None = None,
                 stderr: IO[str] | None = None, stdin: IO[str] | None = None) -> None:
        self.args = args
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.stdin = stdin or sys.stdin
        self.json: bool = bool(getattr(args, "json", False))
        self.out_tty = is_tty(self.stdout)
        self.err_tty = is_tty(self.stderr)
        self.style = Style(color_enabled(self.stdout))
        self.err_style = Style(color_enabled(self.stderr))
        self._client: Client | None = None
        self.line_ended_on_interrupt = False

    @property
    def host(self) -> str | None:
        """Return the `--host` value, or None to let the client read OLLAMA_HOST."""
        host = getattr(self.args, "host", None)
        return str(host) if host else None

    @property
    def verify(self) -> bool | str:
        """Return the client's ``verify=``: False for `--no-verify`, the `--ca-bundle` path."""
        if getattr(self.args, "no_verify", False):
            return False
        bundle = getattr(self.args, "ca_bundle", None)
        return str(bundle) if bundle else True

    def client(self) -> Client:
        """Return the client for this run, made on first use (that is when requests loads)."""
        if self._client is None:
            self._client = self.make_client(self.host)
        return self._client

    def make_client(self, host: str | None) -> Client:
        """Make a client for `host` with this run's timeout, retries, TLS and trace."""
        from ollama_wire import Client

        kwargs: dict[str, Any] = {"verify": self.verify}
        if getattr(self.args, "timeout", None) is not None:
            kwargs["timeout"] = self.args.timeout
        if getattr(self.args, "retries", None) is not None:
            kwargs["max_retries"] = self.args.retries
        if getattr(self.args, "trace", False):
            _trace_to_stderr(self.stderr)
            kwargs["trace"] = True  # else None: OLLAMA_WIRE_TRACE decides
        return Client(host, **kwargs)

    def close(self) -> None:
        """Close the client if one was made."""
        if self._client is not None:
            close = getattr(self._client, "close", None)
            if callable(close):
                close()
            self._client = None

    def emit_json(self, value: Any) -> None:
        """Write one JSON document on stdout."""
        dump_json(value, self.stdout)

    def ended_line(self, stream: IO[str]) -> None:
        """Note that a line on `stream` just ended; Ctrl-C then needs no newline of its own."""
        if isinstance(sys.exc_info()[1], KeyboardInterrupt) and is_tty(stream):
            self.line_ended_on_interrupt = True

    def note(self, text: str) -> None:
        """Write an informational line on stderr (never mixed into stdout)."""
        self.stderr.write(self.err_style(text, "dim") + "\n")
        self.stderr.flush()


def _trace_to_stderr(stream: IO[str]) -> None:
    # On the package logger, so that retries show along with the wire trace.
    import logging

    logger = logging.getLogger("ollama_wire")
    if not any(getattr(h, "_ollama_wire_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._ollama_wire_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
