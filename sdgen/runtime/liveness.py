"""/healthz: is every thread sdgen depends on still doing its job?

Liveness fails (and the kubelet restarts the container) only for what a restart can fix: a
render loop that stopped running, a config file watcher that is gone, or a watch that made
no progress (no event, bookmark or list page) for `--health-window`. A bad config or an
unreachable API server is not one of them: the last good files stay and /readyz reports it
(README, "What to look at").
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sdgen.runtime.cycle import ClusterSource
from sdgen.runtime.source import ConfigMapSource, ConfigSource
from sdgen.runtime.tenants import TenantSource

# The loop counts as stuck after this many intervals (plus LOOP_GRACE seconds for a slow cycle).
LOOP_INTERVALS = 3
LOOP_GRACE = 5.0


class Liveness:
    """Answers (ok, detail) from the loop's last cycle time, the config source and the
    informers: the cluster source's own and the ConfigMap source's."""

    def __init__(
        self,
        last_cycle: Callable[[], float],
        source: ConfigSource,
        clusters: ClusterSource | None,
        *,
        interval: float,
        window: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._last_cycle = last_cycle
        self._source = source
        self._clusters = clusters
        self._interval = interval
        self._window = window
        self._clock = clock
        self._since = clock()  # a watch that never made progress counts from here

    def __call__(self) -> tuple[bool, str]:
        now, last = self._clock(), self._last_cycle()
        if last and now - last > LOOP_INTERVALS * self._interval + LOOP_GRACE:
            return False, "render loop has not run for %.0fs" % (now - last)
        if not self._source.healthy():
            return False, "config file watcher is not running"
        stalled = (self._clusters.stalled() if self._clusters else []) or self._config_stalled(now)
        if stalled:
            return False, "no watch progress: " + ", ".join(stalled)
        return True, "ok"

    def _config_stalled(self, now: float) -> list[str]:
        """The ConfigMap watches, which are not among the cluster source's informers."""
        if isinstance(self._source, ConfigMapSource):
            watches = [self._source.informer]
        elif isinstance(self._source, TenantSource):
            watches = self._source.all_informers()
        else:
            return []
        return [
            watch.name
            for watch in watches
            if now - (watch.last_progress or self._since) > self._window
        ]
