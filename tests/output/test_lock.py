"""Two sdgen processes pointed at one output dir by mistake must not corrupt it.

The first `sdgen run` holds a lock on the directory for its lifetime; a second `run` or `once`
on the same directory exits 2 naming the holder's pid, and leaves the first one's files alone.
The lock dies with its process, even with kill -9, so a restarted sidecar takes over at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.helpers import REPO, wait_for


def static_config(tmp_path: Path, address: str = "192.0.2.1:9100") -> Path:
    path = tmp_path / "scrape_config.yaml"
    path.write_text(
        "targets:\n- targetName: db\n  type: StaticEndpoints\n"
        f"  endpoints: [{{address: '{address}'}}]\n"
    )
    return path


def sdgen(command: str, out: Path, config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as stream:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sdgen",
                command,
                "--output-dir",
                str(out),
                "--config-file",
                str(config),
                *(["--listen", ""] if command == "run" else []),
            ],
            stdout=stream,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, "KUBECONFIG": str(out.parent / "no-such-kubeconfig")},
        )


def snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_a_second_sdgen_on_the_same_output_dir_exits_2_and_changes_nothing(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    first = sdgen("run", out, static_config(tmp_path), tmp_path / "first.log")
    try:
        wait_for(lambda: list((out / "targets").glob("*/targets.json")), 20, message="first render")
        before = snapshot(out)
        # The intruder's config differs, so any write it made would show.
        (tmp_path / "other").mkdir()
        other = static_config(tmp_path / "other", "198.51.100.9:9100")
        for command in ("run", "once"):
            log = tmp_path / f"second-{command}.log"
            second = sdgen(command, out, other, log)
            assert second.wait(30) == 2, log.read_text()
            message = log.read_text()
            assert f"output dir {out} is in use by another sdgen (pid {first.pid})" in message
            assert "point each sdgen at its own --output-dir" in message
        assert snapshot(out) == before
        assert first.poll() is None, "the first sdgen keeps running"
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(10) == 0


def test_the_lock_dies_with_a_killed_sdgen(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    config = static_config(tmp_path)
    first = sdgen("run", out, config, tmp_path / "first.log")
    wait_for(lambda: list((out / "targets").glob("*/targets.json")), 20, message="first render")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    config = static_config(tmp_path, "198.51.100.9:9100")
    log = tmp_path / "once.log"
    assert sdgen("once", out, config, log).wait(30) == 0, log.read_text()
    (target,) = (out / "targets").glob("*/targets.json")
    assert "198.51.100.9:9100" in target.read_text()


def test_targets_does_not_take_the_lock(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    config = static_config(tmp_path)
    first = sdgen("run", out, config, tmp_path / "first.log")
    try:
        wait_for(lambda: list((out / "targets").glob("*/targets.json")), 20, message="first render")
        shown = subprocess.run(
            [sys.executable, "-m", "sdgen", "targets", "--config-file", str(config)],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**os.environ, "KUBECONFIG": str(tmp_path / "no-such-kubeconfig")},
            timeout=30,
        )
        assert shown.returncode == 0, shown.stderr
        assert "192.0.2.1:9100" in shown.stdout
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(10)


def test_a_nested_output_dir_is_refused_both_ways(tmp_path: Path) -> None:
    """Two sdgens on nested directories would each see the other's files as foreign and
    fight over them: a directory below a locked output dir, or above one, is refused."""
    parent = tmp_path / "parent"
    out = parent / "out"
    out.mkdir(parents=True)
    first = sdgen("run", out, static_config(tmp_path), tmp_path / "first.log")
    try:
        wait_for(lambda: list((out / "targets").glob("*/targets.json")), 20, message="first render")
        before = snapshot(out)
        (tmp_path / "other").mkdir()
        other = static_config(tmp_path / "other", "198.51.100.9:9100")
        (out / "nested").mkdir()
        cases = {
            out / "nested": f"output dir {out / 'nested'} is inside {out}, the output dir of "
            f"another sdgen (pid {first.pid}); nested output dirs are refused",
            parent: f"output dir {parent} holds the output dir of another sdgen "
            f"(pid {first.pid}) below it; nested output dirs are refused",
        }
        for where, expected in cases.items():
            log = tmp_path / f"second-{where.name}.log"
            second = sdgen("once", where, other, log)
            assert second.wait(30) == 2, log.read_text()
            assert expected in log.read_text()
        assert snapshot(out) == before
        assert sorted(p.name for p in parent.iterdir()) == ["out"]
        assert first.poll() is None, "the first sdgen keeps running"
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(10) == 0
    # The parent is free again once the first sdgen is gone.
    log = tmp_path / "parent.log"
    assert sdgen("once", parent, other, log).wait(30) == 0, log.read_text()
