"""Advisory locks (``flock``) that never hang a reader and work on filesystems without locks."""

from __future__ import annotations

import errno
import fcntl
import time

#: errno values of a filesystem that has no locks (Lustre without ``flock``, some NFS mounts).
LOCKLESS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)


def lock_exclusive(fd: int, timeout: float) -> bool:
    """Lock ``fd`` exclusively within ``timeout`` seconds; False where the filesystem has no locks.

    Raises TimeoutError when another holder keeps it longer, OSError for other failures. Closing
    the descriptor releases the lock.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"lock held for over {timeout:.0f} s") from None
            time.sleep(0.01)
        except OSError as exc:
            if exc.errno in LOCKLESS:
                return False
            raise
