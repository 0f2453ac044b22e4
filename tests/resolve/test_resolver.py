"""Target resolution: selection, ports, special and standard labels, relabeling, sharding."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import yaml

import sdgen.resolve.resolver as targets
from sdgen.config.model import Config, Endpoint, Target, TargetType
from sdgen.k8s.labelselector import LabelSelector, NamespaceSelector, Requirement
from sdgen.k8s.records import EndpointSlice, Namespace, Pod, Service
from sdgen.k8s.view import StaticCluster
from sdgen.prom.relabel import RelabelRule, compile_rule, hashmod
from sdgen.resolve.pipeline import ScrapeTarget
from sdgen.resolve.resolver import Resolution, resolve
from sdgen.resolve.sharding import Shard, shard_from_hostname
from tests.support.helpers import REPO


def _load_cluster() -> StaticCluster:
    raw = yaml.safe_load((REPO / "tests/data/targets/cluster.yaml").read_text())
    return StaticCluster.from_objects(
        pods=[msgspec.convert(o, Pod) for o in raw["pods"]],
        services=[msgspec.convert(o, Service) for o in raw["services"]],
        endpoint_slices=[msgspec.convert(o, EndpointSlice) for o in raw["endpointSlices"]],
        namespaces=[msgspec.convert(o, Namespace) for o in raw["namespaces"]],
    )


CLUSTER = _load_cluster()
POD, SVC, STATIC = TargetType.POD_MONITOR, TargetType.SERVICE_MONITOR, TargetType.STATIC_ENDPOINTS
SHOP = NamespaceSelector(match_names=("shop",))
WEB = LabelSelector(match_labels=(("app", "web"),))


def _target(
    kind: TargetType = POD,
    *endpoints: Endpoint,
    name: str = "t",
    namespaces: NamespaceSelector | None = SHOP,
    selector: LabelSelector | None = WEB,
    relabelings: tuple[RelabelRule, ...] = (),
    enabled: bool = True,
) -> Target:
    endpoints = endpoints or (Endpoint(port="metrics"),)
    return Target(name, kind, endpoints, enabled, namespaces, selector, relabelings)


def _resolve(*targets: Target, **options: Any) -> Resolution:
    options.setdefault("default_namespace", "default")
    return resolve(Config(targets=targets), options.pop("cluster", CLUSTER), **options)


def _only(resolution: Resolution) -> tuple[ScrapeTarget, ...]:
    assert not resolution.errors, resolution.errors
    (endpoint,) = resolution.endpoints
    return endpoint.targets


def _addresses(resolution: Resolution) -> list[str]:
    return [t.address for t in _only(resolution)]


SPECIAL = {
    "__metrics_path__": "/metrics",
    "__scheme__": "http",
    "__scrape_interval__": "30s",
    "__scrape_timeout__": "10s",
}


# --- PodMonitor ------------------------------------------------------------------------------


def test_pod_monitor_target_has_special_job_and_standard_labels() -> None:
    (target,) = _only(_resolve(_target(name="pods")))
    assert target.address == "10.0.0.10:8080"
    assert target.labels == {
        **SPECIAL,
        "container": "app",
        "endpoint": "metrics",
        "instance": "10.0.0.10:8080",
        "job": "pods",
        "namespace": "shop",
        "pod": "web-0",
    }
    assert list(target.labels) == sorted(target.labels)


def test_pod_monitor_discovered_labels_are_prometheus_meta_labels() -> None:
    (target,) = _only(_resolve(_target(name="pods")))
    meta = {k: v for k, v in target.discovered.items() if k.startswith("__meta_")}
    assert meta == {
        "__meta_kubernetes_namespace": "shop",
        "__meta_kubernetes_pod_name": "web-0",
        "__meta_kubernetes_pod_ip": "10.0.0.10",
        "__meta_kubernetes_pod_ready": "true",
        "__meta_kubernetes_pod_phase": "Running",
        "__meta_kubernetes_pod_node_name": "node-1",
        "__meta_kubernetes_pod_host_ip": "192.168.0.1",
        "__meta_kubernetes_pod_uid": "uid-web-0",
        "__meta_kubernetes_pod_controller_kind": "ReplicaSet",
        "__meta_kubernetes_pod_controller_name": "web-6d4f",
        "__meta_kubernetes_pod_label_app": "web",
        "__meta_kubernetes_pod_labelpresent_app": "true",
        "__meta_kubernetes_pod_label_app_kubernetes_io_part_of": "shop",
        "__meta_kubernetes_pod_labelpresent_app_kubernetes_io_part_of": "true",
        "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
        "__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape": "true",
        "__meta_kubernetes_pod_container_name": "app",
        "__meta_kubernetes_pod_container_id": "containerd://app0",
        "__meta_kubernetes_pod_container_image": "web:1.2",
        "__meta_kubernetes_pod_container_init": "false",
        "__meta_kubernetes_pod_container_port_name": "metrics",
        "__meta_kubernetes_pod_container_port_number": "8080",
        "__meta_kubernetes_pod_container_port_protocol": "TCP",
    }
    rest = {k: v for k, v in target.discovered.items() if not k.startswith("__meta_")}
    assert rest == {
        **SPECIAL,
        "__address__": "10.0.0.10:8080",
        "job": "pods",
        "namespace": "shop",
        "pod": "web-0",
        "container": "app",
        "endpoint": "metrics",
    }


@pytest.mark.parametrize(
    ("port", "addresses"),
    [
        ("metrics", ["10.0.0.10:8080"]),  # by name; web-1 has no IP, web-2/web-3 finished
        ("8080", ["10.0.0.10:8080"]),  # by number
        ("80", ["10.0.0.10:80"]),
        ("init-metrics", ["10.0.0.10:9100"]),  # an init container's port
        ("9100", ["10.0.0.10:9100"]),
        ("log-shipper", []),  # a container name is not a port; portless containers never match
        ("nope", []),
    ],
)
def test_pod_monitor_port_by_name_or_number(port: str, addresses: list[str]) -> None:
    assert _addresses(_resolve(_target(POD, Endpoint(port=port)))) == addresses


def test_pod_monitor_init_container_port_is_labelled_init() -> None:
    (target,) = _only(_resolve(_target(POD, Endpoint(port="init-metrics"))))
    assert target.discovered["__meta_kubernetes_pod_container_init"] == "true"
    assert target.labels["container"] == "mesh"


def test_pod_monitor_without_port_selects_every_declared_port_and_portless_container() -> None:
    assert _addresses(_resolve(_target(POD, Endpoint()))) == [
        "10.0.0.10",
        "10.0.0.10:80",
        "10.0.0.10:8080",
        "10.0.0.10:9100",
    ]


ANY = NamespaceSelector(any=True)
TEAM_X = NamespaceSelector(labels=LabelSelector(match_labels=(("team", "x"),)))
NOT_TEAM_X = NamespaceSelector(labels=LabelSelector((), (Requirement("team", "NotIn", ("x",)),)))


@pytest.mark.parametrize(
    ("namespaces", "addresses"),
    [
        (None, ["10.3.0.10:8080"]),  # the ConfigMap's own namespace
        (NamespaceSelector(match_names=("infra", "other")), ["10.1.0.10:8080", "10.2.0.10:8080"]),
        (TEAM_X, ["10.0.0.10:8080"]),
        (NOT_TEAM_X, ["10.1.0.10:8080", "10.2.0.10:8080", "10.3.0.10:8080"]),
        (ANY, ["10.0.0.10:8080", "10.1.0.10:8080", "10.2.0.10:8080", "10.3.0.10:8080"]),
    ],
    ids=["default", "names", "labels", "label expression", "any"],
)
def test_namespace_selection(namespaces: NamespaceSelector | None, addresses: list[str]) -> None:
    assert _addresses(_resolve(_target(namespaces=namespaces))) == addresses


def test_full_label_selector_with_expressions() -> None:
    selector = LabelSelector((), (Requirement("app", "In", ("web", "secure")),))
    target = _target(POD, Endpoint(port="metrics"), selector=selector)
    assert _addresses(_resolve(target)) == ["10.0.0.10:8080", "10.0.0.20:9000"]
    absent = LabelSelector((), (Requirement("app.kubernetes.io/part-of", "DoesNotExist"),))
    assert _addresses(_resolve(_target(selector=absent))) == ["10.0.0.20:9000"]


@pytest.mark.parametrize(
    ("endpoint", "scheme"),
    [
        (Endpoint(port="https"), "https"),
        (Endpoint(port="8443"), "https"),
        (Endpoint(port="metrics"), "http"),
        (Endpoint(port="https", scheme="http"), "http"),
        (Endpoint(port="metrics", scheme="https"), "https"),
    ],
)
def test_scheme_defaults_to_https_for_a_port_named_https(endpoint: Endpoint, scheme: str) -> None:
    target = _target(POD, endpoint, selector=LabelSelector((("app", "secure"),)))
    (found,) = _only(_resolve(target))
    assert found.labels["__scheme__"] == scheme


def test_add_node_label() -> None:
    target = _target(POD, Endpoint(port="metrics", add_node_label=True))
    (found,) = _only(_resolve(target))
    assert found.labels["node"] == "node-1"
    (without,) = _only(_resolve(_target()))
    assert "node" not in without.labels


def test_endpoint_settings_become_special_labels() -> None:
    endpoint = Endpoint(
        port="metrics",
        path="/custom",
        interval_ms=5_000,
        params=(("module", ("http_2xx", "ignored")), ("empty", ())),
    )
    (found,) = _only(_resolve(_target(POD, endpoint)))
    assert found.labels["__metrics_path__"] == "/custom"
    assert found.labels["__scrape_interval__"] == "5s"
    assert found.labels["__scrape_timeout__"] == "5s"  # min(10s, interval)
    assert found.labels["__param_module"] == "http_2xx"
    assert "__param_empty" not in found.labels
    slow = _only(_resolve(_target(POD, Endpoint(port="metrics", interval_ms=60_000))))[0]
    assert slow.labels["__scrape_timeout__"] == "10s"
    timed = _only(_resolve(_target(POD, Endpoint(port="metrics", timeout_ms=2_500))))[0]
    assert timed.labels["__scrape_timeout__"] == "2s500ms"


# --- ServiceMonitor ----------------------------------------------------------------------------


SLICE_ADDRESSES = ["10.0.0.14:8080", "10.0.0.99:8080", "10.0.0.10:8080"]


@pytest.mark.parametrize(
    "endpoint",
    [
        Endpoint(port="http-metrics"),  # Service port name
        Endpoint(port="9090"),  # Service port number, resolved to the slice port by name
        Endpoint(target_port="8080"),  # the endpoint port's number
        Endpoint(target_port="metrics"),  # the Service's targetPort / the container port's name
    ],
    ids=["port name", "port number", "targetPort number", "targetPort name"],
)
def test_service_monitor_ports(endpoint: Endpoint) -> None:
    found = _only(_resolve(_target(SVC, endpoint)))
    assert sorted(t.address for t in found) == sorted(SLICE_ADDRESSES)


def test_service_monitor_other_service_port() -> None:
    found = _addresses(_resolve(_target(SVC, Endpoint(port="web"))))
    assert found == ["10.0.0.10:80", "10.0.0.14:80", "10.0.0.99:80"]
    assert _addresses(_resolve(_target(SVC, Endpoint(port="80")))) == found


def test_service_monitor_target_port_reaches_container_ports_the_service_lacks() -> None:
    """Role endpointslice also lists a slice pod's uncovered container ports (as the operator's
    targetPort keep rule would select them)."""
    assert _addresses(_resolve(_target(SVC, Endpoint(target_port="9100")))) == ["10.0.0.10:9100"]
    assert _addresses(_resolve(_target(SVC, Endpoint(port="9100")))) == []


def _by_address(resolution: Resolution) -> dict[str, ScrapeTarget]:
    return {t.address: t for t in _only(resolution)}


def test_service_monitor_labels_of_a_cached_pod_endpoint() -> None:
    found = _by_address(_resolve(_target(SVC, Endpoint(port="http-metrics"), name="svc")))
    target = found["10.0.0.10:8080"]
    assert target.labels == {
        **SPECIAL,
        "container": "app",
        "endpoint": "http-metrics",
        "instance": "10.0.0.10:8080",
        "job": "svc",
        "namespace": "shop",
        "pod": "web-0",
        "service": "web",
    }
    d = target.discovered
    assert d["__meta_kubernetes_service_name"] == "web"
    assert d["__meta_kubernetes_service_label_app"] == "web"
    assert d["__meta_kubernetes_endpointslice_name"] == "web-a"
    assert d["__meta_kubernetes_endpointslice_port_name"] == "http-metrics"
    assert d["__meta_kubernetes_endpointslice_endpoint_conditions_ready"] == "true"
    assert d["__meta_kubernetes_pod_name"] == "web-0"
    assert d["__meta_kubernetes_pod_controller_kind"] == "ReplicaSet"
    assert d["__meta_kubernetes_pod_container_port_name"] == "metrics"
    assert "__meta_kubernetes_pod_container_id" not in d  # role endpointslice has none


def test_service_monitor_keeps_not_ready_and_node_endpoints_and_drops_finished_pods() -> None:
    found = _by_address(_resolve(_target(SVC, Endpoint(port="http-metrics"))))
    assert "10.0.0.12:8080" not in found  # web-2 is Failed
    terminating = found["10.0.0.14:8080"]
    assert terminating.discovered["__meta_kubernetes_endpointslice_endpoint_conditions_ready"] == (
        "false"
    )
    assert (
        terminating.discovered["__meta_kubernetes_endpointslice_endpoint_conditions_terminating"]
        == "true"
    )
    assert "pod" not in terminating.labels  # its pod is not in the cache (as the operator's rules)
    assert "__meta_kubernetes_pod_name" not in terminating.discovered
    node = found["10.0.0.99:8080"]
    assert node.labels["node"] == "node-9"
    assert "pod" not in node.labels and "container" not in node.labels


def test_service_monitor_add_node_label_uses_the_endpoint_node() -> None:
    endpoint = Endpoint(port="http-metrics", add_node_label=True)
    found = _by_address(_resolve(_target(SVC, endpoint)))
    assert found["10.0.0.10:8080"].labels["node"] == "node-1"
    assert found["10.0.0.14:8080"].labels["node"] == "node-3"
    assert found["10.0.0.99:8080"].labels["node"] == "node-9"


def test_service_monitor_https_port_and_selector() -> None:
    target = _target(SVC, Endpoint(port="https"), selector=LabelSelector((("app", "secure"),)))
    (found,) = _only(_resolve(target))
    assert (found.address, found.labels["__scheme__"]) == ("10.0.0.20:8443", "https")
    assert _only(_resolve(_target(SVC, Endpoint(port="sql")))) == ()  # db is not app=web


# --- StaticEndpoints ---------------------------------------------------------------------------


def test_static_endpoints_need_no_cluster() -> None:
    target = _target(STATIC, Endpoint(addresses=("b:9100", "a:9100")), name="static")
    for cluster in (None, CLUSTER):
        found = _only(_resolve(target, cluster=cluster))
        assert [t.address for t in found] == ["a:9100", "b:9100"]
        assert found[0].labels == {**SPECIAL, "instance": "a:9100", "job": "static"}
        assert found[0].discovered == {**SPECIAL, "__address__": "a:9100", "job": "static"}


def test_no_cluster_is_an_error_for_pod_and_service_monitors_only() -> None:
    res = _resolve(
        _target(POD, name="pods"),
        _target(SVC, Endpoint(port="web"), name="svcs"),
        _target(STATIC, Endpoint(addresses=("h:1",)), name="static"),
        cluster=None,
    )
    assert res.errors == {
        "pods": "no cluster: PodMonitor needs a Kubernetes API",
        "svcs": "no cluster: ServiceMonitor needs a Kubernetes API",
    }
    assert [(e.target.name, len(e.targets)) for e in res.endpoints] == [("static", 1)]


def test_disabled_targets_and_configs_yield_nothing() -> None:
    assert _resolve(_target(enabled=False)) == Resolution((), {}, ())
    config = Config(enabled=False, targets=(_target(),))
    assert resolve(config, CLUSTER, default_namespace="default") == Resolution((), {}, ())


def test_endpoints_keep_their_index_and_order() -> None:
    target = _target(POD, Endpoint(port="web"), Endpoint(port="metrics"))
    res = _resolve(target)
    assert [(e.index, e.endpoint.port, [t.address for t in e.targets]) for e in res.endpoints] == [
        (0, "web", ["10.0.0.10:80"]),
        (1, "metrics", ["10.0.0.10:8080"]),
    ]


# --- relabeling ----------------------------------------------------------------------------


def _rule(**fields: Any) -> RelabelRule:
    if "source_labels" in fields:
        fields["source_labels"] = tuple(fields["source_labels"])
    return RelabelRule(**fields)


def test_target_rules_run_before_endpoint_rules() -> None:
    first = _rule(target_label="stage", replacement="target")
    second = _rule(source_labels=["stage"], target_label="stage", replacement="$1-endpoint")
    endpoint = Endpoint(port="metrics", relabelings=(second,))
    (found,) = _only(_resolve(_target(POD, endpoint, relabelings=(first,))))
    assert found.labels["stage"] == "target-endpoint"
    assert "stage" not in found.discovered  # discovered is before any rule


@pytest.mark.parametrize(
    ("rule", "kept"),
    [
        (_rule(action="keep", source_labels=["__meta_kubernetes_pod_name"], regex="web-0"), True),
        (_rule(action="keep", source_labels=["__meta_kubernetes_pod_name"], regex="web"), False),
        (_rule(action="drop", source_labels=["namespace"], regex="shop"), False),
        (_rule(action="drop", source_labels=["pod"], regex="other"), True),
    ],
)
def test_keep_and_drop_decide_the_target(rule: RelabelRule, kept: bool) -> None:
    found = _only(_resolve(_target(POD, Endpoint(port="metrics", relabelings=(rule,)))))
    assert len(found) == (1 if kept else 0)


def test_rules_see_meta_labels_and_can_rewrite_the_address() -> None:
    rules = (
        _rule(action="labelmap", regex="__meta_kubernetes_pod_label_(.+)"),
        _rule(
            source_labels=["__address__"],
            regex="(.*):8080",
            replacement="$1:9999",
            target_label="__address__",
        ),
    )
    (found,) = _only(_resolve(_target(POD, Endpoint(port="metrics", relabelings=rules))))
    assert found.address == "10.0.0.10:9999"
    assert found.labels["instance"] == "10.0.0.10:9999"  # instance follows the final address
    assert found.labels["app"] == "web"
    assert found.labels["app_kubernetes_io_part_of"] == "shop"


def test_instance_set_by_a_rule_is_kept() -> None:
    rule = _rule(source_labels=["pod"], target_label="instance")
    (found,) = _only(_resolve(_target(POD, Endpoint(port="metrics", relabelings=(rule,)))))
    assert (found.address, found.labels["instance"]) == ("10.0.0.10:8080", "web-0")


def test_meta_labels_are_stripped_unless_kept() -> None:
    rule = _rule(target_label="__tmp_scratch", replacement="x")
    target = _target(POD, Endpoint(port="metrics", relabelings=(rule,)))
    (plain,) = _only(_resolve(target))
    assert not [k for k in plain.labels if k.startswith("__") and k not in SPECIAL]
    (kept,) = _only(_resolve(target, keep_meta_labels=True))
    metas = {k for k in kept.labels if k.startswith("__meta_")}
    assert metas == {k for k in kept.discovered if k.startswith("__meta_")}
    assert "__tmp_scratch" not in kept.labels and "__address__" not in kept.labels


def test_rule_errors_name_the_rule_and_leave_other_targets_alone() -> None:
    bad = _rule(regex="(", target_label="x")
    res = _resolve(
        _target(POD, Endpoint(port="metrics", relabelings=(bad,)), name="broken"),
        _target(POD, relabelings=(_rule(action="hashmod", target_label="h"),), name="also"),
        _target(name="fine"),
    )
    assert set(res.errors) == {"broken", "also"}
    assert res.errors["broken"].startswith("endpoints[0].relabelings[0].regex: ")
    assert res.errors["also"].startswith("relabelConfigs[0].modulus: ")
    assert [e.target.name for e in res.endpoints] == ["fine"]


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        (_rule(target_label="__address__", replacement=""), "no address"),
        (_rule(target_label="__address__", replacement="h/x:1"), '"h/x:1" is not a valid hostname'),
        (
            _rule(target_label="__scrape_interval__", replacement="often"),
            'error parsing scrape interval: not a valid duration string: "often"',
        ),
        (
            _rule(target_label="__scrape_timeout__", replacement="1m"),
            'scrape timeout cannot be greater than scrape interval ("1m" > "30s")',
        ),
        (
            _rule(target_label="__scrape_interval__", replacement="0s"),
            "scrape interval cannot be 0",
        ),
    ],
)
def test_targets_prometheus_would_reject_are_dropped_with_a_warning(
    rule: RelabelRule, problem: str
) -> None:
    res = _resolve(_target(POD, Endpoint(port="metrics", relabelings=(rule,)), name="t"))
    assert _only(res) == ()
    assert res.warnings == (f"t: endpoints[0]: 1 target(s) dropped after relabeling: {problem}",)


def test_a_removed_special_label_falls_back_to_the_job_setting() -> None:
    rule = _rule(action="labeldrop", regex="__scrape_(interval|timeout)__")
    (found,) = _only(_resolve(_target(POD, Endpoint(port="metrics", relabelings=(rule,)))))
    assert "__scrape_interval__" not in found.labels


def test_labelmap_collisions_warn_once_with_the_rule_path() -> None:
    rule = _rule(
        action="labelmap", regex="__meta_kubernetes_pod_(label|annotation)_.*", replacement="clash"
    )
    target = _target(STATIC, Endpoint(addresses=("a:1", "b:1")), name="s")
    res = _resolve(target, _target(POD, relabelings=(_rule(target_label="a"), rule)))
    assert [len(e.targets) for e in res.endpoints] == [2, 1]
    assert res.warnings  # web-0 has two labels and an annotation mapped to one name
    assert len(set(res.warnings)) == len(res.warnings)
    assert all(w.startswith("t: relabelConfigs[1]: labelmap maps ") for w in res.warnings)


def test_targets_identical_after_relabeling_are_written_once() -> None:
    rule = _rule(target_label="__address__", replacement="same:1")
    endpoint = Endpoint(port=None, relabelings=(rule, _rule(action="labeldrop", regex="container")))
    found = _only(_resolve(_target(POD, endpoint)))
    assert [(t.address, t.labels["instance"]) for t in found] == [("same:1", "same:1")]


# --- sharding --------------------------------------------------------------------------------


def test_shards_are_disjoint_and_cover_everything() -> None:
    addresses = tuple(f"10.9.{i // 250}.{i % 250}:9100" for i in range(300))
    target = _target(STATIC, Endpoint(addresses=addresses), name="many")
    everything = set(_addresses(_resolve(target)))
    assert len(everything) == 300
    shards = [set(_addresses(_resolve(target, shard=Shard(3, i)))) for i in range(3)]
    assert set().union(*shards) == everything
    assert sum(len(s) for s in shards) == 300
    assert all(len(s) > 50 for s in shards)  # md5 spreads them; an empty shard means a bug


def test_sharding_uses_the_address_after_relabeling() -> None:
    rule = _rule(target_label="__address__", replacement="moved:1")
    target = _target(STATIC, Endpoint(addresses=("a:1",), relabelings=(rule,)))
    owners = [i for i in range(3) if _addresses(_resolve(target, shard=Shard(3, i)))]
    assert owners == [hashmod("moved:1", 3)]


@pytest.mark.parametrize(("count", "index"), [(0, 0), (3, 3), (3, -1)])
def test_shard_rejects_an_index_outside_the_count(count: int, index: int) -> None:
    with pytest.raises(ValueError):
        Shard(count, index)


@pytest.mark.parametrize(
    ("hostname", "ordinal"),
    [
        ("prometheus-2", 2),
        ("prometheus-k8s-10", 10),
        ("prometheus-0.prometheus.monitoring.svc", 0),
        ("prometheus", None),
        ("prometheus-", None),
        ("prometheus-2a", None),
        ("", None),
    ],
)
def test_shard_from_hostname(hostname: str, ordinal: int | None) -> None:
    assert shard_from_hostname(hostname) == ordinal


# --- discovered labels, caching ----------------------------------------------------------------


def test_discovered_labels_treat_empty_values_as_missing() -> None:
    target = _target(POD, Endpoint(port="metrics"), selector=LabelSelector((("app", "secure"),)))
    (plain,) = _only(_resolve(target))
    assert "__meta_kubernetes_pod_host_ip" not in plain.discovered  # secure-0 has no hostIP
    assert dict(plain.discovered)["__meta_kubernetes_pod_name"] == "secure-0"
    assert len(plain.discovered) == len(dict(plain.discovered.items()))
    (kept,) = _only(_resolve(target, keep_meta_labels=True))
    assert "__meta_kubernetes_pod_host_ip" not in kept.labels
    assert kept.labels["__meta_kubernetes_pod_ip"] == "10.0.0.20"


def test_rules_are_compiled_once_per_rule_list(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[RelabelRule] = []

    def counting(rule: RelabelRule) -> Any:
        calls.append(rule)
        return compile_rule(rule)

    monkeypatch.setattr(targets, "compile_rule", counting)
    targets._compiled.cache_clear()
    rules = tuple(_rule(target_label=f"l{i}", replacement="v") for i in range(5))
    endpoint = Endpoint(addresses=tuple(f"h{i}:1" for i in range(200)), relabelings=rules)
    for _ in range(3):
        assert len(_only(_resolve(_target(STATIC, endpoint)))) == 200
    assert len(calls) == 5


def test_a_long_lived_resolver_compiles_nothing_again_above_1024_rule_lists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 17, item 8: rule lists were compiled on every resolve through a cache of 1,024;
    with more distinct lists than that it never hit, so every cycle recompiled them all."""
    calls: list[RelabelRule] = []

    def counting(rule: RelabelRule) -> Any:
        calls.append(rule)
        return compile_rule(rule)

    monkeypatch.setattr(targets, "compile_rule", counting)
    targets._compiled.cache_clear()
    config = Config(
        targets=tuple(
            _target(
                STATIC,
                Endpoint(
                    addresses=("h:1",), relabelings=(_rule(target_label="n", replacement=f"{i}"),)
                ),
                name=f"t{i}",
            )
            for i in range(1100)
        )
    )
    resolver = targets.Resolver(default_namespace="default")
    assert len(resolver(config, CLUSTER).endpoints) == 1100
    assert len(calls) == 1100
    resolver(config, CLUSTER)
    assert len(calls) == 1100


