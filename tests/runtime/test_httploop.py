"""The ops port's connection handling, on a real OpsServer over real sockets with small
limits: a fixed number of threads whatever the clients do, timeouts for idle, trickling and
never-reading clients, room made for new connections at the limit, request size caps, and
HTTP/1.1 keep-alive and pipelining for well-behaved clients."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from sdgen.runtime.board import Board, StatusPage
from sdgen.runtime.httploop import Limits
from sdgen.runtime.opsserver import OpsServer, Reply, ops_routes
from tests.support.helpers import wait_for
from tests.support.sidecar import get

BIG = b"x" * 32_000_000  # a reply no pair of socket buffers holds
LIMITS = Limits(
    connections=8, workers=2, head_bytes=2048, header_timeout=0.5, idle_timeout=0.5,
    write_timeout=0.5,
)  # fmt: skip


@pytest.fixture
def server() -> Iterator[OpsServer]:
    from prometheus_client import CollectorRegistry

    status = StatusPage(Board(), dict)
    routes = ops_routes(CollectorRegistry(), lambda: (True, "ok"), lambda: (True, "ready"), status)
    routes["/big"] = lambda _: Reply(200, "text/plain", BIG)
    routes["/echo"] = lambda query: Reply(200, "text/plain", repr(sorted(query.items())).encode())
    before = threading.active_count()
    started = OpsServer("127.0.0.1:0", routes, LIMITS)
    started.start()
    assert threading.active_count() == before + 1 + LIMITS.workers
    yield started
    started.stop()
    wait_for(lambda: threading.active_count() == before, 5, message="the server's threads end")


def connect(server: OpsServer, count: int = 1) -> list[socket.socket]:
    return [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(count)]


def eof(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1 << 20) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True


def exchange(sock: socket.socket, request: bytes) -> bytes:
    """Send `request`, read until the server closes."""
    sock.sendall(request)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_idle_connections_are_closed_after_the_header_timeout(server: OpsServer) -> None:
    idle = connect(server, 5)
    started = time.monotonic()
    wait_for(lambda: all(eof(s) for s in idle), 5, 0.05, "idle connections closed")
    assert time.monotonic() - started >= LIMITS.header_timeout - 0.1
    assert server.open_connections == 0


def test_a_trickled_request_is_cut_at_the_header_timeout(server: OpsServer) -> None:
    (sock,) = connect(server)
    started = time.monotonic()
    for byte in b"GET /healthz HTTP/1.1\r\n":  # one byte every 50 ms never completes in time
        try:
            sock.send(bytes([byte]))
        except OSError:
            break
        time.sleep(0.05)
    wait_for(lambda: eof(sock), 5, 0.05, "the trickling connection closed")
    assert time.monotonic() - started < LIMITS.header_timeout + 1


def test_at_the_connection_limit_the_longest_waiting_makes_room(server: OpsServer) -> None:
    idle = connect(server, LIMITS.connections * 4)
    assert get(server.port, "/healthz") == (200, "ok: ok\n")
    wait_for(lambda: server.open_connections <= LIMITS.connections, 2)
    closed = sum(eof(s) for s in idle)
    assert closed >= len(idle) - LIMITS.connections
    assert threading.active_count() <= 1 + 1 + LIMITS.workers  # this thread, loop, workers


def test_a_client_that_never_reads_is_closed_and_blocks_no_one(server: OpsServer) -> None:
    (slow,) = connect(server)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")  # and never read
    for _ in range(3):
        assert get(server.port, "/healthz")[0] == 200
    wait_for(lambda: server.open_connections == 0, 3, 0.05, "the slow reader closed")
    with pytest.raises(ConnectionResetError):  # unsent bytes dropped, not kept for it
        exchange(slow, b"")
    slow.close()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\n\r\n", b"414"),
        (b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n", b"431"),
        (b"GET / HTTP/1.1\r\n" + b"X: 1\r\n" * 101 + b"\r\n", b"431"),  # stdlib: > 100
        (b"POST /status HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", b"501"),
        (b"GARBAGE\r\n\r\n", b"400"),
        (b"GET /nope HTTP/1.0\r\n\r\n", b"404"),
    ],
    ids=["request line", "one header", "header count", "POST", "garbage", "unknown path"],
)
def test_refused_requests_get_their_status_and_the_connection_closes(
    server: OpsServer, request_bytes: bytes, status: bytes
) -> None:
    (sock,) = connect(server)
    reply = exchange(sock, request_bytes)
    assert reply.split(b" ", 2)[1] == status, reply[:200]


def test_keep_alive_and_pipelined_requests_share_a_connection(server: OpsServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    for path in ("/healthz", "/readyz", "/echo?target=a&target=b"):
        connection.request("GET", path)
        response = connection.getresponse()
        assert response.status == 200
        body = response.read()
    assert body == b"[('target', ['a', 'b'])]"
    assert server.open_connections == 1
    connection.close()

    (sock,) = connect(server)
    two = b"GET /healthz HTTP/1.1\r\n\r\nGET /readyz HTTP/1.1\r\nConnection: close\r\n\r\n"
    reply = exchange(sock, two)
    assert reply.count(b"HTTP/1.1 200") == 2 and reply.endswith(b"ok: ready\n")


def test_an_idle_keep_alive_connection_is_closed(server: OpsServer) -> None:
    (sock,) = connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
    wait_for(lambda: b"ok: ok" in sock.recv(4096), 2)
    wait_for(lambda: eof(sock), LIMITS.idle_timeout + 2, 0.05, "idle keep-alive closed")
