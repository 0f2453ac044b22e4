"""OutputDir on real filesystems: atomic replace under a concurrent reader process, kill -9 in
the middle of writes, write-only-on-change, ownership, path safety, and real write failures
(a full tmpfs, a read-only mount — these mount tmpfs and so need root, as the test machine is).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from sdgen.config.model import Endpoint, Target, TargetType
from sdgen.output import naming, render
from sdgen.output.outputdir import MANIFEST, STAGING, OutputDir, OutputError, dir_mode
from sdgen.resolve.resolver import EndpointTargets
from tests.support.helpers import tmpfs

DEADLINE = 60.0
JOB_FILE = "targets/a.p0/targets.json"  # a scrape job's targets file, in a directory of its own
# Names of sdgen's own shape: a restarted OutputDir owns only those of the names its manifest
# lists (an edited manifest must not get other files deleted).
A = naming.slug("a", 0)
A_JOB, A_FLAT = naming.targets_path(A, 0), "targets/a.0123456789.0.json"  # today's, the old
A_RELABEL, A_SCRAPE = naming.relabel_path(A), naming.scrape_path(A)
B_FLAT = "targets/b.0123456789.0.json"


def prepared(root: Path, **kwargs: object) -> OutputDir:
    out = OutputDir(root, create=True, **kwargs)  # type: ignore[arg-type]
    out.prepare()
    return out


def hidden_files(root: Path) -> list[str]:
    """Temp files and anything else hidden, wherever they are (in `.staging/` or beside the
    files); not the manifest, nor the `.staging/` directory itself."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if (p.name.startswith(".") or p.parent == root / STAGING)
        and p.name != MANIFEST
        and p != root / STAGING
    )


# Writing, change detection, modes -----------------------------------------------------


def test_prepare_creates_the_layout_and_sync_writes_files_with_the_mode(tmp_path: Path) -> None:
    out = prepared(tmp_path / "out", file_mode=0o640)
    root = tmp_path / "out"
    assert sorted(p.name for p in root.iterdir()) == [STAGING, "relabel", "scrape", "targets"]
    assert all((root / p).is_dir() for p in (STAGING, "relabel", "scrape", "targets"))
    result = out.sync({JOB_FILE: b"[]\n", "scrape/a.yml": b"scrape_configs: []\n"})
    assert sorted(p.name for p in root.iterdir()) == [
        MANIFEST,
        STAGING,
        "relabel",
        "scrape",
        "targets",
    ]
    assert result.written == ["scrape/a.yml", JOB_FILE]
    assert (root / JOB_FILE).read_bytes() == b"[]\n"
    assert (root / JOB_FILE).stat().st_mode & 0o777 == 0o640
    assert out.owned() == {"scrape/a.yml", JOB_FILE}
    assert hidden_files(root) == []
    assert list((root / STAGING).iterdir()) == []


def test_default_mode_is_0644_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        prepared(tmp_path).sync({"targets/a.json": b"[]\n"})
    finally:
        os.umask(old)
    assert (tmp_path / "targets/a.json").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("file_mode", "expected"),
    [(0o644, 0o755), (0o640, 0o750), (0o600, 0o700), (0o664, 0o755), (0o604, 0o705)],
)
def test_directory_mode_lets_read_what_the_file_mode_lets_read(
    file_mode: int, expected: int
) -> None:
    assert dir_mode(file_mode) == expected


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def test_directory_modes_are_set_whatever_the_umask(tmp_path: Path) -> None:
    """With umask 000 every directory sdgen made was 0777: anyone could add files to it."""
    root = tmp_path / "new" / "out"
    old = os.umask(0)
    try:
        out = prepared(root, file_mode=0o640)
        out.sync({A_JOB: b"[]\n", "secrets/a.password": b"p"})
    finally:
        os.umask(old)
    made = [root, root / STAGING, root / "targets", root / "scrape", (root / A_JOB).parent]
    assert {str(d.relative_to(root)): mode(d) for d in made} == dict.fromkeys(
        (str(d.relative_to(root)) for d in made), 0o750
    )
    assert mode(root / "secrets") == 0o700
    assert mode(root / A_JOB) == 0o640


