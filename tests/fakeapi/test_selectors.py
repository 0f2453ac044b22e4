"""Label and field selector strings as the emulator parses them (the apiserver's grammar)."""

from __future__ import annotations

import pytest

from tests.fakeapi import ApiError
from tests.fakeapi.selectors import parse_fields, parse_labels

LABELS = {"app": "web", "tier": "front", "n": "5", "empty": "", "example.com/team": "a"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("app", True),
        ("missing", False),
        ("!app", False),
        ("!missing", True),
        ("app=web", True),
        ("app==web", True),
        ("app=api", False),
        ("app!=web", False),
        ("missing!=web", True),
        ("app in (web,api)", True),
        ("app in (api)", False),
        ("missing in (web)", False),
        ("app notin (web)", False),
        ("app notin (api,db)", True),
        ("missing notin (web)", True),
        ("app=web,tier=front", True),
        ("app=web,tier=back", False),
        ("n>4", True),
        ("n>5", False),
        ("n<6", True),
        ("app>1", False),
        ("missing<1", False),
        ("empty=", True),
        ("empty==", True),
        ("empty", True),
        ("  app = web ,  tier in ( front , back ) ", True),
        ("example.com/team=a", True),
        ("example.com/team", True),
        ("in=x", False),
    ],
)
def test_label_selector_matching(selector: str, matches: bool) -> None:
    assert parse_labels(selector)(LABELS) is matches


@pytest.mark.parametrize(
    "selector",
    [
        "app in ()",
        "app in (a",
        "app in web",
        "=web",
        "app=web,",
        ",app=web",
        "app web",
        "app=web=x",
        "n>x",
        "bad key!=x",
        "-app=x",
        "app=-x",
        "Example.COM/app=x",
        "app=(x)",
        "!",
        "!app=x",
        "a" * 64,
    ],
)
def test_bad_label_selectors_are_400(selector: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_labels(selector)
    assert raised.value.code == 400
    assert raised.value.status["reason"] == "BadRequest"


@pytest.mark.parametrize(
    ("selector", "name", "namespace", "matches"),
    [
        ("", "a", "x", True),
        ("metadata.name=a", "a", "x", True),
        ("metadata.name==a", "b", "x", False),
        ("metadata.name!=a", "b", "x", True),
        ("metadata.namespace=x", "a", "x", True),
        ("metadata.namespace!=x", "a", "x", False),
        ("metadata.name=a,metadata.namespace=y", "a", "x", False),
        (" metadata.name = a ", "a", "x", True),
    ],
)
def test_field_selector_matching(selector: str, name: str, namespace: str, matches: bool) -> None:
    assert parse_fields(selector).matches(name, namespace) is matches


@pytest.mark.parametrize("selector", ["spec.nodeName=n1", "status.phase=Running", "metadata.name"])
def test_unsupported_or_malformed_field_selectors_are_400(selector: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_fields(selector)
    assert raised.value.code == 400
