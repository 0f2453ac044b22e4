"""Parse one endpoint of a target (DESIGN §1): where and how to scrape, and its relabelings.

This is the larger half of the scrape-config parser, kept apart from the target and layout
level (sdgen.config) so each stays readable: ports and addresses, interval and timeout, and
relabel rules, each compiled here so that a rule Prometheus would reject is reported with the
line of the field at fault. TLS and authentication (files, or Secret references when allowed)
are sdgen.authconfig's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from yaml.nodes import ScalarNode, SequenceNode

from sdgen.config.auth import AuthParser, file_only, schemas
from sdgen.config.model import DEFAULT_INTERVAL_MS, DEFAULT_PATH, Endpoint, Scheme, TargetType
from sdgen.config.reader import schema
from sdgen.config.yamlnode import TAG, Field, line_of
from sdgen.prom.duration import format_duration
from sdgen.prom.relabel import RelabelError, RelabelRule, compile_rule

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
_RULE = schema(
    "source_labels|sourceLabels separator target_label|targetLabel regex modulus replacement action"
)
# Per target type: endpoint keys of which one is required, and keys that make no sense.
_ENDPOINT_KEYS = {
    TargetType.POD_MONITOR: (("port",), ("targetPort", "address", "addresses")),
    TargetType.SERVICE_MONITOR: (("port", "targetPort"), ("address", "addresses")),
    TargetType.STATIC_ENDPOINTS: (("address", "addresses"), ("port", "targetPort")),
}

_ADDRESS = re.compile(r"[^\s/]+")
# Prometheus rejects these keys when written out, even with their default value (it compares
# a compiled regex by pointer and a list against nil); a RelabelRule can no longer tell.
_WRITTEN_DEFAULTS = {
    "keepequal": ("regex", "'source_labels' and `target_label`"),
    "dropequal": ("regex", "'source_labels' and `target_label`"),
    "labeldrop": ("source_labels", "'regex'"),
    "labelkeep": ("source_labels", "'regex'"),
}


def _check_written_defaults(m: Mapping[str, Field], action: str) -> None:
    key, allowed = _WRITTEN_DEFAULTS.get(action, ("", ""))
    if key in m:
        raise RelabelError(key, f"{action} action requires only {allowed}, and no other fields")


@dataclass(frozen=True, slots=True)
class Defaults:
    """What an endpoint gets when it does not say: the config's interval and path."""

    interval_ms: int = DEFAULT_INTERVAL_MS
    path: str = DEFAULT_PATH


class EndpointParser(AuthParser):
    """Builds an Endpoint and the values inside it, one method per model type."""

    def endpoint(
        self,
        item: Field,
        kind: TargetType | None,
        defaults: Defaults,
        legacy: tuple[RelabelRule, ...],
    ) -> Endpoint | None:
        f = self.mapping(item.node, item.path, _ENDPOINT[self.allow_secrets])
        if f is None:
            return None
        if kind is not None:
            self.check_endpoint_keys(f, item, kind)
        own_interval = self.duration(f.get("interval"), "scrape interval")
        interval = own_interval or defaults.interval_ms
        timeout = self.duration(f.get("timeout"), "scrape timeout")
        if timeout and timeout > interval and (own_interval or "interval" not in f):
            self.error(
                f["timeout"].path,
                f["timeout"].line,
                "scrape timeout cannot be greater than "
                f'scrape interval ("{format_duration(timeout)}" > '
                f'"{format_duration(interval)}")',
            )
        add_node_label = self.boolean(f.get("addNodeLabel"))
        if add_node_label and kind is TargetType.STATIC_ENDPOINTS:
            self.warn(
                f["addNodeLabel"].path,
                f["addNodeLabel"].line,
                "StaticEndpoints have no node; ignored",
            )
        authorization, basic_auth = self.auth(f)
        return Endpoint(
            port=self.port(f.get("port")),
            target_port=self.port(f.get("targetPort")),
            addresses=self.addresses(f),
            path=self.text(f.get("path")) or defaults.path,
            scheme=self.choice(f.get("scheme"), tuple(s.value for s in Scheme)),
            params=self.params(f.get("params")),
            interval_ms=interval,
            timeout_ms=timeout,
            tls=self.tls(f.get("tlsConfig")),
            authorization=authorization,
            basic_auth=basic_auth,
            relabelings=self.rules(f.get("relabelings")),
            metric_relabelings=legacy + self.rules(f.get("metricRelabelConfigs")),
            add_node_label=bool(add_node_label),
            honor_labels=self.boolean(f.get("honorLabels")),
            sample_limit=self.integer(f.get("sampleLimit")),
        )

    def check_endpoint_keys(self, f: dict[str, Field], item: Field, kind: TargetType) -> None:
        required, invalid = _ENDPOINT_KEYS[kind]
        for key in invalid:
            if key in f:
                self.error(f[key].path, f[key].line, f'"{key}" does not apply to {kind.value}')
        if not any(key in f for key in required):
            names = " or ".join(f'"{key}"' for key in required)
            self.error(item.path, item.line, f"missing field {names} (required for {kind.value})")

    def port(self, f: Field | None) -> str | None:
        if f is not None and isinstance(f.node, ScalarNode) and f.node.tag == TAG + "int":
            number = self.integer(f, 1, 65535)
            return None if number is None else str(number)
        return self.text(f, required=True)

    def addresses(self, f: dict[str, Field]) -> tuple[str, ...]:
        one, many = f.get("address"), f.get("addresses")
        if one and many:
            self.error(many.path, many.line, 'give "address" or "addresses", not both')
        if many and isinstance(many.node, SequenceNode) and not many.node.value:
            self.error(many.path, many.line, "at least one address is required")
        out = []
        for item in ([one] if one else []) + self.items(many):
            address = self.text(item, required=True)
            if address and not _ADDRESS.fullmatch(address):
                self.error(
                    item.path,
                    line_of(item.node),
                    f'"{address}" is not a valid host:port '
                    "address (scheme and path are separate fields)",
                )
            elif address:
                out.append(address)
        return tuple(out)

    def params(self, f: Field | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
        out = []
        for entry in self.entries(f):
            if isinstance(entry.node, SequenceNode):
                out.append((entry.key, self.texts(entry)))
            elif (value := self.text(entry)) is not None:
                out.append((entry.key, (value,)))
        return tuple(sorted(out))

    def rules(self, f: Field | None) -> tuple[RelabelRule, ...]:
        out = []
        for item in self.items(f):
            errors = self.errors
            m = self.mapping(item.node, item.path, _RULE)
            rule = self.rule(m) if m is not None else None
            if m is None or rule is None or self.errors != errors:
                continue
            try:
                compile_rule(rule)
                _check_written_defaults(m, rule.action)
            except RelabelError as exc:
                where = m.get(exc.field, item)
                self.error(where.path, where.line, exc.message)
                continue
            out.append(rule)
        return tuple(out)

    def rule(self, m: dict[str, Field]) -> RelabelRule:
        values: dict[str, Any] = {}
        for name in ("separator", "target_label", "regex", "replacement", "action"):
            if (text := self.text(m.get(name))) is not None:
                values[name] = text.lower() if name == "action" else text
        if "source_labels" in m:
            values["source_labels"] = self.texts(m["source_labels"])
        if (modulus := self.integer(m.get("modulus"))) is not None:
            values["modulus"] = modulus
        return replace(RelabelRule(), **values)
