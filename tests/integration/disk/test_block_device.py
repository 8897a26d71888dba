"""block_device on real loop devices, presented the way the lab attaches volumes (by-id links)."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

from tests.support.loopdev import MIB, LoopDevices, blkid, root_disk, sh
from tests.support.modules import ModuleResult, run_module
from tests.support.trees import make_filesystem

pytestmark = pytest.mark.root

VOLUME = "vol-0123456789abcdef0"
LINK_NAME = "nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0"


def find(args: dict, check_mode: bool = False) -> ModuleResult:
    result = run_module("block_device", dict({"volume_id": VOLUME, "timeout": 5}, **args), check_mode=check_mode)
    assert not result.failed, f"{result.get('msg')}\n{result.stderr}"
    assert not result.changed
    return result


def failure(args: dict) -> str:
    result = run_module("block_device", dict({"volume_id": VOLUME, "timeout": 1}, **args))
    assert result.failed, f"expected a failure, got {dict(result)}"
    assert "Traceback" not in result.stderr, result.stderr
    return result["msg"]


def by_id(tmp_path: Path, device: str) -> Path:
    """The lab's presentation of an attached volume: a by-id symlink to the loop device."""
    directory = tmp_path / "by-id"
    directory.mkdir(exist_ok=True)
    (directory / LINK_NAME).symlink_to(device)
    return directory


def device_node(directory: Path, name: str, device: str) -> Path:
    """A Xen-style node (e.g. xvdj) with the device number of a loop device."""
    node = directory / name
    os.mknod(node, 0o600 | stat.S_IFBLK, os.stat(device).st_rdev)
    return node


def test_nvme_by_id_link(loops: LoopDevices, tmp_path: Path) -> None:
    device = loops.disk("volume.img", 64 * MIB)
    make_filesystem(loops, device, "ext4", "pvroot")
    directory = by_id(tmp_path, device)

    result = find({"by_id_dir": str(directory)})
    assert result["device"] == device and result["found_by"] == "nvme-by-id"
    assert result["size_bytes"] == 64 * MIB and result["sector_size"] == 512
    assert result["partition_table"] is None and result["partitions"] == []
    assert result["filesystem"] == {"type": "ext4", "label": "pvroot", "uuid": blkid(device)["UUID"]}
    assert find({"by_id_dir": str(directory)}, check_mode=True)["device"] == device


def test_partitions_with_their_filesystems(loops: LoopDevices, tmp_path: Path) -> None:
    device = loops.disk("volume.img", 96 * MIB)
    sh("sfdisk", "-q", device, stdin="label: gpt\nstart=2048, size=64MiB, name=root\nstart=133120, name=swap\n")
    make_filesystem(loops, loops.partition(device, 1), "ext4", "root")
    sh("mkswap", "-L", "swap0", loops.partition(device, 2))
    uuids = [blkid(f"{device}p{number}")["UUID"] for number in (1, 2)]
    sh("partx", "-d", device)  # as after an attach without udev: no partition nodes
    assert not os.path.exists(f"{device}p1")

    result = find({"by_id_dir": str(by_id(tmp_path, device))})
    assert result["partition_table"] == "gpt" and result["filesystem"] is None
    first, second = result["partitions"]
    assert first["device"] == f"{device}p1" and os.path.exists(first["device"])
    assert (first["number"], first["start_bytes"], first["size_bytes"]) == (1, MIB, 64 * MIB)
    assert first["partition_label"] == "root"
    assert first["filesystem"] == {"type": "ext4", "label": "root", "uuid": uuids[0]}
    assert second["filesystem"] == {"type": "swap", "label": "swap0", "uuid": uuids[1]}


