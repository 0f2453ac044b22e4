"""One cycle on a real config file and output directory: what it returns, and that it never
replaces good output on a problem."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sdgen.k8s.records import ObjectMeta, Secret
from sdgen.k8s.view import ClusterNeeds, StaticCluster
from sdgen.output import naming
from sdgen.output.central import ShardedRenderer
from sdgen.output.outputdir import OutputDir, SyncResult
from sdgen.resolve.sharding import Shard
from sdgen.runtime.cycle import (
    ConfigStatus,
    Cycle,
    CycleResult,
    OnMissingConfig,
    Options,
    Outcome,
    Reading,
)
from sdgen.runtime.localfile import FileSource
from sdgen.runtime.published import Published

STATIC = """\
targets:
  - targetName: static
    type: StaticEndpoints
    endpoints:
      - addresses: ["192.0.2.1:9100", "192.0.2.2:9100"]
"""
BROKEN = """\
  - targetName: broken
    type: StaticEndpoints
    endpoints:
      - address: "192.0.2.3:9100"
        relabelings: [{regex: "(unclosed", action: keep}]
"""


@dataclass
class Setup:
    config: Path
    out: Path
    source: FileSource

    def cycle(self, on_missing: OnMissingConfig = OnMissingConfig.KEEP) -> Cycle:
        output = OutputDir(self.out)
        output.prepare()
        options = Options(default_namespace="default", on_missing_config=on_missing)
        return Cycle(self.source, None, output, options)

    def files(self) -> dict[str, bytes]:
        return {
            str(p.relative_to(self.out)): p.read_bytes()
            for p in sorted(self.out.rglob("*"))
            if p.is_file() and not p.name.startswith(".")
        }


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    config = tmp_path / "scrape_config.yaml"
    config.write_text(STATIC)
    (tmp_path / "out").mkdir()
    source = FileSource(config, lambda: None)
    yield Setup(config, tmp_path / "out", source)
    source.stop()


def test_a_cycle_renders_then_leaves_unchanged_output_alone(setup: Setup) -> None:
    cycle = setup.cycle()
    first = cycle.run()
    assert first.outcome is Outcome.RENDERED
    assert first.sync is not None and first.sync.written and not first.sync.errors
    assert first.reading.loaded is not None and first.reading.waiting_for == ""
    status = first.reading.status
    assert (status.origin, status.valid, status.issues) == (str(setup.config), True, ())
    assert status.version
    [target] = first.targets.values()
    assert (target.endpoints, target.targets, target.error) == (1, 2, "")
    assert list(target.files) == sorted(first.sync.written)
    written = setup.files()
    assert list(written) == sorted(first.sync.written)

    again = cycle.run()
    assert again.outcome is Outcome.UNCHANGED and again.sync is None
    assert again.reading.loaded is None, "a config version is parsed (and logged) once"
    assert again.reading.status == status

    (setup.out / first.sync.written[0]).unlink()  # tampered with: look at the disk again
    repaired = cycle.run()
    assert repaired.outcome is Outcome.RENDERED
    assert repaired.sync is not None and repaired.sync.written == [first.sync.written[0]]
    assert setup.files() == written


def test_an_unusable_config_changes_nothing(setup: Setup) -> None:
    cycle = setup.cycle()
    cycle.run()
    before = setup.files()
    setup.config.write_text("targets: [\n")
    result = cycle.run()
    assert result.outcome is Outcome.WAITING and result.sync is None
    assert result.reading.waiting_for.startswith("config invalid: ")
    assert result.reading.loaded is not None and not result.reading.loaded.usable
    assert not result.reading.status.valid and result.reading.rejected
    assert result.reading.status.issues[0] in result.reading.waiting_for
    assert cycle.run().reading.loaded is None
    assert setup.files() == before


def test_a_rejected_target_keeps_its_files_while_the_others_update(setup: Setup) -> None:
    setup.config.write_text(STATIC + BROKEN.replace("(unclosed", ".*"))
    cycle = setup.cycle()
    cycle.run()
    kept = {k: v for k, v in setup.files().items() if "broken" in k}
    assert kept
    setup.config.write_text(STATIC.replace("192.0.2.2", "192.0.2.9") + BROKEN)
    result = cycle.run()
    assert result.outcome is Outcome.RENDERED
    assert not result.reading.status.valid, "a rejected target makes the config invalid"
    assert result.reading.config is not None and not result.reading.rejected
    broken = result.targets["broken"]
    assert "missing closing )" in broken.error and broken.files == ()
    assert result.targets["static"].error == ""
    files = setup.files()
    assert {k: v for k, v in files.items() if "broken" in k} == kept
    assert any(b"192.0.2.9" in v for v in files.values())


@pytest.mark.parametrize("mode", list(OnMissingConfig))
def test_a_missing_config_keeps_or_clears_the_files(setup: Setup, mode: OnMissingConfig) -> None:
    cycle = setup.cycle(mode)
    rendered = cycle.run()
    before = setup.files()
    setup.config.unlink()
    result = cycle.run()
    reading = result.reading
    assert reading.missing and reading.rejected and reading.config is None
    assert reading.status == ConfigStatus(
        str(setup.config),
        rendered.reading.status.version,  # the last version read stays in /status
        False,
        (f"config file {setup.config} does not exist",),
    )
    if mode is OnMissingConfig.KEEP:
        assert result.outcome is Outcome.WAITING and result.sync is None
        assert reading.waiting_for.endswith("; keeping the last good files")
        assert setup.files() == before
    else:
        assert result.outcome is Outcome.CLEARED and result.targets == {}
        assert result.sync is not None and sorted(result.sync.removed) == sorted(before)
        assert reading.waiting_for.endswith(
            "; removing the files sdgen wrote (--on-missing-config=clear)"
        )
        assert setup.files() == {}

    setup.config.write_text(STATIC)  # the same text again: parsed and rendered again
    back = cycle.run()
    assert back.outcome is Outcome.RENDERED and back.reading.loaded is not None
    assert setup.files() == before


def test_only_a_changed_scrape_fragment_asks_for_a_reload() -> None:
    reading = Reading(ConfigStatus())

    def result(sync: SyncResult | None) -> CycleResult:
        return CycleResult(Outcome.RENDERED, reading, sync)

    assert result(SyncResult(written=["scrape/a.yml"])).fragments_changed
    assert result(SyncResult(removed=["scrape/a.yml"])).fragments_changed
    assert not result(SyncResult(written=["targets/a.json", "relabel/a.yml"])).fragments_changed
    assert not result(SyncResult(unchanged=3)).fragments_changed
    assert not result(None).fragments_changed


def test_a_file_name_clash_rejects_the_later_target_alone(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17, item 7: a clash made every render fail while /status said valid. Now the
    later target is a located config error (so the config is not valid), and the others
    render."""
    real = naming.target_prefix
    monkeypatch.setattr(naming, "target_prefix", lambda n: real("static" if n == "clone" else n))
    setup.config.write_text(STATIC + STATIC.split("\n", 1)[1].replace("static", "clone"))
    result = setup.cycle().run()
    assert result.outcome is Outcome.RENDERED and not result.sync_errors
    status = result.reading.status
    assert not status.valid
    assert any(
        ":6: targets[1].targetName: " in line and 'same files as target "static"' in line
        for line in status.issues
    ), status.issues
    assert "same files" in result.targets["clone"].error
    assert result.targets["static"].error == "" and result.targets["static"].files


