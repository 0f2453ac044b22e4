"""Parse the scrape config (DESIGN §1) into `model` values, every problem located.

People edit this file by hand in GitOps repositories and `sdgen check` runs on every pull
request, so each problem carries the field path as the user spelled it and its source line,
and one bad target never hides the good ones. The parser walks the YAML node graph
(`yaml.compose` with the safe loader; nothing is ever constructed from tags) because only
nodes keep their line numbers. `parse_config` never raises: everything becomes an `Issue`.

Decisions where DESIGN is silent (the README repeats them):
* Layout A is recognised by a top-level `features` key; its paths start `features.openAgent.`.
* An explicit `null` means "not given". A key given twice, or under two aliases, is an error.
* Anchors, aliases and `<<` merge keys work. A document whose aliases would add more than
  100,000 nodes when expanded, or that contains itself, is rejected (billion laughs).
* String fields take any scalar but a boolean, as written: `port: 8080` is "8080".
* Deprecated target-level `metricRelabelConfigs` run *before* each endpoint's own rules, the
  same order as target-level `relabelConfigs` before an endpoint's `relabelings`.
* An error outside one named target (YAML syntax, layout, defaults, a target without a usable
  `targetName`) makes the whole config unusable (`Config.usable=False`): change nothing.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sdgen.duration import DurationError, format_duration, parse_duration
from sdgen.model import (
    Authorization,
    BasicAuth,
    Config,
    Endpoint,
    Issue,
    RelabelRule,
    Target,
    TargetType,
    TLSConfig,
)
from sdgen.relabel import RelabelError, compile_rule
from sdgen.selector import OPERATORS, LabelSelector, NamespaceSelector, Requirement

DEFAULT_KEY = "scrape_config.yaml"
DEFAULT_INTERVAL_MS = 30_000
DEFAULT_PATH = "/metrics"
MAX_ALIAS_NODES = 100_000
_UINT64_MAX = (1 << 64) - 1
_TAG = "tag:yaml.org,2002:"
_TEXT_TAGS = frozenset(_TAG + t for t in ("str", "int", "float", "timestamp"))
_KINDS = dict(str="a string", int="an integer", float="a number", bool="a boolean",
              null="null", timestamp="a timestamp", binary="binary data")  # fmt: skip
# libyaml's safe loader: ~10x faster than PyYAML's Python one, and it caps nesting at 1000
# levels instead of recursing until Python's limit. PyYAML wheels ship it.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The constructor's per-type functions keep no state (construct_object would cache nodes).
_CONSTRUCT = {
    "int": SafeConstructor().construct_yaml_int,
    "bool": SafeConstructor().construct_yaml_bool,
}


# --- schema: which keys each mapping takes --------------------------------------------------


_AGENT_SETTING = "an openAgent setting Prometheus has no use for; ignored"


@dataclass(frozen=True)
class _Schema:
    """The keys one kind of mapping takes. `fields` maps every accepted spelling to its
    canonical name (the first spelling); `ignored` keys get the warning `ignored_why` (or,
    with `ignore_unknown`, every unknown key does); `refused` keys get their own error."""

    fields: Mapping[str, str]
    ignored: frozenset[str] = frozenset()
    ignored_why: str = _AGENT_SETTING
    ignore_unknown: bool = False
    refused: Mapping[str, str] = field(default_factory=dict)


def _schema(
    names: str,
    ignored: str = "",
    refused: Mapping[str, str] | None = None,
    ignored_why: str = _AGENT_SETTING,
    ignore_unknown: bool = False,
) -> _Schema:
    """`names`: whitespace-separated keys, aliases joined by "|" (the first is canonical)."""
    spellings = {s: name.split("|")[0] for name in names.split() for s in name.split("|")}
    ignored_keys = frozenset(ignored.split())
    return _Schema(spellings, ignored_keys, ignored_why, ignore_unknown, dict(refused or {}))


def _file_only(file_key: str) -> str:
    return (
        "Secret references and inline credentials are not supported (sdgen does not "
        f"materialise Secrets): mount the Secret into the Prometheus pod and set {file_key}"
    )


_BODY = "enabled scrapingInterval|globalInterval globalPath targets"
_UNDER_FEATURES = "in this layout this field belongs under features.openAgent"
_LAYOUT_A = _schema(
    "global features", refused=dict.fromkeys(_BODY.replace("|", " ").split(), _UNDER_FEATURES)
)
_LAYOUT_B = _schema("global " + _BODY)
_FEATURES = _schema(
    "openAgent", ignored_why="sdgen reads only features.openAgent; ignored", ignore_unknown=True
)
# openAgent deployment settings (the WhatapAgent CRD's features.openAgent): not scrape config.
_OPEN_AGENT = _schema(
    _BODY,
    ignored="imageName imageVersion annotations labels podAnnotations "
    "podLabels envs tolerations resources nodeSelector affinity",
)
# Prometheus `global` settings a scrape-config file cannot change: warned about, not refused.
_GLOBAL = _schema(
    "scrape_interval",
    ignored="scrape_timeout evaluation_interval "
    "rule_query_offset external_labels query_log_file scrape_failure_log_file "
    "scrape_protocols body_size_limit sample_limit target_limit label_limit "
    "label_name_length_limit label_value_length_limit keep_dropped_targets "
    "metric_name_validation_scheme",
    ignored_why="a Prometheus global setting a scrape config cannot change; ignored",
)
_TARGET = _schema(
    "targetName type enabled namespaceSelector selector relabelConfigs|relabelings "
    "metricRelabelConfigs|metricRelabelings endpoints"
)
_ENDPOINT = _schema(
    "port targetPort address addresses path scheme params interval timeout|scrapeTimeout "
    "tlsConfig authorization bearerTokenFile basicAuth relabelings|relabelConfigs "
    "metricRelabelConfigs|metricRelabelings addNodeLabel honorLabels sampleLimit",
    ignored="adaptiveTimeout",
    refused=dict.fromkeys(("bearerTokenSecret", "bearerToken"), _file_only("bearerTokenFile")),
)
_TLS = _schema(
    "insecureSkipVerify|insecure_skip_verify serverName|server_name caFile|ca_file "
    "certFile|cert_file keyFile|key_file",
    refused={
        "ca": _file_only("caFile"),
        "cert": _file_only("certFile"),
        "key": _file_only("keyFile"),
        "keySecret": _file_only("keyFile"),
    },
)
_AUTHORIZATION = _schema(
    "type credentialsFile|credentials_file", refused={"credentials": _file_only("credentialsFile")}
)
_BASIC_AUTH = _schema(
    "username passwordFile|password_file", refused={"password": _file_only("passwordFile")}
)
_RULE = _schema(
    "source_labels|sourceLabels separator target_label|targetLabel regex modulus replacement action"
)
_SELECTOR = _schema("matchLabels matchExpressions")
_NAMESPACE_SELECTOR = _schema("any matchNames matchLabels matchExpressions")
_REQUIREMENT = _schema("key operator values")
# Per target type: endpoint keys of which one is required, and keys that make no sense.
_ENDPOINT_KEYS = {
    TargetType.POD_MONITOR: (("port",), ("targetPort", "address", "addresses")),
    TargetType.SERVICE_MONITOR: (("port", "targetPort"), ("address", "addresses")),
    TargetType.STATIC_ENDPOINTS: (("address", "addresses"), ("port", "targetPort")),
}


# --- YAML nodes -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    """A key of a mapping as the user wrote it, with its path, line and value node."""

    key: str
    path: str
    line: int
    node: Node


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _join(path: str, key: str) -> str:
    step = key if _IDENTIFIER.fullmatch(key) else f"[{json.dumps(key, ensure_ascii=False)}]"
    return f"{path}.{step}" if path and not step.startswith("[") else path + step


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    tag = str(node.tag)
    return _KINDS.get(tag.removeprefix(_TAG), f"a value tagged {tag}")


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _TAG + "null"


def _hint(key: str, known: list[str]) -> str:
    lowered = {k.lower(): k for k in known}
    close = lowered.get(key.lower()) or next(
        iter(difflib.get_close_matches(key, known, n=1, cutoff=0.6)), None
    )
    return f'; did you mean "{close}"?' if close else ""


def _alias_growth(root: Node) -> int:
    """Nodes the aliases add when the document is expanded; raise _Recursive on a cycle."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in active:
            raise _Recursive(node)
        active.add(id(node))
        if isinstance(node, SequenceNode):
            children: list[Node] = list(node.value)
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        sizes[id(node)] = 1 + sum(size(child) for child in children)
        active.discard(id(node))
        return sizes[id(node)]

    return size(root) - len(sizes)


