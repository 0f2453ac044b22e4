"""sdgen: follow a scrape-target ConfigMap and write Prometheus file_sd output.

Subpackages follow the data flow, and imports only point down (tests/test_layers.py checks it):
`prom` and `k8s` at the bottom, `cache` and `config` above them, then `resolve`, `output`,
`runtime` and `cli`. docs/architecture.md walks through them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__version__ = "0.1.0"


@contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Parsing, resolving, rendering and writing allocate several small objects per target
    and make no reference cycles; left on, the cycle collector would repeatedly walk every
    object allocated meanwhile (and every dict and list in the informer caches), a large
    share of the work: a 5,000-target config's YAML events took five times as long with it.
    Here, at the root, because every layer uses it. Nests."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class SdgenError(Exception):
    """The base of every error sdgen raises on purpose: its message says what is wrong and,
    where the user can act, what to do. Each command maps these to its exit codes in one
    place (sdgen.cli.commands.EXIT_CODES; `check` has its own, on purpose)."""
