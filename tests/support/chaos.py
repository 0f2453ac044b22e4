"""Seeded chaos for the reliability tests and `make soak`: a random cluster driver, a random
fault injector, and the tools to run sdgen against them and compare its output.

The driver churns a small, bounded universe of namespaces, pods, Services, EndpointSlices and
the scrape ConfigMap (label changes move objects in and out of the config's selectors; invalid
config edits are later fixed), so thousands of operations keep hitting the same selectors. The
injector cuts, stalls and delays watches, compacts history, answers 5xx/429 and restarts the
listener. Every choice comes from one `random.Random(seed)`, so a failure replays from the
printed seed (given the same timing; the operation sequence itself is exact).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from sdgen.output.outputdir import MANIFEST
from tests.fakeapi import ApiError, FakeAPI
from tests.support.helpers import REPO

CONFIGMAP = ("monitoring", "sdgen-config")
NAMESPACES = ("ns-0", "ns-1", "ns-2", "ns-3")
APPS = ("web", "api", "db")
POD_NAMES = tuple(f"pod-{i}" for i in range(12))
SERVICE_NAMES = ("svc-a", "svc-b", "svc-c")


def seed_from_env(variable: str) -> int:
    """The seed named by `variable` when set (to replay a failure), else a fresh one."""
    configured = os.environ.get(variable)
    return int(configured) if configured else random.SystemRandom().randrange(2**32)


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root (relative path → bytes) except sdgen's ownership manifest."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


# --- configs -------------------------------------------------------------------------------


def _namespace_selector(rng: random.Random) -> dict[str, Any]:
    return rng.choice(
        [
            {"any": True},
            {"matchNames": sorted(rng.sample(NAMESPACES, 2))},
            {"matchLabels": {"team": rng.choice("ab")}},
            {"matchExpressions": [{"key": "team", "operator": "Exists"}]},
        ]
    )


def random_config(rng: random.Random, *, enabled: bool | None = None) -> str:
    """A valid scrape config over the driver's universe (both layouts, every target type)."""
    keep_regex = rng.choice(["up|http_.*", "(a+)+$", "go_.*"])
    targets: list[dict[str, Any]] = [
        {
            "targetName": "pods",
            "type": "PodMonitor",
            "namespaceSelector": _namespace_selector(rng),
            "selector": {"matchLabels": {"app": rng.choice(APPS)}},
            "endpoints": [
                {
                    "port": rng.choice(["metrics", "9100"]),
                    "relabelings": [
                        {
                            "sourceLabels": ["__meta_kubernetes_pod_label_tier"],
                            "targetLabel": "tier",
                        }
                    ],
                    "metricRelabelConfigs": [
                        {"sourceLabels": ["__name__"], "regex": keep_regex, "action": "keep"}
                    ],
                }
            ],
        },
        {
            "targetName": "services",
            "type": "ServiceMonitor",
            "namespaceSelector": _namespace_selector(rng),
            "selector": {
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": rng.sample(["front", "back"], 1)}
                ]
            },
            "endpoints": [{"port": "http"}, {"targetPort": 9100, "path": "/m"}],
        },
        {
            "targetName": "static",
            "type": "StaticEndpoints",
            "endpoints": [{"address": f"192.0.2.{rng.randrange(1, 9)}:9100"}],
        },
    ]
    rng.shuffle(targets)
    targets = targets[: rng.randint(1, 3)]
    if rng.random() < 0.5:
        return yaml.safe_dump({"scrapingInterval": "30s", "targets": targets})
    on = rng.random() < 0.9 if enabled is None else enabled
    agent = {"enabled": on, "scrapingInterval": "20s", "targets": targets}
    return yaml.safe_dump({"features": {"openAgent": agent}})


def invalid_config(rng: random.Random, good: str) -> str:
    """A broken edit of `good`: syntax errors, bad values, garbage bytes."""
    return rng.choice(
        [
            good + "\n  - [unclosed\n",
            good.replace("30s", "30 seconds").replace("20s", "20 parsecs"),
            good + "\nunknownField: 1\n",
            "\x00\x01\x02 garbage \x7f" * 10,
            "targets: [this is: not yaml",
            good.replace("regex: ", "regex: '(unclosed' #"),
        ]
    )


# --- objects -------------------------------------------------------------------------------


