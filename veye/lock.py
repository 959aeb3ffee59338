"""One daemon per database: an exclusive lock that dies with its process."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from veye.errors import AlreadyRunning


class InstanceLock:
    """An ``flock`` on a file beside the database. The kernel drops it when the holder exits,
    however it exits, so a crash (even SIGKILL) cannot leave it stuck."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise AlreadyRunning(
                f"another veye run (pid {holder}) is already watching this database "
                f"({self.path}); stop it first, or point this one at another storage.url"
            ) from e
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def is_held_elsewhere(self) -> bool:
        """Whether some other process holds the lock now (for ``veye status``)."""
        if not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_path_for(database_url: str) -> Path | None:
    """The lock file for a SQLite database (``None`` for server databases, which coordinate
    their workers through the database itself)."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        return None
    db_file = database_url[len(prefix) :]
    if not db_file or db_file == ":memory:":
        return None
    return Path(db_file + ".lock")
