"""The files under `secrets/` that `--materialize-secrets` writes for Secret references.

Rendering stays pure and never sees a Secret: a fragment names `../secrets/<slug>.<field>`
(naming.secret_path), and this module fills those names with the decoded values from the
cluster cache. Secrets are read from the default namespace (the ConfigMap's) only, which is all
the secrets RBAC overlay grants.

Trust. Whoever can edit the ConfigMap chooses the address Prometheus sends a credential to, so
a Secret reference alone would let them send any Secret of the namespace anywhere. Only Secrets
that opt in, labelled `sdgen.io/scrape-secret: "true"` by someone who can edit Secrets, are
written out (README, "Output volume and Secrets").

A target whose Secret cannot be used becomes a per-target error, located at the endpoint's
field. When the value is gone from sdgen's reach (the Secret deleted, its key removed, its
label taken away), the target is `gone`: its files are removed, so a revoked credential stays
neither on disk nor in use, and no fragment names a file that is not there. Otherwise (not
base64, no API) its files are held at their last good version. The others render either way.
Values never reach a log line or an error message, only names and keys do.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace
from typing import NamedTuple

from sdgen import SdgenError
from sdgen.config.model import SecretRef, secret_refs
from sdgen.k8s.view import Cluster
from sdgen.output.naming import secret_path, slug
from sdgen.resolve.resolver import EndpointTargets, Resolution

# The opt-in label a Secret must carry to be written out, and its value.
SCRAPE_SECRET_LABEL = "sdgen.io/scrape-secret"
SCRAPE_SECRET_VALUE = "true"

# The config field of each secret_refs field, for located errors.
_FIELD_PATHS = {
    "ca": "tlsConfig.ca",
    "cert": "tlsConfig.cert",
    "key": "tlsConfig.keySecret",
    "credentials": "authorization.credentials",  # or bearerTokenSecret, its shorthand
    "username": "basicAuth.username",
    "password": "basicAuth.password",
}


class SecretError(SdgenError):
    """A Secret reference that cannot be used; the message names the field and the Secret,
    never a value. `gone`: the value is no longer sdgen's to use (see the module doc)."""

    def __init__(self, message: str, *, gone: bool = False) -> None:
        super().__init__(message)
        self.gone = gone


class Materialized(NamedTuple):
    resolution: Resolution  # the targets whose Secrets cannot be used moved to its errors
    files: dict[str, bytes]  # the secrets/ files
    gone: frozenset[str]  # targets whose Secret values are gone: their files must go too
    errors: dict[str, str]  # target -> its Secret error (also in resolution.errors)


def materialize(resolution: Resolution, cluster: Cluster | None, namespace: str) -> Materialized:
    """The `secrets/` files of every resolved endpoint, and the resolution with the targets
    whose Secrets cannot be used moved from its endpoints to its errors."""
    by_target: dict[str, dict[str, bytes]] = {}
    errors: dict[str, str] = {}
    gone: set[str] = set()
    for et in resolution.endpoints:
        if et.target.name in resolution.errors or et.target.name in errors:
            continue
        try:
            home = et.target.secrets_namespace or namespace
            by_target.setdefault(et.target.name, {}).update(_endpoint_files(et, cluster, home))
        except SecretError as err:
            errors[et.target.name] = str(err)
            if err.gone:
                gone.add(et.target.name)
    files = {
        path: data
        for name, f in by_target.items()
        if name not in errors
        for path, data in f.items()
    }
    if not errors:
        return Materialized(resolution, files, frozenset(), {})
    kept = tuple(et for et in resolution.endpoints if et.target.name not in errors)
    moved = replace(resolution, endpoints=kept, errors={**resolution.errors, **errors})
    return Materialized(moved, files, frozenset(gone), errors)


def _endpoint_files(
    et: EndpointTargets, cluster: Cluster | None, namespace: str
) -> dict[str, bytes]:
    stem = slug(et.target.name, et.index)
    files = {}
    for field, ref in secret_refs(et.endpoint):
        try:
            files[secret_path(stem, field)] = _value(cluster, namespace, ref)
        except SecretError as err:
            where = f"endpoints[{et.index}].{_FIELD_PATHS.get(field, field)}"
            then = "; its files are removed meanwhile" if err.gone else ""
            raise SecretError(f"{where}: {err}{then}", gone=err.gone) from None
    return files


def _value(cluster: Cluster | None, namespace: str, ref: SecretRef) -> bytes:
    where = f'Secret "{namespace}/{ref.name}"'
    if cluster is None:
        raise SecretError(f"{where}: no Kubernetes API to read it from")
    secret = cluster.secret(namespace, ref.name)
    if secret is None:
        raise SecretError(
            f"{where} not found (Secrets are read from this namespace only)", gone=True
        )
    if secret.metadata.labels.get(SCRAPE_SECRET_LABEL) != SCRAPE_SECRET_VALUE:
        raise SecretError(
            f'{where} is not labelled {SCRAPE_SECRET_LABEL}: "{SCRAPE_SECRET_VALUE}": sdgen '
            "writes out only Secrets that opt in, so that editing the ConfigMap cannot send "
            f"any Secret anywhere — if this one is meant for scraping, run: kubectl label "
            f"secret -n {namespace} {ref.name} {SCRAPE_SECRET_LABEL}={SCRAPE_SECRET_VALUE}",
            gone=True,
        )
    if ref.key not in secret.data:
        raise SecretError(f'{where} has no key "{ref.key}"', gone=True)
    try:
        return base64.b64decode(secret.data[ref.key], validate=True)
    except (binascii.Error, ValueError):
        raise SecretError(f'{where}: key "{ref.key}" is not valid base64') from None
