"""The emulator seeded with a synthetic cluster, in-process (`seed`) or as its own process
(`python -m tests.bench.emulator --pods N --kubeconfig PATH`), so that the API server's work
does not share a Python interpreter with the benchmark or the process measured.

`FakeAPI.create` behaves like a controller writing through the Python API and therefore drops
`managedFields`; the benchmark needs them on the wire, so seeding commits the generated objects
to the emulator's store as they are (after the same defaulting a create does: the
resourceVersion stamp).
"""

from __future__ import annotations

import argparse
import gc
import signal
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.bench import synth
from tests.fakeapi import FakeAPI
from tests.fakeapi.resources import for_object
from tests.fakeapi.store import stored_from

READY = "fakeapi listening on "


def seed(api: FakeAPI, objects: Iterable[dict[str, Any]]) -> int:
    """Stores `objects` verbatim (managedFields included); returns how many were stored.

    Namespaces go through `create` (the emulator labels them); everything else is committed
    directly, each object stamped with the resourceVersion of its commit and encoded at once
    (the generator's dicts are dropped as they go).
    """
    # The bench is the emulator's own harness: it reaches into its store on purpose.
    store = api._state.store
    count = 0
    for obj in objects:
        count += 1
        if obj["kind"] == "Namespace":
            api.create(obj)
            continue
        meta = obj["metadata"]
        with store.lock:
            rv = store.next_rv()
            meta["resourceVersion"] = str(rv)
            key = (meta.get("namespace", ""), meta["name"])
            store.commit(for_object(obj).plural, key, stored_from(obj, rv))
    return count


def seeded(pods: int, sharded_list_watch: bool = False) -> FakeAPI:
    """An emulator (not started) holding the synthetic cluster of `pods` pods;
    `sharded_list_watch`: the ShardedListAndWatch gate (tests.fakeapi.sharding)."""
    api = FakeAPI(sharded_list_watch=sharded_list_watch)
    # Millions of short-lived dicts: the cycle collector would rescan them over and over.
    gc.disable()
    try:
        seed(api, synth.objects(pods))
    finally:
        gc.enable()
        gc.collect()
    return api


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.emulator", description=__doc__)
    parser.add_argument("--pods", type=int, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--sharded-list-watch", action="store_true", help="the KEP-5866 gate")
    args = parser.parse_args(argv)
    api = seeded(args.pods, args.sharded_list_watch)
    gc.freeze()  # the seeded objects live forever: keep them out of every later collection
    # Blocked before the server threads exist, so they inherit the mask and only sigwait sees
    # the signal: no handler, no polling.
    stopping = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stopping)
    api.start(args.port)
    api.write_kubeconfig(args.kubeconfig)
    print(f"{READY}{api.url}", flush=True)
    signal.sigwait(stopping)
    api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
