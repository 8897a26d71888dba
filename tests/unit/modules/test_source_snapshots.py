"""cloudops.pv2hvm.source_snapshots against the lab EC2 endpoint."""

from __future__ import annotations

from typing import Any

from tests.lab.world import launch, own_snapshot_ids, register_pv_image

MIGRATION = "mig-0003"


def tags_of(ec2: Any, snapshot_id: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]["Tags"]}


def source_instance(ec2: Any) -> tuple[str, dict[str, str]]:
    instance = launch(ec2, register_pv_image(ec2).image_id)
    mappings = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["BlockDeviceMappings"]
    return instance, {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in mappings}


def test_instance_volumes_are_snapshotted_and_tagged(ec2: Any, module: Any) -> None:
    instance, volumes = source_instance(ec2)
    result = module("source_snapshots", instance_id=instance, migration_id=MIGRATION)
    assert not result.failed, result
    assert result.changed and result["source_stopped"] is False
    assert any("crash-consistent" in warning for warning in result.warnings)
    requests = {r["VolumeId"]: r for r in module.requests("CreateSnapshot")}
    assert set(requests) == set(volumes.values())
    root, data = result["snapshots"]
    assert (root["device_name"], root["is_root"], root["volume_id"]) == ("/dev/sda1", True, volumes["/dev/sda1"])
    assert tags_of(ec2, root["snapshot_id"])["pv2hvm:purpose"] == "working-copy"
    assert tags_of(ec2, data["snapshot_id"]) | {"Name": ""} == {"pv2hvm:migration": MIGRATION, "pv2hvm:purpose": "image", "Name": ""}
    assert result["root_snapshot_id"] == root["snapshot_id"] and result["root_volume_size"] == 8
    assert result["hvm_block_device_mappings"] == [
        {"device_name": "/dev/sdf", "snapshot_id": data["snapshot_id"], "volume_type": "gp2", "delete_on_termination": False},
        {"device_name": "/dev/sdb", "virtual_name": "ephemeral0"},
    ]
    # Only snapshots: nothing else was asked of EC2 that could change the source.
    assert module.operations() <= {"DescribeInstances", "DescribeVolumes", "DescribeSnapshots", "DescribeImages", "CreateSnapshot"}


def test_rerun_takes_no_new_snapshots(ec2: Any, module: Any) -> None:
    instance, _volumes = source_instance(ec2)
    first = module("source_snapshots", instance_id=instance, migration_id=MIGRATION)
    module.forget_requests()
    second = module("source_snapshots", instance_id=instance, migration_id=MIGRATION)
    assert second.changed is False
    assert second["snapshots"] == [dict(s, created=False) for s in first["snapshots"]]
    assert not module.requests("CreateSnapshot")


def test_stop_source_stops_and_restarts_a_running_instance(ec2: Any, module: Any) -> None:
    instance, _volumes = source_instance(ec2)
    result = module("source_snapshots", instance_id=instance, migration_id=MIGRATION, stop_source=True)
    assert result["source_stopped"] is True
    assert not result.warnings
    assert [r["InstanceIds"] for r in module.requests("StopInstances")] == [[instance]]
    assert [r["InstanceIds"] for r in module.requests("StartInstances")] == [[instance]]
    assert ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"


def test_stopped_instance_stays_stopped(ec2: Any, module: Any) -> None:
    instance, _volumes = source_instance(ec2)
    ec2.stop_instances(InstanceIds=[instance])
    result = module("source_snapshots", instance_id=instance, migration_id=MIGRATION, stop_source=True)
    assert result["source_stopped"] is False and not module.requests("StartInstances")
    assert ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]["Name"] == "stopped"


def test_image_source_creates_nothing(ec2: Any, module: Any) -> None:
    image = register_pv_image(ec2)
    before = own_snapshot_ids(ec2)
    result = module("source_snapshots", image_id=image.image_id, migration_id=MIGRATION)
    assert result.changed is False
    assert result["root_snapshot_id"] == image.root_snapshot and result["root_volume_size"] == 8
    assert result["hvm_block_device_mappings"] == [
        {"device_name": "/dev/sdf", "snapshot_id": image.data_snapshot, "delete_on_termination": False, "volume_size": 4, "volume_type": "gp2"},
        {"device_name": "/dev/sdb", "virtual_name": "ephemeral0"},
    ]
    assert own_snapshot_ids(ec2) == before


def test_check_mode_takes_nothing(ec2: Any, module: Any) -> None:
    instance, _volumes = source_instance(ec2)
    before = own_snapshot_ids(ec2)
    result = module("source_snapshots", check_mode=True, instance_id=instance, migration_id=MIGRATION, stop_source=True)
    assert result.changed and result["root_snapshot_id"] == ""
    assert own_snapshot_ids(ec2) == before and not module.requests("StopInstances")


def test_unknown_source(module: Any) -> None:
    result = module("source_snapshots", instance_id="i-0123456789abcdef0", migration_id=MIGRATION)
    assert result.failed and "i-0123456789abcdef0 was not found" in result["msg"]
