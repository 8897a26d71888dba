# -*- coding: utf-8 -*-
# Copyright: cloudops.pv2hvm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a migration leaves on its worker while it runs, found again by its mount point after a crash.

A controller that dies in the chroot phases leaves the destination mounted at
<pv2hvm_worker_mount_base>/<migration id> with the chroot's bind mounts inside it; the next run (or
the cleanup) has to unmount them, deepest first, before the volume can be detached."""

from __future__ import annotations

import re
from typing import Dict, List


def _unescape(field: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def mounts_under(mounts: str, path: str) -> List[Dict[str, str]]:
    """The mounts at `path` or below it, from the text of /proc/mounts, in the order to unmount them
    (the last mounted first): [{source, target, fstype}]."""
    base = path.rstrip("/")
    if not base.startswith("/"):
        raise ValueError(f"mounts_under needs an absolute path, got {path!r}")
    found = []
    for line in (mounts or "").splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        target = _unescape(fields[1])
        if target == base or target.startswith(base + "/"):
            found.append({"source": _unescape(fields[0]), "target": target, "fstype": fields[2]})
    return list(reversed(found))
