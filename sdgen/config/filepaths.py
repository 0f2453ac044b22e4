"""Which local files a config may name for Prometheus to read: `caFile`, `certFile`,
`keyFile`, `credentialsFile`, `bearerTokenFile`, `passwordFile` (docs/configuration.md,
"Local file paths").

Prometheus opens these paths in its own pod with its own permissions, so whoever edits the
ConfigMap chooses which of that pod's files are sent to a scrape target: the service-account
token, another job's client key. `sdgen --allowed-file-prefixes` limits the paths to some
directories. The check is one pure function of the path and the allowed prefixes, so that
callers with other policies (a tenant allowed no path at all: no prefixes) reuse it.

Paths are compared by components after normalization, never as strings: `/etc/prom` allows
`/etc/prom/ca.crt` but not `/etc/prometheus-other/ca.crt`. A path with a `..` component is
refused outright instead of being normalized, because `a/link/..` is not `a` when `link` is a
symlink; a relative path is refused too, because Prometheus resolves it against the
fragment's directory, which is sdgen's output (and its secrets/).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["file_path_problem", "prefix_problem", "prefixes"]

FLAG = "--allowed-file-prefixes"


def _components(path: str) -> tuple[str, ...]:
    return tuple(part for part in path.split("/") if part not in ("", "."))


def _shape_problem(path: str) -> str | None:
    if not path.startswith("/"):
        return "is not an absolute path"
    if ".." in path.split("/"):
        return 'contains ".."'
    return None


def prefix_problem(prefix: str) -> str | None:
    """Why `prefix` cannot be an allowed prefix, or None."""
    problem = _shape_problem(prefix)
    return f'prefix "{prefix}" {problem}' if problem else None


def prefixes(text: str) -> tuple[str, ...]:
    """A comma-separated list of prefixes (the flag's value), each normalized; raise
    ValueError naming a prefix that is not absolute or has a `..`. Empty: no path allowed."""
    found = [part.strip() for part in text.split(",") if part.strip()]
    for prefix in found:
        if problem := prefix_problem(prefix):
            raise ValueError(problem)
    return tuple("/" + "/".join(_components(p)) for p in found)


def file_path_problem(path: str, allowed: Iterable[str]) -> str | None:
    """Why a config may not name the local file `path` when only the directories `allowed`
    (absolute, as `prefixes` returns them) may be read; None when it may."""
    listed = tuple(allowed)
    if not listed:
        return f'"{path}": no local file may be named ({FLAG} lists no prefix)'
    shown = ", ".join(listed)
    if problem := _shape_problem(path):
        return f'"{path}" {problem}: name an absolute path under {FLAG} ({shown})'
    parts = _components(path)
    if any(parts[: len(p)] == p for p in map(_components, listed)):
        return None
    return f'"{path}" is outside {FLAG} ({shown}): name a file under one of them'
