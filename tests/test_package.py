"""The public surface: one sorted ``__all__``, SDK names, and a cheap, side-effect-free import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ollama_wire

#: The official SDK's ``__all__`` (0.6.3 adds ``systemone`` and its 12 ``SystemOne*`` types,
#: for a ``/v1/systemone`` that Ollama's API does not have; they are left out).
SDK_EXPORTS = [
    "AsyncClient", "ChatResponse", "Client", "EmbedResponse", "EmbeddingsResponse",
    "GenerateResponse", "Image", "ListResponse", "Message", "Options", "ProcessResponse",
    "ProgressResponse", "RequestError", "ResponseError", "ShowResponse", "StatusResponse", "Tool",
    "WebFetchResponse", "WebSearchResponse",
]
SDK_FUNCTIONS = [
    "chat", "copy", "create", "delete", "embed", "embeddings", "generate", "list", "ps",
    "pull", "push", "show", "web_fetch", "web_search",
]


def test_version_is_a_string() -> None:
    assert isinstance(ollama_wire.__version__, str)
    assert ollama_wire.__version__.count(".") >= 2


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert ollama_wire.__all__ == sorted(ollama_wire.__all__)
    assert len(set(ollama_wire.__all__)) == len(ollama_wire.__all__)
    for name in ollama_wire.__all__:
        assert getattr(ollama_wire, name) is not None, name
    assert set(dir(ollama_wire)) >= set(ollama_wire.__all__)


def test_the_sdk_names_exist() -> None:
    for name in SDK_EXPORTS:
        assert name in ollama_wire.__all__, name
    assert issubclass(ollama_wire.RequestError, ValueError)
    for name in SDK_FUNCTIONS:
        assert callable(getattr(ollama_wire, name))
        assert name not in ollama_wire.__all__, name  # as in the SDK's __all__


def test_a_star_import_leaves_the_builtins_alone() -> None:
    namespace: dict[str, object] = {}
    exec("from ollama_wire import *\nresult = list(range(3))", namespace)
    assert namespace["result"] == [0, 1, 2]
    assert "copy" not in namespace
    assert "Client" in namespace


def test_unknown_attribute() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        ollama_wire.no_such_name  # type: ignore[attr-defined]  # noqa: B018


def test_import_is_cheap_and_makes_no_client() -> None:
    code = (
        "import json, sys, socket\n"
        "made = []\n"
        "real = socket.socket.connect\n"
        "socket.socket.connect = lambda *a: made.append(a) or real(*a)\n"
        "import ollama_wire\n"
        "from ollama_wire import chat, generate, ResponseError\n"
        "print(json.dumps({\n"
        "  'requests': 'requests' in sys.modules, 'httpx': 'httpx' in sys.modules,\n"
        "  'urllib3': 'urllib3' in sys.modules, 'typing': 'typing' in sys.modules,\n"
        "  'client': ollama_wire._default_client is not None, 'connects': len(made)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"OLLAMA_HOST": "http://u:p@h:1"})
    assert json.loads(out.stdout) == {
        "requests": False, "httpx": False, "urllib3": False, "typing": False,
        "client": False, "connects": 0,
    }


def test_a_bad_proxy_environment_does_not_break_import() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import ollama_wire; print('ok')"], capture_output=True,
        text=True, check=True, env={"HTTP_PROXY": "socks5h://nowhere:1", "OLLAMA_HOST": "::::"},
    )
    assert out.stdout.strip() == "ok"


# The set-up scripts' choice of Python and venv (scripts/_venv.sh), run as bash functions.
ROOT = Path(__file__).resolve().parents[1]
OLD_PYTHON = "#!/bin/sh\ncase \"$1\" in --version) echo 'Python 3.9.18';; esac\nexit 1\n"
#: A Python 3.10+ installed elsewhere: says so to any `-c`.
OTHER_PYTHON = "#!/bin/sh\necho /elsewhere 3.12.0\n"


def venv_sh(function: str, path: Path | str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `function` from scripts/_venv.sh with only `path` as PATH."""
    return subprocess.run(
        ["/bin/bash", "-c", f". scripts/_venv.sh && {function}"], cwd=ROOT, text=True,
        capture_output=True, env={"PATH": str(path), **env}, timeout=60,
    )


def fake_bin(tmp_path: Path, **programs: str) -> Path:
    """Return a folder of executables: each a script's text, or a path to link to."""
    folder = tmp_path / "bin"
    folder.mkdir(parents=True)
    for name, program in programs.items():
        path = folder / name.replace("_", ".")
        if program.startswith("#!"):
            path.write_text(program)
            path.chmod(0o755)
        else:
            path.symlink_to(program)
    return folder


