# -*- coding: utf-8 -*-
# Copyright: Contributors to the cloudops.pv2hvm project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A content manifest of a mounted tree, and the differences between two of them.

Each entry records what a faithful copy must keep: type, permission bits, owner, size (files and
symlinks), SHA-256 of file data, symlink target, device numbers, extended attributes and which
paths share an inode (hard-link groups). Timestamps and directory sizes are left out: growing a
filesystem or writing the clone marker changes them legitimately.
"""

from __future__ import annotations

import hashlib
import os
import stat
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

CHUNK = 1 << 20
TYPES = (
    (stat.S_ISDIR, "directory"), (stat.S_ISREG, "file"), (stat.S_ISLNK, "symlink"), (stat.S_ISCHR, "char-device"),
    (stat.S_ISBLK, "block-device"), (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"),
)

Manifest = Dict[str, Dict[str, Any]]


def build(root: str, exclude: Iterable[str] = (), on_bytes: Optional[Callable[[int], None]] = None) -> Manifest:
    """Manifest of the tree under `root`; `exclude` lists relative paths left out with everything below them.

    Walks in sorted order, so the first path seen of a hard-linked inode (the group's name) is
    the same in two identical trees. `on_bytes` is told how many file bytes were hashed.
    """
    excluded = {path.strip("/") for path in exclude}
    entries: Manifest = {}
    first_path_of_inode: Dict[int, str] = {}
    pending = [""]
    while pending:
        relative = pending.pop()
        absolute = os.path.join(root, relative) if relative else root
        info = os.lstat(absolute)
        entry = _entry(absolute, info, on_bytes)
        if not stat.S_ISDIR(info.st_mode) and info.st_nlink > 1:
            entry["hard_link_group"] = first_path_of_inode.setdefault(info.st_ino, relative)
        entries[relative or "."] = entry
        if stat.S_ISDIR(info.st_mode):
            children = sorted(os.listdir(absolute), reverse=True)  # reversed: the stack pops in order
            pending.extend(child for child in (os.path.join(relative, name) for name in children) if child not in excluded)
    return entries


def _entry(path: str, info: os.stat_result, on_bytes: Optional[Callable[[int], None]]) -> Dict[str, Any]:
    mode = info.st_mode
    entry: Dict[str, Any] = {
        "type": next(name for test, name in TYPES if test(mode)),
        "mode": oct(stat.S_IMODE(mode)),
        "owner": f"{info.st_uid}:{info.st_gid}",
        "xattrs": _xattrs(path),
    }
    if not stat.S_ISDIR(mode):
        entry["links"] = info.st_nlink
    if stat.S_ISREG(mode):
        entry["size"] = info.st_size
        entry["sha256"] = _sha256(path, on_bytes)
    elif stat.S_ISLNK(mode):
        entry["size"] = info.st_size
        entry["target"] = os.readlink(path)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        entry["rdev"] = f"{os.major(info.st_rdev)}:{os.minor(info.st_rdev)}"
    return entry


def _xattrs(path: str) -> Dict[str, str]:
    names = os.listxattr(path, follow_symlinks=False)
    return {name: hashlib.sha256(os.getxattr(path, name, follow_symlinks=False)).hexdigest() for name in sorted(names)}


def _sha256(path: str, on_bytes: Optional[Callable[[int], None]]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
            if on_bytes:
                on_bytes(len(chunk))
    return digest.hexdigest()


def differences(source: Manifest, copy: Manifest, limit: int = 50) -> Tuple[int, List[str]]:
    """(number of differing paths, up to `limit` lines saying what differs where)."""
    lines = []
    count = 0
    for path in sorted(set(source) | set(copy)):
        problem = _difference(path, source.get(path), copy.get(path))
        if problem:
            count += 1
            if len(lines) < limit:
                lines.append(problem)
    return count, lines


def _difference(path: str, wanted: Optional[Dict[str, Any]], found: Optional[Dict[str, Any]]) -> str:
    shown = printable(path)
    if found is None:
        return f"{shown}: missing from the copy"
    if wanted is None:
        return f"{shown}: only in the copy"
    fields = [key for key in sorted(set(wanted) | set(found)) if wanted.get(key) != found.get(key)]
    if not fields:
        return ""
    return f"{shown}: " + "; ".join(f"{key} {wanted.get(key)!r} -> {found.get(key)!r}" for key in fields)


def printable(path: str) -> str:
    """File names need not be UTF-8: show undecodable bytes as escapes rather than fail."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
