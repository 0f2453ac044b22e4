"""A tiny raw HTTP client for tests that need to see exactly what the emulator sends.

Official clients hide status codes, headers and stream framing; tests of the emulator itself
(and of faults) need them, so this speaks plain HTTP/1.1 with `http.client`.
"""

from __future__ import annotations

import http.client
import json
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


class WatchStream:
    """An open watch: read events one by one with a deadline, or see the stream end."""

    def __init__(self, url: str, path: str, timeout: float = 10.0) -> None:
        self.conn = _connection(url, timeout)
        self.conn.request("GET", path)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.headers = {k.lower(): v for k, v in self.response.getheaders()}

    def next(self, timeout: float = 10.0) -> dict[str, Any] | None:
        """The next event; None when the server ended the stream. Raises TimeoutError."""
        sock = self.conn.sock
        if sock is not None:
            sock.settimeout(timeout)
        try:
            line = self.response.readline()
        except TimeoutError:
            raise TimeoutError(f"no watch event within {timeout}s") from None
        if not line:
            return None
        event: dict[str, Any] = json.loads(line)
        return event

    def events(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        out: list[dict[str, Any]] = []
        while len(out) < count:
            event = self.next(max(0.01, deadline - time.monotonic()))
            if event is None:
                break
            out.append(event)
        return out

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> WatchStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
