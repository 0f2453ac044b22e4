"""Informers: the thread, callbacks and stop against a scripted ListerWatcher; then the
behaviours of issue 3 against the Kubernetes API emulator over real HTTP through sdgen.kube."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from sdgen.informer import Informer, stop_all
from sdgen.records import Pod
from sdgen.store import Change
from tests.test_reflector import ScriptedLW, Step, bookmark, event, page, pod_json

# --- with a scripted ListerWatcher --------------------------------------------------------


def scripted(watches: list[Step], **kwargs: Any) -> tuple[Informer[Pod], ScriptedLW]:
    """An informer whose last scripted watch blocks until closed, like an idle live watch."""
    lw = ScriptedLW([page([pod_json("a", "1")], "1")], watches, threading.Event(), True)
    informer: Informer[Pod] = Informer("pods", Pod, lw, **kwargs)
    lw.stop = informer._stop  # an exhausted script stops the informer
    return informer, lw


def test_a_failing_callback_is_logged_and_the_informer_goes_on() -> None:
    calls: list[Sequence[Change[Pod]]] = []
    second = threading.Event()

    def on_change(changes: Sequence[Change[Pod]]) -> None:
        calls.append(changes)
        if len(calls) == 2:
            second.set()
        raise RuntimeError("callback bug")

    informer, _ = scripted([[event("ADDED", pod_json("b", "2"))]], on_change=on_change)
    informer.start()
    try:
        assert second.wait(10)
        assert informer.store.get("default/b") is not None
        assert informer.reflector.failures == 0
    finally:
        assert informer.stop()


def test_callbacks_run_outside_the_store_lock() -> None:
    read_ok = threading.Event()

    def on_change(changes: Sequence[Change[Pod]]) -> None:
        # Another thread must be able to read the store while the callback runs.
        reader = threading.Thread(target=informer.store.snapshot)
        reader.start()
        reader.join(5)
        if not reader.is_alive():
            read_ok.set()

    informer, _ = scripted([[bookmark("2")]], on_change=on_change)
    informer.start()
    try:
        assert read_ok.wait(10)
    finally:
        assert informer.stop()


def test_stop_interrupts_a_blocked_watch() -> None:
    informer, lw = scripted([[bookmark("2")]])
    informer.start()
    assert informer.wait_synced(10)
    assert informer.stop(timeout=2.0)
    assert len(lw.watch_calls) == 1


def test_stop_all_stops_a_group_within_one_deadline() -> None:
    group = [scripted([[bookmark("2")]])[0] for _ in range(5)]
    for informer in group:
        informer.start()
    for informer in group:
        assert informer.wait_synced(10)
    assert stop_all(group, timeout=2.0)


def test_stop_before_start_and_twice_is_harmless() -> None:
    informer, _ = scripted([])
    assert informer.stop()
    informer2, _ = scripted([[bookmark("2")]])
    informer2.start()
    assert informer2.stop()
    assert informer2.stop()


def test_metrics_view() -> None:
    informer, _ = scripted([[bookmark("2")]])
    assert (informer.object_count(), informer.last_event_time()) == (0, 0.0)
    informer.start()
    try:
        assert informer.wait_synced(10)
        assert informer.object_count() == 1
        assert informer.last_event_time() > 0
        assert informer.relists() == {}
    finally:
        informer.stop()
