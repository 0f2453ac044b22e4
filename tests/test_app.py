"""The App loop's bookkeeping of changes (the cycle itself is tested through the sidecar)."""

from __future__ import annotations

from pathlib import Path

from sdgen.app import App, Options
from sdgen.files import OutputDir
from sdgen.localfile import FileSource

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
