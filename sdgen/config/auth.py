"""Parse how an endpoint proves who it is: TLS, authorization and basic auth.

Credentials are file paths that Prometheus reads from its own pod. Secret references in the
Prometheus Operator's spelling (`basicAuth.password: {name, key}`, `bearerTokenSecret`,
`tlsConfig.ca: {secret: {...}}`, ...) are a validation error naming the file field to use,
unless the parser was asked to allow them (`sdgen --materialize-secrets`): then they become
`SecretRef`s, read from the ConfigMap's own namespace and written under `secrets/` at render
time. Inline credentials are never accepted: they would sit in a ConfigMap in plain text.
See docs/configuration.md. `secrets` below is that permission.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from yaml.nodes import MappingNode

from sdgen.config import filepaths
from sdgen.config.model import Authorization, BasicAuth, SecretRef, TLSConfig
from sdgen.config.reader import Reader, Schema, schema
from sdgen.config.yamlnode import Field, kind_of, line_of

# Kubernetes object names (DNS-1123 subdomains) and Secret data keys.
_SECRET_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")


def file_only(file_key: str) -> str:
    return (
        "Secret references and inline credentials are not supported (sdgen does not "
        f"materialise Secrets): mount the Secret into the Prometheus pod and set {file_key}"
    )


def schemas(
    names: str,
    refused: dict[str, str],
    secrets: str,
    ignored: str = "",
    ignored_why: str = "ignored",
) -> tuple[Schema, Schema]:
    """(without, with) Secret references: the keys in `secrets` are refused, or fields."""
    allowed = {k: v for k, v in refused.items() if k not in secrets.split()}
    return (
        schema(names, ignored, refused, ignored_why),
        schema(f"{names} {secrets}", ignored, allowed, ignored_why),
    )


_TLS = schemas(
    "insecureSkipVerify|insecure_skip_verify serverName|server_name caFile|ca_file "
    "certFile|cert_file keyFile|key_file",
    {
        "ca": file_only("caFile"),
        "cert": file_only("certFile"),
        "key": file_only("keyFile"),
        "keySecret": file_only("keyFile"),
    },
    "ca cert keySecret",
)
_AUTHORIZATION = schemas(
    "type credentialsFile|credentials_file",
    {"credentials": file_only("credentialsFile")},
    "credentials",
)
_BASIC_AUTH = schemas(
    "username passwordFile|password_file", {"password": file_only("passwordFile")}, "password"
)
_SECRET_REF = schema(
    "name key",
    ignored="optional",
    ignored_why="sdgen treats every Secret reference as required; ignored",
)
# The auth settings of an endpoint, of which at most one may be given.
AUTH_KEYS = ("authorization", "bearerTokenFile", "bearerTokenSecret", "basicAuth")


def tls(reader: Reader, f: Field | None, *, secrets: bool) -> TLSConfig | None:
    """An endpoint's tlsConfig."""
    m = reader.mapping(f.node, f.path, _TLS[secrets]) if f else None
    if m is None:
        return None
    cert, key = m.get("certFile") or m.get("cert"), m.get("keyFile") or m.get("keySecret")
    lone = cert if key is None else key if cert is None else None
    if lone is not None:
        reader.error(
            lone.path,
            lone.line,
            "a client certificate (certFile or cert) and its key (keyFile or keySecret) "
            "must be given together"
            if secrets
            else "certFile and keyFile must be given together",
        )
    ca_file, ca_secret = _file_or_secret(reader, m, "caFile", "ca", wrapped=True)
    cert_file, cert_secret = _file_or_secret(reader, m, "certFile", "cert", wrapped=True)
    key_file, key_secret = _file_or_secret(reader, m, "keyFile", "keySecret")
    return TLSConfig(
        insecure_skip_verify=bool(reader.boolean(m.get("insecureSkipVerify"))),
        server_name=reader.text(m.get("serverName")) or "",
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        ca_secret=ca_secret,
        cert_secret=cert_secret,
        key_secret=key_secret,
    )


def auth(
    reader: Reader, f: Mapping[str, Field], *, secrets: bool
) -> tuple[Authorization | None, BasicAuth | None]:
    """An endpoint's authorization (bearerToken* become type Bearer) and basicAuth, read from
    the endpoint's fields `f`; at most one of the AUTH_KEYS may be given."""
    keys = AUTH_KEYS if secrets else tuple(k for k in AUTH_KEYS if "Secret" not in k)
    given = [f[k] for k in keys if k in f]
    for extra in given[1:]:
        listed = ", ".join(f'"{k}"' for k in keys[:-1]) + f' and "{keys[-1]}"'
        reader.error(extra.path, extra.line, f"give only one of {listed}")
    authorization = _authorization(reader, f.get("authorization"), secrets=secrets)
    if token_file := local_file(reader, f.get("bearerTokenFile")):
        authorization = Authorization("Bearer", token_file)
    if "bearerTokenSecret" in f and (token := _secret_ref(reader, f["bearerTokenSecret"])):
        authorization = Authorization("Bearer", credentials_secret=token)
    return authorization, _basic_auth(reader, f.get("basicAuth"), secrets=secrets)


