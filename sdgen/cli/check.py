"""`sdgen check PATH…`: validate scrape configs before they reach a cluster (GitOps pre-merge).

A path is a plain scrape config, a Kubernetes manifest (ConfigMaps holding the config key are
checked, other objects ignored), a directory searched recursively for *.yaml / *.yml, or `-`
for standard input. Problems print as `file:line: path: message` on stdout, a summary on
stderr. Exit 0 when clean (warnings allowed), 1 when a config is invalid, 2 on a usage or I/O
error. No cluster access: the check is what `parse_config` finds, so it is fast.

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sdgen.cli.settings import ALLOWED_FILE_PREFIXES, MATERIALIZE_SECRETS, add_flags
from sdgen.config.document import parse_config
from sdgen.config.manifest import load_configmap_key
from sdgen.config.model import DEFAULT_KEY, Issue, Severity
from sdgen.output import naming

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


@dataclass(frozen=True)
class _Policy:
    """Check as `sdgen run` with these flags would read the config."""

    allow_secrets: bool = False  # --materialize-secrets
    allowed_files: tuple[str, ...] | None = None  # --allowed-file-prefixes


def check_text(
    text: str,
    key: str = DEFAULT_KEY,
    *,
    explicit: bool = True,
    allow_secrets: bool = False,
    allowed_files: tuple[str, ...] | None = None,
) -> list[Issue] | None:
    """The issues of one file's text; None when a file found in a directory holds no config.
    `allow_secrets`, `allowed_files`: check as `sdgen run --materialize-secrets
    --allowed-file-prefixes` would read the config."""
    manifest = load_configmap_key(text, key)
    if manifest.objects:
        if not manifest.configs and not manifest.issues:
            return [Issue("", f'no ConfigMap with data key "{key}"')] if explicit else None
        found = [
            issue
            for config in manifest.configs
            for issue in config.parse(
                allow_secrets=allow_secrets,
                file_prefix=naming.target_prefix,
                allowed_files=allowed_files,
            ).issues
        ]
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
    return list(config.issues)


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


def _check_file(path: Path, key: str, report: _Report, *, explicit: bool, policy: _Policy) -> None:
    try:
        data = sys.stdin.buffer.read(MAX_BYTES + 1) if str(path) == "-" else _read_file(path)
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
        key,
        explicit=explicit,
        allow_secrets=policy.allow_secrets,
        allowed_files=policy.allowed_files,
    )
    if issues is not None:
        report.add(name, issues)


def _read_file(path: Path) -> bytes:
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


def _check_path(path: Path, key: str, report: _Report, policy: _Policy) -> None:
    if str(path) != "-" and path.is_dir():
        before = report.files
        for file in _yaml_files(path):
            _check_file(file, key, report, explicit=False, policy=policy)
        if report.files == before:
            report.add(str(path), [Issue("", "no scrape config found in this directory")])
    elif str(path) == "-" or path.exists():
        _check_file(path, key, report, explicit=True, policy=policy)
    else:
        report.io_error(f"{path}: no such file or directory")


def run(args: argparse.Namespace) -> int:
    report = _Report(sys.stdout)
    policy = _Policy(args.materialize_secrets, args.allowed_file_prefixes)
    for path in args.paths:
        _check_path(Path(path), args.key, report, policy)
    return report.exit_code()
