"""One informer = one resource in one scope: a store kept current by a reflector thread.

The application holds several (the ConfigMap, and Pods, Services, EndpointSlices, Namespaces
when the config needs them), reads their stores' snapshots, and is told about changes through
a callback. The callback runs on the reflector thread outside the store lock; it should be
quick (schedule a render), and if it raises, the error is logged and the informer goes on.
Each informer owns its stop Event, so one can be replaced without touching the others;
`stop_all` stops a group within one shared deadline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic

from sdgen.cache.reflector import (
    ChangeHandler,
    ListerWatcher,
    Reflector,
    ReflectorOptions,
    ServerSharding,
)
from sdgen.cache.store import NAMESPACE_INDEX, Change, IndexFunc, R, Store, by_namespace

log = logging.getLogger(__name__)


class Informer(Generic[R]):
    def __init__(
        self,
        name: str,
        record_type: type[R],
        lister_watcher: ListerWatcher,
        *,
        label_selector: str = "",
        field_selector: str = "",
        indexers: Mapping[str, IndexFunc[R]] | None = None,
        on_change: ChangeHandler[R] | None = None,
        options: ReflectorOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
        transform: Callable[[R], R] | None = None,
        sharding: ServerSharding | None = None,
    ) -> None:
        """`transform`: what the reflector does to each record before storing it (see
        `Reflector`); None stores records as decoded. `sharding`: only one namespace-hash
        range, asked of the server and filtered here (`ServerSharding`)."""
        self.name = name
        self._clock = clock
        self.store: Store[R] = Store(
            indexers if indexers is not None else {NAMESPACE_INDEX: by_namespace}
        )
        self._on_change = on_change
        self._stop = threading.Event()
        self.reflector = Reflector(
            name,
            record_type,
            lister_watcher,
            self.store,
            self._stop,
            on_changes=self._dispatch,
            label_selector=label_selector,
            field_selector=field_selector,
            options=options,
            clock=clock,
            transform=transform,
            sharding=sharding,
        )
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"informer {self.name} already started")
        self._thread = threading.Thread(
            target=self.reflector.run, name=f"informer-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop and wait; True when the thread has ended."""
        self.request_stop()
        return self.join(timeout)

    def request_stop(self) -> None:
        self._stop.set()
        self.reflector.interrupt()

    def join(self, timeout: float) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def has_synced(self) -> bool:
        return self.reflector.has_synced()

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self.reflector.wait_synced(timeout)

    @property
    def last_progress(self) -> float | None:
        return self.reflector.last_progress

    @property
    def last_error(self) -> Exception | None:
        return self.reflector.last_error

    # What sdgen.runtime.metrics reads at scrape time.

    def object_count(self) -> int:
        return len(self.store)

    def last_event_time(self) -> float:
        """Wall-clock seconds of the last list or watch event, 0 before the first."""
        progress = self.reflector.last_progress
        return 0.0 if progress is None else time.time() - (self._clock() - progress)

    def watch_restarts(self) -> dict[str, int]:
        return dict(self.reflector.watch_restarts)

    def server_sharded(self) -> bool | None:
        """Whether the API server sharded the last list; None when not sharded or not yet
        listed."""
        return self.reflector.server_sharded

    def relists(self) -> dict[str, int]:
        return dict(self.reflector.relists)

    def _dispatch(self, changes: Sequence[Change[R]]) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(changes)
        except Exception:
            log.exception("%s: change callback failed", self.name)


def stop_all(informers: Iterable[Informer[Any]], timeout: float = 2.0) -> bool:
    """Stop a group: signal all first, then wait for all within one deadline."""
    group = list(informers)
    for informer in group:
        informer.request_stop()
    deadline = time.monotonic() + timeout
    return all([informer.join(max(0.0, deadline - time.monotonic())) for informer in group])
