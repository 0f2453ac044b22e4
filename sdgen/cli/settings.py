"""Every runtime flag in one place, each with an `SDGEN_*` environment variable.

Flags are declared once (name, type, default, help) and registered on the subcommands that
use them; the environment variable is the flag name upper-cased with `-` → `_` and an
`SDGEN_` prefix. Values are parsed and validated when the process starts, so nothing deeper
ever sees a raw string where it expects a number or a duration.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sdgen.config import filepaths
from sdgen.config.model import DEFAULT_KEY
from sdgen.config.tenancy import StaticEndpointsPolicy, TenantPolicy
from sdgen.output.parts import DEFAULT_PART_SIZE
from sdgen.prom.duration import DurationError, parse_duration

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_CONFIGMAP_NAME = "sdgen-config"


def _seconds(text: str) -> float:
    """A Prometheus duration (`15s`, `200ms`) or a plain number of seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_duration(text) / 1000
    except DurationError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _at_least_one(text: str) -> int:
    value = _positive_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _file_mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an octal file mode: {text!r}") from None
    if not 0 <= mode <= 0o777:
        raise argparse.ArgumentTypeError(f"file mode out of range: {text!r}")
    return mode


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _file_prefixes(text: str) -> tuple[str, ...]:
    try:
        return filepaths.prefixes(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text!r} (use true or false)")


@dataclass(frozen=True)
class Flag:
    name: str  # without the leading dashes
    help: str
    type: Callable[[str], object] | None = str  # None: a boolean switch
    default: object = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None

    @property
    def env(self) -> str:
        return "SDGEN_" + self.name.upper().replace("-", "_")

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")


