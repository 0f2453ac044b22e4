"""--materialize-secrets: Secret references parsed, read from the default namespace, written
0600 under secrets/ and named by the fragments; refused as before without the flag.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from sdgen.cache.informerset import scopes
from sdgen.cli.main import main
from sdgen.config.document import parse_config
from sdgen.config.model import Authorization, BasicAuth, SecretRef, TLSConfig
from sdgen.k8s.records import ObjectMeta, Secret
from sdgen.k8s.view import ClusterNeeds, StaticCluster
from sdgen.output.naming import slug
from sdgen.output.outputdir import OutputDir
from sdgen.output.render import render_endpoint
from sdgen.output.secretfiles import SCRAPE_SECRET_LABEL, materialize
from sdgen.resolve.resolver import resolve
from sdgen.resolve.scope import needs
from tests.fakeapi import FakeAPI
from tests.support.deploy import allow_list
from tests.support.deploy import render as kustomize
from tests.support.helpers import REPO, binary
from tests.support.sidecar import Ops, configmap

DATA = REPO / "tests/data/secrets"
NS = "monitoring"
REFUSED = "sdgen does not materialise Secrets"


def endpoint_yaml(body: str) -> str:
    """A one-endpoint StaticEndpoints config with `body` as the endpoint's extra fields."""
    return "targets:\n  - targetName: t\n    type: StaticEndpoints\n    endpoints:\n" + (
        "      - address: h:1\n" + textwrap.indent(textwrap.dedent(body), " " * 8)
    )


# --- the config: refused without the flag, parsed with it, malformed refs located ----------

REF = SecretRef("web-auth", "pass")
FORMS = [
    pytest.param(
        "basicAuth:\n  password: {name: web-auth, key: pass}\n",
        "basicAuth.password",
        "passwordFile",
        lambda ep: ep.basic_auth == BasicAuth(password_secret=REF),
        id="basicAuth.password",
    ),
    pytest.param(
        "basicAuth:\n  username: {name: web-auth, key: pass}\n",
        "basicAuth.username",
        "username as text",
        lambda ep: ep.basic_auth == BasicAuth(username_secret=REF),
        id="basicAuth.username",
    ),
    pytest.param(
        "authorization:\n  credentials: {name: web-auth, key: pass}\n",
        "authorization.credentials",
        "credentialsFile",
        lambda ep: ep.authorization == Authorization("Bearer", credentials_secret=REF),
        id="authorization.credentials",
    ),
    pytest.param(
        "bearerTokenSecret: {name: web-auth, key: pass}\n",
        "bearerTokenSecret",
        "bearerTokenFile",
        lambda ep: ep.authorization == Authorization("Bearer", credentials_secret=REF),
        id="bearerTokenSecret",
    ),
    pytest.param(
        "tlsConfig:\n  ca: {secret: {name: web-auth, key: pass}}\n",
        "tlsConfig.ca",
        "caFile",
        lambda ep: ep.tls == TLSConfig(ca_secret=REF),
        id="tlsConfig.ca",
    ),
    pytest.param(
        "tlsConfig:\n  cert: {secret: {name: web-auth, key: pass}}\n"
        "  keySecret: {name: web-auth, key: pass}\n",
        "tlsConfig.cert",
        "certFile",
        lambda ep: ep.tls == TLSConfig(cert_secret=REF, key_secret=REF),
        id="tlsConfig.cert+keySecret",
    ),
]


@pytest.mark.parametrize(("body", "field", "fix", "_"), FORMS)
def test_a_secret_reference_is_refused_without_the_flag(
    body: str, field: str, fix: str, _: Any
) -> None:
    config = parse_config(endpoint_yaml(body))
    assert config.rejected == {"t"}
    issue = next(i for i in config.errors if i.path.endswith(field))
    assert REFUSED in issue.message and fix in issue.message


@pytest.mark.parametrize(("body", "_field", "_fix", "expected"), FORMS)
def test_a_secret_reference_is_parsed_with_the_flag(
    body: str, _field: str, _fix: str, expected: Any
) -> None:
    config = parse_config(endpoint_yaml(body), allow_secrets=True)
    assert config.issues == ()
    assert expected(config.targets[0].endpoints[0])


