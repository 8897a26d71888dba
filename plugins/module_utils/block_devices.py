# -*- coding: utf-8 -*-
# Copyright: Contributors to the cloudops.pv2hvm project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Block devices on the worker: what a disk holds, its partitions, and whether it is in use.

Structure comes from sysfs and content from `blkid -p` (a direct probe): neither needs udev, which
is missing or slow on some workers (no udev database means lsblk reports no filesystem at all).
"""

from __future__ import annotations

import fcntl
import os
import stat
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

from ansible_collections.cloudops.pv2hvm.plugins.module_utils.commands import run
from ansible_collections.cloudops.pv2hvm.plugins.module_utils.errors import Pv2hvmError

SYS_CLASS_BLOCK = "/sys/class/block"
SYS_DEV_BLOCK = "/sys/dev/block"
BLKID_NOTHING_FOUND = 2
PARTITION_NODE_TIMEOUT = 30.0


class DeviceError(Pv2hvmError):
    """A device is missing, of the wrong kind, or in use."""


def device_number(path: str) -> Tuple[int, int]:
    """(major, minor) of a block device node; DeviceError for anything else."""
    try:
        mode = os.stat(path)
    except OSError as exc:
        raise DeviceError(f"{path} does not exist ({exc.strerror}): check the device path.") from exc
    if not stat.S_ISBLK(mode.st_mode):
        raise DeviceError(f"{path} is not a block device: give the disk's device node, e.g. /dev/nvme1n1 or /dev/xvdf.")
    return os.major(mode.st_rdev), os.minor(mode.st_rdev)


def kernel_name(path: str) -> str:
    """The kernel's name for a device node (loop0, nvme1n1p1), whatever the node is called."""
    major, minor = device_number(path)
    return _kname_of(major, minor)


def _kname_of(major: int, minor: int) -> str:
    return os.path.basename(os.path.realpath(os.path.join(SYS_DEV_BLOCK, f"{major}:{minor}")))


def _sys(kname: str, *parts: str) -> str:
    return os.path.join(SYS_CLASS_BLOCK, kname, *parts)


def _read_sys(kname: str, *parts: str) -> str:
    with open(_sys(kname, *parts)) as handle:
        return handle.read().strip()


def is_partition(kname: str) -> bool:
    return os.path.exists(_sys(kname, "partition"))


def partition_number(path: str) -> int:
    return int(_read_sys(kernel_name(path), "partition"))


def parent_disk(kname: str) -> str:
    """The disk a partition belongs to (a disk is its own parent)."""
    if not is_partition(kname):
        return kname
    return os.path.basename(os.path.dirname(os.path.realpath(_sys(kname))))


def size_bytes(kname: str) -> int:
    """Device size: sysfs counts 512-byte units whatever the logical sector size."""
    return int(_read_sys(kname, "size")) * 512


def logical_sector_size(kname: str) -> int:
    return int(_read_sys(parent_disk(kname), "queue", "logical_block_size"))


def partition_knames(disk_kname: str) -> List[str]:
    """Partitions the kernel knows on a disk, in partition-number order."""
    names = [name for name in os.listdir(_sys(disk_kname)) if os.path.exists(_sys(disk_kname, name, "partition"))]
    return sorted(names, key=lambda name: int(_read_sys(name, "partition")))


def partition_node(disk_kname: str, number: int) -> str:
    """/dev name of partition `number`: the kernel adds `p` after a name that ends in a digit."""
    separator = "p" if disk_kname[-1].isdigit() else ""
    return f"/dev/{disk_kname}{separator}{number}"


def probe(module, path: str) -> Dict[str, str]:
    """What `blkid -p` (a direct, uncached probe) finds on a device: TYPE, UUID, LABEL, PTTYPE, ..."""
    rc, stdout, stderr = run(module, ["blkid", "-p", "-o", "export", path], ok_rcs=(0, BLKID_NOTHING_FOUND, 8))
    if rc == 8:
        raise DeviceError(
            f"{path} carries more than one signature (blkid: {stderr.strip()}): it is not clear what it holds. "
            "Inspect it with `wipefs --no-act` and remove the stale signature, or use another volume.",
        )
    values = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key] = value
    return values


