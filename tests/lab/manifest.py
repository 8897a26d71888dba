"""A manifest of a directory tree (type, mode, owner, size, SHA-256, link target) to compare two trees."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.lab.system import sha256_file


def manifest(root: Path) -> dict[str, tuple]:
    """{relative path: (kind, mode, uid, gid, size or link target, sha256 or "")} for every entry under root."""
    entries: dict[str, tuple] = {}
    root = Path(root)
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(directory) / name
            info = path.lstat()
            rel = str(path.relative_to(root))
            mode = stat.S_IMODE(info.st_mode)
            if stat.S_ISLNK(info.st_mode):
                entries[rel] = ("link", mode, info.st_uid, info.st_gid, os.readlink(path), "")
            elif stat.S_ISDIR(info.st_mode):
                entries[rel] = ("dir", mode, info.st_uid, info.st_gid, 0, "")
            elif stat.S_ISREG(info.st_mode):
                entries[rel] = ("file", mode, info.st_uid, info.st_gid, info.st_size, sha256_file(path))
            else:
                entries[rel] = ("special", mode, info.st_uid, info.st_gid, info.st_rdev, "")
    return entries


def differences(source: dict[str, tuple], copy: dict[str, tuple], *, allowed: tuple[str, ...] = ()) -> list[str]:
    """Source entries that are missing from or different in the copy, except paths under `allowed` prefixes."""
    problems = []
    for path, entry in sorted(source.items()):
        if any(path == prefix.rstrip("/") or path.startswith(prefix) for prefix in allowed):
            continue
        if path not in copy:
            problems.append(f"missing: {path}")
        elif copy[path] != entry:
            problems.append(f"changed: {path}: {entry} -> {copy[path]}")
    return problems
