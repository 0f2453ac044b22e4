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
where versions before `.staging/` wrote them): only names of the exact shape sdgen makes, for a
name it writes.

A shared volume. Anything that mounts the volume can write it, so no path is trusted twice:
every file operation is relative to a directory descriptor opened one component at a time with
`O_DIRECTORY | O_NOFOLLOW` (the root, `.staging/` and the kinds' directories are opened once and
kept; a job's directory per use), and a directory swapped with a symlink makes a write fail
rather than land elsewhere. A file sdgen owns is read back only if it is a regular file of a
bounded size, opened `O_NOFOLLOW | O_NONBLOCK` (a FIFO or a symlink to /dev/zero must neither
block nor flood it); anything else is reported and replaced. Directory modes are set
explicitly, never left to the umask.

Ownership. sdgen removes only files it wrote, recorded in a manifest, `.sdgen-owned.json` in
the root (hidden, so no glob matches it), itself written atomically. A manifest is exact where
recognising sdgen's own name pattern is a guess: a user's file that happens to look like a
slug survives. Only manifest entries of sdgen's own exact shape count (`naming.is_own_path`):
an edited manifest cannot get anyone's file deleted. The manifest is updated *before* a new
file is written and *after* files are removed, so it always lists a superset of sdgen's files
on disk and a crash can never orphan one. If the manifest is lost,
sdgen forgets old files (leaves them) rather than deleting anything it cannot prove it wrote.

Unchanged files cost nothing: the sha256 of what is on disk is kept in memory (loaded once by
`prepare()`), so a steady-state sync does no I/O at all.

One writer. Two sdgen processes pointed at one directory would remove each other's temp files
and fight over the manifest, so an `exclusive` OutputDir's `prepare()` takes a `flock` on the
root directory, held until the process exits (the kernel drops it even after kill -9); a
second process gets an error naming the holder's pid. A shared flock on every directory above
the root refuses nested output dirs both ways (see _lock).
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
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sdgen import SdgenError
from sdgen.output.naming import is_own_path

log = logging.getLogger(__name__)

MANIFEST = ".sdgen-owned.json"
_Change = tuple[str, bytes]  # (relpath, content)
SUBDIRS = ("targets", "relabel", "scrape")
STAGING = ".staging"  # temp files: same file system, watched by nobody
# Secret material (--materialize-secrets): created on first use, owner-only whatever --file-mode.
SECRETS = "secrets"
SECRET_FILE_MODE = 0o600
SECRET_DIR_MODE = 0o700
# An owned file larger than this is not read back (a file sdgen wrote is far smaller): it is
# treated as unknown, so written again, and a huge file planted on the volume costs nothing.
MAX_OWNED_BYTES = 64 << 20
# Directories are opened relative to their parent's descriptor and never through a symlink,
# so a path cannot be re-resolved between a check and a write (O_PATH would not do: fsync
# and scandir need a real descriptor).
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# Reading back an owned file must neither follow a symlink (to /dev/zero) nor wait on a FIFO.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# `.<name>.tmp-<pid>-<8 hex>`: the exact shape of the temp names sdgen makes (_temp_name).
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.tmp-[1-9][0-9]*-[0-9a-f]{8}$")
_PROBE = "probe"  # the name _probe_writable's temp files carry


class OutputError(SdgenError):
    """The output directory cannot be used; the message names the path and the fix."""


@dataclass
class SyncResult:
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "relpath: message"
    # "relpath: what was there": something other than a regular file sdgen could read (a FIFO,
    # a symlink, a directory, a huge file) found at a name sdgen owns, since the last sync
    replaced: list[str] = field(default_factory=list)


def dir_mode(file_mode: int) -> int:
    """The mode of a directory sdgen creates: the owner's rwx, and r-x for group and others
    where `file_mode` lets them read, whatever the umask."""
    mode = 0o700
    if file_mode & 0o040:
        mode |= 0o050
    if file_mode & 0o004:
        mode |= 0o005
    return mode


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
        self.dir_mode = dir_mode(file_mode)
        self.create = create
        self.exclusive = exclusive
        self._real_root = ""
        # directory relpath ("" is the root) -> an open descriptor of it, for the root, staging,
        # the kinds' directories and secrets/; a job's directory is opened per use
        self._fds: dict[str, int] = {}
        self._owned: set[str] = set()
        self._digests: dict[str, bytes] = {}  # relpath -> sha256 of the bytes on disk
        # relpath -> the bytes last known to be on disk (the renderer's own object, so no copy
        # is kept): a renderer hands back the same object for an unchanged file, and any
        # other is compared with it, not hashed (hashing a large targets file is slow)
        self._synced: dict[str, bytes] = {}
        self._stamps: dict[str, tuple[int, int] | None] = {}  # directory -> (inode, mtime)
        self._replaced: list[str] = []  # reported by the next sync

    def prepare(self) -> None:
        """Check the root is usable, clean up after a crash and learn what is already there."""
        if not self.root.is_dir() and (self.root.exists() or not self.create):
            raise OutputError(
                f"output dir {self.root} does not exist or is not a directory "
                "— mount a writable volume there or pass --output-dir"
            )
        try:
            self._prepare()
        except OSError as e:
            self.close()
            raise OutputError(
                f"output dir {self.root} is not writable: {e.strerror or e} "
                "— mount a writable volume or pass --output-dir"
            ) from e
        except BaseException:
            self.close()
            raise
        self._digests = {rel: d for rel in self._owned if (d := self._digest_on_disk(rel))}
        self._synced = {}
        self._owned = set(self._digests)
        self._stamps = self._stamp_dirs()

    def _prepare(self) -> None:
        if not self.root.is_dir():
            self.root.mkdir(parents=True, exist_ok=True)
            os.chmod(self.root, self.dir_mode)
        self._real_root = os.path.realpath(self.root)
        if self.exclusive:
            _lock(self.root, self._real_root)
        self._open_fixed_dirs()
        self._owned = self._load_manifest()
        names = {MANIFEST, _PROBE, *(rel.rpartition("/")[2] for rel in self._owned)}
        for directory in self._dirs(self._owned):
            try:
                with self._dir(directory) as fd:
                    if fd is not None:
                        _remove_temp_files(fd, names, self.root / directory)
            except OutputError as e:  # a job's directory swapped for a symlink: not ours
                log.warning("%s", e)
        for sub in ("", STAGING, *SUBDIRS):
            _probe_writable(self._fds[sub], self.root / sub)

    def _open_fixed_dirs(self) -> None:
        """Open the root, `.staging/` and the kinds' directories (creating them), once: every
        later file operation is relative to these descriptors."""
        self.close()
        self._fds[""] = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        for sub in (STAGING, *SUBDIRS):
            try:
                self._fds[sub] = _open_dir(self._fds[""], sub, self.dir_mode)
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                raise OutputError(
                    f"{self.root / sub} is not a directory inside the output dir (a symlink, "
                    "or a file) — make it a real directory, or remove it"
                ) from None
        staging_dev = os.fstat(self._fds[STAGING]).st_dev
        for sub in SUBDIRS:
            if os.fstat(self._fds[sub]).st_dev != staging_dev:
                raise OutputError(
                    f"{self.root / sub} is on another file system than {STAGING}/, so a "
                    "file written there cannot be renamed into place — mount one volume "
                    "at the output dir, not one per subdirectory"
                )

    def close(self) -> None:
        """Close the directory descriptors (prepare() opens them again). The lock stays."""
        fds, self._fds = self._fds, {}
        for fd in fds.values():
            os.close(fd)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def owned(self) -> set[str]:
        """Relpaths sdgen wrote and still owns."""
        return set(self._owned)

    def sync(
        self, desired: Mapping[str, bytes], keep: Callable[[str], bool] = lambda relpath: False
    ) -> SyncResult:
        """Make the owned files equal `desired`: write what changed, remove what is no longer
        desired unless `keep(relpath)`. Errors are per file and reported, never raised."""
        if not self._fds:
            raise RuntimeError("OutputDir.prepare() must run before sync()")
        if self.tampered():
            self._relearn()
        result = SyncResult()
        changes = self._claim(self._changes(desired, result), result)
        touched = {rel.rpartition("/")[0] for rel in self._write_all(changes, result)}
        if touched:
            touched.add(STAGING)  # the renames took the temp files' entries from it
        gone = sorted(rel for rel in self._owned - desired.keys() if not keep(rel))
        touched.update(self._remove_all(gone, result))
        for directory in sorted(touched):
            self._fsync_dir(directory, result)
        if result.removed:
            self._save_manifest(self._owned, result)
        self._stamps = self._stamp_dirs()
        result.replaced, self._replaced = self._replaced, []
        return result

    def tampered(self) -> bool:
        """True when a directory sdgen writes to changed since the last sync for another
        reason (a file removed, renamed or added, the directory itself removed or swapped),
        so the disk must be looked at again. A few stats, not one per file."""
        return self._stamps != self._stamp_dirs()

    def _stamp_dirs(self) -> dict[str, tuple[int, int] | None]:
        stamps: dict[str, tuple[int, int] | None] = {}
        root = self._fds.get("")
        if root is None:
            return stamps  # closed
        for name in sorted({STAGING, *SUBDIRS, *(rel.rpartition("/")[0] for rel in self._owned)}):
            try:
                st = os.stat(name, dir_fd=root, follow_symlinks=False)
                stamps[name] = (st.st_ino, st.st_mtime_ns) if stat.S_ISDIR(st.st_mode) else None
            except OSError:
                stamps[name] = None
        return stamps

    def _relearn(self) -> None:
        """Forget what sdgen believes is on disk and read it: missing files get written. A
        kind's directory that was swapped (renamed away, replaced) is opened again."""
        log.warning("files in %s changed behind sdgen's back; checking them again", self.root)
        for sub in (STAGING, *SUBDIRS, SECRETS):
            fd = self._fds.pop(sub, None)
            if fd is not None:
                os.close(fd)
            if sub != SECRETS:
                with contextlib.suppress(OSError):
                    self._fds[sub] = _open_dir(self._fds[""], sub, self.dir_mode)
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
        # a job's directory was fsynced with its one file (_atomic_write): not again
        return [rel for rel in result.written if rel.rpartition("/")[0] in self._fds]

    def _remove_all(self, gone: list[str], result: SyncResult) -> set[str]:
        """Remove the files; the directories that changed, to fsync."""
        touched: set[str] = set()
        for rel in gone:
            directory, _, name = rel.rpartition("/")
            try:
                with self._dir(directory) as fd:
                    if fd is not None:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(name, dir_fd=fd)
                        touched.add(directory)
            except (OSError, OutputError) as e:
                result.errors.append(f"{rel}: not removed: {_describe(e)}")
                continue
            self._owned.discard(rel)
            self._digests.pop(rel, None)
            self._synced.pop(rel, None)
            result.removed.append(rel)
            if self._remove_job_dir(directory):
                touched.discard(directory)  # its parent holds the change
                touched.add(directory.rpartition("/")[0])
        return touched

    def _remove_job_dir(self, directory: str) -> bool:
        """A scrape job's directory under targets/ goes with its file, when nothing else (a
        user's file) is left in it. Whether it went."""
        parent, _, name = directory.rpartition("/")
        if parent != "targets":
            return False
        try:
            os.rmdir(name, dir_fd=self._fds[parent])
        except (OSError, KeyError):
            return False
        return True

    # Files ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _dir(self, directory: str, *, create: bool = False) -> Iterator[int | None]:
        """A descriptor of the directory `directory` (a relpath; "" is the root), opened below
        the root one component at a time without following a symlink; None if it does not
        exist and not `create`. A job's directory is closed again after use."""
        cached = self._fds.get(directory)
        if cached is not None:
            yield cached
            return
        if not directory:
            raise OutputError(f"output dir {self.root} is closed; prepare() opens it")
        parent, _, name = directory.rpartition("/")
        with self._dir(parent, create=create) as parent_fd:
            if parent_fd is None:
                yield None
                return
            secret = directory == SECRETS
            mode = SECRET_DIR_MODE if secret else self.dir_mode
            try:
                fd = _open_dir(parent_fd, name, mode, create=create, enforce=secret)
            except FileNotFoundError:
                yield None
                return
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                if not (create and parent == "targets"):
                    raise OutputError(
                        f"refusing to use {directory}/: not a directory inside the output "
                        "dir (a symlink, or a file)"
                    ) from None
                # A job's directory is sdgen's own name: whatever took it (a symlink, a
                # file, a FIFO) is replaced, never followed.
                self._report(
                    directory, _kind(os.stat(name, dir_fd=parent_fd, follow_symlinks=False))
                )
                os.unlink(name, dir_fd=parent_fd)
                fd = _open_dir(parent_fd, name, mode)
        if directory in (SECRETS, *SUBDIRS, STAGING):
            self._fds[directory] = fd
            yield fd
            return
        try:
            yield fd
        finally:
            os.close(fd)

    def _atomic_write(self, rel: str, data: bytes) -> None:
        directory, _, name = rel.rpartition("/")
        secret = directory == SECRETS
        with self._dir(STAGING, create=True) as staging, self._dir(directory, create=True) as fd:
            assert staging is not None and fd is not None  # created
            temp = _temp_name(name)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            out = os.open(temp, flags, 0o600, dir_fd=staging)
            try:
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(out, view) :]
                    os.fchmod(out, SECRET_FILE_MODE if secret else self.file_mode)
                    os.fsync(out)
                finally:
                    os.close(out)
                os.replace(temp, name, src_dir_fd=staging, dst_dir_fd=fd)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp, dir_fd=staging)
                raise
            if directory not in self._fds:
                os.fsync(fd)  # a job's directory: its one file, fsynced while it is open

    def _fsync_dir(self, directory: str, result: SyncResult) -> None:
        try:
            with self._dir(directory) as fd:
                if fd is not None:
                    os.fsync(fd)
        except (OSError, OutputError) as e:
            result.errors.append(f"{directory or '.'}/: directory fsync failed: {_describe(e)}")

    def _read_owned(self, rel: str) -> bytes | None:
        """The bytes of a file sdgen wrote, or None when it is gone or is not a regular file of
        a sane size any more (reported, then replaced by the next write like a foreign file)."""
        directory, _, name = rel.rpartition("/")
        try:
            with self._dir(directory) as dir_fd:
                if dir_fd is None:
                    return None
                fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
        except (FileNotFoundError, OutputError):
            return None  # gone, or its directory is not one (reported when it is replaced)
        except OSError as e:
            self._report(rel, "a symlink" if e.errno == errno.ELOOP else _describe(e))
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_OWNED_BYTES:
                self._report(rel, _kind(st))
                return None
            data = _read_at_most(fd, MAX_OWNED_BYTES)
        except OSError as e:
            self._report(rel, _describe(e))
            return None
        finally:
            os.close(fd)
        if data is None:
            self._report(rel, f"a file growing past {MAX_OWNED_BYTES} bytes")
        return data

    def _report(self, rel: str, what: str) -> None:
        log.warning(
            "%s in the output dir is not sdgen's file any more (%s): it will be replaced",
            rel,
            what,
        )
        self._replaced.append(f"{rel}: {what}")

    def _digest_on_disk(self, rel: str) -> bytes | None:
        data = self._read_owned(rel)
        return None if data is None else hashlib.sha256(data).digest()

    def _dirs(self, relpaths: Iterable[str]) -> list[str]:
        return sorted({"", STAGING, *SUBDIRS, *(rel.rpartition("/")[0] for rel in relpaths)})

    # Manifest ---------------------------------------------------------------------------

    def _load_manifest(self) -> set[str]:
        """The files sdgen wrote, as its manifest lists them. Only names of sdgen's own shape
        count: the volume is shared, and a name someone else added to the manifest must never
        get a file of theirs deleted."""
        manifest = self.root / MANIFEST
        try:
            data = self._read_owned(MANIFEST)
            if data is None:
                return set()
            files = json.loads(data)["files"]
            if not isinstance(files, list):
                raise TypeError("files is not a list")
        except (ValueError, KeyError, TypeError) as e:
            log.warning(
                "ignoring unreadable %s (%s): files written before are left alone", manifest, e
            )
            return set()
        owned = {rel for rel in files if isinstance(rel, str) and not _relpath_problem(rel)}
        foreign = sorted(rel for rel in owned if not is_own_path(rel))
        if foreign:
            log.warning(
                "%s lists %d names sdgen never writes (first: %s): left alone, never removed",
                manifest,
                len(foreign),
                foreign[0],
            )
        return owned.difference(foreign)

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