def _pod(rng: random.Random, namespace: str, name: str) -> dict[str, Any]:
    labels = {"app": rng.choice(APPS)}
    if rng.random() < 0.6:
        labels["tier"] = rng.choice(["front", "back"])
    ports = [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]
    if rng.random() < 0.5:
        ports.append({"name": "http", "containerPort": 8080, "protocol": "TCP"})
    ip = f"10.{NAMESPACES.index(namespace)}.{rng.randrange(4)}.{rng.randrange(1, 250)}"
    phase = rng.choice(["Running", "Running", "Running", "Pending", "Succeeded"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "example/app:1", "ports": ports}]},
        "status": {"phase": phase, "podIP": ip, "podIPs": [{"ip": ip}]},
    }


def _service(rng: random.Random, namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"tier": rng.choice(["front", "back", "none"])},
        },
        "spec": {
            "selector": {"app": rng.choice(APPS)},
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                {"name": "metrics", "port": 9100, "targetPort": 9100, "protocol": "TCP"},
            ],
        },
    }


def _slice(rng: random.Random, namespace: str, service: str) -> dict[str, Any]:
    endpoints = [
        {
            "addresses": [f"10.{NAMESPACES.index(namespace)}.9.{rng.randrange(1, 250)}"],
            "conditions": {"ready": rng.random() < 0.8},
            "targetRef": {"kind": "Pod", "name": rng.choice(POD_NAMES), "namespace": namespace},
        }
        for _ in range(rng.randint(0, 3))
    ]
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service}-{rng.randrange(2)}",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [
            {"name": "http", "port": 8080, "protocol": "TCP"},
            {"name": "metrics", "port": 9100, "protocol": "TCP"},
        ],
    }


def configmap(data: dict[str, str]) -> dict[str, Any]:
    namespace, name = CONFIGMAP
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


class Driver:
    """Random cluster operations; `counts` says how many of each kind were performed."""

    def __init__(self, api: FakeAPI, rng: random.Random) -> None:
        self.api = api
        self.rng = rng
        self.counts: Counter[str] = Counter()
        self.config = random_config(rng)
        self.configs = [self.config]  # every scrape config text applied, valid or not

    def seed(self) -> None:
        """A starting cluster: every namespace, some pods, services and slices, a config."""
        api = self.api
        api.apply(configmap({"scrape_config.yaml": self.config}))
        for namespace in ("monitoring", *NAMESPACES):
            api.apply(self._namespace(namespace))
        for _ in range(20):
            self.step_pod()
        for _ in range(6):
            self.step_service()

    def _namespace(self, name: str) -> dict[str, Any]:
        team = self.rng.choice(["a", "b", None])
        labels = {"team": team} if team else {}
        return {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels},
        }

    def step(self) -> None:
        """One random operation."""
        self.rng.choices(
            [self.step_pod, self.step_service, self.step_namespace, self.step_config],
            weights=[10, 5, 1, 2],
        )[0]()

    def step_pod(self) -> None:
        namespace, name = self.rng.choice(NAMESPACES), self.rng.choice(POD_NAMES)
        if self.rng.random() < 0.25:
            self._delete("pods", namespace, name)
        elif self.rng.random() < 0.5 and self.api.get("pods", namespace, name):
            app = self.rng.choice([*APPS, None])
            self._do("pod-relabel", self.api.patch, "pods", namespace, name, _labels(app))
        else:
            self._do("pod-apply", self.api.apply, _pod(self.rng, namespace, name))

    def step_service(self) -> None:
        namespace, name = self.rng.choice(NAMESPACES), self.rng.choice(SERVICE_NAMES)
        roll = self.rng.random()
        if roll < 0.15:
            self._delete("services", namespace, name)
        elif roll < 0.3:
            self._delete("endpointslices", namespace, f"{name}-{self.rng.randrange(2)}")
        elif roll < 0.55:
            self._do("service-apply", self.api.apply, _service(self.rng, namespace, name))
        else:
            self._do("slice-apply", self.api.apply, _slice(self.rng, namespace, name))

    def step_namespace(self) -> None:
        name = self.rng.choice(NAMESPACES)
        if self.rng.random() < 0.2:
            self._delete("namespaces", None, name)
        else:
            self._do("namespace-apply", self.api.apply, self._namespace(name))

    def step_config(self) -> None:
        roll = self.rng.random()
        if roll < 0.5:
            self.config = random_config(self.rng)
            self._config("config-valid", self.config)
        elif roll < 0.8:
            self._config("config-invalid", invalid_config(self.rng, self.config))
        elif roll < 0.9:
            self._do("config-key-deleted", self.api.apply, configmap({"other": "x"}))
        else:
            self._delete("configmaps", *CONFIGMAP)

    def finish(self) -> None:
        """End on a valid, enabled config, so the final state has one right answer and it
        holds files (a disabled one, 5 % of random configs, would make the check vacuous)."""
        self.config = random_config(self.rng, enabled=True)
        self._config("config-valid", self.config)

    def _config(self, kind: str, text: str) -> None:
        self.configs.append(text)
        self._do(kind, self.api.apply, configmap({"scrape_config.yaml": text}))

    def _do(self, kind: str, operation: Any, *args: Any) -> None:
        operation(*args)
        self.counts[kind] += 1

    def _delete(self, resource: str, namespace: str | None, name: str) -> None:
        try:
            self.api.delete(resource, namespace, name)
        except ApiError as err:
            if err.code != 404:
                raise
            self.counts["delete-missing"] += 1
            return
        self.counts[f"{resource}-delete"] += 1


