"""Synthetic clusters for the benchmark: pods, Services and EndpointSlices as an apiserver sends
them, and the scrape config that selects them.

The objects are what makes a Python informer slow, so they carry what real ones carry: labels,
annotations, owner references, two containers with ports, env, probes and resources, a full
status, and `managedFields` (kube-controller-manager's spec entry and the kubelet's status
entry), which is often half of a pod's JSON. Everything is derived from indexes, so the same
size always gives byte-identical objects.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import msgspec

PODS_PER_DEPLOYMENT = 10
SERVICE_EVERY = 10  # one deployment in ten has a Service: a tenth of the pods
PODS_PER_NAMESPACE = 500
PODS_PER_NODE = 30
CONFIG_NAMESPACE = "monitoring"
CONFIG_NAME = "sdgen-config"
CONFIG_KEY = "scrape_config.yaml"
SCRAPE_LABEL = "bench.sdgen.io/scrape"
POD_TARGET = "bench-pods"
SERVICE_TARGET = "bench-services"
_CREATED = "2026-01-01T00:00:00Z"


def namespace_count(pods: int) -> int:
    return max(1, pods // PODS_PER_NAMESPACE)


def objects(pods: int) -> Iterator[dict[str, Any]]:
    """`pods` pods in deployments of 10, a Service + EndpointSlice for every tenth deployment,
    their namespaces, and the sdgen ConfigMap (see `scrape_config`), in create order.

    A generator: at 100k pods the objects as Python dicts would take gigabytes, so callers
    encode each one as it comes.
    """
    namespaces = namespace_count(pods)
    yield namespace(CONFIG_NAMESPACE)
    yield from (namespace(f"team-{n:03d}") for n in range(namespaces))
    yield configmap(scrape_config())
    for first in range(0, pods, PODS_PER_DEPLOYMENT):
        deployment = first // PODS_PER_DEPLOYMENT
        members = [pod(i, namespaces) for i in range(first, min(pods, first + PODS_PER_DEPLOYMENT))]
        yield from members
        if deployment % SERVICE_EVERY == 0:
            yield service(deployment, namespaces)
            yield endpoint_slice(deployment, members)


def expected_targets(pods: int) -> dict[str, int]:
    """The targets sdgen must write per target name: every pod once for the PodMonitor, every
    pod behind a Service once for the ServiceMonitor."""
    behind_services = sum(
        min(PODS_PER_DEPLOYMENT, pods - first)
        for first in range(0, pods, PODS_PER_DEPLOYMENT * SERVICE_EVERY)
    )
    return {POD_TARGET: pods, SERVICE_TARGET: behind_services}


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def configmap(text: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIG_NAME, "namespace": CONFIG_NAMESPACE},
        "data": {CONFIG_KEY: text},
    }


def scrape_config(revision: int = 0) -> str:
    """A PodMonitor over every pod and a ServiceMonitor over every Service, 5 relabel rules
    each. `revision` changes one replacement in the ServiceMonitor (the edit the latency
    benchmark makes): its targets file changes, the pods' does not."""
    return f"""\
scrapingInterval: 30s
targets:
  - targetName: {POD_TARGET}
    type: PodMonitor
    namespaceSelector: {{any: true}}
    selector:
      matchLabels: {{{SCRAPE_LABEL}: "true"}}
    endpoints:
      - port: metrics
        relabelings:
          - sourceLabels: [__meta_kubernetes_pod_phase]
            regex: Running
            action: keep
          - sourceLabels: [__meta_kubernetes_pod_label_app_kubernetes_io_name]
            targetLabel: app
          - sourceLabels: [__meta_kubernetes_pod_node_name]
            targetLabel: node
          - action: labelmap
            regex: __meta_kubernetes_pod_label_(team|tier)
          - sourceLabels: [__meta_kubernetes_pod_annotation_bench_sdgen_io_revision]
            targetLabel: revision
  - targetName: {SERVICE_TARGET}
    type: ServiceMonitor
    namespaceSelector: {{any: true}}
    selector:
      matchExpressions:
        - {{key: app.kubernetes.io/part-of, operator: Exists}}
    endpoints:
      - port: http-metrics
        relabelings:
          - sourceLabels: [__meta_kubernetes_endpointslice_endpoint_conditions_ready]
            regex: "true"
            action: keep
          - sourceLabels: [__meta_kubernetes_service_name]
            targetLabel: service
          - sourceLabels: [__meta_kubernetes_pod_node_name]
            targetLabel: node
          - action: labelmap
            regex: __meta_kubernetes_service_label_(team|tier)
          - targetLabel: config_revision
            replacement: "r{revision}"
"""


def _hash(text: str, n: int = 10) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _ip(i: int) -> str:
    return f"10.{64 + (i >> 16) % 64}.{(i >> 8) & 255}.{i & 255}"


