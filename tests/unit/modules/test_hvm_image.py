"""cloudops.pv2hvm.hvm_image against the lab EC2 endpoint."""

from __future__ import annotations

from typing import Any

from tests.lab.world import WORKER_AZ, own_snapshot_ids, register_pv_image, snapshot_of_new_volume

MIGRATION = "mig-0002"
NAME = "legacy-web-hvm-20261124"


def destination(ec2: Any, size: int = 9) -> str:
    return ec2.create_volume(Size=size, AvailabilityZone=WORKER_AZ, TagSpecifications=[{"ResourceType": "volume", "Tags": [
        {"Key": "pv2hvm:migration", "Value": MIGRATION}, {"Key": "pv2hvm:purpose", "Value": "destination"}]}])["VolumeId"]


def register(module: Any, volume_id: str, **args: Any) -> Any:
    params = dict(migration_id=MIGRATION, volume_id=volume_id, name=NAME, architecture="x86_64")
    params.update(args)
    return module("hvm_image", **params)


def test_register_sends_exactly_what_was_asked(ec2: Any, module: Any) -> None:
    pv = register_pv_image(ec2)
    volume = destination(ec2)
    result = register(
        module, volume, description="HVM of legacy-web", ena_support=True, sriov_net_support="simple",
        block_device_mappings=[
            {"device_name": "/dev/sdf", "snapshot_id": pv.data_snapshot, "delete_on_termination": False},
            {"device_name": "/dev/sdb", "virtual_name": "ephemeral0"},
        ],
    )
    assert not result.failed, result
    assert result.changed
    snapshot = module.requests("CreateSnapshot")[0]
    assert snapshot["VolumeId"] == volume
    [request] = module.requests("RegisterImage")
    assert request["Architecture"] == "x86_64"
    assert request["RootDeviceName"] == "/dev/xvda"
    assert request["VirtualizationType"] == "hvm"
    assert request["BootMode"] == "legacy-bios"
    assert request["EnaSupport"] is True
    assert request["SriovNetSupport"] == "simple"
    assert request["BlockDeviceMappings"] == [
        {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": result["snapshot_id"], "VolumeType": "gp3", "DeleteOnTermination": True}},
        {"DeviceName": "/dev/sdf", "Ebs": {"SnapshotId": pv.data_snapshot, "DeleteOnTermination": False}},
        {"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"},
    ]
    image = ec2.describe_images(ImageIds=[result["image_id"]])["Images"][0]
    assert (image["VirtualizationType"], image["Architecture"], image["EnaSupport"], image["Name"]) == ("hvm", "x86_64", True, NAME)
    assert {m["DeviceName"] for m in image["BlockDeviceMappings"]} == {"/dev/xvda", "/dev/sdf", "/dev/sdb"}
    assert result["image"]["tags"]["pv2hvm:migration"] == MIGRATION
    tags = {t["Key"]: t["Value"] for t in ec2.describe_snapshots(SnapshotIds=[result["snapshot_id"]])["Snapshots"][0]["Tags"]}
    assert (tags["pv2hvm:migration"], tags["pv2hvm:purpose"]) == (MIGRATION, "image")


def test_root_options_and_no_ena(ec2: Any, module: Any) -> None:
    result = register(module, destination(ec2), root_device_name="/dev/sda1", root_volume_type="gp2", root_volume_size=20,
                      delete_on_termination=False, boot_mode="uefi", architecture="arm64")
    assert not result.failed, result
    [request] = module.requests("RegisterImage")
    assert request["BlockDeviceMappings"][0] == {
        "DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": result["snapshot_id"], "VolumeType": "gp2", "DeleteOnTermination": False, "VolumeSize": 20},
    }
    assert (request["EnaSupport"], request["BootMode"], request["Architecture"]) == (False, "uefi", "arm64")
    assert "SriovNetSupport" not in request


def test_second_run_returns_the_same_image(ec2: Any, module: Any) -> None:
    volume = destination(ec2)
    first = register(module, volume)
    module.forget_requests()
    second = register(module, volume)
    assert second.changed is False and not second.failed
    assert (second["image_id"], second["snapshot_id"]) == (first["image_id"], first["snapshot_id"])
    assert not module.requests("CreateSnapshot") and not module.requests("RegisterImage")


def test_rerun_under_another_name_returns_the_migrations_image(ec2: Any, module: Any) -> None:
    """A default name carries a date: a re-run on another day must not register a second AMI."""
    volume = destination(ec2)
    first = register(module, volume)
    module.forget_requests()
    later = register(module, volume, name="legacy-web-hvm-20261125")
    assert later.changed is False and later["image_id"] == first["image_id"]
    assert any(first["image_id"] in warning for warning in later.warnings)
    assert not module.requests("CreateSnapshot") and not module.requests("RegisterImage")


def test_interrupted_run_reuses_its_snapshot(ec2: Any, module: Any) -> None:
    """A run that snapshotted but crashed before RegisterImage must not snapshot again."""
    volume = destination(ec2)
    earlier = ec2.create_snapshot(VolumeId=volume, TagSpecifications=[{"ResourceType": "snapshot", "Tags": [
        {"Key": "pv2hvm:migration", "Value": MIGRATION}, {"Key": "pv2hvm:purpose", "Value": "image"}]}])["SnapshotId"]
    result = register(module, volume)
    assert result["snapshot_id"] == earlier
    assert not module.requests("CreateSnapshot")


def test_check_mode_registers_nothing(ec2: Any, module: Any) -> None:
    volume = destination(ec2)
    snapshots = own_snapshot_ids(ec2)
    result = register(module, volume, check_mode=True)
    assert result.changed and not result.failed
    assert "would snapshot" in result["msg"]
    assert own_snapshot_ids(ec2) == snapshots
    assert ec2.describe_images(Owners=["self"])["Images"] == []


