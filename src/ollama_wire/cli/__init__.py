"""The `ollama-wire` command line.

Start-up stays light: this module loads only argparse; each subcommand imports what it needs
when it runs (the client, and so `requests`, only for commands that talk to a server).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ollama_wire._version import __version__

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what `ls | head` reports under pipefail

__all__ = ["build_parser", "main"]


class _CommandParser(argparse.ArgumentParser):
    """A subcommand's parser: options may come anywhere among its positionals.

    Plain argparse stops filling `MODEL [PROMPT ...]` at the first option, so the words after
    it (`generate m --stats hi`) were "unrecognized". Intermixed parsing takes the options
    first, then the positionals; `--` still ends the options.
    """

    _intermixing = False

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        # The intermixed parse calls this again for each of its two passes on some Python
        # versions; those must be plain.
        if self._intermixing:
            return super().parse_known_args(args, namespace)
        words = _bare_think(list(sys.argv[1:] if args is None else args))
        if "--" in words:
            # The options pass may drop a `--` that comes before every positional, and then
            # the positionals pass would take `-x` after it for an option: escape those words.
            cut = words.index("--") + 1
            words[cut:] = [_ESCAPE + word for word in words[cut:]]
        self._intermixing = True
        try:
            parsed, extras = self.parse_known_intermixed_args(
                words, argparse.Namespace() if namespace is None else namespace)
        finally:
            self._intermixing = False
        for name, value in vars(parsed).items():
            if isinstance(value, str):
                setattr(parsed, name, _unescape(value))
            elif isinstance(value, list):
                setattr(parsed, name, [_unescape(v) if isinstance(v, str) else v for v in value])
        return parsed, [_unescape(word) for word in extras]


_ESCAPE = "\0"  # no command-line word can hold a NUL, so no real word starts with one


def _bare_think(words: list[str]) -> list[str]:
    """Read `--think` followed by a word that is no think value as a bare `--think`.

    Its value is optional, so argparse would take the next word for it: in
    `generate m --think "Why is the sky blue?"` the prompt, or the `-` that stands for
    stdin. Only before a `--`.
    """
    from ollama_wire.cli._options import THINK_WORDS

    end = words.index("--") if "--" in words else len(words)
    return [
        "--think=true" if word == "--think" and i + 1 < end
        and words[i + 1].strip().lower() not in THINK_WORDS
        and (words[i + 1] == "-" or not words[i + 1].startswith("-")) else word
        for i, word in enumerate(words)
    ]


def _unescape(word: str) -> str:
    return word[len(_ESCAPE):] if word.startswith(_ESCAPE) else word


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # Subcommands repeat the global options with SUPPRESS defaults, so `list --json` and
    # `--json list` both work and a subcommand never resets what the main parser set.
    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("global options")
    group.add_argument("--host", type=_host, default=default(None), metavar="URL",
                       help="Ollama server (default: $OLLAMA_HOST or http://127.0.0.1:11434)")
    group.add_argument("--timeout", type=_positive_float, default=default(None), metavar="SECONDS",
                       help="connect and read timeout (default: the client's, 5 s and 300 s)")
    group.add_argument("--retries", type=_non_negative_int, default=default(None), metavar="N",
                       help="retries on connection failures and 429/502/503/504 (default: 2)")
    # Not `--insecure`: pull and push have that already, with Ollama's meaning (the registry).
    group.add_argument("--no-verify", action="store_true", default=default(False),
                       help="do not verify the server's TLS certificate (not with --ca-bundle)")
    group.add_argument("--ca-bundle", type=_ca_bundle, default=default(None), metavar="PATH",
                       help="verify the server's TLS certificate against this CA bundle (a PEM "
                            "file, such as a self-signed server's certificate, or a folder)")
    group.add_argument("--trace", action="store_true", default=default(False),
                       help="print the wire trace (requests and response lines) on stderr")
    group.add_argument("--json", action="store_true", default=default(False),
                       help="machine-readable JSON output")
    group.add_argument("--debug", action="store_true", default=default(False),
                       help="show tracebacks")


def _host(text: str) -> str:
    # Checked here so that a bad --host is a usage error (exit 2) like any bad option value.
    from ollama_wire._host import parse_host

    try:
        parse_host(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _ca_bundle(text: str) -> str:
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"no CA bundle at {text!r}: give a PEM file or a folder")
    return text


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--system", metavar="TEXT", help="system prompt")
    parser.add_argument("--format", metavar="json|FILE.json",
                        help="'json', or a JSON schema for the output (a .json file or inline)")
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                        dest="options", help="model option, e.g. -o temperature=0 -o num_ctx=4096")
    parser.add_argument("--think", nargs="?", const="true", metavar="LEVEL",
                        help="think before answering (optionally low|medium|high|max, or false)")
    parser.add_argument("--keep-alive", metavar="DURATION",
                        help="how long the model stays loaded: 5m, 1h, 0 (unload), -1 (forever)")
    parser.add_argument("--no-stream", dest="stream", action="store_false",
                        help="wait for the whole answer instead of streaming it")
    parser.add_argument("--stats", action="store_true",
                        help="print token counts and tokens/s on stderr")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser (no command runs)."""
    parser = argparse.ArgumentParser(
        prog="ollama-wire", formatter_class=_Formatter,
        description="The Ollama REST API from the terminal: generate, chat, embed, manage "
                    "models, check a setup end to end, or serve the project's own server.",
        epilog="Run `ollama-wire COMMAND --help` for a command's options.")
    parser.add_argument("--version", action="version", version=f"ollama-wire {__version__}")
    _global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands",
                                     parser_class=_CommandParser)

    def command(name: str, handler: str, help_text: str,
                aliases: Sequence[str] = ()) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text,
                                  aliases=list(aliases), formatter_class=_Formatter)
        sub.set_defaults(handler=handler)
        _global_options(sub, suppress=True)
        return sub

    p = command("generate", "_generate:run_generate", "Generate a completion for a prompt.",
                aliases=["gen"])
    p.add_argument("model", metavar="MODEL")
    p.add_argument("prompt", nargs="*", default=[], metavar="PROMPT",
                   help="the prompt (default: read stdin); a `-` word is replaced by stdin")
    _model_options(p)
    p.add_argument("--image", action="append", default=[], metavar="PATH",
                   help="attach an image (repeatable)")
    p.add_argument("--raw", action="store_true", help="send the prompt without the template")

    p = command("chat", "_chat:run_chat", "Chat with a model: an interactive REPL on a terminal, "
                "one turn per input line otherwise.")
    p.add_argument("model", metavar="MODEL")
    _model_options(p)
    p.add_argument("-m", "--message", action="append", default=[], metavar="TEXT",
                   help="send this user turn and exit (repeatable: one turn each)")
    p.add_argument("--image", action="append", default=[], metavar="PATH",
                   help="attach an image to the first turn (repeatable)")
    p.add_argument("--load", metavar="FILE", help="start from the messages in a JSON file")
    p.add_argument("--history-file", metavar="FILE",
                   help="readline history (default: ~/.local/state/ollama-wire/chat_history)")

    p = command("embed", "_embed:run_embed", "Embed texts (arguments, or one per stdin line).")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("texts", nargs="*", default=[], metavar="TEXT")
    p.add_argument("--dimensions", type=_non_negative_int, metavar="N",
                   help="truncate the vectors to N dimensions (models that support it)")
    p.add_argument("--no-truncate", dest="truncate", action="store_false", default=None,
                   help="fail on inputs longer than the context instead of truncating them")
    p.add_argument("--keep-alive", metavar="DURATION", help="how long the model stays loaded")
    p.add_argument("--full", action="store_true", help="print every value of each vector")

    command("list", "_models:run_list", "List local models.", aliases=["ls"])
    command("ps", "_models:run_ps", "List models loaded in memory.")

    p = command("show", "_models:run_show", "Show a model's details.")
    p.add_argument("model", metavar="MODEL")
    part = p.add_mutually_exclusive_group()
    for flag, what in (("modelfile", "the Modelfile"), ("parameters", "the parameters"),
                       ("template", "the prompt template"), ("system", "the system prompt"),
                       ("license", "the license")):
        part.add_argument(f"--{flag}", dest="part", action="store_const", const=flag,
                          help=f"print only {what}")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="include the full model metadata (long arrays too)")

    for name, verb in (("pull", "Pull"), ("push", "Push")):
        p = command(name, f"_models:run_{name}", f"{verb} a model with per-layer progress.")
        p.add_argument("model", metavar="MODEL")
        p.add_argument("--insecure", action="store_true",
                       help="allow an http or unverified registry (the server's own TLS: "
                            "--no-verify)")

    p = command("create", "_models:run_create",
                "Create a model from a Modelfile or from options.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("-f", "--file", metavar="MODELFILE", help="read FROM, PARAMETER, SYSTEM, "
                   "TEMPLATE, MESSAGE, LICENSE, ADAPTER from a Modelfile")
    p.add_argument("--from", dest="from_", metavar="MODEL", help="base model")
    p.add_argument("--system", metavar="TEXT", help="system prompt")
    p.add_argument("--template", metavar="TEXT", help="prompt template")
    p.add_argument("--license", metavar="TEXT", help="license text")
    p.add_argument("-p", "--parameter", action="append", default=[], metavar="KEY=VALUE",
                   dest="parameters", help="a model parameter (repeatable)")
    p.add_argument("-q", "--quantize", metavar="TYPE", help="quantize, e.g. q4_K_M")

    p = command("cp", "_models:run_cp", "Copy a model.", aliases=["copy"])
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("destination", metavar="DESTINATION")

    p = command("rm", "_models:run_rm", "Delete models.", aliases=["delete"])
    p.add_argument("models", nargs="+", metavar="MODEL")

    p = command("stop", "_models:run_stop", "Unload models from memory.")
    p.add_argument("models", nargs="+", metavar="MODEL")

    command("version", "_models:run_version", "Print the client and server versions.")

    p = command("verify", "_verify:run_verify",
                "Check a setup end to end: generate, stream, a two-turn chat, embed.")
    p.add_argument("--model", metavar="MODEL",
                   help="model for the text checks (default: gemma3:270m; the scripted "
                        "engine's own model when it is the one serving)")
    p.add_argument("--embed-model", metavar="MODEL",
                   help="model for the embed check (default: the --model on the project's "
                        "server, all-minilm on Ollama)")
    p.add_argument("--auto-serve", action="store_true",
                   help="if nothing answers at the host, start the project's server for the "
                        "checks and stop it afterwards")

    p = commands.add_parser(
        "serve", help="Run the project's Ollama-compatible server.", add_help=False,
        description="Run the project's server; options are the server's own (serve --help).")
    p.set_defaults(handler="_serve:run_serve")
    return parser


_VALUED_GLOBALS = frozenset({"--host", "--timeout", "--retries", "--ca-bundle"})


def _split_serve(argv: list[str]) -> tuple[list[str], list[str]]:
    """Split off the words after `serve`: they belong to the server's own parser."""
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--":
            break
        if word.startswith("-"):
            index += 2 if word in _VALUED_GLOBALS else 1
            continue
        if word == "serve":
            return argv[: index + 1], argv[index + 1 :]
        break
    return argv, []


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    words, server_args = _split_serve(words)
    args = parser.parse_args(words)
    args.server_args = server_args
    if getattr(args, "no_verify", False) and getattr(args, "ca_bundle", None):
        parser.error("--no-verify and --ca-bundle exclude each other: --no-verify turns off "
                     "the certificate check that --ca-bundle sets up")
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    debug = bool(args.debug) or bool(os.environ.get("OLLAMA_WIRE_DEBUG"))
    from ollama_wire.cli._run import run

    return run(parser, args, debug=debug)
