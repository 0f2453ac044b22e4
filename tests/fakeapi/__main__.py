"""Runs the emulator standalone: `python -m tests.fakeapi --port N --seed FILE.yaml
--kubeconfig PATH [--bookmark-period S]`, for demos, benchmarks and poking with kubectl.

Seed files are multi-document YAML of ordinary manifests (status included; `kind: List`
documents are expanded). Prints one line "fakeapi listening on URL" once it serves, and exits
0 on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

from .server import FakeAPI


def load_seed(path: Path) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc:
            continue
        objects.extend(doc.get("items") or [] if doc.get("kind") == "List" else [doc])
    return objects


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakeapi", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any)")
    parser.add_argument("--seed", type=Path, action="append", default=[], help="YAML objects")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig for it here")
    parser.add_argument("--bookmark-period", type=float, default=1.0, help="seconds")
    parser.add_argument(
        "--sharded-list-watch",
        action="store_true",
        help="enable the ShardedListAndWatch feature gate (shardSelector)",
    )
    args = parser.parse_args(argv)
    seeds = [obj for path in args.seed for obj in load_seed(path)]
    api = FakeAPI(
        seeds, bookmark_period=args.bookmark_period, sharded_list_watch=args.sharded_list_watch
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    api.start(args.port)
    if args.kubeconfig:
        api.write_kubeconfig(args.kubeconfig)
    print(f"fakeapi listening on {api.url}", flush=True)
    while not stop.wait(0.5):
        pass
    api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