def test_an_existing_secrets_dir_open_to_all_is_made_owner_only(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets").chmod(0o777)
    (tmp_path / "targets").mkdir()
    (tmp_path / "targets").chmod(0o775)  # a user's own directory: left as it is
    prepared(tmp_path).sync({"secrets/a.password": b"p"})
    assert mode(tmp_path / "secrets") == 0o700
    assert mode(tmp_path / "targets") == 0o775


def test_a_kind_directory_renamed_away_is_not_written_any_more(tmp_path: Path) -> None:
    """sdgen keeps a descriptor per directory: when the directory is renamed (inside the
    volume), the next sync opens the one that now has the name."""
    out = prepared(tmp_path)
    out.sync({A_SCRAPE: b"1\n"})
    (tmp_path / "scrape").rename(tmp_path / "scrape.old")
    assert out.sync({A_SCRAPE: b"2\n"}).written == [A_SCRAPE]
    assert (tmp_path / A_SCRAPE).read_bytes() == b"2\n"
    assert (tmp_path / "scrape.old" / A_SCRAPE.split("/")[1]).read_bytes() == b"1\n"


def test_unchanged_bytes_are_not_rewritten_even_after_a_restart(tmp_path: Path) -> None:
    desired = {A_FLAT: b"[1]\n", A_RELABEL: b"x: 1\n"}
    prepared(tmp_path).sync(desired)
    before = {rel: (tmp_path / rel).stat() for rel in desired}
    again = prepared(tmp_path)  # a restarted sidecar
    for out in (again, again):
        result = out.sync(desired)
        assert (result.written, result.unchanged, result.removed) == ([], 2, [])
    for rel, stat in before.items():
        now = (tmp_path / rel).stat()
        assert (now.st_ino, now.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    result = again.sync({**desired, A_FLAT: b"[2]\n"})
    assert (result.written, result.unchanged) == ([A_FLAT], 1)
    assert (tmp_path / A_FLAT).stat().st_ino != before[A_FLAT].st_ino


def test_what_sdgen_synced_is_compared_by_bytes_and_only_a_restart_hashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[int] = []
    sha256 = hashlib.sha256

    def counting_sha256(data: bytes) -> Any:
        hashed.append(len(data))
        return sha256(data)

    content = b"[" + b"1," * 1000 + b"1]\n"
    prepared(tmp_path).sync({A_FLAT: content})
    monkeypatch.setattr("sdgen.output.outputdir.hashlib.sha256", counting_sha256)
    out = prepared(tmp_path)  # a restart: what is on disk is known by digest only
    assert hashed == [len(content)]  # the file on disk, read once
    assert out.sync({A_FLAT: bytes(bytearray(content))}).unchanged == 1
    assert len(hashed) == 2  # an equal copy, compared with the disk by digest
    assert out.sync({A_FLAT: content}).unchanged == 1  # compared with the bytes
    changed = content.replace(b"1,", b"2,", 1)
    assert out.sync({A_FLAT: changed}).written == [A_FLAT]
    assert out.sync({A_FLAT: changed}).unchanged == 1
    assert len(hashed) == 2  # nothing hashed since: sdgen had the bytes
    assert (tmp_path / A_FLAT).read_bytes() == changed


def test_a_missing_root_is_an_error_unless_create(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=f"{tmp_path / 'nope'} does not exist.*--output-dir"):
        OutputDir(tmp_path / "nope").prepare()
    OutputDir(tmp_path / "nope" / "deeper", create=True).prepare()
    assert (tmp_path / "nope/deeper/targets").is_dir()


def test_sync_before_prepare_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        OutputDir(tmp_path).sync({})


# .staging/, job directories, directory fsyncs --------------------------------------------


def test_a_write_adds_nothing_to_the_files_directory_but_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Temp files are made in .staging/, so a watcher of a job's directory (Prometheus's
    file_sd re-reads all of it on any event) sees the one rename and nothing else."""
    renames: list[tuple[Path, Path, list[str]]] = []
    replace = os.replace

    def watching_replace(src: str, dst: str, *, src_dir_fd: int, dst_dir_fd: int) -> None:
        src_dir, dst_dir = (
            Path(os.readlink(f"/proc/self/fd/{fd}")) for fd in (src_dir_fd, dst_dir_fd)
        )
        beside = sorted(p.name for p in dst_dir.iterdir())  # just before the rename
        renames.append((src_dir, dst_dir / dst, beside))
        replace(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    tmp_path = tmp_path.resolve()
    out = prepared(tmp_path)
    monkeypatch.setattr("sdgen.output.outputdir.os.replace", watching_replace)
    for content in (b"[1]\n", b"[2]\n"):
        assert out.sync({JOB_FILE: content}).written == [JOB_FILE]
    assert {src for src, _, _ in renames} == {tmp_path / STAGING}  # the manifest's too
    job = [(dst, beside) for _, dst, beside in renames if dst == tmp_path / JOB_FILE]
    assert [beside for _, beside in job] == [[], ["targets.json"]]
    assert sorted(p.name for p in (tmp_path / "targets/a.p0").iterdir()) == ["targets.json"]
    assert list((tmp_path / STAGING).iterdir()) == []


def directory_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The directories sdgen fsyncs from now on, in order."""
    synced: list[Path] = []
    fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        if path.is_dir():
            synced.append(path)
        fsync(fd)

    monkeypatch.setattr("sdgen.output.outputdir.os.fsync", recording_fsync)
    return synced


def test_a_write_fsyncs_the_files_directory_and_staging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path.resolve()
    out = prepared(root)
    synced = directory_fsyncs(monkeypatch)
    for content in (b"[1]\n", b"[2]\n"):  # a new file, then a changed one
        synced.clear()
        result = out.sync({JOB_FILE: content, "scrape/a.yml": content})
        assert result.errors == [] and len(result.written) == 2
        assert {root / "targets/a.p0", root / "scrape", root / STAGING} <= set(synced)
        assert len(synced) == len(set(synced))  # once each per sync
    synced.clear()
    assert out.sync({JOB_FILE: b"[2]\n", "scrape/a.yml": b"[2]\n"}).unchanged == 2
    assert synced == []  # nothing written, nothing to fsync


def test_removing_a_jobs_file_removes_its_directory_unless_a_user_file_is_in_it(
    tmp_path: Path,
) -> None:
    out = prepared(tmp_path)
    a, b = JOB_FILE, "targets/b.p0/targets.json"
    flat = ("targets/flat.json", "relabel/a.yml")
    out.sync({a: b"[]\n", b: b"[]\n", **dict.fromkeys(flat, b"x\n")})
    (tmp_path / "targets/b.p0/notes.txt").write_text("mine")
    result = out.sync({})
    assert sorted(result.removed) == sorted([a, b, *flat])
    assert sorted(p.name for p in (tmp_path / "targets").iterdir()) == ["b.p0"]
    assert [p.name for p in (tmp_path / "targets/b.p0").iterdir()] == ["notes.txt"]
    assert (tmp_path / "relabel").is_dir()  # a kind's directory stays, empty or not
    assert out.owned() == set()
    assert out.sync({a: b"[1]\n"}).written == [a]  # and the job's directory comes back
    assert (tmp_path / a).read_bytes() == b"[1]\n"


def test_removing_a_file_from_a_directory_that_stays_fsyncs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path.resolve()
    out = prepared(root)
    out.sync({JOB_FILE: b"[]\n", "targets/flat.json": b"[]\n"})
    (root / "targets/a.p0/notes.txt").write_text("mine")
    synced = directory_fsyncs(monkeypatch)
    result = out.sync({})
    assert (len(result.removed), result.errors) == (2, [])
    assert {root / "targets/a.p0", root / "targets"} <= set(synced)


def test_removing_a_jobs_last_file_and_its_directory_is_no_error(tmp_path: Path) -> None:
    out = prepared(tmp_path)
    out.sync({JOB_FILE: b"[]\n"})
    result = out.sync({})
    assert not (tmp_path / "targets/a.p0").exists()
    assert (result.removed, result.errors) == ([JOB_FILE], [])


def test_a_job_dir_on_another_file_system_is_refused_at_start(tmp_path: Path) -> None:
    """A file written in .staging/ cannot be renamed across file systems: say so at start."""
    with (
        tmpfs(tmp_path / "targets", "size=64k"),
        pytest.raises(OutputError, match=r"another file system than \.staging/.*mount one volume"),
    ):
        prepared(tmp_path)


def test_removing_a_jobs_directory_fsyncs_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path.resolve()
    out = prepared(root)
    out.sync({JOB_FILE: b"[]\n"})
    synced = directory_fsyncs(monkeypatch)
    assert out.sync({}).removed == [JOB_FILE]
    assert not (root / "targets/a.p0").exists()
    assert root / "targets" in synced


# Ownership ----------------------------------------------------------------------------


def test_prunes_only_files_it_wrote(tmp_path: Path) -> None:
    out = prepared(tmp_path)
    out.sync({A_FLAT: b"[]\n", B_FLAT: b"[]\n"})
    (tmp_path / "targets/mine.json").write_text("[]\n")
    result = prepared(tmp_path).sync({B_FLAT: b"[]\n"})
    assert result.removed == [A_FLAT]
    assert sorted(p.name for p in (tmp_path / "targets").iterdir()) == [
        B_FLAT.split("/")[1],
        "mine.json",
    ]


def test_keep_protects_files_that_are_no_longer_desired(tmp_path: Path) -> None:
    out = prepared(tmp_path)
    out.sync({"targets/held.1.json": b"[]\n", "targets/gone.1.json": b"[]\n"})
    result = out.sync({}, keep=lambda rel: rel.startswith("targets/held."))
    assert result.removed == ["targets/gone.1.json"]
    assert (tmp_path / "targets/held.1.json").exists()
    assert out.owned() == {"targets/held.1.json"}
    assert out.sync({}).removed == ["targets/held.1.json"]


def test_a_new_file_whose_ownership_cannot_be_recorded_is_not_written(tmp_path: Path) -> None:
    out = prepared(tmp_path)
    out.sync({"targets/old.json": b"[]\n"})
    (tmp_path / MANIFEST).unlink()
    (tmp_path / MANIFEST).mkdir()  # the manifest can no longer be replaced
    result = out.sync({"targets/old.json": b"[1]\n", "targets/new.json": b"[]\n"})
    assert result.written == ["targets/old.json"]
    assert result.errors[0].startswith(f"{MANIFEST}: ")
    assert result.errors[1] == "targets/new.json: not written, ownership not recorded"
    assert not (tmp_path / "targets/new.json").exists()


def test_an_unreadable_manifest_means_nothing_is_removed(tmp_path: Path) -> None:
    prepared(tmp_path).sync({A_FLAT: b"[]\n"})
    (tmp_path / MANIFEST).write_text("{not json")
    out = prepared(tmp_path)
    assert out.owned() == set()
    assert out.sync({}).removed == []
    assert (tmp_path / A_FLAT).exists()


def test_prepare_removes_stale_temp_files_only(tmp_path: Path) -> None:
    """Only the exact shape sdgen makes, `.<name>.tmp-<pid>-<8 hex>`, for a name it writes
    (its manifest's, the manifest's own, its probe's): a look-alike is a user's file."""
    prepared(tmp_path).sync({A_JOB: b"[]\n", A_FLAT: b"[]\n", A_SCRAPE: b"x\n"})
    flat, scrape = A_FLAT.split("/")[1], A_SCRAPE.split("/")[1]
    stale = [
        tmp_path / STAGING / ".targets.json.tmp-4242-0a1b2c3d",  # where temp files are made
        tmp_path / STAGING / f".{MANIFEST}.tmp-4242-0a1b2c3d",
        tmp_path / STAGING / f".{scrape}.tmp-4242-0a1b2c3d",
        tmp_path / ".probe.tmp-7-0a1b2c3d",
        # beside the files, where versions before .staging/ made them
        tmp_path / f"targets/.{flat}.tmp-4242-0a1b2c3d",
        tmp_path / A_JOB.replace("targets.json", ".targets.json.tmp-4242-0a1b2c3d"),
    ]
    users = [
        tmp_path / "targets/.gitkeep",
        tmp_path / "scrape/a.yml.tmp-1-ff",
        tmp_path / A_JOB.replace("targets.json", "notes.txt"),
        tmp_path / ".x.tmp-1-ff",  # looks like a temp name, but not of sdgen's shape
        tmp_path / STAGING / f".{scrape}.tmp-1-ff",  # 8 hex digits, not 2
        tmp_path / STAGING / ".other.json.tmp-4242-0a1b2c3d",  # no file sdgen writes
        tmp_path / f"scrape/.{scrape}.tmp-0-0a1b2c3d",  # no pid is 0
    ]
    for path in [*stale, *users]:
        path.write_text("partial")
    prepared(tmp_path)
    assert [p.name for p in stale if p.exists()] == []
    assert [p.name for p in users if not p.exists()] == []
    assert (tmp_path / A_JOB).read_bytes() == b"[]\n"


# Path safety --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "relpath",
    [
        "../escape.json",
        "/tmp/abs.json",
        "targets/../../escape.json",
        "targets//a.json",
        "targets/./a.json",
        "targets/.hidden.json",
        MANIFEST,
        f"{STAGING}/a.json",
        f"targets/{STAGING}/targets.json",
        "",
        "targets/a\x00.json",
    ],
)
def test_unsafe_relpaths_are_refused(tmp_path: Path, relpath: str) -> None:
    root = tmp_path / "out"
    out = prepared(root)
    result = out.sync({relpath: b"x", "targets/ok.p0/targets.json": b"[]\n"})
    assert result.written == ["targets/ok.p0/targets.json"]
    assert len(result.errors) == 1 and result.errors[0].startswith(f"{relpath}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert hidden_files(root) == []
    assert out.owned() == {"targets/ok.p0/targets.json"}


def test_rendered_files_of_hostile_target_names_stay_inside_the_root(tmp_path: Path) -> None:
    names = ["../../etc", "/abs/path", "..", "a/../../b", "\x00", "☃ unicode", "x" * 300]
    endpoint = Endpoint(addresses=("h:1",))
    desired = render.render(
        EndpointTargets(Target(n, TargetType.STATIC_ENDPOINTS, (endpoint,)), 0, endpoint, ())
        for n in names
    )
    root = tmp_path / "out"
    result = prepared(root).sync(desired)
    assert result.errors == [] and len(result.written) == 3 * len(names)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    for rel in result.written:  # <kind>/<slug>.yml or targets/<slug>.p0/targets.json
        parts = tuple(rel.split("/"))
        assert (root / rel).resolve().relative_to(root.resolve()).parts == parts
        assert parts[0] in ("targets", "relabel", "scrape")
        assert len(parts) == (3 if parts[0] == "targets" else 2)
        assert not any(part.startswith(".") for part in parts)
    assert hidden_files(root) == []


def test_a_symlinked_directory_leading_outside_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "out"
    out = prepared(root)
    (root / "extra").symlink_to(outside)
    result = out.sync({"extra/a.json": b"[]\n"})
    assert result.written == [] and "not a directory inside the output dir" in result.errors[0]
    assert list(outside.iterdir()) == []


def test_a_symlinked_subdir_leading_outside_fails_prepare(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out/targets").symlink_to(outside)
    with pytest.raises(OutputError, match="targets is not a directory inside the output dir"):
        OutputDir(tmp_path / "out").prepare()
    assert list(outside.iterdir()) == []


def test_a_symlinked_file_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.json"
    victim.write_text("precious")
    out = prepared(tmp_path / "out")
    (tmp_path / "out/targets/a.json").symlink_to(victim)
    assert out.sync({"targets/a.json": b"[]\n"}).written == ["targets/a.json"]
    assert victim.read_text() == "precious"
    assert (tmp_path / "out/targets/a.json").read_bytes() == b"[]\n"


# Real failures ------------------------------------------------------------------------


def test_a_root_under_a_regular_file_fails_prepare(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    for create in (False, True):
        with pytest.raises(OutputError, match=f"{tmp_path / 'file' / 'out'}.*--output-dir"):
            OutputDir(tmp_path / "file" / "out", create=create).prepare()


def test_a_read_only_root_fails_prepare(tmp_path: Path) -> None:
    root = tmp_path / "ro"
    with (
        tmpfs(root, "ro,size=64k"),
        pytest.raises(OutputError, match=f"{root} is not writable: .*--output-dir"),
    ):
        OutputDir(root).prepare()


def test_a_full_disk_keeps_the_old_file_and_the_other_writes(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "small", "size=64k") as root:
        out = prepared(root)
        a, b = "targets/a.p0/targets.json", "targets/b.p0/targets.json"
        out.sync({a: b'["old"]\n'})
        result = out.sync({a: b"[" + b" " * 200_000 + b"]\n", b: b"[]\n"})
        assert result.written == [b]
        assert result.errors == [f"{a}: No space left on device"]
        assert (root / a).read_bytes() == b'["old"]\n'
        assert hidden_files(root) == []  # the failed write's temp file is gone from .staging/
        assert out.sync({a: b"[1]\n", b: b"[]\n"}).written == [a]
        out.close()  # its directory descriptors, so the tmpfs can be unmounted


def test_a_directory_in_place_of_a_file_fails_only_that_file(tmp_path: Path) -> None:
    out = prepared(tmp_path)
    (tmp_path / JOB_FILE).mkdir(parents=True)
    result = out.sync({JOB_FILE: b"[]\n", "targets/b.p0/targets.json": b"[]\n"})
    assert result.written == ["targets/b.p0/targets.json"]
    assert result.errors[0].startswith(f"{JOB_FILE}: Is a directory")
    assert hidden_files(tmp_path) == []
    assert list((tmp_path / JOB_FILE).iterdir()) == []


def test_writes_go_through_staging_even_when_the_files_directory_is_writable(
    tmp_path: Path,
) -> None:
    root = tmp_path / "out"
    out = prepared(root)
    out.sync({JOB_FILE: b"[1]\n"})
    (root / STAGING).rmdir()
    with tmpfs(root / STAGING, "ro,size=64k"):
        probe = root / "targets/a.p0/probe"  # the file's own directory takes writes
        probe.write_text("")
        probe.unlink()
        result = out.sync({JOB_FILE: b"[2]\n"})
        assert result.written == []
        assert result.errors == [f"{JOB_FILE}: Read-only file system"]
        assert (root / JOB_FILE).read_bytes() == b"[1]\n"
        assert sorted(p.name for p in (root / "targets/a.p0").iterdir()) == ["targets.json"]
        out.close()  # so the tmpfs can be unmounted
    out.prepare()
    assert out.sync({JOB_FILE: b"[2]\n"}).written == [JOB_FILE]
    assert (root / JOB_FILE).read_bytes() == b"[2]\n"


# Concurrency and crashes (real processes) ---------------------------------------------

READER = r"""
import json, os, sys
path, stop = sys.argv[1], sys.argv[2]
good = bad = 0
versions = set()
while not os.path.exists(stop):
    with open(path, "rb") as f:
        data = f.read()
    try:
        doc = json.loads(data)
        assert doc["pad"] == "x" * doc["size"] and doc["check"] == doc["version"]
        versions.add(doc["version"])
        good += 1
    except Exception:
        bad += 1
print(json.dumps({"good": good, "bad": bad, "versions": len(versions)}))
"""


def version(n: int) -> bytes:
    size = (n * 7919) % 150_000  # sizes jump around, so a torn read cannot look whole
    return json.dumps({"version": n, "pad": "x" * size, "size": size, "check": n}).encode()


def test_a_concurrent_reader_never_sees_a_partial_or_mixed_file(tmp_path: Path) -> None:
    out = prepared(tmp_path)
    out.sync({"targets/a.json": version(0)})
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(tmp_path / "targets/a.json"), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for n in range(1, 301):
            assert out.sync({"targets/a.json": version(n)}).written == ["targets/a.json"]
    finally:
        stop.touch()
        stdout, _ = reader.communicate(timeout=DEADLINE)
    counts = json.loads(stdout)
    assert counts["bad"] == 0
    assert counts["good"] > 0 and counts["versions"] > 1, counts  # it really overlapped


WRITER = r"""
import json, sys
from sdgen.output.outputdir import OutputDir
out = OutputDir(sys.argv[1], create=True)
out.prepare()
n = 0
while True:
    n += 1
    doc = {"version": n, "pad": "x" * (n * 7919 % 1_000_000)}
    out.sync({
        sys.argv[2]: json.dumps(doc).encode(),
        sys.argv[3]: ("version: %d\npad: '%s'\n" % (n, doc["pad"])).encode(),
    })
    print(n, flush=True)
"""


def kill_while_a_temp_file_exists(root: Path) -> None:
    """Run the writer, freeze it (SIGSTOP) at a moment a temp file exists, then kill -9."""
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), A_JOB, A_SCRAPE], stdout=subprocess.PIPE
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline()  # first sync done
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            if hidden_files(root):
                os.kill(writer.pid, signal.SIGSTOP)
                if hidden_files(root):
                    return
                os.kill(writer.pid, signal.SIGCONT)
        pytest.fail("never caught the writer in the middle of a write")
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=DEADLINE)


