"""Parse the scrape config (docs/configuration.md) into `model` values, every problem located.

People edit this file by hand in GitOps repositories and `sdgen check` runs on every pull
request, so each problem carries the field path as the user spelled it and its source line,
and one bad target never hides the good ones. The parser walks the YAML node graph
(`yaml.compose` with the safe loader; nothing is ever constructed from tags) because only
nodes keep their line numbers. `parse_config` never raises: everything becomes an `Issue`.

The parser is one `Reader` (sdgen.config.reader: typed fields, their paths, the issues) handed
to one function per section: this module reads the layout, the defaults and the target list,
sdgen.config.target one target, sdgen.config.endpoint one endpoint, sdgen.config.auth its TLS
and credentials, sdgen.config.rules relabel rules, sdgen.config.selectors label selectors.
Composing the YAML safely is sdgen.config.yamlnode's job; finding a config inside a ConfigMap
manifest is sdgen.config.manifest's.

Decisions the formats leave open (docs/configuration.md repeats them):
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

from collections.abc import Callable, Mapping
from functools import partial
from types import MappingProxyType
from typing import NamedTuple

from yaml.nodes import MappingNode, Node, ScalarNode

from sdgen import without_cycle_collection
from sdgen.config.endpoint import AGENT_SETTING, Defaults
from sdgen.config.model import DEFAULT_INTERVAL_MS, DEFAULT_PATH, Config, Locations, Target
from sdgen.config.reader import Reader, schema
from sdgen.config.target import ParsedTarget, parse_target
from sdgen.config.yamlnode import Field, join_path, line_of

__all__ = ["FilePrefix", "ParseItem", "parse_config", "read_config"]

# Reads one item of the target list (sdgen.config.target.parse_target with its permissions
# bound); sdgen.config.incremental passes one that reuses unchanged targets.
ParseItem = Callable[[Reader, Field, Defaults], ParsedTarget]
# The prefix of every file a target name gets (sdgen.output.naming.target_prefix, passed in
# by the layers above: file names are output's business): two targets with one prefix would
# write the same files, and the later one is rejected.
FilePrefix = Callable[[str], str]

_BODY = "enabled scrapingInterval|globalInterval globalPath targets"
_UNDER_FEATURES = "in this layout this field belongs under features.openAgent"
_LAYOUT_A = schema(
    "global features", refused=dict.fromkeys(_BODY.replace("|", " ").split(), _UNDER_FEATURES)
)
_LAYOUT_B = schema("global " + _BODY)
_FEATURES = schema(
    "openAgent", ignored_why="sdgen reads only features.openAgent; ignored", ignore_unknown=True
)
# openAgent deployment settings (the WhatapAgent CRD's features.openAgent): not scrape config.
_OPEN_AGENT = schema(
    _BODY,
    ignored="imageName imageVersion annotations labels podAnnotations "
    "podLabels envs tolerations resources nodeSelector affinity",
    ignored_why=AGENT_SETTING,
)
# Prometheus `global` settings a scrape-config file cannot change: warned about, not refused.
_GLOBAL = schema(
    "scrape_interval",
    ignored="scrape_timeout evaluation_interval "
    "rule_query_offset external_labels query_log_file scrape_failure_log_file "
    "scrape_protocols body_size_limit sample_limit target_limit label_limit "
    "label_name_length_limit label_value_length_limit keep_dropped_targets "
    "metric_name_validation_scheme",
    ignored_why="a Prometheus global setting a scrape config cannot change; ignored",
)


class _Document(NamedTuple):
    """What a document says, before it becomes a Config."""

    enabled: bool = True
    targets: tuple[Target, ...] = ()
    rejected: frozenset[str] = frozenset()
    paths: Mapping[str, str] = MappingProxyType({})  # a good target's name → its path


def parse_config(
    text: str,
    *,
    source: str = "<config>",
    allow_secrets: bool = False,
    file_prefix: FilePrefix | None = None,
    allowed_files: tuple[str, ...] | None = None,
) -> Config:
    """Parse a scrape config (either layout) into a Config; never raises.

    Targets with errors are left out and named in `rejected`; `usable` is False when an error
    outside one named target means the config as a whole cannot be trusted. Issue lines are
    1-based lines of `text`. `source` only names the text in an internal-error message.
    `allow_secrets` (--materialize-secrets) accepts Secret references instead of refusing them.
    `file_prefix`: see FilePrefix; without it, file names are not checked. `allowed_files`
    (--allowed-file-prefixes): the directories whose files credentials may name; None: any,
    each with a warning (sdgen.config.filepaths).
    """
    reader = Reader(allowed_files)
    parse_item = partial(parse_target, secrets=allow_secrets)
    with without_cycle_collection():  # a node per YAML value: a large config has many
        return read_config(reader, lambda: reader.compose(text), source, parse_item, file_prefix)


def read_config(
    reader: Reader,
    compose: Callable[[], Node | None],
    source: str,
    parse_item: ParseItem,
    file_prefix: FilePrefix | None = None,
) -> Config:
    """The Config of the document `compose` returns (None: it could not, and said why in
    `reader`), its target list's items read by `parse_item`; never raises."""
    document = _Document()
    try:
        root = compose()
        if root is not None:
            document = _document(reader, root, parse_item, file_prefix)
    except RecursionError:
        reader.error("", None, "the document is nested too deeply")
    except Exception as exc:  # a bug in sdgen: still an issue, because callers rely on no raise
        reader.error("", None, f"internal error while parsing {source}: {exc!r}")
    issues = tuple(sorted(reader.issues, key=lambda i: (i.line or 0, i.path)))
    return Config(
        document.enabled,
        document.targets,
        document.rejected,
        issues,
        usable=not reader.document_errors,
        locations=Locations(document.paths, reader.fields),
    )