# realpath of a locked root -> the lock's fds (the root's, then its ancestors'). A flock belongs
# to one open file, so a second OutputDir in the same process (a test, a rebuilt App) reuses
# the lock instead of colliding.
_HELD_LOCKS: dict[str, list[int]] = {}


def _lock(root: Path, real_root: str) -> None:
    """Hold an exclusive flock on the root directory itself for the life of the process, and
    a shared one on each of its ancestors, or raise OutputError. Locking the directory (not a
    lock file) adds nothing to the volume. The shared locks refuse nested output dirs both
    ways: a second sdgen cannot lock an ancestor of a locked root (the shared lock is in its
    way), nor a directory below one (the exclusive lock is in the way of its shared one)."""
    if real_root in _HELD_LOCKS:
        return
    fds: list[int] = []
    try:
        own = _flock(real_root, fcntl.LOCK_EX, unreadable_ok=False)
        if own is None or own < 0:
            raise OutputError(_in_use(root, real_root))
        fds.append(own)
        for ancestor in _ancestors(real_root):
            fd = _flock(ancestor, fcntl.LOCK_SH)
            if fd is None:
                continue
            if fd < 0:
                raise OutputError(
                    f"output dir {root} is inside {ancestor}, the output dir of another sdgen "
                    f"(pid {_lock_entry(Path(ancestor))[1]}); nested output dirs are refused "
                    "— point each sdgen at its own --output-dir, side by side"
                )
            fds.append(fd)
    except BaseException:
        for fd in fds:
            if fd >= 0:
                os.close(fd)
        raise
    _HELD_LOCKS[real_root] = fds


