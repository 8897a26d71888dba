# -*- coding: utf-8 -*-
# Copyright: Contributors to the cloudops.pv2hvm project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Temporary mounts that are always undone, whatever happens inside them."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from typing import Iterator, Sequence

from ansible_collections.cloudops.pv2hvm.plugins.module_utils.commands import CommandError, run

UMOUNT_ATTEMPTS = 5


@contextlib.contextmanager
def mounted(module, device: str, fstype: str, options: Sequence[str]) -> Iterator[str]:
    """Mount `device` on a fresh temporary directory, yield the directory, then unmount and remove it."""
    mountpoint = tempfile.mkdtemp(prefix="pv2hvm-mnt-")
    try:
        run(module, ["mount", "-t", fstype, "-o", ",".join(options), device, mountpoint])
        try:
            yield mountpoint
        finally:
            unmount(module, mountpoint)
    finally:
        _remove_directory(mountpoint)


def unmount(module, mountpoint: str) -> None:
    """Unmount, retrying briefly: a process that just closed a file can keep it busy for a moment."""
    for attempt in range(1, UMOUNT_ATTEMPTS + 1):
        try:
            run(module, ["umount", mountpoint])
            return
        except CommandError:
            if attempt == UMOUNT_ATTEMPTS:
                raise
            time.sleep(attempt * 0.5)


def _remove_directory(mountpoint: str) -> None:
    # A directory still mounted (unmount failed and raised) stays: removing it would fail and
    # hide the unmount error, which names the mount point to clean up.
    if not os.path.ismount(mountpoint):
        os.rmdir(mountpoint)
