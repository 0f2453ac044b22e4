"""Maps one HTTP request (method, path, query, body) to an emulator operation and its reply.

Paths follow the apiserver's layout: discovery (`/version`, `/api`, `/api/v1`, `/apis`,
`/apis/<group>`, `/apis/<group>/<version>`), collections and objects in namespaced
(`.../namespaces/<ns>/<resource>[/<name>[/status]]`) and cluster-wide form, and the legacy
`.../watch/...` prefix. Anything else is a 404 Status, including `/openapi/v2` and
`/openapi/v3` so kubectl falls back to its built-in schemas.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import msgspec
import yaml

from . import events
from . import resources as rs
from .errors import ApiError, bad_request, path_not_found
from .listing import ListOptions, list_body, list_page
from .objects import PATCH_TYPES, Write
from .resources import Resource
from .state import State
from .table import as_table, row_renderer, wants_table
from .watch import Watch


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names


@dataclass(frozen=True)
class Reply:
    code: int
    body: bytes
    content_type: str = "application/json"


def _json(code: int, doc: Any) -> Reply:
    return Reply(code, msgspec.json.encode(doc))


@dataclass(frozen=True)
class Target:
    """A resolved resource path: which resource, namespace, object name and subresource."""

    res: Resource
    namespace: str | None
    name: str | None
    subresource: str | None
    legacy_watch: bool


def dispatch(state: State, req: Request) -> Reply | Watch:
    segs = [s for s in req.path.split("/") if s]
    if req.method == "GET":
        doc = _discovery(segs, req.headers.get("host", ""))
        if doc is not None:
            return _json(200, doc)
        if segs and segs[0] in ("healthz", "livez", "readyz"):
            return Reply(200, b"ok", "text/plain; charset=utf-8")
    target = _resolve(segs)
    if target is None:
        raise path_not_found()
    if target.name is None:
        return _collection(state, req, target)
    return _object(state, req, target)


def _discovery(segs: list[str], host: str) -> dict[str, Any] | None:
    if segs == ["version"]:
        return rs.SERVER_VERSION
    if segs == ["api"]:
        return rs.api_versions(host)
    if segs == ["api", "v1"]:
        return rs.api_resource_list("", "v1")
    if segs == ["apis"]:
        return rs.api_group_list()
    if len(segs) == 2 and segs[0] == "apis" and rs.known_group(segs[1]):
        return rs.api_group(segs[1])
    if len(segs) == 3 and segs[0] == "apis":
        return rs.api_resource_list(segs[1], segs[2])
    return None


def _resolve(segs: list[str]) -> Target | None:
    if segs[:2] == ["api", "v1"]:
        served, rest = rs.in_group_version("", "v1"), segs[2:]
    elif len(segs) >= 3 and segs[0] == "apis":
        served, rest = rs.in_group_version(segs[1], segs[2]), segs[3:]
    else:
        return None
    legacy_watch = rest[:1] == ["watch"]
    rest = rest[1:] if legacy_watch else rest
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] in served:
        namespace, rest = rest[1], rest[2:]
    res = served.get(rest[0]) if rest else None
    if res is None or len(rest) > 3 or (namespace is not None and not res.namespaced):
        return None
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if sub is not None and not (sub == "status" and res.status_subresource):
        return None
    if name is not None and res.namespaced and namespace is None:
        return None
    return Target(res, namespace, name, sub, legacy_watch)


def _check(state: State, t: Target, verb: str) -> None:
    if not state.faults.allows(t.res.plural, t.namespace, t.res.group, verb):
        group = t.res.group
        where = f'in the namespace "{t.namespace}"' if t.namespace else "at the cluster scope"
        message = (
            f'{t.res.plural}{"." + group if group else ""} is forbidden: User "system:anonymous" '
            f'cannot {verb} resource "{t.res.plural}" in API group "{group}" {where}'
        )
        raise ApiError(
            403,
            message,
            "Forbidden",
            {"kind": t.res.plural, "group": group} if group else {"kind": t.res.plural},
        )


def _write(req: Request, t: Target) -> Write:
    if req.query.get("dryRun"):
        raise bad_request("dryRun is not supported by fakeapi")
    agent = req.headers.get("user-agent", "unknown").split("/")[0]
    return Write(
        api=True, manager=req.query.get("fieldManager") or agent, subresource=t.subresource
    )


def _body(req: Request) -> Any:
    try:
        return msgspec.json.decode(req.body) if req.body else None
    except msgspec.DecodeError as exc:
        raise bad_request(f"couldn't get version/kind; json parse error: {exc}") from None


def _object_body(req: Request) -> dict[str, Any]:
    body = _body(req)
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return body


def _collection(state: State, req: Request, t: Target) -> Reply | Watch:
    if req.method == "GET":
        opts = ListOptions.from_query(req.query)
        if opts.watch or t.legacy_watch:
            _check(state, t, "watch")
            watch_opts = replace(opts, watch=True)
            if wants_table(req.headers.get("accept", "")):
                render = row_renderer(req.query.get("includeObject", "Metadata"))
                return Watch(state, t.res, t.namespace, watch_opts, render)
            if events.is_view(t.res):
                return Watch(state, t.res, t.namespace, watch_opts, events.render_view)
            return Watch(state, t.res, t.namespace, watch_opts)
        _check(state, t, "list")
        items, meta = list_page(state.store, t.res, t.namespace, opts, state.too_large_wait)
        if wants_table(req.headers.get("accept", "")):
            return _json(200, as_table(items, meta, req.query.get("includeObject", "Metadata")))
        return Reply(200, list_body(t.res, meta, [_out(t.res, i.raw) for i in items]))
    if req.method == "POST":
        _check(state, t, "create")
        if t.res.namespaced and t.namespace is None:
            raise ApiError(
                405,
                "the server does not allow this method on the requested resource",
                "MethodNotAllowed",
            )
        if events.is_view(t.res):
            body = events.create(
                state.objects,
                rs.BY_PLURAL["events"],
                t.res,
                t.namespace,
                _object_body(req),
                _write(req, t),
            )
            return Reply(201, body)
        created = state.objects.create(t.res, t.namespace, _object_body(req), _write(req, t))
        return Reply(201, created.raw)
    if req.method == "DELETE":
        _check(state, t, "deletecollection")
        opts = ListOptions.from_query(req.query)
        items, meta = list_page(state.store, t.res, t.namespace, replace(opts, limit=0), 0.0)
        for item in items:
            state.objects.delete(t.res, item.key[0], item.key[1], {})
        return Reply(200, list_body(t.res, meta, [i.raw for i in items]))
    raise ApiError(
        405, "the server does not allow this method on the requested resource", "MethodNotAllowed"
    )


def _out(res: Resource, raw: bytes) -> bytes:
    """A stored object as the requested resource shows it (events.k8s.io Events converted)."""
    return events.render_view(raw) if events.is_view(res) else raw


def _object(state: State, req: Request, t: Target) -> Reply:
    name = t.name or ""
    objects = state.objects
    if req.method == "GET":
        _check(state, t, "get")
        found = objects.get(t.res, t.namespace, name)
        if wants_table(req.headers.get("accept", "")):
            include = req.query.get("includeObject", "Metadata")
            return _json(200, as_table([found], {"resourceVersion": str(found.rv)}, include))
        return Reply(200, _out(t.res, found.raw))
    if req.method == "PUT":
        _check(state, t, "update")
        body = _object_body(req)
        if events.is_view(t.res):
            events.validate(t.res, body, name)
            body = events.to_core(body)
        updated = objects.update(
            rs.BY_PLURAL[t.res.plural] if events.is_view(t.res) else t.res,
            t.namespace,
            name,
            body,
            _write(req, t),
        )
        return Reply(200, _out(t.res, updated.raw))
    if req.method == "PATCH":
        _check(state, t, "patch")
        return _patch(state, req, t, name)
    if req.method == "DELETE":
        _check(state, t, "delete")
        options = _body(req) or {}
        event = objects.delete(t.res, t.namespace, name, options.get("preconditions") or {})
        if t.res.returns_deleted_object:
            return Reply(200, event.tombstone())
        assert event.prev is not None  # a deletion always has the deleted state
        uid = event.prev.decode()["metadata"]["uid"]
        details = {"name": name, "kind": t.res.plural, "uid": uid}
        if t.res.group:
            details["group"] = t.res.group
        return _json(
            200,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": details,
            },
        )
    raise ApiError(
        405, "the server does not allow this method on the requested resource", "MethodNotAllowed"
    )


def _patch(state: State, req: Request, t: Target, name: str) -> Reply:
    media = req.headers.get("content-type", "").split(";")[0].strip()
    kind = PATCH_TYPES.get(media)
    if kind is None:
        raise ApiError(
            415,
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(PATCH_TYPES),
            "UnsupportedMediaType",
        )
    write = _write(req, t)
    if kind == "apply":
        if not req.query.get("fieldManager"):
            raise ApiError(
                422,
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is '
                "required for apply patch",
                "Invalid",
            )
        try:
            patch = yaml.safe_load(req.body)
        except yaml.YAMLError as exc:
            raise bad_request(f"error decoding YAML: {exc}") from None
    else:
        patch = _body(req)
    if events.is_view(t.res):
        core = rs.BY_PLURAL["events"]
        return Reply(
            200, events.patch(state.objects, core, t.res, t.namespace, name, kind, patch, write)
        )
    stored, created = state.objects.patch(t.res, t.namespace, name, kind, patch, write)
    return Reply(201 if created else 200, stored.raw)
