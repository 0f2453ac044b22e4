"""Fault injection state, switched by tests and read by the HTTP handlers and watch loops.

Each fault is something a client must survive in a real cluster: dropped or silent (stalled)
watch connections, a connection cut in the middle of an event line, 5xx and 429 answers with
Retry-After, slow answers, and RBAC refusals (of reads and writes). Changes wake every
waiting watch at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

READ = frozenset({"get", "list", "watch"})


@dataclass(frozen=True)
class Grant:
    """One RBAC rule: a resource (in one namespace, or None: all) of a group (None: any)."""

    resource: str
    namespace: str | None
    group: str | None = None
    verbs: frozenset[str] = READ


@dataclass
class Faults:
    changed: threading.Condition
    stalled: bool = False
    drop_generation: int = 0
    cut_generation: int = 0
    latency: float = 0.0
    allowed: list[Grant] | None = None
    _failures: list[tuple[int, int | None]] = field(default_factory=list)

    def _poke(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def drop(self) -> None:
        with self.changed:
            self.drop_generation += 1
            self.changed.notify_all()

    def cut_next_event(self) -> None:
        with self.changed:
            self.cut_generation += 1
            self.changed.notify_all()

    def stall(self, on: bool) -> None:
        with self.changed:
            self.stalled = on
            self.changed.notify_all()

    def fail_next(self, n: int, status: int, retry_after: int | None) -> None:
        with self.changed:
            self._failures = [(status, retry_after)] * n

    def take_failure(self) -> tuple[int, int | None] | None:
        with self.changed:
            return self._failures.pop(0) if self._failures else None

    def allows(
        self, resource: str, namespace: str | None, group: str = "", verb: str = "get"
    ) -> bool:
        """RBAC-like check; namespace None means a cluster-wide request."""
        rules = self.allowed
        if rules is None:
            return True
        return any(
            g.resource == resource
            and (g.namespace is None or g.namespace == namespace)
            and (g.group is None or g.group == group)
            and verb in g.verbs
            for g in rules
        )
