"""Resolved targets → the exact bytes of the files sdgen writes per (target, endpoint).

Rendering is pure and canonical — same input, same bytes — because `files` writes only when
bytes change: any nondeterminism (dict order, float formatting, line folding) would turn the
steady state into a stream of writes and Prometheus reloads.

Per endpoint, with `<slug>` from `slug(target name, endpoint index)` and the endpoint split
into parts (sdgen.output.parts), one scrape job `<slug>.p<part>` each:

* `targets/<slug>.p<part>/targets.json`: file_sd, one group per scrape target and one group
  per line (compact UTF-8 JSON, `{"targets":[..],"labels":{..}}` with labels sorted;
  greppable, and diffs show whole targets), groups sorted as bytes (so by address first),
  newline-terminated. The groups are encoded where targets are made
  (`sdgen.resolve.pipeline.encode_group`). Each job's file has a directory of its own, so a
  change wakes only that job's file_sd.
* `relabel/<slug>.yml`: `metric_relabel_configs:` of the endpoint in Prometheus's snake_case.
* `scrape/<slug>.yml`: `scrape_configs:` with one job per part, named `<slug>.p<part>`, whose
  `file_sd_configs` points at `../targets/<slug>.p<part>/targets.json` (Prometheus resolves it
  against the fragment's directory), and whose credential files for Secret references are
  `../secrets/<slug>.<field>` (written by sdgen.output.secretfiles, not here: rendering reads
  no Secret). Every part has the endpoint's settings; the `job` label is the target name.

`Consumer` picks the fragments' dialect (`--fragment-format`, docs/architecture.md, "Output"):

* `prometheus` (the default): as above, a `scrape_configs:` document with paths relative to
  the fragment (Prometheus resolves them against the including file's directory).
* `vmagent`: each fragment is a bare YAML list of jobs (what vmagent's `scrape_config_files`
  loads), every path is absolute as the consumer sees it (`--consumer-path-prefix`: vmagent
  resolves an included file's relative paths against its main config's directory), and user
  text cannot trigger vmagent's `%{ENV_VAR}` expansion, which works on the raw bytes of each
  file before YAML parsing and has no escape of its own (vmagent 1.145 replaces a set
  variable and keeps an unset one; older releases refuse the file): every string holding `%{`
  is double-quoted with its `%` written `\\x25`, which YAML turns back into `%` after the
  expansion found nothing (tests/system/test_agents.py proves it with the real vmagent).
  The targets files need no dialect: they never hold `%{` (resolve.pipeline).

YAML strings from the user are always quoted: single quotes for printable ASCII (readable
regexes, no backslash doubling), double quotes with escapes otherwise, and no line folding, so
regexes and replacements such as `${1}`, quotes, backslashes and line breaks reach Prometheus
unchanged (a test reads them back from a real Prometheus).
Relabel fields equal to Prometheus's defaults are omitted except `action`, which is always
written so every rule says what it does.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

import yaml

from sdgen.config.model import Endpoint, secret_refs
from sdgen.output.naming import (
    job_name,
    relabel_path,
    scrape_path,
    secret_path,
    slug,
    targets_path,
)
from sdgen.output.parts import DEFAULT_PART_SIZE, address_hash, part_count, split
from sdgen.prom.duration import format_duration
from sdgen.prom.relabel import RelabelRule
from sdgen.resolve.resolver import EndpointTargets

_PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]*$")
_DEFAULT_RULE = RelabelRule()
_ENV_OPEN = "%{"  # what opens vmagent's environment-variable placeholders
_ENV_OPEN_ESCAPED = "\\x25{"  # the same text inside a double-quoted YAML scalar, unexpanded


class FragmentFormat(StrEnum):
    """`--fragment-format`: which scraper's dialect the `scrape/` fragments are written in."""

    PROMETHEUS = "prometheus"  # also Prometheus in agent mode and the OTel Collector
    VMAGENT = "vmagent"


@dataclass(frozen=True, slots=True)
class HttpSd:
    """Where a job reads its targets when `sdgen serve` serves them (sdgen.output.central):
    `<url>/sd/<shard>/<job>`, polled every `refresh_ms` by Prometheus's `http_sd_configs`."""

    url: str  # the base URL Prometheus reaches `sdgen serve` at, without a trailing slash
    shard: int
    refresh_ms: int

    def job_url(self, job: str) -> str:
        return f"{self.url}/sd/{self.shard}/{job}"


