"""`ollama-wire` end to end: subprocesses against the project's server on loopback."""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import COMMAND, TIMEOUT, InProcess, Run, Terminal

from ollama_wire import Client, NotFoundError
from ollama_wire.server import OllamaServer
from ollama_wire.testing import CHAT_MODEL, EMBED_MODEL, THINKING_MODEL, wait_for_generation_stop


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def assert_one_error_line(stderr: str, *parts: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr
    for part in parts:
        assert part in lines[0]


# start-up and usage


def test_help_imports_neither_requests_nor_httpx(env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "ollama_wire", "--help"],
                            capture_output=True, text=True, env=env, timeout=TIMEOUT)
    assert result.returncode == 0
    for command in ("generate", "chat", "embed", "pull", "verify", "serve"):
        assert command in result.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "ollama_wire.cli" in imported
    assert not {"requests", "httpx", "urllib3"} & imported


def test_version_flag(env: dict[str, str]) -> None:
    import ollama_wire

    result = subprocess.run([*COMMAND, "--version"], capture_output=True, text=True, env=env,
                            timeout=TIMEOUT)
    assert (result.returncode, result.stdout) == (0, f"ollama-wire {ollama_wire.__version__}\n")


def test_a_usage_error_exits_2_with_the_usage(run: Run) -> None:
    result = run("generate")
    assert result.returncode == 2
    assert "usage: ollama-wire generate" in result.stderr
    assert "the following arguments are required: MODEL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [(["generate", "m", "hi", "--think=maybe"], "--think takes true, false or one of"),
     (["generate", "m", "hi", "-o", "temperature"], "-o must look like KEY=VALUE"),
     (["generate", "m", "hi", "--keep-alive", "300x"], "--keep-alive takes seconds"),
     (["generate", "m", "hi", "--image", "/no/such.png"], "no such image file"),
     (["chat", "m", "--format", "{broken"], "not valid JSON"),
     (["embed", "m", "--dimensions", "-1"], "must be >= 0"),
     (["--timeout", "0", "list"], "must be > 0"),
     (["--host", "ftp://x", "list"], "argument --host: Invalid Ollama host 'ftp://x'"),
     (["list", "--host", "http://[::1"], "argument --host: Invalid Ollama host"),
     (["show", "m", "--parameters", "--template"], "not allowed with argument"),
     ([], "usage: ollama-wire")],
)
def test_usage_errors_exit_2(cli: InProcess, args: list[str], message: str) -> None:
    code, out, err = cli(*args)
    assert code == 2
    assert message in err
    assert out == ""


# generate


def test_generate_streams_the_same_text_the_library_gets(run: Run, ollama_url: str) -> None:
    result = run("generate", CHAT_MODEL, "Why", "is", "the", "sky", "blue?", "--stats")
    assert result.returncode == 0, result.stderr
    expected = Client(ollama_url).generate(CHAT_MODEL, "Why is the sky blue?").response
    assert expected
    assert result.stdout == expected + "\n"
    for label in ("prompt eval count:", "eval count:", "eval rate:", "total duration:"):
        assert label in result.stderr


def test_options_between_model_and_prompt(run: Run, ollama_server: OllamaServer) -> None:
    result = run("generate", CHAT_MODEL, "--stats", "Why is the sky blue?")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "eval count:" in result.stderr
    assert ollama_server.requests.last("/api/generate").body["prompt"] == "Why is the sky blue?"
    result = run("embed", EMBED_MODEL, "--dimensions", "3", "cat", "kitten")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"model: {EMBED_MODEL}   inputs: 2   dimensions: 3\n")
    assert ollama_server.requests.last("/api/embed").body["input"] == ["cat", "kitten"]


