"""sdgen.runtime.page: every value escaped wherever it lands, lists paginated, the funnel bar,
and the routes' answers. Pure functions of a /status document and an explain answer, so the
documents here are built by hand; tests/system/test_page.py drives the page in Chromium."""

from __future__ import annotations

import copy
from html.parser import HTMLParser
from typing import Any

import pytest

from sdgen import SdgenError
from sdgen.runtime.page import (
    CANDIDATES_PER_PAGE,
    TARGETS_PER_PAGE,
    Page,
    Question,
    drilldown,
    funnel_bar,
    overview,
    ui_routes,
)

HOSTILE = "\"'><script>document.title='pwned'</script><img src=x onerror=alert(1)>&amp;"
NOW = 1_000_000.0


class Tags(HTMLParser):
    """The elements and attributes a browser would build from the page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(page: bytes) -> Tags:
    tags = Tags()
    tags.feed(page.decode())
    return tags


def funnel(**counts: int) -> dict[str, Any]:
    stages = dict.fromkeys(
        (
            "namespaces_selected",
            "objects_selected",
            "candidates",
            "dropped_by_relabel",
            "dropped_by_shard",
            "written",
            "invalid",
        ),
        0,
    )
    return {**stages, **counts, "dropped_by_rule": []}


def status(**targets: dict[str, Any]) -> dict[str, Any]:
    return {
        "config": {"origin": "configmap m/c", "version": "v1", "valid": True, "issues": []},
        "rollout": {"reload": {"result": "not needed"}},
        "last_render": NOW - 5,
        "waiting_for": "",
        "write_errors": [],
        "replaced_files": [],
        "targets": targets,
        "watches": {},
    }


def target(**fields: Any) -> dict[str, Any]:
    return {
        "endpoints": 1,
        "targets": 1,
        "last_error": "",
        "files": ["targets/t.0.p0/targets.json"],
        "funnel": funnel(candidates=1, written=1),
        **fields,
    }


def candidate(**fields: Any) -> dict[str, Any]:
    return {
        "endpoint": 0,
        "source": "ns/pod",
        "address": "10.0.0.1:80",
        "outcome": "written",
        "dropped_by": None,
        "labels": {"job": "t"},
        "invalid": None,
        "shard": None,
        "file": "targets/t.0.p0/targets.json",
        **fields,
    }


def answer(*candidates: dict[str, Any], **fields: Any) -> dict[str, Any]:
    stages = [{"stage": "written", "passed": True, "count": len(candidates)}]
    return {
        "target": "t",
        "object": None,
        "address": None,
        "written": 1,
        "stages": stages,
        "candidates": list(candidates),
        **fields,
    }


def _set(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    node = changed
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return changed


# Every place a user- or pod-written value reaches the overview.
OVERVIEW_PLACES = [
    ("config origin", ("config", "origin")),
    ("config version", ("config", "version")),
    ("config issue", ("config", "issues", 0)),
    ("waiting for", ("waiting_for",)),
    ("write error", ("write_errors", 0)),
    ("replaced file", ("replaced_files", 0)),
    ("target last error", ("targets", "t", "last_error")),
    ("target file", ("targets", "t", "files", 0)),
    ("rollout version", ("rollout", "seen")),
    ("reload answer", ("rollout", "reload", "answer")),
    ("watch error", ("watches", "w", "last_error")),
]


def _hostile_overview(path: tuple[Any, ...]) -> dict[str, Any]:
    document = status(t=target())
    document["config"]["issues"] = ["x"]
    document["write_errors"] = ["x"]
    document["replaced_files"] = ["x"]
    document["watches"] = {"w": {"synced": True, "last_event_at": NOW, "last_error": ""}}
    if path == ("rollout", "seen"):
        return _set(document, path, {"version": HOSTILE, "at": NOW})
    return _set(document, path, HOSTILE)


@pytest.mark.parametrize(("place", "path"), OVERVIEW_PLACES, ids=[p for p, _ in OVERVIEW_PLACES])
def test_a_hostile_value_in_the_overview_stays_text(place: str, path: tuple[Any, ...]) -> None:
    tags = parsed(overview(_hostile_overview(path), NOW))
    assert "script" not in tags.tags and "img" not in tags.tags, place
    assert all(name != "onerror" for name, _ in tags.attributes), place
    assert HOSTILE.replace("&amp;", "&amp;") in "".join(tags.text), place  # shown, as text


def test_a_hostile_target_name_stays_text_and_its_link_stays_one_attribute() -> None:
    tags = parsed(overview(status(**{HOSTILE: target()}), NOW))
    assert "script" not in tags.tags and "img" not in tags.tags
    links = [value for name, value in tags.attributes if name == "href"]
    assert any(link and link.startswith("/ui/target?name=%22%27%3E%3Cscript") for link in links)
    assert HOSTILE in "".join(tags.text)


DRILLDOWN_PLACES = [
    ("label value", {"labels": {"app": HOSTILE}}),
    ("label name", {"labels": {HOSTILE: "x"}}),
    ("source", {"source": HOSTILE}),
    ("address", {"address": HOSTILE}),
    ("invalid", {"invalid": HOSTILE, "labels": None}),
    ("file", {"file": HOSTILE}),
    ("dropping rule", {"dropped_by": {"list": HOSTILE, "index": 0, "action": "drop"}}),
]


@pytest.mark.parametrize(
    ("place", "fields"), DRILLDOWN_PLACES, ids=[p for p, _ in DRILLDOWN_PLACES]
)
def test_a_hostile_value_in_the_drilldown_stays_text(place: str, fields: dict[str, Any]) -> None:
    page = drilldown(status(t=target()), Question("t"), answer(candidate(**fields), object=HOSTILE))
    tags = parsed(page)
    assert "script" not in tags.tags and "img" not in tags.tags, place
    assert HOSTILE in "".join(tags.text), place


def test_the_question_asked_stays_text_in_the_form() -> None:
    question = Question(HOSTILE, HOSTILE, HOSTILE)
    tags = parsed(drilldown(status(), question, f"no target {HOSTILE!r}"))
    assert "script" not in tags.tags and "img" not in tags.tags
    values = [value for name, value in tags.attributes if name == "value"]
    assert values.count(HOSTILE) == 3  # the hidden name, the object and the address


@pytest.mark.parametrize(
    ("requested", "total", "expected"),
    [
        (None, 0, (1, 0, 0)),
        (None, 250, (1, 0, 100)),
        ("2", 250, (2, 100, 200)),
        ("3", 250, (3, 200, 250)),
        ("9", 250, (3, 200, 250)),  # past the end: the last page
        ("0", 250, (1, 0, 100)),
        ("-1", 250, (1, 0, 100)),
        ("x", 250, (1, 0, 100)),
        ("", 100, (1, 0, 100)),
    ],
)
def test_pages(requested: str | None, total: int, expected: tuple[int, int, int]) -> None:
    page = Page.of(requested, total, 100)
    assert (page.number, page.start, page.stop) == expected


def test_page_links_keep_the_question_and_leave_out_the_current_page() -> None:
    links = Page.of("2", 250, 100).links("/ui/target", name="a&b", object=None)
    assert "page 2/3" in links
    assert 'href="/ui/target?name=a%26b&amp;page=1"' in links
    assert 'href="/ui/target?name=a%26b&amp;page=3"' in links
    assert "page=2" not in links
    assert Page.of(None, 100, 100).links("/") == ""


def test_the_overview_shows_one_page_of_targets() -> None:
    names = [f"t{i:05}" for i in range(TARGETS_PER_PAGE * 2 + 5)]
    document = status(**{name: target() for name in names})
    first = overview(document, NOW).decode()
    last = overview(document, NOW, {"page": ["3"]}).decode()
    assert (
        f">{names[TARGETS_PER_PAGE - 1]}<" in first and f">{names[TARGETS_PER_PAGE]}<" not in first
    )
    assert f">{names[-1]}<" in last and f">{names[0]}<" not in last
    assert f"Targets ({len(names)})" in first


def test_the_drilldown_shows_one_page_of_candidates() -> None:
    many = [candidate(address=f"10.0.{i // 250}.{i % 250}:80") for i in range(120)]
    second = drilldown(status(), Question("t", "pod/a/b"), answer(*many), "2").decode()
    shown = [c["address"] for c in many if f">{c['address']}<" in second]
    assert shown == [c["address"] for c in many[CANDIDATES_PER_PAGE : 2 * CANDIDATES_PER_PAGE]]
    assert "Candidates (120)" in second and "page 2/3" in second


def test_a_windowed_answer_is_shown_as_the_page_it_is() -> None:
    window = [candidate(address=f"10.0.0.{i}:80") for i in range(CANDIDATES_PER_PAGE)]
    third = drilldown(status(), Question("t"), answer(*window, listed_of=1000), "3").decode()
    assert all(f">{c['address']}<" in third for c in window)
    assert "Candidates (1000)" in third and "page 3/20" in third
    assert 'href="/ui/target?name=t&amp;page=4"' in third


@pytest.mark.parametrize(
    ("counts", "segments"),
    [
        ({"candidates": 4, "written": 4}, ['class="w" style="width:100.0%"']),
        (
            {"candidates": 4, "written": 1, "dropped_by_shard": 1, "dropped_by_relabel": 2},
            [
                'class="w" style="width:25.0%"',
                'class="s" style="width:25.0%"',
                'class="r" style="width:50.0%"',
            ],
        ),
        ({"candidates": 0}, []),
    ],
)
def test_the_funnel_bar(counts: dict[str, int], segments: list[str]) -> None:
    bar = funnel_bar(funnel(**counts))
    assert [part.split(" title")[0] for part in bar.split("<span ")[1:-1]] == segments
    assert f"{counts['candidates']} candidates" in bar
    assert "—" in funnel_bar(None)


def test_a_dropped_candidate_names_its_rule_and_a_kept_one_its_labels() -> None:
    dropped = candidate(
        outcome="dropped",
        dropped_by={"list": "relabelings", "index": 2, "action": "drop"},
        labels=None,
    )
    page = drilldown(status(), Question("t"), answer(dropped, candidate())).decode()
    assert "dropped by endpoints[0].relabelings[2] (drop)" in page
    assert "job=&quot;t&quot;" in page


def test_the_routes_answer_from_status_and_explain() -> None:
    asked: list[tuple[str, str | None, str | None, tuple[int, int] | None]] = []

    def explain(
        name: str,
        obj: str | None,
        address: str | None,
        /,
        *,
        window: tuple[int, int] | None = None,
    ) -> dict[str, Any]:
        asked.append((name, obj, address, window))
        if name != "t":
            raise SdgenError(f"no target {name!r} in the config")
        return answer(candidate())

    routes = ui_routes(
        lambda: status(t=target(funnel=funnel(candidates=120))), explain, wall=lambda: NOW
    )
    assert set(routes) == {"/", "/ui", "/ui/target"}
    code, ctype, body = routes["/"]({})
    assert (code, ctype) == (200, "text/html; charset=utf-8") and b"Targets (1)" in body
    assert routes["/ui"]({})[2] == body
    code, _, body = routes["/ui/target"]({"name": ["t"], "object": ["pod/ns/p"]})
    assert code == 200 and b"10.0.0.1:80" in body
    code, _, body = routes["/ui/target"]({"name": ["nope"]})
    assert code == 200 and b"no target &#x27;nope&#x27; in the config" in body
    assert routes["/ui/target"]({})[0] == 400
    routes["/ui/target"]({"name": ["t"], "page": ["2"]})  # /status: 120 candidates
    routes["/ui/target"]({"name": ["t"], "page": ["9"]})
    # an object or address: all of its candidates; the whole target: one page of them
    assert asked == [
        ("t", "pod/ns/p", None, None),
        ("nope", None, None, (0, CANDIDATES_PER_PAGE)),
        ("t", None, None, (CANDIDATES_PER_PAGE, 2 * CANDIDATES_PER_PAGE)),
        ("t", None, None, (2 * CANDIDATES_PER_PAGE, 3 * CANDIDATES_PER_PAGE)),
    ]
    assert b"explain is not available" in ui_routes(status, None)["/ui/target"]({"name": ["t"]})[2]
