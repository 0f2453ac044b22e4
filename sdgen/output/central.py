"""Central discovery (`sdgen serve`): one unsharded resolution → every shard's files and the
HTTP SD documents served from them.

A shard's sidecar resolves with its `Shard` and keeps what `Shard.keeps` says. Central
discovery resolves once, unsharded, and splits each endpoint's encoded lines by the same
decision (`split_by_shard`), so N shards cost one resolve and one pass over the lines, and
shard i gets exactly what a sidecar with `--shards N --shard-index i` would keep. The scheme
is `Shard`'s: this module only asks it, so another scheme plugs in there.

Each shard is then rendered as a sidecar would render its output directory
(sdgen.output.render), its fragments' jobs reading `http_sd_configs` from this server instead
of `file_sd_configs`. The files are keyed `<shard>/<relpath>`; `documents` turns them into
what the server answers (docs/architecture.md, "Central discovery"):

* `/sd/<shard>/<job>`: the job's targets file, which is already the JSON list of
  `{"targets": [..], "labels": {..}}` groups that `http_sd_configs` reads;
* `/sd/<shard>`: every group of the shard, one list;
* `/scrape/<shard>`: one `scrape_configs:` document with every job of the shard, for a
  config reloader to poll into a file Prometheus includes with `scrape_config_files`.

Pure: lines in, bytes out; the same input gives the same bytes, so two replicas answer alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from sdgen.output.naming import TARGETS_FILE
from sdgen.output.parts import DEFAULT_PART_SIZE, address_of
from sdgen.output.render import Consumer, HttpSd, Renderer, file_sd
from sdgen.resolve.resolver import EndpointTargets
from sdgen.resolve.sharding import Shard

_SCRAPE_HEAD = b"scrape_configs:\n"
_EMPTY_SCRAPE = b"scrape_configs: []\n"


def split_by_shard(lines: Sequence[bytes], shards: Sequence[Shard]) -> list[list[bytes]]:
    """Each shard's lines, in their original order (sorted lines stay sorted): a line goes to
    the first shard that keeps its address (with disjoint shards, the only one). A line no
    shard keeps is in none (a scheme whose shards do not cover every address)."""
    out: list[list[bytes]] = [[] for _ in shards]
    for line in lines:
        address = address_of(line)
        for kept, shard in zip(out, shards, strict=True):
            if shard.keeps(address):
                kept.append(line)
                break
    return out


class ShardedRenderer:
    """`Renderer.render` for every shard at once, from one unsharded resolution. Per endpoint
    it keeps the last split and hands each shard's renderer the same list objects while the
    endpoint's lines are the same object (the resolver's identity contract), so an unchanged
    endpoint costs nothing and its bytes stay the same objects."""

    def __init__(
        self,
        shards: Sequence[Shard],
        url: str,
        refresh_ms: int,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        self.shards = tuple(shards)
        base = url.rstrip("/")
        self._renderers = [
            Renderer(part_size, consumer=Consumer(http_sd=HttpSd(base, i, refresh_ms)))
            for i in range(len(self.shards))
        ]
        self._split: dict[tuple[str, int], tuple[Sequence[bytes], list[list[bytes]]]] = {}

    def render(self, endpoints: Iterable[EndpointTargets]) -> dict[str, bytes]:
        per_shard: list[list[EndpointTargets]] = [[] for _ in self.shards]
        used: dict[tuple[str, int], tuple[Sequence[bytes], list[list[bytes]]]] = {}
        for et in endpoints:
            key = (et.target.name, et.index)
            last = self._split.get(key)
            if last is None or last[0] is not et.lines:
                last = (et.lines, split_by_shard(et.lines, self.shards))
            used[key] = last
            for shard_ets, lines in zip(per_shard, last[1], strict=True):
                shard_ets.append(replace(et, lines=lines, made=None))
        self._split = used
        files: dict[str, bytes] = {}
        for i, (renderer, ets) in enumerate(zip(self._renderers, per_shard, strict=True)):
            for relpath, data in renderer.render(ets).items():
                if not relpath.startswith("relabel/"):  # the jobs carry their relabels
                    files[f"{i}/{relpath}"] = data
        return files

    @property
    def clashes(self) -> dict[str, str]:
        """The targets any shard's last render left out (see `Renderer.clashes`)."""
        return {name: why for r in self._renderers for name, why in r.clashes.items()}

    def file_of(self, target_name: str, index: int, line: bytes) -> str:
        """`<shard>/targets/<job>/targets.json`: where the last render put this target."""
        address = address_of(line)
        for i, (shard, renderer) in enumerate(zip(self.shards, self._renderers, strict=True)):
            if shard.keeps(address):
                return f"{i}/{renderer.file_of(target_name, index, line)}"
        return ""


def documents(files: Mapping[str, bytes], shards: int) -> dict[str, bytes]:
    """URL path → the bytes served there, from the files ShardedRenderer made (and the ones a
    rejected target kept). Every shard has its `/sd/<shard>` and `/scrape/<shard>`, empty
    lists when it has nothing."""
    groups: list[list[bytes]] = [[] for _ in range(shards)]
    scrapes: list[list[bytes]] = [[] for _ in range(shards)]
    served: dict[str, bytes] = {}
    for key in sorted(files):  # sorted: the same files give the same bytes
        shard_text, _, relpath = key.partition("/")
        if not shard_text.isdigit() or int(shard_text) >= shards:
            continue
        shard, data = int(shard_text), files[key]
        kind, _, below = relpath.partition("/")
        job, _, name = below.partition("/")
        if kind == "targets" and name == TARGETS_FILE:
            served[f"/sd/{shard}/{job}"] = data
            groups[shard].extend(_lines(data))
        elif kind == "scrape":
            scrapes[shard].append(_jobs(data))
    for shard in range(shards):
        served[f"/sd/{shard}"] = file_sd(sorted(groups[shard]))
        jobs = b"".join(scrapes[shard])
        served[f"/scrape/{shard}"] = _SCRAPE_HEAD + jobs if jobs else _EMPTY_SCRAPE
    return served


def _lines(targets_file: bytes) -> list[bytes]:
    """The groups of a targets file (render.file_sd: one compact JSON group per line, and a
    JSON string never holds a raw line break, so `,\\n` only ever separates groups)."""
    body = targets_file.strip()[1:-1].strip()
    return body.split(b",\n") if body else []


def _jobs(fragment: bytes) -> bytes:
    """A fragment's header comment and job list, without its `scrape_configs:` key: the list
    items start at column 0 (render's dump), so fragments concatenate into one list."""
    head, sep, jobs = fragment.partition(_SCRAPE_HEAD)
    return head + jobs if sep else b""
