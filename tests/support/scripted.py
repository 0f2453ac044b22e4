"""A scripted ListerWatcher: list pages and watch streams that tests spell out event by event,
for the reflector and informer tests that must control every byte the API server sends."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import msgspec

Step = bytes | Exception | list[bytes]


def pod_json(name: str, rv: str, namespace: str = "default", **labels: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace, "resourceVersion": rv, "labels": labels}
    return {"kind": "Pod", "apiVersion": "v1", "metadata": meta}


def page(items: Sequence[dict[str, Any]], rv: str, cont: str = "") -> bytes:
    meta = {"resourceVersion": rv, **({"continue": cont} if cont else {})}
    return msgspec.json.encode({"kind": "PodList", "metadata": meta, "items": list(items)})


def event(kind: str, obj: dict[str, Any]) -> bytes:
    return msgspec.json.encode({"type": kind, "object": obj})


def bookmark(rv: str) -> bytes:
    return event("BOOKMARK", {"kind": "Pod", "metadata": {"resourceVersion": rv}})


def error_event(code: int, message: str = "") -> bytes:
    return event("ERROR", {"kind": "Status", "status": "Failure", "code": code, "message": message})


class Stream:
    """A finished watch response; optionally blocks at the end until closed."""

    def __init__(self, lines: Sequence[bytes], block: bool = False) -> None:
        self.lines = lines
        self.block = block
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        yield from self.lines
        if self.block:
            self.closed.wait()

    def close(self) -> None:
        self.closed.set()


class ScriptedLW:
    """Answers list and watch calls from two scripts; an exhausted script sets `stop`."""

    def __init__(
        self,
        lists: list[Step],
        watches: list[Step],
        stop: threading.Event,
        block_last_watch: bool = False,
    ) -> None:
        self.lists = lists
        self.watches = watches
        self.stop = stop
        self.block_last_watch = block_last_watch
        self.list_calls: list[tuple[dict[str, str], float]] = []
        self.watch_calls: list[tuple[dict[str, str], float]] = []

    def list(self, query: Mapping[str, str], timeout: float) -> bytes:
        self.list_calls.append((dict(query), timeout))
        step = self._next(self.lists)
        assert isinstance(step, bytes), "a list answers bytes or raises"
        return step

    def watch(self, query: Mapping[str, str], timeout: float) -> Stream:
        self.watch_calls.append((dict(query), timeout))
        step = self._next(self.watches)
        assert isinstance(step, list)
        return Stream(step, block=self.block_last_watch and not self.watches)

    def _next(self, script: list[Step]) -> Step:
        if not script:
            self.stop.set()
            return []
        step = script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step
