"""Prometheus relabelling, exactly: validation once, then a pure switch on the action.

Users paste relabel rules written for Prometheus, so every observable detail follows
Prometheus 3.x (`model/relabel/relabel.go`): the actions and defaults, regexes anchored as
`^(?s:<regex>)$` and run by RE2 (Go's regexp dialect), Go `regexp.Expand` templates, UTF-8
label-name validity, and the validation messages `promtool check config` prints.

Deliberate choices and known gaps:
* A label with an empty value is a missing label, as in Prometheus: such input labels are
  dropped, and setting a label to "" deletes it.
* `labelmap` mapping two labels with different values to one name is resolved
  deterministically (source labels in sorted order, the last wins, as the design asks) and
  reported via `warn`; Prometheus 3.5 picks by its own label order (discovered labels first,
  then the ones it adds), so the two may differ on such a collision.
* A `RelabelRule` cannot tell a default from the same value written out, so an explicit
  `regex: (.*)` on keepequal/dropequal, or `source_labels: []` on labeldrop/labelkeep (both
  rejected by Prometheus) pass here; the config parser can reject them where it still knows.

The Go half lives beside this module, so this one reads like relabel.go: `sdgen.goregex`
(Go's regexp dialect, error messages and Expand, on RE2), `sdgen.gocase` (Go's per-rune case
mapping) and `sdgen.duration.go_quote` (Go's %q, for messages).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from sdgen.prom.duration import go_quote
from sdgen.prom.gocase import go_lower, go_upper
from sdgen.prom.goregex import GoRegexp, Groups, RegexError, Template

ACTIONS: tuple[str, ...] = (
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
)


@dataclass(frozen=True, slots=True)
class RelabelRule:
    """A Prometheus relabel_config exactly as written, Prometheus's defaults filled in.

    `compile_rule` validates it the way Prometheus does and compiles the regex once.
    """

    source_labels: tuple[str, ...] = ()
    separator: str = ";"
    target_label: str = ""
    regex: str = "(.*)"
    modulus: int = 0
    replacement: str = "$1"
    action: str = "replace"


_DEFAULT = RelabelRule()
_NEEDS_TARGET = frozenset(
    {"replace", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal"}
)
_NO_REPLACEMENT = frozenset({"lowercase", "uppercase", "keepequal", "dropequal"})
_MEMO_LIMIT = 1024  # label names and many values repeat across targets; bound the memory

Warn = Callable[[int, str], None]  # (rule index, message)


class RelabelError(ValueError):
    """One rule failed validation; `message` is Prometheus's wording, `field` the key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# --- regexes -------------------------------------------------------------------------------


class _Regex:
    """A relabel regex: anchored as Prometheus anchors it, then run as Go's regexp. `groups`
    and `matches` remember recent texts: label names and most values repeat across targets,
    and a cache hit is ~20x cheaper than RE2."""

    groups: Callable[[str], Groups | None]
    matches: Callable[[str], bool]

    def __init__(self, pattern: str) -> None:
        try:
            regexp = GoRegexp(f"^(?s:{pattern})$")  # concatenated like Prometheus, not parsed
        except RegexError as error:
            raise RelabelError("regex", str(error)) from None
        self.names = regexp.names
        if pattern == _DEFAULT.regex:  # `(.*)` matches anything; group 1 is the text
            self.groups, self.matches = (lambda text: (text, text)), (lambda text: True)
        else:
            self.groups = lru_cache(maxsize=_MEMO_LIMIT)(regexp.match)
            self.matches = lru_cache(maxsize=_MEMO_LIMIT)(
                lambda text: regexp.match(text) is not None
            )


# --- validation ----------------------------------------------------------------------------


def _valid_name(name: str) -> bool:
    """Prometheus 3's (UTF-8) label-name rule: non-empty, valid UTF-8."""
    if name.isascii():
        return name != ""
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def _validate(rule: RelabelRule, action: str) -> None:
    """Prometheus's checks, in Prometheus's order (relabel.go Config.Validate)."""
    target = rule.target_label
    if not 0 <= rule.modulus < 1 << 64:
        raise RelabelError("modulus", f"cannot unmarshal !!int `{rule.modulus}` into uint64")
    if action == "hashmod" and rule.modulus == 0:
        raise RelabelError("modulus", "relabel configuration for hashmod requires non-zero modulus")
    if action in _NEEDS_TARGET and target == "":
        raise RelabelError(
            "target_label",
            f"relabel configuration for {action} action requires 'target_label' value",
        )
    if action in _NEEDS_TARGET and not _valid_name(target):
        message = f"{go_quote(target)} is invalid 'target_label' for {action} action"
        raise RelabelError("target_label", message)
    if action in _NO_REPLACEMENT and rule.replacement != _DEFAULT.replacement:
        raise RelabelError("replacement", f"'replacement' can not be set for {action} action")
    if action == "labelmap" and not _valid_name(rule.replacement):
        raise RelabelError(
            "replacement",
            f"{go_quote(rule.replacement)} is invalid 'replacement' for {action} action",
        )
    if action in ("keepequal", "dropequal"):
        _only(rule, action, ("regex", "modulus", "separator", "replacement"))
    if action in ("labeldrop", "labelkeep"):
        _only(
            rule, action, ("source_labels", "target_label", "modulus", "separator", "replacement")
        )