@dataclass(frozen=True, slots=True)
class Consumer:
    """Who loads the fragments, and where it sees the output directory (`path_prefix`: an
    absolute path, used by the vmagent format, whose paths must be absolute). `http_sd`: the
    jobs read their targets over HTTP from `sdgen serve` instead of from files."""

    format: FragmentFormat = FragmentFormat.PROMETHEUS
    path_prefix: str = ""
    http_sd: HttpSd | None = None

    def __post_init__(self) -> None:
        if self.format is FragmentFormat.VMAGENT and not posixpath.isabs(self.path_prefix):
            raise ValueError(
                f"the vmagent fragment format needs an absolute consumer path prefix, "
                f"got {self.path_prefix!r}"
            )

    def path(self, relpath: str) -> str:
        """How a fragment names a file sdgen writes (relpath below the output directory)."""
        if self.format is FragmentFormat.VMAGENT:
            return posixpath.join(self.path_prefix, relpath)
        return f"../{relpath}"  # Prometheus: relative to the fragment in scrape/


PROMETHEUS = Consumer()


def render(
    endpoints: Iterable[EndpointTargets],
    part_size: int = DEFAULT_PART_SIZE,
    consumer: Consumer = PROMETHEUS,
) -> dict[str, bytes]:
    """All files for all endpoints, keyed by path relative to the output directory."""
    return Renderer(part_size, consumer=consumer).render(endpoints)


def render_endpoint(
    et: EndpointTargets, part_size: int = DEFAULT_PART_SIZE, consumer: Consumer = PROMETHEUS
) -> dict[str, bytes]:
    return Renderer(part_size, consumer=consumer).render((et,))


@dataclass(frozen=True, slots=True)
class _Parted:
    """One endpoint's targets files, and what they were made from."""

    lines: Sequence[bytes]  # the resolver's object (compared by identity)
    part_lines: list[list[bytes]]
    files: list[bytes]


@dataclass(frozen=True, slots=True)
class _Fragments:
    """One endpoint's relabel file and scrape fragment, and what they were made from."""

    endpoint: Endpoint
    parts: int
    relabel: bytes
    scrape: bytes


class Renderer:
    """`render` again and again, cheaply, with each endpoint split into parts of about
    `part_size` targets (sdgen.output.parts). Per endpoint it remembers its parts and the
    files joined from them. The resolver hands back the same `lines` object while an
    endpoint's targets are unchanged (sdgen.k8s.view's identity contract), so its files are
    the same bytes objects again (which the output directory then recognises without
    hashing); otherwise only the parts whose lines changed are joined anew, so only their
    files change and only their jobs re-read. Only what the last call used is kept.

    `parts_hint`: the number of parts each slug had on disk before a restart, so the
    fragments, and Prometheus's jobs, stay as they were; each is used by the first render of
    its endpoint. `consumer`: the fragments' dialect (see the module docstring)."""

    def __init__(
        self,
        part_size: int = DEFAULT_PART_SIZE,
        parts_hint: Mapping[str, int] | None = None,
        consumer: Consumer = PROMETHEUS,
    ) -> None:
        if part_size < 1:
            raise ValueError(f"part size must be at least 1, got {part_size}")
        self.part_size = part_size
        self.consumer = consumer
        self._hint = dict(parts_hint or {})
        self._sd: dict[tuple[str, int], _Parted] = {}
        # Not an LRU cache: one of 4,096 entries got no hits at all above that many endpoints
        # (issue 17). Like `_sd`, it holds exactly the endpoints of the last render.
        self._yaml: dict[tuple[str, int], _Fragments] = {}
        # Target name → why the last render left it out: its files would be an earlier
        # target's. The parse rejects such names first (sdgen.config.document, FilePrefix);
        # this is the last line, so that a clash costs one target, never the whole render.
        self.clashes: dict[str, str] = {}

    def parts(self, target_name: str, index: int) -> int:
        """How many parts (scrape jobs) the endpoint had in the last render; 0 if none."""
        parted = self._sd.get((target_name, index))
        return len(parted.files) if parted else 0

    def file_of(self, target_name: str, index: int, line: bytes) -> str:
        """The targets file (so the part, and the scrape job) holding this encoded target, as
        the last render split its endpoint."""
        parts = max(1, self.parts(target_name, index))
        return targets_path(slug(target_name, index), address_hash(line) & (parts - 1))

    def render(self, endpoints: Iterable[EndpointTargets]) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        used: dict[tuple[str, int], _Parted] = {}
        used_yaml: dict[tuple[str, int], _Fragments] = {}
        self.clashes = {}
        for et in endpoints:
            key = (et.target.name, et.index)
            stem = slug(et.target.name, et.index)
            parted = self._sd.get(key)
            if parted is None or parted.lines is not et.lines:
                parted = self._split(et.lines, parted, self._hint.pop(stem, 1))
            yaml_files = self._fragments(key, et.endpoint, len(parted.files))
            rendered = {targets_path(stem, i): data for i, data in enumerate(parted.files)}
            rendered[relabel_path(stem)] = yaml_files.relabel
            rendered[scrape_path(stem)] = yaml_files.scrape
            if clash := rendered.keys() & files.keys():
                self.clashes[et.target.name] = (
                    f"endpoints[{et.index}] would write {sorted(clash)[0]}, which an earlier "
                    "target writes; rename this target"
                )
                continue
            used[key], used_yaml[key] = parted, yaml_files
            files.update(rendered)
        self._sd, self._yaml = used, used_yaml
        return files

    def _fragments(self, key: tuple[str, int], endpoint: Endpoint, parts: int) -> _Fragments:
        """The endpoint's YAML files, dumped again only when the endpoint or its number of
        parts changed (an equal endpoint is usually the very same object: the parse reuses
        unchanged targets)."""
        last = self._yaml.get(key)
        if last is not None and last.parts == parts and last.endpoint == endpoint:
            return last
        relabel, scrape = _yaml_files(*key, endpoint, parts, self.consumer)
        return _Fragments(endpoint, parts, relabel, scrape)

    def _split(self, lines: Sequence[bytes], last: _Parted | None, hint: int) -> _Parted:
        hashes = [address_hash(line) for line in lines]
        count = part_count(hashes, len(last.files) if last else hint, self.part_size)
        groups = split(lines, hashes, count)
        same_parts = last is not None and len(last.files) == count
        files = [
            last.files[i] if same_parts and last and last.part_lines[i] == group else file_sd(group)
            for i, group in enumerate(groups)
        ]
        return _Parted(lines, groups, files)


