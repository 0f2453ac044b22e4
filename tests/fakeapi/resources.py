"""The resource types the emulator serves and the discovery documents describing them.

sdgen and Prometheus watch namespaces, configmaps, pods, services, nodes and endpointslices;
kubectl resolves names like `po` or `svc` through discovery, so the APIResourceList entries
(verbs, namespaced, kind, shortNames) are spelled exactly like a real 1.32 apiserver's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.4",
    "gitCommit": "fakeapi",
    "gitTreeState": "clean",
    "buildDate": "2025-04-22T00:00:00Z",
    "goVersion": "go1.23.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
_NAMESPACE_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Resource:
    """One served resource. `status_subresource` resources keep status out of main writes."""

    plural: str
    singular: str
    kind: str
    group: str
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = tuple(_VERBS)
    status_subresource: bool = False
    returns_deleted_object: bool = False
    default_status: dict[str, Any] = field(default_factory=dict)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def discovery_entries(self) -> list[dict[str, Any]]:
        main: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            main["shortNames"] = list(self.short_names)
        if self.categories:
            main["categories"] = list(self.categories)
        entries = [main]
        if self.status_subresource:
            status: dict[str, Any] = {
                "name": f"{self.plural}/status",
                "singularName": "",
                "kind": self.kind,
            }
            status |= {"namespaced": self.namespaced, "verbs": ["get", "patch", "update"]}
            entries.append(status)
        return entries


RESOURCES: tuple[Resource, ...] = (
    Resource(
        "namespaces",
        "namespace",
        "Namespace",
        "",
        "v1",
        False,
        ("ns",),
        verbs=tuple(_NAMESPACE_VERBS),
        status_subresource=True,
        default_status={"phase": "Active"},
    ),
    Resource("configmaps", "configmap", "ConfigMap", "", "v1", True, ("cm",)),
    Resource("nodes", "node", "Node", "", "v1", False, ("no",), status_subresource=True),
    Resource(
        "pods",
        "pod",
        "Pod",
        "",
        "v1",
        True,
        ("po",),
        ("all",),
        status_subresource=True,
        returns_deleted_object=True,
        default_status={"phase": "Pending", "qosClass": "BestEffort"},
    ),
    Resource(
        "services",
        "service",
        "Service",
        "",
        "v1",
        True,
        ("svc",),
        ("all",),
        status_subresource=True,
        default_status={"loadBalancer": {}},
    ),
    Resource("secrets", "secret", "Secret", "", "v1", True),
    Resource("endpointslices", "endpointslice", "EndpointSlice", "discovery.k8s.io", "v1", True),
    # One store, two views (tests/fakeapi/events.py): the core one is stored, the
    # events.k8s.io one converted. Both are "events", so both name the same store.
    Resource("events", "event", "Event", "", "v1", True, ("ev",)),
    Resource("events", "event", "Event", "events.k8s.io", "v1", True, ("ev",)),
)

BY_PLURAL = {r.plural: r for r in reversed(RESOURCES)}  # "events": the stored, core one


def lookup(name: str) -> Resource:
    """Resolves a plural, singular, short name or kind (case-insensitive) to its resource."""
    wanted = name.lower()
    for r in RESOURCES:
        if wanted in (r.plural, r.singular, r.kind.lower(), *r.short_names):
            return r
    raise KeyError(name)


def for_object(obj: dict[str, Any]) -> Resource:
    """The resource an ordinary manifest belongs to, from its apiVersion and kind."""
    for r in RESOURCES:
        if r.kind == obj.get("kind") and r.api_version == obj.get("apiVersion"):
            return r
    raise KeyError(f"{obj.get('apiVersion')}/{obj.get('kind')}")


def in_group_version(group: str, version: str) -> dict[str, Resource]:
    return {r.plural: r for r in RESOURCES if r.group == group and r.version == version}


def _group_names() -> list[str]:
    return sorted({r.group for r in RESOURCES if r.group})


def api_versions(server_address: str) -> dict[str, Any]:
    cidr = {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
    return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [cidr]}


def api_group(name: str) -> dict[str, Any]:
    version = {"groupVersion": f"{name}/v1", "version": "v1"}
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": name,
        "versions": [version],
        "preferredVersion": version,
    }


def api_group_list() -> dict[str, Any]:
    groups = [{k: v for k, v in api_group(g).items() if k != "apiVersion"} for g in _group_names()]
    for g in groups:
        del g["kind"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def known_group(name: str) -> bool:
    return name in _group_names()


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    served = in_group_version(group, version)
    if not served:
        return None
    entries = [e for r in served.values() for e in r.discovery_entries()]
    entries.sort(key=lambda e: e["name"])
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": entries,
    }
