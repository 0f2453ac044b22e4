"""The scrape config as frozen, typed values: what `config` parses and everything else reads.

Parsing (with aliases, defaults, locations and error messages) lives in `config`; this module
only says what a valid config *is*, so the core can be read without the parser's detail.
Defaults are already applied: an Endpoint carries its resolved interval and path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from sdgen.k8s.labelselector import LabelSelector, NamespaceSelector
from sdgen.prom.relabel import RelabelRule

# The one definition of each default a config, a flag or a rendered file falls back on.
DEFAULT_KEY = "scrape_config.yaml"  # the ConfigMap data key holding the scrape config
DEFAULT_INTERVAL_MS = 30_000  # scrape interval when neither the endpoint nor the config says
DEFAULT_PATH = "/metrics"  # metrics path when neither the endpoint nor the config says


class TargetType(StrEnum):
    POD_MONITOR = "PodMonitor"
    SERVICE_MONITOR = "ServiceMonitor"
    STATIC_ENDPOINTS = "StaticEndpoints"


class Scheme(StrEnum):
    """An endpoint's scrape scheme. Not given, it is https for a port named https, else http
    (docs/configuration.md)."""

    HTTP = "http"
    HTTPS = "https"

    @classmethod
    def default(cls, https_port: bool) -> Scheme:
        return cls.HTTPS if https_port else cls.HTTP


class Severity(StrEnum):
    """An error rejects its target (or, outside any target, the whole config); a warning
    only informs."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A key of a Secret in the ConfigMap's own namespace; only with --materialize-secrets,
    which writes its value to a file under secrets/ that the fragment points at."""

    name: str
    key: str


@dataclass(frozen=True, slots=True)
class TLSConfig:
    insecure_skip_verify: bool = False
    server_name: str = ""
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    ca_secret: SecretRef | None = None
    cert_secret: SecretRef | None = None
    key_secret: SecretRef | None = None


@dataclass(frozen=True, slots=True)
class Authorization:
    """Prometheus `authorization`; bearerTokenFile becomes type Bearer with that file."""

    type: str = "Bearer"
    credentials_file: str = ""
    credentials_secret: SecretRef | None = None


@dataclass(frozen=True, slots=True)
class BasicAuth:
    username: str = ""
    password_file: str = ""
    username_secret: SecretRef | None = None
    password_secret: SecretRef | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One scrape endpoint of a target; one (target, endpoint) pair is one scrape job."""

    port: str | None = None  # PodMonitor/ServiceMonitor: port name or number, as text
    target_port: str | None = None  # ServiceMonitor: endpoint/container port name or number
    addresses: tuple[str, ...] = ()  # StaticEndpoints: host:port
    path: str = DEFAULT_PATH
    scheme: str | None = None  # None: https when the port is named https, else http
    params: tuple[tuple[str, tuple[str, ...]], ...] = ()
    interval_ms: int = DEFAULT_INTERVAL_MS
    timeout_ms: int | None = None
    tls: TLSConfig | None = None
    authorization: Authorization | None = None
    basic_auth: BasicAuth | None = None
    relabelings: tuple[RelabelRule, ...] = ()
    metric_relabelings: tuple[RelabelRule, ...] = ()
    add_node_label: bool = False
    honor_labels: bool | None = None
    sample_limit: int | None = None
    target_limit: int | None = None  # only as a tenant's cap (sdgen.config.tenancy)


