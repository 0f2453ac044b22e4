"""The HTTP/1.1 server: threads, connection tracking, fault hooks and response framing.

One thread per connection (ThreadingHTTPServer with daemon threads), keep-alive, and chunked
transfer for watches, so a watch never blocks other requests. Every live connection is
tracked so `stop()` and `restart_listener()` can close idle keep-alive and watch connections
at once and join their threads. Replies are written with a single send (headers and body
together, TCP_NODELAY) so small requests are not delayed by Nagle/delayed-ACK interplay.
"""

from __future__ import annotations

import contextlib
import select
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

import msgspec

from .dispatch import Reply, Request, dispatch
from .errors import ApiError
from .state import State
from .watch import Watch


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: State) -> None:
        self.state = state
        self._live: dict[socket.socket, threading.Thread] = {}
        self._live_lock = threading.Lock()
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connections reset by clients (or cut by stop()) are normal; anything else is shown."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def track(self, conn: socket.socket) -> None:
        with self._live_lock:
            self._live[conn] = threading.current_thread()

    def untrack(self, conn: socket.socket) -> None:
        with self._live_lock:
            self._live.pop(conn, None)

    def close_all(self, timeout: float = 5.0) -> None:
        """Stops accepting, cuts every open connection and waits for their threads."""
        self.shutdown()
        self.server_close()
        with self._live_lock:
            live = dict(self._live)
        for conn in live:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in live.values():
            thread.join(max(0.0, deadline - time.monotonic()))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: tests assert on `FakeAPI.requests` instead of reading logs."""

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        state = self.server.state
        state.record(self.command, self.path)
        path, _, raw_query = self.path.partition("?")
        query = {k: v[-1] for k, v in parse_qs(raw_query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(self.command, unquote(path), query, self._read_body(), headers)
        retry_after = None
        try:
            if state.faults.latency:
                time.sleep(state.faults.latency)
            failure = state.faults.take_failure()
            if failure is not None:
                raise ApiError(failure[0], "fakeapi: injected failure", retry_after=failure[1])
            reply = dispatch(state, request)
            if isinstance(reply, Watch):
                reply.serve(self)
                return
        except ApiError as exc:
            reply, retry_after = Reply(exc.code, msgspec.json.encode(exc.status)), exc.retry_after
        except Exception as exc:  # a bug in the emulator: answer like the apiserver, and say so
            traceback.print_exc()
            reply = Reply(500, msgspec.json.encode(ApiError(500, repr(exc)).status))
        self._reply(reply, retry_after)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def _head(self, code: int, headers: list[tuple[str, str]]) -> bytes:
        phrase = self.responses.get(code, ("",))[0]
        lines = [f"HTTP/1.1 {code} {phrase}", "Cache-Control: no-cache, private"]
        lines += [f"{k}: {v}" for k, v in headers]
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _reply(self, reply: Reply, retry_after: int | None) -> None:
        headers = [("Content-Type", reply.content_type), ("Content-Length", str(len(reply.body)))]
        if retry_after is not None:
            headers.append(("Retry-After", str(retry_after)))
        self.wfile.write(self._head(reply.code, headers) + reply.body)

    # --- watch.StreamConn ---------------------------------------------------------------------

    def start_stream(self) -> None:
        headers = [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]
        self.wfile.write(self._head(200, headers))

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%b\r\n" % (len(data), data))

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def client_gone(self) -> bool:
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return bool(self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"")
        except BlockingIOError:
            return False
        except OSError:
            return True

    def cut(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
