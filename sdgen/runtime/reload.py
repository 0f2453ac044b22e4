"""Tell Prometheus to reload after a scrape fragment changed, without ever blocking the loop.

Prometheus watches file_sd files itself, but `scrape_config_files` fragments are read only on
a reload (`POST /-/reload`, needs `--web.enable-lifecycle`). Prometheus may be starting, busy
or briefly down, so the POST runs in its own thread and is retried with exponential backoff
and jitter until it succeeds. Requests coalesce: a reload reads every fragment, so any number
of requests made before a POST starts are served by that one POST; a request made while a POST
is in flight gets one more POST afterwards, because that POST may have missed its change.
"""

from __future__ import annotations

import logging
import random
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

# The reload URL is the Prometheus next to us; an HTTP(S)_PROXY set for the pod must not
# route it elsewhere.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_IDLE_POLL = 0.5  # how often an idle thread looks at `stop` when nobody calls join()
MAX_ANSWER = 2048  # characters of Prometheus's answer kept: its error names the bad config


@dataclass(frozen=True, slots=True)
class ReloadAnswer:
    """One POST and what Prometheus said: `answer` is its response body (for a rejected
    config, Prometheus's own error) or the transport error. `serves`: the latest request
    ticket the POST covers."""

    ok: bool
    answer: str
    serves: int
    attempt: int
    status: int = 0  # the HTTP status; 0 when Prometheus could not be reached


class Reloader:
    def __init__(
        self,
        url: str,
        stop: threading.Event,
        timeout: float = 10.0,
        on_result: Callable[[str], None] | None = None,
        *,
        on_loaded: Callable[[], None] | None = None,
        on_answer: Callable[[ReloadAnswer], None] | None = None,
        initial_delay: float = 0.5,
        max_delay: float = 30.0,
    ) -> None:
        """`on_result("success" | "failure")` is called after every POST (for metrics), and
        `on_loaded()` after each that succeeded, once `loaded` tells so; `on_answer` gets
        every POST's answer (for /status and Events).

        Raises ValueError for a URL that is not http(s)://host…, so a typo fails at start."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"reload URL {url!r} is not an http(s) URL (e.g. http://localhost:9090/-/reload)"
            )
        self.url = url
        self.timeout = timeout
        self._stop = stop
        self._on_result = on_result
        self._on_loaded = on_loaded
        self._on_answer = on_answer
        self._initial_delay = initial_delay
        self._max_delay = max_delay
        self._wanted = False  # a reload was requested and no POST has started since
        self._requested = 0  # requests so far: the ticket of the latest
        self._loaded = 0  # the latest ticket a successful POST started after
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reloader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request(self) -> int:
        """Ask for a reload; returns at once, with a ticket for `loaded`."""
        self._requested += 1
        self._wanted = True
        self._wake.set()
        return self._requested

    @property
    def latest_ticket(self) -> int:
        """The ticket of the latest request (0 before any): what `loaded` must confirm for
        everything written until now to be in Prometheus."""
        return self._requested

    def loaded(self, ticket: int) -> bool:
        """Whether a POST made after request `ticket` succeeded: Prometheus has read every
        fragment as it was when that request was made."""
        return self._loaded >= ticket

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end after `stop` was set."""
        self._wake.set()  # an idle thread sees `stop` now, not at its next poll
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(_IDLE_POLL)
            self._wake.clear()
            if self._wanted and not self._stop.is_set():
                self._reload_until_success()

    def _reload_until_success(self) -> None:
        delay = self._initial_delay
        attempt = 1
        while True:
            self._wanted = False  # this POST serves every request made until now
            serves = self._requested
            if self._post(attempt, serves):
                self._loaded = max(self._loaded, serves)
                self._report_loaded()
                return
            if self._stop.wait(delay * random.uniform(0.8, 1.2)):
                return
            delay = min(delay * 2, self._max_delay)
            attempt += 1

    def _post(self, attempt: int, serves: int) -> bool:
        request = urllib.request.Request(self.url, data=b"", method="POST")
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                status: int = response.status
                body = _body(response)
            ok, problem = 200 <= status < 300, f"HTTP {status}"
        except urllib.error.HTTPError as e:
            ok, problem, status = False, f"HTTP {e.code} {e.reason}", e.code
            body = _body(e)
            problem += f": {body}" if body else ""
        except (OSError, ValueError) as e:  # URLError, timeouts, refused connections
            ok, problem = False, str(getattr(e, "reason", e))
            body, status = "", 0
        self._report("success" if ok else "failure")
        if self._on_answer is not None:
            text = body if ok or not body else problem
            answer = ReloadAnswer(ok, text, serves, attempt, status)
            _call_hook(self._on_answer, answer)
        if ok:
            log.info("reload requested from %s", self.url, extra={"attempt": attempt})
        else:
            log.warning(
                "reload POST to %s failed (attempt %d): %s; retrying", self.url, attempt, problem
            )
        return ok

    def _report_loaded(self) -> None:
        if self._on_loaded is not None:
            _call_hook(self._on_loaded)

    def _report(self, result: str) -> None:
        if self._on_result is not None:
            _call_hook(self._on_result, result)


def _body(response: object) -> str:
    """The first MAX_ANSWER characters of a response body, as one stripped text."""
    try:
        data: bytes = response.read(MAX_ANSWER * 4)  # type: ignore[attr-defined]
    except (OSError, ValueError):
        return ""
    return data.decode("utf-8", "replace").strip()[:MAX_ANSWER]


def _call_hook(hook: Callable[..., None], *args: object) -> None:
    """Run a caller's hook; one that raises must not end the reloader or its retries."""
    try:
        hook(*args)
    except Exception:
        log.exception("reload callback failed")
