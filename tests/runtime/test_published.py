"""Published: `sdgen serve`'s in-memory output, synced like an output directory."""

from __future__ import annotations

from sdgen.output import naming
from sdgen.resolve.pipeline import encode_group
from sdgen.runtime.published import Published

STEM = naming.slug("web", 0)
OTHER = naming.slug("db", 0)


def files(shard: int, stem: str, *addresses: str) -> dict[str, bytes]:
    lines = b",\n".join(encode_group(a, {"job": "x"}) for a in addresses)
    body = b"[\n" + lines + b"\n]\n" if addresses else b"[]\n"
    return {
        f"{shard}/{naming.targets_path(stem, 0)}": body,
        f"{shard}/{naming.scrape_path(stem)}": b"scrape_configs:\n- job_name: " + stem.encode(),
    }


def test_nothing_is_served_but_empty_shards_before_a_render() -> None:
    published = Published(2)
    assert published.get("/sd/1") == b"[]\n"
    assert published.get("/sd/2") is None
    assert published.get(f"/sd/0/{naming.job_name(STEM, 0)}") is None
    assert not published.rendered


def test_sync_reports_what_changed_and_serves_the_new_bytes() -> None:
    published = Published(2)
    first = published.sync(files(0, STEM, "a:1"))
    assert sorted(first.written) == sorted(files(0, STEM, "a:1"))
    again = published.sync(files(0, STEM, "a:1"))
    assert (again.written, again.removed, again.unchanged) == ([], [], 2)
    changed = published.sync(files(0, STEM, "a:1", "b:2"))
    assert changed.written == [f"0/{naming.targets_path(STEM, 0)}"]
    assert b"b:2" in (published.get(f"/sd/0/{naming.job_name(STEM, 0)}/") or b"")
    gone = published.sync({})
    assert sorted(gone.removed) == sorted(files(0, STEM, "a:1"))
    assert published.get("/sd/0") == b"[]\n"


def test_a_held_targets_files_stay_served_by_the_output_dirs_rule() -> None:
    """The cycle's `keep` is asked about the path below the shard, as on disk."""
    published = Published(1)
    published.sync(files(0, STEM, "a:1") | files(0, OTHER, "c:3"))
    held = naming.target_prefix("web")
    published.sync(files(0, OTHER, "c:3"), keep=lambda rel: naming.prefix_of(rel) == held)
    assert published.get(f"/sd/0/{naming.job_name(STEM, 0)}") is not None
    assert b"a:1" in (published.get("/sd/0") or b"")
