"""Helpers for running `python -m ollama_wire` in tests: piped, or on a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

COMMAND = [sys.executable, "-m", "ollama_wire"]
TIMEOUT = 20.0

def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Return a clean environment: no OLLAMA_HOST, NO_COLOR or trace, HOME in tmp_path."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OLLAMA_HOST", "NO_COLOR", "OLLAMA_WIRE_TRACE", "OLLAMA_API_KEY",
                        "OLLAMA_WIRE_DEBUG", "FORCE_COLOR")}
    # The scripted engine even where the 'local' extra is installed: fast and deterministic.
    env.update(HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"), TERM="xterm",
               OLLAMA_WIRE_ENGINE="scripted", **extra)
    return env


Run = Callable[..., "subprocess.CompletedProcess[str]"]
InProcess = Callable[..., "tuple[int, str, str]"]


class Terminal:
    """The command on a pseudo-terminal: `expect` output, `send` keys, `wait` for the end."""

    def __init__(self, args: Sequence[str], env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        self.proc = subprocess.Popen([*COMMAND, *args], stdin=slave, stdout=slave, stderr=slave,
                                     env=env, start_new_session=True)
        os.close(slave)
        self.master = master
        self.output = ""
        self._seen = 0

    def _read(self, deadline: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the other side closed
            return False
        if not data:
            return False
        self.output += data.decode("utf-8", "replace")
        return True

    def expect(self, pattern: str, timeout: float = TIMEOUT) -> str:
        """Wait for `pattern` (a regex) after the last match; return the text up to its end."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            match = regex.search(self.output, self._seen)
            if match:
                text = self.output[self._seen:match.end()]
                self._seen = match.end()
                return text
            if not self._read(deadline) and (
                    time.monotonic() >= deadline or self.proc.poll() is not None):
                raise AssertionError(f"{pattern!r} not seen; output so far:\n{self.output!r}")

    def send(self, text: str) -> None:
        """Type `text` (use \\r for Enter)."""
        os.write(self.master, text.encode())

    def interrupt(self) -> None:
        """Send SIGINT, as Ctrl-C on a terminal does to the foreground process."""
        self.proc.send_signal(signal.SIGINT)

    def wait(self, timeout: float = TIMEOUT) -> int:
        """Read everything until the process ends; return its exit code."""
        deadline = time.monotonic() + timeout
        while self._read(deadline):
            pass
        return self.proc.wait(max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        """Kill the process if it still runs and close the terminal."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