def test_options_among_the_words_with_stdin(cli: InProcess,
                                            ollama_server: OllamaServer) -> None:
    code, _, err = cli("generate", CHAT_MODEL, "-o", "num_predict=3", "Summarize:", "--stats",
                       "-", input="some text\n")
    assert code == 0, err
    body = ollama_server.requests.last("/api/generate").body
    assert (body["prompt"], body["options"]) == ("Summarize: some text", {"num_predict": 3})
    code, _, err = cli("generate", CHAT_MODEL, "--stats", input="all of stdin\n")
    assert code == 0, err
    assert ollama_server.requests.last("/api/generate").body["prompt"] == "all of stdin\n"
    code, _, err = cli("generate", CHAT_MODEL, "--stats", "--", "-5 degrees", "--raw")
    assert code == 0, err
    body = ollama_server.requests.last("/api/generate").body
    assert (body["prompt"], body.get("raw")) == ("-5 degrees --raw", None)
    code, _, err = cli("generate", THINKING_MODEL, "--think", "-", input="Why?\n")
    assert code == 0, err
    body = ollama_server.requests.last("/api/generate").body
    assert (body["prompt"], body["think"]) == ("Why?", True)
    code, out, err = cli("embed", "--dimensions", "3", EMBED_MODEL, "--full", input="a\nb\n")
    assert code == 0, err
    assert ollama_server.requests.last("/api/embed").body["input"] == ["a", "b"]
    assert "inputs: 2   dimensions: 3" in out


@pytest.mark.parametrize(
    ("args", "closed", "code", "message"),
    [(["generate", CHAT_MODEL], 0, 2, "the prompt is empty"),
     (["embed", EMBED_MODEL], 0, 2, "no text to embed on stdin"),
     (["chat", CHAT_MODEL], 0, 0, ""),
     (["generate", CHAT_MODEL, "hi"], 1, 0, "")],
)
def test_a_closed_standard_stream_reads_empty_and_writes_nowhere(
        ollama_url: str, env: dict[str, str], args: list[str], closed: int, code: int,
        message: str) -> None:
    # As `<&-` and `>&-` start it: Python sets sys.stdin or sys.stdout to None.
    script = (f"import os, sys; os.close({closed}); "
              f"os.execv(sys.executable, {[*COMMAND, '--host', ollama_url, *args]!r})")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, timeout=TIMEOUT)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Error" not in result.stderr


def test_generate_json_no_stream_from_stdin(run: Run, ollama_server: OllamaServer) -> None:
    result = run("--json", "generate", CHAT_MODEL, "--no-stream", "--format", "json",
                 input="Describe a cat as JSON\n")
    assert result.returncode == 0, result.stderr
    (response,) = json_lines(result.stdout)
    assert response["done"] is True
    assert isinstance(json.loads(str(response["response"])), dict)
    body = ollama_server.requests.last("/api/generate").body
    assert body["stream"] is False
    assert body["prompt"] == "Describe a cat as JSON\n"
    assert body["format"] == "json"


def test_generate_sends_every_option(run: Run, ollama_server: OllamaServer,
                                     tmp_path: Path) -> None:
    image = tmp_path / "pixel.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"n": {"type": "integer"}},
                                  "required": ["n"]}))
    ollama_server.pull("gemma3")  # a vision model: it takes images
    result = run("--json", "generate", "gemma3", "Summarize:", "-", "--system", "Be terse.",
                 "-o", "temperature=0", "-o", "stop=END", "-o", "num_ctx=2048",
                 "--keep-alive", "90", "--image", str(image), "--format", str(schema),
                 input="some text\n")
    assert result.returncode == 0, result.stderr
    body = ollama_server.requests.last("/api/generate").body
    assert body["prompt"] == "Summarize: some text"
    assert body["system"] == "Be terse."
    assert body["options"] == {"temperature": 0, "stop": ["END"], "num_ctx": 2048}
    assert body["keep_alive"] == 90
    assert body["format"]["required"] == ["n"]
    assert len(body["images"]) == 1
    (response,) = json_lines(result.stdout)
    assert isinstance(json.loads(str(response["response"]))["n"], int)


def test_generate_thinking_goes_to_stderr_when_piped(run: Run, cli: InProcess) -> None:
    result = run("generate", THINKING_MODEL, "Why is the sky blue?", "--think")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert result.stderr.strip(), "the thinking text goes to stderr"
    assert result.stderr.strip() not in result.stdout
    code, out, _ = cli("--json", "generate", THINKING_MODEL, "Why is the sky blue?", "--think")
    assert code == 0
    (response,) = json_lines(out)
    assert response["thinking"] == result.stderr.strip()
    assert response["response"] == result.stdout.strip()


