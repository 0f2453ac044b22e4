"""Write semantics shared by the HTTP handlers and the Python API: create, update, patch, delete.

What the real apiserver does on every write is done here once: defaulting of namespace, uid,
creationTimestamp and resourceVersion, generateName, name validation, AlreadyExists and
optimistic-concurrency Conflicts, status kept out of main-resource writes (and vice versa) for
resources with a status subresource, managedFields for API writes, and no new
resourceVersion or event when a write changes nothing.

Writes through the Python API (tests acting as controllers or the kubelet) set the whole object,
status included, and record no managedFields. Namespaces always carry the
`kubernetes.io/metadata.name` label. Deletion is immediate (no graceful pod termination) and
namespace deletion does not cascade; objects may live in a namespace with no Namespace object.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from . import errors, managed
from .errors import ApiError, bad_request
from .patch import apply_prune, json_patch, merge_patch, strategic_merge
from .resources import Resource
from .store import Event, Key, Store, Stored, stored_from

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_SYSTEM_META = ("uid", "resourceVersion", "creationTimestamp", "managedFields")
PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/json-patch+json": "json",
    "application/apply-patch+yaml": "apply",
}


@dataclass(frozen=True)
class Write:
    """Who writes: `api` writes follow HTTP rules (status subresource, managedFields)."""

    api: bool = False
    manager: str | None = None
    subresource: str | None = None


PYTHON = Write()


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _check_type(res: Resource, body: dict[str, Any]) -> None:
    if body.get("apiVersion") not in (None, "", res.api_version):
        raise bad_request(
            f"the API version in the data ({body['apiVersion']}) does not match the expected "
            f"API version ({res.api_version})"
        )
    if body.get("kind") not in (None, "", res.kind):
        raise bad_request(
            f"the kind in the data ({body['kind']}) does not match the expected kind ({res.kind})"
        )


class Objects:
    """The write path. Every method takes the store lock for its whole read-modify-write."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._applied: dict[tuple[str, Key, str], Any] = {}

    @staticmethod
    def key(res: Resource, namespace: str | None, name: str) -> Key:
        return ((namespace or "default") if res.namespaced else "", name)

    def get(self, res: Resource, namespace: str | None, name: str) -> Stored:
        found = self.store.get(res.plural, self.key(res, namespace, name))
        if found is None:
            raise errors.not_found(res.plural, res.group, name)
        return found

    def _namespace(self, res: Resource, path_ns: str | None, meta: dict[str, Any]) -> str:
        if not res.namespaced:
            return ""
        body_ns = meta.get("namespace")
        if path_ns and body_ns and body_ns != path_ns:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        return str(path_ns or body_ns or "default")

    def create(
        self,
        res: Resource,
        namespace: str | None,
        body: dict[str, Any],
        w: Write,
        operation: str = "Update",
    ) -> Stored:
        _check_type(res, body)
        meta = dict(body.get("metadata") or {})
        ns = self._namespace(res, namespace, meta)
        name = meta.get("name") or ""
        if not name and meta.get("generateName"):
            name = meta["generateName"] + "".join(random.choices(_SUFFIX_CHARS, k=5))
        if not name:
            raise errors.invalid(
                res.kind,
                res.group,
                "",
                "metadata.name",
                "Required value: name or generateName is required",
            )
        if not _NAME.match(name):
            raise errors.invalid(
                res.kind, res.group, name, "metadata.name", f'Invalid value: "{name}"'
            )
        with self.store.lock:
            if self.store.get(res.plural, (ns, name)) is not None:
                raise errors.already_exists(res.plural, res.group, name)
            rv = self.store.next_rv()
            fresh = {"name": name, "namespace": ns, "uid": str(uuid.uuid4())}
            fresh |= {"resourceVersion": str(rv), "creationTimestamp": now()}
            for drop in (*_SYSTEM_META, "name", "namespace", "deletionTimestamp"):
                meta.pop(drop, None)
            if not ns:
                del fresh["namespace"]
            obj = {
                **body,
                "apiVersion": res.api_version,
                "kind": res.kind,
                "metadata": fresh | meta,
            }
            if w.api and res.status_subresource:
                obj["status"] = dict(res.default_status)
            self._default(res, obj)
            self._manage(res, obj, w, operation, body)
            return self._commit(res, obj, rv)

    def update(
        self, res: Resource, namespace: str | None, name: str, body: dict[str, Any], w: Write
    ) -> Stored:
        _check_type(res, body)
        meta = body.get("metadata") or {}
        if meta.get("name") not in (None, "", name):
            raise bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})"
            )
        self._namespace(res, namespace, meta)
        with self.store.lock:
            current = self.get(res, namespace, name)
            wanted_rv = str(meta.get("resourceVersion") or "")
            if wanted_rv and wanted_rv != str(current.rv):
                raise errors.conflict(res.plural, res.group, name)
            return self._replace(res, current, body, w, "Update", body)

    def replace_or_create(self, res: Resource, body: dict[str, Any]) -> Stored:
        """The Python API's apply(): create, or overwrite regardless of resourceVersion."""
        meta = body.get("metadata") or {}
        with self.store.lock:
            current = self.store.get(
                res.plural, self.key(res, meta.get("namespace"), meta.get("name", ""))
            )
            if current is None:
                return self.create(res, None, body, PYTHON)
            return self._replace(res, current, body, PYTHON, "Update", body)

    def patch(
        self, res: Resource, namespace: str | None, name: str, kind: str, patch: Any, w: Write
    ) -> tuple[Stored, bool]:
        """Applies a patch; returns the result and whether it created the object (apply only)."""
        with self.store.lock:
            current = self.store.get(res.plural, self.key(res, namespace, name))
            if current is None:
                if kind != "apply":
                    raise errors.not_found(res.plural, res.group, name)
                self._check_apply(res, name, patch)
                created = self.create(res, namespace, patch, w, "Apply")
                self._applied[(res.plural, created.key, w.manager or "")] = patch
                return created, True
            old = current.decode()
            if kind == "merge":
                new = merge_patch(old, patch)
            elif kind == "strategic":
                new = strategic_merge(old, patch)
            elif kind == "json":
                new = json_patch(old, patch)
            else:
                self._check_apply(res, name, patch)
                new = self._apply(res, current, old, patch, w)
            if not isinstance(new, dict):
                raise ApiError(422, "patched object is not a JSON object", "Invalid")
            new_meta = new.get("metadata") or {}
            if new_meta.get("name") != name:
                raise bad_request("metadata.name cannot be changed by a patch")
            wanted_rv = str(new_meta.get("resourceVersion") or "")
            if wanted_rv and wanted_rv != str(current.rv):
                raise errors.conflict(res.plural, res.group, name)
            if kind == "apply":
                self._applied[(res.plural, current.key, w.manager or "")] = patch
            operation = "Apply" if kind == "apply" else "Update"
            return self._replace(res, current, new, w, operation, patch), False

    def _check_apply(self, res: Resource, name: str, body: Any) -> None:
        if not isinstance(body, dict):
            raise bad_request("the apply patch must be a single object")
        _check_type(res, body)
        if not body.get("apiVersion") or not body.get("kind"):
            raise bad_request("apiVersion and kind must be set in an apply patch")
        if (body.get("metadata") or {}).get("name") != name:
            raise bad_request(
                f"the name of the object ({(body.get('metadata') or {}).get('name')}) does not "
                f"match the name on the URL ({name})"
            )

    def _apply(
        self, res: Resource, current: Stored, old: dict[str, Any], applied: Any, w: Write
    ) -> Any:
        previous = self._applied.get((res.plural, current.key, w.manager or ""))
        live = apply_prune(old, previous, applied) if previous is not None else old
        applied_meta = {
            k: v for k, v in applied.get("metadata", {}).items() if k != "managedFields"
        }
        return strategic_merge(live, {**applied, "metadata": applied_meta})

    def delete(
        self, res: Resource, namespace: str | None, name: str, precondition: dict[str, Any]
    ) -> Event:
        with self.store.lock:
            current = self.get(res, namespace, name)
            uid, rv = precondition.get("uid"), precondition.get("resourceVersion")
            if (uid and uid != current.decode()["metadata"].get("uid")) or (
                rv and rv != str(current.rv)
            ):
                raise errors.conflict(res.plural, res.group, name)
            for slot in [s for s in self._applied if s[:2] == (res.plural, current.key)]:
                del self._applied[slot]
            return self.store.commit(res.plural, current.key, None)

    def _replace(
        self,
        res: Resource,
        current: Stored,
        body: dict[str, Any],
        w: Write,
        operation: str,
        source: Any,
    ) -> Stored:
        """Writes `body` over `current`, keeping identity fields; a no-op write commits nothing."""
        old = current.decode()
        old_meta = old["metadata"]
        meta = {k: v for k, v in (body.get("metadata") or {}).items() if k not in _SYSTEM_META}
        meta |= {
            k: old_meta[k]
            for k in ("name", "namespace", "uid", "creationTimestamp")
            if k in old_meta
        }
        meta |= {"resourceVersion": old_meta["resourceVersion"]}
        if "managedFields" in old_meta:
            meta["managedFields"] = old_meta["managedFields"]
        new = {**body, "apiVersion": res.api_version, "kind": res.kind, "metadata": meta}
        if w.api and res.status_subresource:
            new = self._split_status(old, new, w.subresource == "status")
        self._default(res, new)
        if new == old:
            return current
        rv = self.store.next_rv()
        new["metadata"]["resourceVersion"] = str(rv)
        self._manage(res, new, w, operation, source)
        return self._commit(res, new, rv)

    @staticmethod
    def _split_status(
        old: dict[str, Any], new: dict[str, Any], status_only: bool
    ) -> dict[str, Any]:
        if status_only:
            result = dict(old)
            result["status"] = new.get("status", {})
            return result
        result = {k: v for k, v in new.items() if k != "status"}
        if "status" in old:
            result["status"] = old["status"]
        return result

    @staticmethod
    def _default(res: Resource, obj: dict[str, Any]) -> None:
        if res.plural == "namespaces":
            name = obj["metadata"]["name"]
            obj["metadata"]["labels"] = {
                **(obj["metadata"].get("labels") or {}),
                "kubernetes.io/metadata.name": name,
            }
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        # The API server's defaulting that discovery can see: port protocols are TCP.
        for port in _ports(res.plural, obj):
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")

    @staticmethod
    def _manage(res: Resource, obj: dict[str, Any], w: Write, operation: str, sent: Any) -> None:
        if w.manager:
            managed.record(obj, w.manager, operation, res.api_version, w.subresource, sent, now())

    def _commit(self, res: Resource, obj: dict[str, Any], rv: int) -> Stored:
        stored = stored_from(obj, rv)
        self.store.commit(res.plural, stored.key, stored)
        return stored


def _ports(plural: str, obj: dict[str, Any]) -> list[Any]:
    """The port entries of a pod, service or endpointslice (where protocol defaults to TCP)."""
    spec = obj.get("spec") or {}
    if plural == "pods":
        containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
        return [p for c in containers if isinstance(c, dict) for p in c.get("ports") or []]
    if plural == "services":
        return list(spec.get("ports") or [])
    if plural == "endpointslices":
        return list(obj.get("ports") or [])
    return []
