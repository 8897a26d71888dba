"""disk_clone on real loop devices: copies, layouts, idempotency, check mode and every refusal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict

import pytest

from tests.lab.system import sha256_file
from tests.support.loopdev import MIB, LoopDevices, blkid, device_checksum, partition_table, root_disk, sh
from tests.support.modules import COLLECTIONS_PATH, REPO_ROOT, ModuleResult, run_module
from tests.support.trees import BIG_FILE, SPARSE_FILE, SPARSE_FILE_BYTES, facts, make_filesystem

pytestmark = pytest.mark.root

MARKER = "var/lib/pv2hvm/clone.json"
BIOS_BOOT = "21686148-6449-6E6F-744E-656564454649"
LINUX_FS = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
NO_RECOVERY = {"ext4": ["ro", "noload"], "xfs": ["ro", "norecovery", "nouuid"]}


def clone(args: Dict[str, Any], check_mode: bool = False) -> ModuleResult:
    result = run_module("disk_clone", args, check_mode=check_mode)
    assert not result.failed, f"{result.get('msg')}\n{result.stderr}"
    return result


def refused(args: Dict[str, Any]) -> str:
    result = run_module("disk_clone", args)
    assert result.failed, f"expected a refusal, got {dict(result)}"
    assert "Traceback" not in result.stderr, result.stderr
    return result["msg"]


def compare_trees(loops: LoopDevices, source: str, copy: str, fstype: str, big: bool) -> Dict[str, Any]:
    """Check the copy directly (not through the module's manifest): links, xattrs, modes, data.

    Returns the clone marker found in the copy."""
    kind = "xfs" if fstype == "xfs" else "ext4"
    source_root = loops.mount(source, NO_RECOVERY[kind], fstype=kind)
    copy_root = loops.mount(copy, ["ro"] + (["nouuid"] if kind == "xfs" else []), fstype=kind)
    try:
        wanted = facts(source_root)
        assert wanted["busybox_links"] == 3 and wanted["sh_same_inode"] and wanted["copy_same_inode"]
        assert facts(copy_root) == wanted
        if big:
            assert sha256_file(copy_root / BIG_FILE) == sha256_file(source_root / BIG_FILE)
        sparse = os.lstat(copy_root / SPARSE_FILE)
        assert sparse.st_size == SPARSE_FILE_BYTES
        assert sparse.st_blocks * 512 < MIB, "the sparse file was filled in"
        assert sha256_file(copy_root / SPARSE_FILE) == sha256_file(source_root / SPARSE_FILE)
        marker = json.loads((copy_root / MARKER).read_text())
        assert not (source_root / MARKER).exists()
    finally:
        loops.unmount(copy_root)
        loops.unmount(source_root)
    return marker


def test_ext4_whole_disk_into_larger_msdos_disk(loops: LoopDevices, tmp_path: Path) -> None:
    source = loops.disk("source.img", 512 * MIB)
    make_filesystem(loops, source, "ext4", "pvroot", big=True)
    destination = loops.disk("destination.img", 768 * MIB)
    source_before = device_checksum(source)
    source_signature = blkid(source)
    progress_file = tmp_path / "progress" / "clone.json"
    args = {"source": source, "destination": destination, "verify": "content", "progress_file": str(progress_file),
            "progress_interval": 0.2}

    result = clone(args)
    assert device_checksum(source) == source_before, "the source device was written"

    assert result.changed
    assert result["copy_method"] == "e2image"
    assert result["source"]["layout"] == "whole_disk"
    assert result["verify"]["differences"] == 0 and result["verify"]["entries"] > 25
    table = partition_table(destination)
    assert table["label"] == "dos"
    [partition] = table["partitions"]
    assert partition["start"] == 2048 and partition.get("bootable") is True
    assert partition["start"] + partition["size"] == 768 * MIB // 512, "partition 1 does not reach the end"
    part = loops.partition(destination, 1)
    assert result["destination"]["partition"] == part
    copy_signature = blkid(part)
    assert copy_signature["TYPE"] == "ext4" and copy_signature["LABEL"] == "pvroot"
    assert result["old_uuid"] == source_signature["UUID"]
    assert copy_signature["UUID"] == result["new_uuid"] != source_signature["UUID"]
    assert blkid(destination).get("PTTYPE") == "dos" and "TYPE" not in blkid(destination)
    sh("e2fsck", "-f", "-n", part)
    header = dict(line.split(":", 1) for line in sh("dumpe2fs", "-h", part).splitlines() if ":" in line)
    fs_bytes = int(header["Block count"]) * int(header["Block size"])
    assert partition["size"] * 512 - fs_bytes < int(header["Block size"]), "the filesystem was not grown"

    marker = compare_trees(loops, source, part, "ext4", big=True)
    assert marker["source"]["uuid"] == source_signature["UUID"] and marker["new_uuid"] == result["new_uuid"]
    assert marker["copy_method"] == "e2image" and marker["label"] == "pvroot"

    progress = json.loads(progress_file.read_text())
    assert progress["state"] == "done" and progress["message"].startswith("cloned ext4")
    assert progress["bytes_done"] == progress["bytes_total"] == 2 * result["source"]["used_bytes"]

    again = clone(args)
    assert not again.changed and again["new_uuid"] == result["new_uuid"]
    assert clone(args, check_mode=True).changed is False
    assert device_checksum(source) == source_before, "a rerun wrote to the source"


def test_xfs_whole_disk_into_gpt_disk_with_bios_grub(loops: LoopDevices) -> None:
    source = loops.disk("source.img", 512 * MIB)
    make_filesystem(loops, source, "xfs", "pvroot", big=True)
    destination = loops.disk("destination.img", 640 * MIB)
    source_before = device_checksum(source)
    source_uuid = blkid(source)["UUID"]
    args = {"source": source, "destination": destination, "partition_table": "gpt", "verify": "content"}

    result = clone(args)
    assert device_checksum(source) == source_before, "the source device was written"

    assert result.changed and result["copy_method"] == "xfs_copy"
    table = partition_table(destination)
    assert table["label"] == "gpt"
    root, bios_grub = table["partitions"]
    assert root["node"].endswith("p1") and root["type"] == LINUX_FS and root["start"] == 4096
    assert "LegacyBIOSBootable" in root.get("attrs", "")
    assert root["start"] + root["size"] - 1 == table["lastlba"], "partition 1 does not reach the end"
    assert bios_grub["node"].endswith("p2") and bios_grub["type"] == BIOS_BOOT
    assert (bios_grub["start"], bios_grub["size"]) == (2048, 2048)
    part = loops.partition(destination, 1)
    assert result["destination"]["bios_grub_partition"] == loops.partition(destination, 2)
    signature = blkid(part)
    assert signature["TYPE"] == "xfs" and signature["LABEL"] == "pvroot"
    assert signature["UUID"] == result["new_uuid"] != source_uuid == result["old_uuid"]
    sh("xfs_repair", "-n", part)
    values = dict(line.split(" = ") for line in sh("xfs_db", "-r", "-c", "sb 0", "-c", "print dblocks blocksize", part).splitlines())
    assert root["size"] * 512 - int(values["dblocks"]) * int(values["blocksize"]) < int(values["blocksize"]) * 16, "not grown"
    compare_trees(loops, source, part, "xfs", big=True)

    assert not clone(args).changed
    assert device_checksum(source) == source_before


def test_partitioned_ext4_source_onto_a_dirty_destination(loops: LoopDevices) -> None:
    """A root partition among others, copied onto a disk full of old data (zero blocks must be written)."""
    source = loops.disk("source.img", 192 * MIB)
    sh("sfdisk", "-q", source, stdin="label: dos\nstart=2048, size=100MiB, type=83\nstart=206848, type=83\n")
    make_filesystem(loops, loops.partition(source, 1), "ext4", "root")
    sh("mkfs.ext4", "-q", "-L", "data", loops.partition(source, 2))
    sh("partx", "-d", source)  # the module must make the partition nodes itself
    destination_image = loops.image("destination.img", 160 * MIB)
    destination_image.write_bytes(b"\xa5" * (160 * MIB))
    destination = loops.attach(destination_image)
    source_before = device_checksum(source)
    destination_before = device_checksum(destination)

    message = refused({"source": source, "destination": destination})
    assert "several partitions" in message and "source_partition" in message
    message = refused({"source": source, "destination": destination, "source_partition": 3})
    assert "source_partition 3 does not exist" in message
    assert device_checksum(destination) == destination_before

    result = clone({"source": source, "destination": destination, "source_partition": 1, "verify": "content",
                    "force": True})
    assert device_checksum(source) == source_before
    assert result["source"]["layout"] == "partitioned" and result["source"]["partition_number"] == 1
    assert result["source"]["filesystem_device"] == f"{source}p1"
    part = loops.partition(destination, 1)
    sh("e2fsck", "-f", "-n", part)
    compare_trees(loops, f"{source}p1", part, "ext4", big=False)


def test_partitioned_xfs_source_with_bios_grub_into_msdos(loops: LoopDevices) -> None:
    """A GPT source whose only filesystem is its root partition: picked without source_partition."""
    source = loops.disk("source.img", 400 * MIB)
    sh("sfdisk", "-q", source, stdin=f"label: gpt\nstart=2048, size=2048, type={BIOS_BOOT}\nstart=4096, type={LINUX_FS}\n")
    make_filesystem(loops, loops.partition(source, 2), "xfs", "root")
    destination = loops.disk("destination.img", 400 * MIB)
    source_before = device_checksum(source)

    result = clone({"source": source, "destination": destination, "verify": "content"})
    assert device_checksum(source) == source_before
    assert result["source"]["partition_table"] == "gpt" and result["source"]["partition_number"] == 2
    assert partition_table(destination)["label"] == "dos"
    compare_trees(loops, f"{source}p2", loops.partition(destination, 1), "xfs", big=False)


@pytest.mark.parametrize("fstype", ["ext2", "ext3"])
def test_plain_dd_copy_on_request(loops: LoopDevices, fstype: str) -> None:
    source = loops.disk("source.img", 48 * MIB)
    make_filesystem(loops, source, fstype, "old")
    destination = loops.disk("destination.img", 64 * MIB)
    source_before = device_checksum(source)

    result = clone({"source": source, "destination": destination, "copy_method": "dd", "verify": "content"})
    assert device_checksum(source) == source_before
    assert result["copy_method"] == "dd" and "with dd" in result["plan"][1]
    part = loops.partition(destination, 1)
    assert blkid(part)["TYPE"] == fstype
    sh("e2fsck", "-f", "-n", part)


def test_check_mode_returns_the_plan_and_writes_nothing(loops: LoopDevices, tmp_path: Path) -> None:
    source = loops.disk("source.img", 64 * MIB)
    make_filesystem(loops, source, "ext4", "root")
    destination = loops.disk("destination.img", 96 * MIB)
    before = (device_checksum(source), device_checksum(destination))
    progress_file = tmp_path / "progress.json"

    result = clone({"source": source, "destination": destination, "partition_table": "gpt", "verify": "content",
                    "progress_file": str(progress_file)}, check_mode=True)
    assert result.changed and result["new_uuid"] is None
    plan = "\n".join(result["plan"])
    for words in ("gpt partition table", "bios_grub", "e2image -ra", "e2fsck -f -y", "new random UUID", "resize2fs",
                  "compare their content", "clone.json"):
        assert words in plan
    assert (device_checksum(source), device_checksum(destination)) == before
    assert not progress_file.exists()


def test_keeping_the_uuid_and_reruns(loops: LoopDevices) -> None:
    source = loops.disk("source.img", 64 * MIB)
    make_filesystem(loops, source, "ext4", "root")
    destination = loops.disk("destination.img", 96 * MIB)
    uuid = blkid(source)["UUID"]
    args = {"source": source, "destination": destination, "new_uuid": False}

    result = clone(args)
    assert result["new_uuid"] == result["old_uuid"] == uuid == blkid(loops.partition(destination, 1))["UUID"]
    assert not clone(args).changed
    # Other options for the same source: the clone is redone, no force needed.
    regpt = clone(dict(args, partition_table="gpt", new_uuid=True))
    assert regpt.changed and regpt["new_uuid"] != uuid
    assert partition_table(destination)["label"] == "gpt"


def test_an_interrupted_copy_of_this_source_is_redone(loops: LoopDevices) -> None:
    """Partition 1 still carrying the source's UUID is an unfinished clone, not someone's data."""
    source = loops.disk("source.img", 64 * MIB)
    make_filesystem(loops, source, "ext4", "root")
    destination = loops.disk("destination.img", 96 * MIB)
    sh("sfdisk", "-q", destination, stdin="label: dos\nstart=2048, type=83\n")
    sh("e2image", "-ra", source, loops.partition(destination, 1))
    sh("partx", "-d", destination)

    result = clone({"source": source, "destination": destination})
    assert result.changed and blkid(loops.partition(destination, 1))["UUID"] == result["new_uuid"]


def test_a_copy_still_writing_the_destination_is_waited_for_then_named(loops: LoopDevices) -> None:
    """An interrupted run's copy goes on in the background; a second copy must not write the disk with it."""
    source = loops.disk("source.img", 64 * MIB)
    make_filesystem(loops, source, "ext4", "root")
    destination = loops.disk("destination.img", 96 * MIB)
    # util-linux flock(1) holds the lock as the other copy's process would.
    with subprocess.Popen(["flock", "--no-fork", "--exclusive", destination, "sleep", "600"]) as holder:
        try:
            wait_for_lock(destination)
            message = assert_refused_untouched(source, destination, {"lock_timeout": 2}, "is still locked by pid",
                                               "after 2 s", "Run again once it has ended, or raise lock_timeout")
            assert "sleep 600" in message, message
        finally:
            holder.kill()
    # A lock released while the module waits: the copy goes ahead once the other one has ended.
    with subprocess.Popen(["flock", "--no-fork", "--exclusive", destination, "sleep", "4"]) as holder:
        wait_for_lock(destination)
        assert clone({"source": source, "destination": destination, "lock_timeout": 60}).changed
        assert holder.poll() is not None, "the copy wrote while the other process held the lock"


def wait_for_lock(device: str) -> None:
    """Until some process holds a BSD lock on the device's node (as /proc/locks shows)."""
    info = os.stat(device)
    wanted = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    for _attempt in range(200):
        if any(line.split()[1] == "FLOCK" and line.split()[5] == wanted for line in Path("/proc/locks").read_text().splitlines()):
            return
        time.sleep(0.05)
    raise AssertionError(f"no lock on {device} appeared")


# ---- refusals: each one before anything is written ---------------------------------------------


def assert_refused_untouched(source: str, destination: str, args: Dict[str, Any], *phrases: str) -> str:
    before = (device_checksum(source), device_checksum(destination))
    message = refused(dict({"source": source, "destination": destination}, **args))
    for phrase in phrases:
        assert phrase in message, message
    assert (device_checksum(source), device_checksum(destination)) == before, "a refused run wrote a disk"
    return message


@pytest.mark.parametrize("kind, phrases", [
    ("lvm", ["LVM physical volume", "by hand"]),
    ("btrfs", ["btrfs", "send/receive"]),
    ("minix", ["holds minix", "supported: ext2, ext3, ext4, xfs"]),
    ("blank", ["no filesystem that blkid recognises"]),
])
def test_refuses_sources_it_cannot_copy(loops: LoopDevices, kind: str, phrases: list) -> None:
    source = loops.disk("source.img", 128 * MIB)
    if kind == "lvm":
        sh("pvcreate", "-q", source)
    elif kind == "btrfs":
        sh("mkfs.btrfs", "-q", source)
    elif kind == "minix":
        sh("mkfs.minix", source)
    destination = loops.disk("destination.img", 192 * MIB)
    assert_refused_untouched(source, destination, {}, *phrases)


def test_refuses_a_destination_that_is_too_small(loops: LoopDevices) -> None:
    source = loops.disk("source.img", 64 * MIB)
    make_filesystem(loops, source, "ext4", "root")
    destination = loops.disk("destination.img", 64 * MIB)  # no room for the 1 MiB in front
    message = assert_refused_untouched(source, destination, {}, "too small", f"at least {64 * MIB + MIB} bytes")
    assert "Attach a volume of at least 1 GiB" in message


def test_refuses_msdos_above_2_tib(loops: LoopDevices) -> None:
    source = loops.disk("source.img", 64 * MIB)
    make_filesystem(loops, source, "ext4", "root")
    destination = loops.disk("destination.img", 3 << 40)  # sparse: nothing is allocated
    before = device_checksum(source)
    message = refused({"source": source, "destination": destination})
    assert "2.0 TiB" in message and "partition_table: gpt" in message
    assert device_checksum(source) == before
    assert blkid(destination) == {}


def test_refuses_mounted_disks(loops: LoopDevices) -> None:
    source = loops.disk("source.img", 64 * MIB)
    make_filesystem(loops, source, "ext4", "root")
    destination = loops.disk("destination.img", 96 * MIB)
    sh("mkfs.ext4", "-q", destination)
    mountpoint = loops.mount(source, ["ro"])
    message = refused({"source": source, "destination": destination})
    assert f"source {source} is in use" in message and "mounted at" in message
    loops.unmount(mountpoint)
    mountpoint = loops.mount(destination)
    message = refused({"source": source, "destination": destination, "force": True})
    assert f"destination {destination} is in use" in message and str(mountpoint) in message


def test_refuses_the_workers_root_disk_as_destination(loops: LoopDevices) -> None:
    """In check mode as well as by the refusal itself: this must never write the machine's own disk."""
    source = loops.disk("source.img", 64 * MIB)
    make_filesystem(loops, source, "ext4", "root")
    disk = root_disk()
    result = run_module("disk_clone", {"source": source, "destination": disk}, check_mode=True)
    assert result.failed and f"destination {disk} is in use" in result["msg"]
    assert "holds this worker's own root filesystem" in result["msg"]


def test_refuses_the_same_disk_and_a_partition_as_destination(loops: LoopDevices) -> None:
    source = loops.disk("source.img", 96 * MIB)
    sh("sfdisk", "-q", source, stdin="label: dos\nstart=2048, size=40MiB, type=83\nstart=83968, type=83\n")
    make_filesystem(loops, loops.partition(source, 1), "ext4", "root")
    assert "both" in refused({"source": source, "destination": source})
    assert "same disk" in refused({"source": f"{source}p1", "destination": source})
    assert "is a partition" in refused({"source": f"{source}p1", "destination": f"{source}p2"})
    whole = loops.disk("whole.img", 64 * MIB)
    make_filesystem(loops, whole, "ext4", "root")
    assert "has no partition table" in refused({"source": whole, "destination": source, "source_partition": 1})


def test_refuses_a_destination_holding_other_data_unless_forced(loops: LoopDevices) -> None:
    source = loops.disk("source.img", 64 * MIB)
    make_filesystem(loops, source, "ext4", "root")
    destination = loops.disk("destination.img", 320 * MIB)  # xfs needs 300 MiB
    sh("mkfs.xfs", "-q", "-L", "precious", destination)
    assert_refused_untouched(source, destination, {}, "holds a xfs", "label precious", "force: true")
    assert clone({"source": source, "destination": destination, "force": True}).changed

    # A clone of another source is someone else's migration: also refused.
    other = loops.disk("other.img", 64 * MIB)
    make_filesystem(loops, other, "ext4", "other")
    message = assert_refused_untouched(other, destination, {}, "a clone of another filesystem")
    assert blkid(source)["UUID"] in message


def test_refuses_bad_option_values(loops: LoopDevices) -> None:
    source = loops.disk("source.img", 64 * MIB)
    make_filesystem(loops, source, "ext4", "root")
    destination = loops.disk("destination.img", 96 * MIB)
    assert "source_partition must be" in assert_refused_untouched(source, destination, {"source_partition": 0})
    assert "progress_interval" in assert_refused_untouched(source, destination, {"progress_interval": 0})
    assert "lock_timeout must be" in assert_refused_untouched(source, destination, {"lock_timeout": -1})
    assert "not a block device" in refused({"source": "/etc/hostname", "destination": destination})
    assert "does not exist" in refused({"source": source, "destination": "/dev/nonexistent-disk"})


def test_progress_file_through_an_async_playbook(loops: LoopDevices, tmp_path: Path) -> None:
    """The EXAMPLES pattern: async + poll: 0, poll the progress file, collect the result."""
    source = loops.disk("source.img", 256 * MIB)
    make_filesystem(loops, source, "ext4", "root")
    destination = loops.disk("destination.img", 320 * MIB)
    progress_file = tmp_path / "progress.json"
    playbook = tmp_path / "clone.yml"
    playbook.write_text(ASYNC_PLAYBOOK)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_PATH),
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_ASYNC_DIR=str(tmp_path / "async"))
    variables = {"source": source, "destination": destination, "progress_file": str(progress_file),
                 "ansible_python_interpreter": sys.executable}
    process = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook),
         "-e", json.dumps(variables)],
        capture_output=True, text=True, env=env, check=False, timeout=300,
    )
    assert process.returncode == 0, process.stdout + process.stderr
    final = json.loads(progress_file.read_text())
    assert final["state"] == "done" and final["bytes_done"] == final["bytes_total"] > 0
    assert "PROGRESS done" in process.stdout and "RESULT changed=True" in process.stdout


ASYNC_PLAYBOOK = """
- name: Clone in the background and follow the progress file
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Start the clone
      cloudops.pv2hvm.disk_clone:
        source: "{{ source }}"
        destination: "{{ destination }}"
        progress_file: "{{ progress_file }}"
        progress_interval: 0.5
      async: 600
      poll: 0
      register: clone_job

    - name: Wait for the clone, showing its progress at each poll
      ansible.builtin.command: cat {{ progress_file }}
      register: clone_progress
      changed_when: false
      until: clone_progress.rc == 0 and (clone_progress.stdout | from_json).state != 'running'
      retries: 300
      delay: 1
      failed_when: false

    - name: Progress at the end
      ansible.builtin.debug:
        msg: "PROGRESS {{ (clone_progress.stdout | from_json).state }}"

    - name: Collect the clone's result
      ansible.builtin.async_status:
        jid: "{{ clone_job.ansible_job_id }}"
      register: clone
      until: clone.finished
      retries: 60
      delay: 1

    - name: Show it
      ansible.builtin.debug:
        msg: "RESULT changed={{ clone.changed }}"
"""
