"""Log setup: one line per event worth knowing, as text for people or JSON for log pipelines.

Structured fields travel in the `extra` of a log call (e.g. `extra={"target": name}`) and
appear as keys in JSON output and as `key=value` pairs in text output.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from sdgen.config.model import printable

# Attributes every LogRecord has; anything else came from `extra=` and is a field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        # One event, one line: control characters in values from configs, pods or the API
        # server are escaped (a targetName with a newline must not forge a log line).
        line = f"{stamp}Z {record.levelname.lower():7} {printable(record.getMessage())}"
        extras = " ".join(f"{k}={printable(str(v))}" for k, v in _fields(record).items())
        if extras:
            line = f"{line} {extras}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class Repeats:
    """One log line per distinct problem while it lasts, and how often it was seen when it
    ends: a problem that recurs every cycle (a failing write, a failing cycle) is not a line
    per cycle."""

    def __init__(self, what: str, logger: logging.Logger | None = None) -> None:
        self._what = what
        self._log = logger or logging.getLogger(__name__)
        self._seen: dict[str, int] = {}  # problem -> cycles in a row it was reported in

    def report(self, problems: Iterable[str], emit: Callable[[str], object]) -> None:
        """This cycle's problems: `emit` each new one; log the count of each that ended."""
        current = dict.fromkeys(problems)
        for problem in [p for p in self._seen if p not in current]:
            count = self._seen.pop(problem)
            if count > 1:
                self._log.info("%s %d times in a row, no longer: %s", self._what, count, problem)
        for problem in current:
            if problem in self._seen:
                self._seen[problem] += 1
            else:
                self._seen[problem] = 1
                emit(problem)


def setup(log_format: str = "text", level: str = "info") -> None:
    """Route the root logger to stderr in the chosen format (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The kubernetes client and urllib3 log every retry at warning; sdgen reports its own.
    for noisy in ("urllib3", "kubernetes", "watchdog"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def last_words(message: str) -> None:
    """Write one error line straight to stderr, without waiting: for a process about to exit
    while another thread may be blocked in a log write (stderr into a full pipe) holding the
    handler's lock. Formatted as the configured handler would; lost if stderr cannot take it."""
    handlers = logging.getLogger().handlers
    formatter = handlers[0].formatter if handlers and handlers[0].formatter else TextFormatter()
    record = logging.makeLogRecord({"levelname": "ERROR", "levelno": logging.ERROR})
    record.name, record.msg = __name__, message
    line = (formatter.format(record) + "\n").encode(errors="replace")
    try:
        os.set_blocking(2, False)
        os.write(2, line)
    except OSError:
        pass
