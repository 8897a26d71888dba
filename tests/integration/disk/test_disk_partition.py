"""disk_partition on real loop devices: a PV root filesystem written at the partition's offset (as
snapshot_download writes it) becomes a bootable partitioned disk without a byte moved."""

from __future__ import annotations

import json
import subprocess
from typing import Any, Dict

import pytest

from tests.support.loopdev import MIB, LoopDevices, blkid, partition_table, sh
from tests.support.modules import ModuleResult, run_module
from tests.support.trees import facts, make_filesystem

pytestmark = pytest.mark.root

MARKER = "var/lib/pv2hvm/clone.json"
MOUNT = {"ext4": ["ro", "noload"], "xfs": ["ro", "norecovery", "nouuid"]}


def partition(args: Dict[str, Any], check_mode: bool = False) -> ModuleResult:
    result = run_module("disk_partition", args, check_mode=check_mode)
    assert not result.failed, f"{result.get('msg')}\n{result.stderr}"
    return result


def image_at_offset(loops: LoopDevices, fstype: str, offset: int, disk_bytes: int) -> tuple:
    """A filesystem made on its own, then written at `offset` of a larger sparse image (what a download makes)."""
    filesystem = loops.disk(f"{fstype}.fs", 320 * MIB)
    make_filesystem(loops, filesystem, fstype, "pvroot")
    root = loops.mount(filesystem, MOUNT[fstype], fstype=fstype)
    try:
        wanted = facts(root)
    finally:
        loops.unmount(root)
    signature = blkid(filesystem)
    image = loops.image(f"{fstype}-hvm.img", disk_bytes)
    subprocess.run(["dd", f"if={filesystem}", f"of={image}", "bs=1M", f"seek={offset // MIB}", "conv=sparse,notrunc",
                    "status=none"], check=True)
    return loops.attach(image), signature, wanted


@pytest.mark.parametrize("fstype, table, offset", [("ext4", "msdos", MIB), ("xfs", "gpt", 2 * MIB)])
def test_the_filesystem_at_the_offset_becomes_partition_1_checked_renamed_and_grown(
    loops: LoopDevices, fstype: str, table: str, offset: int
) -> None:
    disk, before, wanted = image_at_offset(loops, fstype, offset, 640 * MIB)
    args = {"device": disk, "partition_table": table}

    planned = partition(args, check_mode=True)
    assert planned.changed and planned["new_uuid"] is None and planned["old_uuid"] == before["UUID"]
    assert not blkid(disk).get("PTTYPE"), "check mode wrote a partition table"

    made = partition(args)
    assert made.changed and made["copy_method"] == "in-place"
    layout = partition_table(disk)
    assert layout["label"] == ("dos" if table == "msdos" else "gpt")
    root = next(p for p in layout["partitions"] if p["start"] * 512 == offset)
    part = loops.partition(disk, 1)
    after = blkid(part)
    assert after["TYPE"] == fstype and after["LABEL"] == "pvroot"
    assert made["old_uuid"] == before["UUID"] and after["UUID"] == made["new_uuid"] != before["UUID"]
    mounted = loops.mount(part, MOUNT[fstype], fstype=fstype)
    try:
        assert facts(mounted) == wanted, "the files changed"
        marker = json.loads((mounted / MARKER).read_text())
        free = sh("df", "--block-size=1", "--output=size", str(mounted)).split()[-1]
    finally:
        loops.unmount(mounted)
    assert marker["state"] == "done" and marker["old_uuid"] == before["UUID"] and marker["made_by"] == "cloudops.pv2hvm.disk_partition"
    assert int(free) > 500 * MIB and root["size"] * 512 > 600 * MIB, "the filesystem was not grown to the partition"

    again = partition(args)
    assert not again.changed and again["new_uuid"] == made["new_uuid"] and again["old_uuid"] == before["UUID"]


def test_a_run_killed_after_the_uuid_changed_is_finished_with_the_uuid_the_guest_names(loops: LoopDevices) -> None:
    disk, before, _wanted = image_at_offset(loops, "ext4", MIB, 512 * MIB)
    partition({"device": disk})
    part = loops.partition(disk, 1)
    # As a crash after tune2fs -U leaves it: the pending marker (old UUID recorded) and some other UUID.
    mounted = loops.mount(part, ["rw"], fstype="ext4")
    try:
        marker = json.loads((mounted / MARKER).read_text())
        (mounted / MARKER).write_text(json.dumps(dict(marker, state="pending", new_uuid="")))
    finally:
        loops.unmount(mounted)
    # tune2fs -U refuses a filesystem mounted since its last check once the clock has ticked past it (a
    # loaded machine): check it first, as the module does before its own tune2fs.
    sh("e2fsck", "-f", "-p", part)
    sh("tune2fs", "-U", "random", part)

    finished = partition({"device": disk})
    assert finished.changed and "interrupted" in finished["msg"]
    assert finished["old_uuid"] == before["UUID"], "the UUID the guest's fstab names was lost"
    assert blkid(part)["UUID"] == finished["new_uuid"] != before["UUID"]


@pytest.mark.parametrize("case, phrase", [
    ("whole-disk filesystem", "on the whole disk"),
    ("nothing at the offset", "no filesystem"),
    ("foreign table", "does not start at 1 MiB"),
    ("partition", "is a partition"),
])
def test_refusals_write_nothing(loops: LoopDevices, case: str, phrase: str) -> None:
    disk = loops.disk("disk.img", 256 * MIB)
    if case == "whole-disk filesystem":
        sh("mkfs.ext4", "-q", "-F", disk)
    elif case in ("foreign table", "partition"):
        sh("sfdisk", "--quiet", disk, stdin="label: dos\nstart=4096, type=83\n")
        if case == "partition":
            disk = loops.partition(disk, 1)
    before = subprocess.run(["sha256sum", disk], capture_output=True, text=True, check=True).stdout
    result = run_module("disk_partition", {"device": disk})
    assert result.failed and phrase in result["msg"], dict(result)
    assert "Traceback" not in result.stderr
    assert subprocess.run(["sha256sum", disk], capture_output=True, text=True, check=True).stdout == before
