# -*- coding: utf-8 -*-
# Copyright: Contributors to the cloudops.pv2hvm project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The marker file a root disk module leaves inside the filesystem it made: provenance for the migrated
machine, and what makes a re-run a no-op (disk_clone, disk_partition)."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

from ansible_collections.cloudops.pv2hvm.plugins.module_utils import filesystems
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.mounts import mounted

MARKER_DIR = "var/lib/pv2hvm"
MARKER_PATH = MARKER_DIR + "/clone.json"
MARKER_FORMAT = 1


def read(module, device: str, fstype: str, made_by: str) -> Optional[Dict[str, Any]]:
    """The marker `made_by` left in the filesystem on `device` (mounted read-only), or None."""
    mount_type, options = filesystems.mount_args(fstype, writable=False)
    with mounted(module, device, mount_type, options) as root:
        try:
            with open(os.path.join(root, MARKER_PATH)) as handle:
                marker = json.load(handle)
        except (OSError, ValueError):
            return None
    return marker if isinstance(marker, dict) and marker.get("made_by") == made_by else None


def write(module, device: str, fstype: str, marker: Dict[str, Any]) -> Dict[str, Any]:
    """Write the marker into the filesystem on `device`; records the directories it had to create."""
    mount_type, options = filesystems.mount_args(fstype, writable=True)
    with mounted(module, device, mount_type, options) as root:
        created = make_directories(root, MARKER_DIR)
        marker.setdefault("created_directories", created)
        path = os.path.join(root, MARKER_PATH)
        with open(path, "w") as handle:
            json.dump(marker, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(path, 0o644)
    return marker


def make_directories(root: str, relative: str) -> List[str]:
    """mkdir -p with mode 0755 root:root; returns the directories it created (relative to root)."""
    created = []
    current = ""
    for name in relative.split("/"):
        current = f"{current}/{name}" if current else name
        path = os.path.join(root, current)
        if not os.path.isdir(path):
            os.mkdir(path)
            os.chmod(path, 0o755)
            os.chown(path, 0, 0)
            created.append(current)
    return created


def sync_device(device: str) -> None:
    """Flush the disk's cache to the volume before anyone snapshots or uploads it."""
    handle = os.open(device, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