def _labels(app: str | None) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}}}


# --- faults --------------------------------------------------------------------------------


class FaultInjector:
    """Random API faults, each short-lived: stalls and latency are released within ~1.5 s so
    that after `clear()` only sdgen's own backoff stands between it and convergence."""

    def __init__(self, api: FakeAPI, rng: random.Random) -> None:
        self.api = api
        self.rng = rng
        self.counts: Counter[str] = Counter()

    def run(self, stop: threading.Event, mean_gap: float) -> None:
        while not stop.wait(self.rng.expovariate(1 / mean_gap)):
            self.step(stop)
        self.clear()

    def step(self, stop: threading.Event) -> None:
        api, rng = self.api, self.rng
        kind = rng.choice(
            ["drop", "stall", "compact", "5xx", "429", "restart", "latency", "cut-mid-event"]
        )
        self.counts[kind] += 1
        if kind == "drop":
            api.drop_watches()
        elif kind == "stall":
            api.stall_watches(True)
            stop.wait(rng.uniform(0.2, 1.5))
            api.stall_watches(False)
        elif kind == "compact":
            api.compact()
        elif kind == "5xx":
            api.fail_next(rng.randint(1, 4), status=rng.choice([500, 502, 503, 504]))
        elif kind == "429":
            api.fail_next(rng.randint(1, 3), status=429, retry_after=1)
        elif kind == "restart":
            api.restart_listener()
        elif kind == "latency":
            api.set_latency(rng.uniform(0.05, 0.3))
            stop.wait(rng.uniform(0.2, 1.0))
            api.set_latency(0.0)
        else:
            api.cut_watches_mid_event()

    def clear(self) -> None:
        self.api.stall_watches(False)
        self.api.set_latency(0.0)
        self.api.fail_next(0)


# --- sdgen processes ------------------------------------------------------------------------


class Sdgen:
    """A `sdgen run` (or `once`) subprocess against the emulator; output in a log file."""

    def __init__(self, command: str, out: Path, kubeconfig: Path, log: Path, *extra: str) -> None:
        self.out, self.log_path = out, log
        out.mkdir(parents=True, exist_ok=True)
        namespace, name = CONFIGMAP
        args = [sys.executable, "-m", "sdgen", command, "--output-dir", str(out)]
        args += ["--kubeconfig", str(kubeconfig), "--configmap", f"{namespace}/{name}"]
        if command == "run":
            args += ["--interval", "500ms", "--debounce", "50ms", "--listen", ""]
        with log.open("ab") as stream:
            self.proc = subprocess.Popen(
                [*args, *extra], stdout=stream, stderr=subprocess.STDOUT, cwd=REPO
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode


def render_once(kubeconfig: Path, out: Path, log: Path) -> dict[str, bytes]:
    """What `sdgen once` renders from fresh informers over the emulator's current state."""
    once = Sdgen("once", out, kubeconfig, log)
    code = once.proc.wait(120)
    assert code == 0, f"sdgen once exited {code}:\n{once.log}"
    return tree(out)