def test_xen_names_and_the_rhel6_shift(loops: LoopDevices, tmp_path: Path) -> None:
    volume = loops.disk("volume.img", 32 * MIB)
    other = loops.disk("other.img", 32 * MIB)
    dev = tmp_path / "dev"
    dev.mkdir()
    device_node(dev, "xvdf", volume)
    result = find({"device_name": "/dev/sdf", "dev_dir": str(dev), "by_id_dir": str(tmp_path / "none")})
    assert result["device"] == str(dev / "xvdf") and result["found_by"] == "xen-name"
    assert result["kernel_name"] == os.path.basename(volume)

    # A RHEL 6 style kernel: the root disk is xvde (no xvda), so sdf is xvdj, and xvdf is another volume.
    shifted = tmp_path / "dev6"
    shifted.mkdir()
    device_node(shifted, "xvde", other)
    device_node(shifted, "xvdf", other)
    device_node(shifted, "xvdj", volume)
    result = find({"device_name": "sdf", "dev_dir": str(shifted), "by_id_dir": str(tmp_path / "none")})
    assert result["device"] == str(shifted / "xvdj")
    assert result["kernel_name"] == os.path.basename(volume)


def test_waits_for_the_volume_to_appear(loops: LoopDevices, tmp_path: Path) -> None:
    device = loops.disk("volume.img", 32 * MIB)
    directory = tmp_path / "by-id"
    directory.mkdir()
    timer = threading.Timer(2.0, lambda: (directory / LINK_NAME).symlink_to(device))
    started = time.monotonic()
    timer.start()
    try:
        result = find({"by_id_dir": str(directory), "timeout": 30})
    finally:
        timer.cancel()
    assert result["device"] == device
    assert time.monotonic() - started >= 2.0


def test_times_out_with_what_it_looked_for(tmp_path: Path) -> None:
    message = failure({"by_id_dir": str(tmp_path), "timeout": 1})
    assert f"{VOLUME} did not appear on this worker within 1 s" in message
    assert str(tmp_path / LINK_NAME) in message and "attached" in message and "device_name" in message
    message = failure({"by_id_dir": str(tmp_path), "device_name": "/dev/sdf", "dev_dir": str(tmp_path)})
    assert "xvdf" in message and "xvdj" in message


def test_refuses_a_mounted_volume(loops: LoopDevices, tmp_path: Path) -> None:
    device = loops.disk("volume.img", 64 * MIB)
    make_filesystem(loops, device, "ext4", "busy")
    mountpoint = loops.mount(device, ["ro"])
    message = failure({"by_id_dir": str(by_id(tmp_path, device))})
    assert f"{device} is mounted at {mountpoint}" in message and "in use" in message


def test_refuses_the_workers_root_disk(tmp_path: Path) -> None:
    disk = root_disk()
    message = failure({"by_id_dir": str(by_id(tmp_path, disk))})
    assert f"{disk} holds this worker's own root filesystem" in message


def test_refuses_malformed_input(tmp_path: Path) -> None:
    assert "not an EBS volume id" in failure({"volume_id": "vol-xyz"})
    assert "not an EBS device name" in failure({"device_name": "/dev/hda", "by_id_dir": str(tmp_path)})
    assert "timeout must be 0 or more" in failure({"timeout": -1})


def test_a_local_device_given_as_path_is_described_without_a_volume_id(loops: LoopDevices, tmp_path: Path) -> None:
    """As the workerless method reads a data snapshot's first MiBs: a read-only loop device on a file."""
    device = loops.disk("data.img", 64 * MIB)
    make_filesystem(loops, device, "ext4", "appdata")
    described = run_module("block_device", {"path": device})
    assert not described.failed and not described.changed, described
    assert described["found_by"] == "path" and described["device"] == device
    assert described["filesystem"] == {"type": "ext4", "label": "appdata", "uuid": blkid(device)["UUID"]}

    both = run_module("block_device", {"path": device, "volume_id": VOLUME})
    assert both.failed and "mutually exclusive" in both["msg"], both
    missing = run_module("block_device", {"path": str(tmp_path / "no-such-device")})
    assert missing.failed and "does not exist" in missing["msg"], missing
