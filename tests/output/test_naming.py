"""naming: the paths of a scrape job's files, the target prefix of any written path, the parts
an endpoint has on disk, which files are of the layout before per-job directories, and which
paths have the exact shape of sdgen's own.

(Slugs themselves, safe and distinct, are tested in test_render.py.)"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdgen.output import naming
from sdgen.output.naming import (
    TARGETS_FILE,
    is_legacy,
    is_own_path,
    job_name,
    parts_on_disk,
    prefix_of,
    relabel_path,
    scrape_path,
    secret_path,
    slug,
    target_prefix,
    targets_path,
)

NODE = "node-exporter.2303824a4e3dc61fe3195d1a6e978029.0"  # slug("node-exporter", 0)
NODE_PREFIX = "node-exporter.2303824a4e3dc61fe3195d1a6e978029."
OLD_NODE = "node-exporter.2303824a4e.0"  # the same endpoint's slug before, with 40 bits of hash

names = st.one_of(
    st.text(max_size=100),
    st.sampled_from(["/", "..", "p", ".p0", "a.p1", "targets.json", "-rf", "", "a" * 300]),
)


def test_the_example_slugs() -> None:
    assert slug("node-exporter", 0) == NODE
    assert target_prefix("node-exporter") == NODE_PREFIX


# Paths of an endpoint's files ------------------------------------------------------------


def test_job_names_and_paths_of_an_endpoints_files() -> None:
    assert TARGETS_FILE == "targets.json"
    assert [job_name(NODE, part) for part in (0, 1, 15)] == [
        f"{NODE}.p0",
        f"{NODE}.p1",
        f"{NODE}.p15",
    ]
    assert targets_path(NODE, 0) == f"targets/{NODE}.p0/targets.json"
    assert targets_path(NODE, 7) == f"targets/{NODE}.p7/targets.json"
    assert relabel_path(NODE) == f"relabel/{NODE}.yml"
    assert scrape_path(NODE) == f"scrape/{NODE}.yml"
    assert secret_path(NODE, "ca") == f"secrets/{NODE}.ca"


@given(names, st.integers(0, 1000), st.integers(0, 1024), st.integers(0, 1024))
def test_every_part_has_a_job_and_a_directory_of_its_own(
    name: str, index: int, part: int, other: int
) -> None:
    stem = slug(name, index)
    path = targets_path(stem, part)
    assert path == f"targets/{job_name(stem, part)}/{TARGETS_FILE}"
    assert path.count("/") == 2 and ".." not in path.split("/")
    if part != other:
        assert job_name(stem, part) != job_name(stem, other)
        assert targets_path(stem, part) != targets_path(stem, other)


# prefix_of --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"targets/{NODE}.p0/targets.json",
        f"targets/{NODE}.p12/targets.json",
        f"relabel/{NODE}.yml",
        f"scrape/{NODE}.yml",
        f"secrets/{NODE}.ca",
        f"secrets/{NODE}.credentials",
        f"scrape/{NODE[:-1]}12.yml",  # another endpoint of the same target
        f"0/targets/{NODE}.p0/targets.json",  # sdgen serve's files: below the shard
        f"13/scrape/{NODE}.yml",
    ],
)
def test_prefix_of_every_kind_of_written_path(path: str) -> None:
    assert prefix_of(path) == NODE_PREFIX


@pytest.mark.parametrize(
    "path",
    [
        "",
        "targets",
        "targets/",
        f"{NODE}.yml",  # no kind directory
        f"0/{NODE}.yml",
        f"x/targets/{NODE}.p0/targets.json",  # only a shard's number may come first
        "targets/users-own-file.json",
        "targets/users-own-dir/targets.json",
        "targets/a.b/targets.json",
        "scrape/a.b.c.yml",
        f"targets/{OLD_NODE}.json",  # the layout before: 40 bits of hash
        f"targets/{OLD_NODE}.p0/targets.json",
        f"scrape/{OLD_NODE}.yml",
        f"secrets/{OLD_NODE}.ca",
        f"scrape/node-exporter.{'0' * 31}.0.yml",  # one hex digit short
        f"scrape/node-exporter.{'0' * 33}.0.yml",
    ],
)
def test_prefix_of_a_path_that_is_no_targets_is_empty(path: str) -> None:
    assert prefix_of(path) == ""


@given(names, st.integers(0, 1000), st.integers(0, 1024))
def test_prefix_of_maps_every_written_file_back_to_its_target(
    name: str, index: int, part: int
) -> None:
    stem = slug(name, index)
    for path in (
        targets_path(stem, part),
        relabel_path(stem),
        scrape_path(stem),
        secret_path(stem, "key"),
    ):
        assert prefix_of(path) == target_prefix(name), path


# parts_on_disk ----------------------------------------------------------------------------


def test_parts_on_disk_counts_each_endpoints_targets_files() -> None:
    other = slug("other", 3)
    written = [
        *(targets_path(NODE, part) for part in (1, 0, 3, 2)),
        targets_path(other, 0),
        relabel_path(NODE),
        scrape_path(NODE),
        scrape_path(other),
        secret_path(NODE, "ca"),
    ]
    assert parts_on_disk(written) == {NODE: 4, other: 1}


def test_parts_on_disk_ignores_what_is_no_jobs_targets_file() -> None:
    assert parts_on_disk([]) == {}
    assert (
        parts_on_disk(
            [
                f"targets/{OLD_NODE}.json",  # the layout before: no parts
                f"targets/{NODE}.p0/notes.txt",
                f"targets/{NODE}.px/targets.json",
                f"targets/{NODE}.p/targets.json",
                f"targets/{NODE}/targets.json",
                f"targets/{NODE}.p0",
                f"scrape/{NODE}.p0/targets.json",
                f"relabel/{NODE}.yml",
            ]
        )
        == {}
    )


@given(names, st.integers(0, 1000), st.sampled_from([1, 2, 4, 8, 16, 1024]))
def test_parts_on_disk_reads_back_the_parts_written(name: str, index: int, parts: int) -> None:
    stem = slug(name, index)
    written = [targets_path(stem, part) for part in range(parts)]
    written += [relabel_path(stem), scrape_path(stem)]
    assert parts_on_disk(written) == {stem: parts}


# is_legacy --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"targets/{OLD_NODE}.json",
        f"relabel/{OLD_NODE}.yml",
        f"scrape/{OLD_NODE}.yml",
        f"secrets/{OLD_NODE}.ca",
        "targets/team_probe____x.95603bb13a.1.json",
        "targets/_.e3b0c44298.0.json",
    ],
)
def test_files_of_the_layout_before_are_legacy(path: str) -> None:
    assert is_legacy(path)


@pytest.mark.parametrize(
    "path",
    [
        f"targets/{NODE}.p0/targets.json",
        f"targets/{NODE}.p3/targets.json",
        f"relabel/{NODE}.yml",
        f"scrape/{NODE}.yml",
        f"secrets/{NODE}.ca",
        ".sdgen-owned.json",  # not a kind of output at all
        "elsewhere/x.json",
    ],
)
def test_files_of_todays_layout_are_not_legacy(path: str) -> None:
    assert not is_legacy(path)


@given(names, st.integers(0, 1000), st.integers(0, 1024))
def test_no_file_sdgen_writes_today_is_legacy(name: str, index: int, part: int) -> None:
    stem = slug(name, index)
    paths = (targets_path(stem, part), relabel_path(stem), scrape_path(stem))
    assert not any(is_legacy(path) for path in (*paths, secret_path(stem, "password")))


@given(names, st.integers(0, 1000))
def test_every_file_an_old_sdgen_wrote_is_legacy(name: str, index: int) -> None:
    """Old slugs had the same form with 10 hex digits of the same hash."""
    readable, digest, _ = naming.slug(name, index).split(".")
    old = f"{readable}.{digest[:10]}.{index}"
    for path in (f"targets/{old}.json", f"relabel/{old}.yml", f"scrape/{old}.yml"):
        assert is_legacy(path), path
    assert is_legacy(f"secrets/{old}.ca")


# is_own_path: only these may ever be removed -------------------------------------------------


@pytest.mark.parametrize(
    ("path", "own"),
    [
        (f"targets/{NODE}.p0/targets.json", True),
        (f"targets/{NODE}.p12/targets.json", True),
        (f"relabel/{NODE}.yml", True),
        (f"scrape/{NODE}.yml", True),
        *((f"secrets/{NODE}.{field}", True) for field in ("ca", "cert", "key", "password")),
        (f"secrets/{NODE}.credentials", True),
        (f"secrets/{NODE}.username", True),
        (f"targets/{OLD_NODE}.json", True),
        (f"relabel/{OLD_NODE}.yml", True),
        (f"scrape/{OLD_NODE}.yml", True),
        (f"secrets/{OLD_NODE}.ca", True),
        # what an edited manifest may list, and sdgen must never remove
        ("scrape/prometheus.yml", False),
        ("targets/mine.json", False),
        ("notes.txt", False),
        (".sdgen-owned.json", False),
        (f"targets/{NODE}.p0/notes.txt", False),
        (f"targets/{NODE}.p0/targets.json/x", False),
        (f"targets/{NODE}.json", False),  # today's hash in the old place
        (f"targets/{OLD_NODE}.p0/targets.json", False),  # the old hash in today's place
        (f"secrets/{NODE}.other", False),
        (f"scrape/{NODE}.yml.bak", False),
        (f"other/{NODE}.yml", False),
        (f"scrape/../{NODE}.yml", False),
        (f"scrape/{NODE.upper()}.yml", False),  # hashes are lower-case hex
        ("scrape/" + "a" * 66 + ".2303824a4e3dc61fe3195d1a6e978029.0.yml", False),
    ],
)
def test_only_paths_of_sdgens_exact_shape_are_its_own(path: str, own: bool) -> None:
    assert is_own_path(path) is own


@given(names, st.integers(0, 1000), st.integers(0, 1024))
def test_every_path_sdgen_writes_is_its_own(name: str, index: int, part: int) -> None:
    stem = slug(name, index)
    readable, digest, _ = stem.split(".")
    old = f"{readable}.{digest[:10]}.{index}"
    paths = [targets_path(stem, part), relabel_path(stem), scrape_path(stem)]
    paths += [secret_path(stem, "password"), f"targets/{old}.json", f"scrape/{old}.yml"]
    assert [p for p in paths if not is_own_path(p)] == []
