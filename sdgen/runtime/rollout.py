"""The GitOps loop in one place: which config version was seen, written, and loaded.

An edit reaches Prometheus in three steps: sdgen sees a new version of the ConfigMap, writes
its files, and (when a scrape fragment changed) Prometheus accepts the reload that follows.
Each step can stall on its own: an invalid config is seen but never written, a rejected reload
leaves the written version unloaded. This tracker keeps the version at each step and
Prometheus's last answer, for /status and the `sdgen_config_info{version,state}` metric, so
"seen != loaded for a while" is an alert.

Pure apart from a lock: the reloader thread reports answers, the loop everything else. A
version is loaded once every reload requested up to its write has succeeded (a write that
changed no fragment needs none: Prometheus follows file_sd files itself); without a reloader
nothing can confirm a load, so loaded follows written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sdgen.runtime.reload import ReloadAnswer


class ConfigStage(StrEnum):
    """The `state` label of sdgen_config_info."""

    SEEN = "seen"
    WRITTEN = "written"
    LOADED = "loaded"


class ReloadState(StrEnum):
    NOT_NEEDED = "not needed"  # the written version changed no scrape fragment
    PENDING = "pending"  # requested, no answer yet
    SUCCESS = "success"
    FAILURE = "failure"  # Prometheus refused (its answer says why) or could not be reached


@dataclass(frozen=True, slots=True)
class Mark:
    version: str
    at: float  # wall clock


class Rollout:
    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._lock = threading.Lock()
        self.marks: dict[ConfigStage, Mark] = {}
        self._ticket = 0  # the reload the written version waits for; 0: none
        self._waiting: list[tuple[int, str]] = []  # (ticket, version) written, not yet loaded
        self._answer: ReloadAnswer | None = None  # the last answer to a POST for it
        self._answered_at = 0.0

    def saw(self, version: str) -> None:
        if version:
            self._mark(ConfigStage.SEEN, version, changed=False)

    def wrote(self, version: str, ticket: int | None, changed: bool) -> None:
        """Files of `version` are on disk; `changed`: this write changed some; `ticket`: the
        latest reload requested so far (0: none ever), None when there is no reloader."""
        self._mark(ConfigStage.WRITTEN, version, changed)
        with self._lock:
            if ticket is None:
                self._ticket = 0
            elif ticket != self._ticket:
                self._ticket = ticket
                if self._answer is not None and self._answer.serves < ticket:
                    self._answer = None  # (an answer may come before the write is recorded)
        if ticket is None:
            self._mark(ConfigStage.LOADED, version, changed)
        elif not self._waiting or self._waiting[-1] != (ticket, version):
            self._waiting.append((ticket, version))

    def answered(self, answer: ReloadAnswer) -> None:
        """Prometheus's answer to a POST (from the reloader's thread)."""
        with self._lock:
            if self._ticket and answer.serves >= self._ticket:
                self._answer, self._answered_at = answer, self._wall()

    def confirm(self, loaded: Callable[[int], bool]) -> None:
        """Mark the latest written version whose reload succeeded loaded."""
        done = [i for i, (ticket, _) in enumerate(self._waiting) if loaded(ticket)]
        if done:
            self._mark(ConfigStage.LOADED, self._waiting[done[-1]][1], changed=False)
            del self._waiting[: done[-1] + 1]

    def versions(self) -> dict[ConfigStage, str]:
        with self._lock:
            return {stage: mark.version for stage, mark in self.marks.items()}

    def reload_state(self) -> ReloadState:
        with self._lock:
            if not self._ticket:
                return ReloadState.NOT_NEEDED
            if self._answer is None:
                return ReloadState.PENDING
            return ReloadState.SUCCESS if self._answer.ok else ReloadState.FAILURE

    def status(self) -> dict[str, Any]:
        """/status "rollout": each stage's version and time, and the reload that followed
        the write, with Prometheus's answer."""
        state = self.reload_state()
        with self._lock:
            marks = dict(self.marks)
            answer = self._answer
            reload: dict[str, Any] = {"result": str(state)}
            if answer is not None:
                reload |= {"answer": answer.answer, "at": self._answered_at}
                reload["attempts"] = answer.attempt
        document: dict[str, Any] = {
            str(stage): {"version": mark.version, "at": mark.at}
            for stage, mark in sorted(marks.items(), key=lambda i: list(ConfigStage).index(i[0]))
        }
        return document | {"reload": reload}

    def _mark(self, stage: ConfigStage, version: str, changed: bool) -> None:
        with self._lock:  # /status reads the marks from the ops server's thread
            old = self.marks.get(stage)
            if old is None or old.version != version or changed:
                self.marks[stage] = Mark(version, self._wall())
