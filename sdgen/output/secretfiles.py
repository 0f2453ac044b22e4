"""The files under `secrets/` that `--materialize-secrets` writes for Secret references.

Rendering stays pure and never sees a Secret: a fragment names `../secrets/<slug>.<field>`
(naming.secret_path), and this module fills those names with the decoded values from the
cluster cache. Secrets are read from the default namespace (the ConfigMap's) only, which is all
the secrets RBAC overlay grants. A target whose Secret or key is missing, or not base64, becomes
a per-target error: all of its files are held at their last good version, the others render.
Values never reach a log line or an error message, only names and keys do.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace

from sdgen import SdgenError
from sdgen.config.model import SecretRef, secret_refs
from sdgen.k8s.view import Cluster
from sdgen.output.naming import secret_path, slug
from sdgen.resolve.resolver import EndpointTargets, Resolution


class SecretError(SdgenError):
    """A Secret reference that cannot be read; the message names the Secret, never a value."""


def materialize(
    resolution: Resolution, cluster: Cluster | None, namespace: str
) -> tuple[Resolution, dict[str, bytes]]:
    """The `secrets/` files of every resolved endpoint, and the resolution with the targets
    whose Secrets could not be read moved from its endpoints to its errors."""
    by_target: dict[str, dict[str, bytes]] = {}
    errors = dict(resolution.errors)
    for et in resolution.endpoints:
        if et.target.name in errors:
            continue
        try:
            by_target.setdefault(et.target.name, {}).update(_endpoint_files(et, cluster, namespace))
        except SecretError as err:
            errors[et.target.name] = str(err)
    files = {
        path: data
        for name, f in by_target.items()
        if name not in errors
        for path, data in f.items()
    }
    if len(errors) == len(resolution.errors):
        return resolution, files
    kept = tuple(et for et in resolution.endpoints if et.target.name not in errors)
    return replace(resolution, endpoints=kept, errors=errors), files


def _endpoint_files(
    et: EndpointTargets, cluster: Cluster | None, namespace: str
) -> dict[str, bytes]:
    stem = slug(et.target.name, et.index)
    return {
        secret_path(stem, field): _value(cluster, namespace, ref)
        for field, ref in secret_refs(et.endpoint)
    }


def _value(cluster: Cluster | None, namespace: str, ref: SecretRef) -> bytes:
    where = f'Secret "{namespace}/{ref.name}"'
    if cluster is None:
        raise SecretError(f"{where}: no Kubernetes API to read it from")
    secret = cluster.secret(namespace, ref.name)
    if secret is None:
        raise SecretError(f"{where} not found (Secrets are read from this namespace only)")
    if ref.key not in secret.data:
        raise SecretError(f'{where} has no key "{ref.key}"')
    try:
        return base64.b64decode(secret.data[ref.key], validate=True)
    except (binascii.Error, ValueError):
        raise SecretError(f'{where}: key "{ref.key}" is not valid base64') from None
