"""The status board: what /status, /readyz, sdgen's metrics and its state log lines report.

Updated only from cycle results (`record`), so the cycle stays a function of its inputs and
every report reads one place. Liveness (/healthz) is judged from the threads, not from here:
see `liveness`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from sdgen.output.outputdir import SyncResult
from sdgen.resolve.scope import active_targets
from sdgen.runtime.cycle import ConfigStatus, CycleResult, Outcome, TargetStatus
from sdgen.runtime.logs import Repeats
from sdgen.runtime.metrics import Metrics
from sdgen.runtime.rollout import Rollout
from sdgen.runtime.tenants import tenant_counts

log = logging.getLogger(__name__)

MAX_LOGGED_FILES = 12  # "files updated" names the files while they fit on a line
MAX_REPLACED = 20  # /status keeps the last reports of foreign things at sdgen's file names


class Board:
    def __init__(self, metrics: Metrics | None = None, wall: Callable[[], float] = time.time):
        self.metrics = metrics or Metrics()
        self._wall = wall
        self.config = ConfigStatus()
        self.last_render = 0.0  # wall clock of the last completed render
        self.rendered_once = False
        self.waiting_for = ""
        self.write_errors: tuple[str, ...] = ()  # of the last sync; () once it worked
        # "relpath: what was there": a FIFO, symlink, directory or huge file found at a name
        # sdgen owns (someone else wrote the volume), replaced; the last MAX_REPLACED, kept
        self.replaced_files: tuple[str, ...] = ()
        self.targets: Mapping[str, TargetStatus] = {}
        self.rollout = Rollout(wall)  # seen → written → loaded, with Prometheus's answer
        self.lint: tuple[str, ...] = ()  # the last render's lint warnings
        self.revision = 0  # goes up when what status() reports, rollout aside, changed
        self._write_failures = Repeats("write failed")
        self.tenants: Mapping[str, ConfigStatus] = {}  # --configmap-selector: per tenant

    def record(self, result: CycleResult) -> None:
        """Take in what a cycle did."""
        before, targets = self._reported(), self.targets
        self._take(result)
        if self._reported() != before or self.targets is not targets:
            self.revision += 1  # last: a reader that sees it sees the new values

    def failed(self) -> None:
        """A cycle that raised (the scheduler logs it)."""
        self.metrics.cycles.labels("failed").inc()

    def _reported(self) -> tuple[object, ...]:
        """What status() reads, but the targets (compared by identity) and the rollout
        (which the reloader's answers change between cycles: StatusPage asks it each time)."""
        return (
            self.config,
            self.last_render,
            self.waiting_for,
            self.write_errors,
            self.replaced_files,
            self.lint,
            self.tenants,
        )

    def _take(self, result: CycleResult) -> None:
        self.metrics.cycles.labels(result.outcome.value).inc()
        self._record_config(result)
        if result.outcome in (Outcome.WAITING, Outcome.CLEARED):
            self._not_rendering(result.reading.waiting_for)
        if result.sync is not None:
            self._record_sync(result.sync)
            self.targets = result.targets
            self.metrics.set_targets({name: s.targets for name, s in result.targets.items()})
            self.metrics.set_funnels(
                {name: s.funnel.stages() for name, s in result.targets.items() if s.funnel}
            )
        if result.reading.tenants or self.tenants:
            self.tenants = result.reading.tenants
            self.metrics.set_tenants(
                {key: status.valid for key, status in self.tenants.items()},
                self._tenant_targets(),
            )
        if result.outcome is Outcome.RENDERED:
            self._record_lint(result.lint)
            self.metrics.render_duration.observe(result.duration)
            self.last_render = self._wall()
            self.rendered_once = True
            self.waiting_for = ""

    def rolled(
        self, result: CycleResult, ticket: int | None, loaded: Callable[[int], bool] | None
    ) -> None:
        """After `record` and any reload request: the versions seen, written and loaded.
        `ticket`: the reloader's latest ticket, None without one; `loaded` its `loaded`."""
        self.rollout.saw(result.reading.status.version)
        if (
            result.outcome is Outcome.RENDERED
            and result.sync is not None
            and not result.sync_errors
        ):
            changed = bool(result.sync.written or result.sync.removed)
            self.rollout.wrote(result.reading.status.version, ticket, changed)
        if loaded is not None:
            self.rollout.confirm(loaded)
        self.metrics.set_config_versions(
            {str(stage): version for stage, version in self.rollout.versions().items()}
        )

    def ready(self) -> tuple[bool, str]:
        if not self.rendered_once:
            return False, self.waiting_for or "no render yet"
        return True, "rendered"

    def _tenant_targets(self) -> dict[str, int]:
        return tenant_counts(self.tenants, {n: t.targets for n, t in self.targets.items()})

    def status(self) -> dict[str, Any]:
        """The /status document (without "watches", which the informers report)."""
        found = self._tenant_status()
        return {**found, **self._status()}

    def _tenant_status(self) -> dict[str, Any]:
        """ "tenants", when following tenant ConfigMaps: each one's config and targets."""
        if not self.tenants:
            return {}
        counts = self._tenant_targets()
        return {
            "tenants": {
                key: {
                    "origin": status.origin,
                    "version": status.version,
                    "valid": status.valid,
                    "issues": list(status.issues),
                    "targets": counts.get(key, 0),
                }
                for key, status in self.tenants.items()
            }
        }

    def _status(self) -> dict[str, Any]:
        return {
            "config": {
                "origin": self.config.origin,
                "version": self.config.version,
                "valid": self.config.valid,
                "issues": [*self.config.issues, *self.lint],
            },
            "rollout": self.rollout.status(),
            "last_render": self.last_render,
            "waiting_for": self.waiting_for,
            "write_errors": list(self.write_errors),
            "replaced_files": list(self.replaced_files),
            "targets": {
                name: {
                    "endpoints": t.endpoints,
                    "targets": t.targets,
                    "last_error": t.error,
                    "files": list(t.files),
                    "funnel": t.funnel.as_json() if t.funnel is not None else None,
                }
                for name, t in sorted(self.targets.items())
            },
        }

    def _record_config(self, result: CycleResult) -> None:
        self.config = result.reading.status
        self.metrics.config_valid.set(1 if self.config.valid else 0)
        loaded = result.reading.loaded
        if loaded is None:
            return
        if loaded.usable:  # an unusable config changes nothing, the funnel neither
            held = loaded.rejected & set(self.targets)
            self.metrics.set_funnel_targets([*(t.name for t in active_targets(loaded)), *held])
        if loaded.usable:
            self.metrics.config_last_success.set_to_current_time()
        else:
            self.metrics.config_errors.inc()

    def _record_lint(self, lint: tuple[str, ...]) -> None:
        """Each warning is logged when it appears, not every cycle it persists."""
        known = set(self.lint)
        for warning in lint:
            if warning not in known:
                log.warning("lint: %s", warning)
        self.lint = lint

    def _not_rendering(self, why: str) -> None:
        if why != self.waiting_for:
            log.info("not rendering: %s", why)
        self.waiting_for = why

    def _record_sync(self, result: SyncResult) -> None:
        self.metrics.file_writes.inc(len(result.written))
        self.metrics.file_writes_skipped.inc(result.unchanged)
        self.metrics.file_removals.inc(len(result.removed))
        self.metrics.file_errors.inc(len(result.errors))
        self.write_errors = tuple(result.errors)
        if result.replaced:
            self.replaced_files = (*self.replaced_files, *result.replaced)[-MAX_REPLACED:]
        # Once per error while it recurs, each cycle (a full volume): its count when it ends.
        self._write_failures.report(result.errors, lambda e: log.error("write failed: %s", e))
        if result.written or result.removed:
            changed = [*result.written, *(f"-{p}" for p in result.removed)]
            log.info(
                "files updated",
                extra={
                    "written": len(result.written),
                    "removed": len(result.removed),
                    # names only while they fit on a line; counts tell the rest
                    "files": ",".join(changed) if len(changed) <= MAX_LOGGED_FILES else "...",
                },
            )


class StatusPage:
    """/status as bytes, encoded at most once per board revision and state of the watches.

    At 5,000 targets the document is 1.2 MB; encoded on every request, eight clients raised
    ConfigMap edit → file from 4 s to 26 s, the encoding competing with the render loop for
    the interpreter. The watches (a few informers) and the rollout are asked each time, the
    board's part is re-encoded only after a cycle changed it.
    """

    def __init__(
        self,
        board: Board,
        watches: Callable[[], dict[str, Any]],
        fixed: Mapping[str, Any] | None = None,
    ) -> None:
        """`fixed`: parts of the document that never change while the process runs (the
        sharding scheme)."""
        self._board = board
        self._watches = watches
        self._fixed = dict(fixed or {})
        self._lock = threading.Lock()  # concurrent requests after a change encode once
        self._key: tuple[int, dict[str, Any], dict[str, Any]] | None = None
        self._body = b""
        self._document: Mapping[str, Any] = {}
        self.builds = 0

    def __call__(self) -> bytes:
        return self._current()[1]

    def document(self) -> Mapping[str, Any]:
        """The same document, decoded (the HTML page reads it); shared: do not change it."""
        return self._current()[0]

    def _current(self) -> tuple[Mapping[str, Any], bytes]:
        key = (self._board.revision, self._board.rollout.status(), self._watches())
        with self._lock:
            if key != self._key:
                self._document = {**self._board.status(), "watches": key[2], **self._fixed}
                body = json.dumps(self._document, indent=2, sort_keys=True).encode() + b"\n"
                self._body, self._key = body, key
                self.builds += 1
            return self._document, self._body