def test_same_name_from_elsewhere_fails_before_any_snapshot(ec2: Any, module: Any) -> None:
    register_pv_image(ec2, name=NAME)
    snapshots = own_snapshot_ids(ec2)
    result = register(module, destination(ec2))
    assert result.failed
    assert f"An AMI named '{NAME}' already exists" in result["msg"] and "No snapshot was made" in result["msg"]
    assert own_snapshot_ids(ec2) == snapshots


def test_same_name_from_another_migration_fails(ec2: Any, module: Any) -> None:
    register(module, destination(ec2))
    result = register(module, destination(ec2), migration_id="mig-other")
    assert result.failed and f"registered by migration {MIGRATION}" in result["msg"]


def test_bad_inputs_fail_before_any_snapshot(ec2: Any, module: Any) -> None:
    volume = destination(ec2)
    other_root = snapshot_of_new_volume(ec2)
    snapshots = own_snapshot_ids(ec2)
    missing_volume = register(module, "vol-0123456789abcdef0")
    assert missing_volume.failed and "vol-0123456789abcdef0 does not exist" in missing_volume["msg"]
    missing_snapshot = register(module, volume, block_device_mappings=[{"device_name": "/dev/sdf", "snapshot_id": "snap-0123456789abcdef0"}])
    assert missing_snapshot.failed and "snap-0123456789abcdef0" in missing_snapshot["msg"]
    root_twice = register(module, volume, block_device_mappings=[{"device_name": "/dev/xvda", "snapshot_id": other_root}])
    assert root_twice.failed and "root device /dev/xvda" in root_twice["msg"]
    no_architecture = module("hvm_image", migration_id=MIGRATION, volume_id=volume, name=NAME)
    assert no_architecture.failed and "architecture" in no_architecture["msg"]
    assert not module.requests("CreateSnapshot")
    assert own_snapshot_ids(ec2) == snapshots


def test_absent_deletes_only_the_snapshots_it_made(ec2: Any, module: Any) -> None:
    pv = register_pv_image(ec2)
    registered = register(module, destination(ec2), block_device_mappings=[{"device_name": "/dev/sdf", "snapshot_id": pv.data_snapshot}])
    result = module("hvm_image", state="absent", image_id=registered["image_id"])
    assert result.changed and not result.failed
    assert result["deleted_snapshot_ids"] == [registered["snapshot_id"]]
    assert result["kept_snapshot_ids"] == [pv.data_snapshot]
    remaining = own_snapshot_ids(ec2)
    assert registered["snapshot_id"] not in remaining and pv.data_snapshot in remaining
    assert ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [NAME]}])["Images"] == []
    again = module("hvm_image", state="absent", name=NAME)
    assert again.changed is False


def test_absent_refuses_an_image_it_did_not_register(ec2: Any, module: Any) -> None:
    pv = register_pv_image(ec2)
    result = module("hvm_image", state="absent", image_id=pv.image_id)
    assert result.failed and "force: true" in result["msg"]
    assert not module.requests("DeregisterImage")
    assert ec2.describe_images(ImageIds=[pv.image_id])["Images"][0]["State"] == "available"
    assert pv.root_snapshot in own_snapshot_ids(ec2)


def test_absent_check_mode_changes_nothing(ec2: Any, module: Any) -> None:
    registered = register(module, destination(ec2))
    result = module("hvm_image", check_mode=True, state="absent", image_id=registered["image_id"])
    assert result.changed and result["deleted_snapshot_ids"] == [registered["snapshot_id"]]
    assert ec2.describe_images(ImageIds=[registered["image_id"]])["Images"][0]["State"] == "available"


def test_data_volume_of_an_instance_is_snapshotted_and_mapped(ec2: Any, module: Any) -> None:
    """hvm_block_device_mappings of an instance source go straight into hvm_image."""
    from tests.lab.world import launch  # pylint: disable=import-outside-toplevel

    source = launch(ec2, register_pv_image(ec2).image_id)
    facts = module("source_info", instance_id=source)
    data_volume = facts["hvm_block_device_mappings"][0]["volume_id"]
    root_volume = destination(ec2)
    result = register(module, root_volume, block_device_mappings=facts["hvm_block_device_mappings"])
    assert not result.failed, result
    assert sorted(request["VolumeId"] for request in module.requests("CreateSnapshot")) == sorted([data_volume, root_volume])
    mapped = {m["device_name"]: m for m in result["image"]["block_device_mappings"]}
    data_snapshot = mapped["/dev/sdf"]["ebs"]["snapshot_id"]
    assert ec2.describe_snapshots(SnapshotIds=[data_snapshot])["Snapshots"][0]["VolumeId"] == data_volume
    assert mapped["/dev/sdf"]["ebs"]["delete_on_termination"] is False
    assert mapped["/dev/sdb"]["virtual_name"] == "ephemeral0"
    # The source's data volume is still attached to the source, untouched.
    volume = ec2.describe_volumes(VolumeIds=[data_volume])["Volumes"][0]
    assert volume["Attachments"][0]["InstanceId"] == source
    assert not module.requests("DetachVolume") and not module.requests("ModifyVolume")


def test_mapping_with_two_sources_is_refused(ec2: Any, module: Any) -> None:
    result = register(module, destination(ec2), block_device_mappings=[
        {"device_name": "/dev/sdf", "snapshot_id": snapshot_of_new_volume(ec2), "virtual_name": "ephemeral1"}])
    assert result.failed and "give only one of them" in result["msg"]