READS_FEW = (
    _rule(source_labels=["__meta_kubernetes_pod_label_app"], target_label="application"),
    _rule(action="labelmap", regex="__meta_kubernetes_pod_label_(app.*)"),
)


@pytest.mark.parametrize(
    "target",
    [
        _target(POD, Endpoint(port="metrics", relabelings=READS_FEW)),
        _target(SVC, Endpoint(port="http-metrics", relabelings=READS_FEW)),
    ],
    ids=["PodMonitor", "ServiceMonitor"],
)
def test_discovered_labels_stay_complete_while_rules_read_few(target: Target) -> None:
    found = _only(_resolve(target))
    assert any(t.labels.get("application") == "web" for t in found)
    kept = _by_address(_resolve(target, keep_meta_labels=True))
    for t in found:
        assert "__meta_kubernetes_namespace" in t.discovered
        if "pod" in t.labels:  # not an endpoint without a pod
            assert t.discovered["__meta_kubernetes_pod_name"] == t.labels["pod"]
            assert any(n.startswith("__meta_kubernetes_pod_labelpresent_") for n in t.discovered)
        metas = {k: v for k, v in kept[t.address].labels.items() if k.startswith("__meta_")}
        assert metas == {k: v for k, v in t.discovered.items() if k.startswith("__meta_")}


def test_a_resolver_that_keeps_no_discovered_labels_makes_the_same_targets() -> None:
    target = _target(POD, Endpoint(port="metrics", relabelings=READS_FEW))
    full = _only(_resolve(target))
    resolver = targets.Resolver(default_namespace="default", keep_discovered=False)
    for _ in range(2):  # fresh, then from the memo
        (endpoint,) = resolver(Config(targets=(target,)), CLUSTER).endpoints
        assert [(t.address, t.labels) for t in endpoint.targets] == [
            (t.address, t.labels) for t in full
        ]
        assert all(dict(t.discovered) == {} for t in endpoint.targets)