def _flock(path: str, how: int, *, unreadable_ok: bool = True) -> int | None:
    """An fd of directory `path` holding a flock, -1 when another process's lock is in the
    way, None when the directory cannot be opened to lock (an ancestor without read access)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except PermissionError:
        if not unreadable_ok:
            raise
        return None
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise
        return -1
    return fd


def _ancestors(real_path: str) -> list[str]:
    parents = []
    path = os.path.dirname(real_path)
    while True:
        parents.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            return parents
        path = parent


def _in_use(root: Path, real_root: str) -> str:
    """Why the root cannot be locked: another sdgen writes it, or writes a directory below
    it (that one holds a shared lock on this root, see _lock)."""
    kind, holder = _lock_entry(Path(real_root))
    if kind == "READ":
        return (
            f"output dir {root} holds the output dir of another sdgen (pid {holder}) below it; "
            "nested output dirs are refused — point each sdgen at its own --output-dir, "
            "side by side"
        )
    return (
        f"output dir {root} is in use by another sdgen (pid {holder}); "
        "point each sdgen at its own --output-dir"
    )


def _lock_entry(path: Path) -> tuple[str, str]:
    """(READ or WRITE, pid) of a flock held on `path`, read from Linux's /proc/locks;
    ("", "unknown") elsewhere."""
    st = os.stat(path)
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return "", "unknown"
    for line in lines:  # "1: FLOCK  ADVISORY  WRITE 1234 00:2e:5678 0 EOF"
        fields = line.split()
        if "FLOCK" in fields and "->" not in fields and inode in fields[2:]:
            at = fields.index(inode)
            return fields[at - 2], fields[at - 1]
    return "", "unknown"


def _open_dir(
    parent_fd: int, name: str, mode: int, *, create: bool = True, enforce: bool = False
) -> int:
    """Open directory `name` of `parent_fd` without following a symlink, creating it with
    `mode` (set explicitly: the umask does not decide). `enforce`: also set `mode` on a
    directory that already exists (secrets/ must be the owner's alone)."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        if not create:
            raise
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, mode, dir_fd=parent_fd)
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        enforce = True
    try:
        if enforce and stat.S_IMODE(os.fstat(fd).st_mode) != mode:
            os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _temp_name(name: str) -> str:
    return f".{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"