def secret_refs(ep: Endpoint) -> tuple[tuple[str, SecretRef], ...]:
    """The endpoint's Secret references as (field, ref); the field names its file under
    secrets/: ca, cert, key, credentials, username, password."""
    tls, auth, basic = ep.tls, ep.authorization, ep.basic_auth
    found = {
        "ca": tls.ca_secret if tls else None,
        "cert": tls.cert_secret if tls else None,
        "key": tls.key_secret if tls else None,
        "credentials": auth.credentials_secret if auth else None,
        "username": basic.username_secret if basic else None,
        "password": basic.password_secret if basic else None,
    }
    return tuple((name, ref) for name, ref in found.items() if ref is not None)


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    type: TargetType
    endpoints: tuple[Endpoint, ...]
    enabled: bool = True
    # None means "the ConfigMap's own namespace", decided when targets are resolved.
    namespace_selector: NamespaceSelector | None = None
    selector: LabelSelector | None = None
    relabelings: tuple[RelabelRule, ...] = ()
    # The `job` label when it is not the name: a tenant's target is named after its tenant too
    # (so its files and scrape jobs never collide with another tenant's), its job as written.
    job: str = ""
    # Where its Secret references are read: "" is the ConfigMap's namespace (the default); a
    # tenant's own namespace for a tenant's target (sdgen.config.tenancy).
    secrets_namespace: str = ""

    @property
    def job_label(self) -> str:
        return self.job or self.name


@dataclass(frozen=True, slots=True)
class Issue:
    """A located problem in a config. `path` is like `targets[2].endpoints[0].regex`."""

    path: str
    message: str
    line: int | None = None  # 1-based line in the source document
    severity: Severity = Severity.ERROR
    target: str | None = None  # the targetName the problem belongs to, when known

    def format(self, source: str) -> str:
        """`file:line: path: message` on one line: control characters from the config (a
        newline in a targetName or a key) are escaped, so they cannot forge another line."""
        where = f"{source}:{self.line}" if self.line else source
        prefix = "warning: " if self.severity == Severity.WARNING else ""
        text = (
            f"{where}: {self.path}: {prefix}{self.message}"
            if self.path
            else (f"{where}: {prefix}{self.message}")
        )
        return printable(text)


def printable(text: str) -> str:
    """`text` with every control character (C0, DEL, C1, and the Unicode line and paragraph
    separators) written as a Python escape, so a value from a config or a pod stays on one
    line of text output."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() or char == " " else _escape(char) for char in text)


def _escape(char: str) -> str:
    return repr(char)[1:-1] if char in "\t\n\r" else f"\\u{ord(char):04x}"


@dataclass(frozen=True, slots=True)
class Locations:
    """Where a good target's fields were written, to place a problem found after parsing (the
    lint warnings of sdgen.resolve.lint). `paths`: a target's name → its path; `fields`: a
    field's path, as written or with its canonical name → (the path as written, its line)."""

    paths: Mapping[str, str]
    fields: Mapping[str, tuple[str, int]]

    def issue(self, target: str, steps: str, message: str) -> Issue:
        """A warning at `steps` (like `endpoints[0].port`, canonical names) under `target`,
        spelled as the user wrote it, on the line of the deepest part of it that was written."""
        path = self.paths.get(target, "")
        line = self.fields[path][1] if path in self.fields else None
        parts = re.findall(r"\[\d+\]|[^.\[]+", steps)
        for i, part in enumerate(parts):
            child = path + part if part.startswith("[") else f"{path}.{part}" if path else part
            found = self.fields.get(child)
            if found is None:  # not written (a default): name it, on its parent's line
                rest = "".join(p if p.startswith("[") else f".{p}" for p in parts[i:])
                path = path + rest if path else rest.lstrip(".")
                break
            path, line = found
        return Issue(path, message, line, Severity.WARNING, target)


@dataclass(frozen=True, slots=True)
class Config:
    """A parsed config. `targets` holds only valid targets; `rejected` names the targets that
    had errors (they keep their last good output); `issues` has every error and warning."""

    enabled: bool = True
    targets: tuple[Target, ...] = ()
    rejected: frozenset[str] = frozenset()
    issues: tuple[Issue, ...] = field(default=())
    # False when an error outside any single target (YAML syntax, layout, defaults, a target
    # without a usable targetName) means the config as a whole cannot be trusted: change nothing.
    usable: bool = True
    locations: Locations = field(default_factory=lambda: Locations({}, {}), compare=False)

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == Severity.ERROR)
