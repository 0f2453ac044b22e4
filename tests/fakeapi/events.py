"""Events: one resource seen two ways, core/v1 and events.k8s.io/v1, over one store.

In a real API server an Event written through events.k8s.io/v1 is the same object that
`kubectl describe` and `kubectl events` read through core/v1 (they select by
`involvedObject.*`). The emulator stores the core/v1 shape and converts the events.k8s.io/v1
view on the way in and out, field by field as the apiserver's conversion does:

    regarding ↔ involvedObject, note ↔ message, reportingController ↔ reportingComponent,
    deprecatedSource ↔ source, deprecatedFirstTimestamp ↔ firstTimestamp,
    deprecatedLastTimestamp ↔ lastTimestamp, series.count ↔ count (deprecatedCount when there
    is no series); eventTime, series, action, related, reason, type, reportingInstance as is.

Creates through events.k8s.io/v1 are validated as the apiserver validates them (eventTime,
reportingController, reportingInstance, action and reason required; note at most 1 kB; type
Normal or Warning; a series of at least 2), which is what keeps a client within the limits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from . import errors
from .objects import Objects, Write
from .patch import json_patch, merge_patch, strategic_merge
from .resources import Resource

GROUP = "events.k8s.io"
NOTE_LIMIT = 1024  # bytes, as the apiserver's validation
_FIELD_LIMIT = 128

# events.k8s.io/v1 field → core/v1 field
_RENAMED = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
}
_SAME = ("metadata", "eventTime", "series", "action", "related", "reason", "type")
_SAME += ("reportingInstance",)

# Field selectors an Event list or watch accepts besides metadata.name/namespace, as the
# apiserver's field label conversion for events (regarding.* is the events.k8s.io spelling).
SELECTABLE = frozenset(
    {
        *(
            f"{prefix}.{f}"
            for prefix in ("involvedObject", "regarding")
            for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion")
        ),
        "involvedObject.fieldPath",
        "reason",
        "type",
        "source",
        "reportingComponent",
        "reportingController",
    }
)


def is_view(res: Resource) -> bool:
    """The events.k8s.io/v1 view (converted), as opposed to the stored core/v1 shape."""
    return res.plural == "events" and res.group == GROUP


def field_value(obj: dict[str, Any], field: str) -> str:
    """A selectable field of a stored (core/v1) Event."""
    head, _, rest = field.partition(".")
    if head == "regarding":
        head = "involvedObject"
    if field == "source":
        return str((obj.get("source") or {}).get("component", ""))
    if field == "reportingController":
        head = "reportingComponent"
    value: Any = obj.get(head)
    if rest:
        value = (value or {}).get(rest)
    return "" if value is None else str(value)


def to_core(view: dict[str, Any]) -> dict[str, Any]:
    core: dict[str, Any] = {"apiVersion": "v1", "kind": "Event"}
    for field in _SAME:
        if view.get(field) is not None:
            core[field] = view[field]
    for v1_field, core_field in _RENAMED.items():
        if view.get(v1_field) is not None:
            core[core_field] = view[v1_field]
    series = view.get("series") or {}
    count = series.get("count", view.get("deprecatedCount"))
    if count is not None:
        core["count"] = count
    if series.get("lastObservedTime"):
        core["lastTimestamp"] = _seconds(series["lastObservedTime"])
    return core


def to_view(core: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {"apiVersion": f"{GROUP}/v1", "kind": "Event"}
    for field in _SAME:
        if core.get(field) is not None:
            view[field] = core[field]
    for v1_field, core_field in _RENAMED.items():
        if core.get(core_field) is not None:
            view[v1_field] = core[core_field]
    if core.get("count") is not None:
        view["deprecatedCount"] = core["count"]
    return view


def render_view(raw: bytes) -> bytes:
    """A stored Event's bytes as the events.k8s.io/v1 view."""
    return msgspec.json.encode(to_view(msgspec.json.decode(raw)))


def _seconds(micro_time: str) -> str:
    """`2026-01-02T03:04:05.123456Z` → `2026-01-02T03:04:05Z` (core Time has seconds)."""
    head, _, _ = str(micro_time).partition(".")
    return head if head.endswith("Z") else head + "Z"


def validate(res: Resource, view: dict[str, Any], name: str) -> None:
    def invalid(field: str, detail: str) -> errors.ApiError:
        return errors.invalid("Event", GROUP, name, field, detail)

    for field in ("eventTime", "reportingController", "reportingInstance", "action", "reason"):
        if not view.get(field):
            raise invalid(field, "Required value")
    for field in ("reportingInstance", "action", "reason"):
        if len(str(view[field])) > _FIELD_LIMIT:
            raise invalid(field, f"Too long: may not be more than {_FIELD_LIMIT} bytes")
    if len(str(view.get("note") or "").encode()) > NOTE_LIMIT:
        raise invalid("note", f"Too long: may not be more than {NOTE_LIMIT} bytes")
    if view.get("type") not in ("Normal", "Warning"):
        raise invalid("type", 'Unsupported value: supported values: "Normal", "Warning"')
    series = view.get("series")
    if series is not None and (
        int(series.get("count") or 0) < 2 or not series.get("lastObservedTime")
    ):
        raise invalid("series.count", "Invalid value: should be at least 2")


def create(
    objects: Objects,
    core_res: Resource,
    res: Resource,
    ns: str | None,
    body: dict[str, Any],
    w: Write,
) -> bytes:
    validate(res, body, str((body.get("metadata") or {}).get("name", "")))
    created = objects.create(core_res, ns, to_core(body), w)
    return render_view(created.raw)


_PATCHERS: dict[str, Callable[[Any, Any], Any]] = {
    "merge": merge_patch,
    "strategic": strategic_merge,
    "json": json_patch,
}


def patch(
    objects: Objects,
    core_res: Resource,
    res: Resource,
    ns: str | None,
    name: str,
    kind: str,
    body: Any,
    w: Write,
) -> bytes:
    """A patch of the events.k8s.io/v1 view: applied to the view, stored as core/v1."""
    if kind not in _PATCHERS:
        raise errors.bad_request(f"fakeapi: {kind} patches of events.k8s.io Events are not served")
    with objects.store.lock:
        current = objects.get(core_res, ns, name)
        view = _PATCHERS[kind](to_view(current.decode()), body)
        if not isinstance(view, dict):
            raise errors.ApiError(422, "patched object is not a JSON object", "Invalid")
        validate(res, view, name)
        updated = objects.update(core_res, ns, name, to_core(view), w)
    return render_view(updated.raw)
