"""Kubernetes Events on the ConfigMap the config came from, written without slowing the loop
(with tenant ConfigMaps, `TenantEvents`: each tenant's on its own).

What the loop reports (`LoopEvents`): `ConfigInvalid` (a new version that cannot be used,
with its located issues), `TargetRejected` (one per target whose error is new), `ConfigApplied`
(a new version rendered: its version and target counts) and `ReloadFailed` (Prometheus
refused a reload: the body of its answer). `Emitter.emit` only puts the occurrence on a
bounded queue (full: dropped and counted); a thread of its own asks the pure `Recorder` what
to write (dedup into series, rate limit, heartbeat) and writes it through an `EventSink` (the
API client's `EventWriter`). A failure to write (RBAC, API down) is logged once, until writes
work again, and every outcome is counted in `sdgen_events_total{reason,result}`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from sdgen.runtime.cycle import CycleResult, Outcome
from sdgen.runtime.recorder import (
    EventType,
    Occurrence,
    Recorder,
    Regarding,
    Series,
    Write,
    event_body,
    event_name,
    series_patch,
)
from sdgen.runtime.reload import ReloadAnswer

log = logging.getLogger(__name__)

QUEUE_SIZE = 256
_IDLE_POLL = 1.0  # the thread looks at `stop` and the heartbeat this often


class EventSink(Protocol):
    def create(self, namespace: str, body: dict[str, Any]) -> None: ...
    def patch(self, namespace: str, name: str, patch: dict[str, Any]) -> None: ...


Counter = Callable[[str, str], None]  # (reason, result)


class Emitter:
    def __init__(
        self,
        sink: EventSink,
        instance: str,
        stop: threading.Event,
        count: Counter,
        *,
        recorder: Recorder | None = None,
        clock: Callable[[], float] = time.time,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self._sink = sink
        self._instance = instance
        self._stop = stop
        self._count = count
        self.recorder = recorder or Recorder()
        self._clock = clock
        self._queue: queue.Queue[Occurrence] = queue.Queue(queue_size)
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def emit(self, occurrence: Occurrence) -> None:
        """Never blocks: a full queue drops the occurrence (counted as `dropped`)."""
        try:
            self._queue.put_nowait(occurrence)
        except queue.Full:
            self._count(occurrence.reason, "dropped")

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every occurrence emitted so far was handled (for tests and shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                occurrence = self._queue.get(timeout=_IDLE_POLL)
            except queue.Empty:
                occurrence = None
            if occurrence is not None:
                try:
                    self._handle(occurrence)
                finally:
                    self._queue.task_done()
            self.beat()

    def beat(self) -> None:
        """Patch the series whose counts the API server lacks, when the heartbeat is due."""
        for decision in self.recorder.heartbeat(self._clock()):
            assert decision.series is not None
            self._patch(decision.series)

    def _handle(self, occurrence: Occurrence) -> None:
        decision = self.recorder.record(occurrence, self._clock())
        series = decision.series
        if decision.write is Write.CREATE and series is not None:
            self._write(series, lambda: self._create(series))
        elif decision.write is Write.PATCH and series is not None:
            self._patch(series)
        else:
            self._count(occurrence.reason, str(decision.write))

    def _create(self, series: Series) -> None:
        namespace = series.occurrence.regarding.namespace
        self._sink.create(namespace, event_body(series, self._instance))
        self.recorder.created(series, event_name(series))

    def _patch(self, series: Series) -> None:
        patch = series_patch(series)

        def send() -> None:
            regarding = series.occurrence.regarding
            self._sink.patch(regarding.namespace, series.name, patch)
            self.recorder.patched(series, patch["series"]["count"])

        self._write(series, send, Write.PATCH)

    def _write(self, series: Series, send: Callable[[], None], kind: Write = Write.CREATE) -> None:
        reason = series.occurrence.reason
        try:
            send()
        except Exception as err:  # any failure: the loop must never notice
            self.recorder.failed(series)
            self._count(reason, "failed")
            if not self._failing:
                self._failing = True
                log.warning(
                    "cannot write Events to namespace %s: %s; further failures are only "
                    'counted (sdgen_events_total{result="failed"})',
                    series.occurrence.regarding.namespace,
                    err,
                )
            return
        self._count(reason, str(kind))
        if self._failing:
            self._failing = False
            log.info("writing Events works again")


ACTIONS = {
    "ConfigInvalid": "ReadConfig",
    "TargetRejected": "Resolve",
    "ConfigApplied": "Render",
    "ReloadFailed": "ReloadPrometheus",
}


class LoopEvents:
    """Turns cycle results and reload answers into occurrences on the ConfigMap.
    `regarding()`: the ConfigMap as the informer has it now (None: not there, no event)."""

    def __init__(self, emitter: Emitter, regarding: Callable[[], Regarding | None]) -> None:
        self.emitter = emitter
        self._regarding = regarding
        self._applied = ""  # the last version ConfigApplied was emitted for
        self._rejected: Mapping[str, str] = {}  # target → the error last emitted

    def after_cycle(self, result: CycleResult) -> None:
        status = result.reading.status
        loaded = result.reading.loaded
        if loaded is not None and not loaded.usable:
            issues = "\n".join(status.issues)
            self._emit(
                EventType.WARNING,
                "ConfigInvalid",
                f"config version {status.version} is invalid; nothing changes until it is "
                f"fixed:\n{issues}",
            )
        if result.outcome is not Outcome.RENDERED or result.sync_errors:
            return
        errors = self._targets_rejected(result)
        if status.version != self._applied:
            self._applied = status.version
            targets = sum(t.targets for t in result.targets.values())
            self._emit(
                EventType.NORMAL,
                "ConfigApplied",
                f"config version {status.version} applied: {targets} scrape targets from "
                f"{len(result.targets) - len(errors)} target names; {len(errors)} rejected",
            )

    def _targets_rejected(self, result: CycleResult) -> dict[str, str]:
        """TargetRejected for each target whose error is new; the errors, by target."""
        errors = {name: t.error for name, t in result.targets.items() if t.error}
        for name, error in sorted(errors.items()):
            if self._rejected.get(name) != error:
                self._emit_for(
                    name,
                    EventType.WARNING,
                    "TargetRejected",
                    f"target {name} rejected (its last good files are kept): {error}",
                )
        self._rejected = errors
        return errors

    def _emit_for(self, target: str, type_: EventType, reason: str, note: str) -> None:
        """An event about `target`: on the one ConfigMap here."""
        self._emit(type_, reason, note)

    def reload_answered(self, answer: ReloadAnswer) -> None:
        """Prometheus refused a reload (an HTTP error, with its message); an unreachable
        Prometheus is no event: it is retried, logged and counted."""
        if not answer.ok and answer.status >= 400:
            self._emit(
                EventType.WARNING, "ReloadFailed", f"Prometheus refused the reload: {answer.answer}"
            )

    def _emit(self, type_: EventType, reason: str, note: str) -> None:
        regarding = self._regarding()
        if regarding is not None:
            self.emitter.emit(Occurrence(regarding, type_, reason, ACTIONS[reason], note))


class TenantEvents(LoopEvents):
    """With --configmap-selector (sdgen.runtime.tenants): each tenant's events on its own
    ConfigMap, in its own namespace, so a team sees them with `kubectl describe` there.
    `configmap(target)`: the ConfigMap, as cached now, of the tenant a target name belongs to
    (None: not there, no event). ConfigInvalid once per tenant version with an error;
    TargetRejected as LoopEvents. ConfigApplied and ReloadFailed are about no one tenant:
    none."""

    def __init__(self, emitter: Emitter, configmap: Callable[[str], Regarding | None]) -> None:
        super().__init__(emitter, lambda: None)
        self._configmap = configmap
        self._invalid: dict[str, str] = {}  # tenant → the version ConfigInvalid was emitted for

    def after_cycle(self, result: CycleResult) -> None:
        for key, status in result.reading.tenants.items():
            if status.valid or not status.version or self._invalid.get(key) == status.version:
                continue
            self._invalid[key] = status.version
            issues = "\n".join(status.issues)
            self._emit_for(
                f"{key}/",
                EventType.WARNING,
                "ConfigInvalid",
                f"config version {status.version} has errors (its other targets and the "
                f"other tenants render as usual):\n{issues}",
            )
        if result.outcome is not Outcome.RENDERED or result.sync_errors:
            return
        self._targets_rejected(result)

    def reload_answered(self, answer: ReloadAnswer) -> None:
        pass  # Prometheus's answer is about every tenant: in /status and the logs

    def _emit_for(self, target: str, type_: EventType, reason: str, note: str) -> None:
        """On the ConfigMap of the tenant `target` belongs to."""
        regarding = self._configmap(target)
        if regarding is not None:
            self.emitter.emit(Occurrence(regarding, type_, reason, ACTIONS[reason], note))