def _authorization(reader: Reader, f: Field | None, *, secrets: bool) -> Authorization | None:
    m = reader.mapping(f.node, f.path, _AUTHORIZATION[secrets]) if f else None
    if f is None or m is None:
        return None
    kind = reader.text(m.get("type"), required=True) or "Bearer"
    if kind.lower() == "basic":
        reader.error(
            m["type"].path,
            m["type"].line,
            'authorization type cannot be "Basic"; use basicAuth instead',
        )
    if "credentialsFile" not in m and "credentials" not in m:
        also = ' or "credentials"' if secrets else ""
        reader.error(f.path, f.line, f'missing field "credentialsFile"{also}')
    path, secret = _file_or_secret(reader, m, "credentialsFile", "credentials")
    return Authorization(kind, path, secret)


def _basic_auth(reader: Reader, f: Field | None, *, secrets: bool) -> BasicAuth | None:
    m = reader.mapping(f.node, f.path, _BASIC_AUTH[secrets]) if f else None
    if m is None:
        return None
    user, user_secret = m.get("username"), None
    if user is not None and isinstance(user.node, MappingNode):
        if secrets:
            user_secret = _secret_ref(reader, user)
        else:
            reader.error(
                user.path,
                user.line,
                "Secret references are not supported (sdgen does "
                "not materialise Secrets): write the username as text",
            )
        user = None
    password_file, password_secret = _file_or_secret(reader, m, "passwordFile", "password")
    return BasicAuth(reader.text(user) or "", password_file, user_secret, password_secret)


def _file_or_secret(
    reader: Reader, m: dict[str, Field], file_key: str, secret_key: str, *, wrapped: bool = False
) -> tuple[str, SecretRef | None]:
    """A file path or (when the schema let `secret_key` through) a Secret reference, not both.
    `wrapped`: the reference is `{secret: {name, key}}`, as for tlsConfig ca and cert."""
    path_field, secret_field = m.get(file_key), m.get(secret_key)
    if path_field is not None and secret_field is not None:
        reader.error(
            secret_field.path,
            secret_field.line,
            f'give "{file_key}" or "{secret_key}", not both',
        )
    path = local_file(reader, path_field)
    if secret_field is None:
        return path, None
    if wrapped:
        return path, _wrapped_secret_ref(reader, secret_field, file_key)
    return path, _secret_ref(reader, secret_field)


def local_file(reader: Reader, f: Field | None) -> str:
    """A path Prometheus opens in its own pod, checked against the reader's allowed prefixes
    (sdgen.config.filepaths); "" when not given."""
    path = reader.text(f, required=True) or ""
    if f is None or not path:
        return path
    if reader.allowed_files is None:
        reader.warn(
            f.path,
            line_of(f.node),
            f'Prometheus will read the local file "{path}" in its own pod; any path is '
            f"accepted unless sdgen runs with {filepaths.FLAG}",
        )
    elif problem := filepaths.file_path_problem(path, reader.allowed_files):
        reader.error(f.path, line_of(f.node), problem)
    return path


def _wrapped_secret_ref(reader: Reader, f: Field, file_key: str) -> SecretRef | None:
    configmap = f"ConfigMap references are not supported: mount the ConfigMap and set {file_key}"
    m = reader.mapping(f.node, f.path, schema("secret", refused={"configMap": configmap}))
    if m is None:
        return None
    if "secret" not in m:
        reader.error(f.path, f.line, 'missing field "secret"')
        return None
    return _secret_ref(reader, m["secret"])


def _secret_ref(reader: Reader, f: Field) -> SecretRef | None:
    if not isinstance(f.node, MappingNode):
        reader.error(
            f.path,
            line_of(f.node),
            f"expected a Secret reference {{name, key}}, got {kind_of(f.node)} "
            "(inline credentials are not supported)",
        )
        return None
    m = reader.mapping(f.node, f.path, _SECRET_REF)
    if m is None:
        return None
    name = _checked(reader, m, f, "name", _SECRET_NAME, "a Secret name (a DNS subdomain)")
    key = _checked(reader, m, f, "key", _SECRET_KEY, "a Secret key ([-._a-zA-Z0-9]+)")
    return SecretRef(name, key) if name and key else None


def _checked(
    reader: Reader,
    m: dict[str, Field],
    parent: Field,
    key: str,
    pattern: re.Pattern[str],
    what: str,
) -> str | None:
    """The text of `m[key]`, required, if it matches `pattern` (Kubernetes caps names at 253)."""
    if key not in m:
        reader.error(parent.path, parent.line, f'missing field "{key}"')
        return None
    value = reader.text(m[key], required=True)
    if not value:
        return None
    if len(value) > 253 or not pattern.fullmatch(value):
        reader.error(m[key].path, m[key].line, f'"{value}" is not {what}')
        return None
    return value
