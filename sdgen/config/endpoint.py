"""Parse one endpoint of a target: where and how to scrape it (docs/configuration.md).

Ports and addresses, path, scheme and params, interval and timeout; its relabel rules are
sdgen.config.rules', its TLS and authentication sdgen.config.auth's. What the endpoint does
not say comes from the config's `Defaults`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from yaml.nodes import ScalarNode, SequenceNode

from sdgen.config.auth import auth, file_only, schemas, tls
from sdgen.config.model import DEFAULT_INTERVAL_MS, DEFAULT_PATH, Endpoint, Scheme, TargetType
from sdgen.config.reader import Reader
from sdgen.config.rules import relabel_rules
from sdgen.config.yamlnode import TAG, Field, line_of
from sdgen.prom.duration import format_duration
from sdgen.prom.relabel import RelabelRule

AGENT_SETTING = "an openAgent setting Prometheus has no use for; ignored"

_ENDPOINT = schemas(
    "port targetPort address addresses path scheme params interval timeout|scrapeTimeout "
    "tlsConfig authorization bearerTokenFile basicAuth relabelings|relabelConfigs "
    "metricRelabelConfigs|metricRelabelings addNodeLabel honorLabels sampleLimit",
    dict.fromkeys(("bearerTokenSecret", "bearerToken"), file_only("bearerTokenFile")),
    "bearerTokenSecret",
    ignored="adaptiveTimeout",
    ignored_why=AGENT_SETTING,
)
# Per target type: endpoint keys of which one is required, and keys that make no sense.
_ENDPOINT_KEYS = {
    TargetType.POD_MONITOR: (("port",), ("targetPort", "address", "addresses")),
    TargetType.SERVICE_MONITOR: (("port", "targetPort"), ("address", "addresses")),
    TargetType.STATIC_ENDPOINTS: (("address", "addresses"), ("port", "targetPort")),
}
_SCHEMES = tuple(s.value for s in Scheme)
_ADDRESS = re.compile(r"[^\s/]+")


@dataclass(frozen=True, slots=True)
class Defaults:
    """What an endpoint gets when it does not say: the config's interval and path."""

    interval_ms: int = DEFAULT_INTERVAL_MS
    path: str = DEFAULT_PATH


def endpoint(
    reader: Reader,
    item: Field,
    kind: TargetType | None,
    defaults: Defaults,
    legacy: tuple[RelabelRule, ...],
    *,
    secrets: bool,
) -> Endpoint | None:
    """The endpoint `item` of a target of type `kind` (None: the type was unreadable).
    `legacy`: the target's deprecated metric rules, which run before the endpoint's own."""
    f = reader.mapping(item.node, item.path, _ENDPOINT[secrets])
    if f is None:
        return None
    if kind is not None:
        _check_keys(reader, f, item, kind)
    interval, timeout = _interval_and_timeout(reader, f, defaults)
    add_node_label = reader.boolean(f.get("addNodeLabel"))
    if add_node_label and kind is TargetType.STATIC_ENDPOINTS:
        where = f["addNodeLabel"]
        reader.warn(where.path, where.line, "StaticEndpoints have no node; ignored")
    authorization, basic_auth = auth(reader, f, secrets=secrets)
    return Endpoint(
        port=_port(reader, f.get("port")),
        target_port=_port(reader, f.get("targetPort")),
        addresses=_addresses(reader, f),
        path=reader.text(f.get("path")) or defaults.path,
        scheme=reader.choice(f.get("scheme"), _SCHEMES),
        params=_params(reader, f.get("params")),
        interval_ms=interval,
        timeout_ms=timeout,
        tls=tls(reader, f.get("tlsConfig"), secrets=secrets),
        authorization=authorization,
        basic_auth=basic_auth,
        relabelings=relabel_rules(reader, f.get("relabelings")),
        metric_relabelings=legacy + relabel_rules(reader, f.get("metricRelabelConfigs")),
        add_node_label=bool(add_node_label),
        honor_labels=reader.boolean(f.get("honorLabels")),
        sample_limit=reader.integer(f.get("sampleLimit")),
    )


def _interval_and_timeout(
    reader: Reader, f: dict[str, Field], defaults: Defaults
) -> tuple[int, int | None]:
    """The interval (the default when not given) and the timeout, which must fit in it. A
    timeout is not checked against an interval that was given but unreadable: that interval
    already has its error."""
    own_interval = reader.duration(f.get("interval"), "scrape interval")
    interval = own_interval or defaults.interval_ms
    timeout = reader.duration(f.get("timeout"), "scrape timeout")
    if timeout and timeout > interval and (own_interval or "interval" not in f):
        reader.error(
            f["timeout"].path,
            f["timeout"].line,
            "scrape timeout cannot be greater than "
            f'scrape interval ("{format_duration(timeout)}" > '
            f'"{format_duration(interval)}")',
        )
    return interval, timeout


def _check_keys(reader: Reader, f: dict[str, Field], item: Field, kind: TargetType) -> None:
    required, invalid = _ENDPOINT_KEYS[kind]
    for key in invalid:
        if key in f:
            reader.error(f[key].path, f[key].line, f'"{key}" does not apply to {kind.value}')
    if not any(key in f for key in required):
        names = " or ".join(f'"{key}"' for key in required)
        reader.error(item.path, item.line, f"missing field {names} (required for {kind.value})")


def _port(reader: Reader, f: Field | None) -> str | None:
    """A port name, or a number (1-65535) kept as text."""
    if f is not None and isinstance(f.node, ScalarNode) and f.node.tag == TAG + "int":
        number = reader.integer(f, 1, 65535)
        return None if number is None else str(number)
    return reader.text(f, required=True)


def _addresses(reader: Reader, f: dict[str, Field]) -> tuple[str, ...]:
    one, many = f.get("address"), f.get("addresses")
    if one and many:
        reader.error(many.path, many.line, 'give "address" or "addresses", not both')
    if many and isinstance(many.node, SequenceNode) and not many.node.value:
        reader.error(many.path, many.line, "at least one address is required")
    out = []
    for item in ([one] if one else []) + reader.items(many):
        address = reader.text(item, required=True)
        if address and not _ADDRESS.fullmatch(address):
            reader.error(
                item.path,
                line_of(item.node),
                f'"{address}" is not a valid host:port '
                "address (scheme and path are separate fields)",
            )
        elif address:
            out.append(address)
    return tuple(out)


def _params(reader: Reader, f: Field | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """URL parameters, each with one value or a list of them, sorted by name."""
    out = []
    for entry in reader.entries(f):
        if isinstance(entry.node, SequenceNode):
            out.append((entry.key, reader.texts(entry)))
        elif (value := reader.text(entry)) is not None:
            out.append((entry.key, (value,)))
    return tuple(sorted(out))
