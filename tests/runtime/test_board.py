"""The status board: /status, /readyz, metrics and the state log lines, from cycle results."""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any

import pytest

from sdgen.config.document import parse_config
from sdgen.output.outputdir import SyncResult
from sdgen.resolve.funnel import Funnel, RulePosition
from sdgen.runtime.board import Board, StatusPage
from sdgen.runtime.cycle import ConfigStatus, CycleResult, Outcome, Reading, TargetStatus
from sdgen.runtime.reload import ReloadAnswer

GOOD = parse_config("targets: []\n")
UNUSABLE = parse_config("targets: [\n")
VALID = ConfigStatus("cm", "v1", True, ())
INVALID = ConfigStatus("cm", "v2", False, ("cm:1: targets: boom",))
WEB_FUNNEL = Funnel(1, 3, 6, 1, 0, 5, dropped_by_rule={RulePosition("relabelConfigs", 0): 1})
WEB = TargetStatus(2, 5, "", ("relabel/web.yml", "targets/web.json"), WEB_FUNNEL)


def rendered(sync: SyncResult, **targets: TargetStatus) -> CycleResult:
    reading = Reading(VALID, config=GOOD, loaded=GOOD)
    return CycleResult(Outcome.RENDERED, reading, sync, targets, duration=0.25)


def waiting(why: str, status: ConfigStatus = INVALID) -> CycleResult:
    return CycleResult(Outcome.WAITING, Reading(status, waiting_for=why))


def sample(board: Board, name: str, **labels: str) -> float | None:
    return board.metrics.registry.get_sample_value(name, labels)


def test_status_is_the_json_document_of_the_last_results() -> None:
    board = Board(wall=lambda: 1700000000.5)
    broken = TargetStatus(error="bad regex")
    board.record(rendered(SyncResult(["targets/web.json"], 1, [], ["x: full"]), web=WEB, b=broken))
    assert board.status() == {
        "config": {"origin": "cm", "version": "v1", "valid": True, "issues": []},
        "rollout": {"reload": {"result": "not needed"}},  # filled by `rolled`, not `record`
        "last_render": 1700000000.5,
        "waiting_for": "",
        "write_errors": ["x: full"],
        "replaced_files": [],
        "targets": {
            "b": {
                "endpoints": 0,
                "targets": 0,
                "last_error": "bad regex",
                "files": [],
                "funnel": None,
            },
            "web": {
                "endpoints": 2,
                "targets": 5,
                "last_error": "",
                "files": ["relabel/web.yml", "targets/web.json"],
                "funnel": {
                    "namespaces_selected": 1,
                    "objects_selected": 3,
                    "candidates": 6,
                    "dropped_by_relabel": 1,
                    "dropped_by_shard": 0,
                    "written": 5,
                    "invalid": 0,
                    "dropped_by_rule": [
                        {"list": "relabelConfigs", "endpoint": None, "index": 0, "count": 1}
                    ],
                },
            },
        },
    }
    assert list(board.status()["targets"]) == ["b", "web"]
    board.record(waiting("config invalid: cm:1: targets: boom"))
    status = board.status()
    assert status["config"] == {
        "origin": "cm",
        "version": "v2",
        "valid": False,
        "issues": ["cm:1: targets: boom"],
    }
    assert status["waiting_for"] == "config invalid: cm:1: targets: boom"
    assert status["targets"]["web"]["targets"] == 5, "waiting leaves the last render's report"
    assert status["last_render"] == 1700000000.5


def test_ready_after_the_first_render_and_until_then_says_why() -> None:
    board = Board()
    assert board.ready() == (False, "no render yet")
    board.record(waiting("informers not synced yet", VALID))
    assert board.ready() == (False, "informers not synced yet")
    board.record(rendered(SyncResult(["targets/web.json"]), web=WEB))
    assert board.ready() == (True, "rendered")
    board.record(waiting("config invalid: x"))
    assert board.ready() == (True, "rendered"), "the last good files are still served"


def test_not_rendering_is_logged_when_the_reason_changes(caplog: pytest.LogCaptureFixture) -> None:
    board = Board()
    with caplog.at_level(logging.INFO, logger="sdgen.runtime.board"):
        for why in ("informers not synced yet", "informers not synced yet", "config invalid: x"):
            board.record(waiting(why))
        board.record(rendered(SyncResult()))
        board.record(CycleResult(Outcome.UNCHANGED, Reading(VALID, config=GOOD)))
    assert [r.getMessage() for r in caplog.records] == [
        "not rendering: informers not synced yet",
        "not rendering: config invalid: x",
    ]
    assert board.waiting_for == ""


def test_an_unchanged_cycle_leaves_the_report_as_it_was() -> None:
    board = Board(wall=iter([1.0, 2.0]).__next__)
    board.record(rendered(SyncResult(["targets/web.json"]), web=WEB))
    board.record(waiting("config invalid: x"))
    board.record(CycleResult(Outcome.UNCHANGED, Reading(VALID, config=GOOD)))
    assert board.last_render == 1.0
    assert board.waiting_for == "config invalid: x"
    assert board.targets == {"web": WEB}
    assert board.config == VALID
    assert sample(board, "sdgen_render_duration_seconds_count") == 1