def _only(rule: RelabelRule, action: str, forbidden: tuple[str, ...]) -> None:
    allowed = "'source_labels' and `target_label`" if action.endswith("equal") else "'regex'"
    for key in forbidden:
        if getattr(rule, key) != getattr(_DEFAULT, key):
            raise RelabelError(key, f"{action} action requires only {allowed}, and no other fields")


# --- compiled rules and the switch ---------------------------------------------------------


@dataclass(frozen=True)
class CompiledRule:
    """A validated rule with its regex compiled and its templates parsed once."""

    rule: RelabelRule
    action: str = field(compare=False)
    regex: _Regex = field(compare=False, repr=False)
    target: Template = field(compare=False, repr=False)
    replacement: Template = field(compare=False, repr=False)
    # labelmap/labeldrop/labelkeep: what to do for a set of label names (see _name_plan)
    plan: Callable[[tuple[str, ...]], tuple[tuple[str, str], ...]] = field(
        compare=False, repr=False
    )
    # a replace that sets a label to another's value, as most do: (source, target)
    copy: tuple[str, str] | None = field(default=None, compare=False, repr=False)


def compile_rule(rule: RelabelRule) -> CompiledRule:
    """Validate `rule` as Prometheus does when loading a config; raise RelabelError."""
    action = rule.action.lower()  # Prometheus accepts any case
    if action not in ACTIONS:
        raise RelabelError("action", f"unknown relabel action {go_quote(rule.action)}")
    for name in rule.source_labels:
        if not _valid_name(name):
            raise RelabelError("source_labels", f"{go_quote(name)} is not a valid label name")
    regex = _Regex(rule.regex)
    _validate(rule, action)
    replacement = Template.parse(rule.replacement, regex.names)
    target = Template.parse(rule.target_label, regex.names)
    return CompiledRule(
        rule=rule,
        action=action,
        regex=regex,
        target=target,
        replacement=replacement,
        plan=_name_plan(action, regex, replacement),
        copy=_copy(rule, action, target),
    )


def _copy(rule: RelabelRule, action: str, target: Template) -> tuple[str, str] | None:
    """(source, target) when `rule` just copies one label's value: a replace of one source
    label with the default regex (it matches anything) and replacement `$1` into a plain,
    valid target label."""
    plain = action == "replace" and len(rule.source_labels) == 1
    plain = plain and (rule.regex, rule.replacement) == (_DEFAULT.regex, _DEFAULT.replacement)
    if not plain or target.literal is None or not _valid_name(target.literal):
        return None
    return rule.source_labels[0], target.literal


