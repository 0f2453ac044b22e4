"""--tenant-max-targets: counted per tenant in config order; the crossing target is held."""

from __future__ import annotations

import pytest

from sdgen.config.model import Config, Endpoint, Target, TargetType
from sdgen.resolve.resolver import EndpointTargets, Resolution
from sdgen.runtime.cycle import ConfigStatus
from sdgen.runtime.tenants import over_limit, tenant_counts


def resolution(counts: dict[str, int]) -> tuple[Config, Resolution]:
    targets = [Target(n, TargetType.STATIC_ENDPOINTS, (Endpoint(),)) for n in counts]
    endpoints = tuple(
        EndpointTargets(t, 0, t.endpoints[0], [b"%d" % i for i in range(counts[t.name])])
        for t in targets
    )
    return Config(targets=tuple(targets)), Resolution(endpoints, {}, ())


def tenant_of(name: str) -> str | None:
    return None if name.count("/") < 2 else name.rsplit("/", 1)[0]


@pytest.mark.parametrize(
    ("counts", "limit", "held"),
    [
        ({"a/cm/x": 5, "a/cm/y": 5}, 10, set()),
        ({"a/cm/x": 5, "a/cm/y": 6}, 10, {"a/cm/y"}),
        ({"a/cm/x": 11, "a/cm/y": 3}, 10, {"a/cm/x"}),  # a later target that fits still goes
        ({"a/cm/x": 8, "b/cm/x": 8}, 10, set()),  # per tenant
        ({"platform": 50, "a/cm/x": 1}, 10, set()),  # the platform config has no limit
    ],
)
def test_the_target_crossing_the_limit_is_held(
    counts: dict[str, int], limit: int, held: set[str]
) -> None:
    config, resolved = resolution(counts)
    result = over_limit(resolved, config, tenant_of, limit)
    assert set(result.errors) == held
    assert {et.target.name for et in result.endpoints} == set(counts) - held
    assert all(f"--tenant-max-targets {limit}" in why for why in result.errors.values())


def test_tenant_counts_add_up_each_tenants_targets() -> None:
    tenants = {"a/cm": ConfigStatus(), "b/cm": ConfigStatus()}
    targets = {"a/cm/x": 2, "a/cm/y": 3, "b/cm/x": 1, "platform-target": 9}
    assert tenant_counts(tenants, targets) == {"a/cm": 5, "b/cm": 1}
