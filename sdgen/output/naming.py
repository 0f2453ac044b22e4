"""File names: the slug of each (target, endpoint), the directory of each scrape job, and the
prefix all of a target's files share (docs/architecture.md, "Output").

Names are derived from user text (target names), so they are built to be safe by construction:
only `[A-Za-z0-9_.-]`, never a leading dot or `..`, bounded length (well within a file system's
255 bytes), and distinct for distinct (name, index, part): the hash is 128 bits of sha256, so
nobody can search for two names that collide. Nothing sdgen writes lands outside the output
directory.

Per endpoint, with `<slug>` = `slug(target name, endpoint index)` and one scrape job per part:
`targets/<slug>.p<part>/targets.json` (a directory per job: Prometheus's file_sd re-reads
every file of a watched directory on any event in it), `relabel/<slug>.yml` and
`scrape/<slug>.yml`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_READABLE_MAX = 64
_HASH_HEX = 32  # 128 bits
TARGETS_FILE = "targets.json"


def target_prefix(target_name: str) -> str:
    """`<readable>.<hash>.`: starts every slug of the target, and no other target's slug.

    `readable` is the name with every character outside `[A-Za-z0-9_-]` replaced by `_`,
    truncated; it never contains a dot, so the first dot ends it and the hash of the exact name
    that follows tells apart names that read the same. Always hashing (rather than only when
    sanitising changed the name) is what makes the prefix unique by construction.
    """
    readable = _UNSAFE.sub("_", target_name)[:_READABLE_MAX]
    if not readable or readable.startswith("-"):
        readable = "_" + readable  # no empty stem, nothing a shell tool takes for an option
    digest = hashlib.sha256(target_name.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{readable}.{digest[:_HASH_HEX]}."


def prefix_of(relpath: str) -> str:
    """The target prefix a written file belongs to (see target_prefix), "" if none: the name
    below the kind's directory (`scrape/<slug>.yml`, `targets/<slug>.p0/targets.json`), also
    below a shard's number (`sdgen serve` keys its files `<shard>/<relpath>`)."""
    first, _, below = relpath.partition("/")
    if first.isdigit():
        _, _, below = below.partition("/")
    readable, dot, rest = below.partition("/")[0].partition(".")
    digest, dot2, _ = rest.partition(".")
    return f"{readable}.{digest}." if dot and dot2 and len(digest) == _HASH_HEX else ""


def slug(target_name: str, index: int) -> str:
    """The file stem of endpoint `index` of a target, e.g. `node.3f0a…9c12.0`.

    Only `[A-Za-z0-9_.-]`, never a leading dot or `..`, at most 120 characters for any
    realistic index, deterministic, and distinct for distinct (name, index) pairs.
    """
    if index < 0:
        raise ValueError(f"endpoint index must not be negative, got {index}")
    return f"{target_prefix(target_name)}{index}"


def secret_path(stem: str, field: str) -> str:
    """Where a Secret reference's value is written (`field` as in `model.secret_refs`)."""
    return f"secrets/{stem}.{field}"


def job_name(stem: str, part: int) -> str:
    """The scrape job (and its directory under targets/) of one part of an endpoint."""
    return f"{stem}.p{part}"


def targets_path(stem: str, part: int) -> str:
    return f"targets/{job_name(stem, part)}/{TARGETS_FILE}"


def relabel_path(stem: str) -> str:
    return f"relabel/{stem}.yml"


def scrape_path(stem: str) -> str:
    return f"scrape/{stem}.yml"


def parts_on_disk(relpaths: Iterable[str]) -> dict[str, int]:
    """Per slug, how many parts its endpoint has in these written files (so a restart keeps
    the number of parts, and with it the fragments, as they were)."""
    parts: dict[str, int] = {}
    for rel in relpaths:
        kind, _, below = rel.partition("/")
        job, _, file = below.partition("/")
        stem, dot, part = job.rpartition(".p")
        if kind == "targets" and file == TARGETS_FILE and dot and part.isdigit():
            parts[stem] = max(parts.get(stem, 0), int(part) + 1)
    return parts


# The exact shape of every path sdgen writes, in today's layout (128-bit hashes, a directory per
# job) and the one before (40-bit hashes, targets files side by side): a stem is the readable
# part of target_prefix, the hash and the endpoint index.
_NEW, _OLD = (
    rf"[A-Za-z0-9_-]{{1,{_READABLE_MAX + 1}}}\.[0-9a-f]{{{n}}}\.\d+" for n in (_HASH_HEX, 10)
)
_OWN_PATH = re.compile(
    rf"targets/{_NEW}\.p\d+/{re.escape(TARGETS_FILE)}|targets/{_OLD}\.json"
    rf"|(relabel|scrape)/({_NEW}|{_OLD})\.yml"
    rf"|secrets/({_NEW}|{_OLD})\.(ca|cert|key|credentials|username|password)"
)


def is_own_path(relpath: str) -> bool:
    """Whether `relpath` has the exact shape of a file sdgen writes (today, or in the layout
    before per-job directories). The output volume is shared, so a manifest that lists other
    names was edited by someone else: sdgen never removes a file of another shape."""
    return _OWN_PATH.fullmatch(relpath) is not None


def is_legacy(relpath: str) -> bool:
    """Whether sdgen wrote this file in the layout before per-job directories (its slugs had
    a 40-bit hash, and targets files lay side by side in targets/): what a first run after
    an upgrade migrates."""
    kind = relpath.partition("/")[0]
    return kind in ("targets", "relabel", "scrape", "secrets") and not prefix_of(relpath)
