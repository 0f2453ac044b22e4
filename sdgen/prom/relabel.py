"""Prometheus relabelling, exactly: validation once, then per rule the step of its action.

Users paste relabel rules written for Prometheus, so every observable detail follows
Prometheus 3.x (`model/relabel/relabel.go`): the actions and defaults, regexes anchored as
`^(?s:<regex>)$` and run by RE2 (Go's regexp dialect), Go `regexp.Expand` templates, UTF-8
label-name validity, and the validation messages `promtool check config` prints.

Deliberate choices and known gaps:
* A label with an empty value is a missing label, as in Prometheus: such input labels are
  dropped, and setting a label to "" deletes it.
* `labelmap` mapping two labels with different values to one name is resolved
  deterministically (source labels in sorted order, the last wins) and reported via `warn`;
  Prometheus 3.5 picks by its own label order (discovered labels first, then the ones it
  adds), so the two may differ on such a collision.
* A `RelabelRule` cannot tell a default from the same value written out, so an explicit
  `regex: (.*)` on keepequal/dropequal, or `source_labels: []` on labeldrop/labelkeep (both
  rejected by Prometheus) pass here; the config parser can reject them where it still knows.

The Go half lives beside this module, so this one reads like relabel.go: `goregex` (Go's
regexp dialect, error messages and Expand, on RE2), `gocase` (Go's per-rune case mapping) and
`duration.go_quote` (Go's %q, for messages), all in sdgen.prom.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import TypeAlias

from sdgen import SdgenError
from sdgen.prom.duration import go_quote
from sdgen.prom.gocase import go_lower, go_upper
from sdgen.prom.goregex import GoRegexp, Groups, RegexError, Template


class RelabelAction(StrEnum):
    """Prometheus's relabel actions; a rule may write them in any case."""

    REPLACE = "replace"
    KEEP = "keep"
    DROP = "drop"
    KEEPEQUAL = "keepequal"
    DROPEQUAL = "dropequal"
    HASHMOD = "hashmod"
    LABELMAP = "labelmap"
    LABELDROP = "labeldrop"
    LABELKEEP = "labelkeep"
    LOWERCASE = "lowercase"
    UPPERCASE = "uppercase"


ACTIONS: tuple[str, ...] = tuple(action.value for action in RelabelAction)  # as plain strings


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
    action: str = RelabelAction.REPLACE.value  # as written; compile_rule parses it


_DEFAULT = RelabelRule()
_EQUAL = frozenset({RelabelAction.KEEPEQUAL, RelabelAction.DROPEQUAL})
_CASE = frozenset({RelabelAction.LOWERCASE, RelabelAction.UPPERCASE})
_NEEDS_TARGET = _EQUAL | _CASE | {RelabelAction.REPLACE, RelabelAction.HASHMOD}
_NO_REPLACEMENT = _EQUAL | _CASE
_NAME_ONLY = frozenset({RelabelAction.LABELDROP, RelabelAction.LABELKEEP})
_MEMO_LIMIT = 1024  # label names and many values repeat across targets; bound the memory

Warn = Callable[[int, str], None]  # (rule index, message)


