"""Local file mode: the scrape config comes from a file, typically a mounted ConfigMap volume.

Kubernetes updates a mounted ConfigMap by atomically swapping the `..data` symlink in the
volume directory, so watching the file itself misses updates; watchdog therefore watches the
file's *directory*, and any event there only means "maybe changed": the content hash decides.
The periodic re-read in the loop is the fallback for lost events, and a dead observer thread
is restarted by `ensure_alive()`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    EVENT_TYPE_CLOSED_NO_WRITE,
    EVENT_TYPE_OPENED,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from sdgen.runtime.source import ConfigText, text_version

log = logging.getLogger(__name__)

MOUNTINFO = Path("/proc/self/mountinfo")


# A file opened, or closed without a write, changed nothing: sdgen's own reads of the config
# cause these, and each would otherwise start a cycle that reads the file again.
_NO_CHANGE = frozenset({EVENT_TYPE_OPENED, EVENT_TYPE_CLOSED_NO_WRITE})


class _Poke(FileSystemEventHandler):
    def __init__(self, on_event: Callable[[], None]) -> None:
        self._on_event = on_event

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in _NO_CHANGE:
            self._on_event()


class FileSource:
    """The config file plus a watchdog observer on its directory."""

    def __init__(self, path: str | Path, on_change: Callable[[], None]) -> None:
        self.path = Path(path).absolute()
        self._on_change = on_change
        self._lock = threading.Lock()
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self._last_version = ""
        self.restarts = 0

    # The source protocol the loop uses -------------------------------------------------

    def start(self) -> None:
        if looks_like_subpath_mount(self.path):
            log.warning(
                "config file %s looks like a subPath mount: Kubernetes never updates subPath "
                "mounts, so edits to the ConfigMap will not reach sdgen; mount the whole "
                "ConfigMap as a directory instead",
                self.path,
            )
        self._start_observer()

    def stop(self) -> None:
        with self._lock:
            observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=2)

    def synced(self) -> bool:
        return True

    def healthy(self) -> bool:
        with self._lock:
            return self._observer is not None and self._observer.is_alive()

    def ensure_alive(self) -> None:
        """Restart the observer when its thread died (e.g. the directory vanished)."""
        if not self.healthy():
            log.warning("file watcher for %s was not running; restarting it", self.path.parent)
            self.restarts += 1
            self.stop()
            self._start_observer()

    def read(self) -> ConfigText:
        origin = str(self.path)
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return ConfigText(None, origin, problem=f"config file {origin} does not exist")
        except OSError as err:
            return ConfigText(
                None, origin, problem=f"cannot read config file {origin}: {err.strerror}"
            )
        version = text_version(data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            return ConfigText(
                None, origin, version, f"config file {origin} is not UTF-8 text (byte {err.start})"
            )
        return ConfigText(text, origin, version)

    # ------------------------------------------------------------------------------------

    def _start_observer(self) -> None:
        observer = Observer()
        observer.daemon = True
        directory = self.path.parent
        try:
            observer.schedule(_Poke(self._on_change), str(directory), recursive=False)
            observer.start()
        except OSError as err:
            # The periodic re-read still works; ensure_alive() retries on the next cycle.
            log.warning(
                "cannot watch %s (%s); relying on the periodic re-read",
                directory,
                err.strerror or err,
            )
            return
        with self._lock:
            self._observer = observer


def looks_like_subpath_mount(path: Path, mountinfo: Path = MOUNTINFO) -> bool:
    """True when `path` itself is a mount point, which is what a subPath volume mount is."""
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return False
    target = os.path.realpath(path)
    for line in lines:
        fields = line.split()
        # mountinfo field 5 is the mount point, with spaces escaped as \040.
        if len(fields) > 4 and fields[4].replace("\\040", " ") == target:
            return True
    return False