MALFORMED = [
    ("password: {name: web-auth}", 2, "basicAuth.password", 'missing field "key"'),
    ("password: {key: pass}", 2, "basicAuth.password", 'missing field "name"'),
    ("password: hunter2", 2, "basicAuth.password", "inline credentials are not supported"),
    ("password: {name: Web_Auth, key: p}", 2, "basicAuth.password.name", "not a Secret name"),
    ("password: {name: w, key: a/b}", 2, "basicAuth.password.key", "not a Secret key"),
    ("password: {name: w, key: p, extra: 1}", 2, "basicAuth.password.extra", "unknown field"),
    (
        "password: {name: w, key: p}\n  passwordFile: /p",
        2,
        "basicAuth.password",
        'give "passwordFile" or "password", not both',
    ),
]


@pytest.mark.parametrize(("body", "line", "path", "message"), MALFORMED)
def test_a_malformed_secret_reference_is_a_located_error(
    body: str, line: int, path: str, message: str
) -> None:
    text = "basicAuth:\n  " + body + "\n"
    config = parse_config(endpoint_yaml(text), allow_secrets=True)
    where = [(i.line, i.path) for i in config.errors if message in i.message]
    assert where == [(5 + line, f"targets[0].endpoints[0].{path}")], config.issues


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("tlsConfig:\n  ca: {name: w, key: k}\n", 'unknown field "name"'),
        ("tlsConfig:\n  ca: {configMap: {name: w, key: k}}\n", "ConfigMap references"),
        ("tlsConfig:\n  cert: {secret: {name: w, key: k}}\n", "must be given together"),
        ("bearerTokenSecret: {name: w, key: k}\nbasicAuth: {passwordFile: /p}\n", "only one"),
        ("authorization: {type: Bearer}\n", 'missing field "credentialsFile" or "credentials"'),
    ],
)
def test_misplaced_secret_references_are_errors(body: str, message: str) -> None:
    config = parse_config(endpoint_yaml(body), allow_secrets=True)
    assert config.rejected == {"t"}
    assert any(message in i.message for i in config.errors), config.issues


def test_sdgen_check_takes_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(DATA / "config.yaml")
    assert main(["check", path]) == 1
    assert REFUSED in capsys.readouterr().out
    assert main(["check", "--materialize-secrets", path]) == 0


# --- what the config needs, the fragment, the files ----------------------------------------


def test_only_a_config_with_references_watches_secrets_and_only_in_its_namespace() -> None:
    with_refs = parse_config((DATA / "config.yaml").read_text(), allow_secrets=True)
    assert needs(with_refs, NS) == ClusterNeeds(secrets=frozenset({NS}))
    plain = parse_config(endpoint_yaml("basicAuth: {passwordFile: /p}\n"))
    assert needs(plain, NS).secrets is None


def test_secrets_are_one_informer_in_the_default_namespace() -> None:
    assert scopes(ClusterNeeds(secrets=frozenset({NS}))) == {("secrets", NS)}


def test_the_fragment_names_the_secret_files_beside_it() -> None:
    config = parse_config((DATA / "config.yaml").read_text(), allow_secrets=True)
    [web, *_] = resolve(config, None, default_namespace=NS).endpoints
    stem = slug("web", 0)
    fragment = render_endpoint(web)[f"scrape/{stem}.yml"].decode()
    for key, field in [
        ("username_file", "username"),
        ("password_file", "password"),
        ("ca_file", "ca"),
    ]:
        assert f"{key}: '../secrets/{stem}.{field}'" in fragment


OPT_IN = {SCRAPE_SECRET_LABEL: "true"}  # without it, sdgen refuses to write a Secret out


def secret(
    name: str, namespace: str = NS, labels: dict[str, str] | None = None, **data: str
) -> dict[str, Any]:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": OPT_IN if labels is None else labels,
        },
        "type": "Opaque",
        "data": encoded,
    }


def record(obj: dict[str, Any]) -> Secret:
    return Secret(ObjectMeta(**obj["metadata"]), obj["data"], obj["type"])


WEB = secret("web-auth", user="scraper", password="s3cr=t\n", **{"ca.crt": "CA"})
TOKEN = secret("api-token", token="tok-1")


UNLABELLED = (
    'endpoints[0].tlsConfig.ca: Secret "monitoring/web-auth" is not labelled '
    'sdgen.io/scrape-secret: "true": sdgen writes out only Secrets that opt in, so that editing '
    "the ConfigMap cannot send any Secret anywhere — if this one is meant for scraping, run: "
    "kubectl label secret -n monitoring web-auth sdgen.io/scrape-secret=true; its files are "
    "removed meanwhile"
)


