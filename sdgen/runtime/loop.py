"""The sidecar's loop: config source + discovery caches → resolve → render → atomic files.

`run()` is a thin wait loop around `run_once()`, which does one whole cycle and is what tests
drive. A cycle never replaces good output because of a problem: while the config is missing
or unusable, or an informer has not synced, the files on disk stay as they are. Rejected
targets (invalid, or failing to resolve) keep their own last good files while the others
update.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sdgen.config.document import parse_config
from sdgen.config.model import Config, Severity
from sdgen.k8s.view import Cluster, ClusterNeeds
from sdgen.output import naming, render
from sdgen.output.outputdir import OutputDir, SyncResult
from sdgen.output.secretfiles import materialize
from sdgen.resolve.resolver import Resolution, Resolver, without_cycle_collection
from sdgen.resolve.scope import needs
from sdgen.resolve.sharding import Shard
from sdgen.runtime.metrics import Metrics
from sdgen.runtime.reload import Reloader
from sdgen.runtime.source import ConfigSource, ConfigText

log = logging.getLogger(__name__)

MAX_DEBOUNCE = 1.0  # an edit reaches the files at most this long after it was seen


class Discovery(Protocol):
    """The caches behind the targets: informers (sdgen.discovery) or a snapshot."""

    def ensure(self, needed: ClusterNeeds) -> None: ...
    def synced(self) -> bool: ...
    def cluster(self) -> Cluster: ...
    def version(self) -> object: ...
    def stalled(self) -> list[str]: ...
    def stop(self) -> None: ...


@dataclass(frozen=True)
class Options:
    default_namespace: str
    keep_meta_labels: bool = False
    shard: Shard | None = None
    on_missing_config: str = "keep"  # keep | clear
    materialize_secrets: bool = False  # accept Secret references, write them under secrets/
    keep_discovered: bool = False  # targets keep their discovered labels (`sdgen targets`)


@dataclass
class TargetStatus:
    endpoints: int = 0
    targets: int = 0
    error: str = ""
    files: list[str] = field(default_factory=list)


@dataclass
class State:
    """What /status, /readyz and the logs report; replaced field by field by the loop."""

    config_origin: str = ""
    config_version: str = ""
    config_valid: bool = False
    config_issues: list[str] = field(default_factory=list)
    last_render: float = 0.0  # wall clock of the last completed render
    last_cycle: float = 0.0  # monotonic time of the last finished cycle
    rendered_once: bool = False
    waiting_for: str = ""
    write_errors: list[str] = field(default_factory=list)  # of the last sync; [] once it worked
    targets: dict[str, TargetStatus] = field(default_factory=dict)


class App:
    def __init__(
        self,
        source: ConfigSource,
        discovery: Discovery | None,
        output: OutputDir,
        options: Options,
        metrics: Metrics | None = None,
        reloader: Reloader | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.discovery = discovery
        self.output = output
        self.options = options
        self.metrics = metrics or Metrics()
        self.reloader = reloader
        self.clock = clock
        self.state = State()
        self._dirty = threading.Event()
        self._parsed: tuple[str, Config] | None = None
        self._rendered_key: object = None
        self._missing = False  # the config source synced and holds no config
        # Long-lived: a cycle relabels and encodes only the objects that changed since the last.
        self._resolver = Resolver(
            default_namespace=options.default_namespace,
            keep_meta_labels=options.keep_meta_labels,
            shard=options.shard,
            keep_discovered=options.keep_discovered,
        )
        self._renderer = render.Renderer()

    # Change notifications arrive here from informer and watchdog threads.
    def poke(self) -> None:
        self._dirty.set()

    @property
    def pending(self) -> bool:
        """A change arrived since the last cycle began reading the caches."""
        return self._dirty.is_set()

    def run(self, stop: threading.Event, interval: float, debounce: float) -> None:
        """Render every `interval`, and `debounce` after a change (at most 1 s after it).
        Until the first render, a change is acted on at once: there is no burst to coalesce
        yet, only caches completing their first sync one by one."""
        while not stop.is_set():
            self._safe_cycle()
            wait = debounce if self.state.rendered_once else 0.0
            if stop.wait(0) or not self._wait_for_work(stop, interval, wait):
                return

    def _wait_for_work(self, stop: threading.Event, interval: float, debounce: float) -> bool:
        deadline = self.clock() + interval
        while not self._dirty.wait(timeout=min(0.5, max(0.0, deadline - self.clock()))):
            if stop.is_set():
                return False
            if self.clock() >= deadline:
                return True
        # A burst of changes: keep waiting while they keep coming, but never past 1 s.
        first = self.clock()
        while not stop.is_set():
            self._dirty.clear()
            if stop.wait(debounce) or not self._dirty.is_set():
                break
            if self.clock() - first + debounce > MAX_DEBOUNCE:
                break
        self._dirty.clear()
        return not stop.is_set()

    def _safe_cycle(self) -> None:
        try:
            self.run_once()
        except Exception:  # a bug must not kill the sidecar; the next cycle retries
            log.exception("render cycle failed")
        self.state.last_cycle = self.clock()

    # One cycle ------------------------------------------------------------------------

    def run_once(self) -> SyncResult | None:
        """Read, resolve, render and write once. Returns the write result, None if skipped."""
        # This cycle sees every change made so far: one arriving from now on pokes again. Left
        # set, a change a periodic cycle already rendered would cost a second, debounced one
        # (and delay the next change by that debounce).
        self._dirty.clear()
        config = self.current_config()
        if config is None:
            return (
                self._clear()
                if self._missing and self.options.on_missing_config == "clear"
                else None
            )
        key = (self.state.config_version, self.discovery.version() if self.discovery else None)
        if key == self._rendered_key and not self.output.tampered():
            return SyncResult([], 0, [], [])
        started = self.clock()
        with without_cycle_collection():  # the cycle's garbage is freed by reference counting
            result = self._write(config, self.resolve(config))
        self.metrics.render_duration.observe(self.clock() - started)
        if not result.errors:
            self._rendered_key = key
        return result

    def current_config(self) -> Config | None:
        """The config to render now, with the informers it needs started and synced;
        None when this cycle must change nothing (the reason is in state.waiting_for)."""
        self.source.ensure_alive()
        text = self.source.read()
        self.state.config_origin = text.origin
        self._missing = text.text is None and self.source.synced()
        if text.text is None:
            self._report_missing(text)
            return None
        config = self._parse(text)
        if not config.usable:
            self._skip(f"config invalid: {self.state.config_issues[0]}")
            return None
        if self.discovery is not None and config.enabled:
            self.discovery.ensure(needs(config, self.options.default_namespace))
            if not self.discovery.synced():
                self._skip("informers not synced yet")
                return None
        return config

    def resolve(self, config: Config) -> Resolution:
        if not config.enabled:
            return Resolution((), {}, ())
        resolution = self._resolver(config, self.discovery.cluster() if self.discovery else None)
        for warning in resolution.warnings:
            log.warning("%s", warning)
        return resolution

    def with_secrets(self, resolution: Resolution) -> tuple[Resolution, dict[str, bytes]]:
        """The files under secrets/, and the resolution with the targets whose Secrets cannot
        be read moved to its errors."""
        cluster = self.discovery.cluster() if self.discovery else None
        return materialize(resolution, cluster, self.options.default_namespace)

    def _write(self, config: Config, resolution: Resolution) -> SyncResult:
        resolution, secrets = self.with_secrets(resolution)
        desired = self._renderer.render(resolution.endpoints) | secrets
        held = {naming.target_prefix(n) for n in (*config.rejected, *resolution.errors)}
        result = self.output.sync(desired, keep=lambda path: naming.prefix_of(path) in held)
        self._account(result)
        self._update_targets(config, resolution, desired)
        self.state.last_render = time.time()
        self.state.rendered_once = True
        self.state.waiting_for = ""
        return result

    def _parse(self, text: ConfigText) -> Config:
        assert text.text is not None
        if self._parsed is None or self._parsed[0] != text.version:
            config = parse_config(
                text.text, source=text.origin, allow_secrets=self.options.materialize_secrets
            )
            self._parsed = (text.version, config)
            self._report_config(text, config)
        return self._parsed[1]

    def _report_config(self, text: ConfigText, config: Config) -> None:
        issues = [issue.format(text.origin) for issue in config.issues]
        self.state.config_version = text.version
        self.state.config_issues = issues
        self.state.config_valid = config.usable and not config.errors
        self.metrics.config_valid.set(1 if self.state.config_valid else 0)
        for line in issues:
            log.warning("config: %s", line)
        if config.usable:
            self.metrics.config_last_success.set_to_current_time()
            log.info(
                "config loaded",
                extra={
                    "origin": text.origin,
                    "version": text.version,
                    "targets": len(config.targets),
                    "rejected": len(config.rejected),
                },
            )
        else:
            self.metrics.config_errors.inc()
            log.error("config rejected, keeping the last good files", extra={"origin": text.origin})

    def _report_missing(self, text: ConfigText) -> None:
        if not self._missing:
            self._skip("config source not synced yet")
            return
        self.state.config_valid = False
        self.state.config_issues = [text.problem]
        self.metrics.config_valid.set(0)
        self._parsed = None
        self._rendered_key = None
        if self.options.on_missing_config == "clear":
            self._skip(
                f"{text.problem}; removing the files sdgen wrote (--on-missing-config=clear)"
            )
        else:
            self._skip(f"{text.problem}; keeping the last good files")

    def _clear(self) -> SyncResult:
        result = self.output.sync({})
        self._account(result)
        self.state.targets = {}
        self.metrics.set_targets({})
        return result

    def _skip(self, why: str) -> None:
        if why != self.state.waiting_for:
            log.info("not rendering: %s", why)
        self.state.waiting_for = why

    def _account(self, result: SyncResult) -> None:
        self.metrics.file_writes.inc(len(result.written))
        self.metrics.file_writes_skipped.inc(result.unchanged)
        self.metrics.file_removals.inc(len(result.removed))
        self.metrics.file_errors.inc(len(result.errors))
        self.state.write_errors = list(result.errors)
        for error in result.errors:
            log.error("write failed: %s", error)
        if result.written or result.removed:
            changed_files = [*result.written, *(f"-{p}" for p in result.removed)]
            log.info(
                "files updated",
                extra={
                    "written": len(result.written),
                    "removed": len(result.removed),
                    # names only while they fit on a line; counts tell the rest
                    "files": ",".join(changed_files) if len(changed_files) <= 12 else "...",
                },
            )
        changed = [*result.written, *result.removed]
        if self.reloader is not None and any(p.startswith("scrape/") for p in changed):
            self.reloader.request()

    def _update_targets(self, config: Config, res: Resolution, desired: dict[str, bytes]) -> None:
        files_by_prefix: dict[str, list[str]] = {}
        for path in sorted(desired):
            files_by_prefix.setdefault(naming.prefix_of(path), []).append(path)
        statuses: dict[str, TargetStatus] = {}
        for et in res.endpoints:
            status = statuses.setdefault(et.target.name, TargetStatus())
            status.endpoints += 1
            status.targets += len(et.lines)
            status.files = files_by_prefix.get(naming.target_prefix(et.target.name), [])
        for issue in config.issues:
            if issue.target and issue.severity == Severity.ERROR:
                statuses.setdefault(issue.target, TargetStatus()).error = issue.message
        for name, message in res.errors.items():
            statuses.setdefault(name, TargetStatus()).error = message
        self.state.targets = statuses
        self.metrics.set_targets({name: s.targets for name, s in statuses.items()})

    # Probes ------------------------------------------------------------------------------

    def healthy(self, interval: float) -> tuple[bool, str]:
        """Liveness: the loop ran within three intervals and every watch made progress."""
        if self.state.last_cycle and self.clock() - self.state.last_cycle > 3 * interval + 5:
            return False, "render loop has not run for %.0fs" % (
                self.clock() - self.state.last_cycle
            )
        if not self.source.healthy():
            return False, "config file watcher is not running"
        stalled = self.discovery.stalled() if self.discovery else []
        if stalled:
            return False, "no watch progress: " + ", ".join(stalled)
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        if not self.state.rendered_once:
            return False, self.state.waiting_for or "no render yet"
        return True, "rendered"

    def status(self) -> dict[str, Any]:
        s = self.state
        return {
            "config": {
                "origin": s.config_origin,
                "version": s.config_version,
                "valid": s.config_valid,
                "issues": s.config_issues,
            },
            "last_render": s.last_render,
            "waiting_for": s.waiting_for,
            "write_errors": s.write_errors,
            "targets": {
                name: {
                    "endpoints": t.endpoints,
                    "targets": t.targets,
                    "last_error": t.error,
                    "files": t.files,
                }
                for name, t in sorted(s.targets.items())
            },
        }