def _uid(text: str) -> str:
    h = _hash(text, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def _names(deployment: int, namespaces: int) -> tuple[str, str, str]:
    ns = f"team-{deployment % namespaces:03d}"
    app = f"svc-{deployment:05d}"
    return ns, app, f"{app}-{_hash(app, 10)}"


def pod(i: int, namespaces: int) -> dict[str, Any]:
    """Pod i: Running, two containers (app with http + metrics ports, a proxy with its own)."""
    deployment = i // PODS_PER_DEPLOYMENT
    ns, app, replicaset = _names(deployment, namespaces)
    name = f"{replicaset}-{_hash(str(i), 5)}"
    labels = {
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/part-of": f"product-{deployment % 37}",
        "pod-template-hash": replicaset.rsplit("-", 1)[1],
        "team": f"team-{deployment % 13}",
        "tier": ("frontend", "backend", "batch")[deployment % 3],
        SCRAPE_LABEL: "true",
    }
    annotations = {
        "bench.sdgen.io/revision": f"{deployment % 7}",
        "kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z",
        "prometheus.io/scrape": "true",
    }
    node = f"node-{i // PODS_PER_NODE:05d}"
    containers = [_app_container(app, deployment), _proxy_container()]
    spec: dict[str, Any] = {
        "containers": containers,
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": True,
        "nodeName": node,
        "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {"runAsNonRoot": True, "fsGroup": 2000},
        "serviceAccount": "default",
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        "tolerations": [
            {
                "effect": "NoExecute",
                "key": f"node.kubernetes.io/{what}",
                "operator": "Exists",
                "tolerationSeconds": 300,
            }
            for what in ("not-ready", "unreachable")
        ],
        "volumes": [
            {
                "name": "kube-api-access",
                "projected": {
                    "defaultMode": 420,
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [_ca_item()]}},
                    ],
                },
            }
        ],
    }
    meta = {
        "name": name,
        "generateName": f"{replicaset}-",
        "namespace": ns,
        "uid": _uid(f"pod/{ns}/{name}"),
        "creationTimestamp": _CREATED,
        "labels": labels,
        "annotations": annotations,
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": replicaset,
                "uid": _uid(f"rs/{ns}/{replicaset}"),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    status = _pod_status(i, node, containers)
    meta["managedFields"] = [
        _managed(
            "kube-controller-manager",
            {"f:metadata": _fields(_meta_fields(meta)), "f:spec": _spec_fields(spec)},
        ),
        _managed("kubelet", {"f:status": _fields(status)}, subresource="status"),
    ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def _ca_item() -> dict[str, str]:
    return {"key": "ca.crt", "path": "ca.crt"}


def _app_container(app: str, deployment: int) -> dict[str, Any]:
    probe = {
        "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
        "periodSeconds": 10,
        "timeoutSeconds": 1,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    return {
        "name": "app",
        "image": f"registry.example.com/{app}:1.{deployment % 20}.0",
        "imagePullPolicy": "IfNotPresent",
        "args": ["--config=/etc/app/config.yaml", "--log-format=json"],
        "env": [
            {"name": "GOMAXPROCS", "value": "2"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "ports": [
            {"name": "http", "containerPort": 8080, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
        ],
        "livenessProbe": probe,
        "readinessProbe": probe,
        "resources": {
            "limits": {"memory": "512Mi"},
            "requests": {"cpu": "100m", "memory": "256Mi"},
        },
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "volumeMounts": [
            {
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                "name": "kube-api-access",
                "readOnly": True,
            }
        ],
    }


def _proxy_container() -> dict[str, Any]:
    return {
        "name": "proxy",
        "image": "envoyproxy/envoy:v1.31.0",
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "proxy-admin", "containerPort": 15000, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }


def _pod_status(i: int, node: str, containers: list[dict[str, Any]]) -> dict[str, Any]:
    ip = _ip(i)
    conditions = [
        {"type": kind, "status": "True", "lastProbeTime": None, "lastTransitionTime": _CREATED}
        for kind in (
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        )
    ]
    statuses = [
        {
            "name": c["name"],
            "image": c["image"],
            "imageID": f"{c['image']}@sha256:{_hash(c['image'], 64)}",
            "containerID": "containerd://" + _hash(f"{i}/{c['name']}", 64),
            "ready": True,
            "restartCount": 0,
            "started": True,
            "state": {"running": {"startedAt": _CREATED}},
            "lastState": {},
        }
        for c in containers
    ]
    return {
        "phase": "Running",
        "conditions": conditions,
        "hostIP": f"172.18.{(i // PODS_PER_NODE) >> 8 & 255}.{(i // PODS_PER_NODE) & 255}",
        "hostIPs": [
            {"ip": f"172.18.{(i // PODS_PER_NODE) >> 8 & 255}.{(i // PODS_PER_NODE) & 255}"}
        ],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "qosClass": "Burstable",
        "startTime": _CREATED,
        "containerStatuses": statuses,
    }


def _meta_fields(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: meta[k] for k in ("generateName", "labels", "annotations", "ownerReferences")}


def _spec_fields(spec: dict[str, Any]) -> dict[str, Any]:
    """Every pod spec has the same keys (only values differ), so its field set is computed once;
    the copy keeps the emulator's objects independent."""
    global _SPEC_FIELDS
    if _SPEC_FIELDS is None:
        _SPEC_FIELDS = msgspec.json.encode(_fields(spec))
    fields: dict[str, Any] = msgspec.json.decode(_SPEC_FIELDS)
    return fields


_SPEC_FIELDS: bytes | None = None


def _managed(manager: str, fields: dict[str, Any], subresource: str = "") -> dict[str, Any]:
    entry: dict[str, Any] = {
        "manager": manager,
        "operation": "Update",
        "apiVersion": "v1",
        "time": _CREATED,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


def _fields(value: Any) -> dict[str, Any]:
    """The FieldsV1 set of a value, as the apiserver writes it: `f:` keys for map fields,
    `k:{...}` keys for list items with a name (or ip, or type), `.` for a set's own node."""
    if isinstance(value, dict):
        return {f"f:{k}": _fields(v) for k, v in value.items()}
    if isinstance(value, list) and value and isinstance(value[0], dict):
        out: dict[str, Any] = {".": {}}
        for item in value:
            key = next((k for k in ("name", "ip", "type", "key") if k in item), None)
            ident = json.dumps(item[key]) if key else str(len(out))
            out[f'k:{{"{key or "index"}":{ident}}}'] = {".": {}, **_fields(item)}
        return out
    return {}


def service(deployment: int, namespaces: int) -> dict[str, Any]:
    ns, app, _ = _names(deployment, namespaces)
    labels = {
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/part-of": f"product-{deployment % 37}",
        "team": f"team-{deployment % 13}",
        "tier": ("frontend", "backend", "batch")[deployment % 3],
    }
    spec = {
        "clusterIP": f"10.96.{deployment >> 8 & 255}.{deployment & 255}",
        "clusterIPs": [f"10.96.{deployment >> 8 & 255}.{deployment & 255}"],
        "internalTrafficPolicy": "Cluster",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "ports": [
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"},
            {"name": "http-metrics", "port": 9090, "protocol": "TCP", "targetPort": 9090},
        ],
        "selector": {"app.kubernetes.io/name": app},
        "sessionAffinity": "None",
        "type": "ClusterIP",
    }
    meta: dict[str, Any] = {
        "name": app,
        "namespace": ns,
        "uid": _uid(f"svc/{ns}/{app}"),
        "creationTimestamp": _CREATED,
        "labels": labels,
    }
    owned = {"metadata": {"labels": labels}, "spec": spec}
    meta["managedFields"] = [_managed("helm", _fields(owned))]
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec, "status": {}}


def endpoint_slice(deployment: int, pods: list[dict[str, Any]]) -> dict[str, Any]:
    """The slice of a deployment's Service: one ready endpoint per pod, with its targetRef."""
    first = pods[0]["metadata"]
    ns, app = first["namespace"], first["labels"]["app.kubernetes.io/name"]
    name = f"{app}-{_hash(app + '/slice', 5)}"
    endpoints = [
        {
            "addresses": [p["status"]["podIP"]],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "nodeName": p["spec"]["nodeName"],
            "targetRef": {
                "kind": "Pod",
                "name": p["metadata"]["name"],
                "namespace": ns,
                "uid": p["metadata"]["uid"],
            },
        }
        for p in pods
    ]
    ports = [
        {"name": "http", "port": 8080, "protocol": "TCP"},
        {"name": "http-metrics", "port": 9090, "protocol": "TCP"},
    ]
    labels = {
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        "kubernetes.io/service-name": app,
    }
    meta = {
        "name": name,
        "generateName": f"{app}-",
        "namespace": ns,
        "uid": _uid(f"eps/{ns}/{name}"),
        "creationTimestamp": _CREATED,
        "labels": labels,
        "ownerReferences": [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "name": app,
                "uid": _uid(f"svc/{ns}/{app}"),
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    owned = {"metadata": {"labels": labels}, "endpoints": endpoints, "ports": ports}
    meta["managedFields"] = [_managed("kube-controller-manager", _fields(owned))]
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": meta,
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports,
    }


def extra_pod(n: int, namespaces: int) -> dict[str, Any]:
    """A new pod for the add/delete latency benchmark, distinct from every seeded pod."""
    obj = pod(10_000_000 + n, namespaces)
    meta = obj["metadata"]
    meta["name"] = f"bench-extra-{n:04d}"
    for drop in ("uid", "creationTimestamp", "managedFields", "resourceVersion"):
        meta.pop(drop, None)
    return obj