TOKEN = """\
  - targetName: api
    type: StaticEndpoints
    endpoints:
      - address: "192.0.2.5:443"
        bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
"""


def test_local_file_paths_warn_by_default_and_are_limited_by_the_allowed_prefixes(
    setup: Setup,
) -> None:
    """Issue 17, item 11: /status warns about each local file path; with
    --allowed-file-prefixes, a path outside rejects its target alone."""
    setup.config.write_text(STATIC + TOKEN)
    output = OutputDir(setup.out)
    output.prepare()
    default = Cycle(setup.source, None, output, Options(default_namespace="default")).run()
    status = default.reading.status
    assert status.valid and len(status.issues) == 1
    assert ":10: targets[1].endpoints[0].bearerTokenFile: warning: " in status.issues[0]
    assert default.targets["api"].files

    limited = Options(default_namespace="default", allowed_file_prefixes=("/etc/prometheus",))
    result = Cycle(setup.source, None, output, limited).run()
    assert result.outcome is Outcome.RENDERED and not result.reading.status.valid
    assert "is outside --allowed-file-prefixes (/etc/prometheus)" in result.targets["api"].error
    assert result.targets["static"].error == "" and result.targets["static"].files


# Secrets: errors logged once, files removed only when the value is gone -----------------------

SECRET_CONFIG = """\
targets:
  - targetName: web
    type: StaticEndpoints
    endpoints:
      - address: "192.0.2.1:9100"
        basicAuth: {username: {name: web-auth, key: user}, password: {name: web-auth, key: pass}}
"""


