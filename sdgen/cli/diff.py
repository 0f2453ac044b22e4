"""`sdgen diff [--from OLD] NEW`: what a config change would do, resolved against one cluster.

OLD (the live ConfigMap by default, or `--from`) and NEW are each a scrape-config file, a
ConfigMap manifest (the ConfigMap `--configmap` names, key `--key`, read as `sdgen check`
reads manifests) or `-` for stdin. Both are resolved as `sdgen targets` resolves a config,
against the same view: the live cluster, or a `--snapshot` dump (offline, for CI). With
`--snapshot` and no `--from`, OLD is the ConfigMap in the dump.

Exit codes follow diff(1): 0 no change, 1 changes, 2 errors (usage, I/O, or errors in NEW).
A target that NEW rejects, or that fails to resolve, keeps its files in the sidecar, so here
it keeps OLD's targets too: the preview shows what the cluster would really scrape.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypedDict

from sdgen import SdgenError
from sdgen.cache.informer import stop_all
from sdgen.cli import changes
from sdgen.cli.check import MAX_BYTES, read_regular_file
from sdgen.cli.commands import (
    SETTLE_TIMEOUT,
    UsageError,
    _api_client,
    _cluster_source,
    _config_source,
    exit_codes,
)
from sdgen.cli.settings import (
    ALLOWED_FILE_PREFIXES,
    MATERIALIZE_SECRETS,
    OPS,
    OUTPUT,
    SNAPSHOT,
    SOURCE,
    Flag,
    add_flags,
)
from sdgen.cli.settings import configmap_ref as split_configmap_ref
from sdgen.config.document import FilePrefix, parse_config
from sdgen.config.manifest import load_configmap_key
from sdgen.config.model import Config, Issue, Severity
from sdgen.k8s.view import Cluster
from sdgen.output import naming
from sdgen.resolve.resolver import Resolution, resolve
from sdgen.resolve.scope import needs
from sdgen.runtime import logs
from sdgen.runtime.cycle import ClusterSource
from sdgen.runtime.source import ConfigMapSource
from sdgen.runtime.wakeup import Wakeup

log = logging.getLogger(__name__)

FORMAT = Flag(
    "output",
    "report format: text (like kubectl diff), json, or markdown (a pull-request comment)",
    default="text",
    choices=("text", "json", "markdown"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "new", metavar="NEW", help="the new config: scrape config, ConfigMap manifest, or -"
    )
    parser.add_argument(
        "--from",
        dest="old",
        metavar="OLD",
        help="the current config (default: the live ConfigMap, or the one in --snapshot)",
    )
    add_flags(parser, "config source", tuple(f for f in SOURCE if f.name != "config-file"))
    add_flags(parser, "offline", SNAPSHOT)
    add_flags(parser, "report", (FORMAT, *(f for f in OUTPUT if f.name == "part-size")))
    add_flags(parser, "secrets and local files", (MATERIALIZE_SECRETS, ALLOWED_FILE_PREFIXES))
    add_flags(parser, "operations", tuple(f for f in OPS if f.name in ("log-format", "log-level")))
    # diff reads one ConfigMap: no tenant, no selector (the sidecar's config source reads both)
    parser.set_defaults(config_file=None, health_window=660.0, tenant=None, configmap_selector=None)


class DiffInputError(SdgenError):
    """OLD or NEW cannot be read or holds no config; exit code 2 with the message."""


@dataclass(frozen=True)
class Loaded:
    """A config and the name its issues are reported under."""

    name: str
    config: Config


def _read_text(path: str) -> tuple[str, str]:
    """(display name, text) of a file or `-`."""
    if path == "-":
        data = sys.stdin.buffer.read(MAX_BYTES + 1)
        name = "<stdin>"
    else:
        try:
            data = read_regular_file(Path(path))
        except OSError as err:
            raise DiffInputError(f"{path}: {err.strerror or err}") from None
        name = path
    if len(data) > MAX_BYTES:
        raise DiffInputError(f"{name}: larger than {MAX_BYTES >> 20} MiB, no scrape config")
    try:
        return name, data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DiffInputError(f"{name}: not UTF-8 text ({err.reason} at byte {err.start})") from None


def load(
    name: str, text: str, args: argparse.Namespace, *, from_dump: bool = False
) -> Loaded | None:
    """The config in a file's text: a plain config, or the ConfigMap `--configmap` names in a
    manifest. None when a dump (`from_dump`) holds no such ConfigMap."""
    manifest = load_configmap_key(text, args.key)
    how = _reading(args)
    if not manifest.objects:
        if manifest.issues:
            return Loaded(name, Config(issues=manifest.issues, usable=False))
        if from_dump:
            return None
        return Loaded(name, parse_config(text, source=name, **how))
    namespace, cm_name = split_configmap_ref(args.configmap)
    wanted = {f"{namespace}/{cm_name}", cm_name}
    if args.configmap is None:  # no namespace given: a ConfigMap of that name in any
        wanted |= {c.configmap for c in manifest.configs if c.configmap.endswith(f"/{cm_name}")}
    chosen = [c for c in manifest.configs if c.configmap in wanted]
    if not chosen and args.configmap is None and len(manifest.configs) == 1 and not from_dump:
        chosen = list(manifest.configs)  # the one ConfigMap of a manifest, whatever its name
    if chosen:
        return Loaded(name, chosen[0].parse(**how))
    if from_dump:
        return None
    raise DiffInputError(
        f"{name}: no ConfigMap {namespace}/{cm_name} with data key {args.key!r} "
        "(set --configmap and --key)"
    )


class _Reading(TypedDict):
    allow_secrets: bool
    file_prefix: FilePrefix
    allowed_files: tuple[str, ...] | None


def _reading(args: argparse.Namespace) -> _Reading:
    """Read OLD and NEW as `sdgen run` with these flags reads its config: the same Secret and
    file rules, and the same check that no two targets write the same files."""
    return _Reading(
        allow_secrets=args.materialize_secrets,
        file_prefix=naming.target_prefix,
        allowed_files=args.allowed_file_prefixes,
    )


def _empty_if_missing(loaded: Loaded | None, name: str) -> Loaded:
    return loaded if loaded is not None else Loaded(name, Config())


class _View:
    """The cluster both configs resolve against, and the live ConfigMap when OLD is live."""

    def __init__(self, args: argparse.Namespace) -> None:
        self._args = args
        self._api = None if args.snapshot else _api_client(args)
        self.clusters: ClusterSource | None = _cluster_source(args, self._api, Wakeup(), None)
        self._source: ConfigMapSource | None = None

    def live_config(self) -> Loaded:
        """The ConfigMap the sidecar reads now (an empty config when it is missing)."""
        namespace, name = split_configmap_ref(self._args.configmap)
        source = _config_source(self._args, self._api, Wakeup(), namespace, name)
        assert isinstance(source, ConfigMapSource)
        self._source = source
        source.start()
        self._wait(source.synced, "the ConfigMap informer")
        text = source.read()
        if text.text is None:
            log.warning("%s; diffing against an empty config", text.problem)
            return Loaded(text.origin, Config())
        return Loaded(
            text.origin, parse_config(text.text, source=text.origin, **_reading(self._args))
        )

    def cluster(self, configs: list[Config]) -> Cluster | None:
        if self.clusters is None:
            return None
        namespace, _ = split_configmap_ref(self._args.configmap)
        both = replace(configs[0], targets=tuple(t for c in configs for t in c.targets))
        self.clusters.ensure(needs(both, namespace))
        self._wait(self.clusters.synced, "the informers")
        return self.clusters.cluster()

    def _wait(self, synced: object, what: str) -> None:
        assert callable(synced)
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while not synced():
            if time.monotonic() > deadline:
                raise DiffInputError(f"gave up waiting for {what} to sync")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._source is not None:
            stop_all([self._source.informer], timeout=1.0)
        if self.clusters is not None:
            self.clusters.stop()


def _old(args: argparse.Namespace, view: _View) -> Loaded:
    if args.old is not None:
        loaded = load(*_read_text(args.old), args)
        assert loaded is not None
        return loaded
    if args.snapshot:
        name, text = _read_text(args.snapshot)
        found = load(name, text, args, from_dump=True)
        if found is None:
            raise UsageError(
                f"{args.snapshot} holds no ConfigMap {args.configmap or 'sdgen-config'} with key "
                f"{args.key!r}: pass the current config with --from"
            )
        return found
    return view.live_config()


def _resolved(
    loaded: Loaded, cluster: Cluster | None, namespace: str
) -> tuple[Resolution, list[tuple[str, Issue]]]:
    config = loaded.config
    if not config.usable or not config.enabled:
        return Resolution((), {}, ()), [(loaded.name, i) for i in config.issues]
    resolution = resolve(config, cluster, default_namespace=namespace)
    issues = [(loaded.name, i) for i in config.issues]
    issues += [
        (loaded.name, Issue(name, msg, target=name)) for name, msg in resolution.errors.items()
    ]
    return resolution, issues


@exit_codes
def run(args: argparse.Namespace) -> int:
    logs.setup(args.log_format, args.log_level)
    try:
        split_configmap_ref(args.configmap)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.old == "-" and args.new == "-":
        raise UsageError("OLD and NEW cannot both be read from stdin")
    view = _View(args)
    try:
        try:
            new = load(*_read_text(args.new), args)
            assert new is not None
            old = _old(args, view)
        except DiffInputError as err:
            print(f"sdgen diff: {err}", file=sys.stderr)
            return 2
        namespace, _ = split_configmap_ref(args.configmap)
        cluster = view.cluster([c.config for c in (old, new) if c.config.usable])
    finally:
        view.stop()
    old_resolution, _ = _resolved(old, cluster, namespace)
    new_resolution, issues = _resolved(new, cluster, namespace)
    if not old.config.usable:
        log.warning("the current config (%s) is unusable; diffing against nothing", old.name)
    held = {*new.config.rejected, *new_resolution.errors}
    kept = tuple(et for et in old_resolution.endpoints if et.target.name in held)
    before = changes.side_of(old_resolution.endpoints, args.part_size)
    after = changes.side_of((*new_resolution.endpoints, *kept), args.part_size)
    found = changes.compare(before, after) if new.config.usable else changes.Changes()
    if args.output == "json":
        print(changes.as_json(found, issues))
    elif args.output == "markdown":
        print(changes.as_markdown(found, issues, after))
    else:
        print(changes.as_text(found, issues, after, (old.name, new.name)))
    if any(issue.severity == Severity.ERROR for _, issue in issues):
        return 2
    return 1 if found else 0
