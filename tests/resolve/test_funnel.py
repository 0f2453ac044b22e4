"""The funnel counts per target, on the corner-case cluster of tests/data/targets."""

from __future__ import annotations

import pytest

from sdgen.config.model import Config, Endpoint, Target, TargetType
from sdgen.k8s.labelselector import LabelSelector, NamespaceSelector
from sdgen.prom.relabel import RelabelRule
from sdgen.resolve.funnel import Funnel, RulePosition, Stage
from sdgen.resolve.resolver import resolve
from sdgen.resolve.sharding import Shard
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
        {RulePosition("relabelConfigs", 1): 1, RulePosition("endpoints[0].relabelings", 0): 1},
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
        "service monitor: its Services; the finished pod's endpoint is no candidate",
        _target(SVC, Endpoint(port="http-metrics")),
        None,
        (1, 1, 3, 0, 0, 3),
        {},
    ),
    ("a port nobody has", _target(SVC, Endpoint(port="nope")), None, (1, 1, 0, 0, 0, 0), {}),
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
        "dropped_by_rule": [{"list": "relabelConfigs", "index": 2, "count": 1}],
    }