class Secrets:
    """A ClusterSource over a StaticCluster holding Secrets, replaced between cycles."""

    def __init__(self) -> None:
        self.version_ = 0
        self.view = StaticCluster.from_objects()

    def put(self, labels: dict[str, str] | None, **data: str) -> None:
        meta = ObjectMeta(name="web-auth", namespace="default", labels=labels or {})
        secrets = [] if labels is None else [Secret(meta, data)]
        self.view = StaticCluster.from_objects(secrets=secrets)
        self.version_ += 1

    def ensure(self, needed: ClusterNeeds) -> None:
        pass

    def synced(self) -> bool:
        return True

    def cluster(self) -> StaticCluster:
        return self.view

    def version(self) -> object:
        return self.version_

    def stalled(self) -> list[str]:
        return []

    def stop(self) -> None:
        pass


def test_secret_errors_are_logged_once_and_a_gone_value_takes_the_files(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sdgen.runtime.cycle")
    setup.config.write_text(SECRET_CONFIG)
    secrets = Secrets()
    output = OutputDir(setup.out)
    output.prepare()
    options = Options(default_namespace="default", materialize_secrets=True)
    cycle = Cycle(setup.source, secrets, output, options)
    opt_in = {"sdgen.io/scrape-secret": "true"}
    secrets.put(opt_in, user="dXNlcg==", **{"pass": "cGFzcw=="})
    assert cycle.run().targets["web"].error == ""
    good = setup.files()
    assert len(good) == 5  # targets, relabel, scrape, username, password

    def rejected() -> list[str]:
        return [r.getMessage() for r in caplog.records if "target web rejected" in r.message]

    secrets.put(opt_in, user="*not base64*", **{"pass": "cGFzcw=="})
    for _ in range(2):  # the same error, cycle after cycle: one log line
        result = cycle.run()
        secrets.version_ += 1
    bad = 'endpoints[0].basicAuth.username: Secret "default/web-auth": key "user" is not valid'
    assert bad in result.targets["web"].error
    assert len(rejected()) == 1 and bad in rejected()[0]
    assert setup.files() == good  # bad input keeps the last good files

    secrets.put(None)  # deleted: the value is gone, and the files with it
    result = cycle.run()
    assert 'Secret "default/web-auth" not found' in result.targets["web"].error
    assert len(rejected()) == 2
    assert setup.files() == {}

    secrets.put(opt_in, user="dXNlcg==", **{"pass": "cGFzcw=="})
    assert cycle.run().targets["web"].error == ""
    assert setup.files() == good
    assert "target web: its Secrets can be used again" in caplog.text


def test_served_central_output_holds_a_rejected_targets_groups_too(setup: Setup) -> None:
    """`sdgen serve`'s cycle: the same rule as on disk, per shard, and /status names the
    files of each target."""
    published = Published(2)
    renderer = ShardedRenderer([Shard(2, 0), Shard(2, 1)], "http://central:8080", 15_000)
    options = Options(default_namespace="default")
    cycle = Cycle(setup.source, None, published, options, renderer=renderer)
    setup.config.write_text(STATIC + BROKEN.replace("(unclosed", ".*"))
    first = cycle.run()
    assert first.targets["broken"].files and all(
        f.startswith(("0/", "1/")) for f in first.targets["broken"].files
    )
    served = {path: published.get(path) for path in published.paths()}
    assert b"192.0.2.3:9100" in (served["/sd/0"] or b"") + (served["/sd/1"] or b"")
    setup.config.write_text(STATIC.replace("192.0.2.2", "192.0.2.9") + BROKEN)
    result = cycle.run()
    assert "missing closing )" in result.targets["broken"].error
    both = (published.get("/sd/0") or b"") + (published.get("/sd/1") or b"")
    assert b"192.0.2.3:9100" in both and b"192.0.2.9:9100" in both
    assert b"192.0.2.2:9100" not in both
