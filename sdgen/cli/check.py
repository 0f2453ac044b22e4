"""`sdgen check PATH…`: validate scrape configs before they reach a cluster (GitOps pre-merge).

A path is a plain scrape config, a Kubernetes manifest (ConfigMaps holding the config key are
checked, other objects ignored), a directory searched recursively for *.yaml / *.yml, or `-`
for standard input. Problems print as `file:line: path: message` on stdout, a summary on
stderr. Exit 0 when clean (warnings allowed), 1 when a config is invalid, 2 on a usage or I/O
error. No cluster access by default: the check is what `parse_config` finds, so it is fast.
Given cluster objects (`--snapshot FILE`, or `--kubeconfig PATH` for a live cluster) it also
resolves each config against them and adds the lint warnings (sdgen.resolve.lint): selectors
that match nothing, ports no object has, duplicate scrapes. A config is resolved in its
ConfigMap's namespace, or, for a plain file, the pod's (POD_NAMESPACE, else `default`).

In a directory, files that are neither a Kubernetes manifest nor a mapping with `targets` or
`features` (a Prometheus config, a kustomization) are skipped, as are ConfigMaps without the
key; a file named explicitly must hold a config. YAML that does not parse is reported
anywhere: it may be a broken config.
"""

from __future__ import annotations

import argparse
import errno
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from sdgen import SdgenError
from sdgen.cache import apiclient
from sdgen.cache.informerset import InformerSet
from sdgen.cache.snapshot import SnapshotError, load_snapshot
from sdgen.cli.settings import (
    ALLOWED_FILE_PREFIXES,
    MATERIALIZE_SECRETS,
    SNAPSHOT,
    TENANT_POLICY,
    Flag,
    add_flags,
    pod_namespace,
    tenant_policy,
)
from sdgen.config.document import parse_config
from sdgen.config.manifest import load_configmap_key
from sdgen.config.model import DEFAULT_KEY, Config, Issue, Severity
from sdgen.config.tenancy import Tenant, TenantPolicy, apply_tenancy
from sdgen.k8s.view import Cluster
from sdgen.output import naming
from sdgen.resolve.lint import lint
from sdgen.resolve.resolver import resolve
from sdgen.resolve.scope import needs

_CONFIG_KEYS = frozenset({"targets", "features"})
# A ConfigMap holds at most 1 MiB; a scrape config file many times that is no config.
MAX_BYTES = 8 << 20
_SUFFIXES = (".yaml", ".yml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="scrape config, manifest with a ConfigMap holding one, directory, or - for stdin",
    )
    parser.add_argument(
        "--key",
        default=os.environ.get("SDGEN_KEY", DEFAULT_KEY),
        help="ConfigMap data key holding the scrape config (env SDGEN_KEY; default %(default)s)",
    )
    add_flags(parser, "secrets and local files", (MATERIALIZE_SECRETS, ALLOWED_FILE_PREFIXES))
    add_flags(parser, "tenancy", (TENANT, *TENANT_POLICY))
    add_flags(parser, "lint against cluster objects", (*SNAPSHOT, KUBECONFIG))


KUBECONFIG = Flag(
    "kubeconfig",
    "lint against the live cluster of this kubeconfig (read-only: lists and watches)",
    metavar="PATH",
)
TENANT = Flag(
    "tenant",
    "check as the sidecar reads a tenant ConfigMap (--configmap-selector) of this namespace: "
    "its tenant rules are errors here too (a trusted namespace is one of --trusted-namespaces)",
    metavar="NAMESPACE",
)
CLUSTER_TIMEOUT = 60.0  # seconds `check --kubeconfig` waits for the caches a config needs

Linter = Callable[[Config, str], tuple[Issue, ...]]  # a config, its namespace → warnings


@dataclass(frozen=True)
class TenantCheck:
    """`--tenant`: the namespace the configs are checked as a tenant of, and the rules."""

    namespace: str
    policy: TenantPolicy
    trusted: bool = False

    def __call__(self, config: Config, name: str) -> Config:
        return apply_tenancy(config, Tenant(self.namespace, name, self.trusted), self.policy)


class ClusterError(SdgenError):
    """The cluster to lint against could not be read; exit code 2 with the message."""


def check_text(
    text: str,
    key: str = DEFAULT_KEY,
    *,
    explicit: bool = True,
    allow_secrets: bool = False,
    allowed_files: tuple[str, ...] | None = None,
    linter: Linter | None = None,
    tenant: TenantCheck | None = None,
) -> list[Issue] | None:
    """The issues of one file's text; None when a file found in a directory holds no config.
    `allow_secrets`, `allowed_files`: check as `sdgen run --materialize-secrets
    --allowed-file-prefixes` would read the config;
    `linter`: add each usable config's lint warnings against a cluster; `tenant`: apply the
    tenant rules (sdgen.config.tenancy) as the sidecar does to a tenant ConfigMap."""
    manifest = load_configmap_key(text, key)
    if manifest.objects:
        if not manifest.configs and not manifest.issues:
            return [Issue("", f'no ConfigMap with data key "{key}"')] if explicit else None
        found: list[Issue] = []
        for embedded in manifest.configs:
            config = embedded.parse(
                allow_secrets=allow_secrets,
                file_prefix=naming.target_prefix,
                allowed_files=allowed_files,
            )
            namespace, _, name = embedded.configmap.rpartition("/")
            parsed = config.issues  # on manifest lines already; the later ones are not
            if tenant is not None:
                config, namespace = tenant(config, name), tenant.namespace
            later = [i for i in config.issues if i not in parsed]
            later.extend(_lint(config, namespace or pod_namespace(), linter))
            found.extend(parsed)
            found.extend(replace(i, line=embedded.manifest_line(i.line)) for i in later)
        return sorted([*manifest.issues, *found], key=lambda i: (i.line or 0, i.path))
    if manifest.issues:
        return list(manifest.issues)
    if not explicit and not manifest.plain_keys & _CONFIG_KEYS:
        return None
    config = parse_config(
        text,
        allow_secrets=allow_secrets,
        file_prefix=naming.target_prefix,
        allowed_files=allowed_files,
    )
    namespace = pod_namespace()
    if tenant is not None:
        config, namespace = tenant(config, "<file>"), tenant.namespace
    return [*config.issues, *_lint(config, namespace, linter)]