def test_a_cleared_output_reports_no_targets(caplog: pytest.LogCaptureFixture) -> None:
    board = Board()
    board.record(rendered(SyncResult(["targets/web.json"]), web=WEB))
    missing = ConfigStatus("cm", "v1", False, ("ConfigMap m/c not found",))
    why = "ConfigMap m/c not found; removing the files sdgen wrote (--on-missing-config=clear)"
    reading = Reading(missing, waiting_for=why, missing=True)
    with caplog.at_level(logging.INFO, logger="sdgen.runtime.board"):
        board.record(
            CycleResult(Outcome.CLEARED, reading, SyncResult(removed=["targets/web.json"]))
        )
    assert [r.getMessage() for r in caplog.records] == [f"not rendering: {why}", "files updated"]
    assert caplog.records[1].files == "-targets/web.json"  # type: ignore[attr-defined]
    assert board.targets == {} and board.waiting_for == why
    assert sample(board, "sdgen_targets", target="web") is None
    assert sample(board, "sdgen_file_removals_total") == 1
    assert sample(board, "sdgen_config_valid") == 0


def test_metrics_follow_the_results() -> None:
    board = Board()
    assert sample(board, "sdgen_config_valid") == 0
    board.record(rendered(SyncResult(["targets/web.json", "scrape/web.yml"], 3, [], ["x: full"])))
    assert sample(board, "sdgen_config_valid") == 1
    assert (sample(board, "sdgen_config_last_reload_success_timestamp_seconds") or 0) > 0
    assert sample(board, "sdgen_file_writes_total") == 2
    assert sample(board, "sdgen_file_writes_skipped_total") == 3
    assert sample(board, "sdgen_file_write_errors_total") == 1
    assert sample(board, "sdgen_render_duration_seconds_sum") == 0.25

    board.record(rendered(SyncResult(), web=WEB))
    assert sample(board, "sdgen_targets", target="web") == 5
    assert board.write_errors == ()

    unusable = Reading(INVALID, waiting_for="config invalid: x", loaded=UNUSABLE)
    board.record(CycleResult(Outcome.WAITING, unusable))
    board.record(waiting("config invalid: x"))  # the same version again: counted once
    assert sample(board, "sdgen_config_errors_total") == 1
    assert sample(board, "sdgen_config_valid") == 0
    assert sample(board, "sdgen_targets", target="web") == 5, "kept while nothing is written"


def test_status_page_is_encoded_once_per_change_not_per_request() -> None:
    """At 5,000 targets /status is 1.2 MB: encoding it per request let a flood of requests
    slow the render loop. It is encoded again only when a cycle or a watch changed it."""
    board = Board(wall=itertools.count(1.0).__next__)
    watches: dict[str, Any] = {"pods/*": {"synced": True, "last_error": ""}}
    page = StatusPage(board, lambda: {k: dict(v) for k, v in watches.items()})
    board.record(rendered(SyncResult(["targets/web.json"]), web=WEB))
    first = page()
    assert all(page() is first for _ in range(100)) and page.builds == 1
    assert json.loads(first) == {**board.status(), "watches": watches}

    board.record(CycleResult(Outcome.UNCHANGED, Reading(VALID, config=GOOD)))
    assert page() is first and page.builds == 1, "a cycle that changed nothing"

    board.record(rendered(SyncResult(["targets/web.json"]), web=WEB, db=WEB))
    second = page()
    assert page() is second and page.builds == 2
    assert sorted(json.loads(second)["targets"]) == ["db", "web"]

    watches["pods/*"] = {"synced": True, "last_error": "connection refused"}
    assert json.loads(page())["watches"]["pods/*"]["last_error"] == "connection refused"
    assert page.builds == 3

    # Prometheus's answer to a reload arrives between cycles (the reloader's thread).
    result = rendered(SyncResult(["scrape/web.yml"]), web=WEB)
    board.record(result)
    board.rolled(result, 1, None)
    builds = (page(), page.builds)[1]
    board.rollout.answered(ReloadAnswer(False, "bad config", serves=1, attempt=1))
    assert json.loads(page())["rollout"]["reload"]["answer"] == "bad config"
    assert page.builds == builds + 1


