"""central: one unsharded resolution split into every shard's files and HTTP SD documents,
each shard exactly what a sidecar with that shard would write."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from sdgen.config.model import Endpoint
from sdgen.output import central, naming, render
from sdgen.output.parts import address_of
from sdgen.resolve.pipeline import encode_group
from sdgen.resolve.resolver import EndpointTargets
from sdgen.resolve.sharding import Shard
from tests.output.test_render import endpoint_targets, labels

URL = "http://sdgen-central:8080"
ADDRESSES = [f"10.0.{i // 250}.{i % 250}:{8000 + i % 7}" for i in range(600)]


def shards(count: int) -> list[Shard]:
    return [Shard(count, i) for i in range(count)]


def line(address: str) -> bytes:
    return encode_group(address, {"job": "j"})


@pytest.mark.parametrize(
    "address",
    ["10.0.0.1:80", "[::1]:9090", 'we"ird:1', "back\\slash:2", "ünïcode:3", "%{X}:4", ""],
)
def test_address_of_reads_back_the_encoded_address(address: str) -> None:
    assert address_of(line(address)) == address


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
def test_split_gives_each_line_to_the_shard_that_keeps_it_in_order(count: int) -> None:
    lines = sorted(line(a) for a in ADDRESSES)
    split = central.split_by_shard(lines, shards(count))
    assert sorted(x for part in split for x in part) == lines  # each line once
    for shard, part in zip(shards(count), split, strict=True):
        assert part == [x for x in lines if shard.keeps(address_of(x))]


def test_a_line_no_shard_keeps_is_in_none() -> None:
    lines = [line(a) for a in ADDRESSES[:50]]
    only_first = [Shard(2, 0)]  # shard 1 of 2 is not asked for
    [kept] = central.split_by_shard(lines, only_first)
    assert kept == [x for x in lines if Shard(2, 0).keeps(address_of(x))] != lines


def big_endpoint(
    name: str = "api", count: int = len(ADDRESSES), endpoint: Endpoint | None = None
) -> EndpointTargets:
    ep = endpoint or Endpoint(port="web", interval_ms=30_000)
    return endpoint_targets(name, ep, [(a, labels(name, a)) for a in ADDRESSES[:count]])


def sidecar_files(et: EndpointTargets, shard: Shard, part_size: int) -> dict[str, bytes]:
    """What a sidecar with this shard writes: the resolver keeps only the shard's targets."""
    kept = [t for t in et.targets if shard.keeps(t.address)]
    mine = EndpointTargets.of(et.target, et.index, et.endpoint, kept)
    return render.Renderer(part_size).render([mine])


@pytest.mark.parametrize(("count", "part_size"), [(1, 3000), (2, 3000), (3, 40)])
def test_each_shard_serves_what_its_sidecar_would_write(count: int, part_size: int) -> None:
    ets = [big_endpoint("api"), big_endpoint("db", 100)]
    renderer = central.ShardedRenderer(shards(count), URL, 10_000, part_size)
    served = central.documents(renderer.render(ets), count)
    for i, shard in enumerate(shards(count)):
        expected: dict[str, bytes] = {}
        for et in ets:
            expected |= sidecar_files(et, shard, part_size)
        for relpath, data in expected.items():
            kind, _, below = relpath.partition("/")
            if kind == "targets":
                assert served[f"/sd/{i}/{below.partition('/')[0]}"] == data
        jobs = yaml.safe_load(served[f"/scrape/{i}"])["scrape_configs"]
        assert {job["job_name"] for job in jobs} == {
            job["job_name"]
            for relpath, data in expected.items()
            if relpath.startswith("scrape/")
            for job in yaml.safe_load(data)["scrape_configs"]
        }


def test_the_union_of_the_shards_is_the_unsharded_set() -> None:
    ets = [big_endpoint("api"), big_endpoint("db", 100)]
    served = central.documents(central.ShardedRenderer(shards(3), URL, 10_000).render(ets), 3)
    union = [group for i in range(3) for group in json.loads(served[f"/sd/{i}"])]
    everything = [json.loads(x) for et in ets for x in et.lines]
    assert sorted(map(json.dumps, union)) == sorted(map(json.dumps, everything))


def test_jobs_read_http_sd_from_this_server_with_the_endpoints_settings() -> None:
    ep = Endpoint(port="web", interval_ms=30_000, scheme="https", honor_labels=True)
    et = big_endpoint("api", 10, ep)
    served = central.documents(central.ShardedRenderer(shards(2), URL + "/", 5_000).render([et]), 2)
    stem = naming.slug("api", 0)
    for i in range(2):
        [job] = yaml.safe_load(served[f"/scrape/{i}"])["scrape_configs"]
        assert job["http_sd_configs"] == [
            {"url": f"{URL}/sd/{i}/{stem}.p0", "refresh_interval": "5s"}
        ]
        assert "file_sd_configs" not in job
        assert (job["scheme"], job["honor_labels"], job["scrape_interval"]) == (
            "https",
            True,
            "30s",
        )


def test_an_empty_shard_serves_empty_documents() -> None:
    served = central.documents({}, 2)
    assert served == {
        "/sd/0": b"[]\n",
        "/sd/1": b"[]\n",
        "/scrape/0": b"scrape_configs: []\n",
        "/scrape/1": b"scrape_configs: []\n",
    }
    assert yaml.safe_load(served["/scrape/0"]) == {"scrape_configs": []}


def test_unchanged_endpoints_give_the_same_bytes_objects() -> None:
    et = big_endpoint()
    renderer = central.ShardedRenderer(shards(2), URL, 10_000)
    first, second = renderer.render([et]), renderer.render([et])
    assert all(second[key] is first[key] for key in first)


def test_file_of_names_the_shard_and_job_holding_a_target() -> None:
    et = big_endpoint()
    renderer = central.ShardedRenderer(shards(2), URL, 10_000)
    files = renderer.render([et])
    for x in et.lines[:20]:
        where = renderer.file_of("api", 0, x)
        assert x in files[where]
        shard = int(where.partition("/")[0])
        assert Shard(2, shard).keeps(address_of(x))


def test_documents_are_deterministic_whatever_the_order_of_endpoints() -> None:
    ets = [big_endpoint("api"), big_endpoint("db", 100)]

    def served(order: list[EndpointTargets]) -> dict[str, Any]:
        return central.documents(central.ShardedRenderer(shards(2), URL, 10_000).render(order), 2)

    assert served(ets) == served(ets[::-1])
