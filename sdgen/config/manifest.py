"""Find the scrape config inside Kubernetes manifests: the ConfigMaps that hold the key.

`sdgen check` runs on GitOps repositories, where the config usually sits in a ConfigMap
manifest (or `kubectl get -o yaml` output) rather than a file of its own. This module finds
those ConfigMaps and keeps the way back from a line of the embedded text to the manifest's
line, so problems point at the file the user edits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sdgen.config.document import FilePrefix, parse_config
from sdgen.config.model import DEFAULT_KEY, Config, Issue
from sdgen.config.yamlnode import LOADER, TAG, join_path, kind_of, line_of, yaml_error


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

    def parse(
        self,
        *,
        allow_secrets: bool = False,
        file_prefix: FilePrefix | None = None,
        allowed_files: tuple[str, ...] | None = None,
    ) -> Config:
        """parse_config on the text, with issue lines relative to the manifest."""
        config = parse_config(
            self.text,
            source=f"ConfigMap {self.configmap}",
            allow_secrets=allow_secrets,
            file_prefix=file_prefix,
            allowed_files=allowed_files,
        )
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
        documents = list(yaml.compose_all(text, Loader=LOADER))
    except yaml.YAMLError as exc:
        line, message = yaml_error(exc, text)
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
    if not (isinstance(value, ScalarNode) and value.tag == TAG + "str"):
        return Issue(
            join_path("data", key), f"expected a string, got {kind_of(value)}", line_of(key_node)
        )
    first = line_of(value) + 1 if value.style == "|" else None
    return EmbeddedConfig(_configmap_name(top), key, str(value.value), line_of(key_node), first)


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