@pytest.mark.parametrize(
    ("secrets", "error", "gone"),
    [
        (
            [TOKEN],
            'endpoints[0].tlsConfig.ca: Secret "monitoring/web-auth" not found',
            True,
        ),
        (
            [TOKEN, secret("web-auth", namespace="other", user="u", password="p")],
            "not found",
            True,
        ),
        (
            [TOKEN, secret("web-auth", user="u", password="p")],
            'endpoints[0].tlsConfig.ca: Secret "monitoring/web-auth" has no key "ca.crt"',
            True,
        ),
        ([TOKEN, {**WEB, "metadata": {"name": "web-auth", "namespace": NS}}], UNLABELLED, True),
        (
            [TOKEN, secret("web-auth", labels={SCRAPE_SECRET_LABEL: "yes"}, user="u")],
            "is not labelled",
            True,
        ),
        (
            [TOKEN, {**WEB, "data": {**WEB["data"], "user": "*not base64*"}}],
            'endpoints[0].basicAuth.username: Secret "monitoring/web-auth": key "user" is not '
            "valid base64",
            False,
        ),
    ],
)
def test_a_target_whose_secret_cannot_be_used_is_an_error_of_its_own(
    secrets: list[dict[str, Any]], error: str, gone: bool
) -> None:
    config = parse_config((DATA / "config.yaml").read_text(), allow_secrets=True)
    cluster = StaticCluster.from_objects(secrets=[record(s) for s in secrets])
    result = materialize(resolve(config, None, default_namespace=NS), cluster, NS)
    assert error in result.resolution.errors["web"]
    assert result.errors == {"web": result.resolution.errors["web"]}
    assert result.gone == ({"web"} if gone else set())
    assert "scraper" not in result.resolution.errors["web"]
    assert {et.target.name for et in result.resolution.endpoints} == {"api", "plain"}
    assert result.files == {f"secrets/{slug('api', 0)}.credentials": b"tok-1"}


def test_secret_files_are_owner_only_whatever_the_file_mode(tmp_path: Path) -> None:
    out = OutputDir(tmp_path, 0o664)
    out.prepare()
    assert not (tmp_path / "secrets").exists()
    out.sync({"secrets/a.password": b"p", "targets/a.json": b"[]\n"})
    assert stat.S_IMODE((tmp_path / "secrets/a.password").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) & 0o077 == 0
    assert stat.S_IMODE((tmp_path / "targets/a.json").stat().st_mode) == 0o664


# --- end to end: `sdgen run --materialize-secrets` against the emulator --------------------


def files_of(root: Path, containing: str = "") -> dict[str, bytes]:
    """The visible files below root whose path contains `containing` (no temp files)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and containing in str(p.relative_to(root)) and not p.name.startswith(".")
    }


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def promtool_accepts(out: Path) -> None:
    config = out.parent / "prometheus.yml"
    config.write_text(f"scrape_config_files: ['{out}/scrape/*.yml']\n")
    check = subprocess.run(
        [str(binary("promtool")), "check", "config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.fixture
def cluster(fakeapi: FakeAPI) -> FakeAPI:
    """The config and its Secrets in monitoring, under the secrets overlay's RBAC only."""
    fakeapi.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    fakeapi.create(configmap((DATA / "config.yaml").read_text()))
    for obj in (WEB, TOKEN):
        fakeapi.create(obj)
    fakeapi.allow_only(allow_list(kustomize("overlays/secrets")))
    return fakeapi


def test_run_writes_secret_files_and_follows_secret_changes(
    cluster: FakeAPI, kubeconfig: Path, tmp_path: Path
) -> None:
    run = Ops(tmp_path, kubeconfig, "--materialize-secrets")
    try:
        web, api = slug("web", 0), slug("api", 0)
        secrets = run.out / "secrets"
        expected = {
            f"{web}.username": b"scraper",
            f"{web}.password": b"s3cr=t\n",
            f"{web}.ca": b"CA",
            f"{api}.credentials": b"tok-1",
        }
        run.until(lambda: files_of(secrets) == expected, 30, "the secret files")
        run.until(lambda: run.get("/readyz")[0] == 200, 30, "the first render")
        assert {mode(p) for p in secrets.iterdir()} == {0o600}
        assert mode(run.out / "scrape" / f"{web}.yml") == 0o644
        fragment = run.files("scrape")[f"{api}.yml"]
        assert f"credentials_file: '../secrets/{api}.credentials'" in fragment
        promtool_accepts(run.out)

        cluster.update(secret("api-token", token="tok-2"))
        run.until(lambda: (secrets / f"{api}.credentials").read_bytes() == b"tok-2", 30)

        assert len(files_of(run.out, web)) == 6  # targets, relabel, scrape and three secrets
        cluster.delete("secrets", NS, "web-auth")
        cluster.update(secret("api-token", token="tok-3"))  # the others still render
        run.until(lambda: (secrets / f"{api}.credentials").read_bytes() == b"tok-3", 30)
        missing = (
            'endpoints[0].tlsConfig.ca: Secret "monitoring/web-auth" not found (Secrets '
            "are read from this namespace only); its files are removed meanwhile"
        )
        run.until(lambda: missing in run.status()["targets"]["web"]["last_error"], 30, missing)
        status = run.status()["targets"]
        assert status["api"]["last_error"] == "" and status["plain"]["last_error"] == ""
        # The revoked value is neither on disk nor in use: the target's files went with it.
        run.until(lambda: files_of(run.out, web) == {}, 30, "web's files removed")
        assert f"target web rejected: {missing}" in run.log  # logged, not only in /status
        assert "scraper" not in run.log and "tok-" not in run.log

        cluster.create(WEB)  # back: the target renders again
        run.until(lambda: len(files_of(run.out, web)) == 6, 30, "web's files back")
        run.until(lambda: run.status()["targets"]["web"]["last_error"] == "", 30)
        assert "target web: its Secrets can be used again" in run.log
    finally:
        assert run.terminate() == 0, run.log