class _Recursive(Exception):
    def __init__(self, node: Node) -> None:
        super().__init__()
        self.node = node


def _yaml_error(exc: yaml.YAMLError) -> tuple[int | None, str]:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        text = ": ".join(str(p) for p in (exc.context, exc.problem) if p)
        return (int(mark.line) + 1 if mark else None), f"invalid YAML: {text}"
    return None, f"invalid YAML: {exc}"


# --- the reader: typed values out of nodes, issues instead of exceptions ---------------------


class _Reader:
    """Reads typed values out of YAML nodes and records located issues instead of raising.

    `target` names the target being read; an error while it is None is outside any named
    target and makes the whole config unusable."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []
        self.target: str | None = None
        self.errors = 0
        self.document_errors = 0

    def error(self, path: str, line: int | None, message: str) -> None:
        self.issues.append(Issue(path, message, line, "error", self.target))
        self.errors += 1
        self.document_errors += self.target is None

    def warn(self, path: str, line: int | None, message: str) -> None:
        self.issues.append(Issue(path, message, line, "warning", self.target))

    def compose(self, text: str) -> Node | None:
        try:
            root: Node | None = yaml.compose(text, Loader=_LOADER)
        except yaml.YAMLError as exc:
            self.error("", *_yaml_error(exc))
            return None
        if root is None:
            self.error("", None, "the document is empty; expected a mapping with targets")
            return None
        if "&" not in text:  # no anchor, so no alias: skip the walk
            return root
        try:
            growth = _alias_growth(root)
        except _Recursive as exc:
            self.error("", _line(exc.node), "a YAML alias refers to a node that contains it")
            return None
        if growth > MAX_ALIAS_NODES:
            self.error(
                "",
                None,
                f"YAML aliases expand to more than {MAX_ALIAS_NODES} extra "
                "nodes; refusing to expand them",
            )
            return None
        return root

    def pairs(self, node: MappingNode, path: str) -> list[tuple[ScalarNode, Node]]:
        """The mapping's entries with `<<` merges applied (own keys win, then earlier merges)."""
        own: dict[str, tuple[ScalarNode, Node]] = {}
        merged: dict[str, tuple[ScalarNode, Node]] = {}
        for key, value in node.value:
            if key.tag == _TAG + "merge":
                for source in value.value if isinstance(value, SequenceNode) else [value]:
                    if not isinstance(source, MappingNode):
                        self.error(path, _line(source), "<< merges only mappings")
                        continue
                    for pair in self.pairs(source, path):
                        merged.setdefault(pair[0].value, pair)
            elif not isinstance(key, ScalarNode):
                self.error(path, _line(key), f"keys must be strings, got {_kind(key)}")
            elif key.value in own:
                first = _line(own[key.value][0])
                self.error(
                    _join(path, key.value),
                    _line(key),
                    f'duplicate key "{key.value}" (first at line {first})',
                )
            else:
                own[key.value] = (key, value)
        return list(own.values()) + [p for k, p in merged.items() if k not in own]

    def mapping(self, node: Node, path: str, schema: _Schema) -> dict[str, _Field] | None:
        if not isinstance(node, MappingNode):
            self.error(path, _line(node), f"expected a mapping, got {_kind(node)}")
            return None
        out: dict[str, _Field] = {}
        for key, value in self.pairs(node, path):
            item = _Field(key.value, _join(path, key.value), _line(key), value)
            name = schema.fields.get(item.key)
            if name is None:
                self.unknown(schema, item)
            elif _is_null(value):
                continue
            elif name in out:
                self.error(
                    item.path,
                    item.line,
                    f'"{item.key}" and "{out[name].key}" are the same field; give only one',
                )
            else:
                out[name] = item
        return out

    def unknown(self, schema: _Schema, item: _Field) -> None:
        if item.key in schema.ignored or schema.ignore_unknown:
            self.warn(item.path, item.line, schema.ignored_why)
        elif item.key in schema.refused:
            self.error(item.path, item.line, schema.refused[item.key])
        else:
            hint = _hint(item.key, list(schema.fields))
            self.error(item.path, item.line, f'unknown field "{item.key}"{hint}')

    def entries(self, f: _Field | None) -> list[_Field]:
        """A free-form mapping (labels, params) as fields."""
        if f is None:
            return []
        if not isinstance(f.node, MappingNode):
            self.error(f.path, _line(f.node), f"expected a mapping, got {_kind(f.node)}")
            return []
        return [
            _Field(k.value, _join(f.path, k.value), _line(k), v)
            for k, v in self.pairs(f.node, f.path)
        ]

    def items(self, f: _Field | None) -> list[_Field]:
        if f is None:
            return []
        if not isinstance(f.node, SequenceNode):
            self.error(f.path, _line(f.node), f"expected a list, got {_kind(f.node)}")
            return []
        return [_Field(f.key, f"{f.path}[{i}]", _line(n), n) for i, n in enumerate(f.node.value)]

    def text(self, f: _Field | None, *, required: bool = False) -> str | None:
        if f is None:
            return None
        if isinstance(f.node, ScalarNode) and f.node.tag in _TEXT_TAGS:
            value = str(f.node.value)
            if required and not value:
                self.error(f.path, _line(f.node), "must not be empty")
            return value
        self.error(f.path, _line(f.node), f"expected a string, got {_kind(f.node)}")
        return None

    def texts(self, f: _Field | None) -> tuple[str, ...]:
        return tuple(t for item in self.items(f) if (t := self.text(item)) is not None)

    def text_map(self, f: _Field | None) -> tuple[tuple[str, str], ...]:
        return tuple((e.key, t) for e in self.entries(f) if (t := self.text(e)) is not None)

    def choice(self, f: _Field | None, options: tuple[str, ...]) -> str | None:
        value = self.text(f)
        if f is None or value is None or value in options:
            return value
        listed = ", ".join(options)
        self.error(
            f.path, _line(f.node), f'"{value}" is not one of {listed}{_hint(value, list(options))}'
        )
        return None

    def scalar(self, f: _Field | None, tag: str, expected: str) -> object:
        if f is None:
            return None
        node = f.node
        if not (isinstance(node, ScalarNode) and node.tag == _TAG + tag):
            self.error(f.path, _line(node), f"expected {expected}, got {_kind(node)}")
            return None
        try:
            return _CONSTRUCT[tag](node)
        except (ValueError, KeyError):  # an explicit tag on a value that is not of its type
            self.error(f.path, _line(node), f'"{node.value}" is not {expected}')
            return None

    def boolean(self, f: _Field | None) -> bool | None:
        value = self.scalar(f, "bool", "a boolean")
        return value if isinstance(value, bool) else None

    def integer(self, f: _Field | None, low: int = 0, high: int = _UINT64_MAX) -> int | None:
        value = self.scalar(f, "int", "an integer")
        if f is None or not isinstance(value, int):
            return None
        if not low <= value <= high:
            self.error(f.path, _line(f.node), f"must be between {low} and {high}")
            return None
        return value

    def duration(self, f: _Field | None, what: str) -> int | None:
        text = self.text(f)
        if f is None or text is None:
            return None
        try:
            ms = parse_duration(text)
        except DurationError as exc:
            self.error(f.path, _line(f.node), str(exc))
            return None
        if ms == 0:
            self.error(f.path, _line(f.node), f"{what} cannot be 0")
            return None
        return ms


