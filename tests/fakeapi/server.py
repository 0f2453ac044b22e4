"""`FakeAPI`: the emulator's public face for tests (lifecycle, object operations, faults)."""

from __future__ import annotations

import builtins
import threading
from pathlib import Path
from typing import Any

import yaml

from .faults import Grant
from .handler import Server
from .objects import PYTHON, Write
from .resources import for_object, lookup
from .state import State

_PATCH_KINDS = ("merge", "strategic", "json", "apply")


class FakeAPI:
    """A Kubernetes API server emulator on 127.0.0.1, started and stopped by tests.

    Object operations here act like controllers writing directly (status included, no
    managedFields) and raise `ApiError` with the Status the HTTP API would return.
    """

    def __init__(
        self,
        seed_objects: list[dict[str, Any]] | None = None,
        bookmark_period: float = 1.0,
        *,
        sharded_list_watch: bool = False,
    ) -> None:
        """`sharded_list_watch`: the ShardedListAndWatch feature gate (tests.fakeapi.sharding)."""
        self._state = State(bookmark_period=bookmark_period, sharded_list_watch=sharded_list_watch)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        for obj in seed_objects or []:  # like create(), without decoding a copy to return
            self._state.objects.create(for_object(obj), None, obj, PYTHON)

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self, port: int = 0) -> None:
        self._state.closing.clear()
        self._listen(port or self._port)

    def _listen(self, port: int) -> None:
        server = Server(("127.0.0.1", port), self._state)
        self._port = server.server_address[1]
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fakeapi-{self._port}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread

    def _close(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.close_all()
            self._thread.join(5)
            self._server = self._thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def stop(self) -> None:
        """Closes the listener and every connection (watches included) and joins threads."""
        self._state.closing.set()
        self._state.faults.drop()
        self._close()

    def restart_listener(self) -> None:
        """Closes the listener and all connections, then listens again on the same port."""
        self._state.faults.drop()
        self._close()
        self._listen(self._port)

    def write_kubeconfig(self, path: str | Path) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fakeapi", "cluster": {"server": self.url}}],
            "users": [{"name": "fakeapi", "user": {}}],
            "contexts": [
                {
                    "name": "fakeapi",
                    "context": {"cluster": "fakeapi", "user": "fakeapi", "namespace": "default"},
                }
            ],
            "current-context": "fakeapi",
            "preferences": {},
        }
        Path(path).write_text(yaml.safe_dump(config, sort_keys=False))

    # --- objects ------------------------------------------------------------------------------

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self._state.objects.create(for_object(obj), None, obj, PYTHON).decode()

    def update(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.get("metadata") or {}
        res = for_object(obj)
        return self._state.objects.update(
            res, meta.get("namespace"), meta.get("name", ""), obj, PYTHON
        ).decode()

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Creates the object, or replaces it whatever its resourceVersion."""
        return self._state.objects.replace_or_create(for_object(obj), obj).decode()

    def patch(
        self, resource: str, namespace: str | None, name: str, patch: Any, type: str = "merge"
    ) -> dict[str, Any]:
        if type not in _PATCH_KINDS:
            raise ValueError(f"patch type must be one of {_PATCH_KINDS}")
        write = Write(manager="fakeapi") if type == "apply" else PYTHON
        stored, _ = self._state.objects.patch(lookup(resource), namespace, name, type, patch, write)
        return stored.decode()

    def delete(self, resource: str, namespace: str | None, name: str) -> None:
        self._state.objects.delete(lookup(resource), namespace, name, {})

    def get(self, resource: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        res = lookup(resource)
        found = self._state.store.get(res.plural, self._state.objects.key(res, namespace, name))
        return found.decode() if found else None

    def list(self, resource: str, namespace: str | None = None) -> list[dict[str, Any]]:
        objs = self._state.store.current(lookup(resource).plural)
        return [o.decode() for o in objs if namespace is None or o.key[0] == namespace]

    @property
    def too_large_wait(self) -> float:
        """Seconds a read for a future resourceVersion waits before its 504 (default 3)."""
        return self._state.too_large_wait

    @too_large_wait.setter
    def too_large_wait(self, seconds: float) -> None:
        self._state.too_large_wait = seconds

    @property
    def sharded_list_watch(self) -> bool:
        """The ShardedListAndWatch gate: when off, `shardSelector` is ignored, nothing echoed;
        switchable at run time, as a watch may reconnect to an API server without it."""
        return self._state.sharded_list_watch

    @sharded_list_watch.setter
    def sharded_list_watch(self, on: bool) -> None:
        self._state.sharded_list_watch = on

    @property
    def resource_version(self) -> int:
        return self._state.store.rv

    # --- faults -------------------------------------------------------------------------------

    def compact(self) -> None:
        """Forgets history up to now: older resourceVersions get 410 (Exact list, watch)."""
        self._state.store.compact()

    def drop_watches(self) -> None:
        """Cuts every open watch connection now (no terminating chunk, like a lost link)."""
        self._state.faults.drop()

    def cut_watches_mid_event(self) -> None:
        """Arms open watches: the next event each sends stops half way through its line and
        the connection is cut."""
        self._state.faults.cut_next_event()

    def stall_watches(self, on: bool) -> None:
        """Open and new watches keep their connection but send nothing until turned off."""
        self._state.faults.stall(on)

    def fail_next(self, n: int, status: int = 500, retry_after: int | None = None) -> None:
        """The next `n` requests fail with `status` (Retry-After header when given)."""
        self._state.faults.fail_next(n, status, retry_after)

    def set_latency(self, seconds: float) -> None:
        self._state.faults.latency = seconds

    def allow_only(self, rules: builtins.list[tuple[Any, ...]] | None) -> None:
        """Only these requests are allowed, the others are 403 (as RBAC): a rule is
        (resource, namespace or None for all) to read, or (resource, namespace, API group,
        verbs). No rules (None): everything is allowed."""
        grants = []
        for rule in rules or ():
            resource, namespace, *rest = rule
            grants.append(
                Grant(lookup(resource).plural, namespace)
                if not rest
                else Grant(lookup(resource).plural, namespace, rest[0], frozenset(rest[1]))
            )
        self._state.faults.allowed = None if rules is None else grants

    @property
    def requests(self) -> builtins.list[tuple[str, str]]:
        return self._state.requests()

    @property
    def reads(self) -> builtins.list[tuple[str, str]]:
        """The requests that read the cluster: all but Event writes, which a sidecar sends
        from a thread of its own whenever a series or a rate limit says (tests that assert
        "no API request" mean no read)."""
        return [(m, p) for m, p in self.requests if not (m != "GET" and "/events" in p)]
