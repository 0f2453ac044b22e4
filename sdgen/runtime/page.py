"""The ops port's HTML page: `/` (or `/ui`) and the drill-down `/ui/target?name=…`.

Pure functions from the /status document and the explain answer (`GET /explain`'s JSON) to
HTML bytes, so the page shows exactly what /status and /explain say, from the same cached
state and with no API request. Everything shown comes from users and pods (label values,
target names, annotations), so every value goes through `html.escape` (`_e`) and every link
through `urlencode`; there is no script, no external asset and no form that changes anything
(the one form GETs the explain answer). A Content-Security-Policy meta tag forbids scripts
outright, as a second line behind the escaping. Long lists are paginated (`?page=`).
"""

from __future__ import annotations

import html
import math
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sdgen import SdgenError

TARGETS_PER_PAGE = 100
CANDIDATES_PER_PAGE = 50
LIST_OPEN_UP_TO = 10  # issues, files, errors: shown open up to this many, collapsed beyond

Query = Mapping[str, Sequence[str]]
Reply = tuple[int, str, bytes]


class ExplainAnswer(Protocol):
    """(target, object, address) → the `sdgen explain --json` document (`window`: with the
    target's candidates at positions [start, stop) listed, and `listed_of` their total;
    `tenant`: the tenant ConfigMap whose target is meant); SdgenError for a question it
    cannot answer. The page asks by the names /status lists, which name tenants' targets
    `<namespace>/<ConfigMap>/<targetName>` already, so it never passes a tenant."""

    def __call__(
        self,
        target: str,
        obj: str | None,
        address: str | None,
        /,
        *,
        window: tuple[int, int] | None = None,
        tenant: str | None = None,
    ) -> dict[str, Any]: ...


