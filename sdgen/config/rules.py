"""Parse relabel rules (a target's relabelConfigs, an endpoint's relabelings and metric
relabelings) and compile each one now, so that a rule Prometheus would reject is reported
with the line of the field at fault instead of failing Prometheus's reload later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sdgen.config.reader import Reader, schema
from sdgen.config.yamlnode import Field
from sdgen.prom.relabel import RelabelError, RelabelRule, compile_rule

_RULE = schema(
    "source_labels|sourceLabels separator target_label|targetLabel regex modulus replacement action"
)
# Prometheus rejects these keys when written out, even with their default value (it compares
# a compiled regex by pointer and a list against nil); a RelabelRule can no longer tell.
_WRITTEN_DEFAULTS = {
    "keepequal": ("regex", "'source_labels' and `target_label`"),
    "dropequal": ("regex", "'source_labels' and `target_label`"),
    "labeldrop": ("source_labels", "'regex'"),
    "labelkeep": ("source_labels", "'regex'"),
}


def relabel_rules(reader: Reader, f: Field | None) -> tuple[RelabelRule, ...]:
    """The valid rules of the list `f`; each invalid one is an issue and left out."""
    out = []
    for item in reader.items(f):
        errors = reader.errors
        m = reader.mapping(item.node, item.path, _RULE)
        if m is None:
            continue
        rule = _rule(reader, m)
        if reader.errors != errors:  # a field of the rule was unreadable
            continue
        try:
            compile_rule(rule)
            _check_written_defaults(m, rule.action)
        except RelabelError as exc:
            where = m.get(exc.field, item)
            reader.error(where.path, where.line, exc.message)
            continue
        out.append(rule)
    return tuple(out)


def _rule(reader: Reader, m: dict[str, Field]) -> RelabelRule:
    values: dict[str, Any] = {}
    for name in ("separator", "target_label", "regex", "replacement", "action"):
        if (text := reader.text(m.get(name))) is not None:
            values[name] = text.lower() if name == "action" else text
    if "source_labels" in m:
        values["source_labels"] = reader.texts(m["source_labels"])
    if (modulus := reader.integer(m.get("modulus"))) is not None:
        values["modulus"] = modulus
    return replace(RelabelRule(), **values)


def _check_written_defaults(m: Mapping[str, Field], action: str) -> None:
    key, allowed = _WRITTEN_DEFAULTS.get(action, ("", ""))
    if key in m:
        raise RelabelError(key, f"{action} action requires only {allowed}, and no other fields")