def test_setup_says_what_to_do_when_python3_is_too_old(tmp_path: Path) -> None:
    done = venv_sh("find_python", fake_bin(tmp_path, python3=OLD_PYTHON))
    assert done.returncode == 1
    assert "needs Python 3.10 or newer (python3: Python 3.9.18)" in done.stderr
    assert "PYTHON=" in done.stderr


def test_setup_says_what_to_do_when_there_is_no_python(tmp_path: Path) -> None:
    done = venv_sh("find_python", fake_bin(tmp_path))
    assert done.returncode == 1
    assert "(python3: not found)" in done.stderr


def test_setup_takes_a_newer_python3_n_when_python3_is_too_old(tmp_path: Path) -> None:
    folder = fake_bin(tmp_path, python3=OLD_PYTHON, python3_12=sys.executable)
    done = venv_sh("find_python", folder)
    assert (done.returncode, done.stdout.strip()) == (0, "python3.12")


def test_setup_honours_python_and_refuses_an_old_one(tmp_path: Path) -> None:
    folder = fake_bin(tmp_path, python3=OLD_PYTHON, old=OLD_PYTHON)
    done = venv_sh("find_python", folder, PYTHON=sys.executable)
    assert (done.returncode, done.stdout.strip()) == (0, sys.executable)
    done = venv_sh("find_python", folder, PYTHON=str(folder / "old"))
    assert done.returncode == 1
    assert "is not a Python 3.10 or newer" in done.stderr


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="the tests do not run in a venv")
def test_setup_keeps_a_working_venv_only(tmp_path: Path) -> None:
    folder = fake_bin(tmp_path, python3=sys.executable)
    assert venv_sh("venv_usable", folder, OLLAMA_WIRE_VENV=sys.prefix).returncode == 0
    done = venv_sh("venv_usable", folder, OLLAMA_WIRE_VENV=sys.prefix, PYTHON=sys.executable)
    assert done.returncode == 0
    no_pip = tmp_path / "no-pip"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(no_pip)], check=True)
    assert venv_sh("venv_usable", folder, OLLAMA_WIRE_VENV=str(no_pip)).returncode == 1
    other = fake_bin(tmp_path / "other", python3=OTHER_PYTHON)
    done = venv_sh("venv_usable", folder, OLLAMA_WIRE_VENV=sys.prefix,
                   PYTHON=str(other / "python3"))
    assert done.returncode == 1


def test_setup_leaves_a_folder_that_is_not_a_venv_alone(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    done = venv_sh("ensure_venv local", fake_bin(tmp_path, python3=sys.executable),
                   OLLAMA_WIRE_VENV=str(mine))
    assert done.returncode == 1
    assert "is not a virtual environment" in done.stderr
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_setup_installs_again_only_when_pyproject_or_the_extras_change(tmp_path: Path) -> None:
    base = getattr(sys, "_base_executable", sys.executable)
    venv = tmp_path / "venv"
    # A venv that finds the checkout's package on its path, with a pip that only logs.
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    [site] = venv.glob("lib/python3.*/site-packages")
    (site / "checkout.pth").write_text(str(ROOT / "src") + "\n")
    log = tmp_path / "pip.log"
    (site / "pip").mkdir()
    (site / "pip" / "__init__.py").write_text("")
    (site / "pip" / "__main__.py").write_text(
        "import sys\n"
        "if sys.argv[1:] != ['--version']:\n"
        f"    open({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n")
    checksum = subprocess.run(["sh", "-c", "cksum < pyproject.toml"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()
    stamp = venv / ".ollama-wire-installed"
    stamp.write_text(f"local {checksum}\n")
    folder = fake_bin(tmp_path, python3=base)
    path = os.pathsep.join([str(folder), "/usr/bin", "/bin"])  # and cksum, grep
    env = {"OLLAMA_WIRE_VENV": str(venv)}
    done = venv_sh("ensure_venv local", path, **env)
    assert (done.returncode, done.stderr) == (0, "")
    assert not log.exists()  # installed already: pip not asked
    assert venv_sh("ensure_venv dev,local", path, **env).returncode == 0
    install = "install -q --disable-pip-version-check -e"
    assert log.read_text() == f"{install} .[dev,local]\n"
    stamp.write_text("local 1 2\n")  # as if pyproject.toml had changed
    assert venv_sh("ensure_venv local", path, **env).returncode == 0
    assert log.read_text().splitlines()[1:] == [f"{install} .[local]"]
    assert stamp.read_text() == f"local 1 2\nlocal {checksum}\n"
