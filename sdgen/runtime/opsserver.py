"""The ops HTTP endpoint: /metrics, /healthz, /readyz, /status, /explain and the HTML page
(`/`, `/ui`, `/ui/target`: sdgen.runtime.page) on --listen, and for `sdgen serve` the HTTP SD
documents (/sd/<shard>[/<job>]) and fragments (/scrape/<shard>).

A route table maps a path to a function of the query string that answers from memory (the
liveness check, the board, the informers; /status is cached bytes), so a request never waits
for the render loop. The connections are `httploop`'s: a fixed number of threads, bounded
connections and timeouts, so a busy or hostile client cannot starve the kubelet's probes.
The port exposes only what these routes answer (README, "Security model").
"""

from __future__ import annotations

import io
import json
import logging
import socket
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any, NamedTuple, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from sdgen import SdgenError
from sdgen.runtime.httploop import HttpLoop, Limits
from sdgen.runtime.page import ExplainAnswer, ui_routes

log = logging.getLogger(__name__)

Check = Callable[[], tuple[bool, str]]
Query = Mapping[str, Sequence[str]]


class Reply(NamedTuple):
    code: int
    content_type: str
    body: bytes


Route = Callable[[Query], tuple[int, str, bytes]]  # a Reply, or the page's plain tuple
PathRoute = Callable[[str, Query], tuple[int, str, bytes]]  # for every path under a prefix
Explain = ExplainAnswer


def parse_listen(listen: str) -> tuple[str, int]:
    """`:8080` → ("0.0.0.0", 8080); `127.0.0.1:0` → an ephemeral port on loopback."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--listen {listen!r}: expected HOST:PORT or :PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


class ListenError(SdgenError):
    """The ops port cannot be opened (in use, not permitted); the message says what to do."""


class StatusSource(Protocol):
    """/status as bytes, and as the document the page reads (board.StatusPage)."""

    def __call__(self) -> bytes: ...
    def document(self) -> Mapping[str, Any]: ...


def ops_routes(
    registry: CollectorRegistry,
    healthy: Check,
    ready: Check,
    status: StatusSource,
    explain: Explain | None = None,
) -> dict[str, Route]:
    """sdgen's routes; add an entry to serve another path."""
    routes: dict[str, Route] = {
        "/metrics": lambda _: Reply(200, CONTENT_TYPE_LATEST, generate_latest(registry)),
        "/healthz": lambda _: _probe(healthy),
        "/readyz": lambda _: _probe(ready),
        "/status": lambda _: Reply(200, "application/json", status()),
        **ui_routes(status.document, explain),
    }
    if explain is not None:
        routes["/explain"] = lambda query: _explain(explain, query)
    return routes


def served_routes(served: Callable[[str], bytes | None]) -> dict[str, PathRoute]:
    """`sdgen serve`'s documents, by prefix: bytes built once per render, looked up here."""

    def lookup(path: str, _: Query) -> Reply:
        body = served(path)
        if body is None:
            return Reply(404, "text/plain", b"no such shard or job\n")
        ctype = "application/json" if path.startswith("/sd/") else "application/yaml"
        return Reply(200, ctype, body)

    return {"/sd/": lookup, "/scrape/": lookup}


class OpsServer:
    """`routes` served on `listen` by an HttpLoop within `limits`; bound at construction, so
    a port in use is a ListenError before anything starts."""

    def __init__(
        self,
        listen: str,
        routes: Mapping[str, Route],
        limits: Limits | None = None,
        prefixes: Mapping[str, PathRoute] | None = None,
    ) -> None:
        """`routes` by exact path; `prefixes`: for every path under a prefix ending in /."""
        host, port = parse_listen(listen)
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            listener = socket.create_server((host, port), family=family, backlog=128)
        except OSError as err:
            raise ListenError(
                f"--listen {listen}: cannot listen there: {err.strerror or err} — pick another "
                "port (e.g. --listen :8081), or --listen '' for no ops port"
            ) from None
        self._port = int(listener.getsockname()[1])

        def respond(head: bytes) -> tuple[tuple[bytes, ...], bool]:
            return _Exchange(head, routes, prefixes or {}).reply()

        self._loop = HttpLoop(listener, respond, limits or Limits())

    @property
    def port(self) -> int:
        return self._port

    @property
    def open_connections(self) -> int:
        return self._loop.open_connections

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()


class _Exchange(BaseHTTPRequestHandler):
    """One request head in, the reply bytes out: the stdlib's parsing and error replies
    (400, 431 for more than 100 headers, 501 for any method but GET, 505), without its
    socket handling."""

    protocol_version = "HTTP/1.1"  # keep-alive, for scrapers that reuse their connection
    default_request_version = "HTTP/1.0"  # an unparsable request still gets a status line

    def __init__(
        self, head: bytes, routes: Mapping[str, Route], prefixes: Mapping[str, PathRoute]
    ) -> None:
        # Deliberately not BaseHTTPRequestHandler.__init__, which would serve a socket.
        self._routes = routes
        self._prefixes = prefixes
        self.rfile = io.BytesIO(head)
        self.wfile = self._out = io.BytesIO()
        self.client_address = ("ops", 0)
        self.close_connection = True
        self.requestline = ""
        self._body = b""

    def reply(self) -> tuple[tuple[bytes, ...], bool]:
        """The reply's head and body, and whether the connection may stay open."""
        self.handle_one_request()
        headers = getattr(self, "headers", None)
        has_body = headers is not None and (
            headers.get("Content-Length", "0").strip() != "0" or "Transfer-Encoding" in headers
        )  # a GET with a body: its bytes are not read, so the connection cannot go on
        keep = not self.close_connection and not has_body
        return (self._out.getvalue(), self._body), keep

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        route = self._routes.get(url.path)
        prefix = next((p for p in self._prefixes if url.path.startswith(p)), None)
        if route is not None:
            code, ctype, body = route(query)
        elif prefix is not None:
            code, ctype, body = self._prefixes[prefix](url.path, query)
        else:
            code, ctype, body = Reply(404, "text/plain", b"not found\n")
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self._body = body  # sent as it is: /status is 1.2 MB at 5,000 targets

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("ops request: " + format, *args)


def _probe(check: Check) -> Reply:
    ok, detail = check()
    return Reply(
        200 if ok else 503, "text/plain", f"{'ok' if ok else 'unhealthy'}: {detail}\n".encode()
    )


def _explain(explain: Explain, query: Query) -> Reply:
    """GET /explain?target=…[&tenant=NAMESPACE/NAME][&object=KIND/NS/NAME | &address=HOST:PORT]:
    200 with the same JSON as `sdgen explain --json`, or 400 with {"error": …} for a question
    it cannot answer (a targetName that several tenants have, without a tenant, is one)."""
    target = _param(query, "target") or ""
    try:
        if not target:
            raise SdgenError("missing ?target=<targetName>")
        document = explain(
            target,
            _param(query, "object"),
            _param(query, "address"),
            tenant=_param(query, "tenant"),
        )
        code = 200
    except SdgenError as err:
        document, code = {"error": str(err)}, 400
    body = json.dumps(document, indent=2, sort_keys=True).encode() + b"\n"
    return Reply(code, "application/json", body)


def _param(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[0] if values and values[0] else None
