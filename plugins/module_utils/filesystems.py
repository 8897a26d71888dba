# -*- coding: utf-8 -*-
# Copyright: Contributors to the cloudops.pv2hvm project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Per-filesystem tools: inspect, copy only used blocks, check, set a UUID, grow, mount options.

ext2/3/4 use e2fsprogs (`e2image -ra` copies the blocks the bitmaps mark in use); xfs uses xfsprogs
(`xfs_copy` walks the free-space btrees). Every tool here reads the source and writes only the
destination it is given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ansible_collections.cloudops.pv2hvm.plugins.module_utils.commands import run
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.errors import Pv2hvmError
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.mounts import mounted

EXT = ("ext2", "ext3", "ext4")
SUPPORTED = EXT + ("xfs",)
E2FSCK_OK = (0, 1)  # 1: errors were corrected

# Signatures disk_clone will not copy, and what to do instead.
REFUSED = {
    "LVM2_member": "is an LVM physical volume; disk_clone copies one plain filesystem. Activate the volume group and "
                   "give the root logical volume's contents another way (e.g. rsync into a plain filesystem), "
                   "or migrate this machine by hand",
    "btrfs": "holds btrfs, which disk_clone does not copy (subvolumes and multi-device layouts need "
             "`btrfs send/receive`); migrate this root by hand",
    "linux_raid_member": "is an md RAID member; assemble the array and migrate its filesystem by hand",
    "crypto_LUKS": "is LUKS-encrypted; an HVM AMI cannot unlock it at boot without a key, migrate it by hand",
    "swap": "is swap space, not a root filesystem: point disk_clone at the volume that holds /",
}


class UnsupportedFilesystem(Pv2hvmError):
    """A source disk_clone refuses to copy."""


@dataclass
class FsInfo:
    """What the copy needs to know about a filesystem."""

    fstype: str
    uuid: str
    label: str
    block_size: int
    block_count: int
    free_blocks: int
    # Changes whenever the filesystem is written: tells a rerun whether its clone is still current.
    fingerprint: Dict[str, str] = field(default_factory=dict)

    @property
    def size_bytes(self) -> int:
        return self.block_size * self.block_count

    @property
    def used_bytes(self) -> int:
        return self.block_size * (self.block_count - self.free_blocks)


def check_supported(fstype: Optional[str], device: str) -> str:
    """Return fstype if disk_clone copies it, else raise with a message saying why not and what to do."""
    if fstype in SUPPORTED:
        return fstype
    if fstype in REFUSED:
        raise UnsupportedFilesystem(f"{device} {REFUSED[fstype]}.", fstype=fstype)
    if not fstype:
        raise UnsupportedFilesystem(
            f"{device} holds no filesystem that blkid recognises: is it the volume with the root filesystem?",
            fstype=None,
        )
    raise UnsupportedFilesystem(
        f"{device} holds {fstype}, which disk_clone does not copy (supported: {', '.join(SUPPORTED)}); "
        "migrate this root by hand.",
        fstype=fstype,
    )


def inspect(module, device: str, fstype: str, uuid: str, label: str) -> FsInfo:
    """Size, usage and fingerprint of a filesystem, read without writing anything."""
    if fstype in EXT:
        return _inspect_ext(module, device, fstype, uuid, label)
    return _inspect_xfs(module, device, uuid, label)


def _inspect_ext(module, device: str, fstype: str, uuid: str, label: str) -> FsInfo:
    _rc, stdout, _err = run(module, ["dumpe2fs", "-h", device])
    header = dict(_split_colon(line) for line in stdout.splitlines() if ":" in line)
    fingerprint = {key: header.get(key, "") for key in ("Last write time", "Free blocks", "Free inodes", "Last mount time")}
    return FsInfo(
        fstype=fstype, uuid=uuid, label=label,
        block_size=int(header["Block size"]), block_count=int(header["Block count"]),
        free_blocks=int(header["Free blocks"]), fingerprint=fingerprint,
    )


