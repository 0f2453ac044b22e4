"""Tiny Prometheus exporters for end-to-end tests and `make demo`: each serves a fixed text
exposition on `/metrics` at one loopback address (Linux routes all of 127.0.0.0/8, so each
fake pod gets its own 127.0.0.x IP), over http or, given a cert and key, https.

Run standalone: `python -m tests.support.exporters 127.0.0.2:9100 127.0.0.3:9100 ...` serves
`series()` for each address until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def series(name: str) -> str:
    """The exposition every exporter serves; `name` makes each one's values recognisable."""
    return (
        "# TYPE demo_requests_total counter\n"
        f'demo_requests_total{{code="200",path="/",secret="s3cr3t",exporter="{name}"}} 7\n'
        f'demo_requests_total{{code="503",path="/",secret="s3cr3t",exporter="{name}"}} 1\n'
        "# TYPE demo_temperature_celsius gauge\n"
        f'demo_temperature_celsius{{room="lab",exporter="{name}"}} 21.5\n'
        "# TYPE other_noise gauge\n"
        f'other_noise{{exporter="{name}"}} 1\n'
    )


class Exporter:
    """One exporter on its own thread; `stop()` closes the listener.

    `auth`: the exact Authorization header a scrape must send, else 401 (so a test sees a
    scraper apply its credentials); `requests` holds each request's path and query, so a
    test sees its params."""

    def __init__(
        self,
        host: str,
        port: int = 0,
        body: str = "",
        tls: tuple[Path, Path] | None = None,
        auth: str | None = None,
    ) -> None:
        text = (body or series(host)).encode()
        self.requests: list[str] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                if auth is not None and self.headers.get("Authorization") != auth:
                    self.send_response(401)
                    self.end_headers()
                    return
                found = self.path.split("?")[0] == "/metrics"
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(text if found else b"not found\n")

            def log_message(self, *args: object) -> None:  # scrapes are not news
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.host, self.port = host, self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.exporters", description=__doc__)
    parser.add_argument("addresses", nargs="+", help="HOST:PORT to serve /metrics on")
    parser.add_argument("--tls-cert", type=Path, help="serve https with this certificate")
    parser.add_argument("--tls-key", type=Path, help="and this key")
    args = parser.parse_args(argv)
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    exporters = []
    for address in args.addresses:
        host, _, port = address.rpartition(":")
        exporters.append(Exporter(host, int(port), tls=tls))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print("exporters on " + " ".join(e.address for e in exporters), flush=True)
    stop.wait()
    for exporter in exporters:
        exporter.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
