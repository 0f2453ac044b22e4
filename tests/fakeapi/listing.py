"""List requests: query options, their validation, resourceVersion semantics and pagination.

resourceVersion on a list (as documented for the real apiserver; this is what is emulated):
* unset: the most recent state. "0": any state, served as the most recent.
* N with resourceVersionMatch=NotOlderThan, or N without a match and without a limit: the most
  recent state, once the store has reached N.
* N with resourceVersionMatch=Exact, or N with a limit and no match (the legacy rule): the
  state exactly at N, rebuilt from the event log; 410 Expired once N is compacted away.
* N newer than the store: wait up to `too_large_wait` seconds (3 s like the watch cache) for
  it, then 504 Timeout with cause ResourceVersionTooLarge.
Pages (`limit`/`continue`) are cut from one snapshot at the first page's resourceVersion, so
concurrent writes never show up mid-list; a continue token from before a compaction is 410.
`remainingItemCount` is set when more items remain and no selector is used (as in etcd).
"""

from __future__ import annotations

import base64
import bisect
import json
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from . import events
from .errors import ApiError, bad_request
from .resources import Resource
from .selectors import FieldSelector, LabelMatcher, parse_fields, parse_labels
from .store import Key, Store, Stored

_TRUE = ("1", "t", "T", "true", "TRUE", "True")
_FALSE = ("0", "f", "F", "false", "FALSE", "False")
_CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this response "
    "to retrieve the remainder of the results. Continuing with the provided token results in an "
    "inconsistent list - objects that were created, modified, or deleted between the time the "
    "first chunk was returned and now may show up in the list."
)
_LIST_EXPIRED = "The resourceVersion for the provided list is too old."


def go_bool(text: str, name: str) -> bool:
    """Parses a boolean query parameter like Go's strconv.ParseBool (the Python client sends
    `True`)."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise bad_request(f'invalid value for {name}: strconv.ParseBool: parsing "{text}"')


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise bad_request(f'invalid value for {name}: strconv.ParseInt: parsing "{text}"') from None


@dataclass(frozen=True)
class ListOptions:
    label_selector: str = ""
    field_selector: str = ""
    limit: int = 0
    continue_token: str = ""
    resource_version: str = ""
    resource_version_match: str = ""
    watch: bool = False
    allow_bookmarks: bool = False
    timeout_seconds: int | None = None
    send_initial_events: bool | None = None

    @classmethod
    def from_query(cls, query: dict[str, str]) -> ListOptions:
        opts = cls(
            label_selector=query.get("labelSelector", ""),
            field_selector=query.get("fieldSelector", ""),
            limit=_int(query.get("limit", "0") or "0", "limit"),
            continue_token=query.get("continue", ""),
            resource_version=query.get("resourceVersion", ""),
            resource_version_match=query.get("resourceVersionMatch", ""),
            watch=go_bool(query.get("watch", "false"), "watch"),
            allow_bookmarks=go_bool(
                query.get("allowWatchBookmarks", "false"), "allowWatchBookmarks"
            ),
            timeout_seconds=_int(query["timeoutSeconds"], "timeoutSeconds")
            if query.get("timeoutSeconds")
            else None,
            send_initial_events=go_bool(query["sendInitialEvents"], "sendInitialEvents")
            if "sendInitialEvents" in query
            else None,
        )
        opts.validate()
        return opts

    def validate(self) -> None:
        """The apiserver's ValidateListOptions: violations are one 422 Invalid."""
        problems = self._watch_problems() if self.watch else self._list_problems()
        if problems:
            listed = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
            raise ApiError(422, f'ListOptions.meta.k8s.io "" is invalid: {listed}', "Invalid")

    def _list_problems(self) -> list[str]:
        problems: list[str] = []
        match = self.resource_version_match
        if match:
            if not self.resource_version:
                problems.append(
                    "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless "
                    "resourceVersion is provided"
                )
            if self.continue_token:
                problems.append(
                    "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when "
                    "continue is provided"
                )
            if match == "Exact" and self.resource_version == "0":
                problems.append(
                    'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden '
                    'for resourceVersion "0"'
                )
            if match not in ("Exact", "NotOlderThan"):
                problems.append(
                    f'resourceVersionMatch: Unsupported value: "{match}": supported values: '
                    '"Exact", "NotOlderThan", ""'
                )
        if self.send_initial_events is not None:
            problems.append("sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list")
        return problems

    def _watch_problems(self) -> list[str]:
        problems: list[str] = []
        match = self.resource_version_match
        if self.send_initial_events is not None and match != "NotOlderThan":
            problems.append(
                "resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
                "resourceVersionMatch to NotOlderThan"
            )
        if match:
            if self.send_initial_events is None:
                problems.append(
                    "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch "
                    "unless sendInitialEvents is provided"
                )
            if match != "NotOlderThan":
                problems.append(
                    f'resourceVersionMatch: Unsupported value: "{match}": supported values: '
                    '"NotOlderThan"'
                )
        return problems

    def requested_rv(self) -> int | None:
        """The explicit, non-zero resourceVersion asked for, if any."""
        if self.resource_version in ("", "0"):
            return None
        try:
            return int(self.resource_version)
        except ValueError:
            raise bad_request(
                f'resourceVersion: Invalid value: "{self.resource_version}": must be an integer'
            ) from None