class RelabelError(SdgenError, ValueError):
    """One rule failed validation; `message` is Prometheus's wording, `field` the key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# --- regexes -------------------------------------------------------------------------------


class _Regex:
    """A relabel regex: anchored as Prometheus anchors it, then run as Go's regexp. `groups`
    and `matches` remember recent texts: label names and most values repeat across targets,
    and a cache hit is far cheaper than running RE2."""

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


def _validate(rule: RelabelRule, action: RelabelAction) -> None:
    """Prometheus's checks, in Prometheus's order (relabel.go Config.Validate)."""
    target = rule.target_label
    if not 0 <= rule.modulus < 1 << 64:
        raise RelabelError("modulus", f"cannot unmarshal !!int `{rule.modulus}` into uint64")
    if action is RelabelAction.HASHMOD and rule.modulus == 0:
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
    if action is RelabelAction.LABELMAP and not _valid_name(rule.replacement):
        raise RelabelError(
            "replacement",
            f"{go_quote(rule.replacement)} is invalid 'replacement' for {action} action",
        )
    if action in _EQUAL:
        _only(rule, action, ("regex", "modulus", "separator", "replacement"))
    if action in _NAME_ONLY:
        _only(
            rule, action, ("source_labels", "target_label", "modulus", "separator", "replacement")
        )


def _only(rule: RelabelRule, action: RelabelAction, forbidden: tuple[str, ...]) -> None:
    allowed = "'source_labels' and `target_label`" if action in _EQUAL else "'regex'"
    for key in forbidden:
        if getattr(rule, key) != getattr(_DEFAULT, key):
            raise RelabelError(key, f"{action} action requires only {allowed}, and no other fields")


# --- compiled rules and their steps -------------------------------------------------------


@dataclass(frozen=True)
class CompiledRule:
    """A validated rule with its regex compiled, its templates parsed and its action's step
    (see `_STEPS`) chosen once."""

    rule: RelabelRule
    action: RelabelAction = field(compare=False)
    step: _Step = field(compare=False, repr=False)
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
    try:
        action = RelabelAction(rule.action.lower())  # Prometheus accepts any case
    except ValueError:
        raise RelabelError("action", f"unknown relabel action {go_quote(rule.action)}") from None
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
        step=_STEPS[action],
        regex=regex,
        target=target,
        replacement=replacement,
        plan=_name_plan(action, regex, replacement),
        copy=_copy(rule, action, target),
    )


def _copy(rule: RelabelRule, action: RelabelAction, target: Template) -> tuple[str, str] | None:
    """(source, target) when `rule` just copies one label's value: a replace of one source
    label with the default regex (it matches anything) and replacement `$1` into a plain,
    valid target label."""
    plain = action is RelabelAction.REPLACE and len(rule.source_labels) == 1
    plain = plain and (rule.regex, rule.replacement) == (_DEFAULT.regex, _DEFAULT.replacement)
    if not plain or target.literal is None or not _valid_name(target.literal):
        return None
    return rule.source_labels[0], target.literal


def _name_plan(
    action: RelabelAction, regex: _Regex, replacement: Template
) -> Callable[[tuple[str, ...]], tuple[tuple[str, str], ...]]:
    """The (label, new name) pairs a label-name action acts on, given all label names.

    labelmap: the matching labels and their new names, sorted by label (so the last of
    colliding sources wins deterministically); labeldrop/labelkeep: the labels to delete.
    Targets of one job share their label names, so the answer is remembered per name set.
    """

    labelmap, drop = action is RelabelAction.LABELMAP, action is RelabelAction.LABELDROP

    @lru_cache(maxsize=_MEMO_LIMIT)
    def plan(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
        if labelmap:
            found = ((n, regex.groups(n)) for n in names)
            return tuple(sorted((n, replacement.expand(g)) for n, g in found if g is not None))
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
        read.update(r.rule.target_label for r in rules if r.action in _EQUAL)
        self.read = frozenset(read)
        self.mapped = tuple(r.regex for r in rules if r.action is RelabelAction.LABELMAP)

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
    return dropping_rule(labels, rules, warn) is None


def dropping_rule(
    labels: dict[str, str], rules: Sequence[CompiledRule], warn: Warn | None = None
) -> int | None:
    """`relabel_in_place`, telling which rule dropped the target: its index in `rules`, or
    None when the target is kept (what sdgen's funnel counts per rule)."""
    if "" in labels.values():  # rare; a scan is far cheaper than filtering every copy
        for name in [name for name, value in labels.items() if value == ""]:
            del labels[name]
    for index, rule in enumerate(rules):
        if rule.copy is not None:  # a replace without regex or templates; most are
            source, target = rule.copy
            _set(labels, target, labels.get(source, ""))
        elif not _relabel(rule, labels, index, warn):
            return index
    return None


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One rule as `trace` saw it run: its position in the rule list, its action, and the
    labels it changed as name → (before, after), None where the label was missing."""

    index: int
    action: RelabelAction
    changed: Mapping[str, tuple[str | None, str | None]]


@dataclass(frozen=True, slots=True)
class RelabelTrace:
    """What `trace` found: every rule that ran, in order (the last one dropped the target
    when `labels` is None), and the final labels."""

    steps: tuple[TraceStep, ...]
    labels: dict[str, str] | None

    @property
    def dropped_by(self) -> TraceStep | None:
        return self.steps[-1] if self.labels is None and self.steps else None


def trace(
    labels: Mapping[str, str], rules: Sequence[CompiledRule], warn: Warn | None = None
) -> RelabelTrace:
    """`apply`, recording what each rule did, for explaining one target (`sdgen explain`).

    A copy of the labels per rule makes it far slower than `apply`, so it is a function of
    its own and the hot path stays as it is; both run each rule through the same action step,
    so the final labels are `apply`'s. Replaying the changes on `labels` without its empty
    values (an empty value is a missing label) gives `labels`.
    """
    result = {name: value for name, value in labels.items() if value != ""}
    steps: list[TraceStep] = []
    for index, rule in enumerate(rules):
        before = dict(result)
        kept = _relabel(rule, result, index, warn)
        steps.append(TraceStep(index, rule.action, _changes(before, result)))
        if not kept:
            return RelabelTrace(tuple(steps), None)
    return RelabelTrace(tuple(steps), result)


def _changes(
    before: Mapping[str, str], after: Mapping[str, str]
) -> dict[str, tuple[str | None, str | None]]:
    names = sorted(before.keys() | after.keys())
    found = ((name, before.get(name), after.get(name)) for name in names)
    return {name: (old, new) for name, old, new in found if old != new}


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
    return rule.step(rule, labels, value, index, warn)


# Each action's step: (rule, labels, the source labels' joined value, rule index, warn) →
# False when it drops the target. Bound to a rule when it is compiled, so applying one is a
# call, not a search through the actions.
_Step: TypeAlias = Callable[[CompiledRule, dict[str, str], str, int, Warn | None], bool]


def _replace(rule: CompiledRule, labels: dict[str, str], value: str, *_: object) -> bool:
    groups = rule.regex.groups(value)
    if groups is not None:
        name = rule.target.expand(groups)
        if _valid_name(name):
            _set(labels, name, rule.replacement.expand(groups))
    return True


def _keep(rule: CompiledRule, labels: dict[str, str], value: str, *_: object) -> bool:
    return rule.regex.matches(value)


def _drop(rule: CompiledRule, labels: dict[str, str], value: str, *_: object) -> bool:
    return not rule.regex.matches(value)


def _keepequal(rule: CompiledRule, labels: dict[str, str], value: str, *_: object) -> bool:
    return labels.get(rule.rule.target_label, "") == value


def _dropequal(rule: CompiledRule, labels: dict[str, str], value: str, *_: object) -> bool:
    return labels.get(rule.rule.target_label, "") != value


def _hashmod(rule: CompiledRule, labels: dict[str, str], value: str, *_: object) -> bool:
    labels[rule.rule.target_label] = str(hashmod(value, rule.rule.modulus))
    return True


def _delete_names(rule: CompiledRule, labels: dict[str, str], *_: object) -> bool:
    """labeldrop and labelkeep: the plan names the labels to delete."""
    for name, _new in rule.plan(tuple(labels)):
        del labels[name]
    return True


def _lowercase(rule: CompiledRule, labels: dict[str, str], value: str, *_: object) -> bool:
    _set(labels, rule.rule.target_label, go_lower(value))
    return True


def _uppercase(rule: CompiledRule, labels: dict[str, str], value: str, *_: object) -> bool:
    _set(labels, rule.rule.target_label, go_upper(value))
    return True


def _set(labels: dict[str, str], name: str, value: str) -> None:
    if value:
        labels[name] = value
    else:
        labels.pop(name, None)  # an empty value is a missing label


def _labelmap(
    rule: CompiledRule, labels: dict[str, str], _value: str, index: int, warn: Warn | None
) -> bool:
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
    return True


_STEPS: dict[RelabelAction, _Step] = {
    RelabelAction.REPLACE: _replace,
    RelabelAction.KEEP: _keep,
    RelabelAction.DROP: _drop,
    RelabelAction.KEEPEQUAL: _keepequal,
    RelabelAction.DROPEQUAL: _dropequal,
    RelabelAction.HASHMOD: _hashmod,
    RelabelAction.LABELMAP: _labelmap,
    RelabelAction.LABELDROP: _delete_names,
    RelabelAction.LABELKEEP: _delete_names,
    RelabelAction.LOWERCASE: _lowercase,
    RelabelAction.UPPERCASE: _uppercase,
}