def _remove_temp_files(dir_fd: int, names: set[str], where: Path) -> None:
    """Remove the temp files an interrupted write left: only names of the exact shape sdgen
    makes (_temp_name) for a file it writes (`names`), never a user's look-alike."""
    with os.scandir(dir_fd) as entries:
        for entry in entries:
            match = _TEMP_NAME.match(entry.name)
            if match and match["name"] in names and entry.is_file(follow_symlinks=False):
                log.info("removing temp file left by an interrupted write: %s", where / entry.name)
                os.unlink(entry.name, dir_fd=dir_fd)


def _probe_writable(dir_fd: int, where: Path) -> None:
    probe = _temp_name(_PROBE)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    os.close(os.open(probe, flags, 0o600, dir_fd=dir_fd))
    os.unlink(probe, dir_fd=dir_fd)


def _kind(st: os.stat_result) -> str:
    """What a file that is not sdgen's is, for the report."""
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return f"a file of {st.st_size} bytes, over the {MAX_OWNED_BYTES}-byte limit"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symlink"
    return "not a regular file"


def _read_at_most(fd: int, limit: int) -> bytes | None:
    """All of the file, or None if it holds more than `limit` bytes (it may grow after the
    fstat that checked its size)."""
    chunks, size = [], 0
    while chunk := os.read(fd, min(1 << 20, limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None
    return b"".join(chunks)


def _describe(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)
