"""Parse how an endpoint proves who it is (DESIGN §1): TLS, authorization and basic auth.

Credentials are file paths that Prometheus reads from its own pod. Secret references in the
Prometheus Operator's spelling (`basicAuth.password: {name, key}`, `bearerTokenSecret`,
`tlsConfig.ca: {secret: {...}}`, ...) are a validation error naming the file field to use,
unless the parser was asked to allow them (`sdgen --materialize-secrets`): then they become
`SecretRef`s, read from the ConfigMap's own namespace and written under `secrets/` at render
time. Inline credentials are never accepted: they would sit in a ConfigMap in plain text.
"""

from __future__ import annotations

import re

from yaml.nodes import MappingNode

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


class AuthParser(Reader):
    """Reads tlsConfig, authorization, bearerToken* and basicAuth of an endpoint."""

    def __init__(self, *, allow_secrets: bool = False) -> None:
        super().__init__()
        self.allow_secrets = allow_secrets

    def tls(self, f: Field | None) -> TLSConfig | None:
        m = self.mapping(f.node, f.path, _TLS[self.allow_secrets]) if f else None
        if m is None:
            return None
        cert, key = m.get("certFile") or m.get("cert"), m.get("keyFile") or m.get("keySecret")
        lone = cert if key is None else key if cert is None else None
        if lone is not None:
            self.error(
                lone.path,
                lone.line,
                "a client certificate (certFile or cert) and its key (keyFile or keySecret) "
                "must be given together"
                if self.allow_secrets
                else "certFile and keyFile must be given together",
            )
        ca_file, ca_secret = self.file_or_secret(m, "caFile", "ca", wrapped=True)
        cert_file, cert_secret = self.file_or_secret(m, "certFile", "cert", wrapped=True)
        key_file, key_secret = self.file_or_secret(m, "keyFile", "keySecret")
        return TLSConfig(
            insecure_skip_verify=bool(self.boolean(m.get("insecureSkipVerify"))),
            server_name=self.text(m.get("serverName")) or "",
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
            ca_secret=ca_secret,
            cert_secret=cert_secret,
            key_secret=key_secret,
        )

    def auth(self, f: dict[str, Field]) -> tuple[Authorization | None, BasicAuth | None]:
        keys = AUTH_KEYS if self.allow_secrets else tuple(k for k in AUTH_KEYS if "Secret" not in k)
        given = [f[k] for k in keys if k in f]
        for extra in given[1:]:
            listed = ", ".join(f'"{k}"' for k in keys[:-1]) + f' and "{keys[-1]}"'
            self.error(extra.path, extra.line, f"give only one of {listed}")
        authorization = self.authorization(f.get("authorization"))
        if token_file := self.text(f.get("bearerTokenFile"), required=True):
            authorization = Authorization("Bearer", token_file)
        if "bearerTokenSecret" in f and (token := self.secret_ref(f["bearerTokenSecret"])):
            authorization = Authorization("Bearer", credentials_secret=token)
        return authorization, self.basic_auth(f.get("basicAuth"))

    def authorization(self, f: Field | None) -> Authorization | None:
        m = self.mapping(f.node, f.path, _AUTHORIZATION[self.allow_secrets]) if f else None
        if f is None or m is None:
            return None
        kind = self.text(m.get("type"), required=True) or "Bearer"
        if kind.lower() == "basic":
            self.error(
                m["type"].path,
                m["type"].line,
                'authorization type cannot be "Basic"; use basicAuth instead',
            )
        if "credentialsFile" not in m and "credentials" not in m:
            also = ' or "credentials"' if self.allow_secrets else ""
            self.error(f.path, f.line, f'missing field "credentialsFile"{also}')
        path, secret = self.file_or_secret(m, "credentialsFile", "credentials")
        return Authorization(kind, path, secret)

    def basic_auth(self, f: Field | None) -> BasicAuth | None:
        m = self.mapping(f.node, f.path, _BASIC_AUTH[self.allow_secrets]) if f else None
        if m is None:
            return None
        user, user_secret = m.get("username"), None
        if user is not None and isinstance(user.node, MappingNode):
            if self.allow_secrets:
                user_secret = self.secret_ref(user)
            else:
                self.error(
                    user.path,
                    user.line,
                    "Secret references are not supported (sdgen does "
                    "not materialise Secrets): write the username as text",
                )
            user = None
        password_file, password_secret = self.file_or_secret(m, "passwordFile", "password")
        return BasicAuth(self.text(user) or "", password_file, user_secret, password_secret)

    def file_or_secret(
        self, m: dict[str, Field], file_key: str, secret_key: str, *, wrapped: bool = False
    ) -> tuple[str, SecretRef | None]:
        """A file path or (with secrets allowed) a Secret reference, not both.
        `wrapped`: the reference is `{secret: {name, key}}`, as for tlsConfig ca and cert."""
        path_field, secret_field = m.get(file_key), m.get(secret_key)
        if path_field is not None and secret_field is not None:
            self.error(
                secret_field.path,
                secret_field.line,
                f'give "{file_key}" or "{secret_key}", not both',
            )
        path = self.text(path_field, required=True) or ""
        if secret_field is None:
            return path, None
        if wrapped:
            return path, self.wrapped_secret_ref(secret_field, file_key)
        return path, self.secret_ref(secret_field)

    def wrapped_secret_ref(self, f: Field, file_key: str) -> SecretRef | None:
        configmap = (
            f"ConfigMap references are not supported: mount the ConfigMap and set {file_key}"
        )
        m = self.mapping(f.node, f.path, schema("secret", refused={"configMap": configmap}))
        if m is None:
            return None
        if "secret" not in m:
            self.error(f.path, f.line, 'missing field "secret"')
            return None
        return self.secret_ref(m["secret"])

    def secret_ref(self, f: Field) -> SecretRef | None:
        if not isinstance(f.node, MappingNode):
            self.error(
                f.path,
                line_of(f.node),
                f"expected a Secret reference {{name, key}}, got {kind_of(f.node)} "
                "(inline credentials are not supported)",
            )
            return None
        m = self.mapping(f.node, f.path, _SECRET_REF)
        if m is None:
            return None
        name = self.checked(m, f, "name", _SECRET_NAME, "a Secret name (a DNS subdomain)")
        key = self.checked(m, f, "key", _SECRET_KEY, "a Secret key ([-._a-zA-Z0-9]+)")
        return SecretRef(name, key) if name and key else None

    def checked(
        self, m: dict[str, Field], parent: Field, key: str, pattern: re.Pattern[str], what: str
    ) -> str | None:
        if key not in m:
            self.error(parent.path, parent.line, f'missing field "{key}"')
            return None
        value = self.text(m[key], required=True)
        if not value:
            return None
        if len(value) > 253 or not pattern.fullmatch(value):
            self.error(m[key].path, m[key].line, f'"{value}" is not {what}')
            return None
        return value
