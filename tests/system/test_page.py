"""The ops port's HTML page in a real headless Chromium (Debian's chromium + chromedriver,
tests/tools/fetch-chromium), against a running sidecar over the emulator.

The browser opens the overview, clicks into a target, asks "why not this pod?" for a pod a
relabel rule drops, and must see the rule. A pod label and a targetName carry `<script>` and
quotes: the page shows them as text and nothing executes (the title stays, no element appears,
the DOM holds no script). Every page must load without a console error and without a request
to the API server. Screenshots are kept in test-artifacts/page/ ($SDGEN_TEST_ARTIFACTS).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fakeapi import FakeAPI
from tests.support.browser import Browser
from tests.support.helpers import REPO, pod_manifest, wait_for
from tests.support.sidecar import Ops, configmap

# Would set the title and add an element, were it ever parsed as HTML.
SCRIPT = (
    "<script>document.title='pwned';"
    "document.body.append(Object.assign(document.createElement('b'), {id: 'pwned'}))</script>"
)
HOSTILE_TARGET = f"x\"'>{SCRIPT}"
HOSTILE_LABEL = f"\"'><img id=pwned-img src=x>{SCRIPT}"
CONFIG = """\
targets:
- targetName: web
  type: PodMonitor
  namespaceSelector: {matchNames: [demo]}
  selector: {matchLabels: {app: web}}
  endpoints:
  - port: 8080
    relabelings:
    - {sourceLabels: [__meta_kubernetes_pod_label_tier], regex: canary, action: drop}
    - {action: labelmap, regex: __meta_kubernetes_pod_label_(note)}
- targetName: HOSTILE
  type: StaticEndpoints
  endpoints: [{addresses: ['192.0.2.1:9100']}]
"""
ARTIFACTS = Path(os.environ.get("SDGEN_TEST_ARTIFACTS", REPO / "test-artifacts")) / "page"


def _quoted(text: str) -> str:
    """A YAML single-quoted scalar."""
    return "'" + text.replace("'", "''") + "'"


@pytest.fixture
def sidecar(fakeapi: FakeAPI, kubeconfig: Path, tmp_path: Path) -> Iterator[Ops]:
    for name in ("demo", "monitoring"):
        fakeapi.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    stable = {"app": "web", "tier": "stable", "note": HOSTILE_LABEL}
    fakeapi.create(pod_manifest("web-1", "demo", stable, ip="10.0.0.1", ports=[8080]))
    canary = {"app": "web", "tier": "canary"}
    fakeapi.create(pod_manifest("web-canary", "demo", canary, ip="10.0.0.2", ports=[8080]))
    fakeapi.create(configmap(CONFIG.replace("HOSTILE", _quoted(HOSTILE_TARGET))))
    ops = Ops(tmp_path / "run", kubeconfig)
    ops.until(lambda: ops.get("/readyz")[0] == 200 and ops.files(), what="first render")
    yield ops
    assert ops.terminate() == 0, ops.log


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    chromium = Browser(tmp_path)
    yield chromium
    chromium.close()


def _nothing_executed(browser: Browser, title: str) -> None:
    assert browser.title == title, "an injected script set the title"
    probe = (
        "return [document.scripts.length, document.querySelectorAll('#pwned,#pwned-img').length]"
    )
    assert browser.script(probe) == [0, 0], "the page holds an injected element"
    assert browser.console_errors() == []


def _shot(browser: Browser, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(ARTIFACTS / f"{name}.png")


def test_the_page_in_chromium_drills_down_and_explains_a_dropped_pod(
    sidecar: Ops, browser: Browser, fakeapi: FakeAPI
) -> None:
    base = f"http://127.0.0.1:{sidecar.port}"
    before = fakeapi.reads

    browser.open(base + "/")
    _shot(browser, "overview")
    _nothing_executed(browser, "sdgen")
    body = browser.script("return document.body.innerText")
    assert HOSTILE_TARGET in body, "the hostile targetName is not shown as text"
    assert "configmap monitoring/sdgen-config" in body and "valid" in body
    rows = browser.find_all("table tr")
    assert len(rows) >= 3

    browser.click(browser.find('a[href="/ui/target?name=web"]'))
    _arrived(browser, lambda url: urlsplit(url).path == "/ui/target")
    _shot(browser, "target")
    _nothing_executed(browser, "sdgen: web")
    browser.click(browser.find("#candidates details summary"))  # web-1's labels, folded
    candidates = browser.text(browser.find("#candidates"))
    assert "10.0.0.1:8080" in candidates and f'note="{HOSTILE_LABEL}"' in candidates
    assert (
        "dropped by endpoints[0].relabelings[0] (drop)" in candidates
    )  # web-canary, in the whole list

    browser.type(browser.find('#why input[name="object"]'), "pod/demo/web-canary")
    browser.click(browser.find('#why button[type="submit"]'))
    asked = {"name": ["web"], "object": ["pod/demo/web-canary"]}
    _arrived(browser, lambda url: parse_qs(urlsplit(url).query) == asked)
    _shot(browser, "why-not")
    _nothing_executed(browser, "sdgen: web")
    dropped = [browser.text(e) for e in browser.find_all(".dropped-by")]
    assert dropped == ["dropped by endpoints[0].relabelings[0] (drop)"]
    assert "10.0.0.1:8080" not in browser.text(browser.find("#candidates"))

    browser.open(base + "/")
    hostile_link = [
        e for e in browser.find_all("table a") if browser.text(e) == HOSTILE_TARGET.strip()
    ]
    assert len(hostile_link) == 1
    browser.click(hostile_link[0])
    _arrived(browser, lambda url: parse_qs(urlsplit(url).query) == {"name": [HOSTILE_TARGET]})
    _nothing_executed(browser, f"sdgen: {HOSTILE_TARGET}")
    assert "192.0.2.1:9100" in browser.text(browser.find("#candidates"))

    assert fakeapi.reads == before, "the page made API requests"


def test_the_page_changes_nothing(sidecar: Ops) -> None:
    """Read-only: GET only; a POST to any page path is refused."""
    for path in ("/", "/ui", "/ui/target?name=web"):
        request = urllib.request.Request(
            f"http://127.0.0.1:{sidecar.port}{path}", data=b"x", method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 501
    assert "<form" not in sidecar.get("/ui")[1]
    code, body = sidecar.get("/ui/target?name=web")
    assert code == 200 and body.count("<form") == 1 and '<form method="get"' in body


def test_the_watches_show_the_age_of_their_last_event(sidecar: Ops) -> None:
    watches = sidecar.status()["watches"]
    assert set(watches) >= {"configmaps/monitoring", "pods/demo"}
    assert all(w["synced"] and w["last_event_at"] > 0 for w in watches.values()), watches
    rows = sidecar.get("/")[1].split("<h2>Watches", 1)[1].split("<tr>")[2:]
    assert len(rows) == len(watches) and all("s ago</td>" in row for row in rows), rows


def _arrived(browser: Browser, at: Callable[[str], bool]) -> None:
    """Wait until a click's navigation reached a URL `at` accepts and its page has loaded: a
    WebDriver click can return before the navigation it starts has begun."""
    wait_for(lambda: at(browser.url), 10, message="the page a click leads to")
    wait_for(lambda: browser.script("return document.readyState") == "complete", 10)