def test_missing_model_is_one_line_with_the_fix(run: Run, cli: InProcess) -> None:
    result = run("generate", "missing-model", "hi")
    assert result.returncode == 1
    assert result.stdout == ""
    assert_one_error_line(result.stderr, "model 'missing-model' not found",
                          "`ollama-wire pull missing-model`")
    with pytest.raises(NotFoundError, match="missing-model"):
        cli("--debug", "generate", "missing-model", "hi")


def test_no_server_is_one_line_with_a_hint(run: Run) -> None:
    result = run("--retries", "0", "list", host=f"127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert_one_error_line(result.stderr, "Could not connect", "is it running?")


def test_a_read_timeout_names_the_option(run: Run, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(path="/api/generate", delay_headers=1)
    result = run("--timeout", "0.2", "generate", CHAT_MODEL, "hi")
    assert result.returncode == 1
    assert_one_error_line(result.stderr, "read timeout", "--timeout SECONDS")


def test_a_stream_error_keeps_the_text_received(run: Run, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(path="/api/generate", error_after=3, error="the GPU caught fire")
    result = run("generate", CHAT_MODEL, "Why is the sky blue?")
    assert result.returncode == 1
    assert len(result.stdout.split()) == 3
    assert result.stdout.endswith("\n")
    assert_one_error_line(result.stderr, "the GPU caught fire")
    assert "status code" not in result.stderr  # a stream's error line has none


def test_ctrl_c_closes_the_stream_and_exits_130(
        ollama_server_factory: object, env: dict[str, str]) -> None:
    server = ollama_server_factory(  # type: ignore[operator]
        engine_options={"tokens_per_second": 100, "replies": {"story": "word " * 1000}})
    proc = subprocess.Popen([*COMMAND, "--host", server.url, "generate", CHAT_MODEL, "story"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert proc.stdout.read(5) == b"word "  # the stream is flowing
    proc.send_signal(2)
    assert proc.wait(TIMEOUT) == 130
    assert b"Traceback" not in proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    record = wait_for_generation_stop(server, "/api/generate")
    assert record.disconnected
    assert 0 < record.tokens < 1000


@pytest.mark.parametrize("stream", [True, False])
def test_ctrl_c_on_a_terminal_ends_the_line_once(
        ollama_server_factory: object, terminal: object, stream: bool) -> None:
    server = ollama_server_factory(  # type: ignore[operator]
        engine_options={"tokens_per_second": 100, "replies": {"story": "word " * 1000}})
    term: Terminal = terminal(  # type: ignore[operator]
        "--host", server.url, "generate", CHAT_MODEL, "story", *([] if stream else ["--no-stream"]))
    if stream:
        term.expect("word word ")
    else:
        server.requests.wait_for(lambda r: r.path == "/api/generate", finished=False)
    term.interrupt()
    assert term.wait() == 130
    # The reply's own line end, or the one after a ^C with nothing else on screen: not both.
    assert term.output.endswith("word \r\n" if stream else "\r\n")
    assert not term.output.endswith("\r\n\r\n")


def test_a_closed_stdout_pipe_exits_quietly(
        ollama_server_factory: object, env: dict[str, str]) -> None:
    server = ollama_server_factory(  # type: ignore[operator]
        engine_options={"tokens_per_second": 200, "replies": {"story": "word " * 1000}})
    proc = subprocess.Popen([*COMMAND, "--host", server.url, "generate", CHAT_MODEL, "story"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert proc.stdout.read(5) == b"word "
    proc.stdout.close()  # what `| head -c 5` does
    assert proc.wait(TIMEOUT) == 141
    assert proc.stderr.read() == b""
    proc.stderr.close()
    record = wait_for_generation_stop(server, "/api/generate")
    assert record.disconnected


# chat


def test_chat_message_turns_carry_the_conversation(run: Run,
                                                   ollama_server: OllamaServer) -> None:
    result = run("--json", "chat", CHAT_MODEL, "--system", "Be brief.",
                 "-m", "My name is Ada.", "-m", "What is my name?")
    assert result.returncode == 0, result.stderr
    first, second = json_lines(result.stdout)
    assert first["done"] is True
    assert second["done"] is True
    body = ollama_server.requests.last("/api/chat").body
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert body["messages"][1]["content"] == "My name is Ada."
    assert body["messages"][2]["content"] == first["message"]["content"]  # type: ignore[index]


def test_chat_reads_one_turn_per_stdin_line(run: Run, ollama_server: OllamaServer,
                                            tmp_path: Path) -> None:
    history = tmp_path / "history.json"
    history.write_text(json.dumps({"messages": [{"role": "user", "content": "Earlier"},
                                                {"role": "assistant", "content": "Noted."}]}))
    result = run("chat", CHAT_MODEL, "--load", str(history), "--no-stream",
                 input="Hello there\n\nHow are you?\n")
    assert result.returncode == 0, result.stderr
    chats = ollama_server.requests.matching("/api/chat")
    assert [len(r.body["messages"]) for r in chats] == [3, 5]
    assert [r.body["stream"] for r in chats] == [False, False]
    assert chats[0].body["messages"][0] == {"role": "user", "content": "Earlier"}
    replies = result.stdout.splitlines()
    assert len(replies) == 2
    assert chats[1].body["messages"][3]["content"] == replies[0]


def test_chat_rejects_a_file_that_is_not_messages(cli: InProcess, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"content": "no role"}]))
    code, _, err = cli("chat", CHAT_MODEL, "--load", str(bad), "-m", "hi")
    assert code == 1
    assert_one_error_line(err, "must hold a JSON list of messages")


def test_chat_repl_on_a_terminal(ollama_server: OllamaServer,
                                 terminal: object, tmp_path: Path) -> None:
    saved = tmp_path / "talk.json"
    term: Terminal = terminal("--host", ollama_server.url, "chat", CHAT_MODEL)  # type: ignore[operator]
    term.expect("Chatting with llama3.2")
    term.expect(">>> ")
    term.send("Hello there\r")
    term.expect(r"\.\r\n>>> ")  # the scripted answer ends with a full stop
    term.send('"""first line\r')
    term.expect(r"\.\.\. ")
    term.send('second line"""\r')
    term.expect(r"\.\r\n>>> ")
    term.send("/system Be brief.\r")
    term.expect("Set the system prompt.")
    term.send(f"/save {saved}\r")
    term.expect("Saved 5 messages")
    term.send("/clear\r")
    term.expect("Cleared")
    term.send("/nope\r")
    term.expect("Unknown command '/nope'")
    term.send(f"/load {saved}\r")
    term.expect("Loaded 5 messages")
    term.send("/bye\r")
    assert term.wait() == 0
    messages = json.loads(saved.read_text())
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert messages[1] == {"role": "user", "content": "Hello there"}
    assert messages[3] == {"role": "user", "content": "first line\nsecond line"}
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant"]
    assert (tmp_path / "state" / "ollama-wire" / "chat_history").read_text().count("\n") >= 5
    body = ollama_server.requests.last("/api/chat").body
    assert body["messages"][-1]["content"] == "first line\nsecond line"


def test_ctrl_c_in_the_repl_stops_the_reply_not_the_chat(
        ollama_server_factory: object, terminal: object) -> None:
    server = ollama_server_factory(  # type: ignore[operator]
        engine_options={"tokens_per_second": 100, "replies": {"story": "word " * 1000}})
    term: Terminal = terminal("--host", server.url, "chat", CHAT_MODEL)  # type: ignore[operator]
    term.expect(">>> ")
    term.send("story\r")
    term.expect("word word ")
    term.interrupt()
    term.expect(r"\(stopped\)")
    assert "word \r\n\x1b[2m(stopped)" in term.output
    term.expect(">>> ")
    record = wait_for_generation_stop(server, "/api/chat")
    assert record.disconnected
    # Before the reply starts, "(stopped)" goes on a line of its own, away from the ^C.
    server.faults.add(path="/api/chat", delay_headers=5)
    term.send("story\r")
    server.requests.wait_for(lambda r: r.path == "/api/chat", count=2, finished=False)
    term.interrupt()
    assert term.expect(r"\(stopped\)").endswith("story\r\n\r\n\x1b[2m(stopped)")
    term.expect(">>> ")
    term.send("\x04")  # Ctrl-D at the prompt ends the chat
    assert term.wait() == 0


# embed


def test_embed_json_one_object_per_input(run: Run, ollama_url: str) -> None:
    result = run("--json", "embed", EMBED_MODEL, "hello", "good bye")
    assert result.returncode == 0, result.stderr
    objects = json_lines(result.stdout)
    expected = Client(ollama_url).embed(EMBED_MODEL, ["hello", "good bye"]).embeddings
    assert [o["input"] for o in objects] == ["hello", "good bye"]
    assert [o["embedding"] for o in objects] == [list(v) for v in expected]
    for obj in objects:
        vector = obj["embedding"]
        assert isinstance(vector, list)
        assert obj["dimensions"] == len(vector) > 0
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1, abs_tol=1e-6)


def test_embed_reads_stdin_lines(cli: InProcess, ollama_server: OllamaServer) -> None:
    code, out, err = cli("embed", EMBED_MODEL, input="first text\n\nsecond text\n")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"model: {EMBED_MODEL}   inputs: 2   dimensions: ")
    assert "'first text'  norm 1.0000" in lines
    assert "'second text'  norm 1.0000" in lines
    assert ollama_server.requests.last("/api/embed").body["input"] == ["first text",
                                                                       "second text"]


def test_embed_full_vectors_with_fewer_dimensions(cli: InProcess) -> None:
    code, out, err = cli("embed", EMBED_MODEL, "hello", "--dimensions", "8", "--full")
    assert code == 0, err
    header, text, vector = out.splitlines()
    assert header == f"model: {EMBED_MODEL}   inputs: 1   dimensions: 8"
    assert text == "'hello'  norm 1.0000"
    values = [float(x) for x in vector.strip().strip("[]").split(", ")]
    assert len(values) == 8
    assert math.isclose(math.sqrt(sum(x * x for x in values)), 1, abs_tol=1e-4)


def test_thinking_on_a_terminal_is_marked_and_dim(ollama_server: OllamaServer,
                                                  terminal: object) -> None:
    term: Terminal = terminal(  # type: ignore[operator]
        "--host", ollama_server.url, "generate", THINKING_MODEL, "Why is the sky blue?",
        "--think")
    assert term.wait() == 0
    answer = Client(ollama_server.url).generate(THINKING_MODEL, "Why is the sky blue?",
                                                think=True)
    out = term.output
    assert out.startswith("\x1b[2mThinking...\x1b[0m\r\n")
    assert "\x1b[2m\r\n...done thinking.\x1b[0m\r\n\r\n" in out
    assert out.endswith(answer.response + "\r\n")
    assert answer.thinking.split()[0] in out


def test_an_ascii_locale_replaces_what_it_cannot_show(
        ollama_server_factory: object, env: dict[str, str]) -> None:
    # PYTHONIOENCODING stands in for a locale without UTF-8 (LC_ALL=C with PYTHONUTF8=0).
    server = ollama_server_factory(  # type: ignore[operator]
        engine_options={"replies": {"coffee": "Un café ☕ s'il vous plaît."}})
    ascii_env = {**env, "PYTHONIOENCODING": "ascii"}

    def run_ascii(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*COMMAND, "--host", server.url, *args], capture_output=True,
                              stdin=subprocess.DEVNULL, env=ascii_env, timeout=TIMEOUT,
                              encoding="ascii")

    result = run_ascii("generate", CHAT_MODEL, "coffee")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "Un caf? ? s'il vous pla?t.\n"
    result = run_ascii("--json", "generate", CHAT_MODEL, "coffee")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["response"] == "Un café ☕ s'il vous plaît."
    result = run_ascii("embed", EMBED_MODEL, "x" * 80)
    assert result.returncode == 0, result.stderr
    assert f"'{'x' * 57}...'  norm 1.0000\n" in result.stdout
