"""`ollama-wire verify` and `ollama-wire serve`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest
from cli_helpers import COMMAND, TIMEOUT, InProcess, Run

from ollama_wire import Client
from ollama_wire.server import OllamaServer
from ollama_wire.testing import CHAT_MODEL, EMBED_MODEL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rows(stdout: str) -> dict[str, list[str]]:
    header, *lines = stdout.splitlines()
    assert header.split() == ["CHECK", "RESULT", "TIME", "TOKENS/S", "DETAIL"]
    table = {}
    for line in lines:
        if not line.strip():
            break
        name, result, *rest = line.split(maxsplit=4)
        table[name] = [result, *rest]
    return table


def test_verify_passes_against_a_server(run: Run, ollama_server: OllamaServer) -> None:
    result = run("verify", "--auto-serve", "--model", CHAT_MODEL, "--embed-model", EMBED_MODEL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""  # a server answered: nothing was started
    table = rows(result.stdout)
    assert list(table) == ["server", "generate", "stream", "chat", "embed"]
    assert all(row[0] == "pass" for row in table.values())
    assert float(table["generate"][2]) > 0  # tokens/s
    assert "chunks" in table["stream"][3]
    assert "turn 2" in table["chat"][3]
    assert table["server"][3].endswith(f"at {ollama_server.url}")
    assert "unit norm" in table["embed"][3]
    assert result.stdout.rstrip().endswith(
        f"all 5 checks passed (model {CHAT_MODEL}, embed model {EMBED_MODEL})")
    chats = ollama_server.requests.matching("/api/chat")
    assert [len(r.body["messages"]) for r in chats] == [1, 3]


def test_verify_json_names_the_fix_for_a_missing_model(cli: InProcess) -> None:
    code, out, _ = cli("--json", "verify", "--model", "missing-llm", "--embed-model", EMBED_MODEL)
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    checks = {c["check"]: c for c in report["checks"]}
    for name in ("generate", "stream", "chat"):
        assert checks[name]["ok"] is False
        assert "`ollama-wire pull missing-llm`" in checks[name]["detail"]
        assert "`ollama pull missing-llm`" in checks[name]["detail"]
    assert checks["server"]["ok"] is True
    assert checks["embed"]["ok"] is True


def test_verify_fails_the_check_that_breaks(cli: InProcess, ollama_server: OllamaServer) -> None:
    ollama_server.faults.add(path="/api/generate", drop_after=2)  # the generate check's request
    ollama_server.faults.add(path="/api/embed", status=500, error="out of memory", times=None)
    code, out, _ = cli("--retries", "0", "verify", "--model", CHAT_MODEL,
                       "--embed-model", EMBED_MODEL)
    assert code == 1
    table = rows(out)
    assert [row[0] for row in table.values()] == ["pass", "FAIL", "pass", "pass", "FAIL"]
    assert "dropped" in table["generate"][3]
    assert "out of memory" in table["embed"][3]
    assert "2 of 5 checks failed" in out


def test_verify_auto_serve_starts_and_stops_the_projects_server(run: Run) -> None:
    port = free_port()
    result = run("--json", "verify", "--auto-serve", host=f"127.0.0.1:{port}")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["served_by"] == "ollama-wire server (scripted engine)"
    assert (report["model"], report["embed_model"]) == ("gemma3:270m", "all-minilm")
    assert f"nothing answered at http://127.0.0.1:{port}" in result.stderr
    assert report["host"] in result.stderr


def test_verify_without_a_server_says_how_to_start_one(cli: InProcess) -> None:
    code, out, _ = cli("--retries", "0", "verify", host=f"127.0.0.1:{free_port()}")
    assert code == 1
    table = rows(out)
    assert table["server"][0] == "FAIL"
    assert "ollama serve" in out
    assert [table[n][0] for n in ("generate", "stream", "chat", "embed")] == ["skip"] * 4
    assert "1 of 5 checks failed, 4 skipped (model" in out


def test_serve_runs_the_scripted_engine_until_ctrl_c(env: dict[str, str]) -> None:
    port = free_port()
    proc = subprocess.Popen([*COMMAND, "serve", "--port", str(port)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        line = proc.stdout.readline()
        assert line == (f"ollama-wire server (scripted engine) listening on "
                        f"http://127.0.0.1:{port}\n")
        client = Client(f"127.0.0.1:{port}")
        names = {m.model for m in client.list().models}
        assert names == {"gemma3:270m", "all-minilm:latest"}
        assert client.generate("gemma3:270m", "hi").response
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(TIMEOUT) == 0
    err = proc.stderr.read()
    assert "engine: scripted" in err
    assert "Traceback" not in err
    proc.stdout.close()
    proc.stderr.close()


def test_serve_help_is_the_servers_own_and_loads_no_client(env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "ollama_wire", "serve",
                             "--help"], capture_output=True, text=True, env=env, timeout=TIMEOUT)
    assert result.returncode == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "ollama_wire.server.__main__" in imported
    assert not {"requests", "httpx", "ollama_wire._client"} & imported
    assert result.stdout.startswith("usage: ollama-wire serve")
    for option in ("--engine", "--port", "--model", "--token-rate", "--num-thread"):
        assert option in result.stdout


def _served(monkeypatch: pytest.MonkeyPatch) -> list[OllamaServer]:
    """Make both entry points build their server but not run it; return what they built."""
    from ollama_wire.server import __main__ as server_main

    built: list[OllamaServer] = []
    monkeypatch.setattr(server_main, "serve", lambda server: built.append(server) or 0)
    return built


def _serve_main(entry: str, args: list[str]) -> int:
    from ollama_wire.cli import main as cli_main
    from ollama_wire.server.__main__ import main as server_main

    return cli_main(["serve", *args]) if entry == "cli" else server_main(args)


@pytest.mark.engine
@pytest.mark.parametrize("entry", ["cli", "server"])
def test_serve_num_thread_reaches_the_llama_engine(
    entry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ollama_wire.server.llama import DEFAULT_NUM_THREAD, LlamaEngine

    built = _served(monkeypatch)
    assert _serve_main(entry, ["--engine", "llama", "--port", "0", "--num-thread", "1"]) == 0
    assert _serve_main(entry, ["--engine", "llama", "--port", "0"]) == 0
    engines = [server.engine for server in built]
    assert all(isinstance(engine, LlamaEngine) for engine in engines)
    assert [e.num_thread for e in engines] == [1, min(DEFAULT_NUM_THREAD, os.cpu_count() or 1)]


@pytest.mark.parametrize("entry", ["cli", "server"])
def test_serve_num_thread_is_a_positive_integer_and_only_the_llama_engines(
    entry: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    built = _served(monkeypatch)
    for bad in ("0", "two"):
        with pytest.raises(SystemExit) as exited:
            _serve_main(entry, ["--engine", "scripted", "--num-thread", bad])
        assert exited.value.code == 2
        assert "argument --num-thread: " in capsys.readouterr().err
    assert _serve_main(entry, ["--engine", "scripted", "--port", "0", "--num-thread", "1"]) == 0
    assert built[0].engine.name == "scripted"  # which has no threads to set


def test_serve_help_gives_the_engines_default_num_thread() -> None:
    from ollama_wire.server.__main__ import build_parser
    from ollama_wire.server.llama import DEFAULT_NUM_THREAD

    text = " ".join(build_parser().format_help().split())
    assert f"--num-thread N llama engine: CPU threads per model (default: {DEFAULT_NUM_THREAD}," \
        in text
    assert "fewer threads stream faster" in text
