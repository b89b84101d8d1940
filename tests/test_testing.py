"""`ollama_wire.testing`'s socket counting: real sockets, a made-up /proc, and no /proc."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ollama_wire import Client, testing
from ollama_wire.server import OllamaServer
from ollama_wire.testing import CHAT_MODEL, loopback_socket_states, open_loopback_sockets


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A listening socket on a free loopback port (IPv4: IPv6's rows are made up below)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock


def port_of(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def test_only_the_connecting_side_counts_until_it_closes(listener: socket.socket) -> None:
    port = port_of(listener)
    assert loopback_socket_states(port) == []
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = listener.accept()
    assert loopback_socket_states(port) == ["ESTABLISHED"]  # not the accepted side
    accepted.close()
    assert client.recv(1) == b""  # the peer's FIN arrived
    # The peer closed, this side did not: still open, and a leak to report.
    assert loopback_socket_states(port) == ["CLOSE_WAIT"]
    assert open_loopback_sockets(port) == 1
    client.close()
    assert open_loopback_sockets(port) == 0


def test_other_ports_do_not_count(listener: socket.socket) -> None:
    with (
        socket.create_server(("127.0.0.1", 0)) as other,
        socket.create_connection(("127.0.0.1", port_of(other))),
    ):
        assert open_loopback_sockets(port_of(listener)) == 0
        assert open_loopback_sockets(port_of(other)) == 1


def test_a_client_counts_its_pooled_connection_until_it_closes(
    ollama_server: OllamaServer,
) -> None:
    with Client(ollama_server.url) as client:
        client.generate(CHAT_MODEL, "hi")
        assert open_loopback_sockets(ollama_server.port) == 1  # kept for the next call
    assert open_loopback_sockets(ollama_server.port) == 0


# A made-up /proc/self: the rows' parsing, byte order and filters, row by row.

PORT = 11434
ROWS = [  # (table, remote address, remote port, state, inode, open in this process)
    ("tcp", "127.0.0.1", PORT, 0x01, 101, True),  # counts
    ("tcp", "127.0.0.9", PORT, 0x08, 102, True),  # counts: all of 127/8 is loopback
    ("tcp", "10.0.0.7", PORT, 0x01, 103, True),  # not loopback
    ("tcp", "127.0.0.1", PORT + 1, 0x01, 104, True),  # another port
    ("tcp", "127.0.0.1", PORT, 0x01, 105, False),  # another process's socket
    ("tcp", "127.0.0.1", PORT, 0x06, 0, False),  # TIME_WAIT: no socket left
    ("tcp6", "::1", PORT, 0x04, 201, True),  # counts
    ("tcp6", "::ffff:127.0.0.1", PORT, 0x01, 202, True),  # counts
    ("tcp6", "::ffff:10.0.0.7", PORT, 0x01, 203, True),  # not loopback
    ("tcp6", "fe80::1", PORT, 0x01, 204, True),  # not loopback
]


def proc_address(text: str) -> str:
    """Write an address as the kernel does: 32-bit words in host byte order, as hex."""
    packed = ipaddress.ip_address(text).packed
    words = struct.unpack(f"={len(packed) // 4}I", packed)
    return "".join(f"{word:08X}" for word in words)


def fake_proc(folder: Path, rows: list[tuple[str, str, int, int, int, bool]]) -> None:
    (folder / "fd").mkdir()
    (folder / "net").mkdir()
    os.symlink("/dev/null", folder / "fd" / "0")
    tables: dict[str, list[str]] = {"tcp": [], "tcp6": []}
    for table, address, port, state, inode, is_open in rows:
        local = proc_address("127.0.0.1" if table == "tcp" else "::1")
        number = len(tables[table])
        tables[table].append(
            f"{number:4}: {local}:C350 {proc_address(address)}:{port:04X} {state:02X} "
            f"00000000:00000000 00:00000000 00000000  1000        0 {inode} 1 0 20 4 30 10 -1"
        )
        if is_open:
            os.symlink(f"socket:[{inode}]", folder / "fd" / str(inode))
    for table, lines in tables.items():
        header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when ...\n"
        (folder / "net" / table).write_text(header + "".join(f"{line}\n" for line in lines))


def test_rows_count_by_port_loopback_address_and_open_descriptor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_proc(tmp_path, ROWS)
    monkeypatch.setattr(testing, "_PROC_SELF", str(tmp_path))
    assert loopback_socket_states(PORT) == ["CLOSE_WAIT", "ESTABLISHED", "ESTABLISHED",
                                            "FIN_WAIT1"]
    assert open_loopback_sockets(PORT + 1) == 1


def test_a_kernel_without_ipv6_has_no_tcp6_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_proc(tmp_path, ROWS[:2])
    (tmp_path / "net" / "tcp6").unlink()
    monkeypatch.setattr(testing, "_PROC_SELF", str(tmp_path))
    assert open_loopback_sockets(PORT) == 2


@pytest.mark.parametrize("missing", ["fd", "net/tcp", "."])  # ".": no /proc, as on macOS
def test_without_proc_it_fails_saying_so_rather_than_count_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    fake_proc(proc, ROWS[:1])
    target = proc / missing
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    monkeypatch.setattr(testing, "_PROC_SELF", str(proc))
    with pytest.raises(RuntimeError, match=r"reads /proc \(Linux only\), and cannot read "):
        open_loopback_sockets(PORT)


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_a_port_out_of_range_is_an_error(port: int) -> None:
    with pytest.raises(ValueError, match="port must be 1 to 65535"):
        open_loopback_sockets(port)


def test_the_plugin_loads_the_server_only_when_a_fixture_needs_it() -> None:
    # Every pytest run where ollama-wire is installed loads this plugin.
    code = "import sys, ollama_wire.testing; print(sorted(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout
    assert "ollama_wire.server" not in loaded
    assert "'http.server'" not in loaded