def _lint(config: Config, namespace: str, linter: Linter | None) -> tuple[Issue, ...]:
    if linter is None or not config.usable:
        return ()
    return linter(config, namespace)


def cluster_linter(cluster_for: Callable[[Config, str], Cluster]) -> Linter:
    """Lint against the cluster `cluster_for(config, namespace)` gives."""

    def linter(config: Config, namespace: str) -> tuple[Issue, ...]:
        cluster = cluster_for(config, namespace)
        return lint(config, resolve(config, cluster, default_namespace=namespace))

    return linter


class _LiveCluster:
    """The objects a config needs, listed (and watched) from a live cluster."""

    def __init__(self, kubeconfig: str) -> None:
        try:
            api_client = apiclient.load_api_client(kubeconfig)
        except apiclient.NoClusterConfig as err:
            raise ClusterError(str(err)) from None
        self.informers = InformerSet(
            lambda resource, ns: apiclient.new_informer(api_client, resource, ns)
        )

    def __call__(self, config: Config, namespace: str) -> Cluster:
        self.informers.ensure(needs(config, namespace))
        deadline = time.monotonic() + CLUSTER_TIMEOUT
        while not self.informers.synced():
            if time.monotonic() > deadline:
                raise ClusterError(f"the cluster's objects did not load in {CLUSTER_TIMEOUT:.0f} s")
            time.sleep(0.05)
        return self.informers.cluster()


@dataclass
class _Report:
    out: TextIO
    files: int = 0
    errors: int = 0
    warnings: int = 0
    failed_io: list[str] = field(default_factory=list)

    def add(self, name: str, issues: list[Issue]) -> None:
        self.files += 1
        for issue in issues:
            print(issue.format(name), file=self.out)
            if issue.severity == Severity.ERROR:
                self.errors += 1
            else:
                self.warnings += 1

    def io_error(self, message: str) -> None:
        self.failed_io.append(message)
        print(f"sdgen check: {message}", file=sys.stderr)

    def exit_code(self) -> int:
        print(
            f"sdgen check: {self.files} file(s), {self.errors} error(s), "
            f"{self.warnings} warning(s)",
            file=sys.stderr,
        )
        return 2 if self.failed_io else 1 if self.errors else 0


def _yaml_files(directory: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.lower().endswith(_SUFFIXES) and not name.startswith("."):
                yield Path(root, name)


@dataclass(frozen=True)
class _How:
    key: str
    allow_secrets: bool
    linter: Linter | None
    allowed_files: tuple[str, ...] | None = None
    tenant: TenantCheck | None = None


def _check_file(path: Path, how: _How, report: _Report, *, explicit: bool) -> None:
    try:
        data = sys.stdin.buffer.read(MAX_BYTES + 1) if str(path) == "-" else read_regular_file(path)
    except OSError as exc:
        report.io_error(f"{path}: {exc.strerror or exc}")
        return
    if len(data) > MAX_BYTES:
        report.io_error(f"{path}: larger than {MAX_BYTES >> 20} MiB, no scrape config")
        return
    name = "<stdin>" if str(path) == "-" else str(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        report.add(name, [Issue("", f"not UTF-8 text ({exc.reason} at byte {exc.start})", line)])
        return
    issues = check_text(
        text,
        how.key,
        explicit=explicit,
        allow_secrets=how.allow_secrets,
        allowed_files=how.allowed_files,
        linter=how.linter,
        tenant=how.tenant,
    )
    if issues is not None:
        report.add(name, issues)


def read_regular_file(path: Path) -> bytes:
    """A regular file's bytes, at most MAX_BYTES + 1 of them. A FIFO, a device (`/dev/zero`)
    or a socket is an error, never a read that blocks forever or fills the memory."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as stream:
            return stream.read(MAX_BYTES + 1)
    finally:
        os.close(fd)


def _check_path(path: Path, how: _How, report: _Report) -> None:
    if str(path) != "-" and path.is_dir():
        before = report.files
        for file in _yaml_files(path):
            _check_file(file, how, report, explicit=False)
        if report.files == before:
            report.add(str(path), [Issue("", "no scrape config found in this directory")])
    elif str(path) == "-" or path.exists():
        _check_file(path, how, report, explicit=True)
    else:
        report.io_error(f"{path}: no such file or directory")


def run(args: argparse.Namespace) -> int:
    report = _Report(sys.stdout)
    live: _LiveCluster | None = None
    try:
        linter: Linter | None = None
        if args.snapshot:
            snapshot = load_snapshot(args.snapshot)
            linter = cluster_linter(lambda config, namespace: snapshot)
        elif args.kubeconfig:
            live = _LiveCluster(args.kubeconfig)
            linter = cluster_linter(live)
        tenant = None
        if args.tenant:
            trusted = args.tenant in args.trusted_namespaces
            tenant = TenantCheck(args.tenant, tenant_policy(args), trusted)
        how = _How(args.key, args.materialize_secrets, linter, args.allowed_file_prefixes, tenant)
        for path in args.paths:
            _check_path(Path(path), how, report)
    except (SnapshotError, ClusterError) as err:
        report.io_error(str(err))
    finally:
        if live is not None:
            live.informers.stop()
    return report.exit_code()
