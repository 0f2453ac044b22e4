"""The funnel counts per target, on the corner-case cluster of tests/data/targets."""

from __future__ import annotations

import pytest

from sdgen.config.model import Config, Endpoint, Target, TargetType
from sdgen.k8s.labelselector import LabelSelector, NamespaceSelector
from sdgen.prom.relabel import RelabelRule
from sdgen.resolve.explain import explain
from sdgen.resolve.funnel import Funnel, RulePosition, Stage
from sdgen.resolve.resolver import resolve
from sdgen.resolve.sharding import Shard
from tests.resolve.test_explain import CLUSTER as EXPLAIN_CLUSTER
from tests.resolve.test_explain import CONFIG as EXPLAIN_CONFIG
from tests.resolve.test_explain import SETTINGS
from tests.resolve.test_resolver import CLUSTER

POD, SVC, STATIC = TargetType.POD_MONITOR, TargetType.SERVICE_MONITOR, TargetType.STATIC_ENDPOINTS
SHOP = NamespaceSelector(match_names=("shop",))
ANY = NamespaceSelector(any=True)
WEB = LabelSelector(match_labels=(("app", "web"),))
NOTHING = LabelSelector(match_labels=(("app", "nothing"),))
DROP_INFRA = RelabelRule(source_labels=("namespace",), regex="infra", action="drop")
DROP_OTHER = RelabelRule(source_labels=("namespace",), regex="other", action="drop")
RENAME = RelabelRule(target_label="team", replacement="x")
BAD_ADDRESS = RelabelRule(target_label="__address__", replacement="a/b")


def _target(
    kind: TargetType,
    *endpoints: Endpoint,
    namespaces: NamespaceSelector | None = SHOP,
    selector: LabelSelector | None = WEB,
    rules: tuple[RelabelRule, ...] = (),
) -> Target:
    return Target(
        "t", kind, endpoints or (Endpoint(port="metrics"),), True, namespaces, selector, rules
    )


# (case, target, shard, expected stages in Stage order, expected drops per rule)
CASES = [
    ("pod monitor: only the running pod with an IP", _target(POD), None, (1, 1, 1, 0, 0, 1), {}),
    ("selector matching nothing", _target(POD, selector=NOTHING), None, (1, 0, 0, 0, 0, 0), {}),
    ("every namespace the cache knows", _target(POD, namespaces=ANY), None, (4, 4, 4, 0, 0, 4), {}),
    (
        "drops per rule, target's list then the endpoint's",
        _target(
            POD,
            Endpoint(port="metrics", relabelings=(DROP_OTHER,)),
            namespaces=ANY,
            rules=(RENAME, DROP_INFRA),
        ),
        None,
        (4, 4, 4, 2, 0, 2),
        {RulePosition("relabelConfigs", 1): 1, RulePosition("relabelings", 0, endpoint=0): 1},
    ),
    (
        "two endpoints sum their candidates; objects are the target's",
        _target(POD, Endpoint(port="metrics"), Endpoint(port="web"), namespaces=ANY),
        None,
        (4, 4, 5, 0, 0, 5),
        {},
    ),
    ("the shard filter", _target(POD, namespaces=ANY), Shard(2, 0), (4, 4, 4, 0, 2, 2), {}),
    (
        "service monitor: its Services' slices; the finished pod's endpoint is no candidate",
        _target(SVC, Endpoint(port="http-metrics")),
        None,
        (1, 2, 3, 0, 0, 3),
        {},
    ),
    ("a port nobody has", _target(SVC, Endpoint(port="nope")), None, (1, 2, 0, 0, 0, 0), {}),
    (
        "static endpoints: no namespace, no object",
        _target(STATIC, Endpoint(addresses=("a:1", "b:2")), namespaces=None, selector=None),
        None,
        (0, 0, 2, 0, 0, 2),
        {},
    ),
]


@pytest.mark.parametrize(
    ("target", "shard", "stages", "by_rule"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_funnel_counts(
    target: Target, shard: Shard | None, stages: tuple[int, ...], by_rule: dict[RulePosition, int]
) -> None:
    resolution = resolve(
        Config(targets=(target,)), CLUSTER, default_namespace="default", shard=shard
    )
    funnel = resolution.funnels["t"]
    assert tuple(funnel.stages().values()) == stages
    assert dict(funnel.dropped_by_rule) == by_rule
    assert funnel.written == sum(len(et.lines) for et in resolution.endpoints)


def test_invalid_targets_are_counted_apart_from_drops() -> None:
    target = _target(POD, Endpoint(port="metrics", relabelings=(BAD_ADDRESS,)))
    funnel = resolve(Config(targets=(target,)), CLUSTER, default_namespace="default").funnels["t"]
    assert (funnel.candidates, funnel.dropped_by_relabel, funnel.invalid, funnel.written) == (
        1,
        0,
        1,
        0,
    )


def test_status_form_names_each_stage_and_rule() -> None:
    funnel = Funnel(
        candidates=3, dropped_by_relabel=1, dropped_by_rule={RulePosition("relabelConfigs", 2): 1}
    )
    assert funnel.as_json() == {
        **{stage.value: 0 for stage in Stage},
        "candidates": 3,
        "dropped_by_relabel": 1,
        "invalid": 0,
        "dropped_by_rule": [{"list": "relabelConfigs", "endpoint": None, "index": 2, "count": 1}],
    }


def test_a_service_monitor_counts_its_services_apart() -> None:
    target = _target(SVC, Endpoint(port="http-metrics"))
    funnel = resolve(Config(targets=(target,)), CLUSTER, default_namespace="default").funnels["t"]
    assert (funnel.services_selected, funnel.objects_selected) == (1, 2)
    assert funnel.as_json()["services_selected"] == 1
    pods = resolve(Config(targets=(_target(POD),)), CLUSTER, default_namespace="default")
    assert pods.funnels["t"].services_selected is None
    assert "services_selected" not in pods.funnels["t"].as_json()


def test_the_funnel_counts_what_sdgen_explain_counts() -> None:
    """Every stage of every target of the explain golden config, as `sdgen explain TARGET`
    shows it (which walks each candidate), but the namespaces of a target of every
    namespace: explain gives no count there."""
    resolution = resolve(
        EXPLAIN_CONFIG,
        EXPLAIN_CLUSTER,
        default_namespace=SETTINGS.default_namespace,
        shard=SETTINGS.shard,
    )
    for target in EXPLAIN_CONFIG.targets:
        shown = {s.stage: s.count for s in explain(target, EXPLAIN_CLUSTER, SETTINGS).stages}
        counted = resolution.funnels[target.name].stages()
        if shown[Stage.NAMESPACES_SELECTED] is None:
            del shown[Stage.NAMESPACES_SELECTED], counted[Stage.NAMESPACES_SELECTED]
        assert counted == shown, target.name
