"""HTTP/1.1 plumbing: one exchange per request, JSON replies and chunked NDJSON streams."""

from __future__ import annotations

import email.utils
import json
import select
import socket
import ssl
import struct
import threading
from http import HTTPStatus
from typing import Any

from ollama_wire.server.faults import Fault
from ollama_wire.server.log import RequestRecord

__all__ = [
    "INVALID_UTF8",
    "ClientGone",
    "Exchange",
    "HTTPError",
    "Stream",
    "append_text",
    "go_json",
    "pad",
    "spoil_utf8",
]


def go_json(obj: Any) -> bytes:
    """Encode like Go's ``json.Marshal``: compact, UTF-8, with ``<``, ``>``, ``&`` escaped."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode("utf-8")


class HTTPError(Exception):
    """An error answered as ``{"error": message}`` with ``status`` before any byte was sent."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ClientGone(Exception):
    """The client closed the connection, or the server is shutting down."""


def _readable(sock: socket.socket) -> bool:
    """Tell whether ``sock`` has data or EOF waiting, without blocking."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLHUP)
        return bool(poller.poll(0))
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class Exchange:
    """One request and its reply on a connection."""

    def __init__(
        self,
        sock: socket.socket,
        record: RequestRecord,
        stopping: threading.Event,
        *,
        keep_alive: bool,
    ) -> None:
        self.sock = sock
        self.record = record
        self.stopping = stopping
        self.keep_alive = keep_alive
        self.fault: Fault | None = None
        self.extra_headers: list[tuple[str, str]] = []
        self.active: Stream | None = None
        self.replied = False
        self.dropped = False

    # liveness

    def client_gone(self) -> bool:
        """Tell whether the client has closed its side (or the server is stopping)."""
        if self.stopping.is_set() or self.dropped:
            return True
        try:
            if not _readable(self.sock):
                return False
            if isinstance(self.sock, ssl.SSLSocket):
                # TLS sockets cannot peek; peek at the TCP bytes under them instead.
                with socket.fromfd(self.sock.fileno(), self.sock.family, self.sock.type) as raw:
                    return raw.recv(1, socket.MSG_PEEK) == b""
            return self.sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``; raise ClientGone if the server stops meanwhile."""
        if seconds > 0 and self.stopping.wait(seconds):
            raise ClientGone

    # raw output

    def _write(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            self.record.disconnected = True
            raise ClientGone from exc

    def _head(self, status: int, headers: list[tuple[str, str]]) -> bytes:
        lines = [f"HTTP/1.1 {status} {_reason(status)}"]
        lines.extend(f"{k}: {v}" for k, v in [*headers, *self.extra_headers])
        lines.append(f"Date: {email.utils.formatdate(usegmt=True)}")
        if not self.keep_alive:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def drop(self) -> None:
        """Close the connection abruptly, as a crashed server would."""
        self.dropped = True
        self.keep_alive = False
        self.record.error = "connection dropped by fault"
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def reset(self) -> None:
        """Abort the connection with a TCP reset (RST), as a crashed proxy would.

        The RST goes out when the connection's socket is closed, right after this request.
        """
        self.dropped = True
        self.keep_alive = False
        self.record.error = "connection reset by fault"
        try:
            # Linger on, timeout 0: close() discards unsent data and sends RST instead of FIN.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass

    def send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        *,
        head_only: bool = False,
    ) -> None:
        """Send a complete reply with a Content-Length."""
        all_headers: list[tuple[str, str]] = []
        if content_type:
            all_headers.append(("Content-Type", content_type))
        all_headers.extend(headers or [])
        all_headers.append(("Content-Length", str(len(body))))
        self.record.status = status
        self.replied = True
        self._write(self._head(status, all_headers) + (b"" if head_only else body))

    def send_json(
        self,
        status: int,
        obj: Any,
        content_type: str = "application/json; charset=utf-8",
        headers: list[tuple[str, str]] | None = None,
        *,
        head_only: bool = False,
    ) -> None:
        """Send ``obj`` as a JSON reply."""
        self.send(status, go_json(obj), content_type, headers, head_only=head_only)

    def send_result(self, obj: Any, chunks: int | None = None, *, head_only: bool = False) -> None:
        """Send a non-streamed 200 result, spoiled as the exchange's fault says.

        ``chunks``: how many pieces a generation made, for ``error_after`` (an error only
        after that many); a result that is no generation gets every fault.
        """
        body = go_json(obj)
        fault = self.fault
        if fault is not None:
            if fault.error_after is not None and (chunks is None or fault.error_after <= chunks):
                raise HTTPError(500, fault.message)
            if fault.drop_after is not None:
                self.drop()
                raise ClientGone
            if fault.reset_after is not None:
                self.reset()
                raise ClientGone
            if fault.malformed_after is not None:
                body = body[: max(1, len(body) // 2)]
            elif fault.invalid_utf8_after is not None:
                body = spoil_utf8(obj)
        self.send(200, body, "application/json; charset=utf-8", head_only=head_only)

    def send_error(self, status: int, message: str, content_type: str | None = None) -> None:
        """Send ``{"error": message}`` with ``status``."""
        self.record.error = message
        self.send_json(
            status, {"error": message}, content_type or "application/json; charset=utf-8"
        )

    def send_text(self, status: int, text: str, *, head_only: bool = False) -> None:
        """Send a plain-text reply (the router's 404 and 405)."""
        self.send(status, text.encode(), "text/plain", head_only=head_only)

    def stream(self) -> Stream:
        """Start an NDJSON stream (headers go out with the first line)."""
        self.active = Stream(self)
        return self.active

    def fail(self, status: int, message: str) -> None:
        """Report an error however far the reply has got: a reply, an error line, or nothing."""
        if self.dropped:
            return
        if self.active is not None and self.active.started:
            self.active.error(message, status)
        elif not self.replied:
            self.send_error(status, message)


class Stream:
    """A chunked ``application/x-ndjson`` reply; each line is one chunk, sent at once.

    `send` applies the exchange's stream fault and returns False once the stream must stop
    (a fault ended it); it raises ClientGone when the client has gone.
    """

    def __init__(self, exchange: Exchange) -> None:
        self.ex = exchange
        self.started = False
        self.ended = False
        self.lines = 0

    def _chunk(self, data: bytes) -> bytes:
        return f"{len(data):x}\r\n".encode() + data + b"\r\n"

    def _start(self) -> bytes:
        """Return the reply's head the first time, then nothing."""
        if self.started:
            return b""
        self.started = True
        self.ex.replied = True
        self.ex.record.status = 200
        return self.ex._head(
            200, [("Content-Type", "application/x-ndjson"), ("Transfer-Encoding", "chunked")]
        )

    def _emit(self, data: bytes) -> None:
        self.ex._write(self._start() + self._chunk(data))
        self.ex.record.chunks += 1

    def _emit_long(self, obj: dict[str, Any], length: int) -> None:
        """Send ``obj`` with ``length`` filler characters in its text, a piece at a time.

        The line is never built whole, so a 300 MB line costs the server 1 MiB.
        """
        pre, _, post = go_json(append_text(obj, _MARK)).partition(_MARK.encode())
        post += b"\n"
        size = len(pre) + length + len(post)
        self.ex._write(self._start() + f"{size:x}\r\n".encode() + pre)
        piece = b"x" * min(length, _FILL_PIECE)
        left = length
        while left > 0:
            self.ex._write(piece if left >= len(piece) else piece[:left])
            left -= len(piece)
        self.ex._write(post + b"\r\n")
        self.ex.record.chunks += 1

    def send(self, obj: dict[str, Any]) -> bool:
        """Send one line; return False if a fault ended the stream."""
        if self.ended:
            return False
        if self.ex.client_gone():
            self.ex.record.disconnected = True
            raise ClientGone
        fault = self.ex.fault
        k = self.lines
        if fault is not None:
            self.ex.sleep(fault.delay_chunks)
            if fault.error_after is not None and k >= fault.error_after:
                self.error(fault.message)
                return False
            if fault.reset_after is not None and k >= fault.reset_after:
                self.ended = True
                self.ex.reset()
                return False
            if fault.drop_after is not None and k >= fault.drop_after:
                if not self.started:
                    self._emit_headers_only()
                self.ended = True
                self.ex.drop()
                return False
            if fault.truncate_after is not None and k >= fault.truncate_after:
                self.end()
                return False
            if fault.malformed_after is not None and k == fault.malformed_after:
                whole = go_json(obj)
                self._emit(whole[: max(1, len(whole) // 2)] + b"\n")
            if fault.long_line and k == 0:
                self._emit_long(obj, fault.long_line)
                self.lines += 1
                return True
            if fault.invalid_utf8_after is not None and k == fault.invalid_utf8_after:
                self._emit(spoil_utf8(obj) + b"\n")
                self.lines += 1
                return True
        self._emit(go_json(obj) + b"\n")
        self.lines += 1
        return True

    def _emit_headers_only(self) -> None:
        self.ex._write(self._start())

    def error(self, message: str, status: int = 500) -> None:
        """Report ``message``: an error reply if nothing was sent, else an error line."""
        self.ex.record.error = message
        if not self.started:
            self.ended = True
            self.ex.send_json(status, {"error": message}, "application/json")
            return
        if not self.ended:
            self._emit(go_json({"error": message}) + b"\n")
            self.end()

    def end(self) -> None:
        """Send the terminating chunk."""
        if self.ended:
            return
        self.ended = True
        if not self.started:
            self._emit_headers_only()
        self.ex._write(b"0\r\n\r\n")


_FILL_PIECE = 1024 * 1024
_MARK = "\u2063ollama-wire-invalid-utf8\u2063"
#: A lone continuation byte, an overlong "/" and a byte that never occurs in UTF-8.
INVALID_UTF8 = b"\x80\xc0\xaf\xff"


def spoil_utf8(obj: dict[str, Any]) -> bytes:
    """Encode ``obj`` with bytes that are not UTF-8 inside its text (the invalid-UTF-8 fault)."""
    return go_json(append_text(obj, _MARK)).replace(_MARK.encode(), INVALID_UTF8)


def pad(obj: dict[str, Any], length: int) -> dict[str, Any]:
    """Return ``obj`` with its text field grown to ``length`` characters (the long-line fault)."""
    return append_text(obj, "x" * max(0, length))


def append_text(obj: dict[str, Any], filler: str) -> dict[str, Any]:
    """Return ``obj`` with ``filler`` appended to its text (or to a ``padding`` field)."""
    out = dict(obj)
    if isinstance(out.get("response"), str):
        out["response"] = out["response"] + filler
    elif isinstance(out.get("message"), dict):
        msg = dict(out["message"])
        msg["content"] = str(msg.get("content", "")) + filler
        out["message"] = msg
    else:
        out["padding"] = filler
    return out