SOURCE = (
    Flag(
        "configmap",
        "the ConfigMap holding the scrape config, as NAMESPACE/NAME "
        "(default: this pod's namespace / sdgen-config)",
        metavar="NS/NAME",
    ),
    Flag("key", "the ConfigMap data key holding the scrape config", default=DEFAULT_KEY),
    Flag(
        "kubeconfig",
        "kubeconfig file (default: in-cluster config, then $KUBECONFIG, then ~/.kube/config)",
        metavar="PATH",
    ),
    Flag(
        "config-file",
        "read the scrape config from this local file instead of a ConfigMap "
        "(e.g. a mounted ConfigMap volume); discovery still uses the cluster when reachable",
        metavar="PATH",
    ),
)
MATERIALIZE_SECRETS = Flag(
    "materialize-secrets",
    "accept Secret references ({name, key}) in the config: read them from the ConfigMap's "
    "namespace and write their values to secrets/ (mode 0600) for the fragments; "
    "needs the deploy/overlays/secrets RBAC",
    type=None,
    default=False,
)
ALLOWED_FILE_PREFIXES = Flag(
    "allowed-file-prefixes",
    "directories (absolute, comma-separated) under which the config's credential files "
    "(caFile, certFile, keyFile, credentialsFile, bearerTokenFile, passwordFile) must lie; "
    "a path elsewhere rejects its target. Unset: any path, with a warning per path; "
    "empty: no local file at all",
    type=_file_prefixes,
    metavar="DIR,...",
)
OUTPUT = (
    Flag(
        "output-dir",
        "where targets/, relabel/ and scrape/ are written (and .staging/, for temp files)",
        default="./out",
        metavar="DIR",
    ),
    Flag(
        "file-mode",
        "mode of the files written (octal)",
        type=_file_mode,
        default=0o644,
        metavar="MODE",
    ),
    Flag(
        "part-size",
        "split an endpoint into scrape jobs of about N targets each (a power of two of them, "
        "by address), so a change makes Prometheus re-read one part, not the whole endpoint",
        type=_at_least_one,
        default=DEFAULT_PART_SIZE,
        metavar="N",
    ),
    Flag(
        "fragment-format",
        "the dialect of the scrape/ fragments: prometheus (a scrape_configs: document, paths "
        "relative to it; also Prometheus in agent mode) or vmagent (a bare list of jobs for "
        "vmagent's scrape_config_files, absolute paths, user text kept from its "
        "environment-variable expansion)",
        default="prometheus",
        choices=("prometheus", "vmagent"),
    ),
    Flag(
        "consumer-path-prefix",
        "--fragment-format vmagent: where the consumer sees the output directory (its mount "
        "path), for the absolute paths in the fragments (default: the output directory)",
        metavar="DIR",
    ),
    Flag(
        "keep-meta-labels",
        "keep the __meta_* discovery labels in the target files",
        type=None,
        default=False,
    ),
    Flag(
        "shards",
        "total number of Prometheus shards; keep only this shard's targets (by --shard-by)",
        type=_positive_int,
        default=0,
        metavar="N",
    ),
    Flag("shard-index", "this shard's index, 0..N-1", type=_positive_int, default=0, metavar="I"),
    Flag(
        "shard-by",
        "what assigns a target to a shard: address (hashmod of __address__, as the "
        "Prometheus Operator shards) or namespace (the FNV-1a range of its namespace, which "
        "the API server can serve per shard)",
        default="address",
        choices=("address", "namespace"),
    ),
    Flag(
        "shard-cuts",
        "with --shard-by namespace: the N-1 inner boundaries of the shards' hash ranges, "
        "comma-separated hex (default: N equal ranges); `sdgen targets --shard-plan` "
        "prints ones that balance the targets",
        metavar="HEX,...",
    ),
    Flag(
        "server-side-sharding",
        "with --shard-by namespace: ask the API server for this shard's namespaces only "
        "(KEP-5866 shardSelector); auto filters on the client when the server does not, on "
        "refuses an unsharded list, off lists everything",
        default="off",
        choices=("auto", "on", "off"),
    ),
    Flag(
        "shard-from-hostname",
        "take the shard index from the StatefulSet ordinal at the end "
        "of the pod's hostname (prometheus-2 → 2)",
        type=None,
        default=False,
    ),
    Flag(
        "reload-url",
        "POST here after a scrape fragment changed, e.g. "
        "http://localhost:9090/-/reload (needs --web.enable-lifecycle)",
        metavar="URL",
    ),
    MATERIALIZE_SECRETS,
    ALLOWED_FILE_PREFIXES,
)
SERVE = (
    Flag(
        "sd-url",
        "sdgen serve: the base URL Prometheus reaches this server at; the served fragments' "
        "http_sd_configs read <URL>/sd/<shard>/<job>",
        default="http://sdgen-central:8080",
        metavar="URL",
    ),
    Flag(
        "sd-refresh-interval",
        "sdgen serve: the refresh_interval of the served fragments' http_sd_configs (how "
        "often Prometheus polls; a change reaches it within this long after a render)",
        type=_seconds,
        default=15.0,
        metavar="DURATION",
    ),
)
LOOP = (
    Flag(
        "interval",
        "re-read the config and re-render from the cache this often",
        type=_seconds,
        default=15.0,
        metavar="DURATION",
    ),
    Flag(
        "debounce",
        "after a change, wait this long for more changes before rendering "
        "(never more than 1s in total)",
        type=_seconds,
        default=0.2,
        metavar="DURATION",
    ),
    Flag(
        "on-missing-config",
        "what to do when the ConfigMap or its key is missing: keep the "
        "last good files, or clear them",
        default="keep",
        choices=("keep", "clear"),
    ),
)
OPS = (
    Flag(
        "listen",
        "address for /metrics, /healthz, /readyz, /status, /explain and the HTML page at / "
        "('' to disable)",
        default=":8080",
        metavar="HOST:PORT",
    ),
    Flag(
        "health-window",
        "/healthz fails when a watch made no progress (event, bookmark, list) for this long; "
        "the default outlasts the longest server-side watch timeout",
        type=_seconds,
        default=660.0,
        metavar="DURATION",
    ),
    Flag(
        "no-events",
        "write no Kubernetes Events on the ConfigMap (ConfigInvalid, TargetRejected, "
        "ConfigApplied, ReloadFailed); they need create and patch on events.events.k8s.io",
        type=None,
        default=False,
    ),
    Flag("log-format", "log line format", default="text", choices=("text", "json")),
    Flag(
        "log-level",
        "minimum log level",
        default="info",
        choices=("debug", "info", "warning", "error"),
    ),
)


def _names(text: str) -> tuple[str, ...]:
    """A comma-separated list (of namespaces): blanks and repeats dropped, order kept."""
    return tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


def _label_name(text: str) -> str:
    """A Prometheus label name, not a reserved `__` one (the tenant label is on every series)."""
    if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", text) or text.startswith("__"):
        raise argparse.ArgumentTypeError(f"not a label name: {text!r} (e.g. namespace, tenant)")
    return text


def _limit(text: str) -> int | None:
    """A cap: a whole number ≥ 1, or 0 for none."""
    return _positive_int(text) or None