def _name_plan(
    action: str, regex: _Regex, replacement: Template
) -> Callable[[tuple[str, ...]], tuple[tuple[str, str], ...]]:
    """The (label, new name) pairs a label-name action acts on, given all label names.

    labelmap: the matching labels and their new names, sorted by label (so the last of
    colliding sources wins deterministically); labeldrop/labelkeep: the labels to delete.
    Targets of one job share their label names, so the answer is remembered per name set.
    """

    @lru_cache(maxsize=_MEMO_LIMIT)
    def plan(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
        if action == "labelmap":
            found = ((n, regex.groups(n)) for n in names)
            return tuple(sorted((n, replacement.expand(g)) for n, g in found if g is not None))
        drop = action == "labeldrop"
        return tuple((n, "") for n in names if regex.matches(n) is drop)

    return plan


def compile_rules(rules: Iterable[RelabelRule]) -> tuple[CompiledRule, ...]:
    return tuple(compile_rule(rule) for rule in rules)


class Observed(dict[str, bool]):
    """`observed[name]`: can these rules tell whether input label `name` was there?

    A rule observes a label by reading its value (any rule's source_labels, the target of
    keepequal/dropequal) or its name (a labelmap regex matching it). labeldrop/labelkeep
    only delete, name by name; every other write replaces the label whatever it held. So
    relabelling without an unobserved input label gives the same result, but for that label
    itself: a caller may leave out labels that are unobserved and never output (meta labels).
    Names repeat across targets; each is decided once (the memo is bounded).
    """

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        super().__init__()
        read = {name for rule in rules for name in rule.rule.source_labels}
        read.update(r.rule.target_label for r in rules if r.action in ("keepequal", "dropequal"))
        self.read = frozenset(read)
        self.mapped = tuple(rule.regex for rule in rules if rule.action == "labelmap")

    def __missing__(self, name: str) -> bool:
        if len(self) >= _MEMO_LIMIT * 16:
            self.clear()
        observed = name in self.read or any(regex.matches(name) for regex in self.mapped)
        self[name] = observed
        return observed


def apply(
    labels: Mapping[str, str], rules: Sequence[CompiledRule], warn: Warn | None = None
) -> dict[str, str] | None:
    """Relabel a copy of `labels` with `rules` in order; None when a rule drops the target.

    `warn(rule_index, message)` hears about labelmap collisions (see the module docstring).
    """
    result = dict(labels)
    return result if relabel_in_place(result, rules, warn) else None


def relabel_in_place(
    labels: dict[str, str], rules: Sequence[CompiledRule], warn: Warn | None = None
) -> bool:
    """`apply` on `labels` itself, for a caller that built them for this; False: dropped."""
    if "" in labels.values():  # rare; a scan is far cheaper than filtering every copy
        for name in [name for name, value in labels.items() if value == ""]:
            del labels[name]
    for index, rule in enumerate(rules):
        if rule.copy is not None:  # a replace without regex or templates; most are
            source, target = rule.copy
            _set(labels, target, labels.get(source, ""))
        elif not _relabel(rule, labels, index, warn):
            return False
    return True


def hashmod(value: str, modulus: int) -> int:
    """The last 8 bytes of md5(value) as a big-endian integer, modulo `modulus`."""
    digest = hashlib.md5(value.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[8:], "big") % modulus


def _relabel(rule: CompiledRule, labels: dict[str, str], index: int, warn: Warn | None) -> bool:
    """One rule, as Prometheus's relabel(); False drops the target."""
    sources = rule.rule.source_labels
    if not sources:
        value = ""
    elif len(sources) == 1:
        value = labels.get(sources[0], "")
    else:
        value = rule.rule.separator.join([labels.get(name, "") for name in sources])
    target = rule.rule.target_label
    match rule.action:
        case "replace":
            groups = rule.regex.groups(value)
            if groups is not None:
                name = rule.target.expand(groups)
                if _valid_name(name):
                    _set(labels, name, rule.replacement.expand(groups))
        case "keep":
            return rule.regex.matches(value)
        case "drop":
            return not rule.regex.matches(value)
        case "keepequal":
            return labels.get(target, "") == value
        case "dropequal":
            return labels.get(target, "") != value
        case "hashmod":
            labels[target] = str(hashmod(value, rule.rule.modulus))
        case "labelmap":
            _labelmap(rule, labels, index, warn)
        case "labeldrop" | "labelkeep":
            for name, _ in rule.plan(tuple(labels)):
                del labels[name]
        case "lowercase":
            _set(labels, target, go_lower(value))
        case "uppercase":
            _set(labels, target, go_upper(value))
        case _:  # unreachable: compile_rule admits only ACTIONS
            raise AssertionError(f"relabel: unknown relabel action type {rule.action!r}")
    return True


def _set(labels: dict[str, str], name: str, value: str) -> None:
    if value:
        labels[name] = value
    else:
        labels.pop(name, None)  # an empty value is a missing label


def _labelmap(rule: CompiledRule, labels: dict[str, str], index: int, warn: Warn | None) -> None:
    # Prometheus maps from a snapshot taken before the rule, so collect first, then set.
    mapped: dict[str, tuple[str, str]] = {}  # new name -> (source name, value)
    for name, new_name in rule.plan(tuple(labels)):
        value, previous = labels[name], mapped.get(new_name)
        if warn is not None and previous is not None and previous[1] != value:
            warn(
                index,
                f"labelmap maps {previous[0]!r} and {name!r} with different values to "
                f"{new_name!r}; {name!r} wins",
            )
        mapped[new_name] = (name, value)
    for new_name, (_, value) in mapped.items():
        labels[new_name] = value
