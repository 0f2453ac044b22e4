"""The output directory: atomic, write-only-on-change file updates that never leave the root.

Prometheus re-reads file_sd files the moment they change and reloads fragments on request, so
a reader must only ever see a complete old file or a complete new one. Every write therefore
goes to a temp file in `.staging/` (`.<name>.tmp-<pid>-<hex>`), on the same file system but in
no directory anyone watches, is fsynced, given its mode and renamed over the target in one
`os.replace`: a watcher of the target's directory sees one event per written file, where a
temp file beside the target would cost three (create, write, rename), and Prometheus's file_sd
re-reads a whole directory's files on each. Both directories are fsynced once per sync after
all renames and removals. A failed write removes its temp file and leaves the old file as it
was; `prepare()` removes temp files a crash left behind (in `.staging/`, and beside the files,
where versions before `.staging/` wrote them).

Ownership. sdgen removes only files it wrote, recorded in a manifest, `.sdgen-owned.json` in
the root (hidden, so no glob matches it), itself written atomically. A manifest is exact where
recognising sdgen's own name pattern is a guess: a user's file that happens to look like a
slug survives, and sdgen's files stay recognised if the slug scheme ever changes. The manifest
is updated *before* a new file is written and *after* files are removed, so it always lists a
superset of sdgen's files on disk and a crash can never orphan one. If the manifest is lost,
sdgen forgets old files (leaves them) rather than deleting anything it cannot prove it wrote.

Unchanged files cost nothing: the sha256 of what is on disk is kept in memory (loaded once by
`prepare()`), so a steady-state sync does no I/O at all.

One writer. Two sdgen processes pointed at one directory would remove each other's temp files
and fight over the manifest, so an `exclusive` OutputDir's `prepare()` takes a `flock` on the
root directory, held until the process exits (the kernel drops it even after kill -9); a
second process gets an error naming the holder's pid.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sdgen import SdgenError

log = logging.getLogger(__name__)

MANIFEST = ".sdgen-owned.json"
_Change = tuple[str, bytes]  # (relpath, content)
SUBDIRS = ("targets", "relabel", "scrape")
STAGING = ".staging"  # temp files: same file system, watched by nobody
# Secret material (--materialize-secrets): created on first use, owner-only whatever --file-mode.
SECRETS = "secrets"
SECRET_FILE_MODE = 0o600
_TEMP_NAME = re.compile(r"^\..+\.tmp-\d+-[0-9a-f]+$")


class OutputError(SdgenError):
    """The output directory cannot be used; the message names the path and the fix."""


@dataclass
class SyncResult:
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "relpath: message"


class OutputDir:
    def __init__(
        self,
        root: str | Path,
        file_mode: int = 0o644,
        *,
        create: bool = False,
        exclusive: bool = False,
    ) -> None:
        """`create`: make a missing root (with parents) instead of failing in `prepare()`.
        `exclusive`: `prepare()` locks the root against other sdgen processes until exit."""
        self.root = Path(root)
        self.file_mode = file_mode
        self.create = create
        self.exclusive = exclusive
        self._real_root = ""
        self._owned: set[str] = set()
        self._digests: dict[str, bytes] = {}  # relpath -> sha256 of the bytes on disk
        # relpath -> the bytes last known to be on disk (the renderer's own object, so no copy
        # is kept): a renderer hands back the same object for an unchanged file, and any
        # other is compared with it, not hashed (hashing a large targets file is slow)
        self._synced: dict[str, bytes] = {}
        self._stamps: dict[str, tuple[int, int] | None] = {}  # directory -> (inode, mtime)

    def prepare(self) -> None:
        """Check the root is usable, clean up after a crash and learn what is already there."""
        if not self.root.is_dir() and (self.root.exists() or not self.create):
            raise OutputError(
                f"output dir {self.root} does not exist or is not a directory "
                "— mount a writable volume there or pass --output-dir"
            )
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._real_root = os.path.realpath(self.root)
            if self.exclusive:
                _lock(self.root, self._real_root)
            for sub in (STAGING, *SUBDIRS):
                (self.root / sub).mkdir(exist_ok=True)
                if not self._within(self.root / sub):
                    raise OutputError(
                        f"{self.root / sub} resolves outside the output dir "
                        "— make it a real directory, not a symlink"
                    )
                if os.stat(self.root / sub).st_dev != os.stat(self.root / STAGING).st_dev:
                    raise OutputError(
                        f"{self.root / sub} is on another file system than {STAGING}/, so a "
                        "file written there cannot be renamed into place — mount one volume "
                        "at the output dir, not one per subdirectory"
                    )
            self._owned = self._load_manifest()
            for directory in self._dirs(self._owned):
                _remove_temp_files(directory)
            for sub in ("", STAGING, *SUBDIRS):
                _probe_writable(self.root / sub)
        except OSError as e:
            raise OutputError(
                f"output dir {self.root} is not writable: {e.strerror or e} "
                "— mount a writable volume or pass --output-dir"
            ) from e
        self._digests = {rel: d for rel in self._owned if (d := self._digest_on_disk(rel))}
        self._synced = {}
        self._owned = set(self._digests)
        self._stamps = self._stamp_dirs()

    def owned(self) -> set[str]:
        """Relpaths sdgen wrote and still owns."""
        return set(self._owned)

    def sync(
        self, desired: Mapping[str, bytes], keep: Callable[[str], bool] = lambda relpath: False
    ) -> SyncResult:
        """Make the owned files equal `desired`: write what changed, remove what is no longer
        desired unless `keep(relpath)`. Errors are per file and reported, never raised."""
        if not self._real_root:
            raise RuntimeError("OutputDir.prepare() must run before sync()")
        if self.tampered():
            self._relearn()
        result = SyncResult()
        changes = self._claim(self._changes(desired, result), result)
        touched = {rel.rpartition("/")[0] for rel in self._write_all(changes, result)}
        if touched:
            touched.add(STAGING)  # the renames took the temp files' entries from it
        gone = sorted(rel for rel in self._owned - desired.keys() if not keep(rel))
        for rel in self._remove_all(gone, result):
            directory = rel.rpartition("/")[0]
            # a job's directory removed with its file: its parent holds the change
            exists = (self.root / directory).is_dir()
            touched.add(directory if exists else directory.rpartition("/")[0])
        for directory in sorted(touched):
            self._fsync_dir(directory, result)
        if result.removed:
            self._save_manifest(self._owned, result)
        self._stamps = self._stamp_dirs()
        return result

    def tampered(self) -> bool:
        """True when a directory sdgen writes to changed since the last sync for another
        reason (a file removed, renamed or added, the directory itself removed), so the disk
        must be looked at again. A few stats, not one per file."""
        return self._stamps != self._stamp_dirs()

    def _stamp_dirs(self) -> dict[str, tuple[int, int] | None]:
        stamps: dict[str, tuple[int, int] | None] = {}
        for name in sorted({*SUBDIRS, *(rel.rpartition("/")[0] for rel in self._owned)}):
            try:
                st = os.stat(self.root / name)
                stamps[name] = (st.st_ino, st.st_mtime_ns)
            except OSError:
                stamps[name] = None
        return stamps

    def _relearn(self) -> None:
        """Forget what sdgen believes is on disk and read it: missing files get written."""
        log.warning("files in %s changed behind sdgen's back; checking them again", self.root)
        self._digests = {rel: d for rel in self._owned if (d := self._digest_on_disk(rel))}
        self._synced = {}

    # Steps of a sync --------------------------------------------------------------------

    def _changes(self, desired: Mapping[str, bytes], result: SyncResult) -> list[_Change]:
        changes = []
        for rel, data in sorted(desired.items()):
            if problem := _relpath_problem(rel):
                result.errors.append(f"{rel}: {problem}")
            elif self._unchanged(rel, data):
                self._synced[rel] = data
                result.unchanged += 1
            else:
                changes.append((rel, data))
        return changes

    def _unchanged(self, rel: str, data: bytes) -> bool:
        """Whether `data` is what the file holds: compared with the bytes last synced when
        sdgen has them (the same object, or one memcmp), else by digest with the disk."""
        last = self._synced.get(rel)
        if last is not None:
            return last is data or last == data
        return self._digests.get(rel) == hashlib.sha256(data).digest()

    def _claim(self, changes: list[_Change], result: SyncResult) -> list[_Change]:
        """Record new files as owned before writing them: a file whose ownership could not be
        recorded is not written, as it could never be pruned."""
        new = {rel for rel, _ in changes if rel not in self._owned}
        if not new or self._save_manifest(self._owned | new, result):
            self._owned |= new
            return changes
        result.errors.extend(f"{rel}: not written, ownership not recorded" for rel in sorted(new))
        return [change for change in changes if change[0] not in new]

    def _write_all(self, changes: list[_Change], result: SyncResult) -> list[str]:
        for rel, data in changes:
            try:
                self._atomic_write(rel, data)
            except (OSError, OutputError) as e:
                result.errors.append(f"{rel}: {_describe(e)}")
                continue
            self._digests.pop(rel, None)  # known by its bytes now (see _unchanged)
            self._synced[rel] = data
            result.written.append(rel)
        return result.written

    def _remove_all(self, gone: list[str], result: SyncResult) -> list[str]:
        for rel in gone:
            try:
                self._inside(rel).unlink(missing_ok=True)
            except (OSError, OutputError) as e:
                result.errors.append(f"{rel}: not removed: {_describe(e)}")
                continue
            self._owned.discard(rel)
            self._digests.pop(rel, None)
            self._synced.pop(rel, None)
            result.removed.append(rel)
            self._remove_job_dir(rel)
        return result.removed

    def _remove_job_dir(self, rel: str) -> None:
        """A scrape job's directory under targets/ goes with its file, when nothing else (a
        user's file) is left in it."""
        directory = rel.rpartition("/")[0]
        if directory.count("/") == 1 and directory.startswith("targets/"):
            with contextlib.suppress(OSError):
                (self.root / directory).rmdir()

    # Files ------------------------------------------------------------------------------

    def _within(self, path: Path) -> bool:
        real = os.path.realpath(path)
        return real == self._real_root or real.startswith(self._real_root + os.sep)

    def _inside(self, rel: str) -> Path:
        """root/rel, after checking that its directory really lies inside the root."""
        path = self.root / rel
        if not self._within(path.parent):
            where = os.path.realpath(path.parent)
            raise OutputError(f"refusing to touch a file outside the output dir (via {where})")
        return path

    def _atomic_write(self, rel: str, data: bytes) -> None:
        path = self._inside(rel)
        secret = rel.startswith(SECRETS + "/")
        path.parent.mkdir(mode=0o700 if secret else 0o777, parents=True, exist_ok=True)
        temp = self.root / STAGING / f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fchmod(fd, SECRET_FILE_MODE if secret else self.file_mode)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def _fsync_dir(self, directory: str, result: SyncResult) -> None:
        try:
            fd = os.open(self.root / directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            result.errors.append(f"{directory or '.'}/: directory fsync failed: {_describe(e)}")

    def _digest_on_disk(self, rel: str) -> bytes | None:
        try:
            return hashlib.sha256(self._inside(rel).read_bytes()).digest()
        except (OSError, OutputError):
            return None  # gone, or not ours to read: forget it

    def _dirs(self, relpaths: Iterable[str]) -> list[Path]:
        names = {"", STAGING, *SUBDIRS, *(rel.rpartition("/")[0] for rel in relpaths)}
        dirs = (self.root / name for name in sorted(names))
        return [d for d in dirs if d.is_dir() and self._within(d)]

    # Manifest ---------------------------------------------------------------------------

    def _load_manifest(self) -> set[str]:
        try:
            raw = json.loads((self.root / MANIFEST).read_bytes())
            files = raw["files"]
            if not isinstance(files, list):
                raise TypeError("files is not a list")
        except FileNotFoundError:
            return set()
        except (ValueError, KeyError, TypeError) as e:
            log.warning(
                "ignoring unreadable %s (%s): files written before are left alone",
                self.root / MANIFEST,
                e,
            )
            return set()
        return {rel for rel in files if isinstance(rel, str) and not _relpath_problem(rel)}

    def _save_manifest(self, owned: set[str], result: SyncResult) -> bool:
        data = json.dumps({"version": 1, "files": sorted(owned)}, indent=1).encode() + b"\n"
        try:
            self._atomic_write(MANIFEST, data)
        except OSError as e:
            result.errors.append(f"{MANIFEST}: {_describe(e)}")
            return False
        return True


def _relpath_problem(rel: str) -> str | None:
    """Why `rel` may not be written, or None. Hidden names are reserved for temp files and
    the manifest; absolute paths and `..` could leave the root."""
    if rel.startswith("/"):
        return "absolute path refused: outside the output dir"
    parts = rel.split("/")
    if any(part in ("", ".", "..") for part in parts) or "\x00" in rel:
        return "path refused: empty, '.' or '..' component"
    if any(part.startswith(".") for part in parts):
        return "path refused: hidden names are reserved for sdgen's temp files"
    return None


# realpath of a locked root -> the lock's fd. A flock belongs to one open file, so a second
# OutputDir in the same process (a test, a rebuilt App) reuses the lock instead of colliding.
_HELD_LOCKS: dict[str, int] = {}


def _lock(root: Path, real_root: str) -> None:
    """Hold an exclusive flock on the root directory itself for the life of the process, or
    raise OutputError. Locking the directory (not a lock file) adds nothing to the volume."""
    if real_root in _HELD_LOCKS:
        return
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise
        raise OutputError(
            f"output dir {root} is in use by another sdgen (pid {_lock_holder(root)}); "
            "point each sdgen at its own --output-dir"
        ) from None
    _HELD_LOCKS[real_root] = fd


def _lock_holder(path: Path) -> str:
    """The pid holding a flock on `path`, read from Linux's /proc/locks; "unknown" elsewhere."""
    st = os.stat(path)
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return "unknown"
    for line in lines:  # "1: FLOCK  ADVISORY  WRITE 1234 00:2e:5678 0 EOF"
        fields = line.split()
        if "FLOCK" in fields and "->" not in fields and inode in fields[2:]:
            return fields[fields.index(inode) - 1]
    return "unknown"


def _remove_temp_files(directory: Path) -> None:
    for entry in os.scandir(directory):
        if _TEMP_NAME.match(entry.name) and entry.is_file(follow_symlinks=False):
            log.info("removing temp file left by an interrupted write: %s", entry.path)
            os.unlink(entry.path)


def _probe_writable(directory: Path) -> None:
    probe = directory / f".probe.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    probe.unlink()


def _describe(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)