def test_kill_9_mid_write_leaves_only_whole_files_and_restart_cleans_up(tmp_path: Path) -> None:
    kill_while_a_temp_file_exists(tmp_path)
    left = hidden_files(tmp_path)
    assert left  # the interrupted write's temp file, in .staging/ and nowhere else
    assert all(rel.startswith(f"{STAGING}/.") for rel in left), left
    assert sorted(p.name for p in (tmp_path / A_JOB).parent.iterdir()) == ["targets.json"]
    doc = json.loads((tmp_path / A_JOB).read_bytes())
    assert len(doc["pad"]) == doc["version"] * 7919 % 1_000_000
    fragment = yaml.safe_load((tmp_path / A_SCRAPE).read_bytes())
    assert len(fragment["pad"]) == fragment["version"] * 7919 % 1_000_000
    out = prepared(tmp_path)
    assert hidden_files(tmp_path) == []
    assert out.owned() == {A_JOB, A_SCRAPE}


# Foreign things at owned names (the volume is shared) -------------------------------------


def prepare_within(root: Path, seconds: float = 10.0) -> OutputDir:
    """prepare() in a thread, failing (not hanging) the test if it blocks."""
    out = OutputDir(root)
    done = threading.Thread(target=out.prepare, daemon=True)
    done.start()
    done.join(seconds)
    assert not done.is_alive(), "prepare() blocked"
    return out


