"""Filesystems with content that exercises everything a root-filesystem copy must keep.

`make_filesystem` formats a device and fills it through a real mount: hard links, symlinks
(relative, absolute, dangling), user and trusted xattrs, owners, setuid/sticky modes, a FIFO, a
device node, a sparse file, a file of explicit zeros, a non-UTF-8 name, and optionally one
200 MiB file of random data.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Dict

from tests.support.loopdev import MIB, LoopDevices, sh

BIG_FILE = "srv/big.bin"
BIG_FILE_BYTES = 200 * MIB
SPARSE_FILE = "var/sparse.img"
SPARSE_FILE_BYTES = 64 * MIB
ZEROS_FILE = "var/zeros.bin"

MKFS = {
    "ext2": ["mkfs.ext2", "-q", "-F"],
    "ext3": ["mkfs.ext3", "-q", "-F"],
    "ext4": ["mkfs.ext4", "-q", "-F"],
    "xfs": ["mkfs.xfs", "-q", "-f"],
}


def make_filesystem(loops: LoopDevices, device: str, fstype: str, label: str, big: bool = False) -> None:
    """Format `device` as `fstype` with `label` and fill it with `populate`."""
    sh(*MKFS[fstype], "-L", label, device)
    mountpoint = loops.mount(device)
    try:
        populate(mountpoint, big=big)
    finally:
        loops.unmount(mountpoint)


def populate(root: Path, big: bool = False) -> None:
    for directory in ("etc", "usr/bin", "srv", "var/lib", "home/user", "tmp", "dev"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "etc/fstab").write_text("/dev/xvde1 / ext4 defaults 0 1\n")
    (root / "etc/hostname").write_text("pv-source\n")
    _write_random(root / "usr/bin/tool", 300 * 1024, seed=1)
    os.chmod(root / "usr/bin/tool", 0o4755)  # setuid
    os.chmod(root / "tmp", 0o1777)  # sticky
    (root / "home/user/secret").write_text("only for user\n")
    os.chmod(root / "home/user/secret", 0o600)
    os.chown(root / "home/user", 1000, 1000)
    os.chown(root / "home/user/secret", 1000, 1000)
    (root / "empty").touch()

    # Hard links: one inode, three names in two directories.
    _write_random(root / "usr/bin/busybox", 64 * 1024, seed=2)
    os.link(root / "usr/bin/busybox", root / "usr/bin/sh")
    os.link(root / "usr/bin/busybox", root / "srv/busybox-copy")

    # Symlinks: relative, absolute, dangling, to a directory.
    os.symlink("busybox", root / "usr/bin/ls")
    os.symlink("/etc/hostname", root / "etc/hostname.link")
    os.symlink("/nonexistent/target", root / "srv/dangling")
    os.symlink("../usr/bin", root / "srv/bin")

    # Extended attributes on a file, a directory and (trusted.* only) a symlink.
    os.setxattr(root / "etc/fstab", "user.pv2hvm.note", b"keep me")
    os.setxattr(root / "etc/fstab", "trusted.pv2hvm.binary", bytes(range(256)))
    os.setxattr(root / "var/lib", "user.pv2hvm.dir", b"on a directory")
    os.setxattr(root / "srv/bin", "trusted.pv2hvm.symlink", b"on a symlink", follow_symlinks=False)

    os.mkfifo(root / "var/fifo")
    os.mknod(root / "dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))

    # Sparse: 64 MiB long, three small extents. Zeros: written, not a hole, so a copy must
    # write them (a destination need not be blank).
    with open(root / SPARSE_FILE, "wb") as handle:
        for offset in (0, 16 * MIB, SPARSE_FILE_BYTES - 4096):
            handle.seek(offset)
            handle.write(os.urandom(4096))
    (root / ZEROS_FILE).write_bytes(bytes(MIB))

    (root / os.fsdecode(b"srv/caf\xe9-latin1")).write_text("a name that is not UTF-8\n")
    (root / ("n" * 255)).write_text("longest name\n")
    if big:
        _write_random(root / BIG_FILE, BIG_FILE_BYTES, seed=3)


def _write_random(path: Path, size: int, seed: int) -> None:
    """Incompressible data; `seed` only makes files differ, the bytes come from os.urandom."""
    with open(path, "wb") as handle:
        handle.write(bytes([seed]))
        remaining = size - 1
        while remaining:
            chunk = min(remaining, 8 * MIB)
            handle.write(os.urandom(chunk))
            remaining -= chunk


def facts(root: Path) -> Dict[str, object]:
    """Things a test checks directly on a mounted tree, independently of the module's manifest."""
    busybox = os.lstat(root / "usr/bin/busybox")
    return {
        "busybox_links": busybox.st_nlink,
        "sh_same_inode": os.lstat(root / "usr/bin/sh").st_ino == busybox.st_ino,
        "copy_same_inode": os.lstat(root / "srv/busybox-copy").st_ino == busybox.st_ino,
        "ls_target": os.readlink(root / "usr/bin/ls"),
        "dangling_target": os.readlink(root / "srv/dangling"),
        "fstab_xattrs": {name: os.getxattr(root / "etc/fstab", name) for name in sorted(os.listxattr(root / "etc/fstab"))},
        "symlink_xattr": os.getxattr(root / "srv/bin", "trusted.pv2hvm.symlink", follow_symlinks=False),
        "tool_mode": oct(stat.S_IMODE(os.lstat(root / "usr/bin/tool").st_mode)),
        "tmp_mode": oct(stat.S_IMODE(os.lstat(root / "tmp").st_mode)),
        "secret_owner": (os.lstat(root / "home/user/secret").st_uid, os.lstat(root / "home/user/secret").st_gid),
        "fifo": stat.S_ISFIFO(os.lstat(root / "var/fifo").st_mode),
        "null_rdev": os.lstat(root / "dev/null").st_rdev,
        "sparse_size": os.lstat(root / SPARSE_FILE).st_size,
        "zeros_all_zero": (root / ZEROS_FILE).read_bytes() == bytes(MIB),
        "latin1_name": os.path.exists(root / os.fsdecode(b"srv/caf\xe9-latin1")),
    }