TENANT_POLICY = (
    Flag(
        "trusted-namespaces",
        "tenants in these namespaces (comma-separated) may select other namespaces, "
        "reference files, name addresses and set the tenant label themselves",
        type=_names,
        default=(),
        metavar="NS,NS",
    ),
    Flag(
        "tenant-label",
        "the label every target of an untrusted tenant carries, set to its namespace",
        type=_label_name,
        default="namespace",
        metavar="NAME",
    ),
    Flag(
        "tenant-static-endpoints",
        "may untrusted tenants name addresses (StaticEndpoints, __address__ rewrites)? "
        "deny by default: an address is the one thing the namespace rule cannot bound",
        default="deny",
        choices=("allow", "deny"),
    ),
    Flag(
        "tenant-sample-limit",
        "cap each tenant scrape job's sample_limit (per scrape job, not per tenant; 0: none)",
        type=_limit,
        default=None,
        metavar="N",
    ),
    Flag(
        "tenant-target-limit",
        "cap each tenant scrape job's target_limit (per scrape job, not per tenant; 0: none)",
        type=_limit,
        default=None,
        metavar="N",
    ),
    Flag(
        "tenant-max-targets",
        "a tenant's targets beyond N in all: the target crossing the limit keeps its last "
        "good files and reports an error (0: none)",
        type=_limit,
        default=None,
        metavar="N",
    ),
)
TENANTS = (
    Flag(
        "configmap-selector",
        "follow every ConfigMap this label selector matches (e.g. sdgen.io/scrape-config=true), "
        "each one tenant, NAMESPACE/NAME; --configmap, if given, is followed too, as the "
        "trusted platform config",
        metavar="SELECTOR",
    ),
    Flag(
        "configmap-namespaces",
        "--configmap-selector: look only in these namespaces (comma-separated; default all)",
        type=_names,
        default=(),
        metavar="NS,NS",
    ),
    *TENANT_POLICY,
)
SNAPSHOT = (
    Flag(
        "snapshot",
        "render from a `kubectl get pods,services,endpointslices,namespaces -A "
        "-o yaml` dump instead of a live cluster (offline preview)",
        metavar="FILE",
    ),
)


def tenant_policy(args: argparse.Namespace) -> TenantPolicy:
    """The TenantPolicy of the TENANT_POLICY flags."""
    return TenantPolicy(
        label=args.tenant_label,
        static_endpoints=StaticEndpointsPolicy(args.tenant_static_endpoints),
        sample_limit=args.tenant_sample_limit,
        target_limit=args.tenant_target_limit,
        max_targets=args.tenant_max_targets,
    )


def add_flags(
    parser: argparse.ArgumentParser,
    title: str,
    flags: tuple[Flag, ...],
    environ: Mapping[str, str] | None = None,
) -> None:
    """Register flags whose defaults come from their SDGEN_* variables when set."""
    env = os.environ if environ is None else environ
    group = parser.add_argument_group(title)
    for flag in flags:
        default = flag.default
        if flag.env in env:
            convert = _bool if flag.type is None else flag.type
            try:
                default = convert(env[flag.env])
            except argparse.ArgumentTypeError as err:
                parser.error(f"{flag.env}: {err}")
        shown = f"{flag.default:o}" if flag.name == "file-mode" else flag.default
        default_text = f"; default {shown}" if flag.default not in (None, False, "") else ""
        help_text = f"{flag.help} [env {flag.env}{default_text}]"
        if flag.type is None:
            group.add_argument(
                f"--{flag.name}",
                dest=flag.dest,
                action="store_true",
                default=default,
                help=help_text,
            )
        else:
            group.add_argument(
                f"--{flag.name}",
                dest=flag.dest,
                type=flag.type,
                default=default,
                choices=flag.choices,
                metavar=flag.metavar,
                help=help_text,
            )


def pod_namespace(environ: Mapping[str, str] | None = None) -> str:
    """The namespace this pod runs in: POD_NAMESPACE, the service account file, or default."""
    env = os.environ if environ is None else environ
    if env.get("POD_NAMESPACE"):
        return env["POD_NAMESPACE"]
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"


def configmap_ref(value: str | None, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Split --configmap into (namespace, name); a bare NAME uses the pod's namespace."""
    if not value:
        return pod_namespace(environ), DEFAULT_CONFIGMAP_NAME
    namespace, _, name = value.rpartition("/")
    if not name or "/" in namespace:
        raise ValueError(f"--configmap {value!r}: expected NAMESPACE/NAME")
    return namespace or pod_namespace(environ), name


def tenant_ref(value: str) -> tuple[str, str]:
    """Split `--tenant NAMESPACE/NAME` (a tenant ConfigMap: both parts, always)."""
    namespace, _, name = value.partition("/")
    if not namespace or not name or "/" in name:
        raise ValueError(f"--tenant {value!r}: expected NAMESPACE/NAME of a tenant ConfigMap")
    return namespace, name