def file_sd(lines: Sequence[bytes]) -> bytes:
    """The targets file: the groups (sorted and unique already), one per line. Built by one
    join (concatenating around it would copy a large file's bytes twice more)."""
    if not lines:
        return b"[]\n"
    framed = list(lines)
    framed[0] = b"[\n" + framed[0]
    framed[-1] = framed[-1] + b"\n]\n"
    return b",\n".join(framed)


def _yaml_files(
    name: str, index: int, ep: Endpoint, parts: int, consumer: Consumer = PROMETHEUS
) -> tuple[bytes, bytes]:
    stem = slug(name, index)
    header = _header(name, index)
    relabels = [_relabel_rule(rule) for rule in ep.metric_relabelings]
    jobs = [_job(stem, part, ep, consumer) for part in range(parts)]
    if consumer.format is FragmentFormat.VMAGENT:
        return (
            _escape_env(header) + _yaml({"metric_relabel_configs": relabels}, escape_env=True),
            _escape_env(header) + _yaml(jobs, escape_env=True),  # a bare list of jobs
        )
    return (
        header + _yaml({"metric_relabel_configs": relabels}),
        header + _yaml({"scrape_configs": jobs}),
    )


def _escape_env(header: bytes) -> bytes:
    """A comment cannot unescape: `\\x25{` keeps vmagent's expansion out and still reads."""
    return header.replace(_ENV_OPEN.encode(), _ENV_OPEN_ESCAPED.encode())


def _header(name: str, index: int) -> bytes:
    quoted = json.dumps(name)  # escaped: a name cannot break out of the comment
    return (
        f"# Written by sdgen for target {quoted}, endpoint {index}. "
        "Edits are overwritten: change the scrape config instead.\n"
    ).encode("ascii")


def _job(stem: str, part: int, ep: Endpoint, consumer: Consumer) -> dict[str, Any]:
    job: dict[str, Any] = {
        "job_name": job_name(stem, part),
        "scrape_interval": format_duration(ep.interval_ms),
    }
    if ep.timeout_ms is not None:
        job["scrape_timeout"] = format_duration(ep.timeout_ms)
    job["metrics_path"] = ep.path
    if ep.scheme is not None:  # otherwise each target's __scheme__ label decides
        job["scheme"] = ep.scheme
    if ep.params:
        job["params"] = {name: list(values) for name, values in ep.params}
    if ep.honor_labels is not None:
        job["honor_labels"] = ep.honor_labels
    if ep.sample_limit is not None:
        job["sample_limit"] = ep.sample_limit
    if ep.target_limit is not None:
        job["target_limit"] = ep.target_limit
    job.update(_http_client(stem, ep, consumer))
    if consumer.http_sd is not None:
        job["http_sd_configs"] = [
            {
                "url": consumer.http_sd.job_url(job_name(stem, part)),
                "refresh_interval": format_duration(consumer.http_sd.refresh_ms),
            }
        ]
    else:
        job["file_sd_configs"] = [{"files": [consumer.path(targets_path(stem, part))]}]
    if ep.metric_relabelings:
        job["metric_relabel_configs"] = [_relabel_rule(r) for r in ep.metric_relabelings]
    return job


