"""The App loop's bookkeeping of changes (the cycle itself is tested through the sidecar)."""

from __future__ import annotations

import threading
from pathlib import Path

from sdgen.output.outputdir import OutputDir
from sdgen.runtime.localfile import FileSource
from sdgen.runtime.loop import App, Options
from tests.support.helpers import wait_for

CONFIG = """\
targets:
  - targetName: static
    type: StaticEndpoints
    endpoints:
      - addresses: ["192.0.2.1:9100"]
"""


def test_a_cycle_consumes_the_changes_made_before_it(tmp_path: Path) -> None:
    config = tmp_path / "scrape_config.yaml"
    config.write_text(CONFIG)
    out = OutputDir(tmp_path / "out", create=True)
    out.prepare()
    app = App(FileSource(config, lambda: None), None, out, Options(default_namespace="default"))
    app.poke()  # a change seen while the loop was about to run a (periodic) cycle anyway
    assert app.pending
    result = app.run_once()
    assert result is not None and result.written
    assert not app.pending, "the change was rendered: no second, debounced cycle for it"
    app.poke()  # a change after the cycle began waits for the next one
    assert app.pending


def test_the_first_render_does_not_wait_for_the_debounce(tmp_path: Path) -> None:
    """Before anything was rendered, a poke (a cache's first sync) renders at once; the
    debounce only coalesces later changes."""
    config = tmp_path / "scrape_config.yaml"
    out = OutputDir(tmp_path / "out", create=True)
    out.prepare()
    app = App(FileSource(config, lambda: None), None, out, Options(default_namespace="default"))
    stop = threading.Event()
    loop = threading.Thread(target=app.run, args=(stop, 600.0, 600.0), daemon=True)
    loop.start()
    try:
        wait_for(lambda: app.state.waiting_for != "", timeout=10)  # ran once: no config yet
        config.write_text(CONFIG)
        app.poke()
        wait_for(lambda: app.state.rendered_once, timeout=10)  # not after the 600 s debounce
    finally:
        stop.set()
        loop.join(5)
    assert list((tmp_path / "out" / "targets").iterdir())
