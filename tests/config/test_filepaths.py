"""The local-file check behind --allowed-file-prefixes (issue 17, item 11): pure, table-driven."""

from __future__ import annotations

import pytest

from sdgen.config.document import parse_config
from sdgen.config.filepaths import file_path_problem, prefixes

ALLOWED = ("/etc/prometheus/certs", "/var/run/secrets/scrape")

# (path, allowed prefixes, the problem's start or None when the path is allowed)
CASES: list[tuple[str, tuple[str, ...], str | None]] = [
    ("/etc/prometheus/certs/ca.crt", ALLOWED, None),
    ("/etc/prometheus/certs/sub/dir/key.pem", ALLOWED, None),
    ("/etc/prometheus/certs", ALLOWED, None),  # the prefix itself
    ("//etc/prometheus//certs/./ca.crt", ALLOWED, None),  # normalized: empty and . parts
    ("/var/run/secrets/scrape/token", ALLOWED, None),
    ("/anything/at/all", ("/",), None),
    # components, not strings: a sibling with the same leading characters is outside
    (
        "/etc/prometheus/certs-other/ca.crt",
        ALLOWED,
        '"/etc/prometheus/certs-other/ca.crt" is outside',
    ),
    ("/etc/prometheus/cert", ALLOWED, '"/etc/prometheus/cert" is outside'),
    ("/etc/prometheus", ALLOWED, '"/etc/prometheus" is outside'),
    (
        "/var/run/secrets/kubernetes.io/serviceaccount/token",
        ALLOWED,
        '"/var/run/secrets/kubernetes.io/serviceaccount/token" is outside --allowed-file-prefixes '
        "(/etc/prometheus/certs, /var/run/secrets/scrape): name a file under one of them",
    ),
    # `..` is refused, not normalized: it would escape, and a symlink makes `a/b/..` not `a`
    (
        "/etc/prometheus/certs/../../shadow",
        ALLOWED,
        '"/etc/prometheus/certs/../../shadow" contains ".."',
    ),
    ("/etc/prometheus/certs/../certs/ca.crt", ALLOWED, 'contains ".."'),
    ("/etc/prometheus/certs/..", ALLOWED, 'contains ".."'),
    ("/etc/prometheus/certs/..data/ca.crt", ALLOWED, None),  # a name, not `..`
    # relative: Prometheus resolves it against the fragment's directory (sdgen's output)
    ("../secrets/other.password", ALLOWED, '"../secrets/other.password" is not an absolute path'),
    ("ca.crt", ALLOWED, '"ca.crt" is not an absolute path'),
    # no prefixes at all: no local file (what a policy for untrusted tenants passes)
    (
        "/etc/prometheus/certs/ca.crt",
        (),
        '"/etc/prometheus/certs/ca.crt": no local file may be named',
    ),
]


@pytest.mark.parametrize(("path", "allowed", "problem"), CASES, ids=[c[0] for c in CASES])
def test_file_path_problem(path: str, allowed: tuple[str, ...], problem: str | None) -> None:
    found = file_path_problem(path, allowed)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found, found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/etc/prometheus/certs/,/var/run//secrets/./scrape", ALLOWED),
        (" /a , ,/b ", ("/a", "/b")),
        ("", ()),
        ("/", ("/",)),
    ],
)
def test_prefixes_are_normalized(text: str, expected: tuple[str, ...]) -> None:
    assert prefixes(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("etc/prometheus", 'prefix "etc/prometheus" is not an absolute path'),
        ("/etc,/etc/../root", 'prefix "/etc/../root" contains ".."'),
    ],
)
def test_bad_prefixes_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        prefixes(text)


FILES = """\
targets:
  - targetName: api
    type: StaticEndpoints
    endpoints:
      - address: "192.0.2.1:443"
        bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
  - targetName: web
    type: StaticEndpoints
    endpoints:
      - address: "192.0.2.2:443"
        authorization: {credentialsFile: /etc/prometheus/certs/token}
        tlsConfig:
          caFile: /etc/prometheus/certs/ca.crt
          certFile: /etc/prometheus/certs/tls.crt
          keyFile: /etc/prometheus/certs/tls.key
  - targetName: basic
    type: StaticEndpoints
    endpoints:
      - address: "192.0.2.3:443"
        basicAuth: {username: u, passwordFile: /etc/passwd}
"""


def test_every_credential_file_field_is_checked_and_rejects_only_its_target() -> None:
    config = parse_config(FILES, allowed_files=("/etc/prometheus/certs",))
    assert [t.name for t in config.targets] == ["web"]
    assert config.rejected == {"api", "basic"} and config.usable
    assert [(i.line, i.path, i.target, i.severity) for i in config.issues] == [
        (6, "targets[0].endpoints[0].bearerTokenFile", "api", "error"),
        (20, "targets[2].endpoints[0].basicAuth.passwordFile", "basic", "error"),
    ]


def test_without_the_flag_every_path_is_accepted_with_a_warning() -> None:
    config = parse_config(FILES)
    assert [t.name for t in config.targets] == ["api", "web", "basic"]
    assert [(i.line, i.path.rsplit(".", 1)[-1], i.severity) for i in config.issues] == [
        (6, "bearerTokenFile", "warning"),
        (11, "credentialsFile", "warning"),
        (13, "caFile", "warning"),
        (14, "certFile", "warning"),
        (15, "keyFile", "warning"),
        (20, "passwordFile", "warning"),
    ]
    assert config.issues[0].message == (
        'Prometheus will read the local file "/var/run/secrets/kubernetes.io/serviceaccount/'
        'token" in its own pod; any path is accepted unless sdgen runs with '
        "--allowed-file-prefixes"
    )
