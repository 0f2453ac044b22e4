"""Hostile volume: a process that can write the shared output volume (another container of
the pod, anything that mounts it) can neither stall sdgen, nor make it read without bound, nor
get it to write outside the output dir, nor get a file of its own deleted.

Each test reproduces an attack that worked before the fix (issue 17, items 3, 5 and 6): a FIFO
or a /dev/zero symlink at a file sdgen owns, a directory swapped with a symlink while sdgen
writes, a look-alike temp name, an edited manifest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sdgen.output import naming
from sdgen.output.outputdir import MANIFEST, STAGING, OutputDir
from tests.support.helpers import REPO, free_port, wait_for
from tests.support.sidecar import SidecarProcess, get

DEADLINE = 20.0
STEM = naming.slug("db", 0)
TARGETS = naming.targets_path(STEM, 0)
SCRAPE = naming.scrape_path(STEM)


def static_config(tmp_path: Path, address: str = "192.0.2.1:9100") -> Path:
    path = tmp_path / "scrape_config.yaml"
    path.write_text(
        "targets:\n- targetName: db\n  type: StaticEndpoints\n"
        f"  endpoints: [{{address: '{address}'}}]\n"
    )
    return path


class Sidecar(SidecarProcess):
    """`sdgen run --config-file` with its ops port on a free loopback port."""

    def __init__(self, tmp: Path, config: Path) -> None:
        self.port = free_port()
        super().__init__(tmp, ["--config-file", str(config), "--listen", f"127.0.0.1:{self.port}"])

    def until(self, predicate: Callable[[], object], what: str) -> None:
        try:
            wait_for(predicate, DEADLINE, interval=0.05, message=what)
        except AssertionError as err:
            raise AssertionError(f"{err}\n--- sdgen log ---\n{self.log}") from None

    def status(self) -> dict[str, object]:
        code, body = get(self.port, "/status")
        assert code == 200, body
        result: dict[str, object] = json.loads(body)
        return result

    def ready(self) -> bool:
        return get(self.port, "/readyz")[0] == 200  # an OSError until the port is open


def regular(path: Path, containing: str) -> bool:
    return path.is_file() and not path.is_symlink() and containing in path.read_text()


# --- item 3: owned files are read back without blocking or reading without bound ------------


def test_a_fifo_at_an_owned_name_stalls_neither_startup_nor_the_loop(tmp_path: Path) -> None:
    config = static_config(tmp_path)
    first = Sidecar(tmp_path, config)
    try:
        first.until(lambda: regular(first.out / TARGETS, "192.0.2.1"), "the first render")
    finally:
        assert first.terminate() == 0, first.log
    (first.out / TARGETS).unlink()
    os.mkfifo(first.out / TARGETS)  # no writer: a blocking open for reading waits forever

    run = Sidecar(tmp_path, config)
    try:
        run.until(run.ready, "a render after a restart over a FIFO")
        run.until(lambda: regular(run.out / TARGETS, "192.0.2.1"), "the FIFO replaced")
        replaced = run.status()["replaced_files"]
        assert replaced == [f"{TARGETS}: a FIFO"], replaced
        assert f"{TARGETS} in the output dir is not sdgen's file any more (a FIFO)" in run.log

        (run.out / SCRAPE).unlink()  # and while it runs
        os.mkfifo(run.out / SCRAPE)
        config.write_text(config.read_text().replace("192.0.2.1", "192.0.2.2"))
        run.until(lambda: regular(run.out / TARGETS, "192.0.2.2"), "the next render")
        run.until(lambda: regular(run.out / SCRAPE, "job_name"), "the second FIFO replaced")
    finally:
        assert run.terminate() == 0, run.log


READ_BACK = r"""
import resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # reading /dev/zero fails fast
from sdgen.output.outputdir import OutputDir
out = OutputDir(sys.argv[1])
started = time.monotonic()
out.prepare()
print(time.monotonic() - started)
print("\n".join(out.sync({}, keep=lambda rel: True).replaced))
"""


def test_a_dev_zero_symlink_a_huge_file_and_a_directory_are_not_read_back(
    tmp_path: Path,
) -> None:
    out = OutputDir(tmp_path)
    out.prepare()
    names = [naming.scrape_path(naming.slug(name, 0)) for name in ("zero", "huge", "dir", "ok")]
    zero, huge, directory, ok = names
    out.sync(dict.fromkeys(names, b"x: 1\n"))
    out.close()
    (tmp_path / zero).unlink()
    (tmp_path / zero).symlink_to("/dev/zero")
    with (tmp_path / huge).open("r+b") as f:
        f.truncate(4 << 30)  # sparse: 4 GiB that cost no disk
    (tmp_path / directory).unlink()
    (tmp_path / directory).mkdir()

    done = subprocess.run(
        [sys.executable, "-c", READ_BACK, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    took, *replaced = done.stdout.splitlines()
    assert float(took) < 5, took
    assert sorted(replaced) == sorted(
        [
            f"{zero}: a symlink",
            f"{huge}: a file of {4 << 30} bytes, over the {64 << 20}-byte limit",
            f"{directory}: a directory",
        ]
    )
    assert (tmp_path / ok).read_bytes() == b"x: 1\n"


# --- item 5: no path is re-resolved between a check and a write ----------------------------

SWAPPER = r"""
import ctypes, os, shutil, sys, time
path, outside, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
link = path + ".link"
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
def exchange():  # one atomic syscall: the name is never missing, so nobody recreates it
    if libc.renameat2(AT_FDCWD, path.encode(), AT_FDCWD, link.encode(), RENAME_EXCHANGE):
        raise OSError(ctypes.get_errno(), "renameat2")