def _document(
    reader: Reader, root: Node, parse_item: ParseItem, file_prefix: FilePrefix | None
) -> _Document:
    layout_a = isinstance(root, MappingNode) and any(
        isinstance(k, ScalarNode) and k.value == "features" for k, _ in root.value
    )
    top = reader.mapping(root, "", _LAYOUT_A if layout_a else _LAYOUT_B)
    if top is None:
        return _Document()
    body = _open_agent(reader, top.get("features"), root) if layout_a else top
    fallback = _global_interval(reader, top.get("global"))
    if body is None:
        return _Document()
    defaults = Defaults(
        reader.duration(body.get("scrapingInterval"), "scrape interval")
        or fallback
        or DEFAULT_INTERVAL_MS,
        reader.text(body.get("globalPath")) or DEFAULT_PATH,
    )
    enabled = reader.boolean(body.get("enabled")) is not False
    found = _targets(reader, body.get("targets"), defaults, parse_item, file_prefix)
    return _Document(enabled, *found)


def _open_agent(reader: Reader, features: Field | None, root: Node) -> dict[str, Field] | None:
    """Layout A's body: the mapping at features.openAgent."""
    if features is None:
        reader.error("features", line_of(root), 'expected a mapping holding "openAgent"')
        return None
    found = reader.mapping(features.node, features.path, _FEATURES)
    if found is None:
        return None
    if "openAgent" not in found:
        reader.error(features.path, features.line, 'missing field "openAgent"')
        return None
    agent = found["openAgent"]
    return reader.mapping(agent.node, agent.path, _OPEN_AGENT)


def _global_interval(reader: Reader, glob: Field | None) -> int | None:
    """Prometheus's global scrape_interval, the fallback for a config that gives none."""
    settings = reader.mapping(glob.node, "global", _GLOBAL) if glob else None
    return reader.duration((settings or {}).get("scrape_interval"), "scrape interval")


def _targets(
    reader: Reader,
    f: Field | None,
    defaults: Defaults,
    parse_item: ParseItem,
    file_prefix: FilePrefix | None,
) -> tuple[tuple[Target, ...], frozenset[str], dict[str, str]]:
    """The good targets, and the names of the rejected ones: those with an error, every
    target of a name given more than once, and a target whose files would be another's."""
    parsed = [(item, parse_item(reader, item, defaults)) for item in reader.items(f)]
    lines = _lines_by_name([p for _, p in parsed])
    owners: dict[str, tuple[str, int]] = {}  # file prefix → the first target with it, its line
    good, rejected, paths = [], set(), {}
    for item, (name, line, target) in parsed:
        where = join_path(item.path, "targetName")
        if name and len(lines[name]) > 1:
            others = lines[name][:]
            others.remove(line)  # one: two targets may share a line (a flow-style list)
            with reader.target(name):
                reader.error(
                    where,
                    line,
                    f'duplicate targetName "{name}" (also at line {", ".join(map(str, others))})',
                )
        elif name and file_prefix and (owner := _claim(owners, file_prefix(name), name, line)):
            with reader.target(name):
                reader.error(
                    where,
                    line,
                    f'target "{name}" would write the same files as target "{owner[0]}" '
                    f"(line {owner[1]}); rename one of them",
                )
        elif target is not None:
            good.append(target)
            paths[target.name] = item.path
            continue
        if name:
            rejected.add(name)
    return tuple(good), frozenset(rejected), paths


def _claim(
    owners: dict[str, tuple[str, int]], prefix: str, name: str, line: int
) -> tuple[str, int] | None:
    """The earlier target owning `prefix`, or None after making `name` its owner. A 128-bit
    hash makes this unreachable in practice; should names ever clash, the earlier target
    keeps its files and the later one is a located error, not a failing render."""
    owner = owners.setdefault(prefix, (name, line))
    return owner if owner[0] != name else None


def _lines_by_name(parsed: list[ParsedTarget]) -> dict[str, list[int]]:
    lines: dict[str, list[int]] = {}
    for name, line, _ in parsed:
        if name:
            lines.setdefault(name, []).append(line)
    return lines
