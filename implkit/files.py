"""Files that hold a tenant's data are private to the user who runs implkit: 0600 files, 0700 folders.

State, snapshots (customer names, phones, budgets), audit history, saved plans, reports and token
files must not be readable by other accounts on a shared machine, whatever the umask. SQLite gives
its `-wal`, `-shm` and `-journal` companions the permissions of the database file, so a database
created here as 0600 keeps its companions 0600 too.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: str | os.PathLike) -> Path:
    """Create `path` (and missing parents) as 0700; tighten it if it exists."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(folder, DIR_MODE)
    return folder


def private_file(path: str | os.PathLike) -> Path:
    """Make sure `path` exists as a 0600 file before anyone (SQLite) opens it; tighten an older one and
    any SQLite companion already beside it. The parent folder is created if missing (not tightened:
    it may be the user's)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        # Never open and close a file that exists: it may be a SQLite database this process has open, and
        # closing any descriptor of it drops every POSIX lock the process holds on it (SQLite's own too),
        # so another thread's transaction would lose its lock. chmod takes no descriptor.
        os.chmod(target, FILE_MODE)
    else:
        try:
            os.fchmod(fd, FILE_MODE)
        finally:
            os.close(fd)
    for suffix in SQLITE_COMPANIONS:
        companion = target.with_name(target.name + suffix)
        if companion.exists():
            os.chmod(companion, FILE_MODE)
    return target
