"""Local file mode's source: watchdog on the directory, content versions, observer restarts."""

from __future__ import annotations

import threading
from pathlib import Path

from watchdog.events import (
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
)

from sdgen.runtime.localfile import FileSource, _Poke, looks_like_subpath_mount
from tests.support.helpers import wait_for


def test_read_reports_missing_unreadable_and_versions(tmp_path: Path) -> None:
    path = tmp_path / "scrape_config.yaml"
    source = FileSource(path, lambda: None)
    missing = source.read()
    assert missing.text is None and "does not exist" in missing.problem
    path.write_bytes(b"targets: []\n")
    first = source.read()
    assert first.text == "targets: []\n" and first.version
    path.write_bytes(b"targets: []\n")
    assert source.read().version == first.version  # same bytes, same version
    path.write_bytes(b"\xff\xfe")
    binary = source.read()
    assert binary.text is None and "not UTF-8" in binary.problem


def test_events_in_the_directory_poke_and_a_dead_observer_is_restarted(tmp_path: Path) -> None:
    path = tmp_path / "scrape_config.yaml"
    path.write_text("targets: []\n")
    poked = threading.Event()
    source = FileSource(path, poked.set)
    source.start()
    try:
        assert source.healthy()
        path.write_text("targets: []  # edited\n")
        assert poked.wait(5), "a write in the watched directory must poke the loop"

        # Kill the observer thread as a crash would; the loop's ensure_alive() revives it.
        observer = source._observer
        assert observer is not None
        observer.stop()
        observer.join(5)
        assert not source.healthy()
        source.ensure_alive()
        assert source.healthy() and source.restarts == 1
        poked.clear()
        (tmp_path / "other").write_text("x")
        assert poked.wait(5), "the restarted observer must deliver events again"
    finally:
        source.stop()
    wait_for(lambda: not source.healthy(), timeout=5)


def test_subpath_mount_detection_reads_mountinfo(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "scrape_config.yaml"
    config.parent.mkdir()
    config.write_text("")
    mountinfo = tmp_path / "mountinfo"
    line = "1 2 0:1 /volumes/cm/scrape_config.yaml {target} rw - ext4 /dev/vda rw\n"
    mountinfo.write_text(line.format(target=config.resolve()))
    assert looks_like_subpath_mount(config, mountinfo)
    mountinfo.write_text(line.format(target=tmp_path / "elsewhere"))
    assert not looks_like_subpath_mount(config, mountinfo)


def test_its_own_reads_do_not_poke(tmp_path: Path) -> None:
    """Reading the config makes watchdog report `opened` and `closed_no_write`; neither can
    mean a change, so neither starts a cycle (each would read the file, and poke again)."""
    path = tmp_path / "scrape_config.yaml"
    path.write_text("targets: []\n")
    pokes: list[None] = []
    source = FileSource(path, lambda: pokes.append(None))
    source.start()
    try:
        for _ in range(20):  # 40 opened/closed_no_write events
            source.read()
        (tmp_path / "other").write_text("x")  # a real change: a handful of events
        wait_for(lambda: pokes, 10, message="the real change pokes")
        seen = [-1]

        def settled() -> bool:  # no new poke since the last look, 0.2 s ago
            settled_now, seen[0] = seen[0] == len(pokes), len(pokes)
            return settled_now

        wait_for(settled, 10, 0.2, "the pokes settle")
        assert len(pokes) < 20, f"{len(pokes)} pokes: the 40 read events poked too"
    finally:
        source.stop()


def test_open_and_close_without_write_are_no_change() -> None:
    pokes: list[str] = []
    handler = _Poke(lambda: pokes.append("poke"))
    for event in (FileOpenedEvent("/c"), FileClosedNoWriteEvent("/c")):
        handler.dispatch(event)
    assert pokes == []
    for event in (FileModifiedEvent("/c"), FileClosedEvent("/c"), FileMovedEvent("/a", "/c")):
        handler.dispatch(event)
    assert len(pokes) == 3
