"""Everything one emulator instance shares between its Python API and its request threads."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .faults import Faults
from .objects import Objects
from .resources import RESOURCES
from .store import Store


@dataclass
class State:
    bookmark_period: float = 1.0
    too_large_wait: float = 3.0  # how long a list/watch waits for a future resourceVersion
    sharded_list_watch: bool = False  # the ShardedListAndWatch feature gate (alpha: off)
    store: Store = field(default_factory=lambda: Store([r.plural for r in RESOURCES]))
    closing: threading.Event = field(default_factory=threading.Event)
    _requests: list[tuple[str, str]] = field(default_factory=list)
    _requests_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.objects = Objects(self.store)
        self.faults = Faults(self.store.changed)

    def record(self, method: str, path: str) -> None:
        with self._requests_lock:
            self._requests.append((method, path))

    def requests(self) -> list[tuple[str, str]]:
        with self._requests_lock:
            return list(self._requests)