# --- the parser: model values out of the reader ---------------------------------------------


@dataclass(frozen=True, slots=True)
class _Defaults:
    interval_ms: int = DEFAULT_INTERVAL_MS
    path: str = DEFAULT_PATH


class _Parser(_Reader):
    """Builds the model values, one method per model type."""

    def document(self, root: Node) -> tuple[bool, list[Target], frozenset[str]]:
        layout_a = isinstance(root, MappingNode) and any(
            isinstance(k, ScalarNode) and k.value == "features" for k, _ in root.value
        )
        top = self.mapping(root, "", _LAYOUT_A if layout_a else _LAYOUT_B)
        if top is None:
            return True, [], frozenset()
        body = self.open_agent(top.get("features"), root) if layout_a else top
        glob = self.mapping(top["global"].node, "global", _GLOBAL) if "global" in top else None
        fallback = self.duration((glob or {}).get("scrape_interval"), "scrape interval")
        if body is None:
            return True, [], frozenset()
        interval = self.duration(body.get("scrapingInterval"), "scrape interval")
        defaults = _Defaults(
            interval or fallback or DEFAULT_INTERVAL_MS,
            self.text(body.get("globalPath")) or DEFAULT_PATH,
        )
        enabled = self.boolean(body.get("enabled")) is not False
        targets, rejected = self.targets(body.get("targets"), defaults)
        return enabled, targets, rejected

    def open_agent(self, features: _Field | None, root: Node) -> dict[str, _Field] | None:
        if features is None:
            self.error("features", _line(root), 'expected a mapping holding "openAgent"')
            return None
        found = self.mapping(features.node, features.path, _FEATURES)
        if found is None:
            return None
        if "openAgent" not in found:
            self.error(features.path, features.line, 'missing field "openAgent"')
            return None
        agent = found["openAgent"]
        return self.mapping(agent.node, agent.path, _OPEN_AGENT)

    def targets(self, f: _Field | None, defaults: _Defaults) -> tuple[list[Target], frozenset[str]]:
        parsed = []
        for item in self.items(f):
            self.target = _peek_name(item.node)
            parsed.append((item, *self.target_(item, defaults)))
        lines: dict[str, list[int]] = {}
        for _, name, line, _ in parsed:
            if name:
                lines.setdefault(name, []).append(line)
        good, rejected = [], set()
        for item, name, line, target in parsed:
            self.target = name
            if name and len(lines[name]) > 1:
                others = lines[name][:]
                others.remove(line)
                self.error(
                    _join(item.path, "targetName"),
                    line,
                    f'duplicate targetName "{name}" (also at line {", ".join(map(str, others))})',
                )
            elif target is not None:
                good.append(target)
                continue
            if name:
                rejected.add(name)
        self.target = None
        return good, frozenset(rejected)

    def target_(self, item: _Field, defaults: _Defaults) -> tuple[str | None, int, Target | None]:
        errors = self.errors
        f = self.mapping(item.node, item.path, _TARGET)
        if f is None:
            return None, item.line, None
        name = self.text(f.get("targetName"), required=True)
        self.target = name or None
        kind = self.choice(f.get("type"), tuple(t.value for t in TargetType))
        for required in ("targetName", "type", "endpoints"):
            if required not in f:
                self.error(item.path, item.line, f'missing field "{required}"')
        target_type = TargetType(kind) if kind else None
        enabled = self.boolean(f.get("enabled"))
        selector = self.label_selector(f.get("selector"))
        namespaces = self.namespace_selector(f.get("namespaceSelector"))
        self.check_selectors(f, item, target_type)
        relabelings = self.rules(f.get("relabelConfigs"))
        legacy = self.legacy_metric_rules(f.get("metricRelabelConfigs"))
        endpoints = [
            self.endpoint(e, target_type, defaults, legacy) for e in self.items(f.get("endpoints"))
        ]
        if "endpoints" in f and isinstance(f["endpoints"].node, SequenceNode) and not endpoints:
            self.error(
                f["endpoints"].path, f["endpoints"].line, "at least one endpoint is required"
            )
        line = f["targetName"].line if "targetName" in f else item.line
        if self.errors != errors or not name or target_type is None:
            return name or None, line, None
        return (
            name,
            line,
            Target(
                name,
                target_type,
                tuple(e for e in endpoints if e),
                enabled is not False,
                namespaces,
                selector,
                relabelings,
            ),
        )

    def check_selectors(self, f: dict[str, _Field], item: _Field, kind: TargetType | None) -> None:
        if kind is TargetType.STATIC_ENDPOINTS:
            for key in ("selector", "namespaceSelector"):
                if key in f:
                    self.warn(f[key].path, f[key].line, "StaticEndpoints select nothing; ignored")
        elif kind is not None and "selector" not in f:
            self.error(
                item.path, item.line, f'missing field "selector" (required for {kind.value})'
            )

    def legacy_metric_rules(self, f: _Field | None) -> tuple[RelabelRule, ...]:
        if f is not None:
            self.warn(
                f.path,
                f.line,
                "deprecated: target-level metric relabeling applies to every "
                "endpoint (before the endpoint's own rules); move it into the endpoints",
            )
        return self.rules(f)

    def endpoint(
        self,
        item: _Field,
        kind: TargetType | None,
        defaults: _Defaults,
        legacy: tuple[RelabelRule, ...],
    ) -> Endpoint | None:
        f = self.mapping(item.node, item.path, _ENDPOINT)
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
            scheme=self.choice(f.get("scheme"), ("http", "https")),
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

    def check_endpoint_keys(self, f: dict[str, _Field], item: _Field, kind: TargetType) -> None:
        required, invalid = _ENDPOINT_KEYS[kind]
        for key in invalid:
            if key in f:
                self.error(f[key].path, f[key].line, f'"{key}" does not apply to {kind.value}')
        if not any(key in f for key in required):
            names = " or ".join(f'"{key}"' for key in required)
            self.error(item.path, item.line, f"missing field {names} (required for {kind.value})")

    def port(self, f: _Field | None) -> str | None:
        if f is not None and isinstance(f.node, ScalarNode) and f.node.tag == _TAG + "int":
            number = self.integer(f, 1, 65535)
            return None if number is None else str(number)
        return self.text(f, required=True)

    def addresses(self, f: dict[str, _Field]) -> tuple[str, ...]:
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
                    _line(item.node),
                    f'"{address}" is not a valid host:port '
                    "address (scheme and path are separate fields)",
                )
            elif address:
                out.append(address)
        return tuple(out)

    def params(self, f: _Field | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
        out = []
        for entry in self.entries(f):
            if isinstance(entry.node, SequenceNode):
                out.append((entry.key, self.texts(entry)))
            elif (value := self.text(entry)) is not None:
                out.append((entry.key, (value,)))
        return tuple(sorted(out))

    def tls(self, f: _Field | None) -> TLSConfig | None:
        m = self.mapping(f.node, f.path, _TLS) if f else None
        if m is None:
            return None
        cert, key = m.get("certFile"), m.get("keyFile")
        lone = cert if key is None else key if cert is None else None
        if lone is not None:
            self.error(lone.path, lone.line, "certFile and keyFile must be given together")
        return TLSConfig(
            insecure_skip_verify=bool(self.boolean(m.get("insecureSkipVerify"))),
            server_name=self.text(m.get("serverName")) or "",
            ca_file=self.text(m.get("caFile"), required=True) or "",
            cert_file=self.text(cert, required=True) or "",
            key_file=self.text(key, required=True) or "",
        )

    def auth(self, f: dict[str, _Field]) -> tuple[Authorization | None, BasicAuth | None]:
        given = [f[k] for k in ("authorization", "bearerTokenFile", "basicAuth") if k in f]
        for extra in given[1:]:
            self.error(
                extra.path,
                extra.line,
                'give only one of "authorization", "bearerTokenFile" and "basicAuth"',
            )
        authorization = self.authorization(f.get("authorization"))
        if token_file := self.text(f.get("bearerTokenFile"), required=True):
            authorization = Authorization("Bearer", token_file)
        return authorization, self.basic_auth(f.get("basicAuth"))

    def authorization(self, f: _Field | None) -> Authorization | None:
        m = self.mapping(f.node, f.path, _AUTHORIZATION) if f else None
        if f is None or m is None:
            return None
        kind = self.text(m.get("type"), required=True) or "Bearer"
        if kind.lower() == "basic":
            self.error(
                m["type"].path,
                m["type"].line,
                'authorization type cannot be "Basic"; use basicAuth instead',
            )
        if "credentialsFile" not in m:
            self.error(f.path, f.line, 'missing field "credentialsFile"')
        return Authorization(kind, self.text(m.get("credentialsFile"), required=True) or "")

    def basic_auth(self, f: _Field | None) -> BasicAuth | None:
        m = self.mapping(f.node, f.path, _BASIC_AUTH) if f else None
        if m is None:
            return None
        user = m.get("username")
        if user is not None and isinstance(user.node, MappingNode):
            self.error(
                user.path,
                user.line,
                "Secret references are not supported (sdgen does "
                "not materialise Secrets): write the username as text",
            )
            user = None
        return BasicAuth(
            self.text(user) or "", self.text(m.get("passwordFile"), required=True) or ""
        )

    def rules(self, f: _Field | None) -> tuple[RelabelRule, ...]:
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

    def rule(self, m: dict[str, _Field]) -> RelabelRule:
        values: dict[str, Any] = {}
        for name in ("separator", "target_label", "regex", "replacement", "action"):
            if (text := self.text(m.get(name))) is not None:
                values[name] = text.lower() if name == "action" else text
        if "source_labels" in m:
            values["source_labels"] = self.texts(m["source_labels"])
        if (modulus := self.integer(m.get("modulus"))) is not None:
            values["modulus"] = modulus
        return replace(RelabelRule(), **values)

    def label_selector(self, f: _Field | None) -> LabelSelector | None:
        m = self.mapping(f.node, f.path, _SELECTOR) if f else None
        return None if m is None else self.selector_of(m)

    def selector_of(self, m: dict[str, _Field]) -> LabelSelector:
        requirements = [self.requirement(e) for e in self.items(m.get("matchExpressions"))]
        return LabelSelector(
            self.text_map(m.get("matchLabels")), tuple(r for r in requirements if r is not None)
        )

    def namespace_selector(self, f: _Field | None) -> NamespaceSelector | None:
        m = self.mapping(f.node, f.path, _NAMESPACE_SELECTOR) if f else None
        if m is None:
            return None
        labels = self.selector_of(m) if "matchLabels" in m or "matchExpressions" in m else None
        selector = NamespaceSelector(
            bool(self.boolean(m.get("any"))), self.texts(m.get("matchNames")), labels
        )
        # Like the Prometheus Operator: an empty selector means the ConfigMap's own namespace.
        return None if selector == NamespaceSelector() else selector

    def requirement(self, item: _Field) -> Requirement | None:
        m = self.mapping(item.node, item.path, _REQUIREMENT)
        if m is None:
            return None
        key = self.text(m.get("key"), required=True)
        operator = self.choice(m.get("operator"), OPERATORS)
        for required in ("key", "operator"):
            if required not in m:
                self.error(item.path, item.line, f'missing field "{required}"')
        values = self.texts(m.get("values"))
        where = m.get("values", item)
        if operator in ("In", "NotIn") and not values:
            self.error(where.path, where.line, f"values must not be empty for operator {operator}")
        elif operator in ("Exists", "DoesNotExist") and values:
            self.error(where.path, where.line, f"values must be empty for operator {operator}")
        if not key or operator is None:
            return None
        return Requirement(key, operator, values)


_ADDRESS = re.compile(r"[^\s/]+")
# Prometheus rejects these keys when written out, even with their default value (it compares
# a compiled regex by pointer and a list against nil); a RelabelRule can no longer tell.
_WRITTEN_DEFAULTS = {
    "keepequal": ("regex", "'source_labels' and `target_label`"),
    "dropequal": ("regex", "'source_labels' and `target_label`"),
    "labeldrop": ("source_labels", "'regex'"),
    "labelkeep": ("source_labels", "'regex'"),
}


def _check_written_defaults(m: Mapping[str, _Field], action: str) -> None:
    key, allowed = _WRITTEN_DEFAULTS.get(action, ("", ""))
    if key in m:
        raise RelabelError(key, f"{action} action requires only {allowed}, and no other fields")


def _peek_name(node: Node) -> str | None:
    """The targetName written in a target mapping, before the target is parsed: problems found
    while parsing it belong to that target."""
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if (
                isinstance(key, ScalarNode)
                and key.value == "targetName"
                and isinstance(value, ScalarNode)
                and value.tag in _TEXT_TAGS
                and value.value
            ):
                return str(value.value)
    return None


def parse_config(text: str, *, source: str = "<config>") -> Config:
    """Parse a scrape config (either layout) into a Config; never raises.

    Targets with errors are left out and named in `rejected`; `usable` is False when an error
    outside one named target means the config as a whole cannot be trusted. Issue lines are
    1-based lines of `text`. `source` only names the text in an internal-error message.
    """
    parser = _Parser()
    enabled, rejected = True, frozenset[str]()
    targets: list[Target] = []
    try:
        root = parser.compose(text)
        if root is not None:
            enabled, targets, rejected = parser.document(root)
    except RecursionError:
        parser.target = None
        parser.error("", None, "the document is nested too deeply")
    except Exception as exc:  # a bug in sdgen: still an issue, because callers rely on no raise
        parser.target = None
        parser.error("", None, f"internal error while parsing {source}: {exc!r}")
    issues = tuple(sorted(parser.issues, key=lambda i: (i.line or 0, i.path)))
    return Config(enabled, tuple(targets), rejected, issues, usable=not parser.document_errors)


# --- ConfigMap manifests ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmbeddedConfig:
    """A config text held by a ConfigMap in a manifest file, with the way back to its lines."""

    configmap: str  # "namespace/name", or "name" when the manifest gives no namespace
    key: str
    text: str
    key_line: int  # manifest line of the data key
    first_line: int | None  # manifest line of the text's first line; None unless a `|` block

    def manifest_line(self, line: int | None) -> int:
        """Map a line of `text` to the manifest (the key's line when that is not possible)."""
        if line is None or self.first_line is None:
            return self.key_line
        return self.first_line + line - 1

    def parse(self) -> Config:
        """parse_config on the text, with issue lines relative to the manifest."""
        config = parse_config(self.text, source=f"ConfigMap {self.configmap}")
        issues = tuple(replace(i, line=self.manifest_line(i.line)) for i in config.issues)
        return replace(config, issues=issues)


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a YAML file holds: the ConfigMaps carrying the config key, how many Kubernetes
    objects (documents with a `kind`), the top-level keys of the other documents, and issues."""

    configs: tuple[EmbeddedConfig, ...] = ()
    objects: int = 0
    plain_keys: frozenset[str] = frozenset()
    issues: tuple[Issue, ...] = ()


def load_configmap_key(text: str, key: str = DEFAULT_KEY) -> Manifest:
    """Find the ConfigMaps in a (multi-document) manifest whose `data` holds `key`."""
    try:
        documents = list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.YAMLError as exc:
        line, message = _yaml_error(exc)
        return Manifest(issues=(Issue("", message, line),))
    except RecursionError:
        return Manifest(issues=(Issue("", "the document is nested too deeply"),))
    configs: list[EmbeddedConfig] = []
    issues: list[Issue] = []
    plain: set[str] = set()
    objects, seen = 0, set[int]()
    while documents:
        document = documents.pop(0)
        if id(document) in seen:  # an alias: each object once, whatever the aliases say
            continue
        seen.add(id(document))
        top = _own_entries(document)
        kind = _scalar_text(top["kind"][1]) if "kind" in top else None
        if kind is None:
            plain.update(top)
            continue
        objects += 1
        if kind == "List" and isinstance(items := top.get("items", (None, None))[1], SequenceNode):
            documents.extend(items.value)  # `kubectl get -o yaml` output
        elif kind == "ConfigMap":
            found = _embedded(top, key)
            if isinstance(found, EmbeddedConfig):
                configs.append(found)
            elif found is not None:
                issues.append(found)
    return Manifest(tuple(configs), objects, frozenset(plain), tuple(issues))


def _embedded(top: Mapping[str, tuple[Node, Node]], key: str) -> EmbeddedConfig | Issue | None:
    entry = _own_entries(top["data"][1]).get(key) if "data" in top else None
    if entry is None:
        return None
    key_node, value = entry
    if not (isinstance(value, ScalarNode) and value.tag == _TAG + "str"):
        return Issue(_join("data", key), f"expected a string, got {_kind(value)}", _line(key_node))
    first = _line(value) + 1 if value.style == "|" else None
    return EmbeddedConfig(_configmap_name(top), key, str(value.value), _line(key_node), first)


def _own_entries(node: Node | None) -> dict[str, tuple[Node, Node]]:
    if not isinstance(node, MappingNode):
        return {}
    return {str(k.value): (k, v) for k, v in node.value if isinstance(k, ScalarNode)}


def _scalar_text(node: Node) -> str | None:
    return str(node.value) if isinstance(node, ScalarNode) else None


def _configmap_name(top: Mapping[str, tuple[Node, Node]]) -> str:
    meta = _own_entries(top["metadata"][1]) if "metadata" in top else {}
    name, namespace = (
        _scalar_text(meta[k][1]) if k in meta else None for k in ("name", "namespace")
    )
    return f"{namespace}/{name}" if namespace else str(name or "")
