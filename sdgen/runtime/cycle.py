"""One cycle: read the config → ensure the informers it needs → resolve → render → write.

A cycle returns what it did as a `CycleResult` and leaves reporting it (status, metrics, the
log lines about state) to the board; `sdgen once` and `sdgen targets` run cycles directly,
`sdgen run` under the scheduler. It logs only what it reads as it reads it (a new config
version, resolution warnings), so those lines come before the informers the config starts.

A cycle never replaces good output because of a problem: while the config is missing or
unusable, or an informer has not synced, the files on disk stay as they are. Rejected targets
(invalid, or failing to resolve) keep their own last good files while the others update
(README, "Behaviour on bad input and failures").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from sdgen import without_cycle_collection
from sdgen.config.incremental import IncrementalParser
from sdgen.config.model import Config, Severity, printable
from sdgen.k8s.view import Cluster, ClusterNeeds
from sdgen.output import naming, render
from sdgen.output.migration import LegacyFiles
from sdgen.output.outputdir import SyncResult
from sdgen.output.parts import DEFAULT_PART_SIZE
from sdgen.output.secretfiles import Materialized, materialize
from sdgen.resolve.explain import (
    ExplainError,
    ExplainSettings,
    Explanation,
    FileOf,
    ObjectRef,
    explain,
    find_target,
)
from sdgen.resolve.funnel import Funnel
from sdgen.resolve.lint import Linter
from sdgen.resolve.resolver import (
    EndpointTargets,
    Resolution,
    Resolver,
)
from sdgen.resolve.scope import needs
from sdgen.resolve.sharding import Shard
from sdgen.runtime.source import ConfigSource, ConfigText

log = logging.getLogger(__name__)


class ClusterSource(Protocol):
    """Where a cycle's Cluster view comes from: informers (sdgen.cache.informerset) or a
    snapshot. `ensure` starts what a config needs; `version` changes with any cache."""

    def ensure(self, needed: ClusterNeeds) -> None: ...
    def synced(self) -> bool: ...
    def cluster(self) -> Cluster: ...
    def version(self) -> object: ...
    def stalled(self) -> list[str]: ...
    def stop(self) -> None: ...


class Output(Protocol):
    """Where a cycle's files go: the output directory (sdgen.output.outputdir), or the
    in-memory files `sdgen serve` answers from (sdgen.runtime.published)."""

    def owned(self) -> set[str]: ...
    def sync(
        self, desired: Mapping[str, bytes], keep: Callable[[str], bool] = ...
    ) -> SyncResult: ...
    def tampered(self) -> bool: ...


class Rendering(Protocol):
    """Resolved endpoints → files: a sidecar's `render.Renderer`, or `serve`'s
    `central.ShardedRenderer` (every shard's files from one resolution)."""

    def render(self, endpoints: Iterable[EndpointTargets]) -> dict[str, bytes]: ...
    def file_of(self, target_name: str, index: int, line: bytes) -> str: ...
    @property
    def clashes(self) -> Mapping[str, str]:
        """Targets the last render left out, their files being an earlier target's: why."""
        ...


class OnMissingConfig(StrEnum):
    """`--on-missing-config`: what a synced source without a config does to the output."""

    KEEP = "keep"  # keep the last good files
    CLEAR = "clear"  # remove the files sdgen wrote


@dataclass(frozen=True)
class Options:
    default_namespace: str
    keep_meta_labels: bool = False
    shard: Shard | None = None
    on_missing_config: OnMissingConfig = OnMissingConfig.KEEP
    materialize_secrets: bool = False  # accept Secret references, write them under secrets/
    keep_discovered: bool = False  # targets keep their discovered labels (`sdgen targets`)
    part_size: int = DEFAULT_PART_SIZE  # targets per scrape job an endpoint's parts aim at
    consumer: render.Consumer = render.PROMETHEUS  # the fragments' dialect
    # --allowed-file-prefixes: directories whose files credentials may name (None: any)
    allowed_file_prefixes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ConfigStatus:
    """What /status says about the config: the last version parsed, or why there is none."""

    origin: str = ""
    version: str = ""
    valid: bool = False
    issues: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reading:
    """What a cycle found in the config source, and whether it may render it now."""

    status: ConfigStatus
    config: Config | None = None  # usable, its informers synced: render it; None: change nothing
    waiting_for: str = ""  # when `config` is None: why
    loaded: Config | None = None  # a config version parsed by this cycle (not seen before)
    missing: bool = False  # the source synced and holds no config
    # Following tenant ConfigMaps (sdgen.runtime.tenants): each tenant's own status, by key.
    tenants: Mapping[str, ConfigStatus] = field(default_factory=dict)

    @property
    def rejected(self) -> bool:
        """The config itself is missing or unusable: waiting for the caches changes nothing."""
        return self.config is None and bool(self.status.issues) and not self.status.valid


@dataclass(frozen=True)
class TargetStatus:
    endpoints: int = 0
    targets: int = 0
    error: str = ""
    files: tuple[str, ...] = ()
    funnel: Funnel | None = None  # None: not resolved this time (an error held it)


class Outcome(StrEnum):
    RENDERED = "rendered"  # resolved, rendered and written
    UNCHANGED = "unchanged"  # config and caches as last rendered, output intact: nothing done
    CLEARED = "cleared"  # no config and --on-missing-config=clear: sdgen's files removed
    WAITING = "waiting"  # nothing written; the reading says why


@dataclass(frozen=True)
class CycleResult:
    outcome: Outcome
    reading: Reading
    sync: SyncResult | None = None  # RENDERED, CLEARED: what the write did
    targets: Mapping[str, TargetStatus] = field(default_factory=dict)  # RENDERED, CLEARED
    duration: float = 0.0  # RENDERED: seconds to resolve, render and write
    lint: tuple[str, ...] = ()  # RENDERED: the lint warnings, formatted (sdgen.resolve.lint)

    @property
    def sync_errors(self) -> bool:
        return self.sync is None or bool(self.sync.errors)

    @property
    def fragments_changed(self) -> bool:
        """A scrape/ fragment was written or removed: Prometheus reads those only on reload."""
        if self.sync is None:
            return False
        return any(p.startswith("scrape/") for p in (*self.sync.written, *self.sync.removed))


class Cycle:
    """Runs cycles over long-lived state: the parsed config, what was last rendered, and a
    Resolver/Renderer that redo only the objects that changed since the last cycle."""

    def __init__(
        self,
        source: ConfigSource,
        clusters: ClusterSource | None,
        output: Output,
        options: Options,
        clock: Callable[[], float] = time.monotonic,
        renderer: Rendering | None = None,
    ) -> None:
        """`renderer`: how the resolution becomes files (default: the sidecar's, from the
        options, splitting endpoints into the parts found in `output`)."""
        self.source = source
        self.clusters = clusters
        self.output = output
        self.options = options
        self._clock = clock
        self._status = ConfigStatus()
        self._parsed: tuple[str, Config] | None = None
        # Re-reads only the targets whose text an edit changed (sdgen.config.incremental).
        self._parser = IncrementalParser(
            allow_secrets=options.materialize_secrets,
            file_prefix=naming.target_prefix,
            allowed_files=options.allowed_file_prefixes,
        )
        self._rendered_key: object = None
        self._resolver = Resolver(
            default_namespace=options.default_namespace,
            keep_meta_labels=options.keep_meta_labels,
            shard=options.shard,
            keep_discovered=options.keep_discovered,
        )
        self._linter = Linter()
        self._secret_errors: dict[str, str] = {}  # target -> its Secret error, as last logged
        owned = output.owned()
        self._renderer = renderer or render.Renderer(
            options.part_size, naming.parts_on_disk(owned), options.consumer
        )
        self.legacy = LegacyFiles(owned)  # old-layout files, held until the new ones are loaded
        # Keep every file not rendered (sdgen.runtime.tenants: a config whose files are not
        # known is unreadable, so nothing may be removed).
        self.hold_all = False

    def run(self) -> CycleResult:
        """Read, resolve, render and write once, unless nothing changed since the last time."""
        reading = self.read()
        if reading.config is None:
            if reading.missing and self.options.on_missing_config is OnMissingConfig.CLEAR:
                return CycleResult(Outcome.CLEARED, reading, self.output.sync({}))
            return CycleResult(Outcome.WAITING, reading)
        key = (
            reading.status.version,
            self.clusters.version() if self.clusters else None,
            self.legacy.pending,
        )
        if key == self._rendered_key and not self.output.tampered():
            return CycleResult(Outcome.UNCHANGED, reading)
        started = self._clock()
        with without_cycle_collection():  # the cycle's garbage is freed by reference counting
            resolution = self.resolve(reading.config)
            sync, targets = self._write(reading.config, resolution)
        # A failed write is tried again next cycle, even if nothing else changes: a render
        # after a tamper that could not write must not leave the last good key in place.
        self._rendered_key = None if sync.errors else key
        lint = self.lint(reading.config, resolution)
        return CycleResult(
            Outcome.RENDERED,
            reading,
            sync,
            targets,
            self._clock() - started,
            lint,
        )

    def lint(self, config: Config, resolution: Resolution) -> tuple[str, ...]:
        """The lint warnings of this render, formatted (sdgen.resolve.lint)."""
        origin = self._status.origin
        return tuple(issue.format(origin) for issue in self._linter(config, resolution))

    def read(self) -> Reading:
        """The config to render now, with the informers it needs started and synced, or why
        this cycle must change nothing."""
        self.source.ensure_alive()
        text = self.source.read()
        self._status = replace(self._status, origin=text.origin)
        if text.text is None:
            return self._without_config(text)
        config, loaded = self._parse(text)
        if not config.usable:
            why = f"config invalid: {self._status.issues[0]}"
            return Reading(self._status, waiting_for=why, loaded=loaded)
        if self.clusters is not None and config.enabled:
            self.clusters.ensure(needs(config, self.options.default_namespace))
            if not self.clusters.synced():
                return Reading(self._status, waiting_for="informers not synced yet", loaded=loaded)
        return Reading(self._status, config=config, loaded=loaded)

    def resolve(self, config: Config) -> Resolution:
        if not config.enabled:
            return Resolution((), {}, ())
        resolution = self._resolver(config, self.clusters.cluster() if self.clusters else None)
        for warning in resolution.warnings:
            log.warning("%s", warning)
        return resolution

    def explain(
        self,
        target: str,
        obj: str | None = None,
        address: str | None = None,
        file_of: FileOf | None = None,
        window: tuple[int, int] | None = None,
        tenant: str | None = None,
    ) -> Explanation:
        """`sdgen explain` and `GET /explain`: from the config last parsed and the caches (no
        API call); the files as the last render split them unless `file_of` says otherwise.
        `tenant`: the tenant ConfigMap (`namespace/name`) whose `target` is meant.
        Safe from another thread: it reads what the loop replaces whole, and changes nothing.
        An ExplainError when the question cannot be answered."""
        parsed = self._parsed
        if parsed is None or not parsed[1].usable:
            raise ExplainError(f"no usable config yet ({self._status.origin or 'not read'})")
        config = parsed[1]
        name = self.target_named(config, target, tenant)
        found = find_target(config, name, self.origin_of(name))
        if not config.enabled:
            found = replace(found, enabled=False)
        ref = ObjectRef.parse(obj) if obj else None
        cluster = None
        if self.clusters is not None:
            if not self.clusters.synced():
                raise ExplainError("the caches have not synced yet; ask again shortly")
            cluster = self.clusters.cluster()
        options = self.options
        settings = ExplainSettings(
            options.default_namespace, options.shard, options.keep_meta_labels
        )
        return explain(
            found,
            cluster,
            settings,
            obj=ref,
            address=address,
            file_of=file_of or self._renderer.file_of,
            window=window,
        )

    def target_named(self, config: Config, target: str, tenant: str | None) -> str:
        """The name in `config` of `target` of `tenant`: one config has no tenants."""
        if tenant is not None:
            raise ExplainError(
                f"tenant {tenant!r}: this sdgen follows one config, not tenant ConfigMaps "
                "(no --configmap-selector); ask without a tenant"
            )
        return target

    def origin_of(self, target: str) -> str:
        """Where the text that holds `target` comes from, to locate its issues."""
        return self._status.origin

    def with_secrets(self, resolution: Resolution) -> Materialized:
        """The files under secrets/, and the resolution with the targets whose Secrets cannot
        be used moved to its errors. Each such error is logged once, when it appears or
        changes (they are per target, so /status alone would hide them from the logs)."""
        cluster = self.clusters.cluster() if self.clusters else None
        result = materialize(resolution, cluster, self.options.default_namespace)
        for name, error in sorted(result.errors.items()):
            if self._secret_errors.get(name) != error:
                log.error("target %s rejected: %s", name, error)
        for name in sorted(self._secret_errors.keys() - result.errors.keys()):
            log.info("target %s: its Secrets can be used again", name)
        self._secret_errors = result.errors
        return result

    def _write(
        self, config: Config, resolution: Resolution
    ) -> tuple[SyncResult, dict[str, TargetStatus]]:
        resolution, secrets, gone, _ = self.with_secrets(resolution)
        desired = self._renderer.render(resolution.endpoints) | secrets
        if clashes := self._renderer.clashes:  # left out, like a target that failed to resolve
            for name, why in clashes.items():
                log.error("target %s: %s", printable(name), why)
            resolution = replace(resolution, errors={**resolution.errors, **clashes})
        # A target whose Secret is gone loses its files (secretfiles); the others are held.
        rejected = (*config.rejected, *(n for n in resolution.errors if n not in gone))
        held = {naming.target_prefix(n) for n in rejected}
        sync = self.output.sync(
            desired,
            keep=lambda path: (
                self.hold_all or naming.prefix_of(path) in held or self.legacy.holds(path)
            ),
        )
        return sync, target_statuses(config, resolution, desired)

    def _without_config(self, text: ConfigText) -> Reading:
        if not self.source.synced():
            return Reading(self._status, waiting_for="config source not synced yet")
        # Parse and render again once a config is back, even if it is the same text.
        self._parsed = None
        self._rendered_key = None
        self._status = replace(self._status, valid=False, issues=(text.problem,))
        if self.options.on_missing_config is OnMissingConfig.CLEAR:
            why = f"{text.problem}; removing the files sdgen wrote (--on-missing-config=clear)"
        else:
            why = f"{text.problem}; keeping the last good files"
        return Reading(self._status, waiting_for=why, missing=True)

    def _parse(self, text: ConfigText) -> tuple[Config, Config | None]:
        """The config of this text, and the same again when this cycle parsed it first."""
        assert text.text is not None
        if self._parsed is not None and self._parsed[0] == text.version:
            return self._parsed[1], None
        config = self._parser.parse(text.text, source=text.origin)
        self._parsed = (text.version, config)
        self._status = ConfigStatus(
            origin=text.origin,
            version=text.version,
            valid=config.usable and not config.errors,
            issues=tuple(issue.format(text.origin) for issue in config.issues),
        )
        log_loaded(text, config, self._status.issues)
        return config, config


def log_loaded(text: ConfigText, config: Config, issues: tuple[str, ...]) -> None:
    for line in issues:
        log.warning("config: %s", line)
    if not config.usable:
        log.error("config rejected, keeping the last good files", extra={"origin": text.origin})
        return
    log.info(
        "config loaded",
        extra={
            "origin": text.origin,
            "version": text.version,
            "targets": len(config.targets),
            "rejected": len(config.rejected),
        },
    )


def target_statuses(
    config: Config, resolution: Resolution, desired: Mapping[str, bytes]
) -> dict[str, TargetStatus]:
    """Each target's outcome: its endpoints, targets and files, or the error that held it."""
    files_by_prefix: dict[str, list[str]] = {}
    for path in sorted(desired):
        files_by_prefix.setdefault(naming.prefix_of(path), []).append(path)
    counts: dict[str, tuple[int, int]] = {}
    for et in resolution.endpoints:
        endpoints, targets = counts.get(et.target.name, (0, 0))
        counts[et.target.name] = (endpoints + 1, targets + len(et.lines))
    errors = {
        issue.target: issue.message
        for issue in config.issues
        if issue.target and issue.severity == Severity.ERROR
    }
    errors.update(resolution.errors)
    statuses: dict[str, TargetStatus] = {}
    for name in (*counts, *errors):
        endpoints, targets = counts.get(name, (0, 0))
        files = files_by_prefix.get(naming.target_prefix(name), []) if name in counts else []
        statuses[name] = TargetStatus(
            endpoints, targets, errors.get(name, ""), tuple(files), resolution.funnels.get(name)
        )
    return statuses
