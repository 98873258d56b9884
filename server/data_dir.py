"""The data directory holds the database (webhook secrets, identity data), keys, recordings and
documents: nobody but the server's own user may read any of it.

The process umask makes every file the server creates 0600 and every directory 0700, whatever
library creates it (SQLite and its journal, PyAV, WeasyPrint, zip files). Folders that exist
from an earlier version are tightened at start-up.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077


def make_private(*folders: Path) -> None:
    os.umask(PRIVATE_UMASK)
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        # A private folder keeps everything below it private; a folder found open (from an
        # earlier version) is tightened with all it holds, once.
        if folder.stat().st_mode & 0o077:
            tighten(folder)


def tighten(root: Path) -> None:
    """Remove group/other permissions below ``root`` (files and folders, not following links)."""
    for path in (root, *root.rglob("*")):
        try:
            st = path.lstat()
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode) or not (st.st_mode & 0o077):
            continue
        try:
            path.chmod(stat.S_IMODE(st.st_mode) & ~0o077)
        except OSError as exc:
            log.warning("cannot make %s private: %s", path, exc)
