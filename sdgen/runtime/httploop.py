"""The ops port's connections: one event-loop thread and a fixed pool of workers, so no
client can make sdgen start threads, hold them, or starve /healthz.

The stdlib's threaded server starts a thread per connection and never times one out: 800
trickling connections made 805 threads, and under a pids limit 80 idle sockets made
/healthz fail, which gets the container restarted. Here:

* one thread (`ops-http`) accepts, reads request heads and writes replies, all non-blocking,
  so an idle, trickling or never-reading client costs a socket and a buffer, never a thread;
* a complete request head goes to one of `Limits.workers` threads (`ops-worker-N`), which
  only turn it into reply bytes (the routes answer from memory);
* at most `Limits.connections` sockets are open at once; at the limit the connection that
  has waited longest without a request in progress makes room (a probe or a scrape sends its
  request at once, so it is served while idle sockets churn); if every one is busy, the new
  connection is closed;
* a request head must arrive within `header_timeout` and fit in `head_bytes` (414 or 431
  otherwise), a keep-alive connection may idle for `idle_timeout`, a reply must be taken
  within `write_timeout`.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

log = logging.getLogger(__name__)

# A request head in; the reply's parts (sent one after another, so a large body is never
# copied into one buffer with its head) and whether the connection stays open out.
Respond = Callable[[bytes], tuple[tuple[bytes, ...], bool]]


@dataclass(frozen=True)
class Limits:
    connections: int = 64  # open sockets; the longest-waiting one makes room for a new one
    workers: int = 2  # threads turning request heads into replies
    head_bytes: int = 16 * 1024  # request line plus headers
    header_timeout: float = 5.0  # from connect, or a next request's first byte, to its head
    idle_timeout: float = 30.0  # keep-alive: open with no request in progress
    write_timeout: float = 10.0  # to send one reply


class _State(Enum):
    READING = "reading"  # waiting for a request head
    IDLE = "idle"  # keep-alive, between requests
    HANDLING = "handling"  # with a worker
    WRITING = "writing"  # sending a reply


@dataclass(eq=False)
class _Conn:
    sock: socket.socket
    state: _State
    since: float  # when the current state began: the oldest waiting one is evicted first
    deadline: float
    buffer: bytearray = field(default_factory=bytearray)
    out: list[memoryview] = field(default_factory=list)  # the reply's unsent parts
    keep: bool = False  # keep the connection open once `out` is sent


def _error_reply(code: int, reason: str) -> bytes:
    body = f"{reason}\n".encode()
    head = (
        f"HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


_URI_TOO_LONG = _error_reply(414, "Request-URI Too Long")
_HEADERS_TOO_LARGE = _error_reply(431, "Request Header Fields Too Large")
_INTERNAL_ERROR = _error_reply(500, "Internal Server Error")
_HEAD_ENDS = (b"\r\n\r\n", b"\n\n")
_LINGER_NONE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() resets


def _head_end(buffer: bytearray) -> int:
    """The length of the complete request head at the start of `buffer`, or 0."""
    ends = [i + len(end) for end in _HEAD_ENDS if (i := buffer.find(end)) >= 0]
    return min(ends, default=0)


class HttpLoop:
    """Serves `listener` with `respond` until `stop()`; see the module docstring."""

    def __init__(
        self,
        listener: socket.socket,
        respond: Respond,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._listener = listener
        self._respond = respond
        self.limits = limits
        self._clock = clock
        self._selector = selectors.DefaultSelector()
        self._conns: set[_Conn] = set()
        self._jobs: queue.Queue[_Conn | None] = queue.Queue()
        self._done: list[_Conn] = []  # answered by a worker, for the loop to send
        self._done_lock = threading.Lock()
        self._waker, self._wake_read = socket.socketpair()
        self._stopping = False
        self._threads = [threading.Thread(target=self._serve, name="ops-http", daemon=True)] + [
            threading.Thread(target=self._work, name=f"ops-worker-{n}", daemon=True)
            for n in range(limits.workers)
        ]

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stopping = True
        self._wake()
        for _ in range(self.limits.workers):
            self._jobs.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread.is_alive():
                thread.join(max(0.0, deadline - time.monotonic()))

    # The loop thread ------------------------------------------------------------------------

    def _serve(self) -> None:
        self._listener.setblocking(False)
        self._wake_read.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._selector.register(self._wake_read, selectors.EVENT_READ, self._wake_read)
        try:
            while not self._stopping:
                for key, events in self._selector.select(self._next_timeout()):
                    if key.data is None:
                        self._accept()
                    elif key.data is self._wake_read:
                        self._take_replies()
                    elif key.data not in self._conns:
                        continue  # closed earlier in this batch, to make room
                    elif events & selectors.EVENT_READ:
                        self._read(key.data)
                    else:
                        self._write(key.data)
                self._expire()
        except Exception:  # a bug here must not pass silently: /healthz stops answering
            log.exception("ops server loop failed")
        finally:
            for conn in list(self._conns):
                self._close(conn)
            self._selector.close()
            self._listener.close()
            self._waker.close()
            self._wake_read.close()

    def _next_timeout(self) -> float:
        waiting = [c.deadline for c in self._conns if c.state is not _State.HANDLING]
        return max(0.0, min([self._clock() + 1.0, *waiting]) - self._clock())

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:  # e.g. out of file descriptors: try again on the next event
                log.warning("ops server cannot accept a connection: %s", err)
                return
            sock.setblocking(False)
            if len(self._conns) >= self.limits.connections and not self._make_room():
                sock.close()
                continue
            now = self._clock()
            conn = _Conn(sock, _State.READING, now, now + self.limits.header_timeout)
            self._conns.add(conn)
            self._selector.register(sock, selectors.EVENT_READ, conn)

    def _make_room(self) -> bool:
        """Close the connection that has waited longest without a request in progress."""
        waiting = [c for c in self._conns if c.state is not _State.HANDLING]
        if not waiting:
            return False
        self._close(min(waiting, key=lambda c: c.since), reset=True)
        return True

    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        if conn.state is _State.IDLE:
            self._begin(conn, _State.READING, self.limits.header_timeout)
        conn.buffer += data
        self._next_request(conn)

    def _next_request(self, conn: _Conn) -> None:
        """Hand a complete head in the buffer to a worker; refuse one that is too large."""
        end = _head_end(conn.buffer)
        if end and end <= self.limits.head_bytes:
            conn.state = _State.HANDLING  # the worker takes the head off the buffer
            self._selector.unregister(conn.sock)
            self._jobs.put(conn)
        elif end or len(conn.buffer) > self.limits.head_bytes:
            line_ends = conn.buffer.find(b"\n", 0, self.limits.head_bytes)
            self._send(conn, _URI_TOO_LONG if line_ends < 0 else _HEADERS_TOO_LARGE, keep=False)

    def _take_replies(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self._wake_read.recv(4096)
        with self._done_lock:
            done, self._done = self._done, []
        for conn in done:
            if conn in self._conns:  # not closed by stop() meanwhile
                self._selector.register(conn.sock, selectors.EVENT_WRITE, conn)
                self._begin(conn, _State.WRITING, self.limits.write_timeout)
                self._write(conn)

    def _send(self, conn: _Conn, reply: bytes, keep: bool) -> None:
        """Reply from the loop itself (a refused request)."""
        conn.out, conn.keep = [memoryview(reply)], keep
        self._begin(conn, _State.WRITING, self.limits.write_timeout)
        self._selector.modify(conn.sock, selectors.EVENT_WRITE, conn)
        self._write(conn)

    def _write(self, conn: _Conn) -> None:
        try:
            sent = conn.sock.send(conn.out[0])
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        conn.out[0] = conn.out[0][sent:]
        while conn.out and not conn.out[0]:
            conn.out.pop(0)
        if conn.out:
            return
        if not conn.keep:
            self._close(conn)
            return
        self._begin(conn, _State.IDLE, self.limits.idle_timeout)
        self._selector.modify(conn.sock, selectors.EVENT_READ, conn)
        if conn.buffer:  # a pipelined request already arrived
            self._begin(conn, _State.READING, self.limits.header_timeout)
            self._next_request(conn)

    def _begin(self, conn: _Conn, state: _State, timeout: float) -> None:
        now = self._clock()
        conn.state, conn.since, conn.deadline = state, now, now + timeout

    def _expire(self) -> None:
        now = self._clock()
        for conn in [c for c in self._conns if c.state is not _State.HANDLING]:
            if now >= conn.deadline:
                self._close(conn, reset=True)

    def _close(self, conn: _Conn, *, reset: bool = False) -> None:
        """`reset`: drop what is still unsent (RST), so a client that does not read
        cannot keep the kernel holding a reply for it either."""
        self._conns.discard(conn)
        if reset:
            with contextlib.suppress(OSError):
                conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_NONE)
        if conn.state is not _State.HANDLING:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(conn.sock)
        conn.sock.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._waker.send(b"x")

    # Worker threads -------------------------------------------------------------------------

    def _work(self) -> None:
        while (conn := self._jobs.get()) is not None:
            end = _head_end(conn.buffer)
            head = bytes(conn.buffer[:end])
            del conn.buffer[:end]
            try:
                reply, keep = self._respond(head)
            except Exception:
                log.exception("ops request failed")
                reply, keep = (_INTERNAL_ERROR,), False
            conn.out, conn.keep = [memoryview(part) for part in reply], keep
            with self._done_lock:
                self._done.append(conn)
            self._wake()
