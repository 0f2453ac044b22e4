"""The many-targets benchmark's config: valid, and an edit changes exactly one target. No
timing here."""

from __future__ import annotations

from sdgen.config.document import parse_config
from sdgen.config.incremental import IncrementalParser
from tests.bench import manytargets


def test_the_config_is_valid_and_an_edit_rereads_one_target() -> None:
    text = manytargets.config_text(30)
    config = parse_config(text)
    assert len(config.targets) == 30 and config.issues == ()
    parser = IncrementalParser()
    parser.parse(text)
    edited = manytargets.config_text(30, {10: 1})
    assert parser.parse(edited) == parse_config(edited)
    assert parser.reread == 1
