"""Kubernetes `Status` error bodies, raised as one exception type through the emulator.

Every failure the real apiserver reports is a `kind: Status` JSON document with a machine
readable `reason`, an HTTP `code` and a human `message`; clients (client-go, the Python client,
kubectl) branch on reason and code, so the emulator builds them the same way in one place.
"""

from __future__ import annotations

from typing import Any

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """A failed API call; `status` is the Status body the server sends (or the caller sees)."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(f"{code} {reason or REASONS.get(code, 'Unknown')}: {message}")
        self.code = code
        self.retry_after = retry_after
        self.status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason or REASONS.get(code, "Unknown"),
            "code": code,
        }
        if retry_after is not None:
            details = {**(details or {}), "retryAfterSeconds": retry_after}
        if details:
            self.status["details"] = details


def _details(resource: str, group: str, name: str) -> dict[str, Any]:
    details = {"name": name, "kind": resource}
    if group:
        details["group"] = group
    return details


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, group: str, name: str) -> ApiError:
    msg = f'{_qualified(resource, group)} "{name}" not found'
    return ApiError(404, msg, details=_details(resource, group, name))


def already_exists(resource: str, group: str, name: str) -> ApiError:
    msg = f'{_qualified(resource, group)} "{name}" already exists'
    return ApiError(409, msg, "AlreadyExists", _details(resource, group, name))


def conflict(resource: str, group: str, name: str) -> ApiError:
    msg = (
        f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": the object'
        " has been modified; please apply your changes to the latest version and try again"
    )
    return ApiError(409, msg, "Conflict", _details(resource, group, name))


def invalid(kind: str, group: str, name: str, field: str, detail: str) -> ApiError:
    qualified_kind = f"{kind}.{group}" if group else kind
    msg = f'{qualified_kind} "{name}" is invalid: {field}: {detail}'
    cause = {"reason": "FieldValueInvalid", "message": detail, "field": field}
    details = {"name": name, "kind": kind, "causes": [cause]}
    if group:
        details["group"] = group
    return ApiError(422, msg, "Invalid", details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "BadRequest")


def expired(message: str) -> ApiError:
    return ApiError(410, message, "Expired")


def path_not_found() -> ApiError:
    return ApiError(404, "the server could not find the requested resource", "NotFound", {})