def refresh_partitions(module, disk_path: str, timeout: float = PARTITION_NODE_TIMEOUT) -> List[str]:
    """Make the kernel and /dev show the partitions written on a disk; return their /dev paths.

    Without udev (and on loop devices) neither a re-read nor `losetup -P` creates partition nodes:
    `partx -u` tells the kernel about each partition, then we wait for devtmpfs to add the node.
    """
    disk = kernel_name(disk_path)
    run(module, ["partx", "-u", disk_path])
    wanted = _partition_numbers_on_disk(module, disk_path)
    deadline = time.monotonic() + timeout
    while True:
        missing = [number for number in wanted if not _node_ready(disk, number)]
        if not missing:
            return [partition_node(disk, number) for number in wanted]
        if time.monotonic() > deadline:
            raise DeviceError(
                f"partition node(s) {', '.join(partition_node(disk, n) for n in missing)} did not appear within "
                f"{timeout:.0f} s after `partx -u {disk_path}`: check `dmesg` for errors on {disk_path}.",
            )
        time.sleep(0.2)


def _partition_numbers_on_disk(module, disk_path: str) -> List[int]:
    """Partition numbers in the table on the disk itself (not what the kernel has cached)."""
    _rc, stdout, _err = run(module, ["partx", "--show", "--noheadings", "--output", "NR", disk_path])
    return sorted(int(field) for field in stdout.split())


def _node_ready(disk: str, number: int) -> bool:
    node = partition_node(disk, number)
    kname = os.path.basename(node)
    if not os.path.exists(_sys(kname, "dev")):
        return False
    try:
        return device_number(node) == tuple(int(x) for x in _read_sys(kname, "dev").split(":"))
    except DeviceError:
        return False


def describe(module, disk_path: str) -> Dict[str, Any]:
    """A disk, its partition table, and every partition or whole-disk filesystem on it."""
    disk = kernel_name(disk_path)
    signature = probe(module, disk_path)
    partitions = []
    if signature.get("PTTYPE"):
        for node in refresh_partitions(module, disk_path):
            partitions.append(_describe_partition(module, node))
    return {
        "device": disk_path,
        "kernel_name": disk,
        "size_bytes": size_bytes(disk),
        "sector_size": logical_sector_size(disk),
        "partition_table": signature.get("PTTYPE"),
        "partition_table_uuid": signature.get("PTUUID"),
        "filesystem": _filesystem_of(signature),
        "partitions": partitions,
    }


def _describe_partition(module, node: str) -> Dict[str, Any]:
    kname = os.path.basename(node)
    signature = probe(module, node)
    return {
        "device": node,
        "number": partition_number(node),
        "start_bytes": int(_read_sys(kname, "start")) * 512,
        "size_bytes": size_bytes(kname),
        "partition_type": signature.get("PART_ENTRY_TYPE"),
        "partition_label": signature.get("PART_ENTRY_NAME"),
        "filesystem": _filesystem_of(signature),
    }


def _filesystem_of(signature: Dict[str, str]) -> Optional[Dict[str, Optional[str]]]:
    if not signature.get("TYPE"):
        return None
    return {"type": signature["TYPE"], "label": signature.get("LABEL"), "uuid": signature.get("UUID")}


def in_use(disk_path: str) -> List[str]:
    """Why a disk must not be touched: mounts, swap, holders (LVM, dm-crypt, md), the worker's root."""
    disk = parent_disk(kernel_name(disk_path))
    knames = [disk] + partition_knames(disk)
    numbers = {_number_of(kname): kname for kname in knames}
    reasons = []
    for number, mountpoint in _mounts():
        if number in numbers:
            reasons.append(f"/dev/{numbers[number]} is mounted at {mountpoint}")
    for number, swap in _swaps():
        if number in numbers:
            reasons.append(f"/dev/{numbers[number]} is in use as swap ({swap})")
    for kname in knames:
        for holder in sorted(os.listdir(_sys(kname, "holders"))):
            reasons.append(f"/dev/{kname} is held by {holder} (device-mapper, LVM or md)")
    if disk in root_disks():
        reasons.append(f"/dev/{disk} holds this worker's own root filesystem")
    return reasons