def test_an_unlabelled_secret_is_refused_with_the_label_to_add(
    cluster: FakeAPI, kubeconfig: Path, tmp_path: Path
) -> None:
    """Editing the ConfigMap must not be enough to send a Secret to an address of one's
    choice: a Secret is written out only when it carries the opt-in label."""
    cluster.update(secret("api-token", labels={}, token="tok-1"))
    run = Ops(tmp_path, kubeconfig, "--materialize-secrets")
    try:
        run.until(lambda: run.get("/readyz")[0] == 200, 30, "the first render")
        api = slug("api", 0)
        refused = (
            'endpoints[0].authorization.credentials: Secret "monitoring/api-token" is not '
            'labelled sdgen.io/scrape-secret: "true"'
        )
        run.until(lambda: refused in run.status()["targets"]["api"]["last_error"], 30, refused)
        label = "kubectl label secret -n monitoring api-token sdgen.io/scrape-secret=true"
        assert label in run.status()["targets"]["api"]["last_error"]
        assert f"target api rejected: {refused}" in run.log
        assert files_of(run.out, api) == {}
        assert len(files_of(run.out, slug("web", 0))) == 6  # a labelled one is written

        cluster.update(secret("api-token", token="tok-1"))  # labelled now
        run.until(lambda: files_of(run.out / "secrets", api), 30, "the labelled Secret's file")
        assert run.status()["targets"]["api"]["last_error"] == ""
        assert "tok-1" not in run.log
    finally:
        assert run.terminate() == 0, run.log


def test_sdgen_targets_reports_a_missing_secret_and_prints_no_value(
    cluster: FakeAPI, kubeconfig: Path
) -> None:
    cluster.delete("secrets", NS, "web-auth")
    args = ["--kubeconfig", str(kubeconfig), "--configmap", f"{NS}/sdgen-config"]
    shown = subprocess.run(
        [sys.executable, "-m", "sdgen", "targets", "--materialize-secrets", "--json", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 1, shown.stderr
    errors = json.loads(shown.stdout)["errors"]
    assert errors.keys() == {"web"} and 'Secret "monitoring/web-auth" not found' in errors["web"]
    assert "tok-1" not in shown.stdout + shown.stderr


def test_without_the_flag_references_are_config_errors_and_nothing_is_materialised(
    cluster: FakeAPI, kubeconfig: Path, tmp_path: Path
) -> None:
    run = Ops(tmp_path, kubeconfig)
    try:
        run.until(lambda: run.get("/readyz")[0] == 200, 30, "first render")
        status = run.status()
        assert any(REFUSED in issue for issue in status["config"]["issues"])
        assert REFUSED in status["targets"]["web"]["last_error"]
        assert run.files("targets").keys() == {f"{slug('plain', 0)}.p0"}
        assert not (run.out / "secrets").exists()
        assert not [path for _, path in cluster.requests if "/secrets" in path]
    finally:
        assert run.terminate() == 0, run.log


def test_secret_files_are_never_world_readable_even_with_a_loose_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        out = OutputDir(tmp_path, 0o666)
        out.prepare()
        out.sync({"secrets/a.key": b"k"})
    finally:
        os.umask(old)
    assert mode(tmp_path / "secrets" / "a.key") == 0o600
    assert mode(tmp_path / "secrets") == 0o700