HTML_TYPE = "text/html; charset=utf-8"

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em 2em;color:#222}
h1{font-size:1.4em;margin:.6em 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}
a{color:#0b57d0;text-decoration:none}a:hover{text-decoration:underline}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:3px 8px;
vertical-align:top;border-bottom:1px solid #e3e3e3}
th{background:#f4f6f8;font-weight:600;white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font:12px/1.3 ui-monospace,monospace;overflow-wrap:anywhere}
.ok{color:#146c2e}.bad{color:#b3261e;font-weight:600}.muted{color:#777}
.bar{display:flex;width:160px;height:10px;background:#eee;border-radius:2px;overflow:hidden}
.bar span{display:block;height:100%}.w{background:#2e9d4f}.s{background:#9aa4ae}
.r{background:#e8a33d}.i{background:#c8453c}.funnel{font-size:12px;white-space:nowrap}
.pager a,.pager b{margin-right:.6em}details summary{cursor:pointer}
form{background:#f4f6f8;padding:.6em;border-radius:4px}input{font:inherit;margin-right:.6em}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:0}dt{color:#555}
dd{margin:0}
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"


def _e(value: object) -> str:
    """Every value shown goes through here: users and pods write them."""
    return html.escape("" if value is None else str(value), quote=True)


def _href(path: str, **params: object) -> str:
    """An escaped link to `path` with `params` (those that are None left out)."""
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    return _e(f"{path}?{query}" if query else path)


def _age(at: float | None, now: float) -> str:
    """'12s ago' for a wall-clock time; 'never' for none."""
    if not at:
        return "never"
    seconds = max(0.0, now - at)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


def _document(title: str, body: Iterable[str]) -> bytes:
    head = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
    )
    return "".join([head, *body, "</body></html>"]).encode()


def _collapsible(items: Sequence[str], what: str, css: str = "") -> str:
    """A list, open while short, folded into a <details> beyond LIST_OPEN_UP_TO."""
    if not items:
        return '<span class="muted">none</span>'
    rows = "".join(f'<li class="{css}">{_e(item)}</li>' for item in items)
    if len(items) <= LIST_OPEN_UP_TO:
        return f"<ul>{rows}</ul>"
    return f"<details><summary>{len(items)} {_e(what)}</summary><ul>{rows}</ul></details>"


# --- pagination ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page:
    """Page `number` (from 1) of `total` items, `size` a page: which slice to show."""

    number: int
    total: int
    size: int

    @classmethod
    def of(cls, requested: str | None, total: int, size: int) -> Page:
        """The requested page, clamped into range; page 1 for anything that is no number."""
        pages = max(1, math.ceil(total / size))
        number = int(requested) if requested and requested.isdigit() else 1
        return cls(min(max(number, 1), pages), total, size)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def start(self) -> int:
        return (self.number - 1) * self.size

    @property
    def stop(self) -> int:
        return min(self.start + self.size, self.total)

    def links(self, path: str, **params: object) -> str:
        """'101-200 of 950' and links to the first, previous, next and last pages."""
        if self.pages == 1:
            return ""
        shown = f"{self.start + 1}-{self.stop} of {self.total}"
        parts = [f'<span class="muted">{shown}</span>']
        for label, number in (
            ("« first", 1),
            ("&lsaquo; prev", self.number - 1),
            ("next &rsaquo;", self.number + 1),
            ("last »", self.pages),
        ):
            if 1 <= number <= self.pages and number != self.number:
                parts.append(f'<a href="{_href(path, **params, page=number)}">{label}</a>')
        return f'<p class="pager">page {self.number}/{self.pages} · {" ".join(parts)}</p>'


# --- the overview: GET / -----------------------------------------------------------------


def overview(status: Mapping[str, Any], now: float, query: Query | None = None) -> bytes:
    """The whole sidecar on one page: config, rollout, targets (paginated), watches."""
    query = query or {}
    config = status.get("config", {})
    return _document(
        "sdgen",
        [
            "<h1>sdgen</h1>",
            _config_section(config, status, now),
            _rollout_section(status, now),
            _targets_section(status.get("targets", {}), _first(query, "page")),
            _watches_section(status.get("watches", {}), now),
        ],
    )


def _config_section(config: Mapping[str, Any], status: Mapping[str, Any], now: float) -> str:
    valid = (
        '<span class="ok">valid</span>'
        if config.get("valid")
        else '<span class="bad">invalid</span>'
    )
    waiting = status.get("waiting_for") or ""
    rows = [
        ("source", f"<code>{_e(config.get('origin') or 'not read yet')}</code>"),
        ("version", f"<code>{_e(config.get('version') or '—')}</code> {valid}"),
        ("last render", _e(_age(status.get("last_render"), now))),
    ]
    if waiting:
        rows.append(("not rendering", f'<span class="bad">{_e(waiting)}</span>'))
    issues = list(config.get("issues", []))
    rows.append((f"issues ({len(issues)})", _collapsible(issues, "issues", "mono")))
    for key, what in (("write_errors", "write errors"), ("replaced_files", "replaced files")):
        if status.get(key):
            rows.append((what, _collapsible(list(status[key]), what, "mono")))
    return "<h2>Config</h2>" + _definitions(rows)


def _definitions(rows: Iterable[tuple[str, str]]) -> str:
    """A definition list; the terms are fixed words, the values already HTML."""
    return (
        "<dl>" + "".join(f"<dt>{_e(term)}</dt><dd>{value}</dd>" for term, value in rows) + "</dl>"
    )


def _rollout_section(status: Mapping[str, Any], now: float) -> str:
    rollout = status.get("rollout", {})
    rows = []
    for stage in ("seen", "written", "loaded"):
        mark = rollout.get(stage)
        if mark:
            text = f"<code>{_e(mark.get('version'))}</code> {_e(_age(mark.get('at'), now))}"
        else:
            text = '<span class="muted">—</span>'
        rows.append((f"config {stage}", text))
    reload = rollout.get("reload", {})
    answer = reload.get("answer")
    result = _e(reload.get("result", "—"))
    if answer is not None:
        result += (
            f" · Prometheus answered <code>{_e(answer)}</code> "
            f"{_e(_age(reload.get('at'), now))}, attempt {_e(reload.get('attempts', 1))}"
        )
    rows.append(("last reload", result))
    return "<h2>Rollout</h2>" + _definitions(rows)


def _targets_section(targets: Mapping[str, Any], requested: str | None) -> str:
    names = list(targets)  # /status sorts them
    page = Page.of(requested, len(names), TARGETS_PER_PAGE)
    head = (
        "<tr><th>target</th><th>endpoints</th><th>targets written</th><th>funnel</th>"
        "<th>last error</th><th>files</th></tr>"
    )
    rows = [_target_row(name, targets[name]) for name in names[page.start : page.stop]]
    pager = page.links("/")
    body = "".join(rows) or '<tr><td colspan="6" class="muted">no targets</td></tr>'
    return f"<h2>Targets ({len(names)})</h2>{pager}<table>{head}{body}</table>{pager}"


def _target_row(name: str, target: Mapping[str, Any]) -> str:
    error = target.get("last_error") or ""
    files = list(target.get("files", []))
    return (
        f'<tr><td><a href="{_href("/ui/target", name=name)}">{_e(name)}</a></td>'
        f'<td class="n">{_e(target.get("endpoints", 0))}</td>'
        f'<td class="n">{_e(target.get("targets", 0))}</td>'
        f"<td>{funnel_bar(target.get('funnel'))}</td>"
        f'<td class="bad">{_e(error)}</td>'
        f"<td>{_files(files)}</td></tr>"
    )


def _files(files: Sequence[str]) -> str:
    if not files:
        return '<span class="muted">none</span>'
    items = "".join(f"<li><code>{_e(f)}</code></li>" for f in files)
    return f"<details><summary>{len(files)} files</summary><ul>{items}</ul></details>"


# (css class, funnel key, words): the bar's segments, left to right
_SEGMENTS = (
    ("w", "written", "written"),
    ("s", "dropped_by_shard", "dropped by shard"),
    ("r", "dropped_by_relabel", "dropped by relabel"),
    ("i", "invalid", "invalid"),
)


def funnel_bar(funnel: Mapping[str, Any] | None) -> str:
    """The funnel as a bar of the candidates (written, dropped by shard, dropped by relabel,
    invalid) and the numbers in words: selected → candidates → dropped → written."""
    if not funnel:
        return '<span class="muted">—</span>'
    candidates = int(funnel.get("candidates", 0))
    spans = []
    for css, key, words in _SEGMENTS:
        count = int(funnel.get(key, 0))
        if count and candidates:
            width = 100 * count / candidates
            spans.append(
                f'<span class="{css}" style="width:{width:.1f}%" title="{count} {words}"></span>'
            )
    text = (
        f"{_e(funnel.get('namespaces_selected', 0))} ns · "
        f"{_e(funnel.get('objects_selected', 0))} objects → {candidates} candidates"
        f" - {_e(funnel.get('dropped_by_relabel', 0))} relabel"
        f" - {_e(funnel.get('dropped_by_shard', 0))} shard"
        f" → {_e(funnel.get('written', 0))} written"
    )
    return f'<div class="bar">{"".join(spans)}</div><span class="muted funnel">{text}</span>'


def _watches_section(watches: Mapping[str, Any], now: float) -> str:
    head = "<tr><th>watch</th><th>synced</th><th>last event</th><th>last error</th></tr>"
    rows = []
    for name, watch in sorted(watches.items()):
        synced = (
            '<span class="ok">yes</span>' if watch.get("synced") else '<span class="bad">no</span>'
        )
        rows.append(
            f"<tr><td><code>{_e(name)}</code></td><td>{synced}</td>"
            f"<td>{_e(_age(watch.get('last_event_at'), now))}</td>"
            f'<td class="bad">{_e(watch.get("last_error") or "")}</td></tr>'
        )
    body = "".join(rows) or '<tr><td colspan="4" class="muted">no watches</td></tr>'
    return f"<h2>Watches ({len(rows)})</h2><table>{head}{body}</table>"


# --- the drill-down: GET /ui/target?name=…[&object=…|&address=…] ----------------------------


@dataclass(frozen=True, slots=True)
class Question:
    """What the drill-down asks explain: the target, and maybe an object or an address."""

    target: str
    object: str | None = None
    address: str | None = None

    @classmethod
    def of(cls, query: Query) -> Question:
        return cls(_first(query, "name") or "", _first(query, "object"), _first(query, "address"))


def drilldown(
    status: Mapping[str, Any],
    question: Question,
    answer: Mapping[str, Any] | str,
    requested_page: str | None = None,
) -> bytes:
    """A target's row, the "why not this pod?" form, and the explain answer (or, a str, why
    explain could not answer): its stages and its candidates, paginated, each with its final
    labels or the rule that dropped it."""
    target = status.get("targets", {}).get(question.target)
    parts = [
        '<p><a href="/">« all targets</a></p>',
        f"<h1>target <code>{_e(question.target)}</code></h1>",
    ]
    if target is not None:
        parts.append(_target_summary(target))
    parts.append(_form(question))
    if isinstance(answer, str):
        parts.append(f'<p class="bad" id="explain-error">{_e(answer)}</p>')
    else:
        parts.append(_answer(question, answer, requested_page))
    return _document(f"sdgen: {question.target}", parts)


def _target_summary(target: Mapping[str, Any]) -> str:
    funnel = target.get("funnel") or {}
    rules = [f"{_rule_name(r)}: {r.get('count', 0)}" for r in funnel.get("dropped_by_rule", [])]
    rows = [
        ("endpoints", _e(target.get("endpoints", 0))),
        ("targets written", _e(target.get("targets", 0))),
        ("funnel", funnel_bar(funnel or None)),
        ("dropped by rule", _collapsible(rules, "rules", "mono")),
        ("last error", f'<span class="bad">{_e(target.get("last_error") or "")}</span>'),
        ("files", _files(list(target.get("files", [])))),
    ]
    return _definitions(rows)


def _rule_name(rule: Mapping[str, Any]) -> str:
    """`relabelConfigs[2]` or `endpoints[0].relabelings[1]`, as sdgen explain names it."""
    where = f"{rule.get('list')}[{rule.get('index')}]"
    if rule.get("endpoint") is not None:
        where = f"endpoints[{rule.get('endpoint')}].{where}"
    if rule.get("action"):
        where += f" ({rule.get('action')})"
    return where


def _form(question: Question) -> str:
    return (
        '<h2>Why not this pod?</h2><form method="get" action="/ui/target" id="why">'
        f'<input type="hidden" name="name" value="{_e(question.target)}">'
        '<label>object <input name="object" size="40" placeholder="pod/NAMESPACE/NAME" '
        f'value="{_e(question.object or "")}"></label>'
        '<label>or address <input name="address" size="22" placeholder="HOST:PORT" '
        f'value="{_e(question.address or "")}"></label>'
        '<button type="submit">explain</button></form>'
    )


def _answer(question: Question, answer: Mapping[str, Any], requested: str | None) -> str:
    about = answer.get("object") or answer.get("address")
    title = f"Explain: {about}" if about else "Discovered candidates"
    stages = "".join(_stage(s) for s in answer.get("stages", []))
    candidates = list(answer.get("candidates", []))
    total = answer.get("listed_of")
    if total is None:  # every candidate of the object or address asked about
        page = Page.of(requested, len(candidates), CANDIDATES_PER_PAGE)
        candidates = candidates[page.start : page.stop]
    else:  # the answer holds the requested page of the target's `total` only
        page = Page.of(requested, int(total), CANDIDATES_PER_PAGE)
    pager = page.links(
        "/ui/target", name=question.target, object=question.object, address=question.address
    )
    head = (
        "<tr><th>candidate</th><th>outcome</th>"
        "<th>final labels, or the rule that dropped it</th></tr>"
    )
    rows = "".join(_candidate(c) for c in candidates)
    if not rows:
        rows = '<tr><td colspan="3" class="muted">no candidates</td></tr>'
    return (
        f"<h2>{_e(title)}</h2><p>{_e(answer.get('written', 0))} targets written</p>"
        f'<table id="stages"><tr><th>stage</th><th>passed</th><th>count</th><th>why</th></tr>'
        f"{stages}</table><h2>Candidates ({page.total})</h2>{pager}"
        f'<table id="candidates">{head}{rows}</table>{pager}'
    )


def _stage(stage: Mapping[str, Any]) -> str:
    passed = '<span class="ok">yes</span>' if stage.get("passed") else '<span class="bad">no</span>'
    count = stage.get("count")
    return (
        f"<tr><td>{_e(stage.get('stage'))}</td><td>{passed}</td>"
        f'<td class="n">{_e("" if count is None else count)}</td>'
        f"<td>{_e(stage.get('reason') or '')}</td></tr>"
    )


def _candidate(candidate: Mapping[str, Any]) -> str:
    where = (
        f"<code>{_e(candidate.get('address'))}</code><br>"
        f'<span class="muted">endpoint {_e(candidate.get("endpoint"))} · '
        f"{_e(candidate.get('source') or 'static')}</span>"
    )
    outcome = str(candidate.get("outcome", ""))
    return f"<tr><td>{where}</td><td>{_e(outcome)}</td><td>{_fate(candidate)}</td></tr>"


def _shard_words(shard: Mapping[str, Any]) -> str:
    """The shard decision of explain's JSON, escaped: hashmod, or the namespace scheme's
    FNV-1a hash and this shard's range."""
    this = f"this shard {_e(shard.get('shard'))}"
    if shard.get("scheme") == "namespace":
        start, end = shard.get("range") or ("", "")
        return (
            f"FNV-1a {_e(shard.get('fnv1a64'))} of the {_e(shard.get('hashed'))} "
            f"{_e(shard.get('value'))} in [{_e(start)}, {_e(end)}), {this}"
        )
    return f"hashmod {_e(shard.get('hashmod'))} mod {_e(shard.get('modulus'))}, {this}"


def _fate(candidate: Mapping[str, Any]) -> str:
    """The rule that dropped it, why it is invalid, or its final labels (and its shard)."""
    dropped = candidate.get("dropped_by")
    if dropped:
        if dropped.get("list") == "relabelings":  # the endpoint's own list: say which endpoint
            dropped = {**dropped, "endpoint": candidate.get("endpoint")}
        return f'<span class="bad dropped-by">dropped by {_e(_rule_name(dropped))}</span>'
    if candidate.get("invalid"):
        return f'<span class="bad">invalid: {_e(candidate["invalid"])}</span>'
    labels = candidate.get("labels") or {}
    text = "".join(
        f"<li><code>{_e(k)}=&quot;{_e(v)}&quot;</code></li>" for k, v in sorted(labels.items())
    )
    shard = candidate.get("shard")
    note = ""
    if shard:
        note = f'<span class="muted">{_shard_words(shard)}</span>'
    file = candidate.get("file")
    if file:
        note += f' <span class="muted">→ <code>{_e(file)}</code></span>'
    return f"<details><summary>{len(labels)} labels</summary><ul>{text}</ul></details>{note}"


# --- routing ---------------------------------------------------------------------------------


def _ask(
    explain: ExplainAnswer, question: Question, status: Mapping[str, Any], page: str | None
) -> dict[str, Any]:
    """The explain answer the drill-down shows: about the object or address asked, or, about
    the whole target, the requested page of its candidates only (/status's funnel says how
    many there are), so a page costs the same at 10 candidates as at 10,000."""
    if question.object is not None or question.address is not None:
        return explain(question.target, question.object, question.address)
    funnel = (status.get("targets", {}).get(question.target) or {}).get("funnel") or {}
    window = Page.of(page, int(funnel.get("candidates", 0)), CANDIDATES_PER_PAGE)
    start = window.start
    return explain(question.target, None, None, window=(start, start + CANDIDATES_PER_PAGE))


def _first(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[0] if values and values[0] else None


def ui_routes(
    status: Callable[[], Mapping[str, Any]],
    explain: ExplainAnswer | None,
    wall: Callable[[], float] = time.time,
) -> dict[str, Callable[[Query], Reply]]:
    """The page's routes for the ops server: read-only, from `status` (the /status document)
    and `explain` (GET /explain's answer), both from memory."""

    def home(query: Query) -> Reply:
        return 200, HTML_TYPE, overview(status(), wall(), query)

    def target(query: Query) -> Reply:
        question = Question.of(query)
        if not question.target:
            return 400, HTML_TYPE, _document("sdgen", ['<p class="bad">missing ?name=</p>'])
        answer: Mapping[str, Any] | str
        if explain is None:
            answer = "explain is not available here"
        else:
            try:
                answer = _ask(explain, question, status(), _first(query, "page"))
            except SdgenError as err:
                answer = str(err)
        page = drilldown(status(), question, answer, _first(query, "page"))
        return 200, HTML_TYPE, page

    return {"/": home, "/ui": home, "/ui/target": target}
