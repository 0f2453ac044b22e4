"""What `sdgen serve` answers: every shard's files, held in memory instead of written.

`Published` stands where a sidecar's output directory stands in the cycle (it has the same
`owned`/`sync`/`tampered`), so reading the config, holding a rejected target's last good
output and reporting on the board work as they do for a sidecar. Its files are keyed
`<shard>/<relpath>` (sdgen.output.central); a rejected target's files are held by the same
rule as on disk (`naming.prefix_of` reads the target below the shard's number).

After a sync that changed anything, the served documents are built once (central.documents)
and swapped in whole, so a request is one dict lookup of bytes built per render, and a reader
on another thread sees the documents before or after a render, never half of one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sdgen.output import central
from sdgen.output.outputdir import SyncResult


class Published:
    def __init__(self, shards: int) -> None:
        self.shards = shards
        self._files: dict[str, bytes] = {}
        self._served: dict[str, bytes] = central.documents({}, shards)
        self.rendered = False  # a render was published (ready to serve something true)

    def owned(self) -> set[str]:
        return set(self._files)

    def tampered(self) -> bool:
        return False  # nobody else writes here

    def sync(
        self, desired: Mapping[str, bytes], keep: Callable[[str], bool] = lambda relpath: False
    ) -> SyncResult:
        result = SyncResult()
        files = dict(desired)
        for key, data in self._files.items():
            if key not in files and keep(key):
                files[key] = data
        for key, data in files.items():
            old = self._files.get(key)
            if old is data or old == data:
                result.unchanged += 1
            else:
                result.written.append(key)
        result.removed = sorted(self._files.keys() - files.keys())
        self._files = files
        if result.written or result.removed or not self.rendered:
            self._served = central.documents(files, self.shards)
        self.rendered = True
        return result

    def get(self, path: str) -> bytes | None:
        """The bytes served at this URL path, None when there is nothing there."""
        return self._served.get(path.rstrip("/") or "/")

    def paths(self) -> list[str]:
        return sorted(self._served)
