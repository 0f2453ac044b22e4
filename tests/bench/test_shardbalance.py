"""The sharding-quality bench section on a small cluster: every scheme places every target."""

from __future__ import annotations

from tests.bench import shardbalance


def test_every_scheme_places_every_target_once() -> None:
    found = shardbalance.measure(2000, (2, 4))
    assert found["targets"] > 2000 and found["namespaces"] == 4
    for count, shards in found["shards"].items():
        for scheme in ("address", "namespace_equal_ranges", "namespace_balanced"):
            assert len(shards[scheme]) == int(count)
            assert sum(shards[scheme]) == found["targets"], scheme
        assert len(shards["cuts"]) == int(count) - 1
        # the bench's team-NNN namespaces share one equal range; the cuts spread them
        assert shards["spread"]["namespace_equal_ranges"] == int(count)
        assert shards["spread"]["namespace_balanced"] < int(count)
    text = shardbalance.format_balance(found)
    assert "4 shards, namespace_balanced" in text