def test_a_recurring_write_error_is_logged_once_with_its_count_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A full volume fails the same write every cycle: one line, not one per cycle."""
    board = Board()
    full = "targets/web.p0/targets.json: No space left on device"
    with caplog.at_level(logging.INFO, logger="sdgen.runtime"):
        for _ in range(5):
            board.record(rendered(SyncResult([], 0, [], [full]), web=WEB))
        board.record(rendered(SyncResult([], 0, [], [full, "scrape/web.yml: gone"]), web=WEB))
        board.record(rendered(SyncResult(["targets/web.p0/targets.json"]), web=WEB))
    assert [r.getMessage() for r in caplog.records if "files updated" not in r.getMessage()] == [
        f"write failed: {full}",
        "write failed: scrape/web.yml: gone",
        f"write failed 6 times in a row, no longer: {full}",
    ]
    assert board.write_errors == ()


def test_cycles_are_counted_by_outcome() -> None:
    board = Board()
    board.record(waiting("informers not synced yet"))
    board.record(rendered(SyncResult()))
    board.record(CycleResult(Outcome.UNCHANGED, Reading(VALID, config=GOOD)))
    board.record(CycleResult(Outcome.UNCHANGED, Reading(VALID, config=GOOD)))
    board.failed()
    counts = {o: sample(board, "sdgen_cycles_total", outcome=o) for o in ("waiting", "rendered")}
    assert counts == {"waiting": 1, "rendered": 1}
    assert sample(board, "sdgen_cycles_total", outcome="unchanged") == 2
    assert sample(board, "sdgen_cycles_total", outcome="failed") == 1


def test_rolled_reports_versions_as_config_info_series() -> None:
    board = Board(wall=lambda: 5.0)
    result = rendered(SyncResult(["scrape/web.yml"]), web=WEB)
    board.record(result)
    board.rolled(result, ticket=1, loaded=lambda ticket: False)
    assert sample(board, "sdgen_config_info", version="v1", state="seen") == 1
    assert sample(board, "sdgen_config_info", version="v1", state="written") == 1
    assert sample(board, "sdgen_config_info", version="v1", state="loaded") is None
    assert board.status()["rollout"]["reload"] == {"result": "pending"}
    board.rolled(result, ticket=1, loaded=lambda ticket: True)
    assert sample(board, "sdgen_config_info", version="v1", state="loaded") == 1
    board.record(waiting("config invalid"))  # v2 seen, never written
    board.rolled(waiting("config invalid"), ticket=1, loaded=lambda ticket: True)
    assert sample(board, "sdgen_config_info", version="v2", state="seen") == 1
    assert sample(board, "sdgen_config_info", version="v1", state="seen") is None
    assert sample(board, "sdgen_config_info", version="v1", state="loaded") == 1


def test_funnel_series_follow_the_config_loaded_then_the_render() -> None:
    board = Board()
    two = parse_config(
        "targets:\n"
        "- {targetName: web, type: StaticEndpoints, endpoints: [{address: 'a:1'}]}\n"
        "- {targetName: db, type: StaticEndpoints, endpoints: [{address: 'b:1'}]}\n"
    )
    board.record(CycleResult(Outcome.WAITING, Reading(VALID, waiting_for="sync", loaded=two)))
    for stage in ("namespaces_selected", "candidates", "written"):
        assert sample(board, "sdgen_target_funnel", target="db", stage=stage) == 0
    board.record(rendered(SyncResult()))  # loads GOOD: no targets, so no series
    assert sample(board, "sdgen_target_funnel", target="db", stage="candidates") is None
    board.record(
        CycleResult(
            Outcome.RENDERED, Reading(VALID, config=two, loaded=two), SyncResult(), {"web": WEB}
        )
    )
    assert sample(board, "sdgen_target_funnel", target="web", stage="candidates") == 6
    assert sample(board, "sdgen_target_funnel", target="web", stage="dropped_by_relabel") == 1
    assert sample(board, "sdgen_target_funnel", target="db", stage="written") == 0


def test_lint_warnings_join_the_issues_and_are_logged_once_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    board = Board()
    one, two = "cm:5: targets[0].selector: warning: a", "cm:9: targets[1]: warning: b"
    reading = Reading(VALID, config=GOOD)
    with caplog.at_level(logging.WARNING, logger="sdgen.runtime.board"):
        for lint in ((one,), (one,), (one, two), (two,), (one, two)):
            board.record(CycleResult(Outcome.RENDERED, reading, SyncResult(), lint=lint))
    assert [r.getMessage() for r in caplog.records] == [f"lint: {w}" for w in (one, two, one)]
    assert board.status()["config"]["issues"] == [one, two]
    board.record(waiting("config invalid: cm:1: targets: boom"))
    assert board.status()["config"]["issues"] == ["cm:1: targets: boom", one, two]


def test_replaced_files_stay_in_status_and_only_the_last_ones() -> None:
    """A FIFO or symlink someone put at sdgen's file name is reported until it scrolls out,
    not only during the one sync that replaced it."""
    board = Board()
    board.record(rendered(SyncResult(replaced=["targets/a.p0/targets.json: a FIFO"])))
    board.record(rendered(SyncResult()))
    assert board.status()["replaced_files"] == ["targets/a.p0/targets.json: a FIFO"]
    board.record(rendered(SyncResult(replaced=[f"scrape/{i}.yml: a symlink" for i in range(30)])))
    replaced = board.status()["replaced_files"]
    assert len(replaced) == 20 and replaced[-1] == "scrape/29.yml: a symlink"