def _http_client(stem: str, ep: Endpoint, consumer: Consumer) -> dict[str, Any]:
    # A Secret reference's value is in a file beside the fragment's directory.
    refs = {field: consumer.path(secret_path(stem, field)) for field, _ in secret_refs(ep)}
    out: dict[str, Any] = {}
    if ep.tls is not None and (
        tls := _non_empty(
            insecure_skip_verify=ep.tls.insecure_skip_verify,
            server_name=ep.tls.server_name,
            ca_file=refs.get("ca", ep.tls.ca_file),
            cert_file=refs.get("cert", ep.tls.cert_file),
            key_file=refs.get("key", ep.tls.key_file),
        )
    ):
        out["tls_config"] = tls
    if ep.authorization is not None:
        out["authorization"] = _non_empty(
            type=ep.authorization.type,
            credentials_file=refs.get("credentials", ep.authorization.credentials_file),
        )
    if ep.basic_auth is not None:
        out["basic_auth"] = _non_empty(
            username=ep.basic_auth.username,
            username_file=refs.get("username", ""),
            password_file=refs.get("password", ep.basic_auth.password_file),
        )
    return out


def _relabel_rule(rule: RelabelRule) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if rule.source_labels:
        out["source_labels"] = list(rule.source_labels)
    for name in ("separator", "regex", "modulus", "target_label", "replacement"):
        if getattr(rule, name) != getattr(_DEFAULT_RULE, name):
            out[name] = getattr(rule, name)
    out["action"] = rule.action
    return out


def _non_empty(**fields: str | bool) -> dict[str, str | bool]:
    return {key: value for key, value in fields.items() if value}


class _Quoted(str):
    """A string value the dumper must quote (keys stay plain)."""


class _DoubleQuoted(_Quoted):
    """A string (value or key) holding `%{`, double-quoted so its `%` can be escaped."""


# Values from a fixed vocabulary read better plain; PyYAML still quotes them if they need it.
_PLAIN = frozenset(
    {"job_name", "scrape_interval", "scrape_timeout", "scheme", "action", "refresh_interval"}
)


def _quote(value: Any, escape_env: bool = False) -> Any:
    if isinstance(value, str):
        return _DoubleQuoted(value) if escape_env and _ENV_OPEN in value else _Quoted(value)
    if isinstance(value, Mapping):
        return {
            _quote(k, escape_env) if escape_env and _ENV_OPEN in k else k: (
                v if k in _PLAIN else _quote(v, escape_env)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_quote(item, escape_env) for item in value]
    return value


def _represent_quoted(dumper: yaml.SafeDumper, value: _Quoted) -> yaml.ScalarNode:
    double = isinstance(value, _DoubleQuoted) or not _PRINTABLE_ASCII.match(value)
    style = '"' if double else "'"
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style=style)


def _dumper(base: type[yaml.SafeDumper]) -> type[yaml.SafeDumper]:
    dumper = cast(type[yaml.SafeDumper], type(f"Quoting{base.__name__}", (base,), {}))
    dumper.add_representer(_Quoted, _represent_quoted)
    dumper.add_representer(_DoubleQuoted, _represent_quoted)
    return dumper


_PURE_DUMPER = _dumper(yaml.SafeDumper)
# libyaml's emitter when present: much faster, the same bytes, but no lone surrogates.
_FAST_DUMPER = _dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper))


def _yaml(document: dict[str, Any] | list[Any], escape_env: bool = False) -> bytes:
    """`escape_env`: no `%{` in the bytes. Every user string holding one is double-quoted
    (`_quote`), and nothing else sdgen writes holds one, so each `%{` left in the text is
    inside a double-quoted scalar, where `\\x25{` means the same."""
    quoted = _quote(document, escape_env)
    try:
        text = _dump(quoted, _FAST_DUMPER)
    except UnicodeEncodeError:
        text = _dump(quoted, _PURE_DUMPER)
    return text.replace(_ENV_OPEN.encode(), _ENV_OPEN_ESCAPED.encode()) if escape_env else text


def _dump(document: Any, dumper: type[yaml.SafeDumper]) -> bytes:
    text = yaml.dump(
        document,
        Dumper=dumper,
        sort_keys=False,  # Prometheus's documented field order, not alphabetical
        allow_unicode=True,
        default_flow_style=False,
        width=2**31 - 1,  # never fold long strings across lines
    )
    return text.encode("utf-8")