def discard(name):
    if os.path.islink(name):
        os.unlink(name)
    elif os.path.isdir(name):
        shutil.rmtree(name)
swaps, deadline = 0, time.monotonic() + seconds
print("ready", flush=True)
while time.monotonic() < deadline:
    try:
        if not os.path.islink(link):  # sdgen replaced the symlink it found: plant a new one
            discard(link)
            os.symlink(outside, link)
        exchange()  # the symlink to the outside now has the directory's name
        exchange()  # and a real directory has it back
        swaps += 1
    except OSError:
        pass  # sdgen was between removing the symlink and making its directory
discard(link)
print(swaps)
"""


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the output dir that sdgen must never write to."""
    path = tmp_path / "outside"
    path.mkdir()
    return path


def written(directory: Path) -> list[str]:
    """Everything in `directory`, temp files included."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


@pytest.mark.parametrize(
    "victim", ["targets", f"targets/{naming.job_name(STEM, 0)}", "scrape", STAGING]
)
def test_a_directory_swapped_with_a_symlink_never_gets_sdgen_to_write_outside(
    tmp_path: Path, outside: Path, victim: str
) -> None:
    root = tmp_path / "out"
    out = OutputDir(root, create=True)
    out.prepare()
    files = [TARGETS, SCRAPE, naming.relabel_path(STEM)]
    out.sync(dict.fromkeys(files, b"0\n"))
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(root / victim), str(outside), "3"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert swapper.stdout is not None and swapper.stdout.readline() == "ready\n"
        n = 0
        while swapper.poll() is None:
            n += 1
            out.sync(dict.fromkeys(files, b"%d\n" % n))  # errors are fine, escapes are not
        swaps = int(swapper.stdout.read())
    finally:
        swapper.kill()
        swapper.wait()
    assert swaps > 1000 and n > 20, (swaps, n)  # it really raced
    assert written(outside) == []
    # Once the directories are left alone, the output comes back whole.
    result = out.sync(dict.fromkeys(files, b"last\n"))
    assert result.errors == [], result.errors
    assert [(root / rel).read_bytes() for rel in files] == [b"last\n"] * 3
    assert not (root / victim).is_symlink()


def test_sdgen_run_under_a_swapping_targets_dir_writes_nothing_outside(
    tmp_path: Path, outside: Path
) -> None:
    """The same, end to end: `sdgen run` re-rendering on every config change."""
    config = static_config(tmp_path)
    run = Sidecar(tmp_path, config)
    try:
        run.until(lambda: regular(run.out / TARGETS, "192.0.2.1"), "the first render")
        swapper = subprocess.Popen(
            [sys.executable, "-c", SWAPPER, str(run.out / "targets"), str(outside), "3"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert swapper.stdout is not None and swapper.stdout.readline() == "ready\n"
        n = 0
        while swapper.poll() is None:
            n += 1
            config.write_text(static_config(tmp_path, f"192.0.2.{n % 250 + 1}:9100").read_text())
            time.sleep(0.02)
        swapper.wait()
        config.write_text(static_config(tmp_path, "198.51.100.7:9100").read_text())
        run.until(lambda: regular(run.out / TARGETS, "198.51.100.7"), "a render after the swaps")
        assert written(outside) == []
        assert n > 20, n
    finally:
        assert run.terminate() == 0, run.log


# --- item 6: sdgen deletes only what it made --------------------------------------------------


def test_an_edited_manifest_gets_no_file_of_another_shape_deleted(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    out.prepare()
    out.sync({TARGETS: b"[]\n", SCRAPE: b"x: 1\n"})
    out.close()
    victims = ["scrape/prometheus.yml", "targets/mine.json", "rules/alerts.yml", "notes.txt"]
    for rel in victims:
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_text("precious")
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    manifest["files"] += victims
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))

    again = OutputDir(tmp_path)
    again.prepare()
    assert again.owned() == {TARGETS, SCRAPE}
    assert sorted(again.sync({}).removed) == sorted([TARGETS, SCRAPE])
    assert [(tmp_path / rel).read_text() for rel in victims] == ["precious"] * len(victims)


def test_startup_removes_no_look_alike_temp_name(tmp_path: Path) -> None:
    out = OutputDir(tmp_path)
    out.prepare()
    out.sync({TARGETS: b"[]\n"})
    out.close()
    look_alikes = [".x.tmp-1-ab", f"{STAGING}/.mine.tmp-2-0a1b2c3d", "targets/.db.tmp-3-cafe"]
    for rel in look_alikes:
        (tmp_path / rel).write_text("mine")
    OutputDir(tmp_path).prepare()
    assert [rel for rel in look_alikes if not (tmp_path / rel).exists()] == []


def test_a_job_directory_replaced_by_a_symlink_is_replaced_not_followed(
    tmp_path: Path, outside: Path
) -> None:
    """Also across a restart: the symlink must neither stop sdgen from starting nor lead a
    write outside; the job's directory is sdgen's name, so it takes it back."""
    root = tmp_path / "out"
    out = OutputDir(root, create=True)
    out.prepare()
    out.sync({TARGETS: b"[1]\n"})
    out.close()
    job = (root / TARGETS).parent
    (job / "targets.json").unlink()
    job.rmdir()
    job.symlink_to(outside)
    again = OutputDir(root)
    again.prepare()
    result = again.sync({TARGETS: b"[2]\n"})
    assert (result.written, result.errors) == ([TARGETS], [])
    assert result.replaced == [f"{job.relative_to(root)}: a symlink"]
    assert not job.is_symlink() and (root / TARGETS).read_bytes() == b"[2]\n"
    assert written(outside) == []
