"""A real headless Chromium, driven by Debian's chromedriver over the W3C WebDriver HTTP API
(plain JSON over HTTP; no selenium): open a page, find and click elements, type into a form,
read the DOM, take screenshots and collect the console's errors.

Both binaries come from tests/tools/fetch-chromium (`make tools`); a test that needs them and
cannot find them fails, it does not skip (`binary`).
"""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.helpers import binary, free_port, stop_process, wait_for

# The W3C key that marks a JSON object as an element reference.
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class WebDriverError(AssertionError):
    """chromedriver refused a command; the message is its answer."""


class Browser:
    """One chromedriver process with one headless Chromium session."""

    def __init__(self, tmp: Path, width: int = 1200, height: int = 900) -> None:
        self.port = free_port()
        self.log_path = tmp / "chromedriver.log"
        self.proc = subprocess.Popen(
            [
                str(binary("chromedriver")),
                f"--port={self.port}",
                f"--log-path={self.log_path}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(self._ready, timeout=30, interval=0.1, message="chromedriver ready")
            options = {
                "binary": str(binary("chromium")),
                "args": [
                    "--headless=new",
                    "--no-sandbox",  # the tests may run as root, where the sandbox refuses
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--hide-scrollbars",
                    f"--window-size={width},{height}",
                    f"--user-data-dir={tmp / 'chromium-profile'}",
                ],
            }
            capabilities = {
                "browserName": "chrome",
                "goog:chromeOptions": options,
                "goog:loggingPrefs": {"browser": "ALL"},
            }
            session = self._call(
                "POST", "/session", {"capabilities": {"alwaysMatch": capabilities}}
            )
            self.session = str(session["sessionId"])
        except BaseException:
            stop_process(self.proc)
            raise

    def _ready(self) -> bool:
        try:
            return bool(self._call("GET", "/status")["ready"])
        except (OSError, WebDriverError):
            return False

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as err:
            raise WebDriverError(f"{method} {path}: {err.code} {err.read().decode()}") from None

    def command(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """A command of this session: `path` is relative to /session/<id>."""
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, url: str) -> None:
        self.command("POST", "/url", {"url": url})

    @property
    def url(self) -> str:
        return str(self.command("GET", "/url"))

    @property
    def title(self) -> str:
        return str(self.command("GET", "/title"))

    def find(self, css: str) -> str:
        """The first element matching `css`, by its WebDriver reference."""
        found = self.command("POST", "/element", {"using": "css selector", "value": css})
        return str(found[ELEMENT])

    def find_all(self, css: str) -> list[str]:
        found = self.command("POST", "/elements", {"using": "css selector", "value": css})
        return [str(element[ELEMENT]) for element in found]

    def click(self, element: str) -> None:
        self.command("POST", f"/element/{element}/click", {})

    def type(self, element: str, text: str) -> None:
        self.command("POST", f"/element/{element}/clear", {})
        self.command("POST", f"/element/{element}/value", {"text": text})

    def text(self, element: str) -> str:
        return str(self.command("GET", f"/element/{element}/text"))

    def script(self, source: str) -> Any:
        """Evaluates `source` in the page (the test's own probe, not the page's)."""
        return self.command("POST", "/execute/sync", {"script": source, "args": []})

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.command("GET", "/screenshot")))
        return path

    def console(self) -> list[dict[str, Any]]:
        """The console's entries since the last call (chromedriver's browser log)."""
        return list(self.command("POST", "/se/log", {"type": "browser"}))

    def console_errors(self) -> list[str]:
        return [str(e["message"]) for e in self.console() if e.get("level") == "SEVERE"]

    def close(self) -> None:
        with contextlib.suppress(OSError, WebDriverError):  # the process goes anyway
            self.command("DELETE", "")
        stop_process(self.proc)
