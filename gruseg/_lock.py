"""An exclusive lock on a run directory, so that two runs never write into one ``--out`` at once.

The lock is the file ``DIR/.gruseg.lock``. It holds the holder's pid, host and start time (as
JSON), for the message that refuses a second run. On POSIX the file is also locked with
``fcntl.flock``: the kernel releases that lock when the holder exits in any way (even
``kill -9``), so a lock file left behind by a dead run is stale by construction and the next run
simply takes it over. Without ``fcntl`` (Windows), or on a file system without ``flock`` (some
network mounts), the file is created with ``O_CREAT | O_EXCL`` and a lock whose pid is dead on
this host is taken over.

The file is deleted on release; a directory the lock had to create is removed again when it is
still empty, so a run refused for any reason leaves no trace.

Example:
    >>> import tempfile
    >>> directory = tempfile.mkdtemp()
    >>> with DirectoryLock(directory):
    ...     holder(directory)["pid"] == os.getpid()
    True
    >>> holder(directory) is None
    True
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from pathlib import Path

from gruseg.errors import GrusegError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

__all__ = ["LOCK_FILE", "DirectoryLock", "LockHeld", "holder"]

LOCK_FILE = ".gruseg.lock"
"""Name of the lock file inside the locked directory."""

_NO_FLOCK = {getattr(errno, name) for name in ("ENOLCK", "EOPNOTSUPP", "ENOTSUP", "EINVAL", "ENOSYS") if hasattr(errno, name)}


class LockHeld(GrusegError):
    """Another live process holds the lock; ``info`` is its record (pid, host, since, command) or {}."""

    def __init__(self, message, info):
        super().__init__(message)
        self.info = info


def _describe(info: dict) -> str:
    if not info.get("pid"):
        return "another process (it has not recorded its pid yet)"
    since = f", since {info['since']}" if info.get("since") else ""
    what = info.get("command") or "a gruseg process"
    return f"{what} (pid {info['pid']} on host {info.get('host', '?')}{since})"


def _read(path: Path) -> dict:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return info if isinstance(info, dict) else {}


def _write_record(fd, record) -> None:
    os.ftruncate(fd, 0)
    os.write(fd, (json.dumps(record) + "\n").encode())


def _pid_alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows; assume it is alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _record_is_live(path: Path) -> bool:
    """Without flock: a lock file counts unless its pid is dead on this host."""
    info = _read(path)
    return path.exists() and not (info.get("host") == socket.gethostname() and not _pid_alive(info.get("pid")))


def _held_by_other(path: Path) -> bool:
    """True when some live process holds the lock file at ``path`` (without taking it)."""
    if fcntl is None:
        return _record_is_live(path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
            return True
        if err.errno in _NO_FLOCK:
            return _record_is_live(path)
        raise
    finally:
        os.close(fd)  # closing drops the shared lock we may have taken
    return False


def holder(directory) -> dict | None:
    """The record of the live process holding ``directory``'s lock, or None when nobody holds it."""
    path = Path(directory) / LOCK_FILE
    if not _held_by_other(path):
        return None
    for _ in range(20):  # the holder writes its record just after locking
        info = _read(path)
        if info.get("pid"):
            return info
        time.sleep(0.05)
    return {}


class DirectoryLock:
    """``with DirectoryLock(dir, what="--out", command="gruseg train"):`` holds ``dir``'s lock.

    Raises:
        LockHeld: another live process holds it (the message names its pid and host).
    """

    def __init__(self, directory, what=None, command="gruseg"):
        self.directory = Path(directory)
        self.path = self.directory / LOCK_FILE
        self.what = what or str(self.directory)
        self.command = command
        self._fd = None
        self._created_dir = False

    @property
    def held(self) -> bool:
        """True between :meth:`acquire` and :meth:`release`."""
        return self._fd is not None

    def refuse(self, info, maybe_stale=False) -> LockHeld:
        # with flock the kernel vouches that the holder lives; a bare lock file (no flock) might be stale
        stale = f" (if no such process runs, delete {self.path})" if maybe_stale or fcntl is None else ""
        return LockHeld(f"{self.what}: {_describe(info)} is writing there; wait for it to finish, or choose "
                        f"another directory{stale}", info)

    def check(self) -> None:
        """Raise :class:`LockHeld` if another process holds the lock (without taking it)."""
        info = holder(self.directory)
        if info is not None:
            raise self.refuse(info)

    def acquire(self) -> DirectoryLock:
        try:
            if not self.directory.exists():
                self.directory.mkdir(parents=True)
                self._created_dir = True
        except OSError as err:
            if err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
                raise
            raise GrusegError(f"{self.what}: cannot create the directory ({err.strerror}); choose a writable "
                              "location") from None
        try:
            self._fd = self._lock_posix() if fcntl is not None else self._lock_exclusive()
            record = {"pid": os.getpid(), "host": socket.gethostname(),
                      "since": time.strftime("%Y-%m-%d %H:%M:%S"), "command": self.command}
            _write_record(self._fd, record)
        except BaseException:
            self.release()
            raise
        return self

    def _lock_posix(self) -> int:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                if err.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    raise self.refuse(holder(self.directory) or {}) from None
                if err.errno in _NO_FLOCK:  # a file system without flock (some network mounts)
                    if self.path.stat().st_size == 0:  # the empty file our open just created
                        self.path.unlink(missing_ok=True)
                    return self._lock_exclusive()
                raise
            try:  # the holder before us may have deleted the file between our open and our lock
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                return fd
            os.close(fd)

    def _lock_exclusive(self) -> int:
        for _ in range(2):
            try:
                return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if not _record_is_live(self.path):
                    self.path.unlink(missing_ok=True)  # stale: its process is gone
                    continue
                raise self.refuse(_read(self.path), maybe_stale=True) from None
        raise self.refuse(_read(self.path), maybe_stale=True)

    def release(self) -> None:
        """Delete the lock file and close it; remove the directory if the lock created it and it is empty."""
        if self._fd is not None:
            try:
                if os.path.samestat(os.fstat(self._fd), os.stat(self.path)):
                    self.path.unlink()
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None
        if self._created_dir:
            self._created_dir = False
            try:
                self.directory.rmdir()
            except OSError:  # not empty: the run wrote something worth keeping
                pass

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False
