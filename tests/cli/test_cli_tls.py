"""`--ca-bundle` and `--no-verify`: the command against a server with a self-signed certificate."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import InProcess, Run

from ollama_wire.server import OllamaServer
from ollama_wire.testing import CHAT_MODEL, EMBED_MODEL


def test_an_untrusted_certificate_fails_with_the_fix(run: Run, tls_server: OllamaServer) -> None:
    result = run("list", host=tls_server.url)
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: TLS error talking to {tls_server.url}/api/tags: ")
    assert "certificate verify failed" in line
    assert line.endswith("To trust the server's certificate, pass --ca-bundle PATH (the "
                         "certificate or its CA, as PEM); to skip the check, --no-verify")
    assert len(tls_server.requests) == 0  # nothing was sent


@pytest.mark.parametrize("where", ["before", "after"])
def test_the_servers_certificate_as_ca_bundle_is_trusted(
    run: Run, tls_server: OllamaServer, certificate: tuple[Path, Path], where: str
) -> None:
    bundle = ["--ca-bundle", str(certificate[0])]
    args = [*bundle, "list"] if where == "before" else ["list", *bundle]
    result = run(*args, host=tls_server.url)
    assert result.returncode == 0, result.stderr
    assert f"{CHAT_MODEL}:latest" in result.stdout
    assert result.stderr == ""
    assert [r.path for r in tls_server.requests] == ["/api/tags"]


def test_no_verify_skips_the_check(run: Run, tls_server: OllamaServer) -> None:
    result = run("--no-verify", "generate", CHAT_MODEL, "hi", host=tls_server.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert result.stderr == ""  # asked for: no warning per request
    assert [r.path for r in tls_server.requests] == ["/api/generate"]


@pytest.mark.parametrize(
    "args",
    [["--no-verify", "--ca-bundle", "{cert}", "list"], ["--no-verify", "list", "--ca-bundle",
     "{cert}"], ["list", "--ca-bundle", "{cert}", "--no-verify"]],
    ids=["before", "split", "after"],
)
def test_no_verify_with_a_ca_bundle_is_a_usage_error(
    cli: InProcess, tls_server: OllamaServer, certificate: tuple[Path, Path], args: list[str]
) -> None:
    code, out, err = cli(*(a.format(cert=certificate[0]) for a in args), host=tls_server.url)
    assert code == 2
    assert out == ""
    assert "error: --no-verify and --ca-bundle exclude each other" in err
    assert len(tls_server.requests) == 0


def test_a_missing_ca_bundle_is_a_usage_error(cli: InProcess, tmp_path: Path) -> None:
    code, _, err = cli("--ca-bundle", str(tmp_path / "nope.pem"), "list")
    assert code == 2
    assert f"argument --ca-bundle: no CA bundle at '{tmp_path / 'nope.pem'}'" in err


def test_insecure_after_pull_is_ollamas_registry_flag(
    cli: InProcess, tls_server: OllamaServer
) -> None:
    code, _, err = cli("--no-verify", "pull", CHAT_MODEL, host=tls_server.url)
    assert code == 0, err
    code, _, err = cli("--no-verify", "pull", "--insecure", CHAT_MODEL, host=tls_server.url)
    assert code == 0, err
    assert [r.body["insecure"] for r in tls_server.requests] == [False, True]
    code, _, err = cli("pull", "--insecure", CHAT_MODEL, host=tls_server.url)
    assert code == 1  # the registry flag does not turn off the server's certificate check
    assert "certificate verify failed" in err


def test_verify_probes_with_the_ca_bundle_too(
    cli: InProcess, tls_server: OllamaServer, certificate: tuple[Path, Path]
) -> None:
    code, out, err = cli("--ca-bundle", str(certificate[0]), "verify", "--auto-serve",
                         "--model", CHAT_MODEL, "--embed-model", EMBED_MODEL, host=tls_server.url)
    assert code == 0, out + err
    assert err == ""  # the probe got through: no server of its own was started
    assert f"at {tls_server.url}" in out
