"""The lab's EBS data plane follows the EC2 endpoint with real files and loop devices (root)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import botocore.exceptions
import pytest

from tests.lab.ebs import by_id_name
from tests.lab.endpoint import LabEndpoint
from tests.lab.world import WORKER_AZ, launch, register_lab_worker, register_pv_image, seed_pv_root

pytestmark = pytest.mark.root
MIB = 1024 * 1024


def digest(path: Path | str, length: int = 64 * MIB) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read(length)).hexdigest()


def write_pattern(path: Path | str, seed: bytes, offset: int = 0) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(hashlib.sha256(seed).digest() * (MIB // 32))


def test_snapshot_and_volume_copy_bytes_point_in_time(lab_ebs: LabEndpoint) -> None:
    ec2 = lab_ebs.client()
    volume = ec2.create_volume(Size=1, AvailabilityZone=WORKER_AZ)["VolumeId"]
    volume_file = lab_ebs.ebs.volume_file(volume)
    assert volume_file.stat().st_size == 1024 * MIB
    write_pattern(volume_file, b"first")
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    write_pattern(volume_file, b"second")
    copy = ec2.create_volume(Size=2, SnapshotId=snapshot, AvailabilityZone=WORKER_AZ)["VolumeId"]
    copy_file = lab_ebs.ebs.volume_file(copy)
    assert copy_file.stat().st_size == 2048 * MIB
    assert digest(copy_file) == digest(lab_ebs.ebs.snapshot_file(snapshot)) != digest(volume_file)
    assert os.stat(copy_file).st_blocks * 512 < 16 * MIB, "copies stay sparse"
    ec2.delete_volume(VolumeId=copy)
    ec2.delete_snapshot(SnapshotId=snapshot)
    assert not copy_file.exists() and not lab_ebs.ebs.snapshot_file(snapshot).exists()


def test_attach_to_the_worker_is_a_loop_device_with_the_nitro_name(lab_ebs: LabEndpoint) -> None:
    ec2 = lab_ebs.client()
    worker = register_lab_worker(lab_ebs)
    volume = ec2.create_volume(Size=1, AvailabilityZone=WORKER_AZ)["VolumeId"]
    ec2.attach_volume(VolumeId=volume, InstanceId=worker, Device="/dev/sdf")
    link = lab_ebs.ebs.by_id / f"nvme-Amazon_Elastic_Block_Store_vol{volume[4:]}"
    assert link.name == by_id_name(volume)
    device = os.readlink(link)
    assert device.startswith("/dev/loop")
    backing = subprocess.run(["losetup", "--noheadings", "-O", "BACK-FILE", device], capture_output=True, text=True, check=True)
    assert backing.stdout.strip() == str(lab_ebs.ebs.volume_file(volume))
    write_pattern(device, b"through-the-device")
    assert digest(lab_ebs.ebs.volume_file(volume)) == digest(device)
    ec2.detach_volume(VolumeId=volume)
    assert not link.exists() and not link.is_symlink()
    assert str(lab_ebs.ebs.volume_file(volume)) not in subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=True).stdout


def test_attach_to_another_instance_makes_no_device(lab_ebs: LabEndpoint) -> None:
    ec2 = lab_ebs.client()
    other = launch(ec2, register_pv_image(ec2).image_id)
    volume = ec2.create_volume(Size=1, AvailabilityZone=WORKER_AZ)["VolumeId"]
    ec2.attach_volume(VolumeId=volume, InstanceId=other, Device="/dev/sdg")
    assert not (lab_ebs.ebs.by_id / by_id_name(volume)).exists()
    assert volume not in lab_ebs.ebs.loops


def test_detach_is_refused_while_mounted(lab_ebs: LabEndpoint, tmp_path: Path) -> None:
    ec2 = lab_ebs.client()
    worker = register_lab_worker(lab_ebs)
    volume = ec2.create_volume(Size=1, AvailabilityZone=WORKER_AZ)["VolumeId"]
    ec2.attach_volume(VolumeId=volume, InstanceId=worker, Device="/dev/sdf")
    device = lab_ebs.ebs.device_of(volume)
    subprocess.run(["mkfs.ext4", "-q", device], check=True)
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    subprocess.run(["mount", device, str(mountpoint)], check=True)
    try:
        with pytest.raises(botocore.exceptions.ClientError) as excinfo:
            ec2.detach_volume(VolumeId=volume)
        assert "still mounted" in str(excinfo.value)
        assert ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]["State"] == "in-use"
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)
    ec2.detach_volume(VolumeId=volume)
    assert ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]["State"] == "available"


def test_pv_source_instance_boots_from_the_seeded_bytes(lab_ebs: LabEndpoint, tmp_path: Path) -> None:
    image = tmp_path / "pv.img"
    with open(image, "wb") as handle:
        handle.truncate(300 * MIB)
    write_pattern(image, b"pv-root", offset=5 * MIB)
    ec2 = lab_ebs.client()
    pv = register_pv_image(ec2, root_snapshot=seed_pv_root(lab_ebs, image), data_volume=False)
    instance = launch(ec2, pv.image_id)
    root = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    root_file = lab_ebs.ebs.volume_file(root)
    assert root_file.stat().st_size == 1024 * MIB
    assert digest(root_file, 300 * MIB) == digest(image, 300 * MIB)


def test_stop_detaches_whatever_a_test_left_attached(tmp_path: Path) -> None:
    endpoint = LabEndpoint(data_dir=str(tmp_path / "ebs")).start()
    ec2 = endpoint.client()
    worker = register_lab_worker(endpoint)
    volume = ec2.create_volume(Size=1, AvailabilityZone=WORKER_AZ)["VolumeId"]
    ec2.attach_volume(VolumeId=volume, InstanceId=worker, Device="/dev/sdf")
    backing = str(endpoint.ebs.volume_file(volume))
    assert endpoint.ebs.device_of(volume)
    endpoint.stop()
    # By backing file, not by device name: the other pytest worker may take the freed /dev/loopN at once.
    assert backing not in subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=True).stdout
    assert not (tmp_path / "ebs").exists()


def test_the_ebs_direct_apis_read_and_write_the_snapshot_bytes(lab_ebs: LabEndpoint) -> None:
    from tests.lab.ebs_direct import BLOCK_SIZE, checksum  # pylint: disable=import-outside-toplevel

    ec2, ebs = lab_ebs.client(), lab_ebs.client("ebs")
    volume = ec2.create_volume(Size=1, AvailabilityZone=WORKER_AZ)["VolumeId"]
    write_pattern(lab_ebs.ebs.volume_file(volume), b"data", offset=3 * MIB)  # 1 MiB: blocks 6 and 7
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    listed = ebs.list_snapshot_blocks(SnapshotId=snapshot)
    assert [b["BlockIndex"] for b in listed["Blocks"]] == [6, 7], "the blocks that hold data, and only those"
    read = ebs.get_snapshot_block(SnapshotId=snapshot, BlockIndex=7, BlockToken=listed["Blocks"][1]["BlockToken"])
    body = read["BlockData"].read()
    assert body == hashlib.sha256(b"data").digest() * (BLOCK_SIZE // 32) and read["Checksum"] == checksum(body)

    # Written through the API, read back by a volume made from the snapshot (what an instance boots).
    started = ebs.start_snapshot(VolumeSize=1)["SnapshotId"]
    ebs.put_snapshot_block(SnapshotId=started, BlockIndex=2, BlockData=body, DataLength=BLOCK_SIZE,
                           Checksum=checksum(body), ChecksumAlgorithm="SHA256")
    ebs.complete_snapshot(SnapshotId=started, ChangedBlocksCount=1)
    restored = ec2.create_volume(Size=1, SnapshotId=started, AvailabilityZone=WORKER_AZ)["VolumeId"]
    with open(lab_ebs.ebs.volume_file(restored), "rb") as handle:
        assert os.pread(handle.fileno(), BLOCK_SIZE, 2 * BLOCK_SIZE) == body
        assert os.pread(handle.fileno(), BLOCK_SIZE, 0) == bytes(BLOCK_SIZE)
