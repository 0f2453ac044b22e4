"""The four PATCH flavours the apiserver accepts, as pure functions on decoded JSON.

* JSON merge patch (RFC 7386): maps merge recursively, `null` deletes, everything else replaces.
* Strategic merge patch, the subset kubectl relies on: lists whose items have a merge key
  (containers, volumes, env, ports, conditions, ...) merge item by item; `$patch: delete |
  replace`, `$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`
  directives are honoured; `finalizers` merge as a set; any other list is replaced.
* JSON patch (RFC 6902): add, remove, replace, move, copy, test.
* Server-side apply, simplified: fields this manager applied last time and omits now are
  removed (map keys and keyed list items), then the applied configuration is strategically
  merged in. There is no field ownership between managers, so there are never conflicts.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError, bad_request

_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "env": "name",
    "envFrom": "",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
}
_SET_LISTS = {"finalizers"}
_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        dicts = [i for i in items if isinstance(i, dict)]
        return "containerPort" if any("containerPort" in i for i in dicts) else "port"
    return _MERGE_KEYS.get(field) or None


def strategic_merge(target: Any, patch: Any) -> Any:
    """Applies a strategic merge patch to a map (the subset described in the module doc)."""
    if not isinstance(patch, dict):
        return patch
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: v for k, v in patch.items() if k != "$patch"}
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = strategic_merge(result.get(key), value)
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value)
        else:
            result[key] = value
    for key, value in patch.items():
        if key.startswith(_DELETE_PRIMITIVE):
            field = key[len(_DELETE_PRIMITIVE) :]
            result[field] = [v for v in result.get(field) or [] if v not in value]
        elif key.startswith(_ORDER):
            field = key[len(_ORDER) :]
            if isinstance(result.get(field), list):
                result[field] = _reorder(field, result[field], value)
    if isinstance(patch.get("$retainKeys"), list):
        result = {k: v for k, v in result.items() if k in patch["$retainKeys"]}
    return result


def _merge_list(field: str, current: Any, patch: list[Any]) -> list[Any]:
    current_list = list(current) if isinstance(current, list) else []
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [i for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    if field in _SET_LISTS:
        return current_list + [v for v in patch if v not in current_list]
    key = _merge_key(field, patch + current_list)
    if key is None or not all(isinstance(i, dict) for i in patch):
        return patch
    result = current_list
    for item in patch:
        at = next((n for n, c in enumerate(result) if c.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if at is not None:
                del result[at]
        elif at is None:
            result.append(strategic_merge({}, item))
        else:
            result[at] = strategic_merge(result[at], item)
    return result


def _reorder(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    key = _merge_key(field, items)

    def ident(item: Any) -> Any:
        return item.get(key) if key and isinstance(item, dict) else item

    wanted = [ident(o) for o in order]
    rank = {w: n for n, w in enumerate(wanted) if isinstance(w, str | int)}
    indexed = list(enumerate(items))
    indexed.sort(key=lambda p: (rank.get(ident(p[1]), len(rank)), p[0]))
    return [item for _, item in indexed]


def apply_prune(live: Any, previous: Any, applied: Any) -> Any:
    """Removes from `live` what this manager applied before and no longer applies."""
    if not (isinstance(live, dict) and isinstance(previous, dict)):
        return live
    applied_map = applied if isinstance(applied, dict) else {}
    result = dict(live)
    for key, old in previous.items():
        if key not in applied_map:
            result.pop(key, None)
        elif isinstance(old, dict):
            result[key] = apply_prune(result.get(key), old, applied_map[key])
        elif isinstance(old, list) and isinstance(result.get(key), list):
            result[key] = _prune_list(key, result[key], old, applied_map[key])
    return result


def _prune_list(field: str, live: list[Any], previous: list[Any], applied: Any) -> list[Any]:
    key = _merge_key(field, previous)
    if key is None or not isinstance(applied, list):
        return live
    kept = {i.get(key) for i in applied if isinstance(i, dict)}
    gone = {i.get(key) for i in previous if isinstance(i, dict)} - kept
    return [i for i in live if not (isinstance(i, dict) and i.get(key) in gone)]


# --- JSON patch (RFC 6902) ------------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f'invalid JSON pointer "{path}"')
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _unprocessable(message: str) -> ApiError:
    return ApiError(422, message, "Invalid")


def _parent(doc: Any, path: str) -> tuple[Any, str]:
    parts = _pointer(path)
    if not parts:
        raise _unprocessable(f"cannot operate on the whole document at {path!r}")
    node = doc
    for part in parts[:-1]:
        node = _child(node, part, path)
    return node, parts[-1]


def _child(node: Any, part: str, path: str) -> Any:
    if isinstance(node, dict) and part in node:
        return node[part]
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    raise _unprocessable(f"doc is missing path: {path!r}")


def _get(doc: Any, path: str) -> Any:
    node = doc
    for part in _pointer(path):
        node = _child(node, part, path)
    return node


def _add(doc: Any, path: str, value: Any) -> Any:
    if path == "":
        return value
    parent, last = _parent(doc, path)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list) and (
        last == "-" or (last.isdigit() and int(last) <= len(parent))
    ):
        parent.insert(len(parent) if last == "-" else int(last), value)
    else:
        raise _unprocessable(f"doc is missing path: {path!r}")
    return doc


def _remove(doc: Any, path: str) -> Any:
    parent, last = _parent(doc, path)
    _child(parent, last, path)
    if isinstance(parent, dict):
        del parent[last]
    else:
        del parent[int(last)]
    return doc


def json_patch(doc: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise bad_request("json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in operations:
        if not isinstance(op, dict) or "path" not in op:
            raise bad_request(f"invalid json patch operation: {op!r}")
        kind, path = op.get("op"), op["path"]
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, path)
        elif kind == "replace":
            doc = _add(_remove(doc, path), path, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            value = copy.deepcopy(_get(doc, op.get("from", "")))
            if kind == "move":
                doc = _remove(doc, op.get("from", ""))
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise _unprocessable(f"testing value {path} failed")
        else:
            raise bad_request(f"unexpected json patch operation {kind!r}")
    return doc
