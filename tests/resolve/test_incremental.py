"""Incremental resolve + render: a long-lived `Resolver` and `Renderer`, fed a cluster and a
config that change step by step, give byte for byte what a fresh resolve + render gives.

The cluster keeps every unchanged record as the same object across steps, as the informers'
stores do, so the cached outcomes are really reused; each change replaces a record.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from sdgen.config.model import Config, Endpoint, Target, TargetType
from sdgen.k8s.labelselector import LabelSelector, NamespaceSelector
from sdgen.k8s.records import (
    Container,
    ContainerPort,
    EndpointConditions,
    EndpointPort,
    EndpointSlice,
    ObjectMeta,
    ObjectReference,
    Pod,
    PodCondition,
    PodSpec,
    PodStatus,
    Service,
    ServicePort,
    ServiceSpec,
    SliceEndpoint,
)
from sdgen.k8s.view import StaticCluster
from sdgen.output import render
from sdgen.prom.relabel import RelabelRule
from sdgen.resolve.resolver import Resolution, Resolver, resolve
from sdgen.resolve.sharding import Shard

NS = "shop"
APPS = ("web", "api")
POD_NAMES = tuple(f"p{i}" for i in range(8))

# Rule sets a config edit switches between: keep/drop, replace, labelmap (with a collision
# warning), a rule that breaks the address (dropped targets), none at all.
RULE_SETS: tuple[tuple[RelabelRule, ...], ...] = (
    (),
    (RelabelRule(source_labels=("__meta_kubernetes_pod_ready",), regex="true", action="keep"),),
    (
        RelabelRule(
            source_labels=("__meta_kubernetes_pod_label_tier",),
            target_label="tier",
            action="replace",
        ),
        RelabelRule(regex="__meta_kubernetes_pod_label_(.+)", action="labelmap"),
    ),
    (
        RelabelRule(
            regex="__meta_kubernetes_pod_(label|annotation)_(team|app)",
            replacement="x",
            action="labelmap",
        ),
    ),
    (RelabelRule(source_labels=("pod",), regex="p[0-3]", action="drop"),),
    (RelabelRule(target_label="__address__", replacement="a/b", action="replace"),),
)


def _pod(name: str, app: str, ready: bool, tier: str, ip: str, phase: str = "Running") -> Pod:
    ports = [ContainerPort(8080, "metrics"), ContainerPort(8443, "https")]
    return Pod(
        ObjectMeta(
            name=name,
            namespace=NS,
            uid=name,
            labels={"app": app, "tier": tier},
            annotations={"team": "a"},
        ),
        PodSpec(node_name="n1", containers=[Container("main", "img", ports)]),
        PodStatus(
            phase=phase,
            pod_ip=ip,
            conditions=[PodCondition("Ready", "True" if ready else "False")],
        ),
    )


def _service(app: str, label: str) -> Service:
    return Service(
        ObjectMeta(name=app, namespace=NS, labels={"app": app, "svc": label}),
        ServiceSpec(ports=[ServicePort("metrics", 8080, 8080)]),
    )


def _slice(app: str, members: tuple[str, ...], ready: bool) -> EndpointSlice:
    endpoints = [
        SliceEndpoint(
            addresses=[f"10.1.0.{POD_NAMES.index(name)}"],
            conditions=EndpointConditions(ready=ready),
            target_ref=ObjectReference("Pod", name, NS),
        )
        for name in members
    ]
    return EndpointSlice(
        ObjectMeta(name=f"{app}-1", namespace=NS, labels={"kubernetes.io/service-name": app}),
        "IPv4",
        endpoints,
        [EndpointPort("metrics", 8080, "TCP"), EndpointPort("https", 8443, "TCP")],
    )


def _target(name: str, kind: TargetType, port: str, rules: tuple[RelabelRule, ...]) -> Target:
    endpoints = (Endpoint(port=port, relabelings=rules), Endpoint(port="https"))
    selector = (
        LabelSelector(match_labels=(("app", "web"),))
        if kind is TargetType.POD_MONITOR
        else LabelSelector()
    )
    return Target(name, kind, endpoints, True, NamespaceSelector(match_names=(NS,)), selector)


@dataclass
class Scenario:
    """The cluster's records, each replaced (never mutated) when it changes. It starts with
    five pods, both Services and a slice for each."""

    pods: dict[str, Pod] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    slices: dict[str, EndpointSlice] = field(default_factory=dict)
    rules: tuple[int, int] = (0, 0)  # a RULE_SETS index per target

    def __post_init__(self) -> None:
        for change in (*(("pod", i, i) for i in range(5)), ("service", 0, 0), ("service", 0, 1)):
            self.apply(change)
        self.apply(("slice", 7, 0))
        self.apply(("slice", 6, 1))

    def cluster(self) -> StaticCluster:
        return StaticCluster.from_objects(
            self.pods.values(), self.services.values(), self.slices.values()
        )

    def config(self) -> Config:
        pods = _target("pods", TargetType.POD_MONITOR, "metrics", RULE_SETS[self.rules[0]])
        svcs = _target("svcs", TargetType.SERVICE_MONITOR, "metrics", RULE_SETS[self.rules[1]])
        static = Target("static", TargetType.STATIC_ENDPOINTS, (Endpoint(addresses=("h:1",)),))
        return Config(targets=(pods, svcs, static))

    def apply(self, change: tuple[str, int, int]) -> None:
        kind, i, j = change
        name, app = POD_NAMES[i], APPS[j % 2]
        if kind == "pod":  # added, or replaced with new labels, readiness and IP
            ip = "" if j == 3 else f"10.1.0.{i}"
            self.pods[name] = _pod(name, app, ready=j % 3 != 0, tier=f"t{j}", ip=ip)
        elif kind == "finished" and name in self.pods:
            self.pods[name] = _pod(name, app, True, "t", f"10.1.0.{i}", phase="Succeeded")
        elif kind == "delete":
            self.pods.pop(name, None)
        elif kind == "service":
            self.services[app] = _service(app, label=str(i))
        elif kind == "slice":
            members = tuple(n for k, n in enumerate(POD_NAMES) if (i >> (k % 4)) & 1)
            self.slices[app] = _slice(app, members, ready=j % 2 == 0)
        elif kind == "config":
            self.rules = (i % len(RULE_SETS), j % len(RULE_SETS))


CHANGES = st.tuples(
    st.sampled_from(("pod", "pod", "pod", "delete", "finished", "service", "slice", "config")),
    st.integers(0, len(POD_NAMES) - 1),
    st.integers(0, 5),
)


def _files(resolution: Resolution, renderer: render.Renderer | None = None) -> dict[str, bytes]:
    return (renderer or render.Renderer()).render(resolution.endpoints)


def _targets(resolution: Resolution, discovered: bool) -> list[list[tuple[object, ...]]]:
    return [
        [(t.address, dict(t.labels), dict(t.discovered) if discovered else {}) for t in et.targets]
        for et in resolution.endpoints
    ]


@settings(max_examples=50, deadline=None, derandomize=True)
@given(
    changes=st.lists(CHANGES, min_size=1, max_size=25),
    keep_meta=st.booleans(),
    shard=st.sampled_from((None, Shard(2, 0))),
    keep_discovered=st.booleans(),
)
def test_incremental_render_matches_a_fresh_one_after_every_change(
    changes: list[tuple[str, int, int]], keep_meta: bool, shard: Shard | None, keep_discovered: bool
) -> None:
    scenario = Scenario()
    resolver = Resolver(
        default_namespace=NS,
        keep_meta_labels=keep_meta,
        shard=shard,
        keep_discovered=keep_discovered,
    )
    renderer = render.Renderer()
    for step, change in enumerate(changes):
        scenario.apply(change)
        config, cluster = scenario.config(), scenario.cluster()
        fresh = resolve(
            config, cluster, default_namespace=NS, keep_meta_labels=keep_meta, shard=shard
        )
        incremental = resolver(config, cluster)
        assert _files(incremental, renderer) == _files(fresh), f"step {step}: {change}"
        assert incremental.warnings == fresh.warnings, f"step {step}: {change}"
        assert incremental.errors == fresh.errors
        assert incremental.funnels == fresh.funnels, f"step {step}: {change}"
        assert _targets(incremental, keep_discovered) == _targets(fresh, keep_discovered)


def test_unchanged_objects_keep_their_encoded_targets() -> None:
    """The reuse is real: an unchanged pod's encoded target is the very object of the last
    resolve, while a replaced pod's is new."""
    scenario = Scenario()
    for change in (("pod", 0, 0), ("pod", 1, 0), ("config", 2, 0)):
        scenario.apply(change)
    resolver = Resolver(default_namespace=NS, keep_discovered=False)
    before = resolver(scenario.config(), scenario.cluster()).endpoints[0]
    scenario.apply(("pod", 1, 2))
    after = resolver(scenario.config(), scenario.cluster()).endpoints[0]
    assert after.lines is not before.lines
    old = {t.labels["pod"]: line for t, line in zip(before.targets, before.lines, strict=True)}
    new = {t.labels["pod"]: line for t, line in zip(after.targets, after.lines, strict=True)}
    assert new["p0"] is old["p0"]
    assert new["p1"] != old["p1"] and b'"tier":"t2"' in new["p1"]


