"""Offline discovery from a `kubectl get pods,services,endpointslices,namespaces -A -o yaml` dump.

A GitOps pipeline has no cluster credentials on a pull request, but it can have yesterday's
dump of the cluster; `sdgen targets --snapshot` and `sdgen once --snapshot` resolve targets
from it exactly as the sidecar would from its informer caches.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import yaml

from sdgen import SdgenError
from sdgen.k8s.records import EndpointSlice, Namespace, Pod, Service
from sdgen.k8s.view import StaticCluster

_KINDS: dict[str, type[Pod | Service | EndpointSlice | Namespace]] = {
    "Pod": Pod,
    "Service": Service,
    "EndpointSlice": EndpointSlice,
    "Namespace": Namespace,
}


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as the strings the API server sent."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class SnapshotError(SdgenError):
    """A dump that cannot be read; the message names the file and the object."""


def _objects(documents: Iterator[Any]) -> Iterator[dict[str, Any]]:
    for doc in documents:
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") == "List" or str(doc.get("kind", "")).endswith("List"):
            yield from (item for item in doc.get("items") or () if isinstance(item, dict))
        else:
            yield doc


def load_snapshot(path: str | Path) -> StaticCluster:
    """Read a dump (one `List` or many documents) into a cluster view; other kinds are ignored."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as stream:
            documents = list(yaml.load_all(stream, Loader=_Loader))  # a SafeLoader
    except OSError as err:
        raise SnapshotError(f"{path}: cannot read snapshot: {err.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise SnapshotError(f"{path}: not a YAML dump: {err}") from None
    found: dict[str, list[Any]] = {kind: [] for kind in _KINDS}
    for index, obj in enumerate(_objects(iter(documents))):
        kind = str(obj.get("kind", ""))
        record_type = _KINDS.get(kind)
        if record_type is None:
            continue
        try:
            found[kind].append(msgspec.convert(obj, record_type, strict=False))
        except msgspec.ValidationError as err:
            name = (obj.get("metadata") or {}).get("name", f"#{index}")
            raise SnapshotError(f"{path}: {kind} {name}: {err}") from None
    return StaticCluster.from_objects(
        pods=found["Pod"],
        services=found["Service"],
        endpoint_slices=found["EndpointSlice"],
        namespaces=found["Namespace"],
    )
