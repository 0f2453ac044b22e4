"""Shared fixtures: a running Kubernetes API emulator, its kubeconfig, the real binaries, and
a Prometheus launcher that always stops what it started."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.fakeapi import FakeAPI
from tests.support.helpers import binary
from tests.support.prom import PromHandle, start_prometheus


@pytest.fixture
def fakeapi() -> Iterator[FakeAPI]:
    """A started, empty emulator; stopped (listener, watches and threads) at teardown."""
    api = FakeAPI()
    api.start()
    yield api
    api.stop()


@pytest.fixture
def kubeconfig(fakeapi: FakeAPI, tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    fakeapi.write_kubeconfig(path)
    return path


class Binaries:
    """Paths of the real tools, looked up only when asked for (a test fails if one is absent)."""

    @property
    def prometheus(self) -> Path:
        return binary("prometheus")

    @property
    def promtool(self) -> Path:
        return binary("promtool")

    @property
    def kubectl(self) -> Path:
        return binary("kubectl")


@pytest.fixture(scope="session")
def binaries() -> Binaries:
    return Binaries()


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[..., PromHandle]]:
    """Factory: `prometheus(config_text_or_path, extra_args=())` starts a Prometheus in its own
    directory under tmp_path; every one started is stopped at teardown."""
    started: list[PromHandle] = []

    def start(config: str | Path, extra_args: Sequence[str] = ()) -> PromHandle:
        home = tmp_path / f"prometheus-{len(started)}"
        home.mkdir()
        handle = start_prometheus(config, home, extra_args)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()