def _inspect_xfs(module, device: str, uuid: str, label: str) -> FsInfo:
    fields = ("dblocks", "fdblocks", "blocksize", "icount", "ifree", "logstart")
    _rc, stdout, _err = run(module, ["xfs_db", "-r", "-c", "sb 0", "-c", "print " + " ".join(fields), device])
    values = dict(_split_equals(line) for line in stdout.splitlines() if "=" in line)
    if values.get("logstart") == "0":
        raise UnsupportedFilesystem(f"{device} is xfs with an external log, which disk_clone does not copy; migrate it by hand.")
    return FsInfo(
        fstype="xfs", uuid=uuid, label=label,
        block_size=int(values["blocksize"]), block_count=int(values["dblocks"]),
        free_blocks=int(values["fdblocks"]),
        fingerprint={key: values[key] for key in ("icount", "ifree", "fdblocks")},
    )


def _split_colon(line: str) -> Tuple[str, str]:
    key, _sep, value = line.partition(":")
    return key.strip(), value.strip()


def _split_equals(line: str) -> Tuple[str, str]:
    key, _sep, value = line.partition("=")
    return key.strip(), value.strip()


def copy_tool(fstype: str, method: str) -> str:
    """The tool a copy uses: only `dd` copies every block, the others only used ones."""
    if method == "dd":
        return "dd"
    return "e2image" if fstype in EXT else "xfs_copy"


def copy_argv(tool: str, source: str, destination: str, size_bytes: int, work_dir: str) -> List[str]:
    """The command that copies the filesystem on `source` to `destination`."""
    if tool == "e2image":
        return ["e2image", "-ra", source, destination]
    if tool == "xfs_copy":
        # -d keeps the UUID (a new one is set afterwards, the same way for every filesystem);
        # -L keeps its log file out of /var/tmp.
        return ["xfs_copy", "-d", "-L", os.path.join(work_dir, "xfs_copy.log"), source, destination]
    return ["dd", f"if={source}", f"of={destination}", "bs=4M", f"count={size_bytes}", "iflag=count_bytes",
            "conv=fsync", "status=none"]


def replay_log(module, device: str, fstype: str) -> None:
    """Apply a journal the source was snapshotted with, so the check sees a consistent filesystem.

    e2fsck replays ext3/4 journals itself; xfs needs a mount (xfs_repair refuses a dirty log).
    """
    if fstype == "xfs":
        with mounted(module, device, "xfs", ["nouuid"]):
            pass


def check(module, device: str, fstype: str) -> Dict[str, object]:
    """Full consistency check of the copy (e2fsck repairs, xfs_repair only looks)."""
    if fstype in EXT:
        rc, stdout, _err = run(module, ["e2fsck", "-f", "-y", device], ok_rcs=E2FSCK_OK)
        return {"tool": "e2fsck -f -y", "rc": rc, "corrected": rc == 1, "summary": _last_line(stdout)}
    rc, stdout, stderr = run(module, ["xfs_repair", "-n", device])
    return {"tool": "xfs_repair -n", "rc": rc, "corrected": False, "summary": _last_line(stderr or stdout)}


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def set_uuid(module, device: str, fstype: str, uuid: str) -> None:
    """Give the (unmounted, just checked) filesystem a new UUID; the label stays."""
    if fstype in EXT:
        run(module, ["tune2fs", "-U", uuid, device])
    else:
        run(module, ["xfs_admin", "-U", uuid, device])


def grow(module, device: str, fstype: str) -> None:
    """Grow the filesystem to fill its partition (ext offline; xfs grows only while mounted)."""
    if fstype in EXT:
        run(module, ["resize2fs", device])
        return
    with mounted(module, device, "xfs", ["nouuid"]) as mountpoint:
        run(module, ["xfs_growfs", mountpoint])


def mount_args(fstype: str, writable: bool) -> Tuple[str, List[str]]:
    """Mount type and options. Read-only mounts never replay a journal: that would write the source.

    ext2/3 mount through the ext4 driver, the only one that knows `noload` for all three.
    `noinit_itable`: a short rw mount must not start zeroing inode tables in the background
    (it would allocate blocks of a volume that is about to be snapshotted).
    """
    if fstype in EXT:
        return "ext4", (["rw", "noinit_itable"] if writable else ["ro", "noload"])
    # nouuid: the source and an unchanged-UUID copy may be mounted together.
    return "xfs", (["rw", "nouuid"] if writable else ["ro", "norecovery", "nouuid"])
