"""Run one parsed command: dispatch, and turn failures into one line and an exit code."""

from __future__ import annotations

import argparse
import importlib
import io
import os
import re
import sys
from collections.abc import Callable

from ollama_wire.cli import EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE
from ollama_wire.cli._context import CommandError, Context, UsageError
from ollama_wire.cli._render import tolerate_encoding

_PULL_HINT = re.compile(r"`ollama pull ([^`]+)`")
_LIST_HINT = "`ollama list`"
_NO_STATUS = " (status code: -1)"
_TLS_HINT = ("To trust the server's certificate, pass --ca-bundle PATH (the certificate or "
             "its CA, as PEM); to skip the check, --no-verify")


def run(parser: argparse.ArgumentParser, args: argparse.Namespace, *, debug: bool) -> int:
    """Run the command `args` names and return its exit code."""
    module_name, _, func_name = str(args.handler).partition(":")
    module = importlib.import_module(f"ollama_wire.cli.{module_name}")
    handler: Callable[[Context], int] = getattr(module, func_name)
    _replace_closed_streams()
    for stream in (sys.stdout, sys.stderr):
        tolerate_encoding(stream)
    ctx = Context(args)
    try:
        try:
            code = handler(ctx)
        finally:
            ctx.close()
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        _finish_line(ctx)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except UsageError as exc:
        prog = f"{parser.prog} {args.command}"
        sys.stderr.write(f"{prog}: error: {exc}\nRun `{prog} --help` for the options.\n")
        return EXIT_USAGE
    except Exception as exc:
        if debug:
            raise
        _report(ctx, exc)
        return EXIT_ERROR


def _replace_closed_streams() -> None:
    # Started with a standard stream closed (`<&-`, `>&-`), Python sets it to None: read it
    # as empty and write it nowhere, as print() does, instead of failing on None.
    if sys.stdin is None:
        sys.stdin = io.StringIO()
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


def describe(exc: BaseException) -> str:
    """Return one line that says what went wrong and, where known, what to do."""
    if isinstance(exc, CommandError):
        return str(exc)
    message = str(exc).strip() or type(exc).__name__
    if _is_library_error(exc) and getattr(exc, "status_code", None) == -1:
        # The SDK's status for an error line inside a stream, which has none of its own.
        message = message.replace(_NO_STATUS, "", 1)
    hint = getattr(exc, "hint", "")
    hint = hint if isinstance(hint, str) else ""
    command_hint = _command_hint(hint)
    if command_hint:
        message = message.replace(hint, "").rstrip(". ")
        hint = command_hint
    if hint and hint not in message:
        message = f"{message.rstrip('.')}. {hint}"
    # The library speaks Python (`timeout=`); here the knob is an option.
    message = message.replace("pass a longer timeout=", "pass a longer --timeout SECONDS")
    # The library's TLS error says what failed; here there are two options that fix it.
    if "certificate verify failed" in message.lower() and _is_library_error(exc):
        message = f"{message.rstrip('.')}. {_TLS_HINT}"
    if _is_library_error(exc) or isinstance(exc, ValueError):
        return message
    if isinstance(exc, FileNotFoundError):
        return f"no such file: {exc.filename}"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.strerror or exc}: {exc.filename}"
    if isinstance(exc, OSError):
        return message
    return f"{type(exc).__name__}: {message} (run with --debug for the traceback)"


def _command_hint(hint: str) -> str:
    """Return the library's hint about a missing model as commands, or '' to keep it.

    The library says what fits the call: pull a model to use it, list the models when one
    to show, copy, delete or unload is missing (its name is probably wrong). It shows
    Python; on the command line, show commands.
    """
    pull = _PULL_HINT.search(hint)
    if pull is not None:
        return f"Pull it first: `ollama-wire pull {pull[1]}` (or `ollama pull {pull[1]}`)"
    if _LIST_HINT in hint:
        return "Run `ollama-wire list` to see the models there are"
    return ""


def _is_library_error(exc: BaseException) -> bool:
    errors = sys.modules.get("ollama_wire._errors")
    root = getattr(errors, "OllamaError", None)
    return isinstance(root, type) and isinstance(exc, root)


def _report(ctx: Context, exc: BaseException) -> None:
    line = " ".join(describe(exc).split("\n"))
    ctx.stderr.write(f"{ctx.err_style('error:', 'bold', 'red')} {line}\n")
    ctx.stderr.flush()


def _finish_line(ctx: Context) -> None:
    # The terminal echoed ^C mid-line; end it so the shell prompt starts clean (unless the
    # command's own output ended it while stopping: then a newline here leaves a blank line).
    if ctx.err_tty and not ctx.line_ended_on_interrupt:
        try:
            ctx.stderr.write("\n")
            ctx.stderr.flush()
        except OSError:
            pass


def _silence_stdout() -> None:
    # Python flushes stdout again at exit; point it at /dev/null so that flush cannot fail.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
