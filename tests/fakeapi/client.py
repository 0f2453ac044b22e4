"""A tiny raw HTTP client for tests that need to see exactly what the emulator sends.

Official clients hide status codes, headers and stream framing; tests of the emulator itself
(and of faults) need them, so this speaks plain HTTP/1.1 with `http.client`.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any  # decoded JSON, or bytes when the body is not JSON

    @property
    def reason(self) -> str:
        return str(self.body.get("reason", "")) if isinstance(self.body, dict) else ""


def _connection(url: str, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)


def request(
    url: str,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Response:
    conn = _connection(url, timeout)
    try:
        data = body if isinstance(body, bytes | str) or body is None else json.dumps(body)
        sent = {"Content-Type": content_type, **(headers or {})}
        conn.request(method, path, body=data, headers=sent)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            decoded: Any = json.loads(raw)
        except ValueError:
            decoded = raw
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, decoded)
    finally:
        conn.close()


class StreamCut(ConnectionError):
    """The connection ended without the terminating chunk (a dropped or cut watch)."""


class WatchStream:
    """An open watch read over a raw socket, so a read can time out and the stream goes on.

    `next()` returns the next event, None when the server ended the stream cleanly, raises
    TimeoutError when nothing arrives in time and StreamCut when the connection was cut;
    `pending` holds bytes of an unfinished line.
    """

    def __init__(
        self, url: str, path: str, timeout: float = 10.0, headers: dict[str, str] | None = None
    ) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self._raw = b""
        self.pending = b""
        self._ended = False
        while b"\r\n\r\n" not in self._raw:
            self._receive(time.monotonic() + timeout)
        head, self._raw = self._raw.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {
            k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)
        }

    def _receive(self, deadline: float) -> None:
        ready, _, _ = select.select([self.sock], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError("no watch data in time")
        try:
            data = self.sock.recv(65536)
        except OSError as exc:
            raise StreamCut(str(exc)) from exc
        if not data:
            raise StreamCut("connection closed without the terminating chunk")
        self._raw += data

    def _decode_chunks(self) -> None:
        while not self._ended and b"\r\n" in self._raw:
            size_text, rest = self._raw.split(b"\r\n", 1)
            size = int(size_text, 16)
            if len(rest) < size + 2:
                return
            self.pending += rest[:size]
            self._raw = rest[size + 2 :]
            self._ended = size == 0

    def next(self, timeout: float = 10.0) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while True:
            self._decode_chunks()
            if b"\n" in self.pending:
                line, self.pending = self.pending.split(b"\n", 1)
                event: dict[str, Any] = json.loads(line)
                return event
            if self._ended:
                return None
            self._receive(deadline)

    def events(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The next `count` events (fewer if the stream ends first)."""
        deadline = time.monotonic() + timeout
        out: list[dict[str, Any]] = []
        while len(out) < count:
            event = self.next(max(0.0, deadline - time.monotonic()))
            if event is None:
                break
            out.append(event)
        return out

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> WatchStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
