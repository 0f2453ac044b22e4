"""Reloader against a real local HTTP server that fails, blocks and counts POSTs."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sdgen.runtime.reload import ReloadAnswer, Reloader

DEADLINE = 20.0


class FakePrometheus(ThreadingHTTPServer):
    """Answers POST /-/reload with 503 for the first `failures` requests, then 200.

    While `gate` is cleared every POST waits for it before answering."""

    daemon_threads = True

    def __init__(self, failures: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.failures = failures
        self.posts: list[str] = []
        self.changed = threading.Condition()
        self.gate = threading.Event()
        self.gate.set()
        self.error_body = b""  # what a failing POST's answer says

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/-/reload"

    def record(self, path: str) -> int:
        with self.changed:
            self.posts.append(path)
            self.changed.notify_all()
            return len(self.posts)

    def wait_for(self, predicate: Callable[[], bool]) -> bool:
        return self.wait_for_timeout(predicate, DEADLINE)

    def wait_for_timeout(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout=timeout)


class _Handler(BaseHTTPRequestHandler):
    server: FakePrometheus

    def do_POST(self) -> None:
        count = self.server.record(self.path)
        self.server.gate.wait(DEADLINE)
        status = 503 if count <= self.server.failures else 200
        body = self.server.error_body if status != 200 else b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server_factory() -> Iterator[Callable[[int], FakePrometheus]]:
    servers: list[FakePrometheus] = []

    def make(failures: int = 0) -> FakePrometheus:
        server = FakePrometheus(failures)
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.gate.set()
        server.shutdown()
        server.server_close()


class Results:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.changed = threading.Condition()

    def __call__(self, result: str) -> None:
        with self.changed:
            self.items.append(result)
            self.changed.notify_all()

    def wait_for_count(self, n: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.items) >= n, timeout=DEADLINE)


def start(url: str, results: Results | None = None) -> tuple[Reloader, threading.Event]:
    stop = threading.Event()
    reloader = Reloader(url, stop, timeout=5.0, on_result=results, initial_delay=0.02)
    reloader.start()
    return reloader, stop


def finish(reloader: Reloader, stop: threading.Event) -> None:
    stop.set()
    reloader.join(DEADLINE)


def test_retries_until_success_and_reports_each_attempt(server_factory) -> None:
    server = server_factory(3)
    results = Results()
    reloader, stop = start(server.url, results)
    reloader.request()
    assert results.wait_for_count(4)
    finish(reloader, stop)
    assert results.items == ["failure", "failure", "failure", "success"]
    assert server.posts == ["/-/reload"] * 4


def test_unreachable_server_is_retried_until_it_appears(server_factory) -> None:
    server = server_factory(0)
    url = server.url
    server.shutdown()
    server.server_close()  # the port now refuses connections
    results = Results()
    reloader, stop = start(url, results)
    reloader.request()
    assert results.wait_for_count(2)
    finish(reloader, stop)
    assert set(results.items) == {"failure"}


def test_requests_during_a_post_coalesce_into_one_more_post(server_factory) -> None:
    server = server_factory(0)
    server.gate.clear()
    results = Results()
    reloader, stop = start(server.url, results)
    reloader.request()
    assert server.wait_for(lambda: len(server.posts) == 1)
    for _ in range(50):  # all while the first POST is in flight
        reloader.request()
    server.gate.set()
    assert results.wait_for_count(2)
    # A third POST would follow at once; give it a chance to show up.
    assert not server.wait_for_timeout(lambda: len(server.posts) > 2, 0.5)
    finish(reloader, stop)
    assert results.items == ["success", "success"]


def test_requests_before_the_thread_runs_make_one_post(server_factory) -> None:
    server = server_factory(0)
    results = Results()
    stop = threading.Event()
    reloader = Reloader(server.url, stop, on_result=results)
    for _ in range(20):
        reloader.request()
    reloader.start()
    assert results.wait_for_count(1)
    assert not server.wait_for_timeout(lambda: len(server.posts) > 1, 0.5)
    finish(reloader, stop)


def test_no_request_no_post(server_factory) -> None:
    server = server_factory(0)
    reloader, stop = start(server.url)
    assert not server.wait_for_timeout(lambda: len(server.posts) > 0, 0.5)
    finish(reloader, stop)


@pytest.mark.parametrize("busy", ["idle", "backing off"])
def test_stop_ends_the_thread_promptly(server_factory, busy: str) -> None:
    server = server_factory(10**6)
    stop = threading.Event()
    results = Results()
    reloader = Reloader(server.url, stop, on_result=results, initial_delay=30.0)
    reloader.start()
    if busy == "backing off":
        reloader.request()
        assert results.wait_for_count(1)  # now waiting ~30 s before the retry
    stop.set()
    reloader.join(DEADLINE)
    assert not reloader.is_alive()


@pytest.mark.parametrize(
    "url", ["localhost:9090/-/reload", "ftp://host/x", "http://", "/-/reload", ""]
)
def test_a_url_that_is_not_http_is_refused_at_once(url: str) -> None:
    with pytest.raises(ValueError, match="is not an http"):
        Reloader(url, threading.Event())


def test_a_failing_result_callback_does_not_stop_the_retries(server_factory) -> None:
    server = server_factory(2)

    def explode(result: str) -> None:
        raise RuntimeError(result)

    stop = threading.Event()
    reloader = Reloader(server.url, stop, on_result=explode, initial_delay=0.02)
    reloader.start()
    reloader.request()
    assert server.wait_for(lambda: len(server.posts) == 3)
    finish(reloader, stop)


def test_a_ticket_is_loaded_only_by_a_post_that_succeeded_after_it(
    server_factory: Callable[[int], FakePrometheus],
) -> None:
    """`loaded(ticket)`: the migration's proof that Prometheus read the fragments as they
    were when the ticket was taken; failed POSTs do not count, and `on_loaded` follows."""
    server = server_factory(2)  # the first two POSTs answer 503
    stop, loaded = threading.Event(), threading.Event()
    reloader = Reloader(server.url, stop, initial_delay=0.01, on_loaded=loaded.set)
    reloader.start()
    try:
        ticket = reloader.request()
        assert ticket == 1 and not reloader.loaded(ticket)
        assert loaded.wait(DEADLINE), "on_loaded after the third POST succeeded"
        assert len(server.posts) == 3 and reloader.loaded(ticket)
    finally:
        stop.set()
        reloader.join(DEADLINE)


def test_every_answer_is_reported_with_prometheus_body(
    server_factory: Callable[[int], FakePrometheus],
) -> None:
    """A rejected config: Prometheus answers 500 with its error, which /status and the
    ReloadFailed event show."""
    server = server_factory(1)
    server.error_body = b"failed to reload config: found multiple scrape configs with job name x\n"
    answers: list[ReloadAnswer] = []
    stop, loaded = threading.Event(), threading.Event()
    reloader = Reloader(
        server.url, stop, initial_delay=0.01, on_loaded=loaded.set, on_answer=answers.append
    )
    reloader.start()
    try:
        assert reloader.latest_ticket == 0
        ticket = reloader.request()
        assert reloader.latest_ticket == ticket == 1
        assert loaded.wait(DEADLINE)
    finally:
        stop.set()
        reloader.join(DEADLINE)
    assert answers == [
        ReloadAnswer(
            False,
            "HTTP 503 Service Unavailable: failed to reload config: found multiple scrape "
            "configs with job name x",
            1,
            1,
            503,
        ),
        ReloadAnswer(True, "", 1, 2, 200),
    ]
