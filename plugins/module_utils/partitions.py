# -*- coding: utf-8 -*-
# Copyright: Contributors to the cloudops.pv2hvm project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The partition table of an HVM root disk: one root partition (and bios_grub for gpt), shared by
disk_clone (which copies a filesystem into it) and disk_partition (which writes it around one in place)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

MIB = 1 << 20
MSDOS_MAX_SECTORS = 1 << 32
GPT_ENTRIES_BYTES = 128 * 128
LINUX_FS_GUID = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
BIOS_BOOT_GUID = "21686148-6449-6E6F-744E-656564454649"


@dataclass
class Layout:
    """The partition table to write, in sectors of the destination."""

    table: str
    sector_size: int
    disk_sectors: int
    root_start: int
    root_sectors: int
    bios_grub_start: Optional[int]
    required_bytes: int

    def sfdisk_script(self) -> str:
        if self.table == "msdos":
            return (f"label: dos\nunit: sectors\n\nstart={self.root_start}, size={self.root_sectors}, "
                    "type=83, bootable\n")
        return (f"label: gpt\nunit: sectors\n\nstart={self.root_start}, size={self.root_sectors}, "
                f"type={LINUX_FS_GUID}, name=root, attrs=LegacyBIOSBootable\n"
                f"start={self.bios_grub_start}, size={MIB // self.sector_size}, type={BIOS_BOOT_GUID}, name=bios_grub\n")


def plan_layout(table: str, size: int, sector_size: int, fs_bytes: int) -> Layout:
    """Partition 1 from 1 MiB (msdos) or 2 MiB (gpt, after bios_grub) to the last usable sector."""
    sectors = size // sector_size
    mib = MIB // sector_size
    if table == "msdos":
        start, bios_grub, reserved_end = mib, None, 0
    else:
        # The backup GPT (header plus entry array) sits in the last sectors of the disk.
        start, bios_grub, reserved_end = 2 * mib, mib, 1 + -(-GPT_ENTRIES_BYTES // sector_size)
    root = max(sectors - reserved_end - start, 0)
    required = (start + reserved_end) * sector_size + fs_bytes
    return Layout(table=table, sector_size=sector_size, disk_sectors=sectors, root_start=start,
                  root_sectors=root, bios_grub_start=bios_grub, required_bytes=required)
