"""Server-side printing: `meta.k8s.io/v1` Table responses for clients that ask for them.

`kubectl get` asks for `application/json;as=Table;g=meta.k8s.io;v=v1` and prints the server's
columns. The emulator answers like the apiserver's default table convertor (the one used for
resources without custom columns): Name and Created At, each row carrying the object's
metadata, or the whole object with `includeObject=Object`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from .store import Stored

_COLUMNS = [
    {
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": "Name must be unique within a namespace.",
        "priority": 0,
    },
    {
        "name": "Created At",
        "type": "date",
        "format": "",
        "description": "CreationTimestamp is a timestamp representing the server time when this "
        "object was created.",
        "priority": 0,
    },
]


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def _row(obj: dict[str, Any], include: str) -> dict[str, Any]:
    meta = obj.get("metadata", {})
    row: dict[str, Any] = {"cells": [meta.get("name"), meta.get("creationTimestamp")]}
    if include == "Object":
        row["object"] = obj
    elif include != "None":
        partial = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1"}
        row["object"] = partial | {"metadata": meta}
    return row


def _table(meta: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    head = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta}
    return head | {"columnDefinitions": _COLUMNS, "rows": rows}


def as_table(items: list[Stored], meta: dict[str, Any], include: str) -> dict[str, Any]:
    return _table(meta, [_row(item.decode(), include) for item in items])


def row_renderer(include: str) -> Callable[[bytes], bytes]:
    """Encodes one watched object as a one-row Table, as the apiserver does for kubectl -w."""

    def render(raw: bytes) -> bytes:
        obj = msgspec.json.decode(raw)
        meta = {"resourceVersion": obj.get("metadata", {}).get("resourceVersion", "")}
        return msgspec.json.encode(_table(meta, [_row(obj, include)]))

    return render