def test_an_unchanged_endpoint_gives_the_same_result_object() -> None:
    scenario, resolver = Scenario(), Resolver(default_namespace=NS)
    first = resolver(scenario.config(), scenario.cluster())
    again = resolver(scenario.config(), scenario.cluster())
    assert all(et.lines for et in first.endpoints)
    assert all(a is b for a, b in zip(first.endpoints, again.endpoints, strict=True))
    renderer = render.Renderer()
    files = renderer.render(first.endpoints)
    assert all(files[k] is v for k, v in renderer.render(again.endpoints).items())


def _selections(resolver: Resolver) -> dict[str, object]:
    return {target.name: state.selection for (target, _), state in resolver._states.items()}


def test_an_edit_of_rules_keeps_the_selection_and_a_selector_edit_does_not() -> None:
    """A rule-only edit relabels the target's objects without selecting them all again (its
    selection is kept, brought up to date, and read whole); the output is a fresh resolve's."""
    scenario, resolver = Scenario(), Resolver(default_namespace=NS)
    resolver(scenario.config(), scenario.cluster())
    before = _selections(resolver)
    scenario.apply(("config", 2, 3))
    scenario.apply(("pod", 6, 1))  # and a pod changed meanwhile: the kept selection sees it
    config, cluster = scenario.config(), scenario.cluster()
    edited = resolver(config, cluster)
    assert _files(edited) == _files(resolve(config, cluster, default_namespace=NS))
    assert edited.funnels == resolve(config, cluster, default_namespace=NS).funnels
    after = _selections(resolver)
    assert after["pods"] is before["pods"] and after["svcs"] is before["svcs"]
    moved = Config(
        targets=tuple(
            replace(t, selector=LabelSelector(match_labels=(("app", "api"),)))
            if t.name == "pods"
            else t
            for t in config.targets
        )
    )
    reselected = resolver(moved, cluster)
    assert _files(reselected) == _files(resolve(moved, cluster, default_namespace=NS))
    assert _selections(resolver)["pods"] is not after["pods"]


def test_a_kept_selection_serves_one_target_even_when_a_built_config_repeats_a_name() -> None:
    """A config built in code may hold two targets of one name (a parsed one may not): the
    old one again and an edited one, in either order. Each gets a selection of its own."""
    for edited_first in (True, False):
        scenario, resolver = Scenario(), Resolver(default_namespace=NS)
        resolver(scenario.config(), scenario.cluster())
        old = scenario.config().targets[0]
        scenario.apply(("config", 2, 0))
        edited = scenario.config().targets[0]
        pair = (edited, old) if edited_first else (old, edited)
        config = Config(targets=pair)
        scenario.apply(("pod", 6, 0))
        cluster = scenario.cluster()
        assert _files(resolver(config, cluster)) == _files(
            resolve(config, cluster, default_namespace=NS)
        )
        selections = [state.selection for state in resolver._states.values()]
        assert len({id(s) for s in selections}) == len(selections) == 2
        scenario.apply(("pod", 7, 0))
        cluster = scenario.cluster()
        assert _files(resolver(config, cluster)) == _files(
            resolve(config, cluster, default_namespace=NS)
        )
