"""metadata.managedFields entries, as the apiserver records them for API writes.

Real objects carry one entry per (manager, operation, subresource); clients such as sdgen's
informer must cope with (and should skip) them, so API writes add them. The field set is a
simplified FieldsV1: the maps the writer sent, as `f:<key>` entries (list items not keyed).
"""

from __future__ import annotations

from typing import Any


def fieldset(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    return {f"f:{k}": fieldset(v) for k, v in value.items() if k not in ("apiVersion", "kind")}


def record(
    obj: dict[str, Any],
    manager: str,
    operation: str,
    api_version: str,
    subresource: str | None,
    sent: Any,
    time: str,
) -> None:
    """Replaces this writer's entry in obj's managedFields with one describing `sent`."""
    entry: dict[str, Any] = {"manager": manager, "operation": operation}
    entry |= {"apiVersion": api_version, "time": time, "fieldsType": "FieldsV1"}
    entry["fieldsV1"] = fieldset(sent)
    if subresource:
        entry["subresource"] = subresource
    same = (manager, operation, subresource)
    kept = [
        e
        for e in obj["metadata"].get("managedFields") or []
        if (e.get("manager"), e.get("operation"), e.get("subresource")) != same
    ]
    obj["metadata"]["managedFields"] = [*kept, entry]