@contextmanager
def exclusive_lock(path: str, timeout: float) -> Iterator[None]:
    """Hold a BSD lock on the disk's node while writing it (systemd's block device locking: udev leaves
    a locked disk alone); another writer holding it, such as the copy of an interrupted run that still
    runs, is waited for up to `timeout` seconds."""
    node = os.path.realpath(path)
    device_number(node)  # a clear error for a missing node or a file
    descriptor = os.open(node, os.O_RDONLY | os.O_CLOEXEC)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holders = ", ".join(lock_holders(node)) or "another process"
                    raise DeviceError(f"{node} is still locked by {holders} after {timeout:g} s: another program is writing "
                                      "it (the copy of an interrupted run goes on until it is done). Run again once it "
                                      "has ended, or raise lock_timeout.", locked_by=lock_holders(node)) from None
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        yield
    finally:
        os.close(descriptor)


def lock_holders(node: str) -> List[str]:
    """'pid N (command)' of each process holding a BSD lock on this node (from /proc/locks)."""
    info = os.stat(node)
    wanted = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    holders = []
    with open("/proc/locks") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == wanted:
                holders.append(f"pid {fields[4]} ({_command(fields[4])})")
    return holders


def _command(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip() or "?"
    except OSError:
        return "?"


def _number_of(kname: str) -> Tuple[int, int]:
    major, minor = _read_sys(kname, "dev").split(":")
    return int(major), int(minor)


def _mounts() -> List[Tuple[Tuple[int, int], str]]:
    """(device number, mount point) of every mount; the source path also counts (btrfs has 0:N numbers)."""
    found = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            fields = line.split()
            mountpoint = fields[4].replace("\\040", " ")
            major, minor = fields[2].split(":")
            found.append(((int(major), int(minor)), mountpoint))
            source = fields[fields.index("-") + 2]
            number = _rdev(source)
            if number:
                found.append((number, mountpoint))
    return found


def _swaps() -> List[Tuple[Tuple[int, int], str]]:
    with open("/proc/swaps") as handle:
        names = [line.split()[0] for line in handle.readlines()[1:] if line.strip()]
    return [(number, name) for name in names for number in [_rdev(name)] if number]


def _rdev(path: str) -> Optional[Tuple[int, int]]:
    try:
        mode = os.stat(path)
    except OSError:
        return None
    return (os.major(mode.st_rdev), os.minor(mode.st_rdev)) if stat.S_ISBLK(mode.st_mode) else None


def root_disks() -> Set[str]:
    """Kernel names of the disks under `/`, through partitions and device-mapper/md stacks."""
    root = os.stat("/").st_dev
    start = _kname_of(os.major(root), os.minor(root))
    if not os.path.exists(_sys(start)):
        start = _root_source_kname() or start
    return _disks_below(start)


def _root_source_kname() -> Optional[str]:
    """For filesystems with anonymous device numbers (btrfs): the device `/` was mounted from."""
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            fields = line.split()
            if fields[4] == "/":
                number = _rdev(fields[fields.index("-") + 2])
                if number:
                    return _kname_of(*number)
    return None


def _disks_below(kname: str) -> Set[str]:
    if not os.path.exists(_sys(kname)):
        return set()
    slaves = os.listdir(_sys(kname, "slaves")) if os.path.isdir(_sys(kname, "slaves")) else []
    if not slaves:
        return {parent_disk(kname)}
    disks = set()
    for slave in slaves:
        disks |= _disks_below(slave)
    return disks