class Filter:
    """What one list or watch selects: a namespace (or all) plus label and field selectors."""

    def __init__(self, namespace: str | None, opts: ListOptions, plural: str = "") -> None:
        self.namespace = namespace
        self.labels: LabelMatcher = parse_labels(opts.label_selector)
        extra = events.SELECTABLE if plural == "events" else frozenset()
        self.fields: FieldSelector = parse_fields(opts.field_selector, extra)
        self.selective = bool(opts.label_selector.strip() or opts.field_selector.strip())

    def matches(self, obj: Stored) -> bool:
        ns, name = obj.key
        if self.namespace is not None and ns != self.namespace:
            return False
        if not self.labels(obj.labels):
            return False
        return self.fields.matches(name, ns, lambda f: events.field_value(obj.decode(), f))

    def key_range(self, keys: list[Key]) -> tuple[int, int]:
        if self.namespace is None:
            return 0, len(keys)
        return (
            bisect.bisect_left(keys, (self.namespace, "")),
            bisect.bisect_left(keys, (self.namespace + "\x00", "")),
        )


def wait_for_rv(store: Store, rv: int, timeout: float) -> None:
    """Blocks until the store reaches `rv`; 504 ResourceVersionTooLarge after `timeout`."""
    deadline = time.monotonic() + timeout
    with store.changed:
        while store.rv < rv:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ApiError(
                    504,
                    f"Too large resource version: {rv}, current: {store.rv}",
                    "Timeout",
                    {
                        "causes": [
                            {
                                "reason": "ResourceVersionTooLarge",
                                "message": "Too large resource version",
                            }
                        ]
                    },
                    retry_after=1,
                )
            store.changed.wait(left)


def _encode_continue(rv: int, key: Key) -> str:
    token = {"v": "meta.k8s.io/v1", "rv": rv, "start": f"{key[0]}/{key[1]}\x00"}
    return (
        base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode())
        .decode()
        .rstrip("=")
    )


def _decode_continue(token: str) -> tuple[int, Key]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        ns, _, name = str(data["start"]).rstrip("\x00").partition("/")
        return int(data["rv"]), (ns, name)
    except (ValueError, KeyError, TypeError):
        raise bad_request(f"invalid continue token: {token!r}") from None


def list_body(res: Resource, meta: dict[str, Any], raws: list[bytes]) -> bytes:
    head = {"kind": f"{res.kind}List", "apiVersion": res.api_version, "metadata": meta}
    return msgspec.json.encode(head)[:-1] + b',"items":[' + b",".join(raws) + b"]}"


def list_page(
    store: Store, res: Resource, namespace: str | None, opts: ListOptions, too_large_wait: float
) -> tuple[list[Stored], dict[str, Any]]:
    """One page of a list: its objects and the list metadata (resourceVersion, continue...)."""
    selected = Filter(namespace, opts, res.plural)
    start: Key | None = None
    if opts.continue_token:
        if opts.resource_version:
            raise bad_request("specifying resource version is not allowed when using continue")
        rv, start = _decode_continue(opts.continue_token)
        snap = store.snapshot(res.plural, rv, _CONTINUE_EXPIRED)
    else:
        wanted = opts.requested_rv()
        if wanted is not None:
            wait_for_rv(store, wanted, too_large_wait)
        exact = opts.resource_version_match == "Exact" or (
            not opts.resource_version_match and opts.limit > 0
        )
        with store.lock:
            at = wanted if wanted is not None and exact else store.rv
            snap = store.snapshot(res.plural, at, _LIST_EXPIRED)
    lo, hi = selected.key_range(snap.keys)
    if start is not None:
        lo = max(lo, bisect.bisect_right(snap.keys, start))
    items: list[Stored] = []
    pos = lo
    while pos < hi and (opts.limit <= 0 or len(items) < opts.limit):
        obj = snap.objects[snap.keys[pos]]
        if selected.matches(obj):
            items.append(obj)
        pos += 1
    meta: dict[str, Any] = {"resourceVersion": str(snap.rv)}
    if pos < hi and items:
        meta["continue"] = _encode_continue(snap.rv, snap.keys[pos - 1])
        if not selected.selective:
            meta["remainingItemCount"] = hi - pos
    return items, meta