def test_a_fifo_as_the_manifest_or_an_owned_file_does_not_block_prepare(tmp_path: Path) -> None:
    prepared(tmp_path).sync({A_JOB: b"[]\n", A_SCRAPE: b"x\n"})
    (tmp_path / A_JOB).unlink()
    os.mkfifo(tmp_path / A_JOB)
    out = prepare_within(tmp_path)
    assert out.owned() == {A_SCRAPE}
    result = out.sync({A_JOB: b"[]\n", A_SCRAPE: b"x\n"})
    assert (result.written, result.replaced) == ([A_JOB], [f"{A_JOB}: a FIFO"])
    assert (tmp_path / A_JOB).read_bytes() == b"[]\n"
    out.close()
    (tmp_path / MANIFEST).unlink()
    os.mkfifo(tmp_path / MANIFEST)
    out = prepare_within(tmp_path)
    assert out.owned() == set()  # the manifest is lost: nothing is removed
    result = out.sync({A_SCRAPE: b"x\n"})  # known again by recording it anew
    assert (result.written, result.replaced) == ([A_SCRAPE], [f"{MANIFEST}: a FIFO"])
    assert json.loads((tmp_path / MANIFEST).read_bytes())["files"] == [A_SCRAPE]


def test_a_file_changed_into_a_fifo_while_running_is_replaced(tmp_path: Path) -> None:
    out = prepared(tmp_path)
    out.sync({A_SCRAPE: b"x\n"})
    (tmp_path / A_SCRAPE).unlink()
    os.mkfifo(tmp_path / A_SCRAPE)  # the directory changed: sdgen reads the disk again
    result = out.sync({A_SCRAPE: b"x\n"})
    assert (result.written, result.replaced) == ([A_SCRAPE], [f"{A_SCRAPE}: a FIFO"])
    assert (tmp_path / A_SCRAPE).read_bytes() == b"x\n"
