"""deploy/ rendered with the real `kubectl kustomize`, and the RBAC rules it grants, for the
deploy and secrets suites."""

from __future__ import annotations

import subprocess
from functools import cache
from typing import Any

import yaml

from tests.support.helpers import REPO, binary

DEPLOY = REPO / "deploy"


@cache
def render(kustomization: str) -> tuple[dict[str, Any], ...]:
    result = subprocess.run(
        [str(binary("kubectl")), "kustomize", str(DEPLOY / kustomization)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def allow_list(
    docs: tuple[dict[str, Any], ...],
) -> list[tuple[str, str | None, str, tuple[str, ...]]]:
    """The manifests' grants as the emulator's allow list: (resource, namespace or None for
    cluster-wide, API group, verbs)."""
    namespace = workload(docs)["metadata"]["namespace"]
    return sorted(
        (resource, namespace if kind == "Role" else None, group, verbs)
        for kind, group, resource, verbs in granted_rules(docs)
    )


def workload(docs: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    assert len(found) == 1, [d["kind"] for d in found]
    return found[0]


def granted_rules(docs: tuple[dict[str, Any], ...]) -> set[tuple[str, str, str, tuple[str, ...]]]:
    """(role kind, API group, resource, verbs) granted to the pod's ServiceAccount."""
    spec = workload(docs)["spec"]["template"]["spec"]
    account = (workload(docs)["metadata"]["namespace"], spec["serviceAccountName"])
    roles = {(d["kind"], d["metadata"]["name"]): d for d in docs if d["kind"].endswith("Role")}
    rules: set[tuple[str, str, str, tuple[str, ...]]] = set()
    for binding in (d for d in docs if d["kind"].endswith("RoleBinding")):
        subjects = {(s["namespace"], s["name"]) for s in binding["subjects"]}
        assert subjects == {account}, f"{binding['metadata']['name']} binds {subjects}"
        role = roles[(binding["roleRef"]["kind"], binding["roleRef"]["name"])]
        for rule in role["rules"]:
            assert set(rule) == {"apiGroups", "resources", "verbs"}, rule  # no names, no URLs
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    rules.add((role["kind"], group, resource, tuple(rule["verbs"])))
    return rules
