"""File names: the slug of each (target, endpoint), and the prefix all of a target's files share.

Names are derived from user text (target names), so they are built to be safe by construction:
only `[A-Za-z0-9_.-]`, never a leading dot or `..`, bounded length, distinct for distinct
(name, index) pairs, so nothing sdgen writes lands outside the output directory.
"""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_READABLE_MAX = 64
_HASH_HEX = 10


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
    """The target prefix a written file belongs to (see target_prefix), "" if none."""
    readable, dot, rest = relpath.rpartition("/")[2].partition(".")
    digest, dot2, _ = rest.partition(".")
    return f"{readable}.{digest}." if dot and dot2 else ""


def slug(target_name: str, index: int) -> str:
    """The file stem (and job name) of endpoint `index` of a target, e.g. `node.3f0a9c12be.0`.

    Only `[A-Za-z0-9_.-]`, never a leading dot or `..`, at most 100 characters for any
    realistic index, deterministic, and distinct for distinct (name, index) pairs.
    """
    if index < 0:
        raise ValueError(f"endpoint index must not be negative, got {index}")
    return f"{target_prefix(target_name)}{index}"


def secret_path(stem: str, field: str) -> str:
    """Where a Secret reference's value is written (`field` as in `model.secret_refs`)."""
    return f"secrets/{stem}.{field}"
