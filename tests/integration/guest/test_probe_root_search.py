"""The boot check finds a partitioned root even where an earlier loop user left a partition node behind.

This machine kind's kernel keeps loopNp1 after `losetup -d`; `partx -a` on the next user of loopN then
fails and the node keeps the old geometry. CI once booted a partitioned image "without the probe" that
way. The probe now gives each partition its own loop device at its offset; `loop_device` resizes nodes."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.lab import probe
from tests.lab.system import loop_device, mounted, run, sha256_file

pytestmark = [pytest.mark.root]

MIB = 1 << 20


def _partitioned_root(path: Path, start_mib: int) -> None:
    """A 64 MiB disk: one msdos partition from `start_mib`, ext4 with an fstab and a systemd /sbin/init."""
    path.write_bytes(b"")
    os.truncate(path, 64 * MIB)
    run(["sfdisk", "--quiet", str(path)], stdin=f"start={start_mib * 2048}, type=83\n")
    device = run(["losetup", "--find", "--show", "--offset", str(start_mib * MIB), str(path)]).strip()
    try:
        run(["mkfs.ext4", "-q", "-F", device])
        with mounted(device) as root:
            (root / "etc").mkdir()
            (root / "etc/fstab").write_text("LABEL=root / ext4 defaults 0 1\n", encoding="utf-8")
            (root / "sbin").mkdir()
            (root / "sbin/init").symlink_to("/lib/systemd/systemd")
    finally:
        run(["losetup", "--detach", device])


@contextlib.contextmanager
def stale_partition_node(workdir: Path) -> Iterator[str]:
    """The lowest free loop device, left with a loopNp1 of another disk's geometry (1 MiB + 8 MiB)."""
    decoy = workdir / "decoy.img"
    decoy.write_bytes(b"")
    os.truncate(decoy, 16 * MIB)
    run(["sfdisk", "--quiet", str(decoy)], stdin="start=2048, size=16384, type=83\n")
    device = run(["losetup", "--find", "--show", str(decoy)]).strip()
    try:
        # --update, not --add: the device may already carry a stale p1 of an earlier user (partx --add then fails).
        run(["partx", "--update", device])
    finally:
        run(["losetup", "--detach", device])  # the node stays: what an earlier test may leave
    name = Path(device).name
    try:
        yield device
    finally:
        if Path(f"/sys/block/{name}/{name}p1").exists():
            subprocess.run(["losetup", device, str(decoy)], capture_output=True, check=False)
            subprocess.run(["partx", "--delete", device], capture_output=True, check=False)
            subprocess.run(["losetup", "--detach", device], capture_output=True, check=False)


def test_probe_finds_a_partitioned_root_past_a_stale_partition_node(tmp_path: Path) -> None:
    disk = tmp_path / "root.img"
    _partitioned_root(disk, start_mib=4)
    before = sha256_file(disk)
    with stale_partition_node(tmp_path):
        with probe.prepared_overlay(disk, tmp_path / "overlay") as (overlay, init, notes):
            assert init == "systemd", f"the root on partition 1 (at 4 MiB) was not found: {notes}"
            assert overlay.is_file()
    assert sha256_file(disk) == before, "the disk under test must only be read"


def test_loop_device_partition_node_follows_the_new_table(tmp_path: Path) -> None:
    disk = tmp_path / "root.img"
    _partitioned_root(disk, start_mib=4)
    with stale_partition_node(tmp_path):
        with loop_device(disk, partitions=True) as device:
            name = Path(device).name
            start = int(Path(f"/sys/block/{name}/{name}p1/start").read_text(encoding="utf-8"))
            assert start == 4 * 2048, f"{device}p1 starts at sector {start}, not where {disk}'s table says"
            with mounted(f"{device}p1", read_only=True) as root:
                assert (root / "etc/fstab").is_file()
