# -*- coding: utf-8 -*-
# Copyright: Contributors to the cloudops.pv2hvm project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the conversion adds to the root filesystem of the copy, estimated before anything is written.

The guest roles write into the copy: one new initramfs per kernel (built beside the old one, then
moved over it, with the storage and NVMe drivers added), the image's GRUB package when it has no
boot loader (the packages, the package index the install needs, and GRUB's modules), and backups of
the files they rewrite. A root that is nearly full fails half-way ("No space left on device" in
dpkg), so the space is planned: the destination is sized with this headroom, and a copy that lacks
it is refused before the roles run. The numbers are deliberately generous: a gigabyte of sparse
EBS costs cents, a failed migration costs a rerun.
"""

from __future__ import annotations

import glob
import math
import os
from typing import Any, Dict, List

MIB = 1024 * 1024
GIB = 1024 * MIB

# virt-v2v refuses to convert a root with less than 100 MB free: the first boot writes logs and state.
RESERVE_BYTES = 100 * MIB
# A kernel without an initramfs gets one of about this size (Debian cloud kernels: 20-30 MiB).
NEW_INITRAMFS_BYTES = 48 * MIB
# The new initramfs carries more drivers than the old one and is written beside it.
INITRAMFS_GROWTH = 1.5
# The image's own GRUB package, by package manager: the packages and their dependencies as
# downloaded and as installed, plus the package index the install needs (apt keeps it compressed
# and without binary caches here; yum/dnf keep their metadata cache).
GRUB_PACKAGE_BYTES = {"apt": 160 * MIB, "yum": 192 * MIB, "dnf": 192 * MIB}
# The worker's grub-install copies GRUB's i386-pc modules into /boot/grub.
WORKER_GRUB_BYTES = 8 * MIB
# The configuration files the roles rewrite and keep a backup of.
REWRITTEN_FILES = (
    "etc/fstab", "etc/default/grub", "boot/grub/menu.lst", "boot/grub/grub.conf", "boot/grub/grub.cfg",
    "boot/grub2/grub.cfg", "etc/inittab", "etc/initramfs-tools/modules", "etc/sysconfig/kernel",
    "etc/udev/rules.d/70-persistent-net.rules",
)
GRUB_TOOLS = (
    ("usr/sbin/grub-install", "usr/sbin/grub-mkconfig"),
    ("usr/sbin/grub2-install", "usr/sbin/grub2-mkconfig"),
    ("sbin/grub-install", "sbin/grub"),
    ("usr/sbin/grub-install", "usr/sbin/grub"),
)


def kernels(root: str) -> List[Dict[str, Any]]:
    """Each kernel in /boot with the size of its initramfs (0 when it has none)."""
    found = []
    for path in sorted(glob.glob(os.path.join(root, "boot", "vmlinuz-*"))):
        version = os.path.basename(path)[len("vmlinuz-"):]
        if version.endswith(".hmac"):
            continue
        initrds = [candidate for candidate in (
            os.path.join(root, "boot", name) for name in
            (f"initrd.img-{version}", f"initramfs-{version}.img", f"initrd-{version}.img")) if os.path.isfile(candidate)]
        found.append({"version": version, "initramfs_bytes": os.path.getsize(initrds[0]) if initrds else 0})
    return found


def package_manager(root: str) -> str:
    for name in ("apt", "dnf", "yum"):
        if any(os.path.exists(os.path.join(root, directory, name)) for directory in ("usr/bin", "bin")):
            return name
    return ""


def has_grub(root: str) -> bool:
    return any(all(os.path.exists(os.path.join(root, tool)) for tool in pair) for pair in GRUB_TOOLS)


def estimate(root: str, install_packages: bool) -> Dict[str, Any]:
    """The bytes the conversion adds to the root mounted at `root`, by cause."""
    found = kernels(root)
    initramfs = sum(math.ceil(kernel["initramfs_bytes"] * INITRAMFS_GROWTH) or NEW_INITRAMFS_BYTES for kernel in found)
    manager = package_manager(root)
    if has_grub(root):
        grub = 0
    elif install_packages:
        grub = GRUB_PACKAGE_BYTES.get(manager, max(GRUB_PACKAGE_BYTES.values()))
    else:
        grub = WORKER_GRUB_BYTES
    backups = sum(os.path.getsize(path) for path in (os.path.join(root, name) for name in REWRITTEN_FILES)
                  if os.path.isfile(path) and not os.path.islink(path))
    breakdown = {"initramfs_bytes": initramfs, "grub_bytes": grub, "backup_bytes": backups, "reserve_bytes": RESERVE_BYTES}
    return {
        "headroom_bytes": round_up(sum(breakdown.values()), MIB),
        "breakdown": breakdown,
        "kernels": found,
        "package_manager": manager,
        "has_grub": grub == 0,
    }


def free_bytes(root: str) -> int:
    """Free bytes for root (the roles run as root, so ext*'s reserved blocks count)."""
    stats = os.statvfs(root)
    return stats.f_bfree * stats.f_frsize


def round_up(value: int, unit: int) -> int:
    return -(-value // unit) * unit


def destination_bytes(filesystem_bytes: int, table_overhead_bytes: int, headroom_bytes: int, unit: int = MIB) -> int:
    """The smallest destination that holds the partition table, the filesystem and the headroom."""
    return round_up(filesystem_bytes + table_overhead_bytes + headroom_bytes, unit)


def human(value: int) -> str:
    return f"{value / GIB:.2f} GiB" if value >= GIB else f"{value / MIB:.0f} MiB"
