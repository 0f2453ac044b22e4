"""The ops HTTP endpoint: /metrics, /healthz, /readyz, /status, /explain and the HTML page
(`/`, `/ui`, `/ui/target`: sdgen.runtime.page) on --listen, and for `sdgen serve` the HTTP SD
documents (/sd/<shard>[/<job>]) and fragments (/scrape/<shard>).

A stdlib threaded server is enough for a handful of probe and scrape requests; it asks the
liveness check, the board and the informers for their state through three callables and never
blocks the render loop.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from sdgen import SdgenError
from sdgen.runtime.page import ExplainAnswer, ui_routes

log = logging.getLogger(__name__)

Check = Callable[[], tuple[bool, str]]
Explain = ExplainAnswer


def parse_listen(listen: str) -> tuple[str, int]:
    """`:8080` → ("0.0.0.0", 8080); `127.0.0.1:0` → an ephemeral port on loopback."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--listen {listen!r}: expected HOST:PORT or :PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


class ListenError(SdgenError):
    """The ops port cannot be opened (in use, not permitted); the message says what to do."""


class OpsServer:
    def __init__(
        self,
        listen: str,
        registry: CollectorRegistry,
        healthy: Check,
        ready: Check,
        status: Callable[[], dict[str, Any]],
        explain: Explain | None = None,
        served: Callable[[str], bytes | None] | None = None,
    ) -> None:
        """`served`: `sdgen serve`'s documents by URL path (/sd/..., /scrape/...)."""
        host, port = parse_listen(listen)
        routes: dict[str, Callable[[], tuple[int, str, bytes]]] = {
            "/metrics": lambda: (200, CONTENT_TYPE_LATEST, generate_latest(registry)),
            "/healthz": lambda: _probe(healthy),
            "/readyz": lambda: _probe(ready),
            "/status": lambda: (
                200,
                "application/json",
                json.dumps(status(), indent=2, sort_keys=True).encode() + b"\n",
            ),
        }
        ui = ui_routes(status, explain)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                route = routes.get(path)
                if path == "/explain" and explain is not None:
                    code, ctype, body = _explain(explain, query)
                elif path in ui:
                    code, ctype, body = ui[path](urllib.parse.parse_qs(query))
                elif served is not None and path.startswith(_SERVED):
                    code, ctype, body = _served(served, path)
                else:
                    code, ctype, body = route() if route else (404, "text/plain", b"not found\n")
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("ops request: " + format, *args)

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as err:
            raise ListenError(
                f"--listen {listen}: cannot listen there: {err.strerror or err} — pick another "
                "port (e.g. --listen :8081), or --listen '' for no ops port"
            ) from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ops-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2)


_SERVED = ("/sd/", "/scrape/")


def _served(served: Callable[[str], bytes | None], path: str) -> tuple[int, str, bytes]:
    """Bytes built once per render: no work here beyond the lookup."""
    body = served(path)
    if body is None:
        return 404, "text/plain", b"no such shard or job\n"
    ctype = "application/json" if path.startswith("/sd/") else "application/yaml"
    return 200, ctype, body


def _probe(check: Check) -> tuple[int, str, bytes]:
    ok, detail = check()
    return (200 if ok else 503), "text/plain", f"{'ok' if ok else 'unhealthy'}: {detail}\n".encode()


def _explain(explain: Explain, query: str) -> tuple[int, str, bytes]:
    """GET /explain?target=…[&object=KIND/NS/NAME | &address=HOST:PORT]: 200 with the same
    JSON as `sdgen explain --json`, or 400 with {"error": …} for a question it cannot answer."""
    params = urllib.parse.parse_qs(query)
    target = params.get("target", [""])[0]
    try:
        if not target:
            raise SdgenError("missing ?target=<targetName>")
        document = explain(target, _param(params, "object"), _param(params, "address"))
        code = 200
    except SdgenError as err:
        document, code = {"error": str(err)}, 400
    body = json.dumps(document, indent=2, sort_keys=True).encode() + b"\n"
    return code, "application/json", body


def _param(params: dict[str, list[str]], name: str) -> str | None:
    return params.get(name, [None])[0] or None
